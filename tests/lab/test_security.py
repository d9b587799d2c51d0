"""Security properties, each checked on lab hosts: argv only (hostile names are refused or
harmless), root-only state checked before use, become passwords never shown, one run at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from tests.conftest import add_hostile_user, add_sudo_user, host_entry, json_events, nsprov, sh, write_inventory

pytestmark = pytest.mark.lab


def run(*args: str):
    proc = nsprov(*args, "--json", check=False)
    return proc, json_events(proc.stdout)


def test_names_with_shell_syntax_are_refused_where_the_kernel_forbids_them(lab3, tmp_path):
    book = tmp_path / "hostile.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: 'a;touch /tmp/pwned'}\n"
                    "    - bridge: {name: 'x; touch /tmp/pwned'}\n"
                    "    - exec: {command: 'touch /tmp/pwned'}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), check=False)
    assert proc.returncode == 2
    assert proc.stderr.count(str(book)) == 3
    assert lab3.ssh("lab1", "test", "-e", "/tmp/pwned", check=False).returncode == 1


def test_names_with_shell_syntax_are_harmless_where_the_kernel_allows_them(lab3, tmp_path):
    book = tmp_path / "dollar.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - bridge: {name: "x$(id)"}
            - exec: {command: [sh, -c, 'echo "$1" > /tmp/argv-check', sh, "$(touch /tmp/pwned)"]}
        """))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        names = [x["ifname"] for x in json.loads(lab3.ssh("lab1", "ip", "-j", "link", "show").stdout)]
        assert "x$(id)" in names                                     # the literal name, nothing ran
        assert lab3.ssh("lab1", "cat", "/tmp/argv-check").stdout.strip() == "$(touch /tmp/pwned)"
        assert lab3.ssh("lab1", "test", "-e", "/tmp/pwned", check=False).returncode == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
        lab3.ssh("lab1", "rm", "-f", "/tmp/argv-check", check=False)
    assert "x$(id)" not in lab3.ssh("lab1", "ip", "-br", "link").stdout


@pytest.mark.parametrize("how,message", [
    (["chmod", "0777", "/var/lib/nsprov"], "refusing /var/lib/nsprov: it must be a directory owned by uid 0 "
                                           "with mode 0700"),
    (["chown", "65534", "/var/lib/nsprov"], "refusing /var/lib/nsprov: it must be a directory owned by uid 0 "
                                            "with mode 0700"),
])
def test_an_unsafe_state_directory_is_refused_not_used(lab3, tmp_path, how, message):
    book = tmp_path / "one.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: unsafe1}\n")
    lab3.ssh("lab1", "mkdir", "-p", "-m", "0700", "/var/lib/nsprov")    # the directory exists
    lab3.ssh("lab1", *how)
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        assert message in next(e for e in events if e["event"] == "host_done")["error"]
        assert "unsafe1" not in lab3.ssh("lab1", "ip", "netns", "list").stdout
    finally:
        lab3.ssh("lab1", "sh", "-c", "chmod 0700 /var/lib/nsprov && chown 0:0 /var/lib/nsprov")


def test_a_second_run_waits_for_the_first_or_gives_up_clearly(lab3, tmp_path):
    slow = tmp_path / "slow.yml"
    slow.write_text("- hosts: lab2\n  tasks:\n    - exec: {command: [sleep, '2'], changed_when: false}\n")
    quick = tmp_path / "quick.yml"
    quick.write_text("- hosts: lab2\n  tasks:\n    - exec: {command: ['true'], changed_when: false}\n")
    first = subprocess.Popen([sys.executable, "-m", "nsprov.cli", "run", "-i", str(lab3.inventory), str(slow),
                              "--json"], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    time.sleep(0.8)
    impatient, events = run("run", "-i", str(lab3.inventory), str(quick), "--lock-timeout", "0.5")
    assert impatient.returncode == 1
    assert "another nsprov run holds /var/lib/nsprov/lock; gave up after" in \
        next(e for e in events if e["event"] == "host_done")["error"]
    began = time.monotonic()
    patient, _ = run("run", "-i", str(lab3.inventory), str(quick))
    waited = time.monotonic() - began
    assert patient.returncode == 0
    first_out, _ = first.communicate(timeout=30)
    assert first.returncode == 0 and '"event": "locked"' in first_out
    assert waited > 0.5        # it waited for the slow run's lock instead of interleaving with it


@pytest.fixture(scope="module")
def carol(lab3):
    """An ordinary user on lab3 whose sudo needs a password."""
    add_sudo_user(lab3, "lab3", "carol", "Sup3r-s3cret")
    return host_entry(lab3, "lab3", ansible_user="carol", ansible_become=True,
                      ansible_become_password="Sup3r-s3cret")


def test_the_become_password_never_shows_in_process_lists_logs_or_json(lab3, carol, tmp_path):
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": carol})
    book = tmp_path / "sleepy.yml"
    book.write_text("- hosts: lab3\n  tasks:\n    - exec: {command: [sleep, '2.5'], changed_when: false}\n")
    seen = []

    def look() -> None:   # every argv and environment on the host, again and again while the run goes
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            snap = lab3.ssh("lab3", "sh", "-c", "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null "
                                                "| tr '\\0' ' '").stdout
            seen.append(snap)
            if "sleep 2.5" in snap:
                return
            time.sleep(0.1)
    watcher = threading.Thread(target=look)
    watcher.start()
    proc, events = run("run", "-i", str(inv), str(book), "-v")
    watcher.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("sleep 2.5" in snap for snap in seen)     # we looked while the run was going
    assert not any("Sup3r-s3cret" in snap for snap in seen)
    assert "Sup3r-s3cret" not in proc.stdout + proc.stderr
    logs = lab3.ssh("lab3", "sh", "-c", "cat /var/log/auth.log /var/lib/nsprov/log/*/* 2>/dev/null; true").stdout
    assert "Sup3r-s3cret" not in logs


# ------------------------------------------------------------------ the login user's files
AGENT_IMPORTS = ("import hashlib, stat, time, zipfile, importlib._bootstrap_external; import nsprov.agent.__main__, "
                 "nsprov.agent.engine, nsprov.agent.kernel.facts, nsprov.agent.kernel.verify, nsprov.agent.kernel.nsset, "
                 "nsprov.agent.kernel")


def _agent_modules() -> list:
    """Every top-level module the bootstrap and the agent import, read off the system Python
    running the real bundle (so the planted files below cover all of them, whatever changes)."""
    from nsprov.controller.bundle import build_bundle
    bundle = build_bundle()
    code = f"import sys; sys.path.insert(0, sys.argv[1]); {AGENT_IMPORTS}; print(' '.join(sys.modules))"
    with tempfile.NamedTemporaryFile(suffix=".pyz") as f:
        f.write(bundle.data)
        f.flush()
        out = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", code, f.name], capture_output=True,
                             text=True, check=True).stdout
    return sorted({m.split(".")[0] for m in out.split()} - {"__main__", "nsprov", "sys", "builtins"})


def _startup_modules() -> set:
    """Modules Python imports while it starts, before PYTHONPATH is of any use to an attacker
    (one planted there, such as encodings, makes Python die at start-up instead)."""
    out = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def _plant(lab, host: str, home: str, modules: list) -> None:
    """Hostile modules that leave /tmp/pwned.<where>.<module>.<uid> when imported: in the home
    (sshd's and sudo's working directory), on PYTHONPATH, in a PYTHONHOME stdlib copy, and as
    sitecustomize, usercustomize and a .pth file in the user site; the variables in .bashrc."""
    def mark(where: str, module: str) -> str:
        return (f"import os; open('/tmp/pwned.{where}.{module}.%d' % os.getuid(), 'w').close()\n")
    site = f"{home}/.local/lib/python3.11/site-packages"
    files = {f"{home}/{m}.py": mark("cwd", m) for m in modules}
    files.update({f"{home}/pylib/{m}.py": mark("pythonpath", m) for m in set(modules) - _startup_modules()})
    files.update({f"{site}/sitecustomize.py": mark("site", "sitecustomize"),
                  f"{site}/usercustomize.py": mark("site", "usercustomize"),
                  f"{site}/evil.pth": mark("pth", "evil").replace("\n", "") + "\n",
                  f"{home}/startup.py": mark("startup", "startup")})
    script = "set -e\n"
    for path, text in files.items():
        script += f"mkdir -p {os.path.dirname(path)}\ncat > {path} <<'EOF'\n{text}EOF\n"
    # PYTHONHOME: a copy of the standard library (by symlinks) whose json and hashlib are hostile
    script += (f"mkdir -p {home}/pyhome/lib/python3.11 && cd {home}/pyhome/lib/python3.11 && "
               f"for f in /usr/lib/python3.11/*; do ln -sf $f .; done && rm -f json hashlib.py && "
               f"mkdir json && cp /usr/lib/python3.11/json/*.py json/ && "
               f"printf '%s' \"{mark('pythonhome', 'json').strip()}\" >> json/__init__.py && "
               f"cp /usr/lib/python3.11/hashlib.py . && echo \"{mark('pythonhome', 'hashlib').strip()}\" >> hashlib.py\n")
    # first in .bashrc (bash reads it for sshd's commands; Debian's returns early when not interactive)
    script += (f"printf '%s\\n' 'export PYTHONPATH={home}/pylib PYTHONSTARTUP={home}/startup.py "
               f"PYTHONUSERBASE={home}/.local' | cat - {home}/.bashrc > {home}/.bashrc.new && "
               f"mv {home}/.bashrc.new {home}/.bashrc\n"
               f"chown -R {os.path.basename(home).replace('-home', '')} {home}\n")
    lab.ssh(host, "sh", "-c", script)


@pytest.fixture(scope="module")
def mallory(lab3):
    """A login user whose home and environment are full of modules that run as whoever imports them."""
    home = add_hostile_user(lab3, "lab1", "mallory", "m4ll0ry-pw")
    _plant(lab3, "lab1", home, _agent_modules())
    return home, host_entry(lab3, "lab1", ansible_user="mallory", ansible_become=True,
                            ansible_become_password="m4ll0ry-pw")


def _pwned(lab) -> list:
    return lab.ssh("lab1", "sh", "-c", "ls /tmp | grep '^pwned\\.' || true").stdout.split()


def test_nothing_of_the_login_users_runs_as_root_and_commands_start_clean(lab3, mallory, tmp_path):
    home, entry = mallory
    inv = write_inventory(tmp_path / "inv.yml", {"lab1": entry})
    book = tmp_path / "clean.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - netns: {name: m1}
            - namespace: {name: mbox, kinds: [uts, pid, mnt], hostname: mbox}
            - exec: {command: [sh, -c, 'pwd > /tmp/exec-cwd; env > /tmp/exec-env'], changed_when: false}
            - exec: {command: [sh, -c, 'pwd > /tmp/exec-chdir'], chdir: /var/lib, changed_when: false}
            - exec: {command: [sh, -c, 'pwd > /tmp/exec-set'], namespace: mbox, chdir: /etc, changed_when: false}
            - process: {name: mproc, netns: m1, command: [sh, -c, 'pwd > /tmp/proc-cwd; env > /tmp/proc-env;
                        exec sleep 600']}
        """))
    lab3.ssh("lab1", "sh", "-c", "rm -f /tmp/pwned.* /tmp/exec-* /tmp/proc-*")
    try:
        proc, events = run("run", "-i", str(inv), str(book))
        assert _pwned(lab3) == []                               # not one planted file ran, as root or not
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "m1" in lab3.ssh("lab1", "ip", "netns", "list").stdout
        lab3.ssh("lab1", "sh", "-c", "for i in $(seq 50); do [ -s /tmp/proc-env ] && exit 0; sleep 0.1; done")
        for what in ("exec", "proc"):
            assert lab3.ssh("lab1", "cat", f"/tmp/{what}-cwd").stdout.strip() == "/"
            env = dict(line.split("=", 1) for line in lab3.ssh("lab1", "cat", f"/tmp/{what}-env").stdout.splitlines()
                       if "=" in line)
            # a process also carries its name, so an agent killed before its pid file still finds it
            expected = {"PATH", "HOME"} | ({"NSPROV_PROCESS"} if what == "proc" else set())
            assert {k for k in env if k not in ("PWD", "SHLVL", "_")} == expected, env
            assert env["HOME"] == "/root" and "mallory" not in json.dumps(env)
            assert env.get("NSPROV_PROCESS", "mproc") == "mproc"
        assert lab3.ssh("lab1", "cat", "/tmp/exec-chdir").stdout.strip() == "/var/lib"
        assert lab3.ssh("lab1", "cat", "/tmp/exec-set").stdout.strip() == "/etc"
    finally:
        nsprov("destroy", "-i", str(inv), str(book), check=False)
        lab3.ssh("lab1", "sh", "-c", "rm -f /tmp/exec-* /tmp/proc-*", check=False)


CONTROLS = {
    # what Python started the naive way as root picks up from the login user: each must leave its mark
    "cwd": ("cd {home} && echo {pw} | sudo -S -p '' python3 -E -s -c 'import json'", "pwned.cwd.json.0"),
    "pythonpath": ("cd / && echo {pw} | sudo -S -p '' python3 -c 'import json'", "pwned.pythonpath.json.0"),
    "pythonhome": ("cd / && echo {pw} | sudo -S -p '' env -u PYTHONPATH python3 -c 'import json'",
                   "pwned.pythonhome.json.0"),
    "user site": ("cd / && echo {pw} | sudo -S -p '' env -u PYTHONPATH -u PYTHONHOME python3 -c pass",
                  "pwned.site.usercustomize.0"),
    "pth": ("cd / && echo {pw} | sudo -S -p '' env -u PYTHONPATH -u PYTHONHOME python3 -c pass", "pwned.pth.evil.0"),
}


@pytest.mark.parametrize("attack", CONTROLS)
def test_control_the_planted_files_do_run_when_python_is_started_the_naive_way(lab3, mallory, attack):
    """So the test above cannot pass for the wrong reason: every planted attack works on a
    Python started without -I -S from the login user's shell."""
    home, _ = mallory
    command, marker = CONTROLS[attack]
    if attack == "pythonhome":
        command = command.replace("python3", f"PYTHONHOME={home}/pyhome python3")
    lab3.ssh("lab1", "sh", "-c", "rm -f /tmp/pwned.*")
    try:
        proc = sh("ssh", "-F", str(lab3.ssh_config), "-l", "mallory", "lab1",
                  command.format(home=home, pw="m4ll0ry-pw"), check=False)
        assert marker in _pwned(lab3), proc.stderr
    finally:
        lab3.ssh("lab1", "sh", "-c", "rm -f /tmp/pwned.*")


# ------------------------------------------------------------------ nsprov's own connection
def _lab_pid(lab, host: str) -> int:
    from nsprov.lab.files import LabState
    return LabState.load(lab.dir / "state.json").hosts[host].pid


def test_a_task_that_would_cut_nsprovs_own_connection_is_refused_before_apply(lab3, tmp_path):
    controller = lab3.address("lab2").rsplit(".", 1)[0] + ".254"
    cut = controller.rsplit(".", 1)[0] + ".129/25"          # inside the management /24, holding the controller
    book = tmp_path / "cutoff.yml"
    book.write_text(textwrap.dedent(f"""\
        - hosts: lab2
          tasks:
            - netns: {{name: cut1}}
            - name: a veth whose host end takes a /25 of the management network
              veth: {{name: cutv0, addresses: [{cut}], peer: eth0, peer_netns: cut1}}
        """))
    proc, events = run("run", "-i", str(lab3.inventory), str(book))
    assert proc.returncode == 1
    failed = next(e for e in events if e["event"] == "task" and e["status"] == "failed")
    assert failed["name"] == "a veth whose host end takes a /25 of the management network"
    assert f"address {cut} on veth 'cutv0' would take the route to {controller}" in failed["reason"]
    assert "allow_management_overlap: true" in failed["reason"]
    # refused while planning: nothing was made, and the host still answers, to nsprov and to ssh
    assert "cutv0" not in lab3.ssh("lab2", "ip", "-br", "link").stdout
    assert "cut1" not in lab3.ssh("lab2", "ip", "netns", "list").stdout
    assert nsprov("facts", "-i", str(lab3.inventory), "--limit", "lab2", "--json", check=False).returncode == 0


def test_control_that_address_does_cut_the_host_off_when_made_by_hand(lab3):
    """The refusal above guards against a real outage: the same address made by hand (from the
    machine, into the lab host's namespace) leaves the host unreachable until it is removed."""
    controller = lab3.address("lab2").rsplit(".", 1)[0] + ".254"
    cut = controller.rsplit(".", 1)[0] + ".129/25"
    enter = ["nsenter", "-t", str(_lab_pid(lab3, "lab2")), "-n", "--"]
    sh(*enter, "ip", "link", "add", "cutv0", "type", "veth", "peer", "name", "cutv1")
    try:
        sh(*enter, "ip", "link", "set", "cutv0", "up")
        sh(*enter, "ip", "addr", "add", cut, "dev", "cutv0")
        proc = sh("ssh", "-F", str(lab3.ssh_config), "-o", "ConnectTimeout=3", "lab2", "true", check=False)
        assert proc.returncode == 255
    finally:
        sh(*enter, "ip", "link", "del", "cutv0", check=False)
    assert lab3.ssh("lab2", "hostname").stdout.strip() == "lab2"
