# Sourced by setup.sh and setup-vagrant.sh: install the apt packages not installed yet.
#   apt_install_missing PKG...      (EXTRA_APT_ARGS: more arguments for apt-get install)
# policy-rc.d keeps packages from starting their daemons (the machine's sshd, libvirtd): lab
# hosts run their own sshd, the Vagrant suite its own libvirtd inside a network namespace.
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  local rc=0
  apt-get install -y -qq "${missing[@]}" ${EXTRA_APT_ARGS:-} >/dev/null || rc=$?
  rm -f /usr/sbin/policy-rc.d
  return $rc
}
