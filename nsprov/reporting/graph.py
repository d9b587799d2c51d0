"""Pictures of a declared topology (nsprov.controller.topology): SVG drawn here with no layout
engine needed, Graphviz DOT and Mermaid sources for those who have one, and a terminal tree."""

from __future__ import annotations

from xml.sax.saxutils import escape

from nsprov.model.topology import HostTopology, Node, across

FILL = {"host": "#e8eef7", "netns": "#e6f4e4", "set": "#fdf1dc", "bridge": "#f1e6f6"}
CHAR_W, LINE_H, PAD = 7.2, 15, 10          # monospace 12 px
PER_ROW, GAP_X, GAP_Y, MARGIN = 5, 48, 78, 24


# ---------------------------------------------------------------------------- SVG
def _size(n: Node) -> tuple:
    chars = max([len(n.title)] + [len(x) for x in n.lines])
    return chars * CHAR_W + 2 * PAD, LINE_H * (1 + len(n.lines)) + 2 * PAD


def _rows(t: HostTopology) -> list:
    """The host's own namespace and its bridges on top; the rest in declaration order, PER_ROW a row."""
    top = [n for k, n in t.nodes.items() if k == "host" or k.startswith("br::")]
    rest = [n for n in t.nodes.values() if n not in top]
    return [top] + [rest[i:i + PER_ROW] for i in range(0, len(rest), PER_ROW)]


def _layout(t: HostTopology, y0: float) -> tuple:
    """{node id: (x, y, w, h, row, col)} and the cluster's width and height."""
    boxes, y, width = {}, y0 + 34, 0.0
    for r, row in enumerate(_rows(t)):
        x, height = MARGIN + 16, 0.0
        for c, n in enumerate(row):
            w, h = _size(n)
            boxes[n.id] = (x, y, w, h, r, c)
            x += w + GAP_X
            height = max(height, h)
        width = max(width, x - GAP_X + 16)
        y += height + GAP_Y
    return boxes, width, y - GAP_Y + 16 - y0


def _text(x: float, y: float, s: str, **attrs) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(s)}</text>'


def _connectors(cross: list, placed: dict, x: float) -> list:
    """Links between clusters: out of each end's right side to a lane at X, and across."""
    parts = []
    for i, ((h1, n1), (h2, n2), label) in enumerate(cross):
        lane = x + 14 * i
        (ax, ay, aw, ah, *_), (bx, by, bw, bh, *_) = placed[(h1, n1)], placed[(h2, n2)]
        y1, y2 = ay + ah / 2, by + bh / 2
        parts.append(f'<path d="M{ax + aw:.1f},{y1:.1f} H{lane:.1f} V{y2:.1f} H{bx + bw:.1f}" fill="none" '
                     f'stroke="#b45309" stroke-width="1.5"/>')
        parts.append(_text(lane + 4, (y1 + y2) / 2, label, fill="#b45309"))
    return parts


def to_svg(topologies: list, title: str) -> str:
    parts, y, width, placed = [], MARGIN + 22.0, 0.0, {}
    for t in topologies:
        boxes, w, h = _layout(t, y)
        placed.update({(t.host, k): v for k, v in boxes.items()})
        width = max(width, w)
        parts.append(f'<rect x="{MARGIN}" y="{y:.1f}" width="{w - MARGIN + 8:.1f}" height="{h:.1f}" rx="8" '
                     f'fill="none" stroke="#8a94a6" stroke-dasharray="2 3"/>')
        parts.append(_text(MARGIN + 10, y + 20, t.host, font_weight="bold"))
        labels = []
        for e in t.edges:
            ax, ay, aw, ah, ar, ac = boxes[e.a]
            bx, by, bw, bh, br, bc = boxes[e.b]
            p0, p2 = (ax + aw / 2, ay + ah / 2), (bx + bw / 2, by + bh / 2)
            dash = ' stroke-dasharray="5 4"' if e.kind == "in" else ""
            if ar == br and abs(ac - bc) > 1:   # same row, others between: bow under them
                ctl = ((p0[0] + p2[0]) / 2, max(ay + ah, by + bh) + GAP_Y * 0.9)
                parts.append(f'<path d="M{p0[0]:.1f},{p0[1]:.1f} Q{ctl[0]:.1f},{ctl[1]:.1f} {p2[0]:.1f},{p2[1]:.1f}" '
                             f'fill="none" stroke="#3b4a63" stroke-width="1.5"{dash}/>')
                mid = (0.25 * p0[0] + 0.5 * ctl[0] + 0.25 * p2[0], 0.25 * p0[1] + 0.5 * ctl[1] + 0.25 * p2[1])
            else:
                parts.append(f'<line x1="{p0[0]:.1f}" y1="{p0[1]:.1f}" x2="{p2[0]:.1f}" y2="{p2[1]:.1f}" '
                             f'stroke="#3b4a63" stroke-width="1.5"{dash}/>')
                if ar == br:
                    mid = ((p0[0] + p2[0]) / 2, (p0[1] + p2[1]) / 2)
                else:   # the label goes where the line crosses the gap above the lower box
                    gap_y = (by if ar < br else ay) - GAP_Y / 2
                    frac = (gap_y - p0[1]) / (p2[1] - p0[1])
                    mid = (p0[0] + (p2[0] - p0[0]) * frac, gap_y)
            labels.append((mid, e.label))
        for n in t.nodes.values():
            x, yy, w_, h_, _, _ = boxes[n.id]
            parts.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="{w_:.1f}" height="{h_:.1f}" rx="6" '
                         f'fill="{FILL[n.kind]}" stroke="#3b4a63"/>')
            parts.append(_text(x + PAD, yy + PAD + 11, n.title, font_weight="bold"))
            for i, line in enumerate(n.lines):
                parts.append(_text(x + PAD, yy + PAD + 11 + LINE_H * (i + 1), line))
        for (mx, my), label in labels:
            lw = len(label) * CHAR_W + 8
            parts.append(f'<rect x="{mx - lw / 2:.1f}" y="{my - 9:.1f}" width="{lw:.1f}" height="16" rx="3" '
                         f'fill="white" fill-opacity="0.9"/>')
            parts.append(_text(mx, my + 3, label, text_anchor="middle", fill="#1f3a8a"))
        y += h + 24
    cross = across(topologies)
    if cross:
        parts += _connectors(cross, placed, width + 8)
        width += 24 + 14 * len(cross) + max(len(label) for _, _, label in cross) * CHAR_W
    width = max(width, len(title) * CHAR_W + 2 * MARGIN) + MARGIN
    head = _text(MARGIN, MARGIN + 4, title, font_weight="bold", font_size="14")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{y:.0f}" '
            f'viewBox="0 0 {width:.0f} {y:.0f}" font-family="monospace" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n{head}\n' + "\n".join(parts) + "\n</svg>\n")


# ---------------------------------------------------------------------------- DOT, Mermaid
def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(topologies: list, title: str) -> str:
    out = [f"graph nsprov {{", f"  label={_dot_quote(title)}; labelloc=t; fontname=monospace;",
           '  node [shape=box, style="rounded,filled", fontname=monospace, fontsize=10];',
           "  edge [fontname=monospace, fontsize=9];"]
    for i, t in enumerate(topologies):
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={_dot_quote(t.host)}; style=dashed;")
        for n in t.nodes.values():
            label = "\\l".join(x.replace("\\", "\\\\").replace('"', '\\"') for x in [n.title] + n.lines) + "\\l"
            out.append(f'    {_dot_quote(t.host + "/" + n.id)} [label="{label}", fillcolor="{FILL[n.kind]}"];')
        out.append("  }")
        for e in t.edges:
            style = ", style=dashed" if e.kind == "in" else ""
            out.append(f"  {_dot_quote(t.host + '/' + e.a)} -- {_dot_quote(t.host + '/' + e.b)} "
                       f"[label={_dot_quote(e.label)}{style}];")
    for (h1, n1), (h2, n2), label in across(topologies):
        out.append(f"  {_dot_quote(h1 + '/' + n1)} -- {_dot_quote(h2 + '/' + n2)} [label={_dot_quote(label)}, "
                   f"color=darkorange, penwidth=2];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mm(s: str) -> str:
    return s.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(topologies: list, title: str) -> str:
    out = ["---", f"title: {_mm(title)}", "---", "flowchart TB"]
    ids: dict = {}
    for i, t in enumerate(topologies):
        out.append(f'  subgraph h{i}["{_mm(t.host)}"]')
        for n in t.nodes.values():
            ids[(t.host, n.id)] = f"n{len(ids)}"
            text = "<br/>".join(_mm(x) for x in [f"<b>{n.title}</b>"] + n.lines).replace("#lt;b#gt;", "<b>") \
                .replace("#lt;/b#gt;", "</b>")
            out.append(f'    {ids[(t.host, n.id)]}["{text}"]')
        out.append("  end")
        for e in t.edges:
            arrow = "-.-" if e.kind == "in" else "---"
            out.append(f'  {ids[(t.host, e.a)]} {arrow}|"{_mm(e.label)}"| {ids[(t.host, e.b)]}')
    for a, b, label in across(topologies):
        out.append(f'  {ids[a]} ===|"{_mm(label)}"| {ids[b]}')
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- terminal
def to_tree(topologies: list, title: str):
    """A rich Tree; every label is a Text, so names print as written (no markup)."""
    from rich.text import Text
    from rich.tree import Tree

    def bold(s: str) -> Text:
        return Text(s, style="bold")
    root = Tree(bold(title))
    for t in topologies:
        host = root.add(bold(t.host))
        for n in t.nodes.values():
            node = host.add(bold(n.title))
            for line in n.lines:
                node.add(Text(line))
        if t.edges:
            links = host.add(bold("links"))
            for e in t.edges:
                links.add(Text(f"{t.nodes[e.a].title} -- {t.nodes[e.b].title}: {e.label}"))
    cross = across(topologies)
    if cross:
        titles = {(t.host, k): n.title for t in topologies for k, n in t.nodes.items()}
        between = root.add(bold("links between hosts"))
        for a, b, label in cross:
            between.add(Text(f"{a[0]}: {titles[a]} == {b[0]}: {titles[b]}: {label}"))
    return root


FORMATS = {".svg": to_svg, ".dot": to_dot, ".gv": to_dot, ".mmd": to_mermaid, ".mermaid": to_mermaid}
