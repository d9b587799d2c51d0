"""The kernel, seen by the agent: it is observed here and changed only through the primitives
listed in PRIMITIVES, each an `ensure_*` that accepts what is already there when it is what was
asked (and fails clearly when a name belongs to something else), a `remove_*` that accepts what
is already gone, or a `set_*`/`run_*`. ops.py says which op uses which. Everything that touches
netlink, nsfs, mounts, nft or processes lives in this package; fake.py is the in-memory kernel
that tests/unit/test_kernel_contract.py holds to this one.

Network namespaces are created in process (unshare + bind mount + setns back), the way `ip netns
add` does it but without a helper process; each namespace gets one netlink socket, opened once.
A veth is created with its peer directly in the target namespace, with master and up in the
same request.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
import time
from typing import Optional

from nsprov.agent.kernel.enter import nsenter_args
from nsprov.agent.kernel.linkmake import exists_as, make_aside
from nsprov.agent.kernel import files, nft, netns, nsset, processes, rtdump, rtwrite, unlink
from nsprov.agent.kernel.sockets import Sockets, observe_links
from nsprov.agent.kernel.objects import pack_data, resolve_links
from nsprov.agent.kernel.observing import Observing
from nsprov.agent.kernel.policies import Policies, Qdiscs

MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20
MNT_DETACH = 2
_UNSET = object()

PRIMITIVES = ("ensure_netns", "remove_netns", "ensure_bridge", "ensure_veth", "ensure_link", "set_link_data", "set_link", "set_altnames", "set_mac", "move_link", "remove_link", "write_file", "remove_file",
              "ensure_address", "remove_address", "set_bridge", "ensure_route", "remove_route", "set_sysctl", "ensure_rules",
              "remove_rules", "remove_table", "set_firewall", "remove_firewall", "set_qdisc", "remove_qdisc", "ensure_nsset", "remove_nsset", "replace_nsset", "set_hostname",
              "ensure_process",
              "remove_process", "run_command", "run_checks")

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


class Kernel(Observing, Policies, Qdiscs):
    def __init__(self, fw_backend: Optional[str] = None):
        self.sockets = Sockets()
        self.fw = nft.backend(fw_backend)
        self._netns_dir_ready = False
        self._deleting: list = []      # children still in the kernel's deletion of a link (unlink.py)

    def close(self) -> None:
        self.sockets.close()

    def _link(self, ns: str, name: str) -> Optional[dict]:
        """Link NAME of NS as observe_links gives it (its addresses not read), or None."""
        return next((x for x in observe_links(self.sockets.raw(ns), addresses=False) if x["name"] == name), None)

    def _index(self, ns: str, name: str) -> int:
        return rtdump.link_index(self.sockets.raw(ns), name)

    def _send(self, ns: str, data: bytes) -> None:
        rtwrite.request(self.sockets.raw(ns), data)

    # ------------------------------------------------------------ network namespaces
    def _netns_dir(self) -> None:
        if self._netns_dir_ready:
            return
        os.makedirs(netns.NETNS_DIR, mode=0o755, exist_ok=True)
        if not _is_mountpoint(netns.NETNS_DIR):
            # like `ip netns add`: a shared bind mount, so pins propagate to later mount namespaces
            _mount(netns.NETNS_DIR, netns.NETNS_DIR, MS_BIND | MS_REC)
            _mount(None, netns.NETNS_DIR, MS_SHARED | MS_REC)
        self._netns_dir_ready = True

    def ensure_netns(self, ns: str, name: str, replace_placeholder: bool = False) -> None:
        """unshare in this thread only, pin by bind mount, setns back: safe on several threads.
        A pin already there is someone else's (the plan saw none): refused (EEXIST)."""
        self._netns_dir()
        path = netns.netns_path(name)
        if replace_placeholder:      # the empty file a killed run left: not a namespace
            os.unlink(path)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(netns.CLONE_NEWNET), "unshare")   # this thread only
            try:
                _mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, MS_BIND)
                self.sockets.adopt(name, rtdump.open_socket())    # its socket, made while we are inside
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
        self._send(name, rtwrite.set_link("lo", up=True))

    def ensure_netns_many(self, names: list, workers: int = 2) -> list:
        """Make network namespaces NAMES on WORKERS threads; an exception or None per name, in
        order. The kernel sets up two namespaces at once and one thread's Python runs while the
        other waits in unshare: 100 namespaces with lo up, 55 -> 32 ms on a 2-core host (3
        threads: 40 ms). Every one is attempted."""
        self._netns_dir()   # once, before the threads race for it

        def one(item: tuple) -> Optional[BaseException]:
            try:
                self.ensure_netns("", *item)
                return None
            except Exception as exc:
                return exc
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, names))

    def remove_netns(self, ns: str, name: str) -> None:
        self.sockets.drop(name)
        path = netns.netns_path(name)
        rc = _libc.umount2(path.encode(), MNT_DETACH)
        if rc != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
            _check(rc, f"umount {path}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ links
    def ensure_bridge(self, ns: str, name: str, mtu: Optional[int], stp: bool, up: bool, alias: str) -> None:
        unlink.finish(self._deleting)
        try:
            self._send(ns, rtwrite.new_bridge(name, None, bool(stp), bool(up)))
        except FileExistsError:
            exists_as(self._link(ns, name), "bridge", alias, f"link '{name}'")
            return
        # an MTU given at creation is not "set by the user" for the bridge: the first port that
        # joins takes it back to the ports' smallest. Set after creation (a change), it holds.
        self._send(ns, rtwrite.set_link(name, alias=alias, mtu=mtu))

    def ensure_veth(self, ns: str, name: str, peer: str, peer_netns: str, link: dict) -> None:
        """A pair NAME in NS <-> PEER in PEER_NETNS; LINK: {mtu, master, up, alias} of both ends
        (master: this end's bridge). Deletions this run began are finished first."""
        unlink.finish(self._deleting)
        up, alias = bool(link.get("up")), link.get("alias")
        master_index = self._index(ns, link["master"]) if link.get("master") else None
        fd = os.open(netns.netns_path(peer_netns) if peer_netns else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._send(ns, rtwrite.new_veth(name, peer, fd, link.get("mtu"), master_index, up))
        except FileExistsError:
            if self._link(ns, name) is None:
                raise OSError(errno.EEXIST, f"the peer's name '{peer}' is taken") from None
            exists_as(self._link(ns, name), "veth", alias, f"link '{name}'")
            return
        finally:
            os.close(fd)
        self._send(ns, rtwrite.set_link(name, alias=alias))
        self._send(peer_netns, rtwrite.set_link(peer, up=up, alias=alias))

    def ensure_link(self, ns: str, name: str, kind: str, link: dict, data: tuple = ()) -> None:
        """A link NAME of KIND in NS, any kind the kernel has, with the kind's own attributes
        DATA ([(type, format, value)]: objects.pack_data, and `ifindex` for a link named in
        PARENT_NETNS) and LINK {mtu, master, up, alias, parent, parent_netns}: made from
        PARENT_NETNS when given (the request goes there and makes the link in NS: a macvlan's
        lower link, a vxlan's socket, live there), bound to PARENT there if given. Deletions this
        run began are finished first."""
        unlink.finish(self._deleting)
        parent = link.get("parent")
        where = (link["parent_netns"] or "") if "parent_netns" in link else ns
        index = self._index(where, parent) if parent else None
        data = resolve_links(data, lambda dev: self._index(where, dev))
        fd = None
        if where != ns:
            fd = os.open(netns.netns_path(ns) if ns else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._send(where, rtwrite.new_link(name, kind, pack_data(data), link.get("mtu"), index, fd))
        except FileExistsError:
            here = self._link(ns, name)
            if fd is None or here is not None or self._link(where, name) is None:
                exists_as(here, kind, link.get("alias"), f"link '{name}'")
                return
            make_aside(lambda req: self._send(where, req), lambda n: self._index(where, n), name,
                       lambda n: rtwrite.new_link(n, kind, pack_data(data), link.get("mtu"), index, None), fd)
        finally:
            if fd is not None:
                os.close(fd)
        master = self._index(ns, link["master"]) if link.get("master") else None
        self._send(ns, rtwrite.set_link(name, up=bool(link.get("up")), alias=link.get("alias"), master_index=master))

    def set_link_data(self, ns: str, name: str, kind: str, data: tuple) -> None:
        """Change the kind's own attributes DATA of link NAME (those the kind lets change)."""
        self._send(ns, rtwrite.change_link(name, kind, pack_data(data)))

    def set_mac(self, ns: str, name: str, mac: str) -> None:
        self._send(ns, rtwrite.set_address(name, mac))

    def set_altnames(self, ns: str, name: str, altnames: list) -> None:
        """Link NAME's alternative names made ALTNAMES (others it has are taken away)."""
        have = (self._link(ns, name) or {}).get("altnames", [])
        for alt, add in [(a, False) for a in have if a not in altnames] + [(a, True) for a in altnames if a not in have]:
            self._send(ns, rtwrite.altname(name, alt, add))

    def set_link(self, ns: str, name: str, up: Optional[bool] = None, mtu: Optional[int] = None,
                 master=_UNSET, alias=_UNSET) -> None:
        index = None
        if master is not _UNSET:
            index = self._index(ns, master) if master else 0
        self._send(ns, rtwrite.set_link(name, up=up, mtu=mtu, master_index=index,
                                        alias=None if alias is _UNSET else (alias or "")))

    def move_link(self, ns: str, name: str, to_netns: str, new_name: str, link: dict) -> None:
        """Link NAME of NS (one nsprov did not make: a second NIC) moved into TO_NETNS as NEW_NAME,
        then LINK {mtu, up, alias} set there; already there as NEW_NAME and gone from NS: only
        the settings. The kernel drops its addresses and routes on the way."""
        if self._has(to_netns, new_name) and self._has(ns, name):
            # checked first: the kernel moves the link under its own name, then renames it, and
            # a taken name would fail the rename with the link already moved
            raise OSError(errno.EEXIST, f"a link named {new_name!r} is there already")
        if not self._has(to_netns, new_name):
            fd = os.open(netns.netns_path(to_netns) if to_netns else "/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                self._send(ns, rtwrite.move_link(self._index(ns, name), new_name, fd))
            finally:
                os.close(fd)
        self._send(to_netns, rtwrite.set_link(new_name, up=bool(link.get("up")), mtu=link.get("mtu"),
                                              alias=link.get("alias") or ""))

    def _has(self, ns: str, name: str) -> bool:
        try:
            self._index(ns, name)
            return True
        except OSError:
            return False

    def set_bridge(self, ns: str, name: str, stp: bool) -> None:
        self._send(ns, rtwrite.set_bridge(name, stp))

    def remove_link(self, ns: str, name: str) -> None:
        """Deleted: gone from the kernel's lists (not yet freed: unlink.py)."""
        try:
            self._deleting.append(unlink.delete_begun(self.sockets.raw(ns), ns, rtwrite.del_link(name), [name]))
        except OSError as exc:
            if exc.errno != errno.ENODEV:   # already gone (its veth peer went first): nothing to do
                raise

    def begin_remove_links(self, ns: str, names: list):
        """Begin deleting links NAMES of NS in one kernel batch; wait() on what this returns. A
        child process puts each in a link group no link of NS is in, then deletes the group with
        one request: the kernel unregisters them together, and the agent waits only until they
        are out of the kernel's lists, not until they are freed (unlink.py)."""
        if not names:
            return unlink.Done()
        in_use = {x["group"] for x in rtdump.links(self.sockets.raw(ns))}
        group = 0
        while group == 0 or group in in_use:
            group = 0x40000000 | int.from_bytes(os.urandom(3), "big")
        tag = [rtwrite.set_link(name, group=group) for name in names]
        return unlink.begin(self.sockets.raw(ns), ns, tag + [rtwrite.del_group(group)], names)

    def remove_links(self, ns: str, names: list, wait: bool = True) -> None:
        """Delete links NAMES of NS in one kernel batch (begin_remove_links). WAIT false: the run
        goes on while the kernel deletes them (whoever needs them gone waits for that), and a
        link made later in this run waits for the deletion to end first."""
        pending = self.begin_remove_links(ns, names)
        if wait:
            pending.wait()
        elif isinstance(pending, unlink.Pending):
            self._deleting.append(pending.pid)

    # ------------------------------------------------------------ addresses and routes
    def ensure_address(self, ns: str, name: str, dev: str, address: str) -> None:
        try:
            self._send(ns, rtwrite.address(True, self._index(ns, dev), address))
        except FileExistsError:
            pass   # the very address on the very link: what was asked

    def remove_address(self, ns: str, name: str, dev: str, address: str) -> None:
        """Deleting a link's primary IPv4 address deletes every secondary one in its subnet with
        it (promote_secondaries is off by default), someone else's included: the link promotes
        them instead for the time of the delete (netns.promoting)."""
        try:
            with netns.promoting(ns, dev, ":" not in address):
                self._send(ns, rtwrite.address(False, self._index(ns, dev), address))
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT):
                raise

    def ensure_route(self, ns: str, name: str, via: Optional[str], dev: Optional[str], metric: Optional[int],
                     replace: bool = False) -> None:
        oif = self._index(ns, dev) if dev else None
        self._send(ns, rtwrite.route("replace" if replace else "add", name, via, oif, metric))

    def remove_route(self, ns: str, name: str, via: Optional[str], dev: Optional[str], metric: Optional[int]) -> None:
        try:
            oif = self._index(ns, dev) if dev else None
            self._send(ns, rtwrite.route("delete", name, via, oif, metric))
        except OSError as exc:
            if exc.errno not in (errno.ESRCH, errno.ENODEV):   # no such route, or its device went: gone
                raise

    def set_sysctl(self, ns: str, name: str, value: str) -> None:
        with netns.entered(ns):
            with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
                f.write(value)

    def write_file(self, ns: str, name: str, content: str) -> None:
        files.write(name, content)

    def remove_file(self, ns: str, name: str) -> None:
        files.remove(name)

    # ------------------------------------------------------------ firewall
    def ensure_rules(self, ns: str, name: str, table: str, rules: dict) -> None:
        self.fw.add_rules(ns, table, rules)

    def remove_rules(self, ns: str, name: str, table: str, rules: dict) -> None:
        self.fw.delete_rules(ns, table, list(rules))

    def remove_table(self, ns: str, name: str, table: str, rules: Optional[dict] = None) -> None:
        """The table, with whatever rules it holds (RULES: those of ours it goes with)."""
        self.fw.delete_table(ns, table)

    # ------------------------------------------------------------ namespace sets, processes, commands
    def ensure_nsset(self, ns: str, name: str, spec: dict) -> None:
        self._netns_dir()       # before its pin: made later, the shared bind would hide the pin
        nsset.create(name, spec)

    def remove_nsset(self, ns: str, name: str) -> None:
        self.sockets.drop(name)
        nsset.delete(name)

    def replace_nsset(self, ns: str, name: str, spec: dict, goes_with: tuple = ()) -> None:
        """Set NAME made again with SPEC (nsset.replace: the old one stays if the new one cannot be
        made); returns once GOES_WITH, the links elsewhere that died with its netns, are unlisted."""
        self.sockets.drop(name)
        self._netns_dir()
        nsset.replace(name, spec)
        deadline = time.monotonic() + 10
        while goes_with and time.monotonic() < deadline:
            goes_with = [(n, link) for n, link in goes_with if link in self.links_present(n)]
            time.sleep(0.01 if goes_with else 0)

    def set_hostname(self, ns: str, name: str, hostname: str, domainname: Optional[str], kinds: list) -> None:
        enter = nsenter_args(name, [k for k in ("user", "uts") if k in kinds])
        code = ("import ctypes, socket, sys; socket.sethostname(sys.argv[1]); d = sys.argv[2].encode(); "
                "ctypes.CDLL(None).setdomainname(d, len(d))")
        out = processes.run_once([*enter, "--", sys.executable, "-I", "-S", "-c", code, hostname,
                                  domainname or "(none)"], {})
        if out["rc"] != 0:
            raise OSError(errno.EPERM, out["stderr"].strip().splitlines()[-1] if out["stderr"] else "failed")

    def ensure_process(self, ns: str, name: str, command: dict, target: dict, lab: str) -> None:
        """Process NAME of LAB running COMMAND {argv, env, cwd} (its output in log_dir(lab))."""
        processes.start(name, command, target, lab)

    def remove_process(self, ns: str, name: str) -> None:
        processes.stop(name)

    def run_command(self, ns: str, name: str, command: dict) -> dict:
        """Run COMMAND {argv, env, cwd, creates, creates_check, changed} once: not at all when the
        path `creates` exists (looked up inside with creates_check); a non-zero exit is an error."""
        creates, check = command.get("creates"), command.get("creates_check")
        if creates:
            there = (processes.run_once(check, {})["rc"] == 0) if check else os.path.exists(creates)
            if there:
                return {"changed": False, "reason": f"{creates} exists: not run"}
        out = processes.run_once(command["argv"], command["env"], cwd=command.get("cwd", "/"))
        if out["rc"] != 0:
            tail = " ".join((out["stderr"] or out["stdout"]).strip().splitlines()[-3:])
            if command.get("fails", True):
                raise OSError(errno.EIO, f"exit status {out['rc']}: {tail}")
            return {"changed": False, "reason": f"exit status {out['rc']} (failed_when: false): {tail}", "output": out}
        return {"changed": command.get("changed", True), "output": out}

    def run_checks(self, ns: str, name: str, checks: dict) -> dict:
        from nsprov.agent.kernel.verify import verify_assertions
        results = verify_assertions(checks, self.sockets)
        failed = [c for c in results if not c["passed"]]
        reason = (f"{len(results)} check(s) passed" if not failed else
                  "; ".join(f"{c['check']} {c['subject']}: expected {c['expected']}, got {c['observed']}"
                            for c in failed))
        return {"changed": False, "reason": reason, "checks": results, "failed": bool(failed)}
