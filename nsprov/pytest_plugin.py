"""pytest plugin (entry point `pytest11`): testinfra hosts from an nsprov/Ansible inventory,
and testinfra checks run inside a named namespace set on a host.

    pytest --nsprov-inventory inventory.yml [--nsprov-limit 'lab*'] tests/

    def test_each_host(nsprov_host):                   # once per inventory host
        assert nsprov_host.file("/var/lib/nsprov").mode == 0o700

    @pytest.mark.nsprov(hosts="web*", namespace="box1")  # once per matching host, inside box1
    def test_web_box(nsprov_host):
        assert nsprov_host.check_output("hostname") == "box1"

    def test_one_box(nsprov_ns_host):
        box = nsprov_ns_host("lab1", "box1")           # every command runs inside box1
        assert box.socket("tcp://10.3.0.2:8000").is_listening

A failing check reads as what ran where: the command as the test wrote it, the host and
namespace, the exit status and the last lines of its output (never a CommandResult repr). A
host that is not in the inventory, or a pattern that matches none, fails its test saying so.

Hosts are reached with OpenSSH (testinfra's ssh backend) through an ssh_config written from
the inventory, host keys checked strictly against `nsprov_known_hosts`, with one shared
connection per host that is closed when the session ends.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

TAIL = 10          # lines of stdout and of stderr a failing check shows


def pytest_addoption(parser) -> None:
    group = parser.getgroup("nsprov")
    group.addoption("--nsprov-inventory", action="append", default=[], metavar="INV",
                    help="inventory whose hosts the nsprov_host / nsprov_hosts fixtures give")
    group.addoption("--nsprov-limit", default=None, metavar="PATTERN", help="Ansible host pattern")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "nsprov(hosts='PATTERN', namespace='NAME'): run a test that takes "
                                       "nsprov_host once per inventory host matching PATTERN, its commands "
                                       "inside namespace set (or netns) NAME")


def _inventory(config):
    from nsprov.controller.inventory_files import load_inventory
    sources = config.getoption("nsprov_inventory")
    return load_inventory(sources) if sources else None


def _selected(config, pattern: str = "all") -> tuple:
    """(inventory, hosts matching PATTERN and --nsprov-limit) or (None, [])."""
    from nsprov.controller.patterns import select_hosts
    inv = _inventory(config)
    if inv is None:
        return None, []
    hosts = select_hosts(inv, pattern)
    limit = config.getoption("nsprov_limit")
    if limit:
        allowed = set(select_hosts(inv, limit))
        hosts = [h for h in hosts if h in allowed]
    return inv, hosts


class _Unusable:
    """A parameter that fails its test with MESSAGE at setup (a pattern that matched nothing)."""

    def __init__(self, message: str):
        self.message = message


def pytest_generate_tests(metafunc) -> None:
    if "nsprov_host" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker("nsprov")
    pattern = (mark.kwargs.get("hosts") if mark else None) or "all"
    namespace = mark.kwargs.get("namespace") if mark else None
    try:
        inv, hosts = _selected(metafunc.config, pattern)
    except Exception as exc:      # a bad inventory or pattern: said by the test, not a traceback
        inv, hosts = None, [_Unusable(f"nsprov: {exc}")]
    if inv is not None and not hosts:
        hosts = [_Unusable(f"no host of the inventory matches {pattern!r}"
                           + (f" with --nsprov-limit {metafunc.config.getoption('nsprov_limit')!r}"
                              if metafunc.config.getoption("nsprov_limit") else "")
                           + f" (hosts: {', '.join(inv.hosts)})")]
    elif inv is None and not hosts:
        hosts = [_Unusable("nsprov_host needs --nsprov-inventory INV")]
    params = [(h, namespace) for h in hosts]
    ids = [h.message[:40] if isinstance(h, _Unusable) else (f"{h}/{namespace}" if namespace else h) for h in hosts]
    metafunc.parametrize("nsprov_host", params, ids=ids, indirect=True, scope="session")


def write_ssh_config(inv, hosts: list, path: Path, control_dir: Path) -> None:
    """An OpenSSH client config for the inventory's hosts: strict host keys, shared connections."""
    blocks = []
    for name in hosts:
        c = inv.connection(name)
        lines = [f"Host {name}", f"  HostName {c.address}"]
        if c.port:
            lines.append(f"  Port {c.port}")
        if c.user:
            lines.append(f"  User {c.user}")
        if c.key_file:
            lines += [f"  IdentityFile {os.path.expanduser(c.key_file)}", "  IdentitiesOnly yes"]
        known = os.path.expanduser(c.known_hosts or "~/.ssh/known_hosts")
        lines += [f"  UserKnownHostsFile {known}", "  StrictHostKeyChecking yes", "  BatchMode yes",
                  "  ControlMaster auto", f"  ControlPath {control_dir}/%C", "  ControlPersist 120s"]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n")


@pytest.fixture(scope="session")
def nsprov_testinfra(request):
    """(inventory, every inventory host, ssh_config path); control connections closed at the end."""
    inv = _inventory(request.config)
    if inv is None:
        pytest.fail("this test needs --nsprov-inventory INV")
    hosts = list(inv.hosts)
    tmp = Path(tempfile.mkdtemp(prefix="nsprov-testinfra-"))
    control = tmp / "cm"
    control.mkdir(mode=0o700)
    config = tmp / "ssh_config"
    write_ssh_config(inv, hosts, config, control)
    yield inv, hosts, config
    for name in hosts:   # end the shared connections this session opened, by their control socket
        subprocess.run(["ssh", "-F", str(config), "-O", "exit", name], capture_output=True)
    subprocess.run(["rm", "-rf", str(tmp)])


def _host_named(inv, host: str, sources) -> None:
    """pytest.fail naming the host when it is not in the inventory."""
    if host not in inv.hosts:
        from nsprov.model.errors import did_you_mean
        pytest.fail(f"host {host!r} is not in the inventory {', '.join(sources)}{did_you_mean(host, inv.hosts)} "
                    f"(hosts: {', '.join(inv.hosts)})", pytrace=False)


def _make_host(testinfra_session, host: str, namespace: Optional[str]):
    from testinfra.host import Host
    backend = _backend_class()(host, namespace, ssh_config=str(testinfra_session[2]), controlpersist=0)
    made = Host(backend)
    backend.set_host(made)
    return made


@pytest.fixture(scope="session")
def nsprov_hosts(request, nsprov_testinfra) -> dict:
    """{inventory name: testinfra Host} for every selected host."""
    _, hosts = _selected(request.config)
    return {h: _make_host(nsprov_testinfra, h, None) for h in hosts}


@pytest.fixture(scope="session")
def nsprov_host(request, nsprov_testinfra):
    """One testinfra Host per selected inventory host (the test runs once for each), inside the
    namespace of the test's `nsprov` marker when it names one."""
    host, namespace = request.param
    if isinstance(host, _Unusable):
        pytest.fail(host.message, pytrace=False)
    return _make_host(nsprov_testinfra, host, namespace)


def namespace_command(namespace: str, command: str) -> str:
    """A remote shell command that runs COMMAND inside namespace set (or netns) NAMESPACE."""
    from nsprov.model.types import netns_name
    name = netns_name(namespace)   # validated: safe to place in a shell command
    enter = ("a=''; for k in user:user mnt:mount uts:uts ipc:ipc pid:pid net:net cgroup:cgroup time:time; do "
             f"f=/run/nsprov/ns/{name}/${{k%%:*}}; [ -e \"$f\" ] && a=\"$a --${{k#*:}}=$f\"; done; "
             f"[ -z \"$a\" ] && [ -e /run/netns/{name} ] && a=--net=/run/netns/{name}; "
             f"[ -z \"$a\" ] && {{ echo 'nsprov: no namespace set or netns {name}' >&2; exit 127; }}; "
             "exec nsenter $a -- /bin/sh -c \"$0\"")
    return f"/bin/sh -c {shlex.quote(enter)} {shlex.quote(command)}"


@pytest.fixture(scope="session")
def nsprov_ns_host(request, nsprov_testinfra):
    """Factory: nsprov_ns_host(host, namespace) → a testinfra Host whose every command runs
    inside that namespace set (or named netns) on that host."""
    made: dict = {}
    sources = request.config.getoption("nsprov_inventory")

    def factory(host: str, namespace: str):
        _host_named(nsprov_testinfra[0], host, sources)
        try:
            from nsprov.model.types import netns_name
            netns_name(namespace)
        except ValueError as exc:
            pytest.fail(f"namespace {namespace!r}: {exc}", pytrace=False)
        key = (host, namespace)
        if key not in made:
            made[key] = _make_host(nsprov_testinfra, host, namespace)
        return made[key]
    return factory


# ------------------------------------------------------------------ readable results
def describe(command: str, where: str, rc: int, stdout: str, stderr: str) -> str:
    """`cmd` on lab1/box1 exited 3, and the last TAIL lines of each stream that has output."""
    parts = [f"`{command}` on {where} exited {rc}"]
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        lines = text.rstrip("\n").splitlines()
        if lines:
            shown = lines[-TAIL:]
            head = f"{name} (last {len(shown)} of {len(lines)} lines)" if len(lines) > TAIL else name
            parts.append(f"{head}:\n" + "\n".join(f"    {line}" for line in shown))
    return "\n".join(parts)


_BACKEND = None


def _backend_class():
    """testinfra's ssh backend, with a namespace to enter and results that read well (made on
    first use: testinfra is imported only by tests that use these fixtures)."""
    global _BACKEND
    if _BACKEND is not None:
        return _BACKEND
    from testinfra.backend.base import CommandResult
    from testinfra.backend.ssh import SshBackend

    @dataclasses.dataclass(repr=False)
    class Result(CommandResult):
        shown: str = ""
        where: str = ""

        def __repr__(self) -> str:
            return describe(self.shown, self.where, self.exit_status, self.stdout, self.stderr)

        __str__ = __repr__

    class Backend(SshBackend):
        def __init__(self, hostspec: str, namespace: Optional[str], **kwargs):
            self.namespace = namespace
            super().__init__(hostspec, **kwargs)

        def get_command(self, command: str, *args: str) -> str:
            wrapped = super().get_command(command, *args)
            return namespace_command(self.namespace, wrapped) if self.namespace else wrapped

        def result(self, rc, cmd, stdout, stderr):
            return Result(backend=self, exit_status=rc, command=cmd, _stdout=stdout, _stderr=stderr)

        def run(self, command: str, *args: str, **kwargs):
            """The command as the test wrote it, and where it ran, go with its result."""
            where = f"{self.hostname}/{self.namespace}" if self.namespace else self.hostname
            try:
                out = super().run(command, *args, **kwargs)
            except RuntimeError as exc:   # ssh itself failed (exit 255): say so, with what it said
                failed = exc.args[0] if exc.args and isinstance(exc.args[0], Result) else None
                if failed is None:
                    raise
                raise RuntimeError("ssh failed: " + describe(self.quote(command, *args), where, 255, failed.stdout,
                                                             failed.stderr)) from None
            out.shown, out.where = self.quote(command, *args), where
            return out

    _BACKEND = Backend
    return Backend
