"""The pytest plugin from a user's test suite (run as its own pytest process against the lab):
a test parametrized over the inventory's hosts with a namespace, failures that show the
command and the tail of its output, and hosts or patterns that are not in the inventory
failing with a clear message."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import nsprov

pytestmark = pytest.mark.lab

BOOK = textwrap.dedent("""\
    - hosts: lab1:lab2
      lab: plugin
      tasks:
        - namespace: {name: pg-box, kinds: [uts, net], hostname: "pgbox-{{ inventory_hostname }}"}
""")


@pytest.fixture(scope="module")
def boxes(lab3, tmp_path_factory):
    book = tmp_path_factory.mktemp("plugin") / "plugin.yml"
    book.write_text(BOOK)
    nsprov("run", "-i", str(lab3.inventory), str(book))
    yield lab3
    nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def user_suite(lab, tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "test_users.py"
    path.write_text(textwrap.dedent(text))
    return subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(path), "--nsprov-inventory", str(lab.inventory), *args],
                          capture_output=True, text=True, cwd=tmp_path)


def test_a_test_runs_once_per_matching_host_inside_the_namespace(boxes, tmp_path):
    proc = user_suite(boxes, tmp_path, """\
        import pytest

        @pytest.mark.nsprov(hosts="lab1:lab2", namespace="pg-box")
        def test_box(nsprov_host):
            name = nsprov_host.check_output("hostname")
            assert name.startswith("pgbox-lab")
            assert [i for i in nsprov_host.interface.names() if i != "lo"] == []   # its own net namespace

        def test_every_host(nsprov_host):
            assert nsprov_host.check_output("hostname").startswith("lab")
        """)
    assert proc.returncode == 0, proc.stdout
    for test_id in ("test_box[lab1/pg-box]", "test_box[lab2/pg-box]", "test_every_host[lab1]",
                    "test_every_host[lab2]", "test_every_host[lab3]"):
        assert f"{test_id} PASSED" in proc.stdout, proc.stdout
    assert "lab3/pg-box" not in proc.stdout


def test_limit_narrows_the_parametrisation(boxes, tmp_path):
    proc = user_suite(boxes, tmp_path, """\
        def test_every_host(nsprov_host):
            assert nsprov_host.check_output("true") == ""
        """, "--nsprov-limit", "lab2")
    assert proc.returncode == 0 and "test_every_host[lab2] PASSED" in proc.stdout and "[lab1]" not in proc.stdout


def test_a_failing_check_shows_the_command_and_the_tail_of_its_output(boxes, tmp_path):
    proc = user_suite(boxes, tmp_path, """\
        import pytest

        @pytest.mark.nsprov(hosts="lab1", namespace="pg-box")
        def test_fails(nsprov_host):
            nsprov_host.check_output("sh -c 'for i in $(seq 1 30); do echo line$i; done; echo boom >&2; exit 3'")

        def test_rc(nsprov_ns_host):
            box = nsprov_ns_host("lab2", "pg-box")
            assert box.run("sh -c 'echo why-not >&2; exit 4'").rc == 0
        """)
    assert proc.returncode == 1
    out = proc.stdout
    assert "on lab1/pg-box exited 3" in out and "`sh -c 'for i in $(seq 1 30)" in out, out
    assert "stdout (last 10 of 30 lines):" in out and "line30" in out and "line20" not in out.split("exited 3")[1]
    assert "boom" in out
    assert "on lab2/pg-box exited 4" in out and "why-not" in out
    assert "CommandResult(" not in out


def test_plain_testinfra_shows_a_result_repr(boxes, tmp_path):
    """Control: without the plugin's hosts the same failure reads as a CommandResult repr."""
    proc = user_suite(boxes, tmp_path, f"""\
        import testinfra

        def test_fails():
            host = testinfra.get_host("ssh://lab1", ssh_config={str(boxes.ssh_config)!r})
            host.check_output("sh -c 'echo boom >&2; exit 3'")
        """)
    assert proc.returncode == 1 and "CommandResult(" in proc.stdout, proc.stdout


def test_hosts_and_patterns_not_in_the_inventory_fail_clearly(boxes, tmp_path):
    proc = user_suite(boxes, tmp_path, """\
        import pytest

        def test_unknown_host(nsprov_ns_host):
            nsprov_ns_host("lab9", "pg-box")

        def test_near_miss(nsprov_ns_host):
            nsprov_ns_host("lab_1", "pg-box")

        @pytest.mark.nsprov(hosts="web*")
        def test_no_match(nsprov_host):
            pass

        def test_still_runs(nsprov_ns_host):
            assert nsprov_ns_host("lab1", "pg-box").check_output("hostname") == "pgbox-lab1"
        """)
    out = proc.stdout
    assert "test_still_runs PASSED" in out, out
    assert "host 'lab9' is not in the inventory" in out and "(hosts: lab1, lab2, lab3)" in out
    assert "did you mean lab1?" in out
    assert "no host of the inventory matches 'web*'" in out
    assert "Traceback" not in out
