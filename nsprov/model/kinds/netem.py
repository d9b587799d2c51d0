"""netem: delay, loss, duplication, corruption, reordering and a rate on one link end."""

import re

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, OVERLAP, Param, STATE, in_ns

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s)?$")
_RATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?$", re.IGNORECASE)
_TIME_UNITS = {"us": 1, "ms": 1000, "s": 1000000, None: 1000}
_RATE_UNITS = {"bit": 1, "kbit": 10 ** 3, "mbit": 10 ** 6, "gbit": 10 ** 9, "bps": 8, "kbps": 8 * 10 ** 3,
               "mbps": 8 * 10 ** 6, "gbps": 8 * 10 ** 9, None: 10 ** 6}
IMPAIRMENTS = ("delay", "loss", "duplicate", "corrupt", "reorder", "rate")


def duration_us(value) -> int:
    """Microseconds of '10ms', '250us', '1.5s' or a number of milliseconds."""
    m = _TIME.match(str(value).strip()) if isinstance(value, (str, int, float)) and value is not True else None
    if m is None:
        raise ValueError(f"expected a time like 10ms, 250us or 1s (a bare number is ms), not {value!r}")
    us = round(float(m.group(1)) * _TIME_UNITS[m.group(2)])
    if us > 60 * 10 ** 6:
        raise ValueError(f"{value!r} is over a minute")
    return us


def rate_bps(value) -> int:
    """Bits per second of '10mbit', '512kbit', '1gbit', '2mbps' (bytes) or a number of Mbit/s."""
    m = _RATE.match(str(value).strip()) if isinstance(value, (str, int, float)) and value is not True else None
    if m is None:
        raise ValueError(f"expected a rate like 10mbit, 512kbit or 1gbit (a bare number is Mbit/s), not {value!r}")
    bps = round(float(m.group(1)) * _RATE_UNITS[m.group(2) and m.group(2).lower()])
    if not 8 <= bps <= 10 ** 12:
        raise ValueError(f"rate {value!r} is out of range (8 bit/s to 1 Tbit/s)")
    return bps


def percent(value) -> float:
    """A percentage: 1, 0.5, '1%', '0.5%'."""
    text = str(value).strip().rstrip("%") if isinstance(value, (str, int, float)) and value is not True else ""
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a percentage like 1, 0.5 or '1%', not {value!r}") from None
    if not 0 <= number <= 100:
        raise ValueError(f"{value!r} is not between 0 and 100 %")
    return round(number, 4)


def _duration(value) -> str:
    """The canonical form, which checks to itself (the agent checks parameters again)."""
    return f"{duration_us(value)}us"


def _rate(value) -> str:
    return f"{rate_bps(value)}bit"


DURATION = t.Type("time (10ms, 250us, 1s; a number is ms)", _duration, {"type": ["string", "number"]}, "10ms")
PERCENT = t.Type("percentage (0-100)", percent, {"type": ["string", "number"]}, 1)
RATE = t.Type("rate (10mbit, 512kbit, 1gbit; a number is Mbit/s)", _rate, {"type": ["string", "number"]},
              "10mbit")
DISTRIBUTION = t.Type(" | ".join(DISTRIBUTIONS), t.choice(*DISTRIBUTIONS), {"enum": list(DISTRIBUTIONS)}, "normal")


def packets(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10 ** 6:
        raise ValueError(f"expected a number of packets from 1 to 1000000, not {value!r}")
    return value


LIMIT = t.Type("packets (1-1000000)", packets, {"type": "integer", "minimum": 1, "maximum": 10 ** 6}, 1000)


def _rules(p: dict) -> list:
    if p["state"] != "present":
        return []
    out = []
    if not any(p[k] for k in IMPAIRMENTS):
        out.append(("", f"netem needs at least one of {', '.join(IMPAIRMENTS)}"))
    for field in ("jitter", "reorder"):
        if p[field] and not p["delay"]:
            out.append((field, f"{field} needs a delay"))
    for field, needs in (("correlation", "jitter"), ("distribution", "jitter")):
        if p[field] and not p[needs]:
            out.append((field, f"{field} needs a jitter"))
    return out


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("qdisc", p["netns"], p["link"]),), netns_used=used)


def describe(p: dict) -> str:
    """`delay 10ms±2ms loss 1% rate 10mbit` of the impairments a task declares."""
    words = []
    if p["delay"]:
        words.append(f"delay {duration_us(p['delay']) / 1000:g}ms"
                     + (f"±{duration_us(p['jitter']) / 1000:g}ms" if p["jitter"] else ""))
    words += [f"{k} {p[k]:g}%" for k in ("loss", "duplicate", "corrupt", "reorder") if p[k]]
    if p["rate"]:
        words.append(f"rate {rate_bps(p['rate']) / 10 ** 6:g}mbit")
    return " ".join(words)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.line(p["netns"], f"netem on {p['link']}: {describe(p)}")


class Netem(Kind):
    name = "netem"
    summary = "link impairments on one link end: delay, jitter, loss, duplicate, corrupt, reorder, rate"
    doc = ("The root queueing discipline of one link end (a veth end, a macvlan, a bridge, in any netns): "
           "netem with the impairments declared, as Mininet's TCLink and containerlab's `tools netem` set them; "
           "a rate with no other impairment (and no limit) is a tbf (token bucket), so it works on kernels without sch_netem. "
           "Impairments act on what leaves by that end: put one on each end for both directions. Read back from "
           "the kernel's qdisc dump and changed only when it differs; a root qdisc on the link that nsprov did not "
           "put there is never replaced. The link's management interface in the host's own namespace is refused.")
    absent = "Removes the qdisc: the link goes back to the kernel's default."
    example = "netem: {link: eth0, netns: red, delay: 10ms, jitter: 2ms, loss: 1, rate: 10mbit}"
    params = {
        "link": Param(t.IFNAME, "the link end whose outgoing packets are impaired", required=True, example="eth0"),
        "netns": NETNS.but("the netns the link end is in; empty: the host's own"),
        "delay": Param(DURATION, "added delay"),
        "jitter": Param(DURATION, "delay variation (needs delay)"),
        "correlation": Param(PERCENT, "how much each delay depends on the last (needs jitter)"),
        "distribution": Param(DISTRIBUTION, "the delay's distribution (needs jitter); unset, the kernel's is uniform"),
        "loss": Param(PERCENT, "packets dropped at random"),
        "duplicate": Param(PERCENT, "packets sent twice"),
        "corrupt": Param(PERCENT, "packets with a bit flipped"),
        "reorder": Param(PERCENT, "packets sent at once, ahead of delayed ones (needs delay)"),
        "rate": Param(RATE, "the link's rate"),
        "limit": Param(LIMIT, "the queue's length in packets (unset: netem's 1000)"),
        "allow_management_overlap": OVERLAP.but("allow netem on the interface the controller reaches the host "
                                                "through; refused otherwise, since the host could be cut off"),
        "state": STATE,
    }

    def label(self, p):
        return f"netem {in_ns(p['netns'])}{p['link']}"

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Netem()
