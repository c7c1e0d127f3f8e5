#!/usr/bin/env bash
# Runs README's `make demo` on a fresh Debian 12: a debootstrap rootfs (the
# e2e's cached minbase + systemd) with only what this project's machines
# start with (Go at /usr/local/go, make, git, gcc, the machine's CA
# certificates), the repository as
# committed (git archive HEAD), run as root in a privileged container so
# that the demo's own Podman can run inside. Proves that `make demo`
# installs everything else it needs.
#
#   scripts/demo-fresh.sh            -> the demo's output, then "demo-fresh: ok"
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/.build/fresh
mkdir -p "$out"
tarball=$(scripts/e2e-rootfs.sh "$repo/.build/e2e")

# A private Podman for the box itself, as the tests use.
conf=$out/containers.conf
printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$conf"
export CONTAINERS_CONF=$conf
pm=(podman --root "$out/root" --runroot /run/hostagent-fresh)
image=localhost/hostagent-fresh-debian:$(basename "$tarball" .tar)
"${pm[@]}" image exists "$image" || "${pm[@]}" import "$tarball" "$image" >/dev/null

src=$out/src
rm -rf "$src"
mkdir -p "$src"
git archive HEAD | tar -x -C "$src"
git -C "$src" init -q && git -C "$src" add -A && git -C "$src" -c user.email=x@x -c user.name=x commit -qm fresh

"${pm[@]}" rm -f hostagent-fresh >/dev/null 2>&1 || true
exec "${pm[@]}" run --rm --name hostagent-fresh --privileged --network host \
  -v /usr/local/go:/usr/local/go:ro -v "$src":/src -w /src \
  -v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro "$image" \
  bash -c 'set -e
    export DEBIAN_FRONTEND=noninteractive PATH=/usr/local/go/bin:$PATH
    echo "demo-fresh: podman before: $(command -v podman || echo none), iptables: $(command -v iptables || echo none)"
    apt-get update -qq && apt-get install -y -qq make git gcc libc6-dev ca-certificates >/dev/null
    update-ca-certificates >/dev/null # the machine'"'"'s own CAs, as every machine here has them
    make demo
    echo "demo-fresh: ok"'
