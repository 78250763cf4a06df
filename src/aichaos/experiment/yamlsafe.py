"""YAML parsing with bounds: a hostile experiment file ends in one clear error, fast.

``yaml.safe_load`` alone lets a small file cost a lot: 389 bytes of nested aliases expand
to a billion nodes in whoever walks the result (the line map, the secret substitution,
the model), merge keys multiply the same way, 20,000 nested brackets exhaust the
recursion limit, a 5,000-digit integer trips Python's integer parsing limit, and a
second ``safety:`` key silently replaces the first. :func:`parse_yaml` refuses each, with
the line where it is:

* nesting deeper than :data:`MAX_DEPTH` or more than :data:`MAX_NODES` nodes, counted
  over the event stream before anything is built (no recursion, stops at the excess);
* more than :data:`MAX_NODES` nodes with every alias and merge expanded (a count over
  the node graph, memoised, so the bomb is never built);
* integers longer than :data:`MAX_INT_DIGITS` digits;
* a key repeated in one mapping (merge keys ``<<`` may still be overridden).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "MAX_NODES", "parse_yaml"]

#: deepest nesting of mappings and lists an experiment file may have
MAX_DEPTH = 64
#: most nodes (scalars, lists, mappings), with aliases expanded
MAX_NODES = 10_000
#: longest integer literal
MAX_INT_DIGITS = 1000

_MERGE = "tag:yaml.org,2002:merge"


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


class _Loader(_Base):  # type: ignore[misc]
    """SafeLoader (libyaml's when installed) that refuses over-long integers."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})",
                node.start_mark,
            )  # fmt: skip
        return yaml.SafeLoader.construct_yaml_int(self, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _prepass(text: str) -> None:
    """Depth and size from the event stream (iterative, stops at the first excess)."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        nodes += 1
        mark: Any = event.start_mark  # libyaml's Mark has the same line and column
        if nodes > MAX_NODES:
            raise ComposerError(None, None, f"more than {MAX_NODES} values", mark)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)


def _check_keys(root: Node) -> None:
    """A key repeated in one mapping is an error (merge keys ``<<`` excepted)."""
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != _MERGE:
                    if key.value in keys:
                        raise ComposerError(
                            None,
                            None,
                            f"duplicate key {key.value!r} (a second one would silently "
                            "replace the first)",
                            key.start_mark,
                        )
                    keys.add(key.value)
                stack.extend((key, value))


def _expanded_size(root: Node) -> int:
    """Nodes in ``root`` with every alias expanded; stops counting past the limit."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # on the current path: meeting one again is a recursive alias
    # iterative post-order over the graph; a shared node is counted once, then its size
    # is added for every reference to it
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            if id(node) in open_:
                return MAX_NODES + 1  # a recursive alias expands without end
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        open_.discard(id(node))
        sizes[id(node)] = min(1 + sum(sizes.get(id(c), 1) for c in children), MAX_NODES + 1)
    return sizes[id(root)]


def parse_yaml(text: str) -> tuple[Node | None, Any]:
    """(node graph, data) of one YAML document; ``yaml.YAMLError`` on a refused input."""
    _prepass(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_keys(node)
        size = _expanded_size(node)
        if size > MAX_NODES:
            raise ComposerError(
                None,
                None,
                f"expands to more than {MAX_NODES} values through aliases or merge keys",
                node.start_mark,
            )
        return node, loader.construct_document(node)
    finally:
        loader.dispose()
