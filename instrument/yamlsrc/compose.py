"""libyaml's events composed into :mod:`.nodes`, without recursion and within bounds.

The composer mirrors PyYAML's (tags resolved, scalars typed by the safe schema,
merge keys flattened, the same error messages for undefined or duplicate
anchors), reports duplicate keys, and refuses what would exhaust the process:
nesting past :data:`MAX_DEPTH`, an alias inside the node it names, and aliases
that together repeat more than :data:`MAX_ALIAS_NODES` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import ComposerError

from instrument.diagnostics import Position

from .nodes import YMap, YNode, YScalar, YSeq

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "Composer", "Refused"]

MAX_DEPTH = 100
"""Deepest accepted nesting of lists and mappings (a questionnaire needs about a dozen)."""

MAX_ALIAS_NODES = 100_000
"""Most nodes that all alias uses of one file may repeat together."""

# libyaml's parser keeps the same marks and is several times faster than PyYAML's.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"


class Refused(Exception):
    """The file is refused as a whole (too deep, or aliases past their bound)."""

    def __init__(self, pos: Position, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


@dataclass
class _Open:
    """A list or mapping whose end event has not come yet."""

    pos: Position
    is_map: bool
    anchor: str | None
    nodes_before: int  # the composer's node count when it opened
    problems_from: int  # where the problems found inside its next child start
    height: int = 1  # levels of nesting inside it so far, itself included
    items: list[YNode] = field(default_factory=list)
    pairs: list[_Pair] = field(default_factory=list)
    key: _Key | None = None  # a mapping's key while its value is being composed


@dataclass
class _Key:
    node: YNode
    tag: str  # resolved tag of a scalar key ("" otherwise): merge keys (<<) are found by it
    pos: Position
    text: str  # how a key that is not text is named in messages: as written
    span: range  # the problems found inside the key


# a key, its value and the problems found inside the value (dropped with a duplicate's value)
_Pair = tuple[_Key, YNode, range]


@dataclass
class _Anchor:
    node: YNode | None  # None while the anchored node is still being composed
    mark: Any  # libyaml's mark, for its own error messages
    size: int = 1  # nodes in the anchored node, alias copies included
    height: int = 0  # levels of nesting inside it


class Composer:
    """Events to nodes, with an explicit stack instead of recursion."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.tools = yaml.SafeLoader("")  # only its tag resolver and scalar constructors are used
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0
        self.alias_nodes = 0
        # reported only if the whole file composes; None where one was forgotten
        self.problems: list[tuple[Position, str] | None] = []
        self.root_mark: Any = None

    def pos(self, mark: Any) -> Position:
        return Position(self.filename, mark.line + 1, mark.column + 1)

    def compose(self, text: str) -> YNode | None:
        loader = _FAST_LOADER(text)
        try:
            loader.get_event()  # stream start
            if isinstance(loader.peek_event(), yaml.StreamEndEvent):
                return None
            loader.get_event()  # document start
            self.root_mark = loader.peek_event().start_mark
            root = self.document(loader.get_event)
            loader.get_event()  # document end
            following = loader.get_event()
            if not isinstance(following, yaml.StreamEndEvent):
                raise ComposerError(
                    "expected a single document in the stream",
                    self.root_mark,
                    "but found another document",
                    following.start_mark,
                )
            return root
        finally:
            loader.dispose()

    def document(self, get_event: Any) -> YNode:
        stack: list[_Open] = []
        while True:
            event = get_event()
            kind = type(event)
            tag = ""
            height = 0
            if kind is yaml.ScalarEvent:
                self.nodes += 1
                is_key = bool(stack) and stack[-1].is_map and stack[-1].key is None
                node, tag = self.scalar(event, is_key)
                if event.anchor is not None:
                    self.anchor(event).node = node
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                self.nodes += 1
                if len(stack) >= MAX_DEPTH:
                    raise Refused(
                        self.pos(event.start_mark),
                        f"the YAML is nested more than {MAX_DEPTH} levels deep here",
                    )
                if event.anchor is not None:
                    self.anchor(event)
                is_map = kind is yaml.MappingStartEvent
                opened = _Open(
                    self.pos(event.start_mark), is_map, event.anchor, self.nodes, len(self.problems)
                )
                stack.append(opened)
                continue
            elif kind is yaml.AliasEvent:
                node, height = self.alias(event, len(stack))
            else:  # the end of a list or a mapping
                done = stack.pop()
                node = self.mapping(done) if done.is_map else YSeq(done.items, done.pos)
                height = done.height
                if done.anchor is not None:
                    anchor = self.anchors[done.anchor]
                    anchor.node = node
                    anchor.size = self.nodes - done.nodes_before + 1
                    anchor.height = height
            if not stack:
                return node
            parent = stack[-1]
            if height >= parent.height:
                parent.height = height + 1
            span = range(parent.problems_from, len(self.problems))
            parent.problems_from = span.stop
            if not parent.is_map:
                parent.items.append(node)
            elif parent.key is None:
                text = event.value if kind is yaml.ScalarEvent else "?"
                parent.key = _Key(node, tag, node.pos, text, span)
            else:
                parent.pairs.append((parent.key, node, span))
                parent.key = None

    def forget(self, span: range) -> None:
        for index in span:
            self.problems[index] = None

    def scalar(self, event: Any, is_key: bool) -> tuple[YScalar, str]:
        """A scalar's value, typed as YAML's safe schema reads it, and its tag."""
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.tools.resolve(yaml.ScalarNode, event.value, event.implicit)
        pos = self.pos(event.start_mark)
        quoted = event.style in ("'", '"')
        if tag == _STR or (is_key and tag in (_MERGE, _VALUE)):  # keys '<<' and '=' stay text
            return YScalar(event.value, pos, quoted), tag
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            value = self.tools.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append((pos, f"cannot read this value: {exc}"))
            value = event.value
        except (ValueError, OverflowError) as exc:
            # PyYAML's own constructors raise these for values that look like a
            # date or a number but are not one, e.g. 0000-00-00 or 2025-02-30.
            self.problems.append(
                (pos, f"cannot read '{_shown(event.value)}' as a {_scalar_kind(tag)}: {exc}")
            )
            value = event.value
        except Exception:  # PyYAML's constructors fail in other ways on explicit tags
            # e.g. !!timestamp 'nope' or !!bool 'maybe'
            shown, short_tag = _shown(event.value), _short_tag(tag)
            self.problems.append((pos, f"'{shown}' is not a valid {short_tag} value"))
            value = event.value
        return YScalar(value, pos, quoted), tag

    def anchor(self, event: Any) -> _Anchor:
        name = event.anchor
        if name in self.anchors:
            raise ComposerError(
                "found duplicate anchor; first occurrence",
                self.anchors[name].mark,
                "second occurrence",
                event.start_mark,
            )
        anchor = self.anchors[name] = _Anchor(None, event.start_mark)
        return anchor

    def alias(self, event: Any, depth: int) -> tuple[YNode, int]:
        """A copy of the anchored node (and its height), once its cost is known to be bounded."""
        pos = self.pos(event.start_mark)
        name = event.anchor
        anchor = self.anchors.get(name)
        if anchor is None:
            raise ComposerError(None, None, "found undefined alias", event.start_mark)
        if anchor.node is None:
            raise Refused(
                pos,
                f"the alias *{name} is inside the node it names (anchored at line "
                f"{anchor.mark.line + 1}), so it would repeat without end",
            )
        if depth + anchor.height > MAX_DEPTH:
            raise Refused(
                pos, f"the alias *{name} would nest the YAML more than {MAX_DEPTH} levels deep"
            )
        self.alias_nodes += anchor.size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise Refused(
                pos,
                f"the alias *{name} repeats {anchor.size:,} nodes, taking this file's aliases "
                f"past {MAX_ALIAS_NODES:,} repeated nodes; write the repeated part out instead",
            )
        self.nodes += anchor.size
        return _copy(anchor.node), anchor.height

    def mapping(self, done: _Open) -> YMap:
        """The pairs as a :class:`YMap`: merge keys (<<) resolved, duplicates reported."""
        pairs = done.pairs
        if any(key.tag == _MERGE for key, _, _ in pairs):
            pairs = self.merged(pairs)
        entries: dict[str, YNode] = {}
        key_pos: dict[str, Position] = {}
        result = YMap(entries, key_pos, done.pos)
        for key, value, span in pairs:
            name = key.node.value if isinstance(key.node, YScalar) else None
            kpos = key.pos
            if not isinstance(key.node, YScalar):
                self.forget(key.span)  # a list or mapping as a key is only reported as one
            if not isinstance(name, str):
                # yes/no/on/off and numbers as keys are a classic YAML trap
                result.non_string_keys.append((name, kpos))
                name = key.text
            if name in entries:
                self.problems.append(
                    (kpos, f"duplicate key '{name}' (first at line {key_pos[name].line})")
                )
                self.forget(span)  # the value is dropped, and with it what was wrong inside it
                continue
            entries[name] = value
            key_pos[name] = kpos
        return result

    def merged(self, pairs: list[_Pair]) -> list[_Pair]:
        """YAML merge keys, as PyYAML reads them: the merged mappings' pairs first, then the own."""
        merge: list[_Pair] = []
        own: list[_Pair] = []
        for key, value, span in pairs:
            if key.tag != _MERGE:
                own.append((key, value, span))
                continue
            sources = [value] if isinstance(value, YMap) else []
            if isinstance(value, YSeq):
                sources = [item for item in value if isinstance(item, YMap)]
            if not sources or (isinstance(value, YSeq) and len(sources) != len(value)):
                self.problems.append(
                    (value.pos, "'<<' merges a mapping, or a list of mappings, into this one")
                )
                continue
            for source in reversed(sources):
                merge.extend(_pairs_of(source))
        return merge + own


def _pairs_of(m: YMap) -> list[_Pair]:
    """A composed mapping's entries as pairs again, its keys that are not text still so."""
    odd = {pos: name for name, pos in m.non_string_keys}
    pairs: list[_Pair] = []
    for text, value in m.entries.items():
        kpos = m.key_pos[text]
        key = _Key(YScalar(odd.get(kpos, text), kpos), "", kpos, text, range(0))
        pairs.append((key, value, range(0)))
    return pairs


def _copy(node: YNode) -> YNode:
    """A deep copy (its depth is bounded by MAX_DEPTH, so recursion is safe)."""
    if isinstance(node, YScalar):
        return YScalar(node.value, node.pos, node.quoted)
    if isinstance(node, YSeq):
        return YSeq([_copy(item) for item in node.items], node.pos)
    return YMap(
        {key: _copy(value) for key, value in node.entries.items()},
        dict(node.key_pos),
        node.pos,
        list(node.non_string_keys),
    )


def _shown(text: str) -> str:
    """A value as quoted in a message: a 5,000-digit number would drown the message."""
    return text if len(text) <= 60 else text[:57] + "..."


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:")


def _scalar_kind(tag: str) -> str:
    """What YAML took a plain scalar for, in words (from its resolved tag)."""
    return {
        "tag:yaml.org,2002:timestamp": "date (put it in quotes if it is text)",
        "tag:yaml.org,2002:int": "whole number",
        "tag:yaml.org,2002:float": "number",
    }.get(tag, "value")
