"""Panel members in the staff area: find one, see their record, show contact details, withdraw.

``/staff/panel/members`` finds a member by external id or pseudonym (an exact
match: the page never lists members, so nobody pages through them), a GET whose
address can be bookmarked; supervisors and admins may also find one by an email
address, a phone number or a full name, through a POST that puts the detail in
no address or log (:mod:`instrument.server.panel_member_search` says how and why);
``/staff/panel/members/<pseudonym>`` is the member's record: status, language,
mode, profile, consents, waves with their cases, the messages sent, the
withdrawal in force and the history. Supervisors, researchers and admins may
read it; interviewers get 403 (they see a member's number only through the
call queue).

Contact details stay hidden until a supervisor or an admin, the roles that
contact people, presses "Show contact details" (a POST with its CSRF token):
the details are read by :meth:`~instrument.store.panel_members.PanelMembers.view_member_contacts`,
which writes the ``contacts_viewed`` audit entry in the same transaction, and
decrypted with the panel keys of the environment (``INSTRUMENT_PANEL_KEYS`` or
the key file, as the stop link's page reads them), proved against the database
first, so nothing is recorded as seen that could not be shown. The response is
never cached.

Supervisors and admins may withdraw a member for them (the member phoned, wrote):
one of the three choices stronger than what is in force, with a reason kept as
evidence; deleting contact details or answers asks first, saying what will be
deleted, counted. :meth:`~instrument.store.panel_withdrawal.PanelWithdrawals.withdraw_member`
does it in one transaction with its history and audit entries; then the browser
is sent to the result page, which reads the history, so pressing the button
twice shows the same result and writes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from instrument.server.host import Host
from instrument.server.panel_member_search import add_member_search_views
from instrument.server.staff import staff_required
from instrument.store import Store
from instrument.store.panel_members import HistoryEntry, MemberRecord, StoredContact
from instrument.store.panel_withdrawal import (
    HISTORY_WITHDRAWAL,
    WITHDRAWAL_CHOICES,
    FoundMember,
)

__all__ = [
    "CHOICES",
    "CONTACT_READERS",
    "MEMBER_READERS",
    "REASON_MAX",
    "WITHDRAWERS",
    "add_panel_member_views",
]

MEMBER_READERS: Final = ("admin", "supervisor", "researcher")
"""The staff roles that may find a member and read their record (without contact details)."""

CONTACT_READERS: Final = ("admin", "supervisor")
"""The roles that contact people, so may see a member's contact details (each time audited)."""

WITHDRAWERS: Final = ("admin", "supervisor")
"""The roles that may withdraw a member on their behalf."""

REASON_MAX: Final = 500
"""The longest reason kept with a withdrawal (a sentence or two of evidence, not a file)."""

CHOICES: Final[Mapping[str, tuple[str, str]]] = {
    "stop_contact": (
        "Stop contact",
        "No more invitations, reminders or calls in any wave, and out of the telephone queue. "
        "Contact details and answers are kept.",
    ),
    "delete_contacts": (
        "Stop contact and delete contact details",
        "Also deletes their name, email addresses, phone numbers and postal address, and each "
        "wave case's copies of them. Answers are kept.",
    ),
    "delete_all": (
        "Stop contact, delete contact details and answers",
        "Also deletes every answer they gave in every wave; exports leave them out.",
    ),
}
"""Each withdrawal choice's label and what it does, as staff read them."""

_DONE: Final = {
    "stop_contact": "Contact stopped",
    "delete_contacts": "Contact stopped and contact details deleted",
    "delete_all": "Contact stopped, contact details and answers deleted",
}

_KINDS: Final = {"name": "Name", "email": "Email", "phone": "Phone", "address": "Postal address"}


def _rank(choice: str | None) -> int:
    return -1 if choice is None else WITHDRAWAL_CHOICES.index(choice)


@dataclass
class WithdrawalForm:
    """What was entered in the withdrawal form, and what is wrong with it (by field)."""

    choice: str = ""
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, form: Mapping[str, str]) -> WithdrawalForm:
        """Read and check the form.

        A choice already in force is not an error: a second press of the button
        (or a page left open) is shown the result in force.
        """
        entered = cls(choice=form.get("choice", ""), reason=form.get("reason", "").strip())
        if entered.choice not in WITHDRAWAL_CHOICES:
            entered.errors["choice"] = "Choose what the member asked for"
        if not entered.reason:
            entered.errors["reason"] = (
                "Write how the member asked, for the record (for example: phoned the helpline "
                "on 3 May)"
            )
        elif len(entered.reason) > REASON_MAX:
            entered.errors["reason"] = (
                f"The reason is {len(entered.reason)} characters long: shorten it to "
                f"{REASON_MAX} or fewer"
            )
        elif "\x00" in entered.reason:
            entered.errors["reason"] = "The reason contains a NUL character: type it again"
        return entered


@dataclass(frozen=True)
class ShownContact:
    """A contact detail as a person is shown it: decrypted, with what fieldwork learnt of it."""

    kind: str
    rank: int
    lines: tuple[str, ...]
    marks: tuple[str, ...]


def _offered(in_force: tuple[str, Any] | None) -> tuple[str, ...]:
    """The choices stronger than the one in force (a withdrawal never goes back)."""
    floor = _rank(in_force[0]) if in_force is not None else -1
    return tuple(c for c in WITHDRAWAL_CHOICES if _rank(c) > floor)


def _panel_sealer(store: Store, now: Any) -> Any:
    """The panel's sealer from the environment's keys, proved against the database.

    :raises PanelKeyError: no keys, or keys that do not open this database.
    """
    from instrument.panel import crypto  # loaded when details are first needed

    keys = crypto.PanelKeys.from_environment()
    return crypto.open_sealer(
        keys,
        store.panel_secret(
            crypto.LOOKUP_SECRET, create=lambda: crypto.new_lookup_secret(keys), now=now
        ),
    )


def _open_contacts(store: Store, member: MemberRecord, actor: str, now: Any) -> Any:
    """The member's contact details decrypted, their viewing audited; or why they cannot be.

    The keys are read and proved against the database before the details are
    read, so the audit log never says someone saw what the server could not open.
    """
    from instrument.panel import crypto

    try:
        sealer = _panel_sealer(store, now)
        opened = store.view_member_contacts(member.id, actor=actor, now=now)
        return tuple(_shown(c, sealer.open(c.ciphertext)) for c in opened)
    except crypto.PanelKeyError as exc:
        return f"Contact details cannot be shown on this server: {exc}"


def _shown(contact: StoredContact, value: str) -> ShownContact:
    marks = tuple(
        f"{what} {at:%Y-%m-%d}"
        for what, at in (("bounced", contact.bounced_at), ("opted out", contact.opted_out_at))
        if at is not None
    )
    return ShownContact(
        _KINDS.get(contact.kind, contact.kind), contact.rank, tuple(value.split("\n")), marks
    )


def _withdrawal_entry(history: tuple[HistoryEntry, ...], choice: str) -> HistoryEntry | None:
    """The history entry that made ``choice`` the one in force (the newest asking for it)."""
    for entry in reversed(history):
        if entry.action == HISTORY_WITHDRAWAL and (entry.after or {}).get("choice") == choice:
            return entry
    return None


def add_panel_member_views(bp: Blueprint, host: Host) -> None:
    """``/staff/panel/members`` (find), ``/staff/panel/members/<pseudonym>`` and its actions."""

    def member_of(pseudonym: str) -> FoundMember:
        found = [f for f in host.store.find_members(pseudonym) if f.member.pseudonym == pseudonym]
        if not found:
            abort(404)
        return found[0]

    def member_page(
        found: FoundMember,
        *,
        form: WithdrawalForm | None = None,
        contacts: tuple[ShownContact, ...] | None = None,
        contacts_error: str | None = None,
        status: int = 200,
    ) -> Any:
        store, member = host.store, found.member
        in_force = store.withdrawal_in_force(member.id)
        form = form or WithdrawalForm()
        stored = store.member_contacts(member.id) if contacts is None else ()
        kinds: dict[str, int] = {}
        for contact in stored:
            label = _KINDS.get(contact.kind, contact.kind)
            kinds[label] = kinds.get(label, 0) + 1
        body = render_template(
            "instrument/staff/panel_member.html",
            page_title=("Error: " if form.errors else "") + f"Panel member {member.pseudonym}",
            found=found,
            member=member,
            consents=store.consents_of(member.id),
            waves=store.member_waves(member.id),
            messages=store.member_messages(member.id),
            history=store.member_history(member.id),
            in_force=in_force,
            offered=_offered(in_force),
            choices=CHOICES,
            done=_DONE,
            form=form,
            contacts=contacts,
            contacts_error=contacts_error,
            stored_kinds=kinds,
            may_see_contacts=g.staff.role in CONTACT_READERS,
            may_withdraw=g.staff.role in WITHDRAWERS,
            reason_max=REASON_MAX,
        )
        return Response(body, status, headers={"Cache-Control": "no-store"})

    def find_page(
        *,
        query: str = "",
        error: str | None = None,
        matches: tuple[FoundMember, ...] = (),
        detail: str = "",
        detail_error: str | None = None,
        status: int = 200,
    ) -> Any:
        """The find page: the id search (GET), and the detail search (POST) for those allowed."""
        problem = error or detail_error
        body = render_template(
            "instrument/staff/panel_member_find.html",
            page_title=("Error: " if problem else "") + "Find a panel member",
            query=query, error=error, matches=matches, detail=detail, detail_error=detail_error,
            may_search_details=g.staff.role in CONTACT_READERS,
        )  # fmt: skip
        return Response(body, status, headers={"Cache-Control": "no-store"} if detail else {})

    add_member_search_views(
        bp, host, roles=CONTACT_READERS, open_sealer=_panel_sealer, find_page=find_page
    )

    @bp.get("/panel/members")
    @staff_required(*MEMBER_READERS)
    def panel_members() -> Any:
        """Find a member by external id or pseudonym: a GET, as neither is a personal detail."""
        if "q" not in request.args:
            return find_page()
        query = request.args.get("q", "").strip()[:200]
        error = None
        matches = host.store.find_members(query) if query else ()
        if not query:
            error, status = "Enter a member's external id or pseudonym", 400
        elif not matches:
            error, status = (
                "No member has this external id or pseudonym: check it and try again "
                "(it must match exactly)",
                404,
            )
        elif len(matches) == 1:
            return redirect(
                url_for("staff.panel_member", pseudonym=matches[0].member.pseudonym), 303
            )
        else:
            status = 200
        return find_page(query=query, error=error, matches=matches, status=status)

    @bp.get("/panel/members/<pseudonym>")
    @staff_required(*MEMBER_READERS)
    def panel_member(pseudonym: str) -> Any:
        return member_page(member_of(pseudonym))

    @bp.post("/panel/members/<pseudonym>/contacts")
    @staff_required(*CONTACT_READERS)
    def panel_member_contacts(pseudonym: str) -> Any:
        found = member_of(pseudonym)
        opened = _open_contacts(host.store, found.member, g.staff.username, host.now())
        if isinstance(opened, str):
            return member_page(found, contacts_error=opened, status=503)
        return member_page(found, contacts=opened)

    @bp.post("/panel/members/<pseudonym>/withdraw")
    @staff_required(*WITHDRAWERS)
    def panel_member_withdraw(pseudonym: str) -> Any:
        found = member_of(pseudonym)
        store, member = host.store, found.member
        in_force = store.withdrawal_in_force(member.id)
        form = WithdrawalForm.read(request.form)
        if request.form.get("back"):
            return member_page(found, form=WithdrawalForm(form.choice, form.reason))
        if form.errors:
            return member_page(found, form=form, status=400)
        result_page = url_for("staff.panel_member_withdrawal", pseudonym=pseudonym)
        if in_force is not None and _rank(form.choice) <= _rank(in_force[0]):
            return redirect(result_page, 303)  # in force already (a second press): nothing to do
        if form.choice != "stop_contact" and request.form.get("confirm") != "yes":
            return render_template(
                "instrument/staff/panel_member_confirm.html",
                page_title=f"Check before withdrawing {member.pseudonym}",
                found=found, member=member, form=form, choices=CHOICES,
                preview=store.withdrawal_preview(member.id), kinds=_KINDS,
            )  # fmt: skip
        store.withdraw_member(
            member.id, form.choice, actor=g.staff.username, by_staff=True, via="staff",
            now=host.now(), reason=form.reason,
        )  # fmt: skip
        return redirect(result_page, 303)

    @bp.get("/panel/members/<pseudonym>/withdrawal")
    @staff_required(*MEMBER_READERS)
    def panel_member_withdrawal(pseudonym: str) -> Any:
        found = member_of(pseudonym)
        in_force = host.store.withdrawal_in_force(found.member.id)
        if in_force is None:
            return redirect(url_for("staff.panel_member", pseudonym=pseudonym), 303)
        entry = _withdrawal_entry(host.store.member_history(found.member.id), in_force[0])
        return render_template(
            "instrument/staff/panel_member_withdrawn.html",
            page_title=f"Withdrawal of {found.member.pseudonym}",
            found=found, member=found.member, in_force=in_force, entry=entry,
            evidence=(entry.after or {}) if entry is not None else {}, done=_DONE,
        )  # fmt: skip
