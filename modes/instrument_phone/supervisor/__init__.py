"""The telephone supervisor's pages: the sample live, interviewers, AAPOR rates, cases, call records.

Mounted by the phone mode's blueprint under ``/cati/supervisor`` for staff
signed in with the ``supervisor`` role. Like the interviewer console, it works
through the call-queue service (:mod:`instrument.callqueue`), which computes
every figure and audits every change; see :mod:`instrument_phone.supervisor.views`.
"""

from __future__ import annotations

from instrument_phone.supervisor.views import create_supervisor_blueprint

__all__ = ["create_supervisor_blueprint"]
