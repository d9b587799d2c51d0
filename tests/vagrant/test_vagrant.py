"""End to end on two Debian 12 VMs (marker `vagrant`; run by vagrant/run-suite.sh).

nsprov logs in as the ordinary user `vagrant` and becomes root through sudo, as on real servers.
Every result is checked independently with testinfra over the ssh config vagrant gave (with the
host keys the VMs printed on their consoles: strict checking), never by asking nsprov."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.vagrant
HERE = Path(__file__).parent
PLAYBOOKS = HERE.parents[1] / "playbooks"
PIN = "/run/nsprov/ns"
PRIVATE = {"node1": "10.77.0.11", "node2": "10.77.0.12"}


class VMs:
    def __init__(self, inventory: str, ssh_config: str):
        import testinfra
        self.inventory = inventory
        self.ssh_config = ssh_config
        self.doc = yaml.safe_load(Path(inventory).read_text())
        self.known_hosts = self.doc["all"]["vars"]["nsprov_known_hosts"]
        group = next(iter(self.doc["all"]["children"]))
        self.names = list(self.doc["all"]["children"][group]["hosts"])
        self.hosts = {n: testinfra.get_host(f"ssh://{n}", ssh_config=ssh_config, sudo=True) for n in self.names}

    def __getitem__(self, name: str):
        return self.hosts[name]

    def sh(self, name: str, command: str) -> str:
        out = self.hosts[name].run(command)
        assert out.rc == 0, f"{name}: {command}: {out.stderr}"
        return out.stdout

    def links(self, name: str, netns: str = "") -> dict:
        prefix = f"ip -n {netns} " if netns else "ip "
        return {x["ifname"]: x["ifindex"] for x in json.loads(self.sh(name, prefix + "-j link show"))}

    def netns(self, name: str) -> set:
        return {x["name"] for x in json.loads(self.sh(name, "ip -j netns list") or "[]")}

    def underlay_inventory(self, path: Path) -> Path:
        """The VMs' inventory written to PATH with each VM's private address as its
        nsprov_underlay: the network a topology's links across the VMs go over."""
        doc = json.loads(json.dumps(self.doc))
        group = next(iter(doc["all"]["children"]))
        for name, address in PRIVATE.items():
            doc["all"]["children"][group]["hosts"][name]["nsprov_underlay"] = address
        path.write_text(yaml.safe_dump(doc))
        return path


@pytest.fixture(scope="session")
def vms(request) -> VMs:
    inventory = request.config.getoption("--vagrant-inventory")
    ssh_config = request.config.getoption("--vagrant-ssh-config")
    if not inventory or not ssh_config:
        pytest.fail("tests/vagrant needs running VMs: run `sudo bash vagrant/run-suite.sh` (it brings them up, "
                    "passes --vagrant-inventory/--vagrant-ssh-config, and tears everything down)")
    return VMs(inventory, ssh_config)


def run(*args: str, check: bool = True):
    proc = nsprov(*args, "--json", check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    events = json_events(proc.stdout)
    return proc, events, (events[-1].get("hosts", {}) if events else {})


# ------------------------------------------------------------------ inventory, keys, facts
def test_from_vagrant_pins_the_keys_the_vms_made_themselves(vms, tmp_path):
    lines = Path(vms.known_hosts).read_text().splitlines()
    assert oct(Path(vms.known_hosts).stat().st_mode & 0o777) == "0o600"
    for name in vms.names:
        address = vms.doc["all"]["children"]["lab"]["hosts"][name]["ansible_host"]
        # what the VM holds, read over testinfra's own (strict) connection
        theirs = " ".join(vms.sh(name, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2])
        assert f"{address} {theirs}" in lines
    # both VMs came from one box, yet each made its own keys at first boot
    ed = [line.split()[2] for line in lines if line.split()[1] == "ssh-ed25519"]
    assert len(ed) == 2 and ed[0] != ed[1]
    # node1's address now answers with node2's keys (a replaced machine): refused before any command
    doc = yaml.safe_load(Path(vms.inventory).read_text())
    hosts = doc["all"]["children"]["lab"]["hosts"]
    a1, a2 = hosts["node1"]["ansible_host"], hosts["node2"]["ansible_host"]
    bad = tmp_path / "known_hosts"
    bad.write_text("".join(f"{a1} {' '.join(line.split()[1:])}\n" for line in lines if line.split()[0] == a2))
    doc["all"]["vars"]["nsprov_known_hosts"] = str(bad)
    inv = tmp_path / "inventory.yml"
    inv.write_text(yaml.safe_dump(doc))
    proc = nsprov("facts", "-i", str(inv), "--limit", "node1", "--json", check=False)
    assert proc.returncode == 2
    assert "host key" in (proc.stdout + proc.stderr).lower()


def test_facts_as_the_vagrant_user_through_sudo(vms):
    proc, events, _ = run("facts", "-i", vms.inventory)
    facts = {e["host"]: e["facts"] for e in events if e.get("event") == "facts"}
    assert set(facts) == set(vms.names)
    for name in vms.names:
        host = vms[name]
        assert facts[name]["kernel"] == host.check_output("uname -r")
        assert facts[name]["hostname"] == host.check_output("hostname")
        theirs = {x["ifname"] for x in json.loads(host.check_output("ip -j link show"))}
        assert {link["name"] for link in facts[name]["links"][""]} == theirs
        # isolated networks: no way out of the machine from a guest
        assert host.check_output("ip route show default") == ""
    # the login user is not root: become went through sudo (its log names the agent's command)
    ssh_user = vms.doc["all"]["children"]["lab"]["hosts"]["node1"]["ansible_user"]
    assert ssh_user == "vagrant"
    journal = vms.sh("node1", "journalctl -q --no-pager -t sudo -n 50")
    assert "vagrant : " in journal and "python3" in journal


# ------------------------------------------------------------------ network across two VMs
def _served(vms, host: str, name: str) -> str:
    return vms.sh(host, f"cat /var/lib/nsprov/log/two-nodes/{name}.log")


def _get(vms, host: str, url: str, netns: str = "") -> None:
    """GET URL from HOST (in NETNS); a server just started under TCG may need seconds to listen."""
    prefix = f"ip netns exec {netns} " if netns else ""
    code = f"import urllib.request as u; print(u.urlopen('{url}', timeout=10).status)"
    deadline = time.monotonic() + 30
    while True:
        out = vms[host].run(f'{prefix}python3 -c "{code}"')
        if out.rc == 0 or "Connection refused" not in out.stderr or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert out.rc == 0 and out.stdout.strip() == "200", \
        f"{host}{'/' + netns if netns else ''} -> {url}: {out.stderr[-300:]}"


def test_two_nodes_nat_port_forward_and_routes_between_namespaces(vms):
    book = str(HERE / "two-nodes.yml")
    try:
        # one run: play order is a barrier, so node2's verify meets a finished node1 (its web server
        # started under TCG, where Python takes seconds to listen)
        proc, events, recap = run("run", "-i", vms.inventory, book)
        assert recap["node1"]["changed"] > 0 and recap["node2"]["changed"] > 0
        assert [e["name"] for e in events if e["event"] == "play"] == ["node1, the lab side", "node2, the upstream"]
        last_node1 = max(i for i, e in enumerate(events) if e.get("host") == "node1" and e["event"] == "task")
        first_node2 = min(i for i, e in enumerate(events) if e.get("host") == "node2" and e["event"] == "task")
        assert last_node1 < first_node2
        before = {n: vms.links(n) for n in vms.names}
        # the firewall, as nft itself lists it
        table = json.loads(vms.sh("node1", "nft -j list table ip nsprov_two-nodes"))
        comments = sorted(e["rule"]["comment"] for e in table["nftables"] if "rule" in e)
        assert "masquerade 10.10.1.0/24 oif eth1" in comments
        assert any(c.startswith("dnat tcp/8080->10.10.1.2:8000") for c in comments)
        assert vms.sh("node1", "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
        # NAT: node2 sees node1's private address, not a1's
        _get(vms, "node1", "http://10.77.0.12:8001/", netns="a1")
        log = _served(vms, "node2", "node2-web")
        assert "10.77.0.11 - - " in log and "10.10.1.2" not in log
        # routes, no translation: b1 sees r1's own address
        _get(vms, "node1", "http://10.20.1.2:8000/", netns="r1")
        assert "10.11.1.2 - - " in _served(vms, "node2", "b1-web")
        # port forward: node2 -> node1:8080 -> a1:8000
        _get(vms, "node2", "http://10.77.0.11:8080/")
        assert "10.77.0.12 - - " in _served(vms, "node1", "a1-web")
        # a1 is translated, so nothing routes back to it from node2's namespace
        out = vms["node2"].run("ip netns exec b1 ping -c1 -W1 10.10.1.2")
        assert out.rc != 0
        # nsprov verify agrees, and a second run changes nothing and keeps every ifindex
        run("verify", "-i", vms.inventory, book)
        proc, events, recap = run("run", "-i", vms.inventory, book)
        assert recap["node1"]["changed"] == 0 and recap["node2"]["changed"] == 0
        assert {n: vms.links(n) for n in vms.names} == before
    finally:
        nsprov("destroy", "-i", vms.inventory, book, check=False)
    for name in vms.names:
        assert vms.netns(name) == set()
        assert not {"br0", "a1-host", "r1-host", "b1-host"} & set(vms.links(name))
        assert "nsprov_two-nodes" not in vms.sh(name, "nft list tables")
        assert vms.sh(name, "cat /proc/sys/net/ipv4/ip_forward").strip() == "0"
        assert "10.20.1.0/24" not in vms.sh(name, "ip route") and "10.11.1.0/24" not in vms.sh(name, "ip route")
        assert vms[name].run("pgrep -f 'python3 -m [h]ttp.server'").rc == 1


# ------------------------------------------------------------------ the six namespace kinds
# every seed playbook runs on the lab hosts (tests/lab/test_namespaces.py); on a VM, Debian's
# kernel through sudo, isolation.yml puts all six kinds through together, uid maps included: the
# single-kind ones cost ~17 s each under TCG, against CI's 30 minutes
SEED = ["isolation.yml"]


def _independent(vms, kind: str) -> None:
    n1 = vms["node1"]
    if kind == "uts.yml":
        assert n1.check_output(f"nsenter --uts={PIN}/uts-demo/uts hostname") == "bird"
        assert n1.check_output("hostname") == n1.check_output("cat /etc/hostname") != "bird"
    elif kind == "ipc.yml":
        key = n1.check_output("ipcmk -Q | awk '{print $4}'")
        try:
            assert key in n1.check_output("ipcs -q")
            assert key not in n1.check_output(f"nsenter --ipc={PIN}/ipc-demo/ipc ipcs -q")
        finally:
            n1.run(f"ipcrm -q {key}")
    elif kind == "pid.yml":
        rows = [r.split(None, 1) for r in n1.check_output(
            f"nsenter --pid={PIN}/pid-demo/pid --mount={PIN}/pid-demo/mnt ps -eo pid=,args=").splitlines()]
        assert rows[0][0] == "1" and any("sleep infinity" in r[1] for r in rows)
    elif kind == "mount.yml":
        assert n1.check_output(f"nsenter --mount={PIN}/mnt-demo/mnt findmnt -n -o FSTYPE /mnt") == "tmpfs"
        assert n1.run("findmnt -n /mnt").rc == 1
    elif kind == "user.yml":
        assert n1.check_output(f"nsenter --user={PIN}/user-demo/user id -u") == "0"
        n1.check_output("rm -rf /tmp/userdemo && mkdir -m 777 /tmp/userdemo")
        n1.check_output(f"nsenter --user={PIN}/user-demo/user touch /tmp/userdemo/f")
        assert n1.check_output("stat -c %u /tmp/userdemo/f") == "100000"
        n1.run("rm -rf /tmp/userdemo")
    elif kind == "isolation.yml":
        assert n1.check_output(f"nsenter --uts={PIN}/box1/uts hostname") == "box1"
        assert n1.check_output(f"nsenter --net={PIN}/box1/net ip -j addr show eth0").count("10.3.0.2") == 1
        _get(vms, "node1", "http://10.3.0.2:8000/")


@pytest.mark.parametrize("seed", SEED)
def test_seed_playbooks_build_verify_and_destroy_on_a_vm(vms, tmp_path, seed):
    book = tmp_path / seed
    shutil.copy(PLAYBOOKS / seed, book)
    try:
        proc, events, recap = run("run", "-i", vms.inventory, str(book), "--limit", "node1")
        assert recap["node1"]["changed"] > 0
        _independent(vms, seed)
        proc, events, recap = run("verify", "-i", vms.inventory, str(book), "--limit", "node1")
        assert events[-1]["failed"] == 0 and events[-1]["checks"] > 0
        proc, events, recap = run("run", "-i", vms.inventory, str(book), "--limit", "node1")
        assert recap["node1"]["changed"] == 0
    finally:
        nsprov("destroy", "-i", vms.inventory, str(book), "--limit", "node1", check=False)
    assert vms.sh("node1", f"ls {PIN} 2>/dev/null || true").strip() == ""
    assert vms.netns("node1") == set()


# ------------------------------------------------------------------ link kinds this machine's kernel lacks
def _kinds_book(path: Path, ipvlan_mode: str = "l2", protocol: str = "802.1Q") -> str:
    pick = "{{{{ {} if inventory_hostname == 'node1' else {} }}}}"
    path.write_text(yaml.safe_dump([{"hosts": "node1:node2", "lab": "kinds", "tasks": [
        {"netns": {"name": "va"}}, {"netns": {"name": "ia"}},
        {"vlan": {"name": "eth1.10", "link": "eth1", "id": 10, "protocol": protocol, "netns": "va",
                  "addresses": [f"10.78.10.{pick.format(1, 2)}/24"]}},
        {"ipvlan": {"name": "ipv0", "link": "eth1", "netns": "ia", "mode": ipvlan_mode,
                    "addresses": [f"10.77.0.{pick.format(21, 22)}/24"]}},
        {"netem": {"link": "eth1.10", "netns": "va", "delay": "40ms"}, "when": "inventory_hostname == 'node1'"}]}],
        sort_keys=False))
    return str(path)


def _rtt_ms(vms, ns: str, to: str) -> float:
    """The median RTT of 10 echoes, as ping reports each one."""
    out = vms.sh("node2", f"ip netns exec {ns} ping -c 10 -i 0.2 -W 2 {to}")
    times = sorted(float(t.split("time=")[1].split()[0]) for t in out.splitlines() if "time=" in t)
    assert len(times) == 10, out
    return times[5]


def _dlink(vms, host: str, ns: str, name: str) -> dict:
    return json.loads(vms.sh(host, f"ip -n {ns} -j -d link show dev {name}"))[0]


def test_vlan_and_ipvlan_between_two_vms_edit_in_place_or_again_and_destroy(vms, tmp_path):
    eth1 = {n: json.loads(vms.sh(n, "ip -j -d link show dev eth1"))[0] for n in vms.names}
    book = _kinds_book(tmp_path / "kinds.yml")
    try:
        proc, events, recap = run("run", "-i", vms.inventory, book)
        assert (recap["node1"]["changed"], recap["node2"]["changed"]) == (5, 4)
        qdisc = json.loads(vms.sh("node1", "ip netns exec va tc -j qdisc show dev eth1.10 root"))
        assert [(q["kind"], q["options"]["delay"]["delay"]) for q in qdisc] == [("netem", 0.04)]
        # the VLAN between the two namespaces carries the 40 ms netem delay; the ipvlan, over the
        # same wire without netem, is the control
        rtt = {"vlan": _rtt_ms(vms, "va", "10.78.10.1"), "ipvlan": _rtt_ms(vms, "ia", "10.77.0.21")}
        assert 40 <= rtt["vlan"] <= 44 and rtt["ipvlan"] < 10, rtt      # within 10 % of 40 ms
        for n in vms.names:
            vlan, ipv = _dlink(vms, n, "va", "eth1.10"), _dlink(vms, n, "ia", "ipv0")
            assert vlan["linkinfo"]["info_kind"] == "vlan" and vlan["ifalias"] == "nsprov:kinds"
            assert (vlan["linkinfo"]["info_data"]["id"], vlan["linkinfo"]["info_data"]["protocol"]) == (10, "802.1Q")
            assert vlan["link_index"] == eth1[n]["ifindex"] and vlan["mtu"] == eth1[n]["mtu"]
            assert ipv["linkinfo"]["info_kind"] == "ipvlan" and ipv["linkinfo"]["info_data"]["mode"] == "l2"
            assert ipv["address"] == eth1[n]["address"]            # an ipvlan shares its parent's MAC
        # tagged frames and the ipvlan cross the private network between the VMs
        assert vms["node1"].run("ip netns exec va ping -c2 -W2 10.78.10.2").rc == 0
        assert vms["node1"].run("ip netns exec ia ping -c2 -W2 10.77.0.22").rc == 0
        index = {n: (_dlink(vms, n, "va", "eth1.10")["ifindex"], _dlink(vms, n, "ia", "ipv0")["ifindex"])
                 for n in vms.names}
        proc, events, recap = run("run", "-i", vms.inventory, book)
        assert recap["node1"]["changed"] == recap["node2"]["changed"] == 0
        # ipvlan's mode changes in place; a vlan's protocol makes it again
        book = _kinds_book(tmp_path / "kinds.yml", ipvlan_mode="l3", protocol="802.1ad")
        proc, events, recap = run("drift", "-i", vms.inventory, book, check=False)
        assert proc.returncode == 1 and sorted({e["name"] for e in events if e["event"] == "task" and
                                                e["status"] == "changed"}) == ["ipvlan ia/ipv0@eth1", "vlan va/eth1.10@eth1"]
        proc, events, recap = run("run", "-i", vms.inventory, book)
        assert recap["node1"]["changed"] == recap["node2"]["changed"] == 2
        for n in vms.names:
            vlan, ipv = _dlink(vms, n, "va", "eth1.10"), _dlink(vms, n, "ia", "ipv0")
            assert ipv["ifindex"] == index[n][1] and ipv["linkinfo"]["info_data"]["mode"] == "l3"
            assert vlan["ifindex"] != index[n][0] and vlan["linkinfo"]["info_data"]["protocol"] == "802.1ad"
        assert vms["node1"].run("ip netns exec va ping -c2 -W2 10.78.10.2").rc == 0   # both ends 802.1ad
    finally:
        nsprov("destroy", "-i", vms.inventory, book, check=False)
    for n in vms.names:
        assert vms.netns(n) == set()
        after = json.loads(vms.sh(n, "ip -j -d link show dev eth1"))[0]
        assert (after["ifindex"], after["mtu"], after["address"], after.get("ifalias")) == (
            eth1[n]["ifindex"], eth1[n]["mtu"], eth1[n]["address"], eth1[n].get("ifalias"))


CROSS = """\
name: across
topology:
  nodes:
    a: {kind: linux, labels: {nsprov.host: node1}}
    b: {kind: linux, labels: {nsprov.host: node2}}
  links:
    - {endpoints: ["a:ethernet-1-to-node2", "b:eth1"], vars: {ipv4: [10.79.0.1/24, 10.79.0.2/24]}}
    - {type: dummy, endpoint: {node: a, interface: lo1, vars: {ipv4: 10.79.9.1/32}}}
"""


def test_a_containerlab_link_between_the_two_vms_is_a_vxlan_pair_over_their_private_network(vms, tmp_path):
    """The underlay is the VMs' private network (nsprov_underlay); each end seen on its VM with
    ip -d -j link, the long name kept as an altname; the link pings; a dummy link is a dummy in
    its node; a re-run changes nothing."""
    inventory, topo = vms.underlay_inventory(tmp_path / "inventory.yml"), tmp_path / "across.clab.yml"
    topo.write_text(CROSS)
    ends = {"node1": ("clab-across-a", "ethernet-1-to-node2"), "node2": ("clab-across-b", "eth1")}
    try:
        run("run", "-i", str(inventory), str(topo))
        seen = {}
        for n, (ns, full) in ends.items():
            link = json.loads(vms.sh(n, f"ip -n {ns} -j -d link show dev {full}"))[0]
            data = link["linkinfo"]["info_data"]
            other = PRIVATE["node2" if n == "node1" else "node1"]
            assert link["linkinfo"]["info_kind"] == "vxlan" and data["remote"] == other, link
            assert link["mtu"] == json.loads(vms.sh(n, "ip -j link show dev eth1"))[0]["mtu"] - 50
            seen[n] = (link["ifindex"], data["id"], link.get("altnames", []))
        assert seen["node1"][1] == seen["node2"][1] and seen["node1"][2] == ["ethernet-1-to-node2"]
        assert vms["node1"].run("ip netns exec clab-across-a ping -c2 -W2 10.79.0.2").rc == 0
        lo1 = json.loads(vms.sh("node1", "ip -n clab-across-a -d -j addr show dev lo1"))[0]   # a kind this kernel lacks
        assert lo1["linkinfo"]["info_kind"] == "dummy"
        assert [a["local"] for a in lo1["addr_info"] if a["family"] == "inet"] == ["10.79.9.1"]
        proc, events, recap = run("run", "-i", str(inventory), str(topo))
        assert recap["node1"]["changed"] == recap["node2"]["changed"] == 0
        assert {n: json.loads(vms.sh(n, f"ip -n {ns} -j link show dev {full}"))[0]["ifindex"]
                for n, (ns, full) in ends.items()} == {n: v[0] for n, v in seen.items()}
    finally:
        nsprov("destroy", "-i", str(inventory), str(topo), check=False)
    for n in vms.names:
        assert not {x for x in vms.netns(n) if x.startswith("clab-across-")}


@pytest.fixture(scope="module")
def vm_target(vms):
    """tests/lab/test_edit_every_parameter's procedure, on node1 (as root through sudo)."""
    import shlex
    import subprocess
    from tests.lab.test_edit_every_parameter import Target

    def run_there(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
        out = vms["node1"].run(shlex.join(argv))
        assert not check or out.rc == 0, f"node1: {argv[:3]}: {out.stderr[-500:]}"
        return subprocess.CompletedProcess(argv, out.rc, out.stdout, out.stderr)
    at = Target(vms.inventory, "node1", run_there)
    at.make_foreign()
    yield at
    at.remove_foreign()


def _vm_cases():
    from tests.lab.test_edit_every_parameter import VM_CASES
    return VM_CASES


@pytest.mark.parametrize("case", _vm_cases(), ids=[f"{k}.{p}" for k, p in _vm_cases()])
def test_an_edited_parameter_of_a_kind_this_kernel_lacks_converges_on_a_vm(vm_target, tmp_path, case):
    from tests.lab.test_edit_every_parameter import edit_converges
    edit_converges(vm_target, tmp_path, case)


NETEM_A = {"delay": "20ms", "jitter": "5ms", "correlation": 25, "distribution": "normal", "loss": 5, "duplicate": 1,
           "corrupt": 1, "reorder": 10, "limit": 500}
NETEM_B = {"delay": "30ms", "jitter": "2ms", "correlation": 10, "distribution": "pareto", "loss": 2, "duplicate": 2,
           "corrupt": 0.5, "reorder": 20, "limit": 800}


def _netem_book(path: Path, netem: dict, link_checks: list = ()) -> str:
    tasks = [{"netns": {"name": "na"}}, {"netns": {"name": "nb"}},
             {"veth": {"name": "eth0", "netns": "na", "peer": "eth0", "peer_netns": "nb",
                       "addresses": ["10.63.0.1/24"], "peer_addresses": ["10.63.0.2/24"]}},
             {"netem": {"link": "eth0", "netns": "na", **netem}}]
    if link_checks:
        tasks.append({"verify": {"link": list(link_checks)}})
    path.write_text(yaml.safe_dump([{"hosts": "node1", "lab": "netem", "tasks": tasks}], sort_keys=False))
    return str(path)


def _netem_seen(vms) -> dict:
    q = json.loads(vms.sh("node1", "ip netns exec na tc -j qdisc show dev eth0 root"))[0]
    o = q["options"]
    return {"kind": q["kind"], "delay": round(o["delay"]["delay"] * 1000, 3), "jitter": round(o["delay"]["jitter"] * 1000, 3),
            "correlation": round(o["delay"]["correlation"] * 100, 2), "loss": round(o["loss-random"]["loss"] * 100, 2),
            "duplicate": round(o["duplicate"]["duplicate"] * 100, 2), "corrupt": round(o["corrupt"]["corrupt"] * 100, 2),
            "reorder": round(o["reorder"]["reorder"] * 100, 2), "limit": o["limit"]}


def _as_seen(netem: dict) -> dict:
    return {"kind": "netem", "delay": float(netem["delay"][:-2]), "jitter": float(netem["jitter"][:-2]),
            **{k: float(netem[k]) for k in ("correlation", "loss", "duplicate", "corrupt", "reorder")},
            "limit": netem["limit"]}


def test_netem_every_impairment_set_edited_and_measured_on_a_vm(vms, tmp_path):
    """Every impairment, in the kernel's qdisc dump (tc -j) as declared, then all edited at once;
    re-runs change nothing and keep the link; verify's link check measures a 20 ms delay and 10 %
    loss, and a claim of 5 ms fails (the control)."""
    book = tmp_path / "netem.yml"
    try:
        run("run", "-i", vms.inventory, _netem_book(book, NETEM_A))
        assert _netem_seen(vms) == _as_seen(NETEM_A)
        index = vms.links("node1", "na")["eth0"]
        events = run("run", "-i", vms.inventory, _netem_book(book, NETEM_A))[1]
        assert [e["name"] for e in events if e["event"] == "task" and e["status"] == "changed"] == []
        run("run", "-i", vms.inventory, _netem_book(book, NETEM_B))
        assert _netem_seen(vms) == _as_seen(NETEM_B)
        assert vms.links("node1", "na")["eth0"] == index
        events = run("run", "-i", vms.inventory, _netem_book(book, NETEM_B))[1]
        assert [e["name"] for e in events if e["event"] == "task" and e["status"] == "changed"] == []
        measured = {"delay": "20ms", "loss": 10}
        claims = [{"from": "na", "to": "10.63.0.2", "rtt": "20ms", "loss": 10, "count": 400},
                  {"from": "na", "to": "10.63.0.2", "rtt": "5ms", "count": 20}]
        proc, events, _ = run("run", "-i", vms.inventory, _netem_book(book, measured, claims), check=False)
        checks = [c for e in events if e["event"] == "task" for c in e.get("checks", [])] or [
            e for e in events if e["event"] == "check"]
        print("link checks:", json.dumps(checks, indent=1))
        assert [(c["check"], c["passed"]) for c in checks] == [("link: rtt", True), ("link: loss", True),
                                                                ("link: rtt", False)], checks
    finally:
        nsprov("destroy", "-i", vms.inventory, str(book), check=False)
    assert vms.netns("node1") == set()
