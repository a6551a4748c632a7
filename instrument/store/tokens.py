"""Personal-link tokens: issued once in clear, stored only as their SHA-256.

A fast hash is enough for a random 256-bit secret: there is nothing to guess
offline. Expiry is reported, not enforced, so the caller can tell the
respondent why a link no longer works.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Final

import sqlalchemy as sa

from instrument.store.nul import NUL, refuse_nul
from instrument.store.plumbing import StoreBase, sha256_hex, utc
from instrument.store.records import AccessToken
from instrument.store.schema import access_tokens

__all__ = ["Tokens"]

_MAX_TOKEN_LENGTH: Final = 200


class Tokens(StoreBase):
    """Issuing, finding and attaching personal-link tokens."""

    def issue_token(
        self,
        questionnaire_id: str,
        *,
        case_id: str | None = None,
        interview_id: str | None = None,
        purpose: str = "respondent",
        expires_at: dt.datetime | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """Create a personal-link token and return it; this is the only time it exists in clear.

        The token has 256 bits from :func:`secrets.token_urlsafe`; only its
        SHA-256 is stored (a fast hash is enough for a random secret that
        long: there is nothing to guess offline).
        """
        for field, text in (
            ("questionnaire id", questionnaire_id),
            ("case id", case_id),
            ("interview id", interview_id),
            ("purpose", purpose),
        ):
            refuse_nul(field, text)
        token = secrets.token_urlsafe(32)
        with self._transaction(write=True) as connection:
            connection.execute(
                access_tokens.insert().values(
                    token_hash=sha256_hex(token),
                    interview_id=interview_id,
                    case_id=case_id,
                    questionnaire_id=questionnaire_id,
                    purpose=purpose,
                    created_at=utc(now),
                    expires_at=utc(expires_at) if expires_at is not None else None,
                    used_at=None,
                )
            )
        return token

    def find_token(self, token: str) -> AccessToken | None:
        """The stored token whose hash matches ``token``, or None.

        Expiry is reported, not enforced: the caller checks
        :meth:`AccessToken.is_expired` so that it can tell the respondent why.
        """
        if not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        digest = sha256_hex(token)
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(access_tokens).where(access_tokens.c.token_hash == digest)
            ).one_or_none()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return AccessToken(**row._asdict())

    def attach_token(
        self, token_id: int, interview_id: str, *, now: dt.datetime | None = None
    ) -> str:
        """Record that a token's link started ``interview_id``; return the interview it is attached to.

        Compare-and-set: a token attaches to one interview only. When two devices
        open a new personal link at the same instant, the first attach wins and
        the other caller gets the winner's id back (its own fresh interview is
        then left unattached, with nothing answered in it).
        """
        if NUL in interview_id:
            raise LookupError(f"no interview {interview_id!r}")  # no stored id holds one
        with self._transaction(write=True) as connection:
            connection.execute(
                access_tokens.update()
                .where(
                    access_tokens.c.id == token_id,
                    sa.or_(
                        access_tokens.c.interview_id.is_(None),
                        access_tokens.c.interview_id == interview_id,
                    ),
                )
                .values(
                    interview_id=interview_id,
                    used_at=sa.func.coalesce(access_tokens.c.used_at, utc(now)),
                )
            )
            attached = connection.scalar(
                sa.select(access_tokens.c.interview_id).where(access_tokens.c.id == token_id)
            )
        if attached is None:
            raise LookupError(f"no access token {token_id}")
        return str(attached)
