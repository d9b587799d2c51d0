#!/usr/bin/env bash
# Install what the Vagrant suite (vagrant/run-suite.sh) needs on a Debian 12 machine, as root:
# vagrant + vagrant-libvirt, libvirt and QEMU, and the tools build-box.sh makes the box with.
# Daemons are not started here (policy-rc.d): run-suite.sh starts its own libvirtd inside a
# network namespace and stops it by PID. Safe to run again.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup-vagrant.sh: run as root (it installs apt packages)" >&2
  exit 2
fi
packages=(vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
          qemu-system-x86 qemu-utils ipxe-qemu seabios debootstrap dnsmasq-base extlinux syslinux-common
          fdisk e2fsprogs ebtables iptables openssh-client)
. "$(dirname "$0")/apt.sh"
# recommends stay on (QEMU's firmware and ROMs come that way), minus two heavy ones never used,
# held back only when absent (one already installed is left alone)
skip=""
for p in libguestfs-tools nfs-kernel-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || skip="$skip $p-"
done
EXTRA_APT_ARGS="$skip" apt_install_missing "${packages[@]}"
echo "vagrant setup done: $(vagrant --version), $(libvirtd --version | head -1), $(qemu-system-x86_64 --version | head -1)"
