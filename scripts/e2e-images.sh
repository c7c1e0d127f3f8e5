#!/usr/bin/env bash
# Makes the two images the e2e test needs in the Podman that CONTAINERS_CONF /
# CONTAINERS_STORAGE_CONF point at, skipping any that already exist:
#   localhost/hostagent-e2e-debian:<key>  the cached bookworm+systemd rootfs
#   localhost/hostagent-busybox:latest    /bin/busybox (busybox-static) and its
#                                         applet links, for the test stack
#   scripts/e2e-images.sh ROOTFS_TARBALL   -> prints the Debian image's name
set -euo pipefail

tarball=${1:?usage: e2e-images.sh ROOTFS_TARBALL}
key=$(basename "$tarball" .tar)
debian=localhost/hostagent-e2e-debian:${key#rootfs-}
busybox=localhost/hostagent-busybox:latest

if ! podman image exists "$debian"; then
  echo "e2e-images: importing $tarball as $debian" >&2
  podman import --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL=SIGRTMIN+3' \
    "$tarball" "$debian" >/dev/null
fi

if ! podman image exists "$busybox"; then
  bb=/bin/busybox # from busybox-static; the image has no libc to load
  [ -x "$bb" ] || { echo "e2e-images: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
  if ldd "$bb" >/dev/null 2>&1; then
    echo "e2e-images: $bb is dynamically linked; install busybox-static" >&2
    exit 1
  fi
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp "$bb" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo "e2e-images: building $busybox from $bb" >&2
  tar -C "$root" -cf - . | podman import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$busybox" >/dev/null
fi
echo "$debian"
