"""A plugin whose hooks raise at run time (not at import)."""

from __future__ import annotations

from typing import Any

from instrument import hookimpl


@hookimpl
def register_output_formats() -> list[Any]:
    raise RuntimeError("the format registry of failing_plugin is broken")


@hookimpl
def interview_event(event: Any) -> None:
    raise RuntimeError("the notification service of failing_plugin is down")
