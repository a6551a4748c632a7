"""A case's page for its supervisor: where it stands, what happened, and three changes.

The supervisor may release a case an interviewer holds, keep it for another
interviewer, or set its outcome by hand. Each goes through the call-queue
service, which writes the audit log entry with the supervisor's name and
reason in the same transaction; the page shows that log, newest first, a page
of :data:`~instrument_phone.supervisor.reading.AUDIT_PAGE` entries at a time.

A change acts once however often its form is sent, and whichever server
process each copy reaches: the form carries the case's version as the page
showed it (:meth:`~instrument.callqueue.CallQueue.case_version`) and the
service has the store apply the change only while the case is still at that
version, in the change's own transaction (a version out of date raises
:class:`~instrument.callqueue.CaseChanged`; nothing is written and the page
says so). Valid forms are answered with a redirect (POST/redirect/GET), so a
refresh reloads the page rather than re-sending; a form with a problem is
shown again with the message at its field (422). The respondent's name and
numbers are never shown here: a number is named by its rank, as in the call
records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import abort, redirect, request, url_for
from flask_wtf import FlaskForm

from instrument.callqueue import CaseChanged, CaseSummary
from instrument_phone.supervisor.display import when
from instrument_phone.supervisor.forms import (
    OutcomeForm,
    ReassignForm,
    ReleaseForm,
    field_errors,
)
from instrument_phone.supervisor.reading import AUDIT_PAGE, audit_rows, case_row

if TYPE_CHECKING:
    from instrument_phone.supervisor.views import Supervisor

__all__ = ["CaseViews"]

STALE = (
    "Nothing was changed: the case changed since that page was shown (or the form was sent "
    "twice). Here it is as it stands now."
)


class CaseViews:
    """The case page and its three changes (see the module docstring)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.queue = supervisor.queue

    # -- the forms -----------------------------------------------------------------

    def _forms(self, case_id: str, questionnaire_id: str, *, posted: str | None) -> dict[str, Any]:
        """The page's three forms: the one ``posted`` reads the request, the others start empty
        and carry the case's version as it is now."""

        def data(name: str) -> dict[str, Any]:
            return {} if posted == name else {"formdata": None}

        forms: dict[str, Any] = {
            "release": ReleaseForm(prefix="release", **data("release")),
            "reassign": ReassignForm(
                prefix="reassign", may_take_cases=self.queue.may_take_cases, **data("reassign")
            ),
            "outcome": OutcomeForm(prefix="outcome", **data("outcome")),
        }
        table = self.queue.settings_for(questionnaire_id).dispositions
        forms["outcome"].outcome.choices = [("", "Choose an outcome")] + [
            (d.code, f"{d.label} (AAPOR {d.aapor})") for d in table.values()
        ]
        version = self.queue.case_version(case_id)
        for name, form in forms.items():
            if name != posted:
                form.state.data = version
        return forms

    def _case(self, case_id: str) -> CaseSummary:
        """The case as the service lists it; 404 when it is not in the call queue."""
        case = self.queue.case_summary(case_id)
        if case is None:
            abort(404)
        return case

    # -- the page --------------------------------------------------------------------

    def page(self, case_id: str) -> Any:
        case = self._case(case_id)
        forms = self._forms(case_id, case.questionnaire_id, posted=None)
        return self._show(case, forms)

    def _show(self, case: CaseSummary, forms: dict[str, Any], status: int = 200) -> Any:
        zone = self.supervisor.zone()
        case_id = case.case_id
        view = self.queue.case_view(case_id, viewer_zone=zone.key, now=self.supervisor.now())
        before = request.args.get("audit_before", type=int) if request.method == "GET" else None
        audit = self.queue.audit_log(case_id, before=before, limit=AUDIT_PAGE)
        errors = field_errors(field for form in forms.values() for field in form)
        title = f"Case {case_id}"
        return self.supervisor.render(
            "supervisor/case.html", status, here=url_for(".case", case_id=case_id),
            page_title=f"Error: {title}" if errors else title,
            row=case_row(self.queue, case, zone), view=view, forms=forms, errors=errors,
            audit=audit_rows(audit.entries, zone), audit_older=audit.older,
            audit_paged=before is not None,
        )  # fmt: skip

    # -- the changes -------------------------------------------------------------------

    def _change(self, case_id: str, name: str, apply: Callable[[FlaskForm], str]) -> Any:
        """Validate the posted form ``name``; act if the case is still at the form's version
        (the store decides, in the change's transaction); redirect."""
        case = self._case(case_id)
        forms = self._forms(case_id, case.questionnaire_id, posted=name)
        form = forms[name]
        if not form.validate():
            return self._show(case, forms, 422)
        try:
            self.supervisor.tell(apply(form))
        except CaseChanged:
            self.supervisor.tell(STALE)
        return redirect(url_for(".case", case_id=case_id), 303)

    def release(self, case_id: str) -> Any:
        def apply(form: FlaskForm) -> str:
            released = self.queue.release(
                case_id, actor=self.supervisor.me, reason=form.reason.data,
                now=self.supervisor.now(), expected=form.state.data,
            )  # fmt: skip
            if not released:
                return f"Case {case_id} was not held by anyone: nothing was released."
            return f"Case {case_id} was released; its open attempt was coded as abandoned."

        return self._change(case_id, "release", apply)

    def reassign(self, case_id: str) -> Any:
        def apply(form: FlaskForm) -> str:
            to = form.interviewer.data
            window = self.queue.reassign(
                case_id, to, actor=self.supervisor.me, reason=form.reason.data,
                now=self.supervisor.now(), expected=form.state.data,
            )  # fmt: skip
            if window is None:
                return (
                    f"Case {case_id} may not be called again (a final outcome, no attempts or "
                    "numbers left): it was not kept for anyone."
                )
            start = window.start.astimezone(self.supervisor.zone())
            return f"Case {case_id} is kept for {to}, from {when(start)}."

        return self._change(case_id, "reassign", apply)

    def change_outcome(self, case_id: str) -> Any:
        def apply(form: FlaskForm) -> str:
            code = form.outcome.data
            self.queue.change_outcome(
                case_id, code, reason=form.reason.data, actor=self.supervisor.me,
                now=self.supervisor.now(), expected=form.state.data,
            )  # fmt: skip
            label = dict(form.outcome.choices).get(code, code)
            return f"The outcome of case {case_id} is now {label}."

        return self._change(case_id, "outcome", apply)
