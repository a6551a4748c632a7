"""A step drawn as the web shows it, for the staff area's preview (``ModeSpec.preview``).

The staff area belongs to the host, which never imports a mode: it asks the
mode's spec for this fragment. Rendered inside the staff request, with the
web mode's own templates and stylesheet; the form is filled from nothing, so
no answer of anyone's is shown.
"""

from __future__ import annotations

from flask import render_template, url_for

from instrument.engine import Step
from instrument.flask_support.step_forms import PageForm, missing_options
from instrument_web.messages import ui

__all__ = ["render_preview"]


def render_preview(step: Step, language: str) -> str:
    """The questions of ``step`` as web form fields, with the web stylesheet."""
    return render_template(
        "web/_preview.html",
        step=step,
        form=PageForm(step),
        missing_options=missing_options,
        t=lambda key, **kw: ui(language, key, **kw),
        stylesheet=url_for("web.static", filename="web.css"),
    )
