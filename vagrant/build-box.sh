#!/usr/bin/env bash
# Build the local Vagrant box `nsprov/debian12` (libvirt, qcow2) from Debian packages only:
# debootstrap from the machine's own apt mirror, nothing from a box catalogue.
#
#   sudo bash vagrant/build-box.sh [OUT.box]      (default: vagrant/nsprov-debian12.box)
#
# What is in it: Debian 12 minbase + systemd, linux-image-cloud-amd64, openssh-server, python3,
# sudo, iproute2, nftables, iptables, ifupdown + isc-dhcp-client (for the management network),
# FRR with frr-reload.py (frr, frr-pythontools: routing daemons in topology nodes). The VM's
# own FRR service runs as Debian enables it: the nodes' daemons never touch it.
# A `vagrant` user (not root) with Vagrant's well-known insecure key and passwordless sudo, so
# nsprov's `become` runs through sudo for real. No SSH host keys are baked in: each VM makes its
# own at first boot and prints them on its serial console (the cloud-init way), where
# `nsprov inventory from-vagrant` reads them, so the controller never trusts a key on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/nsprov-debian12.box}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
[ "$(id -u)" = 0 ] || { echo "build-box.sh: run as root (debootstrap, loop mount)" >&2; exit 2; }
for tool in debootstrap mkfs.ext4 extlinux qemu-img sfdisk losetup; do
  command -v "$tool" >/dev/null || { echo "build-box.sh: missing $tool (apt-get install debootstrap e2fsprogs extlinux syslinux-common qemu-utils fdisk)" >&2; exit 2; }
done
insecure_key="$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -1 || true)"
[ -n "$insecure_key" ] || insecure_key="$(gem contents vagrant 2>/dev/null | grep 'keys/vagrant.pub$' | head -1 || true)"
[ -f "$insecure_key" ] || { echo "build-box.sh: Vagrant's keys/vagrant.pub not found (is the vagrant package installed?)" >&2; exit 2; }

work="$(mktemp -d /var/tmp/nsprov-box.XXXXXX)"
loop=""
cleanup() {
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
root="$work/root"
t0=$(date +%s)
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,udev,kmod,linux-image-cloud-amd64,openssh-server,python3,sudo,iproute2,nftables,iptables,ifupdown,isc-dhcp-client,procps,iputils-ping,netbase,frr,frr-pythontools \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
echo "debootstrap: $(( $(date +%s) - t0 )) s"

# --- the system inside
echo nsprov-box >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo 'LABEL=root / ext4 defaults,noatime 0 1' >"$root/etc/fstab"
cat >"$root/etc/network/interfaces" <<'IFACES'
# management network (libvirt, isolated, DHCP without a router): vagrant reaches the VM here
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
IFACES
chroot "$root" useradd -m -s /bin/bash vagrant
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$insecure_key" "$root/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
printf 'UseDNS no\nPasswordAuthentication no\nPermitRootLogin no\n' >"$root/etc/ssh/sshd_config.d/nsprov-box.conf"
# host keys: none in the box; made at first boot, printed on the serial console
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/nsprov-hostkeys.service" <<'UNIT'
[Unit]
Description=Make this VM's own SSH host keys and print them on the serial console
# before any getty opens the console: a getty starting flushes what is still unsent on it
Before=ssh.service serial-getty@ttyS0.service getty.target
DefaultDependencies=no
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'ssh-keygen -A && { echo "-----BEGIN SSH HOST KEY KEYS-----"; cat /etc/ssh/ssh_host_*_key.pub; echo "-----END SSH HOST KEY KEYS-----"; } >/dev/ttyS0'

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable nsprov-hostkeys.service >/dev/null 2>&1
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer >/dev/null 2>&1 || true
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
: >"$root/etc/machine-id"

# --- an MBR disk: one bootable ext4 partition (made from the tree), extlinux
kver="$(basename "$root"/boot/vmlinuz-* | sed 's/^vmlinuz-//')"
mkdir -p "$root/boot/extlinux"
cat >"$root/boot/extlinux/extlinux.conf" <<CONF
DEFAULT debian
TIMEOUT 1
LABEL debian
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=LABEL=root ro net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200 quiet
CONF
size_mb=2048
truncate -s "${size_mb}M" "$work/disk.raw"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
mkfs.ext4 -q -L root -d "$root" "$work/part.img" "$(( size_mb - 1 ))M" >/dev/null
dd if="$work/part.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/part.img"
loop="$(losetup -f --show -o $((2048 * 512)) "$work/disk.raw")"
mkdir -p "$work/mnt"
mount "$loop" "$work/mnt"
extlinux --install "$work/mnt/boot/extlinux" >/dev/null 2>&1
umount "$work/mnt"
losetup -d "$loop"; loop=""
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || mbr=/usr/lib/EXTLINUX/mbr.bin
dd if="$mbr" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none

# --- the box: qcow2 + metadata
mkdir -p "$work/box"
qemu-img convert -q -O qcow2 "$work/disk.raw" "$work/box/box.img"
echo '{"provider": "libvirt", "format": "qcow2", "virtual_size": 2}' >"$work/box/metadata.json"
cat >"$work/box/Vagrantfile" <<'VF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "kvm"
  end
end
VF
tar -C "$work/box" -czf "$out.tmp" metadata.json Vagrantfile box.img
mv "$out.tmp" "$out"
echo "box: $out ($(du -h "$out" | cut -f1), $(( $(date +%s) - t0 )) s)"
