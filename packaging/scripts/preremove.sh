#!/bin/sh
# hostagent pre-remove, for dpkg (remove | upgrade NEW | deconfigure |
# failed-upgrade) and rpm (0 = erase, 1 = upgrade). Stops and disables the
# agent on removal only; stopping it leaves the Compose stack running.
set -e

case "$1" in
  remove | 0) ;;
  *) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
  if command -v deb-systemd-invoke >/dev/null 2>&1; then
    deb-systemd-invoke stop hostagent.service >/dev/null || true
  else
    systemctl stop hostagent.service || true
  fi
fi
# Works without a running systemd too (it only removes the wants/ links).
if command -v systemctl >/dev/null 2>&1; then
  systemctl --no-reload disable hostagent.service >/dev/null 2>&1 || true
fi
exit 0
