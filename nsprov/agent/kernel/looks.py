"""One look into many network namespaces at once, for a plan that will ask about every one of
them: a teardown (nothing nsprov did not make may go with a namespace) and a deep drift.

A namespace's look is what those plans read of it: its links, its routes, and the survey
(survey.py: nftables tables, routes in other tables, policy rules): one socket, one dump of
each kind, the main table and the other tables from the same route dump. Asked one by one, the
plan read the same in six dumps and two sockets, each opened by entering the namespace again.

The pass is split between the host's cores: forked children each look into a share of the
namespaces and send back what they read, while the agent looks into its own share. A child
that fails is only a share not read ahead: the plan reads those namespaces as before.
"""

from __future__ import annotations

import os
import pickle

from nsprov.agent.kernel import netns, nfnl, rtdump, survey
from nsprov.agent.kernel.sockets import observe_links

MIN_PER_WORKER = 48     # below this, a child costs more than it saves (fork ~2 ms, ~0.3 ms a look)
MAX_WORKERS = 4


def look(sock, nf) -> dict:
    """{links, routes, survey} of a namespace; SOCK: a NETLINK_ROUTE socket inside it, NF a
    NETLINK_NETFILTER one (None: the kernel has no nftables)."""
    main, other = rtdump.every_table(sock)
    return {"links": observe_links(sock, addresses=False), "routes": main, "survey": survey.survey(nf, sock, other)}


def _share(names: list) -> dict:
    """{name: look} of the namespaces NAMES that are there to look into."""
    out = {}
    for name in names:
        try:
            with netns.entered(name):       # both sockets made while inside, once
                sock, nf = rtdump.open_socket(), nfnl.open_socket()
        except OSError:
            continue        # gone meanwhile: the plan finds that out itself
        try:
            out[name] = look(sock, nf)
        except OSError:
            pass
        finally:
            sock.close()
            if nf is not None:
                nf.close()
    return out


def _child(names: list, fd: int) -> None:
    try:
        data = pickle.dumps(_share(names), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os._exit(0)
    except BaseException:
        os._exit(1)


def workers_for(count: int) -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, count // MIN_PER_WORKER))


def many(names: list) -> dict:
    """{name: look} of the namespaces NAMES, read in one pass over the host's cores."""
    workers = workers_for(len(names))
    shares = [names[i::workers] for i in range(workers)]
    children = []
    import warnings
    for share in shares[1:]:
        r, w = os.pipe()
        with warnings.catch_warnings():     # Python 3.12 warns of forking a process with threads:
            warnings.simplefilter("ignore", DeprecationWarning)   # the child only reads and writes
            pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(share, w)
        os.close(w)
        children.append((pid, r))
    out = _share(shares[0])
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) == 0:
            out.update(pickle.loads(data))
    return out
