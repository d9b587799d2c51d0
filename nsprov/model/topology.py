"""The topology one host's tasks declare, as plain data: what `nsprov graph` draws.

Nodes are the host's own namespace, each network namespace or namespace set, and each bridge;
edges are links between them (veth pairs and, dashed, a bridge's place in its namespace). What
lives in a namespace (addresses, routes, NAT, port forwards, sysctls, processes) is listed on
its node. Each module kind adds its part (`Kind.draw`).
"""

from __future__ import annotations

HOST = "host"


class Node:
    __slots__ = ("id", "kind", "title", "lines")

    def __init__(self, id: str, kind: str, title: str, lines: list = None):
        self.id, self.kind, self.title = id, kind, title     # kind: host | netns | set | bridge
        self.lines = lines if lines is not None else []


class Edge:
    __slots__ = ("a", "b", "label", "kind")

    def __init__(self, a: str, b: str, label: str, kind: str = "veth"):
        self.a, self.b, self.label, self.kind = a, b, label, kind   # kind: veth | in (a bridge in a netns)


class HostTopology:
    def __init__(self, host: str):
        self.host = host
        self.nodes: dict = {}     # id -> Node, in declaration order
        self.edges: list = []
        self.tunnels: list = []   # (node id, tunnel id, label): ends that meet another host's ends

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

    def set_node(self, name: str, has_net: bool) -> Node:
        """The node of namespace set NAME (the same node as its netns when it has one)."""
        key = self.ns_node(name) if has_net else f"ns:{name}"
        node = self.nodes.setdefault(key, Node(key, "set", ""))
        node.kind, node.title = "set", f"namespace set {name}"
        return node

    def bridge_node(self, ns: str, name: str) -> str:
        key = f"br:{ns}:{name}"
        if key not in self.nodes:
            self.nodes[key] = Node(key, "bridge", f"bridge {name}")
            if ns:
                self.edges.append(Edge(self.ns_node(ns), key, f"in {ns}", "in"))
        return key

    def end_node(self, ns: str, bridge: str) -> str:
        """Where a link's end is drawn: its bridge if it has one, else its namespace."""
        return self.bridge_node(ns, bridge) if bridge else self.ns_node(ns)

    def line(self, ns: str, text: str) -> None:
        self.nodes[self.ns_node(ns)].lines.append(text)

    def edge(self, a: str, b: str, label: str) -> None:
        self.edges.append(Edge(a, b, label))

    def tunnel(self, ns: str, key, label: str, bridge: str = "") -> None:
        """A tunnel's end in NS (a vxlan and its id), on BRIDGE if it is a port of one: drawn to
        the other hosts' ends of KEY."""
        self.tunnels.append((self.end_node(ns, bridge), key, label))


def across(topologies: list) -> list:
    """((host, node id), (host, node id), label) for each pair of tunnel ends with one key on
    two hosts: the links between the hosts' clusters."""
    ends: dict = {}
    for t in topologies:
        for node, key, label in t.tunnels:
            ends.setdefault(key, []).append((t.host, node, label))
    out = []
    for found in ends.values():
        for (h1, n1, label), (h2, n2, _) in zip(found, found[1:]):
            if h1 != h2:
                out.append(((h1, n1), (h2, n2), label))
    return out
