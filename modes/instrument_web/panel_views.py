"""The member's stop link: the page that lets a panel member stop contact or withdraw.

Every message of a wave carries ``/web/unsubscribe/<token>``
(:mod:`instrument.panel.member_links`). This module serves it:

- ``GET`` shows the member's three choices (stop contact; also delete contact
  details; also delete answers), each explained, as radio buttons in a
  fieldset with a legend, in the member's language (English or Welsh, from
  the catalogue's ``panel`` domain), with a CSRF token.
- ``POST`` with a choice carries it out at once
  (:meth:`~instrument.store.panel_withdrawal.PanelWithdrawals.withdraw_member`)
  and shows what was done; asking again for what is in force says so and
  changes nothing.
- ``POST`` with the body ``List-Unsubscribe=One-Click`` is a mail client's
  one-click unsubscribe (RFC 8058): it stops contact, with no CSRF token (the
  client has none; the token in the URL is the proof), and answers 200 with no
  page to render. Such a POST never deletes anything.
- A token that is not ours (mistyped, cut short, tampered with) is a 404 page
  saying the link is not valid; nothing tells whether a member exists.

Checking a token needs the link key, which is kept encrypted with the panel
keys: the page reads ``INSTRUMENT_PANEL_KEYS`` (or the key file) the first
time it is used. Without them it answers 503 and logs why, rather than
pretend.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final

from flask import Blueprint, Response, abort, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from instrument import catalogue
from instrument.interviews import ModeContext
from instrument.store.panel_withdrawal import WITHDRAWAL_CHOICES, MemberWithdrawal

if TYPE_CHECKING:
    from instrument.panel.member_links import MemberLink

__all__ = ["LANGUAGES", "register_panel_views"]

_log = logging.getLogger(__name__)

LANGUAGES: Final = ("en", "cy")
"""The languages the page is written in (the catalogue's ``panel`` domain)."""

ONE_CLICK: Final = "One-Click"
"""RFC 8058: the form field ``List-Unsubscribe`` with this value is a one-click unsubscribe."""

_words = catalogue.domain("panel").text


def register_panel_views(bp: Blueprint, context: ModeContext) -> None:
    """Add the stop link's page to the web mode's blueprint (``/unsubscribe/<token>``)."""
    views = _WithdrawalViews(context)
    bp.add_url_rule("/unsubscribe/<token>", "unsubscribe", views.page, methods=["GET"])
    bp.add_url_rule(
        "/unsubscribe/<token>", "unsubscribe_post", views.unsubscribe_submit, methods=["POST"]
    )

    def exempt(state: Any) -> None:
        # A one-click POST carries no CSRF token; the view checks the form's token itself.
        csrf = state.app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(views.unsubscribe_submit)

    bp.record_once(exempt)


class _WithdrawalViews:
    def __init__(self, context: ModeContext) -> None:
        self.context = context
        self.store = context.service.store
        self._key: bytes | None = None
        self._lock = threading.Lock()

    # -- helpers ----------------------------------------------------------------

    def _link_key(self) -> bytes:
        """The link key, read once; 503 when the panel keys are not configured."""
        # cryptography is loaded when a link is first checked, not with the web mode
        from instrument.panel.crypto import PanelKeyError, PanelKeys
        from instrument.panel.member_links import LINK_SECRET, new_link_secret, open_link_key

        with self._lock:
            if self._key is None:
                try:
                    keys = PanelKeys.from_environment()
                    stored = self.store.panel_secret(
                        LINK_SECRET, create=lambda: new_link_secret(keys), now=self.context.now()
                    )
                    self._key = open_link_key(keys, stored)
                except PanelKeyError as exc:
                    _log.error("members' stop links cannot be checked: %s", exc)
                    abort(503)
            return self._key

    def _member(self, token: str) -> tuple[MemberLink, Any]:
        from instrument.panel.member_links import read_unsubscribe_token

        link = read_unsubscribe_token(self._link_key(), token)
        member = None if link is None else self.store.member_by_id(link.member_id)
        if link is None or member is None:
            abort(Response(self._invalid(), 404))
        return link, member

    @staticmethod
    def _language(member: Any) -> str:
        wanted = request.values.get("lang")
        if wanted in LANGUAGES:
            return str(wanted)
        tag = (member.language or "").split("-")[0].lower()
        if tag in LANGUAGES:
            return tag
        return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]

    @staticmethod
    def _chrome(language: str, token: str) -> dict[str, Any]:
        return {
            "language": language,
            "words": lambda key, **kw: _words(language, key, **kw),
            "t": lambda key, **kw: catalogue.text(language, "web", key, **kw),
            "token": token,
            "languages": list(catalogue.language_names(LANGUAGES).items()),
        }

    def _invalid(self) -> str:
        language = request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]
        return render_template("web/unsubscribe_invalid.html", **self._chrome(language, ""))

    def _form(self, token: str, language: str, member: Any, *, error: bool = False) -> str:
        in_force = self.store.withdrawal_in_force(member.id)
        return render_template(
            "web/unsubscribe.html",
            **self._chrome(language, token),
            choices=WITHDRAWAL_CHOICES,
            in_force=in_force,
            error=error,
        )

    # -- views ------------------------------------------------------------------

    def page(self, token: str) -> Any:
        _link, member = self._member(token)
        return self._form(token, self._language(member), member)

    def unsubscribe_submit(self, token: str) -> Any:
        link, member = self._member(token)
        now = self.context.now()
        if request.form.get("List-Unsubscribe") == ONE_CLICK:
            self.store.withdraw_member(
                member.id, "stop_contact", actor="member:one-click", by_staff=False,
                via="one_click", now=now, wave_id=link.wave_id,
            )  # fmt: skip
            return Response("", 200)
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            abort(400)
        language = self._language(member)
        choice = request.form.get("choice")
        if choice not in WITHDRAWAL_CHOICES:
            return self._form(token, language, member, error=True), 400
        result = self.store.withdraw_member(
            member.id, choice, actor="member:link", by_staff=False, via="link", now=now,
            wave_id=link.wave_id,
        )  # fmt: skip
        return self._done(token, language, result)

    def _done(self, token: str, language: str, result: MemberWithdrawal) -> str:
        when = result.at.strftime("%d/%m/%Y")
        return render_template(
            "web/unsubscribe_done.html",
            **self._chrome(language, token),
            result=result,
            when=when,
        )
