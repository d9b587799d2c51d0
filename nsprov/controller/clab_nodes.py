"""What a topology node runs and sees, with no images: its `image` is host software by a table
the user extends (--image-as PATTERN=ROLE). Role `frr` starts FRR's daemons inside the node as
FRR's init would from the node's own /etc/frr/daemons, each a supervised process of the node;
`tools` means the host's tools, with nothing to start. containerlab's own `kind: frr` is the
frr role with its `startup-config` and `extras.frr.daemons`.

A node with `binds` (or the frr role, or `mnt` among its nsprov.namespaces) is a namespace set
with a mount namespace of its own: a private /tmp (FRR's /etc/frr and /run/frr too), and each
bind's host file, read here relative to the topology file as containerlab resolves it, shipped
with the run and mounted over the node's path (a directory: a tmpfs holding its files). The
host's own files are never changed: the texts live under /var/lib/nsprov/files/SET/.

Here too: the node itself as tasks (its netns, namespace set or bridge), and what it starts:
its exec lines, stage hooks and cmd."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import shlex
from pathlib import Path
from typing import Optional

from nsprov.controller.yamlsrc import MarkedDict, Problem

ROLES = ("frr", "tools")
IMAGES = (("frrouting/frr*", "frr"), ("*frr*", "frr"), ("*network-multitool*", "tools"),
          *((p, "tools") for name in ("alpine", "busybox", "debian", "ubuntu") for p in (name, f"*/{name}")))
FRR_DAEMONS = ("zebra bgpd ripd ripngd ospfd ospf6d isisd babeld pimd pim6d ldpd nhrpd eigrpd sharpd pbrd staticd "
               "bfdd fabricd vrrpd pathd").split()      # FRR's frrcommon.sh order: zebra first
ALWAYS = ("zebra", "staticd")                           # frrcommon.sh starts these whatever the file says
FRR_BIN, FRR_ETC, FRR_RUN = "/usr/lib/frr", "/etc/frr", "/run/frr"
FRR_CONF = f"{FRR_ETC}/frr.conf"
RELOAD = [f"{FRR_BIN}/frr-reload.py", "--reload", FRR_CONF]
VTYSH_CONF = "service integrated-vtysh-config\n"
MAX_FILE = 1 << 20
_SETTING = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def image_repo(image: str) -> str:
    """The image's repository, without tag, digest, docker.io/ or library/."""
    ref = image.split("@")[0]
    if ":" in ref.rsplit("/", 1)[-1]:
        ref = ref[:ref.rindex(":")]
    for prefix in ("docker.io/", "library/"):
        ref = ref[len(prefix):] if ref.startswith(prefix) else ref
    return ref


def role_of(image: str, rules: tuple) -> Optional[str]:
    """The role of IMAGE: the first of the user's rules (PATTERN, ROLE), then the table, to match
    its repository (or the whole reference)."""
    repo = image_repo(image)
    return next((role for pattern, role in (*rules, *IMAGES)
                 if fnmatch.fnmatchcase(repo, pattern) or fnmatch.fnmatchcase(image, pattern)), None)


def image_rules(items: tuple) -> tuple:
    """(rules, problems) of --image-as PATTERN=ROLE items."""
    rules, problems = [], []
    for item in items or ():
        pattern, _, role = item.partition("=")
        if not pattern or role not in ROLES:
            problems.append(Problem("--image-as", 0, item, f"expected PATTERN=ROLE, ROLE one of {', '.join(ROLES)}"))
        else:
            rules.append((pattern, role))
    return tuple(rules), problems


def _line(topo, node, field: str) -> int:
    """The line of FIELD (`binds[1]`, `startup-config`) in the node's own settings, else the node's."""
    raw = (topo.top.get("nodes") or {}).get(node.name)
    key, _, index = field.partition("[")
    if not isinstance(raw, MarkedDict) or key not in raw:
        return node.line
    lines = getattr(raw[key], "item_lines", None)
    return lines[int(index[:-1])] if index and lines and int(index[:-1]) < len(lines) else raw.line_of(key)


def _read(topo, node, path: Path, field: str) -> Optional[str]:
    """The text of the host file PATH, or None with a problem naming the node and the path."""
    why = None
    try:
        if path.stat().st_size > MAX_FILE:
            why = f"is larger than {MAX_FILE >> 20} MiB: nsprov ships configuration files"
        else:
            return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        why = "does not exist"
    except UnicodeDecodeError:
        why = "is not UTF-8 text: nsprov ships text files"
    except OSError as exc:
        why = f"cannot be read ({exc.strerror})"
    topo.problems.append(Problem(topo.path, _line(topo, node, field), f"topology.nodes.{node.name}.{field}",
                                 f"node {node.name}: {path} {why}"))
    return None


def _host_path(topo, given: str) -> Path:
    path = Path(os.path.expanduser(given))
    return path if path.is_absolute() else Path(topo.path).resolve().parent / path


def binds(topo, node) -> list:
    """The node's binds as mounts: `host-path:node-path[:ro]`, a file as a file mount, a directory
    as a tmpfs at node-path holding a file mount for each of its files. A node path the host does
    not have is left out, and said (nsprov makes no file on the host to mount over)."""
    out = []
    for i, item in enumerate(node.spec.get("binds") or []):
        parts = str(item).split(":")
        if len(parts) < 2 or not parts[0] or not parts[1].startswith("/"):
            topo.problems.append(Problem(topo.path, _line(topo, node, f"binds[{i}]"),
                                         f"topology.nodes.{node.name}.binds[{i}]",
                                         f"expected host-path:/node-path[:ro], not {item!r}"))
            continue
        path, target = _host_path(topo, parts[0]), parts[1].rstrip("/") or "/"
        # optional: where the node path is not on the host (an image's own file), the bind is said and left out
        options = ("ro," if "ro" in ",".join(parts[2:]).split(",") else "") + "optional"
        files = [(path, target)]
        if path.is_dir():
            out.append({"type": "tmpfs", "target": target, "options": "mode=0755"})
            files = [(f, f"{target}/{f.relative_to(path).as_posix()}") for f in sorted(path.rglob("*")) if f.is_file()]
        for source, where in files:
            text = _read(topo, node, source, f"binds[{i}]")
            if text is not None:
                out.append({"type": "file", "target": where, "content": text, "options": options})
    return out


def _daemons_file(topo, node, mounts: list) -> str:
    """The node's /etc/frr/daemons: bound, or made from kind frr's extras.frr.daemons (every
    daemon when it names none, as containerlab's frr kind does), or FRR's default."""
    bound = next((m["content"] for m in mounts if m["type"] == "file" and m["target"] == f"{FRR_ETC}/daemons"), None)
    if bound is not None:
        return bound
    wanted = ((node.spec.get("extras") or {}).get("frr") or {}).get("daemons") if node.kind == "frr" else []
    if node.kind == "frr" and not wanted:
        wanted = FRR_DAEMONS
    return "".join(f"{d}={'yes' if d in wanted else 'no'}\n" for d in FRR_DAEMONS) + "vtysh_enable=yes\n" + "".join(
        f"{d}_options=\"-A {'::1' if d in ('ospf6d', 'ripngd', 'pim6d') else '127.0.0.1'}"
        f"{' -s 90000000' if d == 'zebra' else ''}\"\n" for d in FRR_DAEMONS)      # Debian's daemons file's


def frr_daemons(text: str) -> list:
    """[(daemon, argv)] that FRR's init starts from a daemons file TEXT (frrcommon.sh's rules: zebra
    and staticd always, then each `NAME=yes`; NAME_options; frr_profile), in the foreground, each
    reading the node's integrated /etc/frr/frr.conf."""
    values = {}
    for line in text.splitlines():
        m = _SETTING.match(line)
        if m and not line.lstrip().startswith("#"):
            words = shlex.split(m.group(2), comments=True) if m.group(2).strip() else []
            values[m.group(1)] = " ".join(words)
    profile = values.get("frr_profile") or "traditional"
    out = []
    for daemon in FRR_DAEMONS:
        if daemon in ALWAYS or values.get(daemon, "no") not in ("", "no", "0"):
            options = [o for o in shlex.split(values.get(f"{daemon}_options", "")) if o not in ("-d", "--daemon")]
            out.append((daemon, [f"{FRR_BIN}/{daemon}", "-F", profile, *options, "-f", FRR_CONF]))
    return out


def assign_role(topo, node, rules: tuple) -> None:
    """NODE's role: kind frr's, or its image's (an image with none is kept for one warning)."""
    image = str(node.spec.get("image") or "")
    node.role = "frr" if node.kind == "frr" else (role_of(image, rules) if image else None)
    if image and node.role is None and node.kind not in ("bridge", "host"):
        topo.unmapped.setdefault(image, []).append(node.name)


def prepare(topo, node) -> None:
    """NODE's mounts and set kinds (a node with binds or the frr role is a namespace set with its
    own mount namespace) and, for the frr role, its daemons."""
    mounts = binds(topo, node)
    if node.kind == "frr" and node.spec.get("startup-config"):
        text = _read(topo, node, _host_path(topo, str(node.spec["startup-config"])), "startup-config")
        mounts.append({"type": "file", "target": FRR_CONF, "content": text or "", "options": ""})
    if node.role == "frr":
        given = {m["target"] for m in mounts}
        daemons = _daemons_file(topo, node, mounts)
        defaults = [{"type": "file", "target": f"{FRR_ETC}/daemons", "content": daemons, "options": ""},
                    {"type": "file", "target": FRR_CONF, "content": "", "options": ""},
                    {"type": "file", "target": f"{FRR_ETC}/vtysh.conf", "content": VTYSH_CONF, "options": ""}]
        node.daemons = frr_daemons(daemons)
        mounts = [{"type": "tmpfs", "target": FRR_ETC, "options": "mode=0755"},
                  {"type": "tmpfs", "target": FRR_RUN, "options": "mode=1777"}] + mounts + [
                     m for m in defaults if m["target"] not in given]
    if mounts or "mnt" in (node.set_kinds or ()):
        mounts.insert(0, {"type": "tmpfs", "target": "/tmp", "options": "mode=1777"})
        node.set_kinds = sorted(set(node.set_kinds or ()) | {"net", "mnt"})
    node.mounts = mounts


def frr_tasks(node) -> list:
    """The frr role's daemons, each a supervised process of the node. zebra carries the config's
    revision: when frr.conf changes, a run reloads it into every daemon (frr-reload.py), with no
    restart."""
    conf = next((m["content"] for m in node.mounts if m["type"] == "file" and m["target"] == FRR_CONF), "")
    revision = "frr.conf " + hashlib.sha256(conf.encode()).hexdigest()[:16]
    out = []
    for daemon, argv in node.daemons:
        task = {"name": f"{node.cname}-{daemon}"[:64], **node.target, "command": argv, "restart": "always"}
        if daemon == "zebra":
            task.update(revision=revision, reload=list(RELOAD))
        out.append({"process": task})
    return out


def forwarding_tasks(node) -> list:
    """A router forwards IPv4 in its netns, as a container on Docker's host does (IPv6 forwarding
    is left to zebra: frr.conf says `ipv6 forwarding` or `no ipv6 forwarding`)."""
    return [{"sysctl": {"name": "net.ipv4.ip_forward", "value": "1", "netns": node.ns}}]


def _ospf(conf: str) -> tuple:
    """(networks its `router ospf` announces, networks it is connected to) of an FRR config."""
    import ipaddress
    announced, connected, block = set(), set(), ""
    for line in conf.splitlines():
        words = line.split()
        if line[:1] not in (" ", "\t", "") and words:
            block = " ".join(words[:2])
        if block == "router ospf" and words[:1] == ["network"] and len(words) > 1:
            announced.add(ipaddress.ip_network(words[1], strict=False))
        elif block.startswith("interface") and words[:2] == ["ip", "address"] and len(words) > 2:
            connected.add(ipaddress.ip_interface(words[2]).network)
    return announced, connected


def route_checks(topo, within: float = 60) -> dict:
    """{host: [verify task]}: each frr-role router holds an OSPF route to every network another
    router's `router ospf` announces and it is not connected to, within WITHIN seconds (OSPF waits
    its dead interval, 40 s, before it elects a designated router on a broadcast link)."""
    routers = {n.name: n for n in topo.nodes.values() if n.role == "frr" and n.ns and n.host}
    seen = {}
    for name, node in routers.items():
        conf = next((m["content"] for m in node.mounts if m["type"] == "file" and m["target"] == FRR_CONF), "")
        try:
            seen[name] = _ospf(conf)
        except ValueError:
            continue
    out: dict = {}
    for name, (announced, connected) in sorted(seen.items()):
        wanted = sorted({net for other, (theirs, _) in seen.items() if other != name for net in theirs} - connected
                        - announced, key=str)
        if wanted:
            out.setdefault(routers[name].host, []).append({"verify": {"routes": [
                {"node": routers[name].ns, "prefix": str(net), "protocol": "ospf", "within": within}
                for net in wanted]}})
    return out


def scalar(value) -> str:
    """A YAML scalar as the string containerlab reads it into (`- false` is the command false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def node_tasks(node) -> list:
    """The node itself: its netns, namespace set, or bridge (nothing for a host-mode node)."""
    mode = node.mode
    if node.kind == "bridge":
        return [{"bridge": {"name": node.name}}]
    if node.kind == "host" or mode == "host" or mode.startswith("container:"):
        return []
    if node.set_kinds:
        task = {"name": node.ns, "kinds": node.set_kinds}
        if "uts" in node.set_kinds:
            task["hostname"] = node.name
        if node.mounts:
            task["mounts"] = node.mounts
        return [{"namespace": task}] + (forwarding_tasks(node) if node.role == "frr" else [])
    return [{"netns": {"name": node.ns}}]


STAGES = ("create", "create-links", "configure", "healthy", "exit")     # containerlab's, in order


def _hooks(node, stages: tuple) -> list:
    """(command, on the host?) of the exec hooks of STAGES (`stages.STAGE.exec: [{command, target:
    container|host, phase: on-enter|on-exit}]`, or a command alone), stage by stage, on-enter first."""
    spec = node.spec.get("stages") if isinstance(node.spec.get("stages"), dict) else {}
    out = []
    for stage in stages:
        hooks = (spec.get(stage) or {}).get("exec") if isinstance(spec.get(stage), dict) else None
        hooks = [h if isinstance(h, dict) else {"command": h} for h in hooks or [] if h]
        for phase in ("on-enter", "on-exit"):
            out += [(scalar(h["command"]), h.get("target") == "host") for h in hooks
                    if h.get("command") and (h.get("phase") or "on-enter") == phase]
    return out


def start_tasks(node) -> list:
    """Its `exec` lines, one by one and without a shell (a failing one is reported and the rest
    run, as containerlab does), then its `cmd` as its long-running process; `env` for both. The
    exec hooks of its stages come around them, in stage order: those of create and create-links
    before its exec lines, the others after; `target: host` runs one in the host's namespaces."""
    env = {str(k): scalar(v) for k, v in (node.spec.get("env") or {}).items()}
    out = frr_tasks(node) if node.daemons and not node.mode.startswith("container:") else []
    delay = node.spec.get("startup-delay")
    if delay:       # containerlab holds the node back this many seconds
        out.append({"exec": {"command": ["sleep", str(int(delay))], "changed_when": False}})
    lines = [(line, False) for line in node.spec.get("exec") or []]
    for line, on_host in _hooks(node, STAGES[:2]) + lines + _hooks(node, STAGES[2:]):
        out.append({"exec": {**({} if on_host else node.target), "command": shlex.split(scalar(line)), "env": env,
                             "failed_when": False, "changed_when": False}})
    if node.spec.get("cmd"):
        cmd = node.spec["cmd"]
        argv = shlex.split(cmd) if isinstance(cmd, str) else [str(x) for x in cmd]
        # named as its container: process names are the host's, and two labs may both have a node `l1`
        out.append({"process": {"name": node.cname[:64], **node.target, "command": argv, "env": env}})
    return out
