#!/usr/bin/env bash
# Builds, once, the Debian 12 (bookworm) rootfs with systemd that the e2e test
# boots under `podman run --systemd=always`, and caches it as a tarball so that
# reruns only pay for `podman import`. The cache key is the package list: edit
# it and the next run bootstraps anew.
#
#   scripts/e2e-rootfs.sh OUT_DIR      -> prints the tarball's path
set -euo pipefail

out=${1:?usage: e2e-rootfs.sh OUT_DIR}
mirror=${E2E_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
include=systemd,systemd-sysv,dbus,ca-certificates,procps

key=$(printf '%s %s %s' "$suite" "$include" v1 | sha256sum | cut -c1-12)
tarball=$out/rootfs-$suite-$key.tar
if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "e2e-rootfs: debootstrap not installed" >&2; exit 1; }
mkdir -p "$out"
root=$(mktemp -d "$out/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

echo "e2e-rootfs: debootstrap $suite into $root (a few minutes, once)" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$out/debootstrap.log" 2>&1 || {
  tail -30 "$out/debootstrap.log" >&2
  exit 1
}

# Trim what a test box never needs, and the units that only make sense on a
# real console or a network we do not have.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
for unit in getty.target console-getty.service systemd-timesyncd.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Keep the journal in memory and small: the test reads it, nothing else does.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' >"$root/etc/systemd/journald.conf.d/e2e.conf"
echo e2e >"$root/etc/hostname"

tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
