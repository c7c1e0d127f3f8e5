#!/usr/bin/env bash
# Installs the Debian 12 packages that the tests, the demo and the packaging
# need. Idempotent: apt-get runs only when something is missing, and then
# `apt-get update` runs once.
set -euo pipefail

packages=(podman runc netavark aardvark-dns iptables busybox-static redis-server debootstrap wrk rpm
  iproute2 curl ca-certificates procps psmisc git make gcc chromium)

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
