"""Shape checks shared by every part of the loader: keys, scalars, names, "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from instrument.diagnostics import Position, did_you_mean
from instrument.names import MAX_VARIABLE_LABEL, name_problem
from instrument.yamlsrc import YMap, YNode, YScalar, YSeq

from .state import LoaderState


class Shapes(LoaderState):
    """Shape checks: mappings, lists, allowed keys, typed values, names.

    Every other concern reads the file through these, so a value of the wrong shape
    is reported once, in the same words, wherever it occurs."""

    def err(self, pos: Position, msg: str) -> None:
        self.d.error(pos, msg)

    def warn(self, pos: Position, msg: str) -> None:
        self.d.warning(pos, msg)

    def expect_map(self, node: YNode | None, what: str, pos: Position) -> YMap | None:
        if node is None:
            return None
        if not isinstance(node, YMap):
            self.err(node.pos, f"{what} must be a mapping (key: value pairs)")
            return None
        for key, kpos in node.non_string_keys:
            self.err(
                kpos,
                f"key {key!r} is not text; quote it (YAML reads yes/no/on/off and numbers as values)",
            )
        return node

    def expect_seq(self, node: YNode | None, what: str) -> YSeq | None:
        if node is None:
            return None
        if not isinstance(node, YSeq):
            self.err(node.pos, f"{what} must be a list")
            return None
        return node

    def check_keys(
        self,
        node: YMap,
        allowed: Iterable[str],
        what: str,
        required: Iterable[str] = (),
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        allowed = tuple(allowed)
        for key in node.keys():
            if key in allowed:
                continue
            if elsewhere and key in elsewhere:
                self.err(node.where(key), f"'{key}' does not apply to {what}{elsewhere[key]}")
            else:
                self.err(
                    node.where(key), f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}"
                )
        for key in required:
            if key not in node:
                self.err(node.pos, f"{what} needs '{key}'")

    def scalar(self, node: YNode | None, kind: type | tuple[type, ...], what: str) -> Any:
        """A scalar of the given Python type(s), or None after reporting."""
        if node is None:
            return None
        if not isinstance(node, YScalar):
            self.err(node.pos, f"{what} must be a single value")
            return None
        value = node.value
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.err(node.pos, f"{what} must be {_kind_name(kind)}, not {value!r}")
            return None
        if not isinstance(value, kind):
            self.err(node.pos, f"{what} must be {_kind_name(kind)}, not {value!r}")
            return None
        return value

    def boolean(self, m: YMap, key: str, default: bool, what: str) -> bool:
        value = self.scalar(m.get(key), bool, f"'{key}' of {what}")
        return default if value is None else value

    def register_name(self, name: str, pos: Position, what: str) -> bool:
        problem = name_problem(name)
        if problem:
            self.err(pos, f"{what}: {problem}")
            return False
        low = name.lower()
        if low in self.lower_names:
            first = self.lower_names[low]
            self.err(
                pos,
                f"duplicate name '{name}' (already used at line {first.line}; names must differ ignoring case)",
            )
            return False
        self.lower_names[low] = pos
        return True

    def check_label_length(self, label: str, pos: Position) -> None:
        if len(label) > MAX_VARIABLE_LABEL["SPSS"]:
            self.warn(
                pos,
                f"this label is {len(label)} characters; SPSS variable labels hold 256 and Stata's 80, so exports will shorten it",
            )
        elif len(label) > MAX_VARIABLE_LABEL["Stata"]:
            self.warn(
                pos,
                f"this label is {len(label)} characters; Stata variable labels hold 80, so the Stata export will shorten it",
            )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
