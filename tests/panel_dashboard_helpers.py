"""A small panel wave with a known history, for the dashboard's tests (issue 13).

Seventeen members of wave ``w1`` of panel ``families`` (plus one who is not
eligible, a test interview and a member of another wave, none of which may be
counted), each with one story: completed on the web or by phone, screened out,
broken off, stalled, still answering, opened the link and left, invited and
silent, bounced, never invited, withdrawn, unsubscribed, refused on the phone,
an appointment. The rows are written straight into the tables the wave runtime
writes (the shapes of docs/store.md), so every figure can be checked against a
table worked out by hand in :data:`EXPECTED`.

The wave file is the flagship's wave 1, pointed at ``mini`` so that the test app
serves its questionnaire; it opens on 2 March 2027 at 10:00 (London, then GMT)
and the history is read at :data:`NOW`, day 4.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from instrument.fieldwork.dispositions import RateClass
from instrument.store import Store
from instrument.store.schema import (
    access_tokens,
    answer_events,
    appointments,
    case_queue,
    cases,
    interviews,
    members,
    panel_messages,
    panels,
    wave_members,
    waves,
)

ROOT = Path(__file__).resolve().parent.parent
WAVE_TEXT = re.sub(  # no target in the file: the tests give one where they need it
    r"(?m)^target:.*\n",
    "",
    (ROOT / "questionnaires" / "social_licence.wave1.yaml")
    .read_text(encoding="utf-8")
    .replace("questionnaire: social_licence.yaml", "questionnaire: mini"),
)
OPENS = dt.datetime(2027, 3, 2, 10, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2027, 3, 6, 12, 0, tzinfo=dt.UTC)
DAY_STARTS = [OPENS] + [dt.datetime(2027, 3, d, tzinfo=dt.UTC) for d in (3, 4, 5, 6)]
STEP_STARTS = [
    OPENS,
    dt.datetime(2027, 3, 5, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 9, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 14, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 16, 10, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 23, 18, 0, tzinfo=dt.UTC),
]
TODAY = (dt.datetime(2027, 3, 6, tzinfo=dt.UTC), dt.datetime(2027, 3, 7, tzinfo=dt.UTC), NOW.date())


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """2 March 2027 is day 0."""
    return dt.datetime(2027, 3, 2 + day, hour, minute, tzinfo=dt.UTC)


def _profile(n: int) -> dict[str, Any]:
    return {
        "n_children": None if n == 17 else ("1" if n <= 8 else "2"),
        "age_band": str((n - 1) % 4 + 1),
        "lone_parent": "1" if n % 2 else "2",
    }


# What each of the 17 members did: interview (mode, status, started, finished or updated,
# answers), messages (step, channel, state), link opened, queue row, and so on.
STORIES: dict[int, dict[str, Any]] = {
    1: {"iv": ("web", "complete", at(0, 11, 40), at(0, 12)), "opened": True},
    2: {"iv": ("web", "complete", at(3, 13, 30), at(3, 14)), "opened": True, "reminded": True},
    3: {"iv": ("cati", "complete", at(4, 8, 15), at(4, 9)), "reminded": True},
    4: {"iv": ("web", "complete", at(1, 9, 50), at(1, 10)), "opened": True},
    5: {"iv": ("web", "screened_out", at(1, 9, 0), at(1, 9, 5)), "opened": True},
    6: {
        "iv": ("web", "abandoned", at(2, 9), at(2, 9, 10)),
        "opened": True,
        "reminded": True,
        "answers": ["q_age", "q_income"],
    },
    7: {
        "iv": ("web", "active", at(2, 9), at(2, 10)),
        "opened": True,
        "reminded": True,
        "answers": ["q_age", "q_travel"],
        "queue": {"held_by": "ivy"},
    },
    8: {
        "iv": ("web", "active", at(4, 10), at(4, 11)),
        "opened": True,
        "reminded": True,
        "answers": ["q_age"],
    },
    9: {"iv": ("web", "active", at(1, 20), at(1, 20)), "opened": True, "reminded": True},
    10: {"reminded": True, "queue": {"window": (-2, -1)}},
    11: {"invitation": "bounced"},
    12: {"invitation": None},
    13: {"withdrawn": True},
    14: {"stopped": True},
    15: {"queue": {"disposition": "refusal_hard", "final": True}},
    16: {"queue": {"disposition": "no_answer", "window": (-1, 2)}, "appointment_cancelled": True},
    17: {"queue": {"disposition": "appointment", "window": (3, 5)}, "appointment": True},
}
for _n, _story in STORIES.items():
    _story["profile"] = _profile(_n)


EXPECTED: dict[str, Any] = {
    "members": 17,
    # AAPOR code, label, class, cases: worked out from STORIES by the rules in docs/dashboard.md.
    "dispositions": [
        ("1.1", "Complete", RateClass.I, 4),  # 1-4
        ("1.2", "Partial: started, not finished", RateClass.P, 3),  # 6, 7, 8
        ("2.11", "Refusal: asked for no more contact", RateClass.R, 1),  # 14
        ("2.11", "Refusal: withdrew", RateClass.R, 1),  # 13
        ("2.112", "Refusal by the respondent (never call again)", RateClass.R, 1),  # 15
        ("2.1121", "Opened the link, answered nothing", RateClass.R, 1),  # 9
        ("2.20", "Invited, no response (non-contact)", RateClass.NC, 2),  # 10, 16 (no answer: UH
        # on the phone, but the member is known eligible and was invited)
        ("2.21", "Appointment made", RateClass.NC, 1),  # 17
        ("3.11", "No invitation sent yet", RateClass.UO, 1),  # 12
        ("3.30", "Invitation returned undelivered", RateClass.UO, 1),  # 11
        ("4.10", "Screened out: not eligible", RateClass.NE, 1),  # 5
    ],
    # I=4 P=3 R=4 NC=3 O=0 UH=0 UO=2 NE=1; e = 14/15
    "rates": {
        "RR1": 4 / 16,
        "RR3": 4 / (14 + (14 / 15) * 2),
        "COOP1": 4 / 11,
        "REF1": 4 / 16,
        "CON1": 11 / 16,
    },
    "funnel": {"invited": 15, "opened": 9, "started": 8, "completed": 4},
    # (day, step, mode) -> completes; day 0 is 2 March, step 0 the invitation, 1 reminder 1
    "completes": {(0, 0, "web"): 1, (1, 0, "web"): 1, (3, 1, "web"): 1, (4, 1, "cati"): 1},
    "sent_by_step": {
        ("day0-invitation", "email"): 15,
        ("day0-invitation", "sms"): 15,
        ("day3-reminder", "email"): 7,
    },
    "breakoffs": [("q_income", 1), ("q_travel", 1)],
    "lengths": [("cati", 1, 45 * 60.0), ("web", 3, 20 * 60.0)],
    "phone": {
        "in_queue": 5,
        "callable_now": 1,
        "held": 1,
        "resting": 1,
        "waiting_for_window": 1,
        "final": 1,
        "appointments_today": 1,
    },
    "subgroups": [
        ("n_children", "1", 8, 4),
        ("n_children", "2", 8, 0),
        ("n_children", "(not known)", 1, 0),
        ("age_band", "1", 5, 1),
        ("age_band", "2", 4, 1),
        ("age_band", "3", 4, 1),
        ("age_band", "4", 4, 1),
        ("lone_parent", "1", 9, 2),
        ("lone_parent", "2", 8, 2),
    ],
}


def make_wave_history(store: Store, questionnaire_version_id: int) -> int:
    """Write the wave, its members and their histories; return the wave's id."""
    engine = store.engine
    created = OPENS - dt.timedelta(days=7)
    with engine.begin() as c:
        panel_id = c.execute(
            panels.insert().values(name="families", created_at=created).returning(panels.c.id)
        ).scalar_one()

        def add_wave(key: str, starts: dt.datetime) -> int:
            return int(
                c.execute(
                    waves.insert()
                    .values(
                        panel_id=panel_id,
                        key=key,
                        label=f"Families panel, wave {key[1:]}",
                        questionnaire_id="mini",
                        questionnaire_version_id=questionnaire_version_id,
                        file_digest=hashlib.sha256(WAVE_TEXT.encode()).hexdigest()
                        if key == "w1"
                        else "0" * 64,
                        source_text=WAVE_TEXT
                        if key == "w1"
                        else WAVE_TEXT.replace("wave: w1", "wave: w0"),
                        source_path=None,
                        starts_at=starts,
                        closes_at=starts + dt.timedelta(days=28),
                        opened_at=starts,
                        opened_by="cli:test",
                    )
                    .returning(waves.c.id)
                ).scalar_one()
            )

        w0 = add_wave("w0", OPENS - dt.timedelta(days=60))
        w1 = add_wave("w1", OPENS)
        iv_seq = 0

        def add_member(n: int, story: dict[str, Any], wave_id: int, eligible: bool = True) -> None:
            nonlocal iv_seq
            member_id = c.execute(
                members.insert()
                .values(
                    panel_id=panel_id,
                    external_id=f"E{n:03d}-{wave_id}",
                    pseudonym=f"P{wave_id}{n:09d}",
                    status="withdrawn" if story.get("withdrawn") else "active",
                    language="en",
                    preferred_mode=None,
                    profile=story.get("profile", {}),
                    created_at=created,
                    updated_at=created,
                )
                .returning(members.c.id)
            ).scalar_one()
            case_id = f"c{wave_id}-{n:03d}"
            c.execute(
                cases.insert().values(
                    id=case_id,
                    questionnaire_id="mini",
                    preload={},
                    created_at=OPENS,
                    updated_at=OPENS,
                )
            )
            c.execute(
                wave_members.insert().values(
                    wave_id=wave_id,
                    member_id=member_id,
                    case_id=case_id,
                    eligible=eligible,
                    next_due=None,
                    stopped_at=at(1, 12) if story.get("stopped") else None,
                    updated_at=OPENS,
                )
            )
            invitation = story.get("invitation", "sent")
            messages = []
            if invitation == "bounced":
                messages += [
                    ("invitation", "day0-invitation", "email", "bounced"),
                    ("invitation", "day0-invitation", "sms", "failed"),
                ]
            elif invitation is not None:
                messages += [
                    ("invitation", "day0-invitation", "email", "sent"),
                    ("invitation", "day0-invitation", "sms", "delivered"),
                ]
            if story.get("reminded"):
                messages.append(("reminder", "day3-reminder", "email", "delivered"))
            for kind, step, channel, state in messages:
                sent = OPENS if step.startswith("day0") else at(3, 10)
                c.execute(
                    panel_messages.insert().values(
                        wave_id=wave_id,
                        member_id=member_id,
                        case_id=case_id,
                        kind=kind,
                        step=step,
                        channel=channel,
                        template=kind,
                        language="en",
                        contact_kind="email",
                        contact_rank=1,
                        idempotency_key=f"w{wave_id}:{case_id}:{step}:{channel}",
                        state=state,
                        attempts=1,
                        created_at=sent,
                        sent_at=sent,
                        updated_at=sent,
                    )
                )
            if story.get("opened"):
                c.execute(
                    access_tokens.insert().values(
                        token_hash=hashlib.sha256(case_id.encode()).hexdigest(),
                        case_id=case_id,
                        questionnaire_id="mini",
                        purpose="respondent",
                        created_at=OPENS,
                        used_at=story["iv"][2],
                    )
                )
            if "iv" in story:
                mode, status, started, last = story["iv"]
                answers = story.get("answers") or (["q_age"] if status != "active" else [])
                iv_seq += 1
                interview_id = f"00000000-0000-0000-{wave_id:04d}-{iv_seq:012d}"
                events = []
                for variable in answers:
                    events += [("answer", variable, {"v": 1}), ("page", "", {"page": "p"})]
                finished = last if status in ("complete", "screened_out", "abandoned") else None
                c.execute(
                    interviews.insert().values(
                        id=interview_id,
                        questionnaire_version_id=questionnaire_version_id,
                        case_id=case_id,
                        mode=mode,
                        language="en",
                        status=status,
                        is_test=False,
                        state={},
                        revision=len(events),
                        started_at=started,
                        updated_at=last,
                        finished_at=finished,
                        last_seq=len(events),
                        last_answered=answers[-1] if answers else None,
                    )
                )
                for seq, (kind, variable, value) in enumerate(events, start=1):
                    c.execute(
                        answer_events.insert().values(
                            interview_id=interview_id,
                            seq=seq,
                            kind=kind,
                            variable=variable,
                            value=value,
                            mode=mode,
                            actor="respondent",
                            at=last,
                        )
                    )
            queue = story.get("queue")
            if queue is not None:
                window = queue.get("window")
                c.execute(
                    case_queue.insert().values(
                        case_id=case_id,
                        zone="Europe/London",
                        language="en",
                        priority=0,
                        disposition=queue.get("disposition"),
                        final=queue.get("final", False),
                        window_start=None
                        if window is None
                        else NOW + dt.timedelta(hours=window[0]),
                        window_end=None if window is None else NOW + dt.timedelta(hours=window[1]),
                        window_kind=None if window is None else "normal",
                        held_by=queue.get("held_by"),
                        held_since=NOW if queue.get("held_by") else None,
                        attempts=1,
                        updated_at=NOW,
                    )
                )
            for flag, cancelled in (("appointment", None), ("appointment_cancelled", NOW)):
                if story.get(flag):
                    c.execute(
                        appointments.insert().values(
                            case_id=case_id,
                            kind="hard",
                            at=NOW + dt.timedelta(hours=3),
                            zone="Europe/London",
                            made_by="ivy",
                            made_at=at(3, 12),
                            cancelled_at=cancelled,
                        )
                    )

        for n, story in STORIES.items():
            add_member(n, story, w1)
        # Not counted: a member found not eligible, a member of another wave, a test interview.
        add_member(
            18,
            {"iv": ("web", "complete", at(0, 11), at(0, 12)), "opened": True, "invitation": None},
            w1,
            False,
        )
        add_member(1, {"iv": ("web", "complete", at(0, 11), at(0, 12)), "opened": True}, w0)
        c.execute(
            interviews.insert().values(
                id="00000000-0000-0000-9999-000000000001",
                questionnaire_version_id=questionnaire_version_id,
                case_id=f"c{w1}-010",
                mode="web",
                language="en",
                status="complete",
                is_test=True,
                state={},
                revision=1,
                started_at=at(1, 9),
                updated_at=at(1, 10),
                finished_at=at(1, 10),
                last_seq=0,
            )
        )
    return w1


def add_version(store: Store) -> int:
    """The questionnaire version the wave's interviews are on (mini's text)."""
    text = (ROOT / "tests" / "data" / "mini.yaml").read_text(encoding="utf-8")
    return store.add_questionnaire_version("mini", "1", text, now=OPENS).id


def count_rows(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as c:
        return int(c.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
