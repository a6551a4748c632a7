"""The staff audit log in the staff area: read it page by page, or download all of it as CSV.

Supervisors, researchers and admins may read the log; nobody may change it (the
database refuses, see instrument/store/staff_audit.py). Interviewers see only
their console.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Blueprint, Response, render_template, request

from instrument.server.host import Host
from instrument.server.staff import staff_required

__all__ = ["AUDIT_READERS", "add_audit_views"]

AUDIT_READERS = ("admin", "supervisor", "researcher")
"""The staff roles that may read the audit log."""

_PAGE = 100
_FILTERS = ("action", "actor", "subject")


def _filters() -> dict[str, str | None]:
    return {name: (request.args.get(name) or "").strip()[:200] or None for name in _FILTERS}


def add_audit_views(bp: Blueprint, host: Host) -> None:
    """``/staff/audit`` (newest first, paged by id) and ``/staff/audit.csv`` on the staff blueprint."""

    @bp.get("/audit")
    @staff_required(*AUDIT_READERS)
    def audit_log() -> Any:
        before = request.args.get("before", type=int)
        chosen = _filters()
        page = host.store.staff_audit_page(limit=_PAGE, before=before, **chosen)
        return render_template(
            "instrument/staff/audit.html", page=page, chosen=chosen, before=before,
            page_title="Audit log",
        )  # fmt: skip

    @bp.get("/audit.csv")
    @staff_required(*AUDIT_READERS)
    def audit_csv() -> Response:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "at", "actor", "action", "subject", "detail"])
        for e in host.store.staff_audit_entries(**_filters()):
            detail = json.dumps(e.detail, sort_keys=True) if e.detail is not None else ""
            writer.writerow([e.id, e.at.isoformat(), e.actor, e.action, e.subject or "", detail])
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={
                "Content-Disposition": 'attachment; filename="staff-audit.csv"',
                "Cache-Control": "no-store",
            },
        )
