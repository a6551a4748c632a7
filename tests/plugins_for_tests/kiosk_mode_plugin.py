"""A third-party mode: a touch-screen kiosk in a clinic waiting room, driven through JSON.

It is what a plugin author would write: a :class:`ModePolicy` saying how the
kiosk asks (self-completion on a screen, don't know and refused always
offered, dataset code 7) and a blueprint that runs interviews through the
host's interview service, never the store. Nothing in the core knows its name.
"""

from __future__ import annotations

from typing import Any

from instrument import hookimpl
from instrument.modes import ModePolicy
from instrument.plugin_types import ModeSpec

KIOSK = ModePolicy(
    label="Kiosk in a waiting room",
    description="Self-administered questionnaire: touch-screen kiosk",
    administered_by="respondent",
    spoken=False,
    wording=("text",),
    markup=False,
    missing="announced",
    dataset_code=7,
)


def create_blueprint(context: Any) -> Any:
    from flask import Blueprint, abort, jsonify, request

    from instrument.interviews import Answers, Saved, Seen, Shown

    bp = Blueprint("kiosk", __name__)
    # A device API, not a browser form: no CSRF cookie to check (a real kiosk would
    # authenticate the device; this plugin only shows the interview service's use).
    bp.record_once(lambda state: state.app.extensions["csrf"].exempt(bp))

    def step_json(shown: Shown) -> Any:
        step = shown.step
        return jsonify(
            interview=shown.interview.id,
            revision=shown.interview.revision,
            finished=shown.interview.finished,
            token=step.token,
            keys=[key for view in step.questions for key in view.keys],
            texts=[view.text for view in step.questions],
            # don't know / refused shown now, for each question that allows one of them
            missing_shown=[
                view.offer_missing
                for view in step.questions
                if view.keys and (view.allow_dk or view.allow_refused)
            ],
        )

    @bp.post("/<qid>/start")
    def start(qid: str) -> Any:
        saved = context.service.start(qid, mode="kiosk", actor="respondent", now=context.now())
        return jsonify(interview=saved.interview.id), 201

    @bp.get("/interview/<iid>")
    def show(iid: str) -> Any:
        shown = context.service.show(iid, mode="kiosk", actor="respondent", now=context.now())
        if not isinstance(shown, Shown):
            abort(404)
        return step_json(shown)

    @bp.post("/interview/<iid>")
    def answer(iid: str) -> Any:
        body = request.get_json()
        seen = Seen(revision=body["revision"], token=body["token"], key=body["key"])
        outcome = context.service.answer(
            iid, seen, lambda step: Answers(body["answers"], confirmed=True),
            mode="kiosk", actor="respondent", now=context.now(),
        )  # fmt: skip
        return jsonify(outcome=outcome.kind), (200 if isinstance(outcome, Saved) else 409)

    return bp


@hookimpl
def register_modes() -> list[ModeSpec]:
    return [
        ModeSpec(
            name="kiosk",
            label="Touch-screen kiosk",
            capabilities={"self_completion"},
            create_blueprint=create_blueprint,
            requires=("flask",),
            policy=KIOSK,
        )
    ]
