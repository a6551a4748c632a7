"""Finding a panel member in the staff area by an email address, a phone number or a full name.

Why the search works as it does (issue 13):

- **A search is a GET where it can be.** ``/staff/panel/members?q=...`` finds a
  member by external id or pseudonym: a bookmarkable address, the back button
  goes back to it, reloading it asks nothing. Neither id is a personal detail
  (the external id is the panel's own reference, the pseudonym is made not to
  be one), so having them in the address, the browser's history and the
  server's access log is harmless.
- **A personal detail never goes in an address.** An email address, a phone
  number or a name in a query string would be written to every access log,
  proxy log and browser history on the way, and sent on in ``Referer``. So the
  search by one of them is a POST (the detail in the body, with the form's CSRF
  token), answered with a redirect (303), as a POST should be: to the member's
  page when one member matches, otherwise to a result page at
  ``/staff/panel/members/found/<token>``.
- **The token is short-lived and says nothing.** It is a signed reference
  (itsdangerous, under the app's ``SECRET_KEY``) to the search's entry in the
  staff audit log, which names the members found by pseudonym and never the
  detail searched for. The result page shows exactly what that entry says the
  person was given, to that person only, for :data:`RESULT_LIFETIME`; after that
  it says the search has expired (410). Reloading it, going back to it and
  bookmarking it (for those minutes) work, and nothing is searched again. The
  detail itself is kept nowhere: a result page with nothing found cannot show
  what was typed (a mistyped detail is typed again).
- **Every such search is audited**, found or not: ``members_searched`` with the
  staff username, what kind of detail (``email``, ``phone``, ``name``), how many
  members matched and their pseudonyms (the subject is the member when one
  matched), written before anything is shown, as the ``contacts_viewed`` entry
  is. A mistyped detail that cannot be a detail at all (no ``@`` part, not a
  dialable number) is refused before anything is searched, so it is not logged.
- **Only the roles that contact people may search by a detail** (supervisors
  and admins, :data:`~instrument.server.panel_members_views.CONTACT_READERS`):
  whoever can turn an email address into a pseudonym can find that person's
  answers, which is what researchers must not be able to do.
- **Nothing is decrypted.** The detail is normalised as the members import
  normalises it and hashed with the panel's lookup key (HMAC-SHA256), and the
  members are found by that hash (``Store.members_with_contact``), exact matches
  only: a part of a name or an address finds nobody, so nobody can list the
  panel by trying prefixes. Phone numbers are read as the import reads them
  (``parse_number``; UK numbers without their country code, the import's
  default region).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from instrument.server.host import Host
from instrument.server.staff import staff_required
from instrument.store import Store
from instrument.store.panel_withdrawal import FoundMember

__all__ = [
    "DETAIL_MAX",
    "RESULT_LIFETIME",
    "SEARCH_ACTION",
    "DetailQuery",
    "add_member_search_views",
    "read_detail",
]

SEARCH_ACTION: Final = "members_searched"
"""The staff audit log's action for a search by a personal detail."""

RESULT_LIFETIME: Final = dt.timedelta(minutes=10)
"""How long a result page's address works: long enough to open the members found, short
enough that a copied or bookmarked address does not outlive the task."""

DETAIL_MAX: Final = 200
"""The longest detail read (an address or a name is far shorter)."""

REGION: Final = "GB"
"""The country a phone number without its country code is read in: the members import's default."""

_SALT: Final = "instrument.staff.member-search"
_MEMBERS_KEPT: Final = 50
"""At most this many pseudonyms in one audit entry (a name that many members share is rare)."""

_KIND_WORDS: Final = {"email": "email address", "phone": "phone number", "name": "name"}


@dataclass(frozen=True, slots=True)
class DetailQuery:
    """A personal detail typed into the search, read: its kind and its lookup form."""

    kind: str
    """``email``, ``phone`` or ``name``: a kind of ``member_contacts``."""
    value: str
    """The detail as the import normalises it before hashing (:func:`lookup_form`)."""


def read_detail(text: str, parse_phone: Callable[[str], str]) -> DetailQuery | str:
    """What ``text`` is (an email address if it has an ``@``, a phone number if it is digits and
    phone punctuation, else a full name), or a sentence saying what is wrong with it."""
    from instrument.panel.members import lookup_form

    text = " ".join(text.split())
    if not text:
        return "Enter an email address, a phone number or a full name"
    if len(text) > DETAIL_MAX:
        return f"This is {len(text)} characters long: a detail is at most {DETAIL_MAX}"
    if "\x00" in text:
        return "This contains a NUL character: type it again"
    if "@" in text:
        local, _, domain = text.partition("@")
        if " " in text or not local or "." not in domain or "@" in domain:
            return "Enter the whole email address, like name@example.org"
        return DetailQuery("email", lookup_form("email", text))
    if all(c.isdigit() or c in " +-().\u00a0" for c in text):
        if sum(c.isdigit() for c in text) < 6:
            return "Enter the whole phone number, with its area code"
        try:
            number = parse_phone(text)
        except ValueError:
            return (
                "This is not a phone number that can be dialled: check it, and write the "
                "country code (+353 ...) for a number outside the UK"
            )
        return DetailQuery("phone", lookup_form("phone", number))
    if not any(c.isalpha() for c in text):
        return "Enter an email address, a phone number or a full name"
    return DetailQuery("name", lookup_form("name", text))


def _serializer() -> URLSafeTimedSerializer:
    secret = current_app.secret_key
    if not secret:  # the app refuses to start without one outside tests
        abort(500)
    return URLSafeTimedSerializer(secret, salt=_SALT)


def add_member_search_views(
    bp: Blueprint,
    host: Host,
    *,
    roles: tuple[str, ...],
    open_sealer: Callable[[Store, dt.datetime], Any],
    find_page: Callable[..., Any],
) -> None:
    """``POST /staff/panel/members/search`` and ``GET /staff/panel/members/found/<token>``.

    :param roles: who may search by a personal detail.
    :param open_sealer: the panel's sealer (its lookup key), or ``PanelKeyError``.
    :param find_page: the find page, drawn with a problem of the detail form and a status.
    """

    @bp.post("/panel/members/search")
    @staff_required(*roles)
    def panel_member_search() -> Any:
        """Find members by a personal detail typed in the POST's body; redirect to what was found.

        The detail is hashed and searched for, the search is audited, then the
        browser is sent on (303): to the member's page when one matches, else to
        a result page whose address holds a signed reference to the audit entry.
        The detail is in no address and no log (the module's docstring says why).
        """
        from instrument.interviews.phone_sample import parse_number
        from instrument.panel.crypto import PanelKeyError

        typed = request.form.get("detail", "")
        query = read_detail(typed, lambda text: parse_number(text, REGION))
        if isinstance(query, str):
            return find_page(detail=typed, detail_error=query, status=400)
        now = host.now()
        try:
            sealer = open_sealer(host.store, now)
        except PanelKeyError as exc:
            return find_page(
                detail=typed,
                detail_error=f"Members cannot be searched by a detail on this server: {exc}",
                status=503,
            )
        matched = _members_with(host.store, sealer.lookup_hash(query.kind, query.value))
        pseudonyms = [found.member.pseudonym for found in matched]
        entry = host.store.log_staff_action(
            g.staff.username,
            SEARCH_ACTION,
            subject=f"member:{pseudonyms[0]}" if len(pseudonyms) == 1 else None,
            detail={
                "by": query.kind,
                "matches": len(pseudonyms),
                "members": pseudonyms[:_MEMBERS_KEPT],
            },
            at=now,
        )
        if len(matched) == 1:
            return redirect(url_for("staff.panel_member", pseudonym=pseudonyms[0]), 303)
        token = _serializer().dumps([entry])
        return redirect(url_for("staff.panel_members_found", token=token), 303)

    @bp.get("/panel/members/found/<token>")
    @staff_required(*roles)
    def panel_members_found(token: str) -> Any:
        """What a search by a personal detail found, as its audit entry records it, for a while."""
        serializer = _serializer()
        try:
            (entry_id,) = serializer.loads(token, max_age=RESULT_LIFETIME.total_seconds())
        except SignatureExpired:
            return _gone()
        except (BadSignature, ValueError, TypeError):
            abort(404)
        entry = _search_entry(host.store, int(entry_id), g.staff.username)
        if entry is None:
            abort(404)  # not a search, or somebody else's
        if host.now() - entry.at > RESULT_LIFETIME:
            return _gone()
        detail = entry.detail or {}
        matched = [
            found
            for pseudonym in detail.get("members", ())
            for found in host.store.find_members(str(pseudonym))
            if found.member.pseudonym == pseudonym
        ]
        kind = _KIND_WORDS.get(str(detail.get("by")), "detail")
        body = render_template(
            "instrument/staff/panel_member_found.html",
            page_title=f"Members found by {kind}" if matched else f"No member has this {kind}",
            matched=matched,
            kind=kind,
            searched_at=entry.at,
            expires_at=entry.at + RESULT_LIFETIME,
            more=int(detail.get("matches", 0)) - len(matched),
        )
        return Response(body, headers={"Cache-Control": "no-store"})


def _members_with(store: Store, lookup_hash: str) -> list[FoundMember]:
    """The members holding a detail with this lookup hash, each once, by panel and pseudonym."""
    member_ids = sorted({contact.member_id for contact in store.members_with_contact(lookup_hash)})
    found: list[FoundMember] = []
    for member_id in member_ids:
        member = store.member_by_id(member_id)
        if member is not None:
            found.extend(
                f for f in store.find_members(member.pseudonym) if f.member.id == member_id
            )
    return sorted(found, key=lambda f: (f.panel, f.member.pseudonym))


def _search_entry(store: Store, entry_id: int, actor: str) -> Any:
    """The audit entry ``entry_id`` if it is ``actor``'s search by a detail, else None."""
    page = store.staff_audit_page(limit=1, before=entry_id + 1, action=SEARCH_ACTION, actor=actor)
    return next((e for e in page.entries if e.id == entry_id), None)


def _gone() -> Response:
    body = render_template(
        "instrument/staff/panel_member_found.html",
        page_title="This search has expired",
        expired=True,
        lifetime_minutes=int(RESULT_LIFETIME.total_seconds() // 60),
    )
    return Response(body, 410, headers={"Cache-Control": "no-store"})
