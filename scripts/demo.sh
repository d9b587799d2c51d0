#!/usr/bin/env bash
# The nsprov demo on this machine (as root): three lab hosts with real sshd, then the seed
# tutorial's network demo, a routed LAN with NAT, and a box with all six namespace kinds,
# each built over SSH, proved with `nsprov verify`, and removed with `nsprov destroy`.
# KEEP=1 leaves everything running afterwards (remove it with: .venv/bin/nsprov lab down).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
nsprov=.venv/bin/nsprov
lab=.nsprov-lab
inv=$lab/inventory.yml
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  for book in isolation bridge-nat net; do $nsprov destroy -i $inv playbooks/$book.yml >/dev/null 2>&1 || true; done
  $nsprov lab down --dir $lab >/dev/null
  echo; echo "lab removed (KEEP=1 keeps it)"
}
[ "${KEEP:-0}" = 1 ] || trap cleanup EXIT

step "nsprov lab up --hosts 3        (namespaces + a real sshd per host)"
$nsprov lab up --hosts 3 --dir $lab

step "each host over plain OpenSSH with strict host key checking"
for h in lab1 lab2 lab3; do
  printf '%s: ' "$h"; ssh -F $lab/ssh_config $h 'echo "$(hostname), $(ip -4 -br addr show eth0 | tr -s " ")"'
done

step "nsprov facts -i $inv --limit lab1"
$nsprov facts -i $inv --limit lab1

step "nsprov run playbooks/net.yml       (the seed tutorial's netns + veth demo, on every host)"
$nsprov run -i $inv playbooks/net.yml
step "run it again: nothing to change"
$nsprov run -i $inv playbooks/net.yml

step "nsprov graph playbooks/bridge-nat.yml -o $lab/bridge-nat.svg   (the topology, before deploying)"
$nsprov graph -i $inv playbooks/bridge-nat.yml
$nsprov graph -i $inv playbooks/bridge-nat.yml -o $lab/bridge-nat.svg

step "nsprov run playbooks/bridge-nat.yml --diff   (bridge, 3 netns, NAT to lab2, a port forward)"
$nsprov run -i $inv playbooks/bridge-nat.yml --diff

step "nsprov run playbooks/isolation.yml  (uts ipc pid mnt user net in one box, a web server inside)"
$nsprov run -i $inv playbooks/isolation.yml

step "nsprov exec -i $inv lab1 box1 -- sh -c 'hostname; id -u; ps -e'"
$nsprov exec -i $inv lab1 box1 -- sh -c 'hostname; id -u; ps -e'

step "nsprov verify playbooks/isolation.yml   (the seed's experiments, run for real on each host)"
$nsprov verify -i $inv playbooks/isolation.yml --limit lab1
