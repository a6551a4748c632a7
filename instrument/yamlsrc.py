"""YAML read into nodes that remember where they came from.

PyYAML's ordinary loaders throw positions away and silently keep the last of two
duplicate keys. Researchers need ``file:line:col`` in every message and must hear
about a duplicated key, so we compose the node graph ourselves and wrap it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from instrument.diagnostics import Diagnostics, Position

__all__ = ["YNode", "YMap", "YSeq", "YScalar", "parse_yaml"]


@dataclass
class YScalar:
    value: Any
    pos: Position
    quoted: bool = False

    def plain(self) -> Any:
        return self.value


@dataclass
class YSeq:
    items: list["YNode"]
    pos: Position

    def __iter__(self) -> Iterator["YNode"]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def plain(self) -> list[Any]:
        return [item.plain() for item in self.items]


@dataclass
class YMap:
    entries: dict[str, "YNode"]
    key_pos: dict[str, Position]
    pos: Position
    non_string_keys: list[tuple[Any, Position]] = field(default_factory=list)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> "YNode | None":
        return self.entries.get(key)

    def keys(self) -> list[str]:
        return list(self.entries)

    def items(self) -> list[tuple[str, "YNode"]]:
        return list(self.entries.items())

    def where(self, key: str) -> Position:
        """Position of a key (or of the map, if the key is absent)."""
        return self.key_pos.get(key, self.pos)

    def plain(self) -> dict[str, Any]:
        return {k: v.plain() for k, v in self.entries.items()}


YNode = YScalar | YSeq | YMap


# libyaml's composer keeps the same marks and is several times faster.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _pos(filename: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    return Position(filename, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, filename: str, diagnostics: Diagnostics) -> None:
        self.filename = filename
        self.diagnostics = diagnostics
        self.constructor = yaml.SafeLoader("")  # only its scalar constructors are used

    def build(self, node: yaml.Node) -> YNode:
        pos = _pos(self.filename, node)
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                self.diagnostics.error(pos, f"cannot read this value: {exc}")
                value = node.value
            except (ValueError, OverflowError) as exc:
                # PyYAML's own constructors raise these for values that look like a
                # date or a number but are not one, e.g. 0000-00-00 or 2025-02-30.
                self.diagnostics.error(
                    pos, f"cannot read '{node.value}' as a {_scalar_kind(node.tag)}: {exc}"
                )
                value = node.value
            return YScalar(value, pos, quoted=node.style in ("'", '"'))
        if isinstance(node, yaml.SequenceNode):
            return YSeq([self.build(child) for child in node.value], pos)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolve YAML merge keys (<<)
            entries: dict[str, YNode] = {}
            key_pos: dict[str, Position] = {}
            result = YMap(entries, key_pos, pos)
            for key_node, value_node in node.value:
                kpos = _pos(self.filename, key_node)
                key = self.build(key_node).value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    # yes/no/on/off and numbers as keys are a classic YAML trap
                    result.non_string_keys.append((key, kpos))
                    key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                if key in entries:
                    self.diagnostics.error(
                        kpos, f"duplicate key '{key}' (first at line {key_pos[key].line})"
                    )
                    continue
                entries[key] = self.build(value_node)
                key_pos[key] = kpos
            return result
        raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover


def parse_yaml(text: str, filename: str, diagnostics: Diagnostics) -> YNode | None:
    """Parse one YAML document; syntax errors become diagnostics, never exceptions."""
    try:
        node = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        diagnostics.error(Position(filename, line, col), f"YAML syntax: {problem}{context}")
        return None
    except yaml.YAMLError as exc:
        diagnostics.error(Position(filename, 1, 1), f"YAML syntax: {exc}")
        return None
    if node is None:
        diagnostics.error(Position(filename, 1, 1), "the file is empty")
        return None
    return _Builder(filename, diagnostics).build(node)


def _scalar_kind(tag: str) -> str:
    """What YAML took a plain scalar for, in words (from its resolved tag)."""
    return {
        "tag:yaml.org,2002:timestamp": "date (put it in quotes if it is text)",
        "tag:yaml.org,2002:int": "whole number",
        "tag:yaml.org,2002:float": "number",
    }.get(tag, "value")
