"""containerlab topology files, as they are, compiled into a playbook: a play for the nodes and
links, then the nodes' `exec` lines and `cmd`s (once every host's links are up; in steps when
nodes wait for others), then, for `verify`, a ping matrix between nodes that share a subnet.
Each play runs on every host with work in it, each task bound to its host (Task.host).

A topology is a file named *.clab.yml / *.clab.yaml, or any YAML file with a top-level
`topology:` key. Its `name` is the lab. Environment variables are expanded as containerlab
expands them (`${VAR}`, `${VAR:=default}`, `${VAR:-default}`) before the YAML is read.
A node's settings come from the node, then its group, then its kind, then `defaults` (mappings
such as env and labels are merged in that order). Nodes are placed on hosts by `--place
PATTERN=HOST`, the label `nsprov.host`, or, when one host is selected, all on it; links between
nodes on different hosts become VXLAN pairs (clab_links.py).
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Optional

from nsprov.controller.clab_nodes import STAGES, _hooks, node_tasks, start_tasks
from nsprov.controller.playbook import Play, Playbook, Task, boolean_or_none
from nsprov.controller.yamlsrc import InputError, MarkedDict, Problem, load_yaml, read_input
from nsprov.model import types as t

NODE_KINDS = ("linux", "bridge", "host", "frr")
HONOURED = ("kind", "group", "exec", "cmd", "env", "labels", "network-mode", "wait-for", "stages", "startup-delay",
            "image", "binds", "startup-config", "extras")
# what containerlab does with Docker that nsprov has no use for: one warning names them
IGNORED = ("mgmt-ipv4", "mgmt-ipv6", "mgmt_ipv4", "mgmt_ipv6", "ports", "dns", "healthcheck",
           "restart-policy", "cpu", "cpu-set", "memory", "shm-size", "user", "entrypoint", "sysctls")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^}]*))?\}")
_TOP = ("name", "prefix", "topology", "mgmt", "settings")


def looks_like_topology(path: str) -> bool:
    """*.clab.yml / *.clab.yaml, or a file with a top-level `topology:` key."""
    if path.endswith((".clab.yml", ".clab.yaml")):
        return True
    try:
        text = read_input(Path(path))
    except InputError:
        return False
    return re.search(r"^topology:", text, re.MULTILINE) is not None


def expand_env(text: str, env=os.environ) -> str:
    """${VAR}, ${VAR:=default}, ${VAR:-default}, as containerlab expands them (unset: empty)."""
    def one(m: re.Match) -> str:
        value = env.get(m.group(1))
        if m.group(2) and (value is None or (m.group(2).startswith(":") and value == "")):
            return m.group(3)
        return value or ""
    return _ENV.sub(one, text)


class Node:
    """One topology node, its settings inherited, its place and its namespace's name."""

    def __init__(self, name: str, spec: dict, line: int):
        self.name, self.spec, self.line = name, spec, line
        self.kind = spec.get("kind") or "linux"
        self.host: Optional[str] = None
        self.ns = ""                     # its netns ("" the host's own)
        self.cname = name                # its name as containerlab names its container
        self.set_kinds: Optional[list] = None
        self.role: Optional[str] = None  # what its image is as host software (clab_nodes.py)
        self.mounts: list = []
        self.daemons: list = []          # the frr role's [(daemon, argv)]

    @property
    def mode(self) -> str:
        """Its network-mode: "" (its own), "host", or "container:X"."""
        return str(self.spec.get("network-mode") or "")

    @property
    def target(self) -> dict:
        """Where its commands run: {namespace: SET} or {netns: NS}."""
        return {"namespace": self.ns} if self.set_kinds else {"netns": self.ns}


def container_name(lab: str, prefix: Optional[str], node: str) -> str:
    """The node's namespace as containerlab names its container: clab-LAB-NODE, PREFIX-LAB-NODE,
    NODE with an empty prefix, LAB-NODE with `__lab-name`."""
    if prefix is None:
        return f"clab-{lab}-{node}"
    if prefix == "":
        return node
    if prefix == "__lab-name":
        return f"{lab}-{node}"
    return f"{prefix}-{lab}-{node}"


def inherit(node: dict, group: dict, kind: dict, defaults: dict) -> dict:
    """A node's settings: the node's, else its group's, its kind's, the defaults'; mappings merged."""
    layers = [defaults, kind, group, node]
    out: dict = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            elif value is not None:
                out[key] = value
    return out


class Topology:
    """A topology file read and checked; PROBLEMS name file, line and field."""

    def __init__(self, path: str, text: Optional[str] = None, kind_as: Optional[dict] = None):
        self.path, self.problems, self.warnings, self.underlays = path, [], [], {}
        self.unmapped: dict = {}            # image -> the nodes whose image has no role
        self.kind_as, self.mgmt_used, self.vnis = kind_as or {}, False, set()   # VNIS: ids its links took
        self.crossings: list = []           # (label, host, host) of each link across hosts
        data = load_yaml(Path(path), text=expand_env(text if text is not None else read_input(Path(path))))
        if not isinstance(data, dict) or not isinstance(data.get("topology"), dict):
            raise InputError([Problem(path, 1, "topology", "a topology file has a `topology:` mapping")])
        self.data, self.top = data, data["topology"]
        try:
            self.lab = t.lab_name(data.get("name"))
        except ValueError as exc:
            self.problem(data, "name", f"is required, the lab's name ({exc})")
            self.lab = Path(path).name.split(".")[0]
        self.prefix = data.get("prefix")
        for key in data:
            if key not in _TOP:
                self.problem(data, key, f"unknown top-level key; a topology has {', '.join(_TOP)}")
        from nsprov.controller.clab_schema import check
        if check(path, self.top):       # a file of the wrong shape: nothing further can be read from it
            raise InputError(self.problems + check(path, self.top))
        if data.get("mgmt"):
            self.warnings.append(f"{path}: mgmt is containerlab's management network (Docker's): nsprov ignores it")
        self.nodes = self._nodes()

    def problem(self, where, key, message: str, field: Optional[str] = None) -> None:
        line = where.line_of(key) if isinstance(where, (MarkedDict,)) else 1
        self.problems.append(Problem(self.path, line, field or str(key), message))

    def _nodes(self) -> dict:
        raw = self.top.get("nodes") or {}
        if not isinstance(raw, dict) or not raw:
            self.problem(self.top, "nodes", "is required: a mapping of node names to their settings", "topology.nodes")
            return {}
        kinds, groups, defaults = (self.top.get(k) or {} for k in ("kinds", "groups", "defaults"))
        out = {}
        for name, spec in raw.items():
            spec = spec or {}
            field = f"topology.nodes.{name}"
            if not isinstance(spec, dict):
                self.problem(raw, name, "a node is a mapping of its settings", field)
                continue
            group = groups.get(spec.get("group")) if spec.get("group") else None
            if spec.get("group") and group is None:
                self.problem(spec, "group", f"no group {spec['group']!r} under topology.groups", f"{field}.group")
            kind_name = spec.get("kind") or (group or {}).get("kind") or defaults.get("kind")
            node = Node(str(name), inherit(spec, group or {}, kinds.get(kind_name) or {}, defaults), raw.line_of(name))
            if self.kind_as.get(node.kind) == "linux":
                node.kind = "linux"
            if node.kind not in NODE_KINDS:
                self.problem(spec, "kind" if "kind" in spec else name, f"kind {node.kind!r} is not one nsprov runs "
                             f"(it runs {', '.join(NODE_KINDS)}; --kind-as {node.kind}=linux runs it as linux, with "
                             f"the host's software)", f"{field}.kind")
            out[node.name] = node
        self._warn_keys(out)
        return out

    def _warn_keys(self, nodes: dict) -> None:
        """One warning for the Docker settings nsprov ignores, one for the other keys it does not
        implement, each naming the nodes that use them."""
        for keys, what in ((IGNORED, "nsprov ignores (they are Docker's)"), (None, "nsprov does not implement")):
            used: dict = {}
            for node in nodes.values():
                for key in node.spec:
                    if (key in keys) if keys else (key not in HONOURED and key not in IGNORED):
                        used.setdefault(key, []).append(node.name)
            if used:
                self.warnings.append(f"{self.path}: {what}: " + "; ".join(
                    f"{key} ({', '.join(names)})" for key, names in sorted(used.items())))

    def place(self, hosts: list, place: tuple, spread: bool = False) -> None:
        """Each node's host: --place PATTERN=HOST (first match), its label nsprov.host, the one
        host selected, or SPREAD (clab_place.py) for the rest; a node sharing another's netns
        (network-mode container:X) goes with X. A label may name a host of the inventory (the
        underlays) that --limit leaves out: that node is not this run's."""
        rules = []
        for item in place:
            pattern, _, host = item.partition("=")
            if not host or host not in hosts:
                self.problems.append(Problem("--place", 0, item, f"expected PATTERN=HOST with HOST one of "
                                                                 f"{', '.join(hosts)}"))
            rules.append((pattern, host))
        for node in self.nodes.values():
            label = (node.spec.get("labels") or {}).get("nsprov.host")
            node.host = next((h for p, h in rules if fnmatch.fnmatchcase(node.name, p)), None) or label or (
                hosts[0] if len(hosts) == 1 else None)
            if node.host is not None and node.host not in hosts and node.host not in self.underlays:
                self.problem(self.top["nodes"], node.name, f"placed on {node.host!r}, which is not among the "
                             f"hosts ({', '.join(hosts)})", f"topology.nodes.{node.name}")
        free = [n.name for n in self.nodes.values() if n.host is None and n.kind != "host"
                and not n.mode.startswith("container:")]
        if spread and free:
            from nsprov.controller.clab_place import links_of, spread as spread_over
            for name, host in spread_over(free, hosts, links_of(self)).items():
                self.nodes[name].host = host
        for node in self.nodes.values():
            mode = node.mode
            if mode.startswith("container:"):
                other = self.nodes.get(mode.split(":", 1)[1])
                if other is None:
                    self.problem(self.top["nodes"], node.name, f"network-mode {mode}: no such node",
                                 f"topology.nodes.{node.name}.network-mode")
                else:
                    node.host = other.host
            if node.host is None and node.kind != "host":
                self.problem(self.top["nodes"], node.name, "has no host: place it with --place "
                             f"'{node.name}=HOST', the label nsprov.host, or --spread (more than one host is "
                             f"selected)",
                             f"topology.nodes.{node.name}")

    def start_order(self) -> list:
        """The nodes in steps: each after every node it waits for (`wait-for`, stages), across hosts."""
        left = {n: set(waits_for(node)) for n, node in self.nodes.items()}
        for name, deps in left.items():
            for dep in sorted(deps - set(self.nodes)):
                self.problem(self.top["nodes"], name, f"waits for {dep!r}, which is no node of this topology",
                             f"topology.nodes.{name}")
            deps &= set(self.nodes)
        steps = []
        while left:
            ready = sorted(n for n, deps in left.items() if not deps & set(left))
            if not ready:
                self.problem(self.top["nodes"], sorted(left)[0], f"nodes wait for each other in a circle: "
                             f"{', '.join(sorted(left))}", "topology.nodes")
                break
            steps.append(ready)
            for n in ready:
                del left[n]
        return steps

    def namespaces(self, image_as: tuple = ()) -> None:
        """Each node's namespace: its container name, the host's own (network-mode host), or the
        one it shares (container:X); a namespace set with the kinds its label nsprov.namespaces asks,
        and with a mount namespace for its binds and its image's role (clab_nodes.py)."""
        from nsprov.controller.clab_nodes import assign_role, prepare
        for node in self.nodes.values():
            node.cname = container_name(self.lab, self.prefix, node.name)
            mode = node.mode
            assign_role(self, node, image_as)
            if node.kind in ("host", "bridge") or mode == "host":
                node.ns = ""
                continue
            node.ns = node.cname
            kinds = (node.spec.get("labels") or {}).get("nsprov.namespaces")
            if kinds:
                kinds = kinds.replace(",", " ").split() if isinstance(kinds, str) else list(kinds)
                node.set_kinds = sorted(set(kinds) | {"net"})
            if not mode.startswith("container:"):
                prepare(self, node)
        if self.unmapped:
            self.warnings.append(f"{self.path}: no role for image " + "; ".join(
                f"{image} ({', '.join(names)})" for image, names in sorted(self.unmapped.items())) +
                ": the nodes run the host's software and nothing is started for the image (--image-as "
                "PATTERN=frr|tools says what it is)")
        for node in self.nodes.values():
            mode = node.mode
            if mode.startswith("container:") and mode.split(":", 1)[1] in self.nodes:
                other = self.nodes[mode.split(":", 1)[1]]
                node.ns, node.set_kinds = other.ns, other.set_kinds


def waits_for(node: Node) -> list:
    """The nodes NODE waits for: its `wait-for` (names), and every stage's `wait-for: [{node}]`."""
    out = [str(x) for x in node.spec.get("wait-for") or [] if not isinstance(x, dict)]
    stages = node.spec.get("stages") or {}
    for stage in stages.values() if isinstance(stages, dict) else ():
        out += [str(w.get("node")) for w in (stage or {}).get("wait-for") or [] if isinstance(w, dict)]
    return out


def make_play(index: int, name: str, tasks: dict, line: int) -> Play:
    """One play over every host in TASKS {host: [task]}, each task its host's only: the hosts
    change together (one request each), and the next play waits for all of them."""
    made = tuple(Task(name=None, module=next(iter(task)), params=task[next(iter(task))], tags=(), when=None,
                      loop=None, register=None, line=line, param_lines={}, index=i, host=host)
                 for i, (host, task) in enumerate((h, x) for h, xs in tasks.items() for x in xs))
    return Play(name=name, hosts=":".join(h for h, xs in tasks.items() if xs), vars={}, become=False, tags=(),
                tasks=made, line=line, index=index)


def load_topology(path: str, hosts: list, options: Optional[dict] = None, pingall: bool = False,
                  underlays: Optional[dict] = None) -> tuple:
    """(Playbook, problems, warnings) of the topology at PATH over the selected HOSTS. OPTIONS:
    {place: (PATTERN=HOST, ...), kind_as: {KIND: linux}, spread: bool}; UNDERLAYS: each host's
    address for the VXLAN links between them."""
    from nsprov.controller.clab_links import link_tasks, mgmt_bridge, node_addresses, ping_tasks
    options = options or {}
    topo = Topology(path, kind_as=options.get("kind_as"))
    topo.underlays = underlays or {}
    topo.place(hosts, tuple(options.get("place") or ()), bool(options.get("spread")))
    from nsprov.controller.clab_nodes import image_rules
    rules, problems = image_rules(tuple(options.get("image_as") or ()))
    topo.problems += problems
    topo.namespaces(rules)
    links = link_tasks(topo)
    per_host = {h: [] for h in hosts}
    for node in topo.nodes.values():
        if node.host in per_host:           # a node placed on a host --limit leaves out: not this run's
            per_host[node.host] += node_tasks(node)
    for host, tasks in ((h, x) for h, x in links.items() if h in per_host):
        if topo.mgmt_used and any(mgmt_bridge(topo.lab) in next(iter(x.values())).values() for x in tasks):
            per_host[host].append({"bridge": {"name": mgmt_bridge(topo.lab)}})
        per_host[host] += tasks
    if topo.mgmt_used:
        topo.warnings.append(f"{path}: links to mgmt-net end on the lab's own bridge {mgmt_bridge(topo.lab)}: no "
                             f"Docker network stands behind it")
    phases = [("nodes and links", per_host)]
    for level, names in enumerate(topo.start_order()):
        tasks = {h: [x for n in names if topo.nodes[n].host == h for x in start_tasks(topo.nodes[n])] for h in hosts}
        phases.append(("exec and cmd" + (f", step {level + 1} (after what they wait for)" if level else ""), tasks))
    if pingall:
        from nsprov.controller.clab_nodes import route_checks
        phases.append(("ping between nodes that share a subnet", {h: x for h, x in ping_tasks(topo, links).items()
                                                                  if h in per_host}))
        phases.append(("routes the routers learn", {h: x for h, x in route_checks(topo).items() if h in per_host}))
    plays, line = [], topo.data.line_of("topology")
    for name, tasks in phases:
        if any(tasks.values()):
            plays.append(make_play(len(plays), f"{topo.lab}: {name}", tasks, line))
    addresses = tuple(sorted({(str(i.ip), ns) for ns, ends in node_addresses(links).items() if ns for i in ends}))
    commanded = tuple(sorted({n.ns for n in topo.nodes.values()        # what exec lines and routing daemons add
                              if n.ns and (n.spec.get("exec") or _hooks(n, STAGES) or n.daemons)}))
    persist = any(boolean_or_none((n.spec.get("labels") or {}).get("nsprov.persist")) is True
                  for n in topo.nodes.values())     # the label, on a node or in topology.defaults
    return (Playbook(path=path, plays=tuple(plays), named_lab=topo.lab, crossings=tuple(topo.crossings),
                     addresses=addresses, commanded=commanded, labelled_persist=persist), topo.problems, topo.warnings)


def load_for(path: str, inv, hosts: list, options: dict, pingall: bool) -> tuple:
    """load_topology over HOSTS of the inventory INV, each host's underlay its address (or its
    variable nsprov_underlay); OPTIONS: {place: (PATTERN=HOST...), kind_as: (KIND=linux...)}."""
    underlays = {h: str(inv.host_vars(h).get("nsprov_underlay") or inv.connection(h).address)
                 for h in inv.hosts}       # a link's far end may be on a host --limit leaves out
    kind_as = dict(item.partition("=")[::2] for item in options.get("kind_as") or ())
    return load_topology(path, hosts, {**options, "kind_as": kind_as}, pingall=pingall, underlays=underlays)
