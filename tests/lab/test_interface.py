"""interface on real lab hosts, checked with `ip -j`, real traffic and the ledger's absence,
never by asking nsprov:
- a device another tool made (a veth pair made by hand, with an alias, an MTU and an address)
  is moved into a netns under a new name with nsprov's addresses and MTU; traffic crosses it;
  a second run changes nothing;
- destroy gives it back as it was (name, MTU, state, alias, address), though the netns goes
  first; the control shows why that matters: a netns that goes with a veth end in it takes the
  pair with it;
- a missing interface, and the one the controller logs in at, are refused before anything
  changes, naming them.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab1"


def link(lab, name: str, ns: str = ""):
    """The link as `ip -j link` says it, with `ip -j addr`'s addr_info."""
    args = ("-n", ns) if ns else ()
    out = json.loads(lab.ssh(HOST, "ip", *args, "-j", "link", "show", "dev", name, check=False).stdout or "[]")
    if not out:
        return None
    addr = json.loads(lab.ssh(HOST, "ip", *args, "-j", "addr", "show", "dev", name).stdout)
    return {**out[0], "addr_info": addr[0]["addr_info"]}


def inet(x: dict) -> list:
    return [f"{a['local']}/{a['prefixlen']}" for a in x["addr_info"] if a["family"] == "inet"]


def book(tmp_path, name="fx0", extra=""):
    path = tmp_path / "iflab.yml"
    path.write_text(textwrap.dedent(f"""\
        - hosts: {HOST}
          lab: iflab
          tasks:
            - netns: {{name: ifa}}
            - interface: {{name: {name}, netns: ifa, rename: wan0, addresses: [10.86.6.2/24], mtu: 1400{extra}}}
        """))
    return path


def run(lab, path, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(path), "--json", check=check)
    return proc, json_events(proc.stdout)


def changed(events: list) -> int:
    return sum(e["status"] == "changed" for e in events if e["event"] == "task")


@pytest.fixture
def by_hand(lab3):
    lab3.ssh(HOST, "sh", "-c", "ip link add fx0 mtu 1450 type veth peer name fx1 && ip link set fx0 alias 'made by hand' "
                               "&& ip addr add 10.86.5.1/24 dev fx0 && ip link set fx0 up && ip link set fx1 up "
                               "&& ip addr add 10.86.6.1/24 dev fx1")
    yield
    lab3.ssh(HOST, "sh", "-c", "ip link del fx0 || ip -n ifa link del wan0", check=False)


def test_a_device_another_tool_made_is_moved_in_and_given_back_as_it_was(lab3, by_hand, tmp_path):
    before = link(lab3, "fx0")
    path = book(tmp_path)
    try:
        proc, events = run(lab3, path)
        assert changed(events) == 2
        assert link(lab3, "fx0") is None
        wan = link(lab3, "wan0", "ifa")
        assert (wan["mtu"], wan["ifalias"], "UP" in wan["flags"], inet(wan)) == (1400, "nsprov:iflab", True, ["10.86.6.2/24"])
        assert wan["address"] == before["address"]                    # the same device, its own MAC
        ping = lab3.ssh(HOST, "ip", "netns", "exec", "ifa", "ping", "-c", "1", "-W", "2", "10.86.6.1", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        proc, events = run(lab3, path)
        assert changed(events) == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    after = link(lab3, "fx0")
    assert after is not None, "the device was lost"
    assert (after["mtu"], after.get("ifalias"), "UP" in after["flags"], inet(after), after["address"]) == (
        1450, "made by hand", True, ["10.86.5.1/24"], before["address"])
    assert "ifa" not in lab3.ssh(HOST, "ip", "netns", "list").stdout.split()
    labs = [e for e in json_events(nsprov("labs", "-i", str(lab3.inventory), "--json").stdout) if e["event"] == "labs"]
    assert labs and all("iflab" not in e["labs"] for e in labs)


def test_control_a_netns_that_goes_takes_a_veth_moved_into_it(lab3):
    lab3.ssh(HOST, "sh", "-c", "ip netns add ifctl && ip link add ic0 type veth peer name ic1 && "
                               "ip link set ic0 netns ifctl && ip netns del ifctl && sleep 1")
    assert link(lab3, "ic1") is None       # the pair went with the netns: giving back first is what keeps it


def test_a_missing_interface_and_the_management_one_are_refused_naming_them(lab3, tmp_path):
    netns = lab3.ssh(HOST, "ip", "netns", "list").stdout
    uplink = link(lab3, "eth0")
    for name, message in (("fx9", "interface 'fx9' does not exist in the host's namespace"),
                          ("eth0", "where the controller")):
        proc, events = run(lab3, book(tmp_path, name=name), check=False)
        failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
        assert proc.returncode == 1 and failed and message in failed[0]["reason"], proc.stdout[-2000:]
        assert lab3.ssh(HOST, "ip", "netns", "list").stdout == netns
    assert link(lab3, "eth0")["ifindex"] == uplink["ifindex"] and inet(link(lab3, "eth0")) == inet(uplink)
    nsprov("destroy", "-i", str(lab3.inventory), str(book(tmp_path)), check=False)
