"""The agent's own rtnetlink messages, checked against pyroute2 (a well-kept implementation):
every request rtwrite builds is decoded with pyroute2's parsers, and on a real kernel (a
throwaway netns) rtdump reads the same links, addresses and routes that pyroute2 reads."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from nsprov.agent.kernel import netns, rtdump, rtwrite


def decode(cls, data: bytes):
    msg = cls(data)
    msg.decode()
    return msg


def test_veth_request_decodes_as_pyroute2_reads_it():
    m = decode(ifinfmsg, rtwrite.new_veth("br0-red", "eth0", 7, 9000, 12, True))
    assert m["header"]["type"] == rtwrite.RTM_NEWLINK
    assert m["header"]["flags"] & (rtwrite.NLM_F_CREATE | rtwrite.NLM_F_EXCL | rtwrite.NLM_F_ACK)
    assert (m["flags"], m["change"]) == (1, 1)
    assert m.get_attr("IFLA_IFNAME") == "br0-red" and m.get_attr("IFLA_MTU") == 9000
    assert m.get_attr("IFLA_MASTER") == 12
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0" and peer.get_attr("IFLA_NET_NS_FD") == 7
    assert peer["flags"] == 0     # the peer comes up afterwards: the kernel refuses it earlier


def test_bridge_setlink_and_dellink_decode():
    m = decode(ifinfmsg, rtwrite.new_bridge("br0", None, True, True))
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "bridge"
    assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_BR_STP_STATE") == 1
    s = decode(ifinfmsg, rtwrite.set_link("v0", up=False, mtu=1400, master_index=0, alias="nsprov:net"))
    assert s["header"]["type"] == rtwrite.RTM_SETLINK and (s["flags"], s["change"]) == (0, 1)
    assert s.get_attr("IFLA_IFALIAS") == "nsprov:net" and s.get_attr("IFLA_MASTER") == 0
    assert s.get_attr("IFLA_MTU") == 1400
    d = decode(ifinfmsg, rtwrite.del_link("v0"))
    assert d["header"]["type"] == rtwrite.RTM_DELLINK and d.get_attr("IFLA_IFNAME") == "v0"


def test_a_link_of_any_kind_decodes_with_its_own_attributes():
    from nsprov.agent.kernel.objects import pack_data
    m = decode(ifinfmsg, rtwrite.new_link("mv0", "macvlan", pack_data([(1, "u32", 4)]), 1400, 9, 7))
    assert m["header"]["type"] == rtwrite.RTM_NEWLINK
    assert m["header"]["flags"] & (rtwrite.NLM_F_CREATE | rtwrite.NLM_F_EXCL)
    assert m.get_attr("IFLA_IFNAME") == "mv0" and m.get_attr("IFLA_MTU") == 1400
    assert m.get_attr("IFLA_LINK") == 9 and m.get_attr("IFLA_NET_NS_FD") == 7
    info = m.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "macvlan"
    assert info.get_attr("IFLA_INFO_DATA").get_attr("IFLA_MACVLAN_MODE") == "bridge"    # 4
    c = decode(ifinfmsg, rtwrite.change_link("mv0", "macvlan", pack_data([(1, "u32", 1)])))
    assert c["header"]["type"] == rtwrite.RTM_NEWLINK and not c["header"]["flags"] & rtwrite.NLM_F_CREATE
    assert c.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("IFLA_MACVLAN_MODE") == "private"
    # a kind pyroute2 knows the attributes of, in every format pack_data writes
    v = decode(ifinfmsg, rtwrite.new_link("vx0", "vxlan", pack_data(
        [(1, "u32", 42), (4, "ip", "10.0.0.1"), (15, "be16", 4789), (7, "u8", 0)]), None, None, None))
    data = v.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_VXLAN_ID") == 42 and data.get_attr("IFLA_VXLAN_LOCAL") == "10.0.0.1"
    assert data.get_attr("IFLA_VXLAN_PORT") == 4789 and data.get_attr("IFLA_VXLAN_LEARNING") == 0


@pytest.mark.parametrize("cidr,family", [("10.2.0.1/24", socket.AF_INET), ("2001:db8::1/64", socket.AF_INET6)])
def test_address_requests_decode(cidr, family):
    m = decode(ifaddrmsg, rtwrite.address(True, 5, cidr))
    ip, prefix = cidr.split("/")
    assert (m["family"], m["prefixlen"], m["index"]) == (family, int(prefix), 5)
    assert m.get_attr("IFA_LOCAL") == ip and m.get_attr("IFA_ADDRESS") == ip
    assert decode(ifaddrmsg, rtwrite.address(False, 5, cidr))["header"]["type"] == rtwrite.RTM_DELADDR


def test_route_requests_decode():
    m = decode(rtmsg, rtwrite.route("add", "default", "10.2.0.1", None, None))
    assert (m["family"], m["dst_len"], m["table"]) == (socket.AF_INET, 0, 254)
    assert m.get_attr("RTA_GATEWAY") == "10.2.0.1" and m.get_attr("RTA_DST") is None
    r = decode(rtmsg, rtwrite.route("replace", "10.88.0.0/24", None, 3, 50))
    assert r["header"]["flags"] & rtwrite.NLM_F_REPLACE
    assert (r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_OIF"), r.get_attr("RTA_PRIORITY")) == \
        ("10.88.0.0", 24, 3, 50)
    assert r["scope"] == rtwrite.RT_SCOPE_LINK


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


@pytest.mark.lab
def test_rtdump_reads_what_pyroute2_reads_on_the_real_kernel(scratch_netns):
    from pyroute2.iproute.linux import IPRoute
    ns = scratch_netns
    _ip(ns, "link", "set", "lo", "up")
    _ip(ns, "link", "add", "tbr0", "type", "bridge")
    _ip(ns, "link", "add", "tv0", "mtu", "1400", "master", "tbr0", "type", "veth", "peer", "name", "tv1")
    _ip(ns, "link", "set", "tv0", "alias", "nsprov:t")
    _ip(ns, "link", "set", "tv1", "up")
    _ip(ns, "addr", "add", "10.66.0.1/24", "dev", "tv1")
    _ip(ns, "addr", "add", "2001:db8:66::1/64", "dev", "tv1", "nodad")
    _ip(ns, "route", "add", "10.67.0.0/16", "via", "10.66.0.9", "metric", "5")
    _ip(ns, "route", "add", "default", "via", "10.66.0.1")
    with netns.entered(ns):
        sock = rtdump.open_socket()
        ipr = IPRoute()
    try:
        ours = {x["name"]: x for x in rtdump.links(sock)}
        theirs = {x.get("ifname"): x for x in ipr.get_links()}
        assert set(ours) == set(theirs)
        for name, link in theirs.items():
            o = ours[name]
            assert o["index"] == link["index"] and o["mtu"] == link.get("mtu")
            assert o["up"] == bool(link["flags"] & 1) and o["mac"] == link.get("address")
            assert o["kind"] == link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            assert o["master"] == link.get("master") and o["alias"] == link.get("ifalias")
            assert o["link"] == link.get("link"), name      # a veth's peer, bound by IFLA_LINK
        assert sorted(rtdump.addresses(sock)) == sorted(
            (a["index"], f"{a.get('address')}/{a['prefixlen']}") for a in ipr.get_addr())
        main_unicast = [r for r in ipr.get_routes(table=254) if r["type"] == 1]
        ours_routes = rtdump.routes(sock)
        assert len(ours_routes) == len(main_unicast)
        want = {(f"{r.get('dst')}/{r['dst_len']}" if r.get("dst") else ("default" if r["family"] == 2 else "::/0"),
                 r.get("gateway"), r.get("oif"), r.get("priority")) for r in main_unicast}
        assert {(r["dst"], r["via"], r["oif"], r["metric"]) for r in ours_routes} == want
        assert rtdump.link_index(sock, "tv0") == ours["tv0"]["index"]
        with pytest.raises(OSError):
            rtdump.link_index(sock, "nope0")
    finally:
        sock.close()
        ipr.close()


@pytest.mark.lab
def test_rtwrite_requests_change_the_real_kernel_as_ip_sees_it(scratch_netns):
    ns = scratch_netns
    peer_ns = scratch_netns + "p"
    subprocess.run(["ip", "netns", "add", peer_ns], check=True)
    try:
        with netns.entered(ns):
            sock = rtdump.open_socket()
        fd = os.open(f"/run/netns/{peer_ns}", os.O_RDONLY)
        rtwrite.request(sock, rtwrite.new_bridge("wbr0", None, False, True))
        rtwrite.request(sock, rtwrite.new_veth("wv0", "eth0", fd, None, rtdump.link_index(sock, "wbr0"), True))
        os.close(fd)
        rtwrite.request(sock, rtwrite.set_link("wv0", alias="nsprov:w"))
        rtwrite.request(sock, rtwrite.address(True, rtdump.link_index(sock, "wbr0"), "10.68.0.1/24"))
        rtwrite.request(sock, rtwrite.route("add", "10.69.0.0/24", "10.68.0.7", None, None))
        with pytest.raises(OSError) as err:
            rtwrite.request(sock, rtwrite.new_bridge("wbr0", None, False, True))
        assert err.value.errno == 17     # EEXIST, as data
        links = {x["ifname"]: x for x in json.loads(subprocess.run(
            ["ip", "-n", ns, "-j", "-d", "addr"], capture_output=True, text=True, check=True).stdout)}
        assert links["wv0"]["master"] == "wbr0" and links["wv0"].get("ifalias") == "nsprov:w"
        assert "UP" in links["wv0"]["flags"] and links["wbr0"]["addr_info"][0]["local"] == "10.68.0.1"
        peer = json.loads(subprocess.run(["ip", "-n", peer_ns, "-j", "link", "show", "eth0"], capture_output=True,
                                         text=True, check=True).stdout)[0]
        assert peer["link_type"] == "ether"
        routes = json.loads(subprocess.run(["ip", "-n", ns, "-j", "route"], capture_output=True, text=True,
                                           check=True).stdout)
        assert {"dst": "10.69.0.0/24", "gateway": "10.68.0.7"}.items() <= next(
            r for r in routes if r["dst"] == "10.69.0.0/24").items()
        rtwrite.request(sock, rtwrite.del_link("wv0"))
        assert "wv0" not in subprocess.run(["ip", "-n", ns, "link"], capture_output=True, text=True).stdout
        sock.close()
    finally:
        subprocess.run(["ip", "netns", "del", peer_ns])
