"""The wave dashboard's figures: each a table of numbers, the chart drawn from it, and its CSV.

Pure: from the store's counts (:class:`~instrument.store.panel_reports.WaveFigures`)
and the wave file, with no Flask. One :class:`Table` feeds the HTML table a
screen reader reads, the CSV download and the chart, so the three cannot
disagree; the tests compare the CSV with the page's table cell by cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from instrument.fieldwork.rates import DispositionCounts
from instrument.panel.waves import Wave
from instrument.server.charts import (
    Series,
    bar_chart,
    funnel_chart,
    line_chart,
    stacked_bar_chart,
)
from instrument.store.panel_reports import (
    PhoneClasses,
    WaveFigures,
    aapor_table,
    wave_rates,
)

__all__ = [
    "FIGURE_NAMES",
    "Dashboard",
    "Figure",
    "PanelRates",
    "Table",
    "build_dashboard",
    "day_starts",
    "step_starts",
]

FIGURE_NAMES = (
    "completes-by-day",
    "cumulative-completes",
    "funnel",
    "after-steps",
    "dispositions",
    "rates",
    "breakoffs",
    "lengths",
    "phone-queue",
    "subgroups",
)
"""Every figure, in page order; each is downloadable as ``<name>.csv``."""

BREAKOFFS_SHOWN = 15
"""Questions drawn in the break-off chart (the table and CSV list them all)."""

_STEP_NAMES = {
    "invitation": "Invitation",
    "reminder": "Reminder",
    "move_to_phone": "Move to phone",
    "automated_call": "Automated call",
    "sms_interview": "SMS interview",
}


@dataclass(frozen=True)
class Table:
    """A figure's numbers: column headings and rows of text (the first column names the row)."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return out.getvalue()


@dataclass(frozen=True)
class Figure:
    """One figure of the dashboard: its name (the CSV's), a heading, the chart's SVG, the table."""

    name: str
    heading: str
    note: str
    svg: str
    table: Table


@dataclass(frozen=True)
class PanelRates:
    """What the panel knows of its recruitment (None: not known), for the cumulative rate."""

    recruitment: float | None = None
    profile: float | None = None


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows, in order."""

    figures: tuple[Figure, ...]
    rates: Mapping[str, float | None]
    counts: DispositionCounts
    completion_rate: float | None
    cumulative_rate: float | None
    panel_rates: PanelRates
    target: int | None

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


def _n(value: int | float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def day_starts(wave: Wave, until: dt.datetime) -> list[dt.datetime]:
    """Day 0 begins when the wave opens; each later day at local midnight in the wave's zone,
    up to the last day that has begun by ``until`` (or the close)."""
    zone = wave.tz
    starts = [wave.opens]
    end = min(until, wave.closes)
    day = wave.opens.astimezone(zone).date()
    while True:
        day += dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC)
        if start > end:
            return starts
        starts.append(start)


def step_starts(wave: Wave) -> list[tuple[str, str, dt.datetime]]:
    """The contact plan's steps in time order: (key, label, when due)."""
    out = []
    for step in sorted(wave.steps, key=wave.step_time):
        name = _STEP_NAMES.get(step.kind, step.kind)
        if step.kind == "reminder" and step.reminder is not None:
            name = f"{name} {step.reminder}"
        out.append((step.key, f"{name} (day {step.day})", wave.step_time(step)))
    return out


def build_dashboard(
    figures: WaveFigures,
    wave: Wave | None,
    phone: PhoneClasses,
    *,
    days: Sequence[dt.datetime],
    steps: Sequence[tuple[str, str, dt.datetime]],
    target: int | None = None,
    panel_rates: PanelRates | None = None,
) -> Dashboard:
    """Every figure of the dashboard from the counts (``days`` and ``steps`` as they were
    given to :meth:`~instrument.store.panel_reports.PanelReports.wave_figures`)."""
    panel_rates = panel_rates or PanelRates()
    zone = wave.tz if wave is not None else ZoneInfo("UTC")
    table, counts = aapor_table(figures.groups, phone)
    chosen = wave_rates(counts)
    eligible = counts.total - counts.NE
    completion = None if eligible == 0 else counts.I / eligible
    cumulative = None
    if None not in (panel_rates.recruitment, panel_rates.profile, completion):
        cumulative = panel_rates.recruitment * panel_rates.profile * completion  # type: ignore[operator]
    out = [
        *_completes(figures, days, zone, target),
        *_funnel(figures, steps),
        _dispositions(table, counts),
        _rates(chosen, completion, cumulative, panel_rates),
        _breakoffs(figures),
        _lengths(figures),
        _phone(figures),
        _subgroups(figures),
    ]
    return Dashboard(tuple(out), chosen, counts, completion, cumulative, panel_rates, target)


def _completes(
    figures: WaveFigures, days: Sequence[dt.datetime], zone: ZoneInfo, target: int | None
) -> list[Figure]:
    modes = sorted({mode for (_, _, mode) in figures.completes_by_bucket})
    per_day = [[0] * len(modes) for _ in days] if days else []
    for (day, _, mode), n in figures.completes_by_bucket.items():
        if not per_day:
            continue
        per_day[max(day, 0)][modes.index(mode)] += n  # before day 0 (a test run): day 0
    labels = [
        f"{d.astimezone(zone):%a} {d.astimezone(zone).day} {d.astimezone(zone):%b}" for d in days
    ]
    rows = []
    cumulative = []
    running = 0
    for i, counts in enumerate(per_day):
        running += sum(counts)
        cumulative.append(running)
        rows.append(
            (
                f"Day {i}",
                f"{days[i].astimezone(zone):%Y-%m-%d}",
                *(str(n) for n in counts),
                str(sum(counts)),
                str(running),
            )
        )
    daily_target = None
    if target and days:
        daily_target = target / len(days)
    by_day = Figure(
        name="completes-by-day",
        heading="Completes by day and mode",
        note=(
            f"Completed interviews each day (the wave's time zone, {zone.key}), a segment per mode "
            "in which they finished."
            + (
                f" The dashed line is the pace that reaches the target by today: {_n(daily_target)} a day."
                if daily_target
                else ""
            )
        ),
        svg=stacked_bar_chart(
            "chart-completes-by-day",
            "Completes by day and mode",
            f"{running} completed interviews over {len(days)} days; "
            + ", ".join(f"{m}: {sum(d[j] for d in per_day)}" for j, m in enumerate(modes))
            + ".",
            labels,
            [Series(m, tuple(d[j] for d in per_day)) for j, m in enumerate(modes)],
            target=daily_target,
            target_label=f"Pace {_n(daily_target)} a day" if daily_target else None,
            empty="No completed interviews yet.",
        ),
        table=Table(
            "Completed interviews by day and mode",
            ("Day", "Date", *modes, "Total", "Cumulative"),
            tuple(rows),
        ),
    )
    target_note = f" against the target of {_n(target)}" if target else ""
    cumulative_figure = Figure(
        name="cumulative-completes",
        heading="Completes so far" + (" against the target" if target else ""),
        note=f"Completed interviews up to the end of each day{target_note}.",
        svg=line_chart(
            "chart-cumulative-completes",
            "Completes so far",
            f"{running} completed interviews by day {max(len(days) - 1, 0)}{target_note}.",
            labels,
            [Series("Completes", tuple(cumulative))] if cumulative else [],
            target=target,
            empty="No completed interviews yet.",
        ),
        table=Table(
            "Completed interviews so far, by day",
            ("Day", "Date", "Completes so far", *(("Target",) if target else ())),
            tuple(
                (
                    f"Day {i}",
                    f"{days[i].astimezone(zone):%Y-%m-%d}",
                    str(c),
                    *((str(target),) if target else ()),
                )
                for i, c in enumerate(cumulative)
            ),
        ),
    )
    return [by_day, cumulative_figure]


def _funnel(figures: WaveFigures, steps: Sequence[tuple[str, str, dt.datetime]]) -> list[Figure]:
    groups = figures.groups
    invited = sum(g.count for g in groups if g.reach == 2 or g.stage >= 2 or g.opened)
    opened = sum(g.count for g in groups if g.opened or g.stage >= 2)
    started = sum(g.count for g in groups if g.stage in (3, 4, 5))
    finished = sum(g.count for g in groups if g.stage == 5)
    stages = [
        ("In the wave", figures.members),
        ("Invited", invited),
        ("Opened the link", opened),
        ("Started", started),
        ("Completed", finished),
    ]
    funnel = Figure(
        name="funnel",
        heading="Contact funnel",
        note=(
            "Members of the wave; invited (a message handed to a channel, or a link opened); "
            "opened their link (or had an interview begun by phone); started (answered at least "
            "one question); completed."
        ),
        svg=funnel_chart(
            "chart-funnel",
            "Contact funnel",
            "; ".join(f"{name}: {n}" for name, n in stages) + ".",
            stages,
            empty="Nobody is in this wave yet.",
        ),
        table=Table(
            "Members at each stage of contact",
            ("Stage", "Members", "% of the wave"),
            tuple(
                (name, str(n), _pct(n / figures.members) if figures.members else "")
                for name, n in stages
            ),
        ),
    )
    after = [0] * len(steps)
    before = 0
    for (_, step, _), n in figures.completes_by_bucket.items():
        if step < 0 or not steps:
            before += n
        else:
            after[step] += n
    channels = sorted({channel for (_, channel) in figures.sent_by_step})
    rows = [
        (
            label,
            f"{when:%Y-%m-%d %H:%M}",
            *(str(figures.sent_by_step.get((key, c), 0)) for c in channels),
            str(after[i]),
        )
        for i, (key, label, when) in enumerate(steps)
    ]
    labels = [label for _, label, _ in steps]
    if before:
        rows.insert(0, ("Before the invitation", "", *("" for _ in channels), str(before)))
        labels.insert(0, "Before the invitation")
        after.insert(0, before)
    after_steps = Figure(
        name="after-steps",
        heading="Completes after each contact",
        note=(
            "Completed interviews by the last step of the contact plan due before they finished: "
            "those who finished after reminder 1 was due and before reminder 2, and so on. "
            "The channel columns count the step's messages handed to each channel."
        ),
        svg=bar_chart(
            "chart-after-steps",
            "Completes after each contact",
            "; ".join(f"{label}: {n}" for label, n in zip(labels, after, strict=True)) + ".",
            labels,
            after,
            empty="No completed interviews yet.",
        ),
        table=Table(
            "Completed interviews after each step of the contact plan",
            ("Step", "Due (UTC)", *(f"Sent by {c}" for c in channels), "Completes after it"),
            tuple(rows),
        ),
    )
    return [funnel, after_steps]


def _dispositions(table: Sequence, counts: DispositionCounts) -> Figure:
    total = counts.total
    return Figure(
        name="dispositions",
        heading="AAPOR dispositions",
        note=(
            "Each member's case by AAPOR's codes for Internet surveys of named persons; "
            "cases coded by interviewers keep their call outcome (see docs/dashboard.md)."
        ),
        svg=bar_chart(
            "chart-dispositions",
            "AAPOR dispositions",
            "; ".join(f"{r.aapor} {r.label}: {r.count}" for r in table) + ".",
            [f"{r.aapor} ({r.rate_class.value})" for r in table],
            [r.count for r in table],
            empty="No cases yet.",
        ),
        table=Table(
            "Cases by AAPOR disposition",
            ("AAPOR code", "Disposition", "Rate class", "Cases", "% of cases"),
            tuple(
                (
                    r.aapor,
                    r.label,
                    r.rate_class.value,
                    str(r.count),
                    _pct(r.count / total) if total else "",
                )
                for r in table
            ),
        ),
    )


_RATE_TEXT = {
    "RR1": "Response rate 1: I / (I+P+R+NC+O+UH+UO)",
    "RR3": "Response rate 3: I / (I+P+R+NC+O + e(UH+UO))",
    "COOP1": "Cooperation rate 1: I / (I+P+R+O)",
    "REF1": "Refusal rate 1: R / (I+P+R+NC+O+UH+UO)",
    "CON1": "Contact rate 1: (I+P+R+O) / (I+P+R+NC+O+UH+UO)",
}


def _rates(
    chosen: Mapping[str, float | None],
    completion: float | None,
    cumulative: float | None,
    panel: PanelRates,
) -> Figure:
    rows = [(name, _RATE_TEXT[name], _pct(value)) for name, value in chosen.items()]
    rows.append(("COMR", "Wave completion rate: I / (cases − NE)", _pct(completion)))
    rows.append(("RECR", "Recruitment rate (the panel's, as configured)", _pct(panel.recruitment)))
    rows.append(("PROR", "Profile rate (the panel's, as configured)", _pct(panel.profile)))
    rows.append(("CUMRR", "Cumulative response rate: RECR × PROR × COMR", _pct(cumulative)))
    shown = [(name, value) for name, _, value in rows if value != ""]
    return Figure(
        name="rates",
        heading="Response rates",
        note=(
            "AAPOR rates from the dispositions above (e, for RR3, estimated as the eligible share "
            "of cases whose eligibility is known). The cumulative rate needs the panel's "
            "recruitment and profile rates; an empty cell is not known."
        ),
        svg=bar_chart(
            "chart-rates",
            "Response rates, per cent",
            "; ".join(f"{name}: {value}%" for name, value in shown) + ".",
            [name for name, _ in shown],
            [float(value) for _, value in shown],
            unit="%",
            empty="No rate can be worked out yet.",
        ),
        table=Table("Response rates (per cent)", ("Rate", "Definition", "Per cent"), tuple(rows)),
    )


def _breakoffs(figures: WaveFigures) -> Figure:
    shown = figures.breakoffs[:BREAKOFFS_SHOWN]
    total = sum(b.count for b in figures.breakoffs)
    return Figure(
        name="breakoffs",
        heading="Break-off by question",
        note=(
            "Interviews that stopped (broken off, or left unfinished for a day) by the last "
            f"question they answered; the chart shows the {BREAKOFFS_SHOWN} most common."
        ),
        svg=bar_chart(
            "chart-breakoffs",
            "Break-off by question",
            f"{total} interviews stopped; "
            + "; ".join(f"{b.variable}: {b.count}" for b in shown)
            + ".",
            [b.variable for b in shown],
            [b.count for b in shown],
            empty="No interview has stopped.",
        ),
        table=Table(
            "Stopped interviews by the last question answered",
            ("Last question answered", "Interviews", "% of stopped"),
            tuple(
                (b.variable, str(b.count), _pct(b.count / total) if total else "")
                for b in figures.breakoffs
            ),
        ),
    )


def _lengths(figures: WaveFigures) -> Figure:
    rows = [(m.mode, str(m.completes), f"{m.median_seconds / 60:.1f}") for m in figures.lengths]
    return Figure(
        name="lengths",
        heading="Median interview length by mode",
        note="Completed interviews: the median time from opening the interview to finishing it.",
        svg=bar_chart(
            "chart-lengths",
            "Median interview length by mode, minutes",
            "; ".join(f"{mode}: {minutes} minutes over {n} completes" for mode, n, minutes in rows)
            + ".",
            [m.mode for m in figures.lengths],
            [round(m.median_seconds / 60, 1) for m in figures.lengths],
            unit=" min",
            empty="No completed interviews yet.",
        ),
        table=Table(
            "Median length of completed interviews by mode",
            ("Mode", "Completes", "Median minutes"),
            tuple(rows),
        ),
    )


def _phone(figures: WaveFigures) -> Figure:
    p = figures.phone
    items = [
        ("In the call queue", p.in_queue),
        ("Callable now", p.callable_now),
        ("Held by an interviewer", p.held),
        ("Resting until a later window", p.resting),
        ("Waiting for a new window", p.waiting_for_window),
        ("Finished (final outcome)", p.final),
        ("Appointments today", p.appointments_today),
    ]
    return Figure(
        name="phone-queue",
        heading="Telephone queue",
        note=(
            "The wave's cases in the call queue, counted as the supervisor's sample overview "
            "counts them; appointments today on the wave's clock."
        ),
        svg=bar_chart(
            "chart-phone-queue",
            "Telephone queue",
            "; ".join(f"{name}: {n}" for name, n in items) + ".",
            [name.split(" (")[0] for name, _ in items],
            [n for _, n in items],
            empty="No case of this wave is in the call queue.",
        ),
        table=Table(
            "The wave's cases in the call queue",
            ("Cases", "Count"),
            tuple((name, str(n)) for name, n in items),
        ),
    )


def _subgroups(figures: WaveFigures) -> Figure:
    rows = figures.subgroups
    labels = [f"{r.variable}={r.value}" for r in rows]
    return Figure(
        name="subgroups",
        heading="Response by profile subgroup",
        note="Members of the wave by each profile variable the wave reads, and the share who completed.",
        svg=bar_chart(
            "chart-subgroups",
            "Completion by profile subgroup, per cent",
            "; ".join(
                f"{label}: {_pct(r.rate)}% of {r.members}"
                for label, r in zip(labels, rows, strict=True)
            )
            + ".",
            labels,
            [round(100 * (r.rate or 0), 1) for r in rows],
            unit="%",
            empty="The wave reads no profile variables, or has no members.",
        ),
        table=Table(
            "Members and completes by profile subgroup",
            ("Variable", "Value", "Members", "Completes", "% completed"),
            tuple(
                (r.variable, r.value, str(r.members), str(r.completes), _pct(r.rate)) for r in rows
            ),
        ),
    )
