#!/usr/bin/env bash
# Installs the Debian 12 packages that the tests, the demo and the packaging
# need (`runtime`: only what the demo needs). Idempotent: apt-get runs only when something is missing, and then
# `apt-get update` runs once.
set -euo pipefail

# What Podman needs to run containers here (netavark fails every start
# without a firewall backend, and Podman only suggests iptables), and the
# demo's images (busybox-static).
runtime=(podman runc netavark aardvark-dns iptables busybox-static ca-certificates procps git make gcc)
# What the tests add: Redis, the systemd e2e's rootfs, load and packaging
# tools, the status page's browser.
tests=(redis-server debootstrap wrk rpm iproute2 curl psmisc chromium podman-compose)

case "${1:-all}" in
  runtime) packages=("${runtime[@]}") ;;
  all) packages=("${runtime[@]}" "${tests[@]}") ;;
  *) echo "usage: install-deps.sh [runtime|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
