#!/bin/sh
# hostagent post-install, for dpkg (configure [old-version]) and rpm (1 =
# install, 2 = upgrade). Creates the API token once, reloads systemd, restarts
# the agent on upgrade only if it was running, and never enables or starts it
# on its own.
set -e

case "$1" in
  configure) [ -n "$2" ] && upgrade=1 || upgrade=0 ;;
  1) upgrade=0 ;;
  2) upgrade=1 ;;
  *) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing to do
esac

token=/etc/hostagent/token
if [ ! -e "$token" ]; then
  mkdir -p /etc/hostagent
  # 32 random bytes as 64 hex digits; umask first so it is never readable.
  (umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >"$token.tmp" && echo >>"$token.tmp" && mv "$token.tmp" "$token")
  chmod 0600 "$token"
fi

# The env file holds the stack's variables (passwords, a Redis URL): root
# only, also when an upgrade keeps an older, looser file.
[ -f /etc/hostagent/hostagent.env ] && chmod go-rwx /etc/hostagent/hostagent.env
[ -f /etc/hostagent/config.yaml ] && chmod o-rwx /etc/hostagent/config.yaml

# Debian tracks a unit's enable state with its helper (the package never
# enables the agent itself; this only records the state).
if command -v deb-systemd-helper >/dev/null 2>&1; then
  deb-systemd-helper update-state hostagent.service >/dev/null || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ "$upgrade" = 1 ]; then
    # SIGTERM leaves the stack running, so this swaps the agent only.
    if command -v deb-systemd-invoke >/dev/null 2>&1; then
      deb-systemd-invoke try-restart hostagent.service || true
    else
      systemctl try-restart hostagent.service || true
    fi
  fi
fi

if [ "$upgrade" = 0 ]; then
  cat <<'HINT'
hostagent installed; it is not enabled or started.
  1. point the agent at the stack's compose file where it lives, in
     /etc/hostagent/hostagent.env:
       ORCHESTRATOR_COMPOSE_FILE=/srv/mystack/docker-compose.prod.yml
     (relative paths, .env and the project name resolve beside it)
  2. make sure the Podman API socket runs: systemctl enable --now podman.socket
  3. systemctl enable --now hostagent
The API token is in /etc/hostagent/token.
HINT
fi
exit 0
