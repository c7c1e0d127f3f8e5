#!/bin/sh
# hostagent post-remove, for dpkg (remove | purge | upgrade | ...) and rpm
# (0 = erase, 1 = upgrade). Reloads systemd so the unit is forgotten; a dpkg
# purge also deletes the generated token and the agent's state.
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
  rm -f /etc/hostagent/token
  rm -rf /var/lib/hostagent
  rmdir /etc/hostagent 2>/dev/null || true
fi
exit 0
