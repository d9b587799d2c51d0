"""pytest plugin (entry point `pytest11`): testinfra hosts from an nsprov/Ansible inventory,
and testinfra checks run inside a named namespace set on a host.

    pytest --nsprov-inventory inventory.yml [--nsprov-limit 'lab*'] tests/

    def test_web_listens_inside_box1(nsprov_ns_host):
        box = nsprov_ns_host("lab1", "box1")           # every command runs inside box1
        assert box.check_output("hostname") == "box1"
        assert box.socket("tcp://10.3.0.2:8000").is_listening

    def test_each_host(nsprov_host):                   # parametrized over the inventory's hosts
        assert nsprov_host.file("/var/lib/nsprov").mode == 0o700

Hosts are reached with OpenSSH (testinfra's ssh backend) through an ssh_config written from
the inventory, host keys checked strictly against `nsprov_known_hosts`, with one shared
connection per host that is closed when the session ends.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("nsprov")
    group.addoption("--nsprov-inventory", action="append", default=[], metavar="INV",
                    help="inventory whose hosts the nsprov_host / nsprov_hosts fixtures give")
    group.addoption("--nsprov-limit", default=None, metavar="PATTERN", help="Ansible host pattern")


def _selected(config) -> tuple:
    from nsprov.controller.inventory_files import load_inventory
    from nsprov.controller.patterns import select_hosts
    sources = config.getoption("nsprov_inventory")
    if not sources:
        return None, []
    inv = load_inventory(sources)
    return inv, select_hosts(inv, config.getoption("nsprov_limit") or "all")


def pytest_generate_tests(metafunc) -> None:
    if "nsprov_host" in metafunc.fixturenames:
        _, hosts = _selected(metafunc.config)
        if not hosts:
            raise pytest.UsageError("nsprov_host needs --nsprov-inventory INV with at least one host")
        metafunc.parametrize("nsprov_host", hosts, indirect=True, scope="session")


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
        lines += [f"  UserKnownHostsFile {known}", "  StrictHostKeyChecking yes", "  BatchMode yes", "  ControlMaster auto", f"  ControlPath {control_dir}/%C",
                  "  ControlPersist 120s"]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n")


@pytest.fixture(scope="session")
def nsprov_testinfra(request):
    """(inventory, selected hosts, ssh_config path); control connections closed at the end."""
    inv, hosts = _selected(request.config)
    if inv is None:
        pytest.fail("this test needs --nsprov-inventory INV")
    tmp = Path(tempfile.mkdtemp(prefix="nsprov-testinfra-"))
    control = tmp / "cm"
    control.mkdir(mode=0o700)
    config = tmp / "ssh_config"
    write_ssh_config(inv, hosts, config, control)
    yield inv, hosts, config
    for name in hosts:   # end the shared connections this session opened, by their control socket
        subprocess.run(["ssh", "-F", str(config), "-O", "exit", name], capture_output=True)
    subprocess.run(["rm", "-rf", str(tmp)])


def _host(config: Path, name: str):
    import testinfra
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(config), controlpersist=0)


@pytest.fixture(scope="session")
def nsprov_hosts(nsprov_testinfra) -> dict:
    """{inventory name: testinfra Host} for every selected host."""
    _, hosts, config = nsprov_testinfra
    return {h: _host(config, h) for h in hosts}


@pytest.fixture(scope="session")
def nsprov_host(request, nsprov_testinfra):
    """One testinfra Host per selected inventory host (the test runs once for each)."""
    return _host(nsprov_testinfra[2], request.param)


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
def nsprov_ns_host(nsprov_testinfra):
    """Factory: nsprov_ns_host(host, namespace) → a testinfra Host whose every command runs
    inside that namespace set (or named netns) on that host."""
    from testinfra.backend.ssh import SshBackend
    from testinfra.host import Host

    class NamespacedBackend(SshBackend):
        def __init__(self, hostspec: str, namespace: str, **kwargs):
            self.namespace = namespace
            super().__init__(hostspec, **kwargs)

        def get_command(self, command: str, *args: str) -> str:
            return namespace_command(self.namespace, super().get_command(command, *args))

    made: dict = {}

    def factory(host: str, namespace: str):
        key = (host, namespace)
        if key not in made:
            backend = NamespacedBackend(host, namespace, ssh_config=str(nsprov_testinfra[2]),
                                        controlpersist=0)
            made[key] = Host(backend)
            backend.set_host(made[key])
        return made[key]
    return factory
