"""YAML read into nodes that remember where they came from.

PyYAML's ordinary loaders throw positions away and silently keep the last of two
duplicate keys. Researchers need ``file:line:col`` in every message and must hear
about a duplicated key, so we compose the nodes ourselves from libyaml's event
stream and wrap them.

Composing from events, without recursion, is also what keeps hostile files
harmless: nesting is capped at :data:`MAX_DEPTH` levels (libyaml's own composer
recurses in C and crashes the process on a file nested 50,000 deep), an alias
that refers to the node holding it is refused, and aliases together may repeat
at most :data:`MAX_ALIAS_NODES` nodes, so a "billion laughs" file of a few
hundred bytes is refused at its first alias past the bound instead of
expanding without end. Each alias use is a copy, so the loader may annotate the
nodes it is given.
"""

from __future__ import annotations

import yaml

from instrument.diagnostics import Diagnostics, Position

from .compose import MAX_ALIAS_NODES, MAX_DEPTH, Composer, Refused
from .nodes import YMap, YNode, YScalar, YSeq

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "YMap", "YNode", "YScalar", "YSeq", "parse_yaml"]


def parse_yaml(text: str, filename: str, diagnostics: Diagnostics) -> YNode | None:
    """Parse one YAML document; syntax errors become diagnostics, never exceptions."""
    composer = Composer(filename)
    try:
        root = composer.compose(text)
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
    except Refused as refusal:
        diagnostics.error(refusal.pos, refusal.message)
        return None
    if root is None:
        diagnostics.error(Position(filename, 1, 1), "the file is empty")
        return None
    for problem in composer.problems:
        if problem is not None:
            diagnostics.error(*problem)
    return root
