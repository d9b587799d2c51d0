"""Kernel primitives: observe one namespace, and carry out one Action. The only mutator.

Network namespaces are created in process (unshare + bind mount + setns back), the way
`ip netns add` does it but without a helper process; each namespace gets one netlink socket,
opened once. A veth is created with its peer directly in the target namespace, with master and
up in the same request. Every failure becomes a KernelError naming the object and namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from typing import Optional

from nsprov.agent import firewall, netns, nsset, processes, rtdump, rtwrite
from nsprov.agent.rtnl import Sockets, observe_links
from nsprov.agent.state import Action, Link, Namespace, Observed, Route
from nsprov.model.errors import KernelError

MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: Optional[str], target: str, flags: int) -> None:
    _check(_libc.mount(src.encode() if src else None, target.encode(), None, flags, None), f"mount {target}")


def _is_mountpoint(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


class Kernel:
    def __init__(self, fw_backend: Optional[str] = None):
        self.sockets = Sockets()
        self.fw = firewall.backend(fw_backend)
        self._netns_dir_ready = False

    def close(self) -> None:
        self.sockets.close()

    # ------------------------------------------------------------ observing
    def observed(self) -> Observed:
        names = netns.named_netns()
        empty = netns.placeholders(names)
        return Observed(set(names) - empty, self.observe_ns, self.read_sysctl, self.fw.list_rules,
                        nsset.observe, processes.observe, placeholders=empty)

    def observe_ns(self, ns: str) -> Namespace:
        """One namespace in three dumps: links, addresses, routes."""
        sock = self.sockets.raw(ns)
        links = {}
        for x in observe_links(sock):
            links[x["name"]] = Link(name=x["name"], kind=x["kind"], up=x["up"], mtu=x["mtu"], master=x["master"],
                                    alias=x["alias"], addresses=x["addresses"], index=x["index"])
        names = {link.index: link.name for link in links.values()}
        routes = {}
        for r in rtdump.routes(sock):
            routes.setdefault(r["dst"], Route(r["dst"], r["via"], names.get(r["oif"]), r["metric"], r["proto"]))
        return Namespace(links, routes)

    def read_sysctl(self, ns: str, key: str) -> Optional[str]:
        with netns.entered(ns):   # /proc/sys/net shows the namespace of whoever opens it
            try:
                with open("/proc/sys/" + key.replace(".", "/")) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return None

    # ------------------------------------------------------------ changing
    def execute(self, a: Action) -> Optional[dict]:
        """Carry out one action; a few (exec.run) return what happened."""
        try:
            return getattr(self, "_" + a.op.replace(".", "_"))(a)
        except KernelError:
            raise
        except OSError as exc:
            raise KernelError(_VERBS.get(a.op, a.op), _what(a), a.ns, exc.strerror or str(exc)) from None
        except Exception as exc:
            raise KernelError(_VERBS.get(a.op, a.op), _what(a), a.ns, f"{type(exc).__name__}: {exc}") from None

    def _index(self, ns: str, name: str) -> int:
        return rtdump.link_index(self.sockets.raw(ns), name)

    def _send(self, ns: str, data: bytes) -> None:
        rtwrite.request(self.sockets.raw(ns), data)

    def execute_concurrently(self, actions: list, workers: int = 2) -> list:
        """Carry out actions that do not depend on each other (only netns.create) on WORKERS
        threads; (result, error) per action, in order. The kernel sets up two namespaces at once
        and one thread's Python runs while the other waits in unshare: 100 namespaces with lo up,
        55 -> 32 ms on a 2-core host (3 threads: 40 ms). Every action is attempted."""
        if any(a.op != "netns.create" for a in actions):
            raise ValueError("only netns.create actions are carried out concurrently")
        self._netns_dir()   # once, before the threads race for it

        def one(a: Action) -> tuple:
            try:
                return self.execute(a), None
            except Exception as exc:   # KernelError: the engine reports it for its task
                return None, exc
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, actions))

    def _netns_dir(self) -> None:
        if self._netns_dir_ready:
            return
        os.makedirs(netns.NETNS_DIR, mode=0o755, exist_ok=True)
        if not _is_mountpoint(netns.NETNS_DIR):
            # like `ip netns add`: a shared bind mount, so pins propagate to later mount namespaces
            _mount(netns.NETNS_DIR, netns.NETNS_DIR, MS_BIND | MS_REC)
            _mount(None, netns.NETNS_DIR, MS_SHARED | MS_REC)
        self._netns_dir_ready = True

    def _netns_create(self, a: Action) -> None:
        """unshare in this thread only, pin by bind mount, setns back: safe on several threads."""
        self._netns_dir()
        path = netns.netns_path(a.name)
        if a.args.get("replace_placeholder"):      # the empty file a killed run left: not a namespace
            os.unlink(path)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(netns.CLONE_NEWNET), "unshare")   # this thread only
            try:
                _mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, MS_BIND)
                self.sockets.adopt(a.name, rtdump.open_socket())    # its socket, made while we are inside
            finally:
                netns.setns(own, netns.CLONE_NEWNET)
        except BaseException:
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        finally:
            os.close(own)
        self._send(a.name, rtwrite.set_link("lo", up=True))

    def _netns_delete(self, a: Action) -> None:
        self.sockets.drop(a.name)
        path = netns.netns_path(a.name)
        rc = _libc.umount2(path.encode(), MNT_DETACH)
        if rc != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
            _check(rc, f"umount {path}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def _link_add_bridge(self, a: Action) -> None:
        self._send(a.ns, rtwrite.new_bridge(a.name, a.args.get("mtu"), bool(a.args.get("stp")),
                                            bool(a.args.get("up"))))
        self._send(a.ns, rtwrite.set_link(a.name, alias=a.args["alias"]))

    def _link_add_veth(self, a: Action) -> None:
        args = a.args
        peer_ns = args["peer_netns"]
        master = self._index(a.ns, args["master"]) if args.get("master") else None
        fd = os.open(netns.netns_path(peer_ns) if peer_ns else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._send(a.ns, rtwrite.new_veth(a.name, args["peer"], fd, args.get("mtu"), master,
                                              bool(args.get("up"))))
        finally:
            os.close(fd)
        self._send(a.ns, rtwrite.set_link(a.name, alias=args["alias"]))
        self._send(peer_ns, rtwrite.set_link(args["peer"], up=bool(args.get("up")), alias=args["alias"]))

    def _link_set(self, a: Action) -> None:
        master = None
        if "master" in a.args:
            master = self._index(a.ns, a.args["master"]) if a.args["master"] else 0
        self._send(a.ns, rtwrite.set_link(a.name, up=a.args.get("up"), mtu=a.args.get("mtu"), master_index=master,
                                          alias=(a.args["alias"] or "") if "alias" in a.args else None))

    def _link_delete(self, a: Action) -> None:
        try:
            self._send(a.ns, rtwrite.del_link(a.name))
        except OSError as exc:
            if exc.errno != errno.ENODEV:   # already gone (its veth peer went first): nothing to do
                raise

    def _addr_add(self, a: Action) -> None:
        self._send(a.ns, rtwrite.address(True, self._index(a.ns, a.args["dev"]), a.args["address"]))

    def _addr_delete(self, a: Action) -> None:
        self._send(a.ns, rtwrite.address(False, self._index(a.ns, a.args["dev"]), a.args["address"]))

    def _route(self, a: Action, verb: str) -> None:
        oif = self._index(a.ns, a.args["dev"]) if a.args.get("dev") else None
        self._send(a.ns, rtwrite.route(verb, a.name, a.args.get("via"), oif, a.args.get("metric")))

    def _route_add(self, a: Action) -> None:
        self._route(a, "add")

    def _route_replace(self, a: Action) -> None:
        self._route(a, "replace")

    def _route_delete(self, a: Action) -> None:
        self._route(a, "delete")

    def _sysctl_set(self, a: Action) -> None:
        with netns.entered(a.ns):
            with open("/proc/sys/" + a.name.replace(".", "/"), "w") as f:
                f.write(a.args["value"])

    def _fw_add_rules(self, a: Action) -> None:
        self.fw.add_rules(a.ns, a.args["table"], a.args["rules"])

    def _fw_delete_rules(self, a: Action) -> None:
        self.fw.delete_rules(a.ns, a.args["table"], list(a.args["rules"]))

    def _fw_delete_table(self, a: Action) -> None:
        self.fw.delete_table(a.ns, a.args["table"])

    def _nsset_create(self, a: Action) -> None:
        nsset.create(a.name, a.args["spec"])

    def _nsset_delete(self, a: Action) -> None:
        self.sockets.drop(a.name)
        nsset.delete(a.name)

    def _nsset_set_hostname(self, a: Action) -> None:
        enter = nsset.nsenter_args(a.name, [k for k in ("user", "uts") if k in a.args["kinds"]])
        code = ("import ctypes, socket, sys; socket.sethostname(sys.argv[1]); d = sys.argv[2].encode(); "
                "ctypes.CDLL(None).setdomainname(d, len(d))")
        out = processes.run_once([*enter, "--", sys.executable, "-I", "-S", "-c", code, a.args["hostname"],
                                  a.args.get("domainname") or "(none)"], {})
        if out["rc"] != 0:
            raise OSError(errno.EPERM, out["stderr"].strip().splitlines()[-1] if out["stderr"] else "failed")

    def _process_start(self, a: Action) -> None:
        processes.start(a.name, a.args["argv"], a.args["env"], a.args["target"], a.args.get("cwd", "/"))

    def _process_stop(self, a: Action) -> None:
        processes.stop(a.name)

    def _exec_run(self, a: Action) -> dict:
        creates = a.args.get("creates")
        if creates:
            check = a.args.get("creates_check")
            there = (processes.run_once(check, {})["rc"] == 0) if check else os.path.exists(creates)
            if there:
                return {"changed": False, "reason": f"{creates} exists: not run"}
        out = processes.run_once(a.args["argv"], a.args["env"], cwd=a.args.get("cwd", "/"))
        if out["rc"] != 0:
            tail = " ".join((out["stderr"] or out["stdout"]).strip().splitlines()[-3:])
            raise OSError(errno.EIO, f"exit status {out['rc']}: {tail}")
        return {"changed": a.args.get("changed", True), "output": out}


_VERBS = {"nsset.create": "create", "nsset.delete": "delete", "nsset.set_hostname": "set the hostname of",
          "process.start": "start", "process.stop": "stop", "exec.run": "run",
          "netns.create": "create", "netns.delete": "delete", "link.add_bridge": "create",
          "link.add_veth": "create", "link.set": "change", "link.delete": "delete", "addr.add": "add",
          "addr.delete": "remove", "route.add": "add", "route.replace": "replace", "route.delete": "delete",
          "sysctl.set": "set", "fw.add_rules": "add", "fw.delete_rules": "delete", "fw.delete_table": "delete"}


def _what(a: Action) -> str:
    kind = {"netns": "netns", "link": "link", "addr": "address", "route": "route", "sysctl": "sysctl",
            "fw": "firewall rules in", "nsset": "namespace set", "process": "process",
            "exec": "command"}[a.op.split(".")[0]]
    if a.op == "link.add_veth":
        kind = "veth"
    elif a.op == "link.add_bridge":
        kind = "bridge"
    if a.op.startswith("addr."):
        return f"address {a.args['address']} on '{a.args['dev']}'"
    if a.op.startswith("fw."):
        return f"firewall rules in table '{a.args['table']}'"
    return f"{kind} '{a.name}'"
