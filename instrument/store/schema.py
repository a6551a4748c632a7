"""The store's tables, written once with SQLAlchemy Core.

Why Core rather than the ORM: the store hands out frozen dataclasses, never
live ORM objects, so nothing above it can lazy-load after its transaction has
closed or write by accident through a dirty attribute. Its writes are a few
explicit statements inside one short transaction (lock, compare, insert,
update), which Core states plainly, and exports stream 100,000 interviews,
where skipping the ORM's identity map matters. The tables here are the
*target* of the Alembic migrations; a test checks that migrating an empty
database gives exactly these tables.

Naming: constraints get names from :data:`NAMING`, so migrations can refer to
them on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "FINISHED_STATUSES",
    "INTERVIEW_STATUSES",
    "status_for_outcome",
    "STAFF_ROLES",
    "UTCDateTime",
    "CONSENT_SCOPES",
    "CONTACT_KINDS",
    "MEMBER_STATUSES",
    "PANEL_MESSAGE_STATES",
    "access_tokens",
    "answer_events",
    "appointments",
    "attempts",
    "call_events",
    "calls",
    "case_queue",
    "cases",
    "consents",
    "contacts",
    "do_not_call",
    "fieldwork_audit",
    "idempotency_keys",
    "interviews",
    "IVR_DIRECTIONS",
    "ivr_calls",
    "ivr_turns",
    "member_contacts",
    "member_history",
    "members",
    "metadata",
    "panel_messages",
    "panel_secrets",
    "panels",
    "personal_answers",
    "phone_numbers",
    "questionnaire_versions",
    "recording_deletions",
    "sms_interview_attempts",
    "staff_audit",
    "staff_sessions",
    "staff_users",
    "wave_members",
    "wave_subgroups",
    "waves",
]

INTERVIEW_STATUSES: Final = ("active", "complete", "screened_out", "abandoned", "withdrawn")
"""Every status an interview can have; a CHECK constraint holds the database to it."""

FINISHED_STATUSES: Final = frozenset({"complete", "screened_out", "abandoned", "withdrawn"})

_STATUS_OF_OUTCOME: Final = {
    "complete": "complete",
    "screened_out": "screened_out",
    "partial": "abandoned",
}


def status_for_outcome(outcome: str | None) -> str:
    """The interview status for an engine outcome: unfinished is ``active``, a break-off ``abandoned``."""
    if outcome is None:
        return "active"
    return _STATUS_OF_OUTCOME.get(outcome, "complete")


"""Statuses that set ``finished_at``."""

STAFF_ROLES: Final = ("researcher", "admin", "interviewer", "supervisor")

NAMING: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value
    is converted to UTC and stored without an offset, then read back as UTC.
    A naive datetime is refused: guessing its zone is how timestamps go wrong.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware times")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(naming_convention=NAMING)

questionnaire_versions = sa.Table(
    "questionnaire_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("questionnaire_id", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("source_text", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

interviews = sa.Table(
    "interviews",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "questionnaire_version_id",
        sa.Integer,
        sa.ForeignKey("questionnaire_versions.id"),
        nullable=False,
    ),
    sa.Column("case_id", sa.String(100), nullable=True, index=True),
    sa.Column("mode", sa.String(50), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("is_test", sa.Boolean, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # The seq of the interview's newest event (0: none yet). A save raises it by
    # the number of events in the same UPDATE that moves the revision on, so it
    # numbers its events without a ``SELECT max(seq)``. Internal: not part of
    # InterviewRecord.
    sa.Column("last_seq", sa.Integer, nullable=False, server_default=sa.text("0")),
    # The dataset row the state gives, coded when it was saved (see
    # instrument.dataset.rows); NULL when the saver supplied none. A cache:
    # every save replaces it, so it is never older than the state.
    sa.Column("export_row", sa.Text, nullable=True),
    # The variable of the newest ``answer`` event (NULL: none yet), written by every save in
    # the same UPDATE as ``last_seq``: the wave dashboard's break-offs read where each stopped
    # interview stopped from the row instead of the answer log (migration 0024_dashboard_reads).
    # Internal: not part of InterviewRecord.
    sa.Column("last_answered", sa.String(200), nullable=True),
    sa.CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in INTERVIEW_STATUSES) + ")", name="status"
    ),
    sa.CheckConstraint("revision >= 0", name="revision"),
    sa.Index("ix_interviews_version_status", "questionnaire_version_id", "status"),
)

answer_events = sa.Table(
    "answer_events",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column(
        "interview_id",
        sa.String(36),
        sa.ForeignKey("interviews.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("variable", sa.String(200), nullable=True),
    sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("mode", sa.String(50), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("interview_id", "seq"),
)
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column(
        "interview_id",
        sa.String(36),
        sa.ForeignKey("interviews.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("first_seq", sa.Integer, nullable=True),
    sa.Column("event_count", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("interview_id", "key"),
)

staff_users = sa.Table(
    "staff_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(150), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=True),  # IANA name; null: the study's default
    sa.CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in STAFF_ROLES) + ")", name="role"),
)

access_tokens = sa.Table(
    "access_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "interview_id",
        sa.String(36),
        sa.ForeignKey("interviews.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("case_id", sa.String(100), nullable=True, index=True),
    sa.Column("questionnaire_id", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(30), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("used_at", UTCDateTime, nullable=True),
)

# Personal data. Keyed only by the pseudonymous case id and never joined into
# answers or exports; see docs/store.md.
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("case_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("phone", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Answers to questions marked ``identifying`` (a roster's first names, an email
# typed in the interview): personal data, kept out of ``interviews.state`` and
# ``answer_events`` so that nothing an export reads holds them. Read back into
# the state by the interview service for fills; deleted by withdrawal. Added by
# migration 0006_personal_answers.
personal_answers = sa.Table(
    "personal_answers",
    metadata,
    sa.Column(
        "interview_id",
        sa.String(36),
        sa.ForeignKey("interviews.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("variable", sa.String(200), primary_key=True),
    sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The case a personal link belongs to, with the values of the questionnaire's
# ``preload:`` variables. Pseudonymous: personal data stay in ``contacts``.
# Withdrawal empties ``preload``. Added by migration 0004_cases_sessions.
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("questionnaire_id", sa.String(200), nullable=False),
    sa.Column("preload", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # When the case was withdrawn (migration 0005): it is never imported, started or linked again.
    sa.Column("withdrawn_at", UTCDateTime, nullable=True),
)

# Signed-in staff: one row per sign-in, so that signing out (or a password
# change, or disabling the account) ends the session on the server and a copied
# cookie opens nothing. ``id`` is the SHA-256 of the session id the cookie
# holds; the id itself is never stored. Added by migration 0004_cases_sessions.
staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
)


# ---------------------------------------------------------------- fieldwork (telephone)
# Added by migration 0007_fieldwork; the Store side is instrument/store/fieldwork_*.py.
# Numbers and names are personal data: they live only in ``phone_numbers``,
# ``do_not_call`` and ``contacts``; every other table names a number by its rank.

APPOINTMENT_KINDS: Final = ("hard", "soft")
WINDOW_KINDS: Final = ("hard", "soft", "normal")

TAKEN_BY: Final = ("interviewer", "automated")
"""Who may take a queued case (``case_queue.taken_by``): interviewers, the default, or the
automated dialler. Each claim takes only its own kind of case."""

# Personal: a case's numbers in priority order (rank 1 is dialled first).
phone_numbers = sa.Table(
    "phone_numbers",
    metadata,
    sa.Column("case_id", sa.String(100), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("e164", sa.String(20), nullable=False, index=True),
    sa.Column("working", sa.Boolean, nullable=False),
)

# One row per case fielded by phone: where it stands and when it may be called next.
case_queue = sa.Table(
    "case_queue",
    metadata,
    sa.Column(
        "case_id", sa.String(100), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("language", sa.String(35), nullable=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("disposition", sa.String(50), nullable=True),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=True),
    sa.Column("window_end", UTCDateTime, nullable=True),
    sa.Column("window_kind", sa.String(10), nullable=True),
    sa.Column("window_interviewer", sa.String(150), nullable=True),
    sa.Column("held_by", sa.String(150), nullable=True),
    sa.Column("held_since", UTCDateTime, nullable=True),
    # The open attempt of the hold (added beside the contract's columns: releasing
    # a hold codes exactly that attempt).
    sa.Column("held_attempt_id", BigID, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Who may take the case (migration 0018): interviewers through "next case", or the
    # automated dialler (a wave's automated_call step, `instrument cases import --automated`).
    sa.Column("taken_by", sa.String(20), nullable=False, server_default=TAKEN_BY[0]),
    # What a wave's automated_call step allows the dialler (NULL: the calling rules alone):
    # calls it may still place, the least time between two, and when the next may start.
    sa.Column("automated_calls_left", sa.Integer, nullable=True),
    sa.Column("automated_spacing_s", sa.Integer, nullable=True),
    sa.Column("automated_not_before", UTCDateTime, nullable=True),
    sa.CheckConstraint(
        "window_kind IS NULL OR window_kind IN (" + ", ".join(f"'{k}'" for k in WINDOW_KINDS) + ")",
        name="window_kind",
    ),
    sa.CheckConstraint(
        "taken_by IN (" + ", ".join(f"'{k}'" for k in TAKEN_BY) + ")", name="taken_by"
    ),
)

QUEUE_KIND_ORDER = sa.case(
    (case_queue.c.window_kind == sa.literal_column("'hard'"), sa.literal_column("0")),
    (case_queue.c.window_kind == sa.literal_column("'soft'"), sa.literal_column("1")),
    else_=sa.literal_column("2"),
)
"""Due hard appointments first, then soft ones, then the rest. Written with literals, not bound
parameters, so that "next case" spells it exactly as the index below does and the planner uses
the index (PostgreSQL and SQLite both match an indexed expression by its text)."""

QUEUE_ORDER = (
    QUEUE_KIND_ORDER,
    case_queue.c.priority.desc(),
    case_queue.c.window_start,
    case_queue.c.case_id,
)
"""The order "next case" hands cases out in: appointments, priority, the earliest window."""

_FREE = sa.and_(case_queue.c.final.is_(False), case_queue.c.held_by.is_(None))

# "Next case" walks the free cases in queue order and takes the first callable one it can
# lock: with this index that is a walk down a b-tree that stops at the first hit, not a sort
# of the whole sample on every press. The claim names who is taking (taken_by = one value),
# so the walk is within that value's cases, still in queue order.
sa.Index(
    "ix_case_queue_order",
    case_queue.c.taken_by,
    *QUEUE_ORDER,
    postgresql_where=_FREE,
    sqlite_where=_FREE,
)
# Held cases (about one per interviewer at work): an interviewer's own hold, the stale ones.
sa.Index(
    "ix_case_queue_held",
    case_queue.c.held_by,
    postgresql_where=case_queue.c.held_by.is_not(None),
    sqlite_where=case_queue.c.held_by.is_not(None),
)
ENDED_INDEX_FENCE = case_queue.c.attempts >= sa.literal_column("0")
"""True of every row. It is part of ``ix_case_queue_ended``'s condition and of the query that
reads ended windows, and of no other query, so no other query can use that index: given its
``window_end``, both planners took it for "next case" whenever their statistics were older than
the windows (right after an import, or the morning after), and sorted every callable case on
each press instead of walking ``ix_case_queue_order`` to the first one."""

_ENDED = sa.and_(_FREE, ENDED_INDEX_FENCE)

# Free cases whose window has ended (or was never set), for the window renewals.
sa.Index(
    "ix_case_queue_ended",
    case_queue.c.window_end,
    case_queue.c.case_id,
    postgresql_where=_ENDED,
    sqlite_where=_ENDED,
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("case_id", sa.String(100), sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("interviewer", sa.String(150), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("disposition", sa.String(50), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("attempt_id", BigID, sa.ForeignKey("attempts.id"), nullable=False, index=True),
    sa.Column("case_id", sa.String(100), sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("number_rank", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("provider_sid", sa.String(64), nullable=True, unique=True),
    sa.Column("placed_at", UTCDateTime, nullable=False),
    sa.Column("answered_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("duration_s", sa.Integer, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("answered_by", sa.String(30), nullable=True),
    sa.Column("recording", sa.Boolean, nullable=True),
    # When the consent was keyed, and Twilio's recording (RE...) after a yes (0008_call_recording).
    sa.Column("recording_at", UTCDateTime, nullable=True),
    sa.Column("recording_sid", sa.String(64), nullable=True),
    # The recording a yes asked for, as far as it got (0011_recording_status): "starting"
    # while our request to start it is out, "failed" with why when the provider would not
    # start it, then the provider's own callbacks: in-progress, completed, absent or failed.
    # Its length and the provider's URL of it are references only: nothing is downloaded.
    sa.Column("recording_status", sa.String(20), nullable=True),
    sa.Column("recording_error", sa.String(300), nullable=True),
    sa.Column("recording_changed_at", UTCDateTime, nullable=True),
    sa.Column("recording_duration_s", sa.Integer, nullable=True),
    sa.Column("recording_url", sa.String(300), nullable=True),
)

# Each provider callback once (Twilio retries and reorders them). No numbers in ``payload``.
call_events = sa.Table(
    "call_events",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("provider_sid", sa.String(64), nullable=False, index=True),
    sa.Column("event_key", sa.String(200), nullable=False, unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", UTCDateTime, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    # Our call the callback is about (from its URL), for every leg: a respondent's leg has a
    # sid nothing knew in advance, so it is found by this (0011_recording_status).
    sa.Column("call_id", BigID, nullable=True, index=True),
)

appointments = sa.Table(
    "appointments",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("case_id", sa.String(100), sa.ForeignKey("cases.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("at", UTCDateTime, nullable=True),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("part", sa.String(30), nullable=True),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("interviewer", sa.String(150), nullable=True),
    sa.Column("made_by", sa.String(150), nullable=False),
    sa.Column("made_at", UTCDateTime, nullable=False),
    sa.Column("cancelled_at", UTCDateTime, nullable=True),
    # The attempt whose coding booked it (added beside the contract's columns).
    sa.Column("attempt_id", BigID, nullable=True),
    sa.CheckConstraint(
        "kind IN (" + ", ".join(f"'{k}'" for k in APPOINTMENT_KINDS) + ")", name="kind"
    ),
)

# Personal: numbers never to be dialled, whoever's case they belong to.
do_not_call = sa.Table(
    "do_not_call",
    metadata,
    sa.Column("e164", sa.String(20), primary_key=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.Column("added_by", sa.String(150), nullable=False),
)

fieldwork_audit = sa.Table(
    "fieldwork_audit",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("case_id", sa.String(100), nullable=True, index=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)


# ---------------------------------------------------------------- panel members (issue 13)
# Added by migration 0012_panel_members; the Store side is instrument/store/panel_members.py,
# the encryption instrument/panel/crypto.py. A member is known to everything outside these
# tables by a random ``pseudonym``; the ``external_id`` is the panel's own reference (the
# recruitment file's), and contact details are only ever stored encrypted, in
# ``member_contacts``, which nothing joins into answers, datasets or exports.

MEMBER_STATUSES: Final = ("active", "paused", "withdrawn", "ineligible", "deceased")
CONTACT_KINDS: Final = ("email", "phone", "address", "name")
CONSENT_SCOPES: Final = ("membership", "wave", "recontact", "data_linkage", "recording")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


panels = sa.Table(
    "panels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("panel_id", sa.Integer, sa.ForeignKey("panels.id"), nullable=False),
    sa.Column("external_id", sa.String(100), nullable=False),
    # Random ('P' and ten characters of an unambiguous alphabet), never derived from the
    # external id, the same in every wave: what answers and exports may carry.
    sa.Column("pseudonym", sa.String(20), nullable=False, unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("language", sa.String(35), nullable=True),
    sa.Column("preferred_mode", sa.String(50), nullable=True),
    # Profile variables as the file gave them (text; None: the panel does not know it).
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("panel_id", "external_id"),
    sa.CheckConstraint(_one_of("status", MEMBER_STATUSES), name="status"),
)

# What happened to a member's record: added, changed (before and after of what changed),
# contact details viewed, a bounce or an opt-out. Contact details appear only as
# fingerprints (kind, rank and the start of the lookup hash), never in clear.
member_history = sa.Table(
    "member_history",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("member_id", BigID, sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("action", sa.String(30), nullable=False),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
)

# Personal: a member's contact details, each encrypted (a Fernet token), with a keyed
# HMAC of its normalised value so that a bounce or an SMS STOP finds the member
# without decrypting every row.
member_contacts = sa.Table(
    "member_contacts",
    metadata,
    sa.Column(
        "member_id", BigID, sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("lookup_hash", sa.String(64), nullable=False, index=True),
    sa.Column("bounced_at", UTCDateTime, nullable=True),
    sa.Column("opted_out_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("kind", CONTACT_KINDS), name="kind"),
    sa.CheckConstraint("rank >= 1", name="rank"),
)

# Consent records, appended, never changed: what was consented to (a wave's consent
# names the wave), on which version of the information sheet, when, in which mode.
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("member_id", BigID, sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("wave", sa.String(100), nullable=True),
    sa.Column("sheet_version", sa.String(50), nullable=False),
    sa.Column("given", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("mode", sa.String(30), nullable=False),
    sa.Column("recorded_by", sa.String(150), nullable=False),
    sa.CheckConstraint(_one_of("scope", CONSENT_SCOPES), name="scope"),
    sa.CheckConstraint("(scope = 'wave') = (wave IS NOT NULL)", name="wave"),
)

# Secrets of the panel's own, each encrypted with the panel keys: the HMAC key of the
# contacts' lookup hashes ('contact_lookup'), random, made on first use. Kept here rather
# than derived from a panel key, so that rotating the keys (and later dropping old ones)
# never changes a lookup hash.
panel_secrets = sa.Table(
    "panel_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


# ---------------------------------------------------------------- the staff audit log (issue 13)
# Added by migration 0013_staff_audit; the Store side is instrument/store/staff_audit.py.
# What staff did that touched personal data or data: who saw a member's contact details,
# exported what, withdrew whom, imported or purged members. ``subject`` names what was
# touched by a pseudonymous id (a member's pseudonym, a questionnaire id), ``detail`` holds
# counts and options, never a name, address or answer. The migration adds triggers (SQLite
# and PostgreSQL) that refuse every UPDATE and DELETE of this table and of
# ``fieldwork_audit``: the logs are appended to, never edited, by anyone with the app's
# database login.
staff_audit = sa.Table(
    "staff_audit",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(150), nullable=False),
    sa.Column("action", sa.String(50), nullable=False, index=True),
    sa.Column("subject", sa.String(200), nullable=True, index=True),
    sa.Column("detail", sa.JSON, nullable=True),
)


# ---------------------------------------------------------------- panel waves (issue 13)
# Added by migration 0014_panel_waves; the Store side is instrument/store/panel_waves.py,
# the worker instrument/panel/worker.py. A wave opened from its file (``waves``) gives each
# eligible member one case of its own (``wave_members``), known everywhere else by that
# pseudonymous case id; ``panel_messages`` records every message and action carried out.
# None of them holds a contact detail: a message names its address by kind and rank.

PANEL_MESSAGE_STATES: Final = (
    "sending",
    "queued",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "unknown",
    "done",
)
"""Where a message (or an action) stands. ``sending`` is written and committed before the
channel is called, so a crash leaves it there, and nothing is sent again for it; ``done``
is an action that sends nothing (a move to the phone, a close, an incentive)."""

waves = sa.Table(
    "waves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("panel_id", sa.Integer, sa.ForeignKey("panels.id"), nullable=False),
    # The file's ``wave:`` (w1): unique in its panel, so a wave is opened once.
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("label", sa.String(300), nullable=False),
    sa.Column("questionnaire_id", sa.String(200), nullable=False),
    sa.Column(
        "questionnaire_version_id",
        sa.Integer,
        sa.ForeignKey("questionnaire_versions.id"),
        nullable=False,
    ),
    # The wave file as opened and its SHA-256: the worker reads the wave from here, so a
    # file edited after opening changes nothing behind the researcher's back.
    sa.Column("file_digest", sa.String(64), nullable=False),
    sa.Column("source_text", sa.Text, nullable=False),
    sa.Column("source_path", sa.Text, nullable=True),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("closes_at", UTCDateTime, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("opened_by", sa.String(150), nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("closed_by", sa.String(150), nullable=True),
    sa.UniqueConstraint("panel_id", "key"),
)

# One row per member in a wave. ``next_due`` is when the contact plan next has something
# for the member (None: nothing ever will); the worker finds due work through its index
# instead of reading every member. A worker holds a member while it carries out what is
# due (``claimed_by`` until ``claimed_until``); a lapsed claim is anyone's again.
wave_members = sa.Table(
    "wave_members",
    metadata,
    sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), primary_key=True),
    sa.Column("member_id", BigID, sa.ForeignKey("members.id"), primary_key=True),
    # A fresh pseudonymous id, never the member's external id nor their pseudonym.
    sa.Column("case_id", sa.String(100), sa.ForeignKey("cases.id"), nullable=False, unique=True),
    sa.Column("eligible", sa.Boolean, nullable=False),
    sa.Column("next_due", UTCDateTime, nullable=True, index=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    # Copied from the case's interview by the worker (the interview is the truth).
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("moved_to_phone_at", UTCDateTime, nullable=True),
    # Contact stopped for this wave (the member's unsubscribe link, a staff action).
    sa.Column("stopped_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The case's facts for the dashboard and the wave's dataset, kept by triggers on the
    # tables they come from (migration 0017_wave_case_facts says what each one is).
    sa.Column("iv_stage", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("iv_withdrawn", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("iv_completes", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("complete_mode", sa.String(50), nullable=True),
    sa.Column("complete_started_at", UTCDateTime, nullable=True),
    sa.Column("complete_finished_at", UTCDateTime, nullable=True),
    sa.Column("iv_stoppable", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("invitation_reach", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("handed_steps", sa.Text, nullable=False, server_default=""),
    sa.Column("link_opened", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("phone_disposition", sa.String(50), nullable=True),
    # The member's withdrawal and values of the wave's subgroup variables (migration
    # 0020_dashboard_facts), kept by triggers so the dashboard need not read ``members``.
    sa.Column("member_withdrawn", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("profile_values", sa.Text, nullable=True),
)
# The cases whose facts say an interview may have broken off: the break-off figure's start.
sa.Index(
    "ix_wave_members_stoppable",
    wave_members.c.wave_id,
    postgresql_where=wave_members.c.iv_stoppable > 0,
    sqlite_where=wave_members.c.iv_stoppable > 0,
)

# The profile variables a wave's dashboard counts subgroups by (a JSON list of names),
# written on its first read; writing it works out ``wave_members.profile_values``.
wave_subgroups = sa.Table(
    "wave_subgroups",
    metadata,
    sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), primary_key=True),
    sa.Column("variables", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Every message sent (or being sent) and every action carried out, once: the idempotency
# key (wave, case, step, channel) is unique, so two workers that both find a step due
# cannot both record it, and only the one that recorded it sends it. Channels send the key
# along (the email's Message-ID, the SMS status callback), so a delivery report finds it.
panel_messages = sa.Table(
    "panel_messages",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("wave_id", sa.Integer, sa.ForeignKey("waves.id"), nullable=False),
    sa.Column("member_id", BigID, sa.ForeignKey("members.id"), nullable=False),
    sa.Column("case_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("step", sa.String(50), nullable=False),
    sa.Column("channel", sa.String(50), nullable=True),
    sa.Column("template", sa.String(100), nullable=True),
    sa.Column("language", sa.String(35), nullable=True),
    # Which of the member's details it went to (member_contacts' kind and rank), never the detail.
    sa.Column("contact_kind", sa.String(10), nullable=True),
    sa.Column("contact_rank", sa.Integer, nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("provider_id", sa.String(200), nullable=True, index=True),
    sa.Column("error", sa.Text, nullable=True),
    # What an action did beyond its kind (an incentive's kind and value); never personal data.
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_one_of("state", PANEL_MESSAGE_STATES), name="state"),
    sa.Index("ix_panel_messages_member", "wave_id", "member_id"),
    # Rate limits count a channel's messages of the last minute (or second) from here.
    sa.Index("ix_panel_messages_channel_created", "wave_id", "channel", "created_at"),
    # The dashboard's reach of invitations per member, read from the index alone (0015).
    sa.Index("ix_panel_messages_kind_member", "wave_id", "kind", "member_id", "state"),
)


# ---------------------------------------------------------------- automated calls (issue 14)
# Added by migration 0016_ivr_calls; the Store side is instrument/store/ivr_calls.py.
# No phone numbers: a call is its provider's sid; the caller's number is never stored here.

IVR_DIRECTIONS: Final = ("inbound", "outbound")

# One row per automated call: which interview it runs and where its flow stands
# (instrument.ivr.flow.FlowState as JSON), and the number of the last webhook turn answered.
ivr_calls = sa.Table(
    "ivr_calls",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column(
        "interview_id",
        sa.String(36),
        sa.ForeignKey("interviews.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("case_id", sa.String(100), nullable=True, index=True),
    sa.Column("attempt_id", BigID, nullable=True),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("state", sa.JSON, nullable=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("code_failures", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(_one_of("direction", IVR_DIRECTIONS), name="direction"),
)

# One row per webhook turn answered, with the TwiML it was answered with: a retried or
# duplicated request (same call, same turn number) is answered with the same bytes.
ivr_turns = sa.Table(
    "ivr_turns",
    metadata,
    sa.Column(
        "call_sid",
        sa.String(64),
        sa.ForeignKey("ivr_calls.call_sid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("twiml", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

RECORDING_DELETION_STATES: Final = ("pending", "done")
RECORDING_SOURCES: Final = ("call", "answer")
"""Where a recording to delete came from: an interviewer's call (``calls.recording_sid``) or a
recorded answer (``recording:<sid>``, instrument.ivr.recording)."""
RECORDING_OUTCOMES: Final = ("deleted", "gone")

# Recordings to delete at the telephony provider that holds them (migration 0019): written in
# the transaction of the withdrawal that deleted what they belong to, and worked off by the
# fieldwork worker through the provider's plugin. The recording's id, never its URL; why (the
# reason, the pseudonymous case and interview) and when; each try, and how it ended.
recording_deletions = sa.Table(
    "recording_deletions",
    metadata,
    sa.Column("id", BigID, primary_key=True),
    sa.Column("provider", sa.String(20), nullable=False),
    sa.Column("recording_sid", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.String(10), nullable=False),
    sa.Column("reason", sa.String(30), nullable=False),
    sa.Column("case_id", sa.String(100), nullable=True, index=True),
    sa.Column("interview_id", sa.String(36), nullable=True),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("tries", sa.Integer, nullable=False),
    sa.Column("next_try_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(150), nullable=True),
    sa.Column("last_tried_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.String(300), nullable=True),
    sa.Column("outcome", sa.String(10), nullable=True),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(_one_of("state", RECORDING_DELETION_STATES), name="state"),
    sa.CheckConstraint(_one_of("source", RECORDING_SOURCES), name="source"),
    sa.CheckConstraint(
        "outcome IS NULL OR " + _one_of("outcome", RECORDING_OUTCOMES), name="outcome"
    ),
)
_PENDING_DELETION = recording_deletions.c.state == "pending"
# The worker's claim: the pending deletions whose next try has come, soonest first.
sa.Index(
    "ix_recording_deletions_due",
    recording_deletions.c.next_try_at,
    postgresql_where=_PENDING_DELETION,
    sqlite_where=_PENDING_DELETION,
)


# ---------------------------------------------------------------- first texts (issue 14)
# Added by migration 0026_sms_interview_attempts; the Store side is
# instrument/store/sms_attempts.py. An outbox of the first text of an interview by text (a
# wave's sms_interview step, instrument sms start): written 'to_send' in the transaction that
# stores the conversation's turn, so a worker that stops before the channel has it leaves a
# row saying the member never got it. No number: the conversation is its hashed sid, the text
# is its turn's TwiML; the row goes with the turn (a withdrawal deletes the conversation).

FIRST_TEXT_STATES: Final = ("to_send", "sent", "failed", "refused", "unknown")
"""Where a first text stands: ``to_send`` (recorded, not yet answered by the channel: being
handed over, or its worker stopped), ``sent`` (the channel took it), ``failed`` (for a reason
that may pass), ``refused`` (for good: the number), ``unknown`` (the channel raised)."""

sms_interview_attempts = sa.Table(
    "sms_interview_attempts",
    metadata,
    sa.Column("call_sid", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.String(100), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("provider_id", sa.String(64), nullable=True),
    sa.Column("error", sa.String(300), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.ForeignKeyConstraint(
        ["call_sid", "seq"], ["ivr_turns.call_sid", "ivr_turns.seq"], ondelete="CASCADE"
    ),
    sa.CheckConstraint(_one_of("state", FIRST_TEXT_STATES), name="state"),
)
