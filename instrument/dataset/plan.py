"""From a questionnaire to a column plan: which columns, fed from which value key, coded how.

The plan is computed once per questionnaire version. Building a row is then
a loop over small tuples with no questionnaire lookups, which is what keeps
the build fast for 100,000 interviews. The plan also yields the codebook
entries (:class:`VariableInfo`) for its columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from instrument.engine.wording import spoken_source
from instrument.expressions import ValueType
from instrument.model import (
    Block,
    GridRow,
    Item,
    Loop,
    Page,
    Question,
    Questionnaire,
    Section,
    Text,
    Variable,
    every_loop_suffix,
)
from instrument.modes import ModePolicy

from .codebook import LoopInfo, MultiGroup, VariableInfo
from .orders import order_info, order_key, randomised_items

__all__ = ["Column", "Plan", "make_plan", "dummy_name"]

# How a column turns an engine value into a code. Small ints, compared in the hot loop.
CODE, FLOAT, TEXT, DATE, MULTI, OTHER = range(6)

KIND_OF_TYPE = {
    ValueType.CODE: CODE,
    ValueType.INTEGER: CODE,
    ValueType.BOOLEAN: CODE,
    ValueType.DECIMAL: FLOAT,
    ValueType.TEXT: TEXT,
    ValueType.DATE: DATE,
}
STORAGE = {CODE: "int", FLOAT: "float", TEXT: "str", DATE: "str", MULTI: "int", OTHER: "str"}


@dataclass(frozen=True)
class Column:
    """One output column: ``name`` fed from the engine value under ``key``.

    ``absent`` names the missing-frame entry for a key missing from
    ``engine.values`` (``routed_past`` for questions, ``unanswered`` for a
    preload the sample did not supply); ``none`` the entry for a value of
    None. ``extra`` is the option code of a multi dummy, or for an
    other-specify text ``(parent key, other code)``.
    """

    name: str
    key: str
    kind: int
    absent: str
    none: str
    extra: Any = None
    ordinal: int = 0


@dataclass
class Plan:
    columns: list[Column]
    infos: list[VariableInfo]
    groups: list[MultiGroup]
    loops: list[LoopInfo]


def dummy_name(base: str, code: int) -> str:
    """``q_<code>``; a negative code is spelled ``m<n>`` so the name stays valid."""
    return f"{base}_{code}" if code >= 0 else f"{base}_m{-code}"


def _sources(text: Text | None) -> dict[str, str]:
    if text is None:
        return {}
    return {lang: template.source for lang, template in text.by_language.items()}


def _texts(
    item: Question | GridRow, policies: Mapping[str, ModePolicy]
) -> dict[str, dict[str, str]]:
    """Wording per mode of the questionnaire, chosen as the engine chooses it (the mode's policy)."""
    texts: dict[str, dict[str, str]] = {}
    for mode, policy in policies.items():
        source = spoken_source(item, policy)
        if source is not None:
            texts[mode] = _sources(source)
    return texts


def _join_texts(
    outer: dict[str, dict[str, str]], inner: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for mode in set(outer) | set(inner):
        a, b = outer.get(mode, {}), inner.get(mode, {})
        result[mode] = {
            lang: " ".join(t for t in (a.get(lang), b.get(lang)) if t) for lang in set(a) | set(b)
        }
    return result


def _universes(q: Questionnaire) -> tuple[dict[str, str], dict[str, str]]:
    """Who is asked each question, in words, and each loop's description."""
    result: dict[str, str] = {}
    loops: dict[str, str] = {}

    def walk(items: tuple[Item, ...], conditions: list[str]) -> None:
        for item in items:
            here = list(conditions)
            if item.when is not None:
                here.append(item.when.describe())
            if isinstance(item, Page):
                for question in item.questions:
                    mine = list(here)
                    if question.when is not None:
                        mine.append(question.when.describe())
                    result[question.id] = " and ".join(mine)
            elif isinstance(item, Loop):
                if item.for_each is not None:
                    phrase = f"once for each option chosen at {item.for_each}"
                elif item.another is not None:
                    phrase = f"once per person added to the list {item.id} (at most {item.max})"
                elif item.for_list is not None:
                    phrase = f"once per person in the list {item.for_list} (at most {item.max})"
                else:
                    count = item.count.describe() if item.count is not None else "0"
                    phrase = f"once per {count} (at most {item.max} times)"
                loops[item.id] = phrase
                walk(item.items, here + [f"asked {phrase}"])
            elif isinstance(item, (Section, Block)):
                walk(item.items, here)

    walk(q.items, [])
    return result, loops


def loop_suffixes(q: Questionnaire, loop: Loop) -> list[str]:
    """Every suffix a loop can produce: 1..max, or the for_each question's option codes,
    after those of the loop around it (``2_3``) for a loop inside another."""
    return every_loop_suffix(q.loops, q.questions, loop.id)


def _level(var: Variable) -> str:
    question = var.question
    if var.kind in ("question", "grid_row", "computed") and question is not None:
        if var.value_type in (ValueType.TEXT, ValueType.DATE):
            return "nominal"
        if var.kind == "computed" and var.value_type in (ValueType.INTEGER, ValueType.DECIMAL):
            return "scale"
        return question.level
    if var.value_type in (ValueType.INTEGER, ValueType.DECIMAL):
        return "scale"
    return "nominal"


def identifies(var: Variable) -> bool:
    """Whether the variable holds what a question marked ``identifying`` was answered.

    Such answers belong with the contact details, never in a dataset: no
    column, no export row, no codebook entry (its other-specify text neither).
    """
    return var.question is not None and var.question.identifying


def make_plan(q: Questionnaire) -> Plan:
    """The columns of one questionnaire version, with their codebook entries."""
    universes, loop_phrases = _universes(q)
    languages = list(q.languages)
    default = q.default_language
    frame = q.missing.codes()
    columns: list[Column] = []
    infos: list[VariableInfo] = []
    groups: list[MultiGroup] = []
    loop_vars: dict[str, list[str]] = {lid: [] for lid in q.loops}

    def labels_by_language(var: Variable) -> dict[str, dict[Any, str]]:
        if var.choices is None:
            return {}
        return {
            lang: {o.code: o.label.source(lang, default) for o in var.choices.options}
            for lang in languages
        }

    def missing_for(kind: int, keys: tuple[str, ...]) -> dict[Any, str]:
        from .codebook import MISSING_LABELS

        as_text = kind in (TEXT, DATE, OTHER)
        return {(str(frame[k]) if as_text else frame[k]): MISSING_LABELS[k] for k in keys}

    all_missing = ("dk", "refused", "routed_past", "unanswered")

    for var in q.variables.values():
        if not var.export or identifies(var):
            continue
        question = var.question
        suffixes: list[str | None] = [None]
        if var.loop is not None:
            suffixes = list(loop_suffixes(q, q.loops[var.loop]))
        texts: dict[str, dict[str, str]] = {}
        instruction: dict[str, str] = {}
        if question is not None:
            texts = _texts(question, q.mode_policies)
            instruction = _sources(question.instruction)
        universe = universes.get(question.id, "") if question is not None else ""
        if var.kind == "grid_row" and question is not None:
            row = next(r for r in question.rows if r.id == var.name)
            texts = _join_texts(texts, _texts(row, q.mode_policies))
            if row.when is not None:
                extra = row.when.describe()
                universe = f"{universe} and {extra}" if universe else extra
        by_language = labels_by_language(var)
        value_labels = dict(by_language.get(default, {}))
        derived = var.kind == "computed"
        if var.kind == "preload":
            absent, none = "unanswered", "unanswered"
            missing_keys: tuple[str, ...] = ("unanswered",)
            universe = "Everyone: sample (preload) data"
        elif var.kind == "experiment":
            absent, none = "routed_past", "routed_past"
            missing_keys = ()
            universe = "Everyone: assigned at random when the interview started"
        elif derived:
            absent, none = "routed_past", "routed_past"
            missing_keys = ("routed_past",)
            expr = question.expr if question is not None else None
            if expr is not None:
                universe = (universe + "; " if universe else "") + f"computed as {expr.source}"
        else:
            absent, none = "routed_past", "unanswered"
            missing_keys = all_missing
        if var.kind == "experiment":
            universe = "Everyone: assigned at random when the interview started"

        for suffix in suffixes:
            sfx = f"_{suffix}" if suffix is not None else ""
            key = f"{var.name}{sfx}"
            where = universe
            if var.loop is not None and suffix is not None:
                where = f"{universe} (iteration {suffix})" if universe else f"iteration {suffix}"
            common = dict(
                question_id=question.id if question is not None else None,
                texts=texts,
                instruction=instruction,
                universe=where,
                loop=var.loop,
                iteration=suffix,
                derived=derived,
            )
            if var.value_type is ValueType.CODES:
                assert var.choices is not None
                group_vars: list[str] = []
                for option in var.choices.options:
                    name = dummy_name(var.name, option.code) + sfx
                    columns.append(Column(name, key, MULTI, absent, none, option.code, var.ordinal))
                    option_labels = {
                        lang: labels[option.code] for lang, labels in by_language.items()
                    }
                    infos.append(
                        VariableInfo(
                            name=name,
                            label=f"{var.label}: {value_labels[option.code]}",
                            kind="multi_option",
                            storage="int",
                            level="nominal",
                            value_labels={0: "Not selected", 1: "Selected"},
                            value_labels_by_language={
                                lang: {0: "Not selected", 1: "Selected"} for lang in option_labels
                            },
                            missing=missing_for(MULTI, missing_keys),
                            source_key=key,
                            group=f"{var.name}{sfx}",
                            option_code=option.code,
                            value_type="codes",
                            **common,  # type: ignore[arg-type]
                        )
                    )
                    group_vars.append(name)
                groups.append(
                    MultiGroup(
                        f"{var.name}{sfx}", var.label, var.name, group_vars, 1, var.loop, suffix
                    )
                )
                if var.loop is not None and suffix == suffixes[0]:
                    loop_vars[var.loop].extend(
                        dummy_name(var.name, o.code) for o in var.choices.options
                    )
                continue
            if var.kind == "other_text":
                assert question is not None and question.other_option is not None
                kind = OTHER
                parent_key = f"{question.id}{sfx}"
                extra: Any = (parent_key, question.other_option.code)
                other_of = question.id + sfx
                level = "nominal"
                width = 200
                places = None
            else:
                kind = KIND_OF_TYPE[var.value_type]
                extra = None
                other_of = None
                level = _level(var)
                width = (
                    question.max_length if question is not None and question.max_length else None
                )
                if kind == DATE:
                    width = 10
                places = (
                    question.places
                    if kind == FLOAT and question is not None
                    else (None if kind != FLOAT else 2)
                )
            columns.append(Column(key, key, kind, absent, none, extra, var.ordinal))
            infos.append(
                VariableInfo(
                    name=key,
                    label=var.label,
                    kind=var.kind,
                    storage=STORAGE[kind],
                    level=level,
                    value_labels=value_labels,
                    value_labels_by_language=by_language,
                    missing=missing_for(kind, missing_keys),
                    places=places,
                    width=width,
                    source_key=key,
                    other_of=other_of,
                    value_type=var.value_type.value,
                    **common,  # type: ignore[arg-type]
                )
            )
            if var.loop is not None and suffix == suffixes[0]:
                loop_vars[var.loop].append(var.name)

    taken = {column.name.lower() for column in columns}
    for item in randomised_items(q):  # the order each interview showed (orders.py)
        where = universes.get(item.question.id, "") if item.question is not None else ""
        for suffix in loop_suffixes(q, q.loops[item.loop]) if item.loop else [None]:
            key = order_key(item.id, suffix)
            if item.name(suffix).lower() in taken:
                from .coding import DatasetError  # coding imports this module

                raise DatasetError(
                    f"{item.name(suffix)}: the order shown at '{item.id}' would be exported under "
                    "the name of another variable; rename that variable"
                )
            columns.append(
                Column(
                    item.name(suffix), key, TEXT, "routed_past", "routed_past", None, item.ordinal
                )
            )
            infos.append(order_info(item, suffix, missing_for(TEXT, all_missing[2:]), where))

    loops = [
        LoopInfo(
            id=lid,
            kind="for_each" if loop.for_each is not None else "count",
            suffixes=loop_suffixes(q, loop),
            describe=loop_phrases.get(lid, ""),
            variables=loop_vars[lid],
            outer=_loops_around(q, loop),
        )
        for lid, loop in q.loops.items()
    ]
    return Plan(columns, infos, groups, loops)


def _loops_around(q: Questionnaire, loop: Loop) -> list[str]:
    """The loops ``loop`` is inside, outermost first."""
    outer: list[str] = []
    parent = loop.parent
    while parent is not None and parent not in outer:
        outer.insert(0, parent)
        parent = q.loops[parent].parent
    return outer


def iter_names(plan: Plan) -> Iterator[str]:
    return (c.name for c in plan.columns)
