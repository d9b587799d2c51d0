#!/usr/bin/env bash
# The whole test suite, as root on a Debian 12 machine (what CI runs):
#   1. packages + .venv (scripts/setup.sh), then pytest: unit (on every core), lab hosts, faults
#   2. Vagrant packages (scripts/setup-vagrant.sh) and the box (vagrant/build-box.sh), made
#      while pytest runs; then two VMs and tests/vagrant (vagrant/run-suite.sh; always torn down)
# Both parts run even when the first fails; the exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
# The Vagrant part's packages and box are made while pytest runs, at the lowest CPU and I/O
# priority (apt and debootstrap mostly wait on the mirror and the disk); the VMs start only
# once pytest is done. Its output follows pytest's.
# the box is named by its recipe: a changed package list builds a new one
box="${NSPROV_VAGRANT_BOX_FILE:-/var/tmp/nsprov-debian12-$(sha256sum vagrant/build-box.sh | cut -c1-12).box}"
prep_log="$(mktemp /tmp/nsprov-vagrant-prep.XXXXXX)"
nice -n 19 ionice -c 3 bash -c "bash scripts/setup-vagrant.sh && { [ -f '$box' ] || bash vagrant/build-box.sh '$box'; }" \
  >"$prep_log" 2>&1 &
prep=$!
if [ $# -eq 0 ]; then
  # the unit tests (pure logic, CPU-bound) on every core through pytest-xdist; then the lab
  # hosts and the faults, one test at a time (they share the lab hosts and time things)
  .venv/bin/python -m pytest -n auto tests/unit
  units=$?
  .venv/bin/python -m pytest tests/lab tests/faults
  first=$?
  [ $units -ne 0 ] && first=$units
else
  .venv/bin/python -m pytest "$@"       # exits 5 when it ran no test: that fails too
  first=$?
fi
wait "$prep"
prepared=$?
cat "$prep_log"
rm -f "$prep_log"
if [ $prepared -ne 0 ]; then
  echo "tests: pytest exit $first, the Vagrant suite's preparation failed (exit $prepared)"
  exit $prepared
fi
bash vagrant/run-suite.sh
second=$?
echo "tests: pytest exit $first, vagrant suite exit $second"
[ $first -ne 0 ] && exit $first
exit $second
