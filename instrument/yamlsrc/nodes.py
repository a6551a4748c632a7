"""The nodes of a questionnaire file: values, lists and mappings that know their position."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from instrument.diagnostics import Position

__all__ = ["YMap", "YNode", "YScalar", "YSeq"]


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
