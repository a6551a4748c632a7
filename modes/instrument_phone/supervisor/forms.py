"""The supervisor's forms (flask-wtf, as the rest of the app): what each change asks for.

Each change to a case (release, reassign, change of outcome) needs a reason,
because it alters what the study reports and the audit log must say why;
a missing reason is an error on the reason field, not a silent no-op. Each
change form also carries the case's version as the page showed it
(:meth:`~instrument.callqueue.CallQueue.case_version`), so a form sent
twice acts once (the store applies a change only at that version). The
filters of the read-only pages are GET forms without a CSRF token (they
change nothing and their URLs may be bookmarked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DateField, FloatField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from instrument.callqueue import TAKERS

try:  # WTForms 3.3 prefers choice objects to (value, label) tuples
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - WTForms < 3.3
    _Choice = None

__all__ = [
    "TAKER_CHOICES",
    "TAKER_WORDS",
    "CaseFilterForm",
    "OutcomeForm",
    "PeriodForm",
    "RatesForm",
    "ReassignForm",
    "ReleaseForm",
    "ZoneForm",
    "field_errors",
]

TAKER_WORDS = {"interviewer": "Interviewers", "automated": "The automated dialler"}
TAKER_CHOICES = tuple((taker, TAKER_WORDS[taker]) for taker in TAKERS)
"""Who may take a queued case (the call queue's ``TAKERS``, each with its words: a taker added
there without words here fails at import, not on a page)."""
REASON_MISSING = "Give a reason for this change: it is kept in the audit log"


def field_errors(fields: Iterable[Any]) -> list[tuple[str, str]]:
    """Each field's messages with its id, for the error summary's links to the fields."""
    return [(field.id, message) for field in fields for message in field.errors]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class _CaseChange(FlaskForm):
    """What every change to a case carries: the case's version as the page showed it, a reason."""

    # A form sent without a version gets "", which matches no version: it changes nothing.
    state = HiddenField(filters=[lambda value: value or ""])
    reason = TextAreaField(
        "Reason",
        description="Kept in the case's audit log with your name and the time.",
        validators=[DataRequired(REASON_MISSING), Length(max=1000)],
        filters=[_strip],
    )


class ReleaseForm(_CaseChange):
    """Free a case an interviewer holds (their open attempt is coded as abandoned)."""


class ReassignForm(_CaseChange):
    """Keep a case's next calling window for one interviewer."""

    interviewer = StringField(
        "Interviewer's username",
        validators=[DataRequired("Enter the username of the interviewer to give the case to")],
        filters=[_strip],
    )

    def __init__(self, *args: Any, may_take_cases: Callable[[str], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._may_take_cases = may_take_cases

    def validate_interviewer(self, field: StringField) -> None:
        """Only an account that works cases (the call-queue service says which) can be handed one."""
        if not self._may_take_cases(field.data or ""):
            raise ValidationError(
                f"{field.data} is not the username of an interviewer who can sign in"
            )


class OutcomeForm(_CaseChange):
    """Set a case's outcome by hand (choices: the study's outcome table)."""

    outcome = SelectField("New outcome", validators=[DataRequired("Choose the new outcome")])


class ZoneForm(FlaskForm):
    """The zone the supervisor reads times in (kept in their session)."""

    zone = SelectField("Show times in", validators=[DataRequired("Choose a time zone")])
    next = HiddenField()


class _Query(FlaskForm):
    class Meta:
        csrf = False


class PeriodForm(_Query):
    """The days, on the supervisor's clock, whose attempts the interviewer figures count."""

    first = DateField("From", validators=[Optional()])
    last = DateField("To (inclusive)", validators=[Optional()])

    def validate_last(self, field: DateField) -> None:
        if field.data and self.first.data and field.data < self.first.data:
            raise ValidationError("The last day must be the first day or later")

    def days(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The period asked for (today when nothing or nothing valid was given)."""
        first = self.first.data or self.last.data or today
        last = self.last.data or first
        return (first, last) if last >= first else (today, today)


class RatesForm(_Query):
    """Which study's rates, and an e the researcher gives instead of the usual estimate."""

    questionnaire = SelectField("Questionnaire", validators=[Optional()])
    e = FloatField(
        "e (the share of cases of unknown eligibility taken as eligible)",
        validators=[Optional(), NumberRange(0, 1, "Enter e as a number from 0 to 1")],
    )


class CaseFilterForm(_Query):
    """Which cases the overview lists: those of one outcome (a count's link) and of one taker.

    ``taken_by``: every case, only the interviewers' (taken through "next
    case") or only the automated dialler's; an unknown word is an error at
    the field (the page is answered 400 and lists every case).
    """

    outcome = HiddenField(filters=[lambda value: value or None])
    taken_by = SelectField(
        "Taken by",
        choices=[
            _Choice(value, label) if _Choice is not None else (value, label)
            for value, label in (("", "Anyone"), *TAKER_CHOICES)
        ],
        validators=[Optional()],
    )
