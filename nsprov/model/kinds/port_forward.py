"""port_forward: DNAT a port of the host to an address:port in a namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, Param, RULE_OVERLAP, STATE, in_ns


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        into = f" in {p['in_interface']}" if p["in_interface"] else ""
        topo.line(p["netns"], f"{p['protocol']} :{p['port']}{into} -> {p['to']}")


class PortForward(Kind):
    name = "port_forward"
    summary = "DNAT host port -> namespace address:port (with hairpin)"
    doc = ("Forwards a port to ADDRESS:PORT: for packets arriving from outside (prerouting) and for "
           "connections made on the host itself (output). When the target is on one of the namespace's own "
           "subnets, clients on that subnet are masqueraded too (hairpin), so replies come back the same way.")
    absent = "Deletes the forward's rules."
    example = 'port_forward: {protocol: tcp, port: 8080, to: "10.2.0.2:80"}'
    params = {
        "protocol": Param(t.PROTOCOL, "tcp or udp", default="tcp"),
        "port": Param(t.PORT, "the port packets arrive at", required=True),
        "to": Param(t.IP_PORT, "where they go: ADDRESS:PORT", required=True),
        "netns": NETNS,
        "in_interface": Param(t.IFNAME, "only packets arriving on this interface", example="uplink0"),
        "allow_management_overlap": RULE_OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"port_forward {in_ns(p['netns'])}{p['protocol']}/{p['port']} -> {p['to']}"

    def declares(self, p):
        return Declares(netns_used=(("netns", p["netns"]),) if p["netns"] else ())

    draw = staticmethod(_draw)


KIND = PortForward()
