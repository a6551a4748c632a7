"""``instrument try`` without click: the console mode runs an interview of a file on its own."""

from __future__ import annotations

from pathlib import Path

from test_console import MINI, NOW, WEB_COMPLETE, values_block

from instrument.plugins import PluginFacade, get_plugin_manager
from instrument_console.start import EXIT_FAILED, EXIT_OK, run_file


def scripted(lines: list[str]):
    feed = iter(lines)
    out: list[str] = []
    warned: list[str] = []

    def read(prompt: str) -> str:
        out.append(prompt)
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    return read, out, warned


def run(path: Path, lines: list[str], **options):
    read, out, warned = scripted(lines)
    settings = dict(mode="web", language=None, seed=3, case={})
    settings.update(options)
    status = run_file(
        path,
        facade=PluginFacade(get_plugin_manager(load_entrypoints=False)),
        read=read,
        write=out.append,
        warn=warned.append,
        now=lambda: NOW,
        **settings,
    )
    return status, "\n".join(out), warned


def test_a_file_is_interviewed_to_the_end_with_the_engines_values() -> None:
    status, out, warned = run(MINI, WEB_COMPLETE)
    assert status == EXIT_OK and warned == []
    assert "seed 3" in out and "Outcome: complete" in out
    assert values_block(out)["trust_source_96"] == "dk (don't know)"


def test_a_seed_is_drawn_and_shown_when_none_is_given() -> None:
    status, out, _ = run(MINI, [":quit"], seed=None)
    assert status == EXIT_OK
    assert "Outcome: partial" in out and ", seed " in out


def test_problems_go_to_warn_as_file_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("meta: {id: x\n", encoding="utf-8")
    status, out, warned = run(bad, [])
    assert status == EXIT_FAILED and out == ""
    assert warned and warned[0].startswith(f"{bad}:2:1: error:")
    status, _, warned = run(MINI, [], case={"shoe_size": 9})
    assert status == EXIT_FAILED and "not a preload variable" in warned[0]
