#!/usr/bin/env bash
# The whole test suite, as root on a Debian 12 machine (what CI runs):
#   1. packages + .venv (scripts/setup.sh), then pytest: unit, lab hosts, faults
#   2. Vagrant packages (scripts/setup-vagrant.sh), then two VMs and tests/vagrant
#      (vagrant/run-suite.sh; always torn down)
# Both parts run even when the first fails; the exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
.venv/bin/python -m pytest "$@"       # exits 5 when it ran no test: that fails too
first=$?
bash scripts/setup-vagrant.sh || exit $?
bash vagrant/run-suite.sh
second=$?
echo "tests: pytest exit $first, vagrant suite exit $second"
[ $first -ne 0 ] && exit $first
exit $second
