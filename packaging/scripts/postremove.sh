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
  # Forget the unit's enable state, as Debian's helpers track it.
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge hostagent.service >/dev/null || true
  fi
fi

case "$1" in
  purge | remove | 0)
    cat <<'HINT'
hostagent removed. The stack it ran is left running: its containers are
Podman's. To stop and remove them (containers, networks; add volumes only if
their data can go), for a project named PROJECT:
  podman ps -a --filter label=com.docker.compose.project=PROJECT
  podman rm -f $(podman ps -aq --filter label=com.docker.compose.project=PROJECT)
  podman network prune -f --filter label=com.docker.compose.project=PROJECT
(or, before removing the package: hostagent down)
HINT
    ;;
esac
exit 0
