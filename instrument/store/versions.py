"""Questionnaire versions: each distinct source text stored once, never changed.

An interview keeps the version it started on for its whole life, so a
questionnaire can be corrected during fieldwork without changing what earlier
respondents were asked. A version is identified by the SHA-256 of its text.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul
from instrument.store.plumbing import StoreBase, sha256_hex, utc
from instrument.store.records import QuestionnaireVersion, QuestionnaireVersionConflict
from instrument.store.schema import questionnaire_versions

__all__ = ["QuestionnaireVersions"]


class QuestionnaireVersions(StoreBase):
    """Adding and reading questionnaire versions."""

    def add_questionnaire_version(
        self,
        questionnaire_id: str,
        version: str,
        source_text: str,
        *,
        now: dt.datetime | None = None,
    ) -> QuestionnaireVersion:
        """Store a questionnaire's source text once; the same text again returns the first row.

        Raises :class:`QuestionnaireVersionConflict` if that exact text was
        stored under a different questionnaire id or version label.
        """
        refuse_nul("questionnaire id", questionnaire_id)
        refuse_nul("questionnaire version", version)
        refuse_nul("questionnaire source text", source_text)
        content_hash = sha256_hex(source_text)
        existing = self._version_by_hash(content_hash)
        if existing is None:
            try:
                with self._transaction(write=True) as connection:
                    connection.execute(
                        questionnaire_versions.insert().values(
                            questionnaire_id=questionnaire_id,
                            version=version,
                            content_hash=content_hash,
                            source_text=source_text,
                            created_at=utc(now),
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # stored by a concurrent caller a moment ago; read theirs
            existing = self._version_by_hash(content_hash)
            assert existing is not None
        if (existing.questionnaire_id, existing.version) != (questionnaire_id, version):
            raise QuestionnaireVersionConflict(
                f"this source text is already stored as {existing.questionnaire_id!r} "
                f"version {existing.version!r}"
            )
        return existing

    def _version_by_hash(self, content_hash: str) -> QuestionnaireVersion | None:
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(questionnaire_versions).where(
                    questionnaire_versions.c.content_hash == content_hash
                )
            ).one_or_none()
        return None if row is None else QuestionnaireVersion(**row._asdict())

    def get_questionnaire_version(self, version_id: int) -> QuestionnaireVersion:
        """The questionnaire version with this id; LookupError if there is none."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(questionnaire_versions).where(questionnaire_versions.c.id == version_id)
            ).one_or_none()
        if row is None:
            raise LookupError(f"no questionnaire version {version_id}")
        return QuestionnaireVersion(**row._asdict())

    def list_questionnaire_versions(
        self, questionnaire_id: str | None = None
    ) -> list[QuestionnaireVersion]:
        """All stored versions (of one questionnaire, if given), oldest first."""
        if questionnaire_id is not None and NUL in questionnaire_id:
            return []  # no stored id holds one (see instrument.store.nul)
        stmt = sa.select(questionnaire_versions).order_by(questionnaire_versions.c.id)
        if questionnaire_id is not None:
            stmt = stmt.where(questionnaire_versions.c.questionnaire_id == questionnaire_id)
        with self._transaction() as connection:
            return [QuestionnaireVersion(**row._asdict()) for row in connection.execute(stmt)]

    def questionnaire_ids(self) -> list[str]:
        """The ids of every questionnaire with at least one stored version, sorted."""
        stmt = sa.select(questionnaire_versions.c.questionnaire_id).distinct()
        with self._transaction() as connection:
            return sorted(connection.scalars(stmt))
