"""A numeric question whose answers could be read as missing-value codes.

The export writes don't know, refused, routed past and unanswered as codes
(-1, -2, -8, -9 by default) in the same column as the answers. A latitude from
-90 to 90 can be answered -1, and that answer would then be exported as
"don't know": silently wrong data in every file, and in SPSS the codes cannot
even be declared missing without declaring real answers missing too. So a
range that reaches the codes is an error at load, with what to do; a range
open downwards (no ``min``) only could reach them, which is a warning.
"""

from __future__ import annotations

from typing import Any

from instrument.model import MissingFrame

__all__ = ["far_frame", "missing_overlap"]

MEANING = {
    "dk": "don't know",
    "refused": "refused",
    "routed_past": "routed past",
    "unanswered": "unanswered",
}


def far_frame(low: Any) -> str:
    """A missing frame below ``low``, with the default's last digits: -91.., -991.., -9991...

    One more digit than ``low``, so no answer reaches it; -x1 don't know,
    -x2 refused, -x8 routed past, -x9 unanswered, as -1, -2, -8, -9 are by default.
    """
    base = 10 ** (len(str(abs(min(int(low), 0)))) + 1) - 10
    return (
        f"missing: {{dk: -{base + 1}, refused: -{base + 2}, "
        f"routed_past: -{base + 8}, unanswered: -{base + 9}}}"
    )


def _declarable(codes: list[int], lo: float, hi: float) -> bool:
    """Whether SPSS (one range plus one value) can declare ``codes`` and leave lo..hi alone."""
    ordered = sorted(codes)

    def clear(a: int, b: int) -> bool:
        return hi < a or lo > b

    return clear(ordered[1], ordered[-1]) or clear(ordered[0], ordered[-2])


def missing_overlap(
    qid: str, qtype: str, low: Any, high: Any, frame: MissingFrame
) -> tuple[str, str] | None:
    """``(severity, message)`` when the range ``low``..``high`` reaches ``frame``'s codes, else None.

    An explicit range holding a code, or holding a value between the codes
    (which SPSS could not keep apart from them), is an error. A range with no
    ``min`` that reaches the codes is a warning: answers may collide, and
    whether SPSS can declare the codes then depends on the answers.
    """
    if qtype not in ("integer", "decimal"):
        return None
    codes = frame.codes()
    lo = float("-inf") if low is None else low
    hi = float("inf") if high is None else high
    if hi < min(codes.values()) or lo > max(codes.values()):
        return None
    inside = sorted(((c, k) for k, c in codes.items() if lo <= c <= hi), reverse=True)
    if low is None:
        if not inside:
            return None
        code, key = inside[0]
        upto = f"up to {high}" if high is not None else "of any size"
        return (
            "warning",
            f"question '{qid}' ({qtype}) has no min, so it accepts numbers {upto}, including "
            f"the missing codes ({_listed(inside)}): an answer of {code} would be exported as "
            f"{MEANING[key]}; give it a min (such as `min: 0`)",
        )
    span = f"answers from {low} to {high}" if high is not None else f"any number from {low}"
    remedy = (
        f"give the questionnaire missing codes outside that range (at the top of the file: "
        f"`{far_frame(low)}`), or narrow min and max"
    )
    if inside:
        code, key = inside[0]
        return (
            "error",
            f"question '{qid}' ({qtype}) accepts {span}, which includes the missing codes "
            f"({_listed(inside)}): an answer of {code} could not be told from {MEANING[key]} "
            f"in any export; {remedy}",
        )
    if _declarable(list(codes.values()), lo, hi):
        return None
    return (
        "error",
        f"question '{qid}' ({qtype}) accepts {span}, between the missing codes "
        f"{min(codes.values())} and {max(codes.values())}: SPSS cannot declare those codes "
        f"missing without declaring these answers missing too; {remedy}",
    )


def _listed(inside: list[tuple[int, str]]) -> str:
    return ", ".join(f"{code} {MEANING[key]}" for code, key in inside)
