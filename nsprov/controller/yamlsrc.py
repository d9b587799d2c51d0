"""YAML with line marks: every mapping and list remembers where its keys and items came from.

Raw YAML stops in the loaders (inventory, playbook); what leaves them is resolved data. The
marks let every problem be reported as `file:line: field: message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, with where it is."""
    file: str
    line: int          # 1-based; 0 when unknown
    field: str         # dotted path of the offending field, or "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputError(Exception):
    """Bad input: every problem found, all at once, before any host is touched."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line))
        super().__init__("\n".join(str(p) for p in self.problems))


class MarkedDict(dict):
    """A YAML mapping: `.line` is where it starts, `.key_lines[k]` where key k is."""
    line: int = 0
    key_lines: dict

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list):
    """A YAML sequence: `.line` is where it starts, `.item_lines[i]` where item i is."""
    line: int = 0
    item_lines: list

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    """The pure-Python parser: its messages name the offending character ('\\t'...)."""


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's parser (PyYAML's wheels carry it), same constructors and marks: 10x faster
    (12.7 -> 1.3 ms for a 50-host inventory); used first, _Loader only to report an error."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark)
        if key in out:
            explain = getattr(loader, "explain_duplicate", None)
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}" + (explain(out, key) if explain else ""), key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


MAX_INPUT_BYTES = 8 * 1024 * 1024     # one playbook, inventory or vars file (README: "Limits")
MAX_ALIAS_NODES = 1_000_000           # nodes YAML aliases may add to a document when expanded
MAX_NESTING = 100                     # lists and mappings inside each other (a playbook needs ~10)


def read_input(path: Path) -> str:
    """The text of an input file, refused before reading when it is over MAX_INPUT_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError([Problem(str(path), 1, "", f"is {size} bytes; nsprov reads input files of at most "
                                                        f"{MAX_INPUT_BYTES // (1024 * 1024)} MiB")])
        with open(path, "rb") as f:           # a file that grew since stat() is still bounded
            data = f.read(size + 1)
            while len(data) <= MAX_INPUT_BYTES and len(data) > size:
                more = f.read(65536)
                if not more:
                    break
                data += more
        if len(data) > MAX_INPUT_BYTES:
            raise InputError([Problem(str(path), 1, "", f"is over {MAX_INPUT_BYTES // (1024 * 1024)} MiB")])
        return data.decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), 0, "", f"cannot read: {exc}")]) from None


def _too_deep(path: Path, line: int) -> InputError:
    return InputError([Problem(str(path), line, "", f"lists and mappings are nested more than {MAX_NESTING} "
                                                    f"levels deep here; nsprov reads at most {MAX_NESTING}")])


def _expanded_size(root: yaml.Node, path: Path) -> tuple:
    """(nodes the document holds, nodes it holds once every alias is expanded, a node that
    refers to itself or None, the innermost node whose expansion alone passes MAX_ALIAS_NODES or
    None). An alias is the very node it names, so the graph is walked with a memo: linear in the
    document, whatever the expansion (a 'billion laughs' costs nothing to measure). Nesting
    past MAX_NESTING is an InputError (every later step walks values recursively)."""
    memo: dict = {}
    nodes: dict = {}
    active: set = set()
    cycle: list = []
    unique = [0]

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            cycle.append(node)
            return 1
        if len(active) >= MAX_NESTING:
            raise _too_deep(path, node.start_mark.line + 1)
        unique[0] += 1
        nodes[key] = node
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        memo[key] = total
        return total
    expanded = size(root)
    big = [(n, k) for k, n in memo.items() if n > MAX_ALIAS_NODES]
    culprit = nodes[min(big)[1]] if big else None
    return unique[0], expanded, (cycle[0] if cycle else None), culprit


def _parse(loader_class, text: str, path: Path, explain_duplicate: Optional[Callable] = None) -> Any:
    loader = loader_class(text)
    loader.explain_duplicate = explain_duplicate
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        unique, expanded, loop, culprit = _expanded_size(node, path)
        if loop is not None:
            raise InputError([Problem(str(path), loop.start_mark.line + 1, "",
                                      "a YAML alias refers to the node that contains it (a recursive anchor)")])
        if expanded - unique > MAX_ALIAS_NODES:
            raise InputError([Problem(str(path), (culprit or node).start_mark.line + 1, "",
                                      f"YAML aliases expand this document to {expanded} nodes, {expanded - unique} "
                                      f"more than it holds (the limit is {MAX_ALIAS_NODES}): refusing what looks "
                                      f"like an alias bomb")])
        return loader.construct_document(node)
    finally:
        loader.dispose()


def nesting(value: Any) -> int:
    """How deep lists and mappings are nested in VALUE (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_NESTING:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _deepest_line(text: str) -> int:
    """Where nesting first passes MAX_NESTING, found from the parser's events (no recursion);
    0 when the parser gives up first."""
    depth = 0
    try:
        for ev in yaml.parse(text, Loader=_FastLoader):
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    return ev.start_mark.line + 1
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        return exc.problem_mark.line + 1 if exc.problem_mark else 0
    except yaml.YAMLError:
        pass
    return 0


def load_yaml(path: Path, text: Optional[str] = None, explain_duplicate: Optional[Callable] = None) -> Any:
    """Parse one YAML document with line marks; a syntax error becomes an InputError, and so do
    a file over MAX_INPUT_BYTES, aliases that would expand past MAX_ALIAS_NODES and nesting past
    MAX_NESTING (libyaml stops at 1000 levels itself; the pure-Python parser recurses).
    EXPLAIN_DUPLICATE(mapping so far, key) adds to the message of a duplicate key what the
    caller knows it likely means."""
    try:
        if text is None:
            text = read_input(path)
        elif len(text) > MAX_INPUT_BYTES:
            raise InputError([Problem(str(path), 1, "", f"is over {MAX_INPUT_BYTES // (1024 * 1024)} MiB")])
        try:
            return _parse(_FastLoader, text, path, explain_duplicate)
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):    # libyaml's own limit (1000 levels)
                raise _too_deep(path, _deepest_line(text)) from None
            # otherwise parse again with the pure-Python parser, whose message is the clearer one
        try:
            return _parse(_Loader, text, path, explain_duplicate)
        except RecursionError:
            raise _too_deep(path, _deepest_line(text)) from None
    except yaml.MarkedYAMLError as exc:
        # the context mark is where the broken construct starts (an unclosed `{` say); the
        # problem mark is where the parser gave up, often the end of the file
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else 0
        detail = exc.problem or ""
        if exc.context and exc.problem_mark is not None:
            detail = f"{exc.context}: {exc.problem} (line {exc.problem_mark.line + 1})"
        raise InputError([Problem(str(path), line, "", f"invalid YAML: {detail}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(str(path), 0, "", f"invalid YAML: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), 0, "", f"cannot read: {exc}")]) from None


def plain(value: Any) -> Any:
    """Strip the marks: plain dicts and lists, for data that leaves the loaders."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
