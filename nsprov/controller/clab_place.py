"""`--spread`: the nodes nothing places, spread over the selected hosts so that few links cross
hosts and each host gets as many nodes as the next (within one). The nodes are laid in order
(as the file lists them, and as a breadth-first walk of the links meets them) and cut into
equal runs; then swaps between hosts that cut fewer links are made while there are any; the
better of the two is kept."""

from __future__ import annotations

from collections import deque


def links_of(topo) -> list:
    """(node, node) of every link between two nodes of the topology."""
    out = []
    for link in topo.top.get("links") or []:
        if not isinstance(link, dict):
            continue
        ends = link.get("endpoints") or []
        names = [str(e.get("node", "")) if isinstance(e, dict) else str(e).partition(":")[0] for e in ends]
        if len(names) == 2 and all(n in topo.nodes for n in names):
            out.append((names[0], names[1]))
    return out


def _walk(nodes: list, edges: list) -> list:
    near = {n: set() for n in nodes}
    for a, b in edges:
        if a in near and b in near:
            near[a].add(b)
            near[b].add(a)
    order, seen = [], set()
    for start in sorted(nodes, key=lambda n: (len(near[n]), n)):
        if start in seen:
            continue
        todo = deque([start])
        seen.add(start)
        while todo:
            n = todo.popleft()
            order.append(n)
            for m in sorted(near[n] - seen):
                seen.add(m)
                todo.append(m)
    return order


def crossing(place: dict, edges: list) -> int:
    return sum(1 for a, b in edges if a in place and b in place and place[a] != place[b])


def spread(nodes: list, hosts: list, edges: list) -> dict:
    """{node: host} for NODES over HOSTS, few EDGES crossing, the hosts' shares equal within one:
    the better of two starts (the nodes as the file lists them, which is often how their author
    thinks of them, and a walk of the links), each improved by swaps."""
    near: dict = {n: [] for n in nodes}
    for a, b in edges:
        if a in near and b in near and a != b:
            near[a].append(b)
            near[b].append(a)
    tries = [_improve(_cut(order, hosts), order, near) for order in (list(nodes), _walk(nodes, edges))]
    return min(tries, key=lambda place: crossing(place, edges))


def _cut(order: list, hosts: list) -> dict:
    place, start = {}, 0
    for i, host in enumerate(hosts):
        size = len(order) // len(hosts) + (1 if i < len(order) % len(hosts) else 0)
        for n in order[start:start + size]:
            place[n] = host
        start += size
    return place


def _improve(place: dict, order: list, near: dict) -> dict:
    def cut_at(n: str) -> int:
        return sum(1 for m in near[n] if place[m] != place[n])
    improved = True
    while improved:
        improved = False
        for a in order:
            for b in order:
                if place[a] == place[b]:
                    continue
                before = cut_at(a) + cut_at(b)
                place[a], place[b] = place[b], place[a]
                if cut_at(a) + cut_at(b) < before:     # an a-b link counts the same either way
                    improved = True
                else:
                    place[a], place[b] = place[b], place[a]
    return place
