"""A panel wave's export: one row per eligible member with the dashboard's disposition (issue 13).

The wave with a hand-worked history (tests/panel_dashboard_helpers.py:
seventeen eligible members, each with one story, plus a member found not
eligible, a member of another wave and a test interview) is exported with
``instrument wave export``; the files are read back by pyreadstat (a reader we
did not write), and the file's dispositions must be the dashboard's table
worked out by hand, one row per eligible member, with the members' panel
pseudonyms and nobody else.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyreadstat
import sqlalchemy as sa
from click.testing import CliRunner
from panel_dashboard_helpers import EXPECTED, WAVE_TEXT, add_version, make_wave_history

from instrument.cli import cli
from instrument.dataset.wave import disposition_code
from instrument.store import Store
from instrument.store.schema import members, wave_members
from tests.store_fixtures import database_url, postgres_database, store  # noqa: F401 (fixtures)


def wave_file(folder: Path) -> Path:
    path = folder / "families.wave1.yaml"
    path.write_text(WAVE_TEXT, encoding="utf-8")
    return path


def export(database_url: str, folder: Path, *extra: str) -> tuple[str, Path]:
    out = folder / "out"
    result = CliRunner().invoke(
        cli,
        ["wave", "export", str(wave_file(folder)), "--out", str(out), "--database", database_url]
        + list(extra),
    )
    assert result.exit_code == 0, result.output
    return result.output, out


def eligible_pseudonyms(store: Store, wave_id: int) -> set[str]:
    with store.engine.connect() as connection:
        return set(
            connection.execute(
                sa.select(members.c.pseudonym)
                .join(wave_members, wave_members.c.member_id == members.c.id)
                .where(wave_members.c.wave_id == wave_id, wave_members.c.eligible.is_(True))
            ).scalars()
        )


def test_one_row_per_eligible_member_with_the_dashboards_dispositions(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    wave_id = make_wave_history(store, add_version(store))
    output, out = export(database_url, tmp_path, "--format", "sav,csv")
    frame, meta = pyreadstat.read_sav(str(out / "mini_w1.sav"))

    assert len(frame) == EXPECTED["members"]
    assert "17 eligible members" in output
    # the members' panel pseudonyms, each once, and nobody else's
    named = [m for m in frame["member_id"] if m]
    assert len(named) == len(set(named))
    assert set(named) <= eligible_pseudonyms(store, wave_id)
    # every disposition as the dashboard's hand-worked table has it
    labels = meta.variable_value_labels["disposition"]
    got = Counter(labels[code].split(" ")[0] for code in frame["disposition"])
    want: Counter[str] = Counter()
    for aapor, label, _, n in EXPECTED["dispositions"]:
        want[aapor] += n
        assert label in labels[disposition_code(aapor)]
    assert got == want
    assert labels[disposition_code("2.11")] == (
        "2.11 Refusal: asked for no more contact / Refusal: withdrew"
    )
    classes = meta.variable_value_labels["rate_class"]
    by_class = Counter(classes[c].split(":")[0] for c in frame["rate_class"])
    want_classes: Counter[str] = Counter()
    for _, _, cls, n in EXPECTED["dispositions"]:
        want_classes[str(cls)] += n
    assert by_class == want_classes
    # the interviewed have their interview's outcome, the others 0
    outcome = meta.variable_value_labels["outcome"]
    assert outcome[0] == "No interview in this wave"
    assert set(frame["wave"]) == {"w1"}


def test_an_unknown_wave_is_an_error_and_writes_nothing(database_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "wave",
            "export",
            str(wave_file(tmp_path)),
            "--out",
            str(tmp_path / "out"),
            "--database",
            database_url,
        ],
    )
    assert result.exit_code != 0
    assert "wave w1 of panel families was never opened" in result.output
    assert not (tmp_path / "out").exists()
