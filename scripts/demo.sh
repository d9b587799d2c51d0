#!/usr/bin/env bash
# The nsprov demo on this machine (as root): three lab hosts with real sshd, reached over SSH.
# KEEP=1 leaves the lab running afterwards (remove it with: .venv/bin/nsprov lab down).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
nsprov=.venv/bin/nsprov
lab=.nsprov-lab
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[ "${KEEP:-0}" = 1 ] || trap '$nsprov lab down --dir $lab >/dev/null; echo; echo "lab removed (KEEP=1 keeps it)"' EXIT

step "nsprov lab up --hosts 3   (namespaces + a real sshd per host)"
$nsprov lab up --hosts 3 --dir $lab

step "each host over plain OpenSSH with strict host key checking"
for h in lab1 lab2 lab3; do
  printf '%s: ' "$h"; ssh -F $lab/ssh_config $h 'echo "$(hostname), $(ip -4 -br addr show eth0 | tr -s " "), $(ps -e --no-headers | wc -l) processes"'
done
