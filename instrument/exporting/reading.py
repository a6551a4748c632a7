"""Reading an export's dataset out of the store: every version, the interviews, the paradata.

Every stored version of the questionnaire is loaded again from its source
text (interviews stay on the version they started on), the interviews are
streamed with their stored export rows, and the events give the paradata
and the interviewers. An interview whose state is coded afresh (its row
missing or written under another key) gets its identifying answers read back
in bulk, in memory only, so values derived from them are exported as they
were in the interview. The store is closed before any file is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

from instrument.dataset import Dataset, DatasetError, Pseudonymiser, RowCoder, build_dataset
from instrument.dataset.paradata import PARADATA_KINDS, keep_cases, read_events
from instrument.loader import load_questionnaire_text
from instrument.model import Questionnaire
from instrument.plugins import PluginFacade
from instrument.store import Store, open_store

from .formats import ExportFailed

__all__ = ["ProgressBar", "read_dataset"]

ProgressBar = Callable[..., Any]
"""Makes a progress bar: called as ``tqdm`` is (``total=``, ``desc=``, ``unit=``),
returning an object with ``update(n)`` and ``close()``."""


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def no_bar(*args: Any, **kwargs: Any) -> _NoBar:
    """A progress bar that shows nothing."""
    return _NoBar()


def read_dataset(
    facade: PluginFacade,
    questionnaire_id: str,
    *,
    database: str | None,
    include_partial: bool,
    include_test: bool,
    since: dt.datetime | None,
    pseudonymiser: Pseudonymiser,
    progress: ProgressBar = no_bar,
    only: Collection[str] | None = None,
) -> Dataset:
    """The harmonised dataset of every stored interview an export takes.

    Its ``left_out`` counts every interview of the questionnaire the export
    did not take, by reason, including test interviews and those before
    ``since``, which the store filters out before the build sees them.
    ``only``: the ids of the interviews to take (a wave's); then ``left_out``
    counts only among them.
    """
    store = open_store(database)
    try:
        versions, loaded = _load_versions(store, questionnaire_id, facade)
        events = store.iter_events(
            questionnaire_id, kinds=PARADATA_KINDS, include_test=include_test
        )
        paradata, interviewers = read_events(events, loaded, pseudonymiser)
        considered = (
            len(only)
            if only is not None
            else sum(store.count_by_status(questionnaire_id, include_test=include_test).values())
        )
        everyone = (
            considered
            if include_test or only is not None
            else sum(store.count_by_status(questionnaire_id, include_test=True).values())
        )
        records = store.iter_export_records(
            questionnaire_id,
            include_test=include_test,
            since=since,
            export_keys={RowCoder(q).key for q in loaded},
        )
        if only is not None:
            records = (record for record in records if record.id in only)
        bar = progress(total=considered, desc="Reading interviews", unit="interview")
        read = 0

        def seen(n: int) -> None:
            nonlocal read
            read += n
            bar.update(n)

        try:
            dataset = build_dataset(
                loaded[-1],
                records,
                include_partial=include_partial,
                include_test=include_test,
                since=since,
                progress=seen,
                versions=versions,
                pseudonymiser=pseudonymiser,
                interviewers=interviewers,
                # a state coded afresh gets its identifying answers back for its derived values
                personal=store.personal_answers_of,
            )
        except DatasetError as exc:
            raise ExportFailed(str(exc)) from None
        finally:
            bar.close()
    finally:
        store.close()
    dataset.paradata = keep_cases(paradata, dataset.frame["case_id"])
    left_out = dict(dataset.left_out)
    if everyone > considered:
        left_out["test"] = left_out.get("test", 0) + everyone - considered
    if since is not None and considered > read:  # the store selected them by `since`
        left_out["since"] = left_out.get("since", 0) + considered - read
    dataset.left_out = {reason: n for reason, n in left_out.items() if n}
    return dataset


def _load_versions(
    store: Store, questionnaire_id: str, facade: PluginFacade
) -> tuple[dict[int | str, Questionnaire], list[Questionnaire]]:
    """Every stored version, by store id and by content hash, and in order, oldest first."""
    stored = store.list_questionnaire_versions(questionnaire_id)
    if not stored:
        known = ", ".join(store.questionnaire_ids()) or "none"
        raise ExportFailed(
            f"no questionnaire '{questionnaire_id}' in the database (it has: {known})"
        )
    versions: dict[int | str, Questionnaire] = {}
    loaded: list[Questionnaire] = []
    for row in sorted(stored, key=lambda r: (r.created_at, r.id)):
        result = load_questionnaire_text(
            row.source_text,
            f"<{row.questionnaire_id} version {row.version}>",
            text_environment=facade.prepare_text_environment,
            question_types=dict(facade.question_types()),
        )
        if result.questionnaire is None:
            first = result.errors[0] if result.errors else "unknown error"
            raise ExportFailed(
                f"stored version {row.version} of {questionnaire_id} no longer loads: {first}"
            )
        versions[row.id] = result.questionnaire
        versions[row.content_hash] = result.questionnaire
        loaded.append(result.questionnaire)
    return versions, loaded
