"""netns: a named network namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, Param, STATE


def _declares(p: dict) -> Declares:
    if p["state"] != "present":
        return Declares()
    return Declares(objects=(("netns", "", p["name"]),), netns_made=(p["name"],))


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.ns_node(p["name"])


class Netns(Kind):
    name = "netns"
    summary = "a named network namespace, visible to `ip netns`, with lo up"
    doc = ("A network namespace pinned at /run/netns/NAME (as `ip netns add` makes it), with its loopback "
           "up. nsprov never adopts one it did not make: a same-named netns is an error.")
    absent = ("Deletes the namespace with everything inside it (its links go with it, and the records of "
              "what nsprov made inside); refused while it holds links nsprov did not make.")
    example = "netns: {name: red}"
    params = {
        "name": Param(t.OWN_NAME, "the namespace's name", required=True),
        "state": STATE,
    }

    def label(self, p):
        return f"netns {p['name']}"

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Netns()
