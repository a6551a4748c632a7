"""Several questionnaire versions in one dataset, harmonised by variable name.

Interviews stay on the version they started on, so an export may hold
interviews of several versions. Their columns are united by name: the
newest version's columns come first, in its order, and a column known only to
an older version follows; an interview whose version lacks a column gets the
routed-past code there (the question was not put to them). A name whose
storage type differs between versions is an error, as are differing
missing frames, since no single column could then be read one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from instrument.loader.missing_overlap import missing_overlap
from instrument.model import Questionnaire

from .codebook import LoopInfo, MultiGroup, VariableInfo
from .coding import DatasetError
from .plan import Plan, make_plan

__all__ = ["Versions", "collision_notes", "harmonise", "identifying_note"]


@dataclass
class Versions:
    """The versions of one export and the columns they share.

    ``by_key`` finds a version by its store id or its content hash;
    ``hash_of`` gives a version's content hash by ``id()`` (hashing the whole
    source text on every access would cost an export dearly); ``distinct``
    holds each version once, by content hash, with its column plan in
    ``plans``. ``variables``, ``groups`` and ``loops`` are the union, newest
    version first; ``languages`` likewise; ``labels`` are the version labels,
    the newest first.
    """

    by_key: dict[int | str, Questionnaire]
    hash_of: dict[int, str]
    distinct: dict[str, Questionnaire]
    plans: dict[str, Plan]
    variables: dict[str, VariableInfo]
    groups: list[MultiGroup]
    loops: dict[str, LoopInfo]
    languages: list[str]
    labels: list[str]


def harmonise(
    questionnaire: Questionnaire, versions: Mapping[int | str, Questionnaire] | None
) -> Versions:
    """Unite ``questionnaire`` (the newest) and the older ``versions`` (by id or content hash)."""
    main_hash = questionnaire.content_hash
    by_key: dict[int | str, Questionnaire] = {main_hash: questionnaire}
    if versions:
        by_key.update(versions)
    hash_of: dict[int, str] = {}
    distinct: dict[str, Questionnaire] = {}
    for q in by_key.values():
        if id(q) not in hash_of:
            hash_of[id(q)] = q.content_hash
        distinct.setdefault(hash_of[id(q)], q)
        if q.id != questionnaire.id:
            raise DatasetError(
                f"version {q.version} is of questionnaire '{q.id}', not '{questionnaire.id}'"
            )
        if q.missing.codes() != questionnaire.missing.codes():
            raise DatasetError(
                f"questionnaire version {q.version} uses missing codes {q.missing.codes()}, "
                f"but version {questionnaire.version} uses {questionnaire.missing.codes()}: "
                "one file cannot carry both; export the versions separately"
            )
    plans: dict[str, Plan] = {h: make_plan(q) for h, q in distinct.items()}
    main_plan = plans[main_hash]

    union: dict[str, VariableInfo] = {}
    for info in main_plan.infos:
        union[info.name] = info
    groups = list(main_plan.groups)
    loops = {lp.id: lp for lp in main_plan.loops}
    for h, plan in plans.items():
        if h == main_hash:
            continue
        for info in plan.infos:
            known = union.get(info.name)
            if known is None:
                union[info.name] = info
            elif known.storage != info.storage:
                raise DatasetError(
                    f"variable {info.name} is {known.storage} in version {questionnaire.version} but "
                    f"{info.storage} in version {distinct[h].version}; rename it in one of them"
                )
            else:
                for code, label in info.value_labels.items():
                    known.value_labels.setdefault(code, label)
        for group in plan.groups:
            if group.name not in {g.name for g in groups}:
                groups.append(group)
        for lp in plan.loops:
            loops.setdefault(lp.id, lp)

    languages = list(questionnaire.languages)
    for q in distinct.values():
        for lang in q.languages:
            if lang not in languages:
                languages.append(lang)
    labels = [questionnaire.version] + sorted(
        {q.version for q in distinct.values()} - {questionnaire.version}
    )
    return Versions(by_key, hash_of, distinct, plans, union, groups, loops, languages, labels)


def collision_notes(versions: Iterable[Questionnaire]) -> list[str]:
    """Warnings an analyst needs: numeric questions with no min, whose answers may be codes.

    A range that includes the codes is refused when the questionnaire is
    loaded (:mod:`instrument.loader.missing_overlap`); one open downwards is
    only warned about, so the README says which variables to read with care.
    """
    notes = []
    for q in versions:
        for question in q.questions.values():
            if question.type in ("integer", "decimal") and missing_overlap(
                question.id, question.type, question.min, question.max, q.missing
            ):
                notes.append(
                    f"{question.id} (version {q.version}) accepts answers down to "
                    f"{'any value' if question.min is None else question.min}, which can collide with the missing codes"
                )
    return notes


def identifying_note(versions: Iterable[Questionnaire]) -> list[str]:
    """The questions left out because they identify a person, so the README names them."""
    left_out = sorted(
        {
            question.id
            for q in versions
            for question in q.questions.values()
            if question.identifying and question.variable_names
        }
    )
    if not left_out:
        return []
    return [
        f"Not exported, because their answers identify a person (kept with the personal data): "
        f"{', '.join(left_out)}"
    ]
