#!/usr/bin/env bash
# Install what nsprov and its tests need on a Debian/Ubuntu machine (as root), then the
# package itself into ./.venv with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh: run as root (it installs apt packages): sudo bash scripts/setup.sh" >&2
  exit 2
fi
packages=(openssh-server openssh-client iproute2 nftables iptables procps iputils-ping util-linux
          sudo python3 python3-venv ca-certificates ash    # ash: the shell containerlab's alpine-based files call
          frr frr-pythontools)   # FRR's daemons and frr-reload.py, for topology nodes whose image is FRR
. scripts/apt.sh
EXTRA_APT_ARGS=--no-install-recommends apt_install_missing "${packages[@]}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
echo "setup done: $(.venv/bin/nsprov --version)"
