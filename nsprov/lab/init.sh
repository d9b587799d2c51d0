#!/bin/sh
# nsprov-lab-init: PID 1 of one lab host, run by `unshare --net --mount --uts --ipc --pid
# --fork --kill-child --mount-proc --propagation private`. Arguments:
#   $1 lab id  $2 host name  $3 address/prefix  $4 host directory (keys, sshd_config)
#   $5 the mark nsprov-lab-init (lets `lab down` find unrecorded hosts by their argv)
# It waits for one line on stdin ("go"), sent once the controller has moved this host's
# eth0 into our network namespace, then configures the network and becomes sshd.
set -eu
lab_id=$1 name=$2 cidr=$3 hostdir=$4

# `unshare --mount` copied the machine's /run/netns pins; one lazy unmount drops them all
# so this host does not keep other namespaces alive (and sees none of them).
umount -l /run/netns 2>/dev/null || true
# A private /run: `ip netns add` inside a lab host never touches the machine's /run/netns.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/sshd /run/netns /run/lock /run/nsprov-lab/ssh
chmod 0755 /run/sshd
# The host's keys and sshd_config move into its private /run first: the lab directory may
# live under /tmp or /root, which get private mounts below.
cp -p "$hostdir/sshd_config" "$hostdir/ssh_host_ed25519_key" "$hostdir/authorized_keys" /run/nsprov-lab/ssh/
chmod 0700 /run/nsprov-lab/ssh
# Private writable /etc and /var (overlays whose upper layers live in this host's /run):
# what an agent writes there (ledger, cache) belongs to this host and dies with it.
mkdir -p /run/nsprov-lab/etc.upper /run/nsprov-lab/etc.work /run/nsprov-lab/var.upper /run/nsprov-lab/var.work
mount -t overlay -o lowerdir=/etc,upperdir=/run/nsprov-lab/etc.upper,workdir=/run/nsprov-lab/etc.work overlay /etc
mount -t overlay -o lowerdir=/var,upperdir=/run/nsprov-lab/var.upper,workdir=/run/nsprov-lab/var.work overlay /var
# /var/run and /var/lock are symlinks into /run on Debian; nothing else to do for them.
# A private, empty /root; login keys live in the private /etc, one file per user
# (sshd StrictModes: root-owned 0755 directory, file owned by its user, 0600).
mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -p -m 0755 /etc/ssh/authorized_keys
cp /run/nsprov-lab/ssh/authorized_keys /etc/ssh/authorized_keys/root
chmod 0600 /etc/ssh/authorized_keys/root
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d"; done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mkdir -p /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx 2>/dev/null || true
# kernel.*, vm.*, fs.* sysctls are global: only net.* (per network namespace) stays writable.
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys
# sysfs shows the network namespace of whoever mounted it.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
hostname "$name"
echo "$name" > /etc/hostname

read -r go
[ "$go" = go ] || { echo "nsprov-lab-init: controller said '$go', giving up" >&2; exit 1; }
# A new netns copies the creator's IPv4 sysctls: set what a lab host must have.
echo 0 > /proc/sys/net/ipv4/ip_forward
ip link set lo up
ip addr add "$cidr" dev eth0
ip link set eth0 up
exec /usr/sbin/sshd -D -e -f /run/nsprov-lab/ssh/sshd_config </dev/null
