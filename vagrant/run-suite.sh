#!/usr/bin/env bash
# The Vagrant suite, end to end: two Debian 12 VMs, nsprov over SSH as user `vagrant` with sudo,
# tests/vagrant checking each result with testinfra. One command, as root:
#
#   sudo bash vagrant/run-suite.sh            (after scripts/setup.sh; ~6-8 min under TCG)
#
# Everything VM-related lives inside a network namespace made here (NETNS): libvirtd, its
# dnsmasq, the VMs' bridges and taps, vagrant, and the test controller. Nothing VM-related ever
# touches the machine's root namespace. Teardown always runs, even when tests fail: the VMs
# destroyed, the box and its pool volume removed, libvirtd and virtlogd stopped by PID, the
# namespace deleted.
#   NSPROV_VAGRANT_DRIVER  qemu (default, TCG) or kvm
#   NSPROV_VAGRANT_KEEP=1  leave it all up afterwards; `bash vagrant/run-suite.sh down` ends it
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
vdir="$repo/vagrant"
netns="${NSPROV_VAGRANT_NETNS:-nsprov-vagrant}"
run="/run/nsprov-vagrant"
box_name="nsprov/debian12"
box_file="${NSPROV_VAGRANT_BOX_FILE:-/var/tmp/nsprov-debian12-$(sha256sum "$vdir/build-box.sh" | cut -c1-12).box}"
py="${PYTHON:-$repo/.venv/bin/python}"
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_CWD="$vdir"
export NSPROV_VAGRANT_DRIVER="${NSPROV_VAGRANT_DRIVER:-qemu}"
t0=$(date +%s)
say() { echo "[vagrant-suite $(( $(date +%s) - t0 ))s] $*"; }
in_ns() { ip netns exec "$netns" "$@"; }

[ "$(id -u)" = 0 ] || { echo "run-suite.sh: run as root" >&2; exit 2; }
for tool in vagrant libvirtd virtlogd virsh qemu-system-x86_64 debootstrap; do
  command -v "$tool" >/dev/null || { echo "run-suite.sh: missing $tool: bash scripts/setup-vagrant.sh installs it" >&2; exit 2; }
done
vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt || { echo "run-suite.sh: vagrant-libvirt plugin missing" >&2; exit 2; }

teardown() {
  local code=$?
  trap - EXIT INT TERM
  if [ "${NSPROV_VAGRANT_KEEP:-0}" = 1 ]; then say "kept (NSPROV_VAGRANT_KEEP=1)"; exit $code; fi
  say "teardown"
  if [ -f "$run/libvirtd.pid" ]; then
    in_ns timeout 120 vagrant destroy -f >/dev/null 2>&1 || say "vagrant destroy failed"
    for net in nsprov-mgmt nsprov-priv; do
      virsh -q net-destroy "$net" >/dev/null 2>&1; virsh -q net-undefine "$net" >/dev/null 2>&1
    done
    # `vagrant box add --force` and box removal leave the pool volume: delete it ourselves
    for vol in $(virsh -q vol-list default 2>/dev/null | awk '{print $1}' | grep '^nsprov-VAGRANTSLASH-debian12' || true); do
      virsh -q vol-delete "$vol" --pool default >/dev/null 2>&1
    done
    if [ -f "$run/pool-defined" ]; then
      virsh -q pool-destroy default >/dev/null 2>&1; virsh -q pool-undefine default >/dev/null 2>&1
    fi
  fi
  vagrant box remove -f "$box_name" --provider libvirt >/dev/null 2>&1
  for d in libvirtd virtlogd; do
    if [ -f "$run/$d.pid" ]; then
      pid=$(cat "$run/$d.pid")
      kill "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
      rm -f "$run/$d.pid"
    fi
  done
  ip netns del "$netns" 2>/dev/null
  rm -rf "$vdir/.vagrant" "$vdir/.console" "$run"
  say "done, exit $code"
  exit $code
}
trap teardown EXIT
trap 'exit 130' INT TERM
if [ "${1:-}" = down ]; then NSPROV_VAGRANT_KEEP=0; exit 0; fi
[ -e "/run/netns/$netns" ] && { say "namespace $netns exists: a kept run? \`bash vagrant/run-suite.sh down\` ends it"; trap - EXIT; exit 2; }
if [ -S /run/libvirt/libvirt-sock ] && virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "run-suite.sh: a libvirtd is already running; this suite starts its own inside network namespace" \
       "$netns so no VM traffic reaches the root namespace. Stop yours first." >&2
  trap - EXIT; exit 2
fi

mkdir -p "$run"
# /dev/kvm: libvirt re-probes QEMU on every call unless the device has its usual group and mode
if [ -e /dev/kvm ] && getent group kvm >/dev/null; then chgrp kvm /dev/kvm; chmod 0660 /dev/kvm; fi
ip netns add "$netns" || exit 1
in_ns ip link set lo up
say "namespace $netns; starting virtlogd and libvirtd inside it"
in_ns virtlogd --daemon --pid-file "$run/virtlogd.pid" || exit 1
in_ns libvirtd --daemon --pid-file "$run/libvirtd.pid" || exit 1
for _ in $(seq 100); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
virsh -c qemu:///system version >/dev/null 2>&1 || { say "libvirtd did not answer"; exit 1; }
if ! virsh -q pool-info default >/dev/null 2>&1; then   # defined here, so undefined on teardown
  virsh -q pool-define-as default dir --target /var/lib/libvirt/images >/dev/null || exit 1
  touch "$run/pool-defined"
  virsh -q pool-build default >/dev/null 2>&1; virsh -q pool-start default >/dev/null || exit 1
fi

if [ ! -f "$box_file" ]; then
  say "building the box from Debian packages"
  bash "$vdir/build-box.sh" "$box_file" || exit 1
fi
vagrant box add --force --name "$box_name" "$box_file" >/dev/null || exit 1
say "box added; vagrant up (driver $NSPROV_VAGRANT_DRIVER)"
in_ns vagrant up >"$run/up.log" 2>&1 || { tail -40 "$run/up.log"; say "vagrant up failed"; exit 1; }
say "VMs up"
# the keys a VM printed at first boot may reach its console log after its ssh answers: ask again
for try in $(seq 15); do
  in_ns "$repo/.venv/bin/nsprov" inventory from-vagrant "$vdir" --group lab -o "$run/inventory.yml" \
    2>"$run/from-vagrant.err" && break
  [ "$try" = 15 ] && { cat "$run/from-vagrant.err" >&2; exit 1; }
  sleep 2
done
cat "$run/from-vagrant.err"        # what it made, and from which keys
in_ns vagrant ssh-config >"$run/ssh_config" 2>/dev/null
# known_hosts from the consoles, for testinfra's ssh too (strict checking on)
sed -i "s|^  StrictHostKeyChecking no|  StrictHostKeyChecking yes|; s|^  UserKnownHostsFile /dev/null|  UserKnownHostsFile $run/known_hosts|" "$run/ssh_config"
say "running tests/vagrant"
cd "$repo" && in_ns "$py" -m pytest -m vagrant tests/vagrant -p no:cacheprovider \
  --vagrant-inventory "$run/inventory.yml" --vagrant-ssh-config "$run/ssh_config" "$@"
