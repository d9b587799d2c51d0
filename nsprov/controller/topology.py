"""The topology a playbook declares, per host, as plain data: what `nsprov graph` draws.

Built from the resolved host plans (templates, loops, --limit and --tags applied, every
parameter validated), so the picture is of exactly what `nsprov run` would build, before
anything is deployed. Nodes are the host's own namespace, each network namespace or namespace
set, and each bridge; edges are veth pairs (and, dashed, a bridge's place in its namespace).
What lives in a namespace (addresses, routes, NAT, port forwards, sysctls, processes) is listed
on its node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOST = "host"


@dataclass
class Node:
    id: str
    kind: str                      # host | netns | set | bridge
    title: str
    lines: list = field(default_factory=list)


@dataclass
class Edge:
    a: str
    b: str
    label: str
    kind: str = "veth"             # veth | in (a bridge inside a namespace)


@dataclass
class HostTopology:
    host: str
    nodes: dict = field(default_factory=dict)   # id -> Node, in declaration order
    edges: list = field(default_factory=list)

    def ns_node(self, ns: str) -> str:
        """The node of namespace NS ("" = the host's own), made if the playbook has not yet."""
        if not ns:
            if HOST not in self.nodes:
                self.nodes[HOST] = Node(HOST, "host", f"{self.host} (host namespaces)")
            return HOST
        key = f"ns:{ns}"
        if key not in self.nodes:
            self.nodes[key] = Node(key, "netns", f"netns {ns}")
        return key

    def bridge_node(self, ns: str, name: str) -> str:
        key = f"br:{ns}:{name}"
        if key not in self.nodes:
            self.nodes[key] = Node(key, "bridge", f"bridge {name}")
            if ns:
                self.edges.append(Edge(self.ns_node(ns), key, f"in {ns}", "in"))
        return key

    def line(self, ns: str, text: str) -> None:
        self.nodes[self.ns_node(ns)].lines.append(text)


def _addrs(addresses: list) -> str:
    return " ".join(addresses)


def host_topology(host: str, tasks: list) -> HostTopology:
    """The topology of one host's resolved tasks (request task dicts)."""
    t = HostTopology(host)
    t.ns_node("")
    for task in tasks:
        p = task.get("params")
        if p is None or p.get("state", "present") != "present":
            continue   # skipped by `when`, or something the play removes
        module = task["module"]
        if module == "netns":
            t.ns_node(p["name"])
        elif module == "namespace":
            key = t.ns_node(p["name"]) if "net" in p["kinds"] else f"ns:{p['name']}"
            node = t.nodes.setdefault(key, Node(key, "set", ""))
            node.kind, node.title = "set", f"namespace set {p['name']}"
            node.lines.append("kinds: " + " ".join(p["kinds"]))
            if p.get("hostname"):
                node.lines.append(f"hostname: {p['hostname']}")
            if p.get("uid_map"):
                node.lines.append("uid map: " + ", ".join(f"{m['inside']}->{m['outside']} ({m['count']})"
                                                         for m in p["uid_map"]))
            for m in p["mounts"]:
                node.lines.append(f"mount {m['type']} {m['target']}")
        elif module == "bridge":
            key = t.bridge_node(p["netns"], p["name"])
            if p["addresses"]:
                t.nodes[key].lines.append(_addrs(p["addresses"]))
        elif module == "veth":
            a = t.bridge_node(p["netns"], p["bridge"]) if p.get("bridge") else t.ns_node(p["netns"])
            b = t.bridge_node(p["peer_netns"], p["peer_bridge"]) if p.get("peer_bridge") else t.ns_node(p["peer_netns"])
            if p["addresses"]:
                t.line(p["netns"], f"{p['name']} {_addrs(p['addresses'])}")
            if p["peer_addresses"]:
                t.line(p["peer_netns"], f"{p['peer']} {_addrs(p['peer_addresses'])}")
            t.edges.append(Edge(a, b, f"{p['name']} - {p['peer']}"))
        elif module == "address":
            t.line(p["netns"], f"{p['interface']} {p['address']}")
        elif module == "route":
            via = f" via {p['via']}" if p.get("via") else ""
            dev = f" dev {p['dev']}" if p.get("dev") else ""
            t.line(p["netns"], f"route {p['to']}{via}{dev}")
        elif module == "sysctl":
            t.line(p["netns"], f"{p['name']} = {p['value']}")
        elif module == "nat":
            t.line(p["netns"], f"masquerade {p['source']} out {p['out_interface']}")
        elif module == "port_forward":
            into = f" in {p['in_interface']}" if p.get("in_interface") else ""
            t.line(p["netns"], f"{p['protocol']} :{p['port']}{into} -> {p['to']}")
        elif module == "process":
            where = p.get("namespace") or p.get("netns") or ""
            command = " ".join(p["command"] or [])
            t.line(where, f"process {p['name']}: {command[:40]}{'...' if len(command) > 40 else ''}")
    return t


def topology(plans: dict) -> list:
    """HostTopology per host of {host: HostPlan}, in inventory order."""
    return [host_topology(host, plan.tasks) for host, plan in plans.items()]
