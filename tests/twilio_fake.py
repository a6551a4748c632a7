"""A fake of Twilio's REST API for tests: records each request, answers like Twilio, no sockets.

``Client(sid, token, http_client=FakeTwilioHttp())`` sends every REST call
here instead of through ``requests``. The fake is a
:class:`twilio.http.HttpClient` (the SDK's own extension point, as
twilio-python's tests use it), not a patch of our code: the request the SDK
builds from our arguments is exactly what is recorded, so a test asserts the
form payload Twilio would receive.

Only ``https://api.twilio.com/2010-04-01/Accounts/<AC>/Calls...`` and the
deletion of a recording (``DELETE .../Recordings/<RE>.json``) are understood; any other host is refused with an exception, and nothing here
can open a socket, so a test that forgets the fake fails instead of
reaching the network... provided it builds its client through
:func:`fake_client`.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

API_HOST = "api.twilio.com"
_CALLS = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls\.json\Z")
_CALL = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})\.json\Z")
_RECORDINGS = re.compile(
    r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})/Recordings\.json\Z"
)
_RECORDING = re.compile(
    r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Recordings/(RE[0-9a-f]{32})\.json\Z"
)


class NetworkRefused(AssertionError):
    """A test tried to reach something that is not the fake Twilio API."""


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as Twilio would receive it."""

    method: str
    url: str
    form: tuple[tuple[str, str], ...]  # the form body, repeated keys in order
    auth: tuple[str, str] | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def values(self, key: str) -> list[str]:
        """Every value of a (possibly repeated) form field."""
        return [v for k, v in self.form if k == key]


class FakeTwilioHttp(HttpClient):
    """Answers Calls.json (create), Calls/<sid>.json (update), a call's Recordings.json (create)
    and Recordings/<sid>.json (delete).

    ``recordings`` holds the recordings the account has: those started by REST and those a test
    adds (:meth:`add_recording`, as a ``<Record>`` verb makes them). :meth:`refuse` makes the
    next requests about one recording fail with a status of the test's choosing.
    """

    def __init__(self) -> None:
        super().__init__(logging.getLogger("twilio_fake"), is_async=False)
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self._refusals: dict[str, list[int]] = {}
        self._serial = itertools.count(1)

    def add_recording(self, call_sid: str | None = None) -> str:
        """A recording the account holds, as Twilio makes one for ``<Record>``; its sid."""
        sid = self._sid("RE")
        self.recordings[sid] = {"sid": sid, "call_sid": call_sid, "status": "completed"}
        return sid

    def refuse(self, recording_sid: str, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` requests about the recording with HTTP ``status``."""
        self._refusals.setdefault(recording_sid, []).extend([status] * times)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(uri)
        if parts.scheme != "https" or parts.hostname != API_HOST:
            raise NetworkRefused(f"the fake Twilio refuses {method} {uri}: not {API_HOST}")
        # requests form-encodes a list value as the key repeated: do the same.
        form = tuple(parse_qsl(urlencode(data or {}, doseq=True), keep_blank_values=True))
        self.requests.append(RecordedRequest(method.upper(), uri, form, auth))
        if match := _RECORDING.match(parts.path):
            return self._recording(method.upper(), match.group(2))
        if method.upper() != "POST":
            return self._error(405, f"{method} is not faked")
        if match := _CALLS.match(parts.path):
            return self._create_call(match.group(1), dict(form))
        if match := _CALL.match(parts.path):
            return self._update_call(match.group(2), dict(form))
        if match := _RECORDINGS.match(parts.path):
            return self._create_recording(match.group(1), match.group(2))
        return self._error(404, f"the fake Twilio has no {parts.path}")

    def _sid(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial):032x}"

    def _create_call(self, account: str, form: dict[str, str]) -> Response:
        for needed in ("To", "From"):
            if needed not in form:
                return self._error(400, f"Required parameter {needed} missing.", code=21201)
        sid = self._sid("CA")
        call = {
            "sid": sid,
            "account_sid": account,
            "to": form["To"],
            "from": form["From"],
            "status": "queued",
            "direction": "outbound-api",
            "parent_call_sid": None,
            "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json",
        }
        self.calls[sid] = call
        return Response(201, json.dumps(call))

    def _update_call(self, sid: str, form: dict[str, str]) -> Response:
        call = self.calls.get(sid)
        if call is None:
            return self._error(404, f"The requested resource {sid} was not found", code=20404)
        if "Status" in form:
            call["status"] = form["Status"]
        return Response(200, json.dumps(call))

    def _create_recording(self, account: str, call_sid: str) -> Response:
        if call_sid not in self.calls:
            return self._error(404, f"The requested resource {call_sid} was not found", code=20404)
        sid = self._sid("RE")
        self.recordings[sid] = {"sid": sid, "call_sid": call_sid, "status": "in-progress"}
        return Response(
            201,
            json.dumps(
                {"sid": sid, "account_sid": account, "call_sid": call_sid, "status": "in-progress"}
            ),
        )

    def _recording(self, method: str, sid: str) -> Response:
        """DELETE of a recording: 204 and gone; 404 (Twilio's 20404) when the account has none."""
        refusals = self._refusals.get(sid)
        if refusals:
            status = refusals.pop(0)
            return self._error(status, f"the fake Twilio refuses this time ({status})")
        if method != "DELETE":
            return self._error(405, f"{method} is not faked")
        if self.recordings.pop(sid, None) is None:
            return self._error(404, f"The requested resource {sid} was not found", code=20404)
        self.deleted.append(sid)
        return Response(204, "")

    @staticmethod
    def _error(status: int, message: str, code: int = 20001) -> Response:
        return Response(status, json.dumps({"code": code, "message": message, "status": status}))


def fake_client(account_sid: str, auth_token: str) -> tuple[Client, FakeTwilioHttp]:
    """A real twilio ``Client`` wired to a new fake, and the fake."""
    http = FakeTwilioHttp()
    return Client(account_sid, auth_token, http_client=http), http
