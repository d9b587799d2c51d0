"""The fake kernel is held to the real one: the same primitives, step by step, on both (the real
one in a throwaway network and mount namespace of a forked child, root needed), and after each
step the same observation: namespaces, links, addresses, IPv4 routes, sysctls, firewall rules,
namespace sets and processes, or the same errno. A fake that drifts fails here, not in the tests
that rely on it."""

from __future__ import annotations

import ctypes
import os
import pickle
import traceback

import pytest

from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.state import observed

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
MARK = "nsprov:contract"
MASQ = {"type": "masquerade", "source": "10.2.0.0/24", "oif": "eth0"}
DNAT = {"type": "dnat", "proto": "tcp", "dport": 8080, "to": "10.2.0.2:80", "hook": "prerouting", "iif": None}
MASQ6 = {"type": "masquerade", "source": "fd00:2::/64", "oif": "eth0"}
DNAT6 = {"type": "dnat", "proto": "tcp", "dport": 8080, "to": "[fd00:2::2]:80", "hook": "prerouting", "iif": None}


def veth(ns, name, peer, peer_netns, master=None, mtu=None):
    return ("ensure_veth", dict(ns=ns, name=name, peer=peer, peer_netns=peer_netns,
                                link={"mtu": mtu, "master": master, "up": True, "alias": MARK}))


def addr(ns, dev, address, add=True):
    return ("ensure_address" if add else "remove_address", dict(ns=ns, name=dev, dev=dev, address=address))


def route(ns, dst, via=None, dev=None, replace=False, remove=False, metric=None):
    if remove:
        return ("remove_route", dict(ns=ns, name=dst, via=via, dev=dev, metric=metric))
    return ("ensure_route", dict(ns=ns, name=dst, via=via, dev=dev, metric=metric, replace=replace))


def link(ns, name, kind, parent=None, parent_netns="", data=(), mtu=None):
    return ("ensure_link", dict(ns=ns, name=name, kind=kind, data=data, link={
        "mtu": mtu, "master": None, "up": True, "alias": MARK, "parent": parent, "parent_netns": parent_netns}))


BRIDGE_MODE = [(1, "u32", 4)]    # IFLA_MACVLAN_MODE: bridge
FILTER = {"input": {"policy": "drop", "rules": [{"text": "tcp dport 22 accept", "comment": "nsprov 0 a"},
                                               {"text": "meta l4proto icmp drop", "comment": "nsprov 1 b"}]},
          "forward": {"policy": "accept", "rules": []}}
HOSTS = "/run/nsprov-contract/netns/red/hosts"     # the child's /run is a tmpfs of its own


SCENARIOS = {
    "a link of any kind, bound to a parent here or in another netns, going with it": [
        ("ensure_netns", dict(ns="", name="red")),
        veth("", "v0", "eth0", "red"),
        link("", "mv0", "macvlan", "v0", "", BRIDGE_MODE),
        link("", "mv0", "macvlan", "v0", "", BRIDGE_MODE),              # there as asked: fine
        link("red", "mv1", "macvlan", "v0", "", BRIDGE_MODE, mtu=1400),  # made in red, bound to v0 here
        link("red", "v0", "macvlan", "v0", "", BRIDGE_MODE),             # named in red as its parent is here
        ("set_link_data", dict(ns="", name="mv0", kind="macvlan", data=[(1, "u32", 1)])),   # mode private
        link("", "v0", "macvlan", "mv0", "", BRIDGE_MODE),               # EEXIST: a veth has the name
        link("", "mv2", "macvlan", "nosuch", "", BRIDGE_MODE),           # ENODEV: no parent
        link("red", "mv3", "macvlan", "eth0", "red", BRIDGE_MODE),       # bound to a parent in its own netns
        ("remove_link", dict(ns="", name="v0")),                          # the pair goes, and what is bound to it
        ("remove_netns", dict(ns="", name="red")),
    ],
    "alternative names and hardware addresses: given, changed, taken away; a name taken is refused": [
        ("ensure_netns", dict(ns="", name="red")),
        veth("red", "a0", "b0", "red"),
        ("set_altnames", dict(ns="red", name="a0", altnames=["a0-to-the-core-router-of-row-1"])),
        ("set_altnames", dict(ns="red", name="a0", altnames=["a0-to-the-core-router-of-row-2"])),
        ("set_altnames", dict(ns="red", name="b0", altnames=["a0-to-the-core-router-of-row-2"])),   # EEXIST
        ("set_altnames", dict(ns="red", name="b0", altnames=["a0"])),                               # EEXIST
        ("set_altnames", dict(ns="red", name="nosuch", altnames=["x-long-name-of-nothing-at-all"])),  # ENODEV
        ("set_altnames", dict(ns="red", name="a0", altnames=[])),
        ("set_mac", dict(ns="red", name="a0", mac="02:00:00:00:ab:01")),
        ("set_mac", dict(ns="red", name="b0", mac="02:00:00:00:AB:02")),                           # case aside
        ("set_mac", dict(ns="red", name="nosuch", mac="02:00:00:00:ab:03")),                       # ENODEV
        ("remove_netns", dict(ns="", name="red")),
    ],
    "a tunnel made from another netns, bound to its underlay by its own attribute, going with it": [
        ("ensure_netns", dict(ns="", name="red")),
        veth("", "u0", "eth0", "red"),
        ("ensure_link", dict(ns="red", name="vx0", kind="vxlan", link={   # made here (its socket), lives in red
            "mtu": 1400, "master": None, "up": True, "alias": MARK, "parent_netns": ""},
            data=[(1, "u32", 42), (15, "be16", 4789), (3, "ifindex", "u0"), (2, "ip", "10.9.9.9")])),
        ("ensure_link", dict(ns="", name="vx1", kind="vxlan", link={      # no underlay: made where it lives
            "mtu": None, "master": None, "up": True, "alias": MARK},
            data=[(1, "u32", 43), (15, "be16", 4790), (2, "ip", "10.9.9.8")])),
        ("ensure_link", dict(ns="", name="vx2", kind="vxlan", link={      # ENODEV: no such underlay
            "mtu": None, "master": None, "up": True, "alias": MARK, "parent_netns": ""},
            data=[(1, "u32", 44), (15, "be16", 4789), (3, "ifindex", "nosuch"), (2, "ip", "10.9.9.7")])),
        ("remove_link", dict(ns="", name="u0")),                          # the vxlan in red goes with it
        ("remove_netns", dict(ns="", name="red")),
    ],
    "a link another tool made, moved into a netns under a new name, and back as it was": [
        ("ensure_netns", dict(ns="", name="red")),
        veth("", "f0", "f1", ""),
        addr("", "f0", "10.7.0.1/24"),
        ("move_link", dict(ns="", name="f0", to_netns="red", new_name="eth5",      # its address stays behind
                           link={"mtu": 1400, "up": True, "alias": MARK})),
        ("move_link", dict(ns="", name="f0", to_netns="red", new_name="eth5",      # there already: settings only
                           link={"mtu": 1400, "up": True, "alias": MARK})),
        ("move_link", dict(ns="", name="f1", to_netns="red", new_name="eth5",      # EEXIST: the name is taken there
                           link={"mtu": None, "up": True, "alias": MARK})),
        ("move_link", dict(ns="red", name="eth5", to_netns="", new_name="f0",
                           link={"mtu": 1500, "up": False, "alias": ""})),
        ("move_link", dict(ns="", name="nosuch", to_netns="red", new_name="x",     # ENODEV
                           link={"mtu": None, "up": True, "alias": MARK})),
        ("remove_link", dict(ns="", name="f0")),
        ("remove_netns", dict(ns="", name="red")),
    ],
    "a file written whole, written again, and removed (twice)": [
        ("write_file", dict(ns="", name=HOSTS, content="# nsprov:contract\n10.0.0.1 a\n")),
        ("write_file", dict(ns="", name=HOSTS, content="# nsprov:contract\n10.0.0.2 b\n")),
        ("remove_file", dict(ns="", name=HOSTS)),
        ("remove_file", dict(ns="", name=HOSTS)),                           # gone already: fine
    ],
    "a bridge, a netns on it, addresses and routes, then all of it removed": [
        ("ensure_netns", dict(ns="", name="red")),
        ("ensure_bridge", dict(ns="", name="br0", mtu=None, stp=False, up=True, alias=MARK)),
        ("set_bridge", dict(ns="", name="br0", stp=True)),
        ("set_bridge", dict(ns="", name="br0", stp=False)),
        veth("", "v0", "eth0", "red", master="br0"),
        ("set_link", dict(ns="red", name="eth0", mtu=1400)),
        addr("", "br0", "10.2.0.1/24"), addr("red", "eth0", "10.2.0.2/24"),
        route("red", "default", via="10.2.0.1"),
        route("red", "default", via="10.2.0.1"),                       # EEXIST
        route("red", "default", via="10.2.0.1", replace=True, metric=5),
        route("red", "10.8.0.0/24", dev="eth0"),
        ("set_link", dict(ns="red", name="eth0", up=False)),           # its routes go
        ("set_link", dict(ns="red", name="eth0", up=True)),
        ("set_link", dict(ns="", name="v0", master=None)),
        ("remove_link", dict(ns="", name="v0")),                       # the pair goes
        ("remove_link", dict(ns="", name="v0")),                       # already gone: fine
        addr("", "br0", "10.2.0.1/24", add=False), addr("", "br0", "10.2.0.1/24", add=False),
        ("remove_netns", dict(ns="", name="red")), ("remove_netns", dict(ns="", name="red")),
    ],
    "links deleted together, in one batch; a link not named stays": [
        ("ensure_netns", dict(ns="", name="ba")), ("ensure_netns", dict(ns="", name="bb")),
        veth("", "va", "eth0", "ba"), veth("", "vb", "eth0", "bb"), veth("", "vk", "vk1", ""),
        ("remove_links", dict(ns="", names=["va", "vb", "ghost0"])),   # both pairs go; ghost0 was never there
        ("remove_links", dict(ns="", names=["va"])),                   # already gone: fine
        ("remove_netns", dict(ns="", name="ba")), ("remove_netns", dict(ns="", name="bb")),
        ("remove_link", dict(ns="", name="vk")),
    ],
    "what the kernel refuses": [
        ("ensure_netns", dict(ns="", name="red")),
        ("ensure_netns", dict(ns="", name="red")),                      # EEXIST
        veth("", "v0", "eth0", "ghost"),                                # no such netns
        veth("", "v0", "eth0", "red", master="nobr"),                   # no such master
        veth("", "v1", "eth0", "red"),
        veth("", "v2", "eth0", "red"),                                  # the peer's name is taken
        ("ensure_bridge", dict(ns="", name="v1", mtu=None, stp=False, up=True, alias=MARK)),   # a veth has it
        ("set_link", dict(ns="", name="ghost0", up=True)),
        addr("", "ghost0", "10.3.0.1/24"),
        route("", "10.4.0.0/24", via="10.99.99.1"),                     # no such gateway
        route("", "10.4.0.0/24", remove=True),                          # absent: fine
        route("", "10.5.0.0/24", dev="ghost0", remove=True),            # its device is gone: so is it
        ("remove_netns", dict(ns="", name="red")),                      # v1 goes with eth0
    ],
    "sysctls per namespace": [
        ("ensure_netns", dict(ns="", name="sx")),
        ("set_sysctl", dict(ns="sx", name="net.ipv4.ip_forward", value="1")),
        ("set_sysctl", dict(ns="sx", name="net.ipv4.conf.all.rp_filter", value="2")),
        ("set_sysctl", dict(ns="sx", name="net.ipv4.no_such_thing", value="1")),
        ("set_sysctl", dict(ns="ghost", name="net.ipv4.ip_forward", value="1")),
    ],
    "firewall rules in a table of our own": [
        ("ensure_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"masquerade a": MASQ})),
        ("ensure_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"dnat b": DNAT})),
        ("ensure_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"masquerade6 c": MASQ6, "dnat6 d": DNAT6})),
        ("remove_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"dnat6 d": DNAT6})),
        ("remove_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"masquerade a": MASQ})),
        ("remove_rules", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"masquerade a": MASQ})),
        ("remove_table", dict(ns="", name="nsprov_c", table="nsprov_c", rules={"dnat b": DNAT})),   # with its rule
        ("remove_table", dict(ns="", name="nsprov_c", table="nsprov_c")),
    ],
    "a filter table of our own, replaced whole, going with its netns": [
        ("set_firewall", dict(ns="", name="nsprov_c", table={"chains": FILTER})),
        ("set_firewall", dict(ns="", name="nsprov_c", table={"chains": {**FILTER, "input": {
            "policy": "accept", "rules": []}}})),
        ("remove_firewall", dict(ns="", name="nsprov_c")),
        ("remove_firewall", dict(ns="", name="nsprov_c")),                 # gone already: fine
        ("ensure_netns", dict(ns="", name="fw")),
        ("set_firewall", dict(ns="fw", name="nsprov_c", table={"chains": FILTER})),
        ("set_firewall", dict(ns="ghost", name="nsprov_c", table={"chains": FILTER})),   # no such netns
        ("remove_netns", dict(ns="", name="fw")),                            # the table goes with it
    ],
    "a link's root qdisc (a token bucket: this kernel may lack netem), replaced, removed, going with its link": [
        veth("", "q0", "q1", ""),
        ("set_qdisc", dict(ns="", name="q0", qdisc={"kind": "tbf", "rate": 10 ** 7})),
        ("set_qdisc", dict(ns="", name="q0", qdisc={"kind": "tbf", "rate": 512 * 10 ** 3})),
        ("remove_qdisc", dict(ns="", name="q0")),
        ("remove_qdisc", dict(ns="", name="q0")),                              # the default already: fine
        ("set_qdisc", dict(ns="", name="ghost0", qdisc={"kind": "tbf", "rate": 10 ** 7})),   # ENODEV
        ("set_qdisc", dict(ns="", name="q1", qdisc={"kind": "tbf", "rate": 10 ** 6})),
        ("remove_link", dict(ns="", name="q0")),                               # its qdisc goes with it
    ],
    "a namespace set and a process": [
        ("ensure_nsset", dict(ns="", name="box", spec={"kinds": ["uts", "ipc"], "hostname": "box", "domainname": None,
                                                      "uid_map": None, "gid_map": None, "mounts": []})),
        ("set_hostname", dict(ns="", name="box", hostname="bird", domainname="", kinds=["uts", "ipc"])),
        ("replace_nsset", dict(ns="", name="box", spec={"kinds": ["uts", "ipc", "net"], "hostname": "box2",
                                                       "domainname": None, "uid_map": None, "gid_map": None,
                                                       "mounts": []})),
        ("ensure_netns", dict(ns="", name="pn")),
        ("ensure_process", dict(ns="", name="sleeper", command={"argv": ["nsenter", "--net=/run/netns/pn", "--",
                                                                         "sleep", "60"], "env": {}, "cwd": "/"},
                                target={"namespace": "", "netns": "pn"}, lab="contract")),
        ("remove_process", dict(ns="", name="sleeper")),
        ("remove_process", dict(ns="", name="sleeper")),
        ("remove_nsset", dict(ns="", name="box")),
        ("remove_nsset", dict(ns="", name="box")),
    ],
}
TABLES = [("", "nsprov_c")]
# the kinds' own attributes a step asked for: compared (the kernel reports more than it was given)
ASKED = {(args["kind"], t) for steps in SCENARIOS.values() for p, args in steps if p == "ensure_link"
         for t, f, _ in args["data"] if f != "ifindex"}      # an ifindex differs between kernels
SETS, PROCS = ["box"], ["sleeper"]
def snapshot(kernel, sysctls: tuple = ()) -> dict:
    """What the kernel holds, as both kernels can say it (no ifindex, no IPv6 link-local; a
    link's parent by name where it is in the same netns: the kernel leaves out a parent in
    another netns whose ifindex is the link's own)."""
    obs = observed(kernel)
    out: dict = {"netns": sorted(obs.netns)}
    for ns in ["", *sorted(obs.netns)]:
        n = obs.ns(ns)
        out[f"links {ns}"] = {name: (x.kind, x.up, x.mtu, x.master, x.alias, x.stp, sorted(x.altnames),
                                     x.mac if (x.mac or "").startswith("02:00:00:00:ab") else None,   # made here
                                     sorted(a for a in x.addresses if not a.startswith("fe80")),
                                     x.parent if isinstance(x.parent, str) else None,   # elsewhere: an ifindex
                                     {t: v for t, v in (x.info or {}).items() if (x.kind, t) in ASKED})
                              for name, x in n.links.items()}
        out[f"routes {ns}"] = {dst: (r.via, r.dev, r.proto) for dst, r in n.routes.items() if ":" not in dst}
    for ns, key in sysctls:   # only those a step set: a new netns starts with the machine's values
        out[f"sysctl {ns} {key}"] = obs.sysctl(ns, key) if obs.exists(ns) else None
    for ns, table in TABLES:
        rules = obs.rules(ns, table)
        out[f"rules {ns} {table}"] = None if rules is None else sorted(rules)
    for name in SETS:
        s = obs.nsset(name)
        out[f"set {name}"] = None if s is None else (sorted(s["kinds"]), s["hostname"], s["alive"])
    out[f"file {HOSTS}"] = obs.file(HOSTS)
    for link in ("q0", "q1"):
        out[f"qdisc {link}"] = obs.read("qdisc", "", link)
    for ns in ("", "fw"):
        fw = obs.read("firewall", ns, "nsprov_c") if obs.exists(ns) else None
        out[f"firewall {ns}"] = None if fw is None else fw["chains"]
    for name in PROCS:
        p = obs.process(name)
        out[f"process {name}"] = None if p is None else p["alive"]
    return out


ASYNC = ("remove_netns", "remove_nsset")   # the real kernel frees a namespace's veth peers later, on its own


def play(kernel, steps: list, expected: list = ()) -> list:
    """[(primitive, name, errno or None, snapshot)] after each step. After a step the real
    kernel finishes asynchronously, the snapshot is taken once it matches EXPECTED (the fake's),
    or after 5 s: equal in the end is the contract there."""
    import time
    out, sysctls = [], []
    for i, (primitive, args) in enumerate(steps):
        try:
            getattr(kernel, primitive)(**args)
            err = None
            if primitive == "set_sysctl":
                sysctls.append((args["ns"], args["name"]))
        except OSError as exc:
            err = exc.errno
        state = snapshot(kernel, tuple(sysctls))
        deadline = time.monotonic() + 5
        while primitive in ASYNC and expected and state != expected[i][3] and time.monotonic() < deadline:
            time.sleep(0.02)
            state = snapshot(kernel, tuple(sysctls))
        out.append((primitive, args.get("name"), err, state))
    return out


def _throwaway_child(steps: list, expected: list) -> list:
    """In the forked child: a new network and mount namespace, private /run and /var/lib."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.unshare(CLONE_NEWNS | CLONE_NEWNET) == 0, os.strerror(ctypes.get_errno())
    assert libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0
    for target in (b"/run", b"/var/lib"):
        assert libc.mount(b"tmpfs", target, b"tmpfs", 0, None) == 0, os.strerror(ctypes.get_errno())
    from nsprov.agent.kernel import Kernel, rtwrite
    kernel = Kernel("nftables")
    rtwrite.request(kernel.sockets.raw(""), rtwrite.set_link("lo", up=True))
    try:
        return play(kernel, steps, expected)
    finally:
        kernel.close()


def on_the_real_kernel(steps: list, expected: list) -> list:
    if os.geteuid() != 0:
        pytest.fail("the kernel contract needs root (CI runs as root)")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            data = pickle.dumps(("ok", _throwaway_child(steps, expected)))
        except BaseException:
            data = pickle.dumps(("error", traceback.format_exc()))
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    status, result = pickle.loads(b"".join(chunks))
    assert status == "ok", result
    return result


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_fake_kernel_holds_what_the_real_one_holds_step_by_step(scenario):
    steps = SCENARIOS[scenario]
    fake = play(FakeKernel(), steps)
    real = on_the_real_kernel(steps, fake)
    for (primitive, name, real_err, real_state), (_, _, fake_err, fake_state) in zip(real, fake):
        assert fake_err == real_err, f"{primitive} {name}: the real kernel gave errno {real_err}, the fake {fake_err}"
        assert fake_state == real_state, f"after {primitive} {name}"


def test_the_contract_covers_every_primitive():
    from nsprov.agent.kernel import PRIMITIVES
    used = {primitive for steps in SCENARIOS.values() for primitive, _ in steps}
    assert set(PRIMITIVES) - used == {"run_command", "run_checks"}   # they report, and change nothing kept
    for name in PRIMITIVES:
        assert callable(getattr(FakeKernel, name, None)), f"the fake kernel has no {name}"
