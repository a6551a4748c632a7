"""``instrument plugins``: what is installed, and what is missing.

The first thing to run when a mode or an export format is not there: it shows
every plugin with its version and hooks, plugins that were disabled or failed
to load (and why), and every mode and output format with the plugin that
provides it, flagging those whose optional dependencies are not installed.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import click

from instrument.plugins import (
    DISTRIBUTION,
    PluginError,
    PluginFacade,
    Registry,
    get_plugin_manager,
)

__all__ = ["collect_report", "plugins"]


def _install_hint(missing: tuple[str, ...], extra: str | None) -> str | None:
    if not missing:
        return None
    if extra:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    return "pip install " + " ".join(missing)


def _registry_rows(
    facade: PluginFacade, which: str, report: dict[str, Any]
) -> list[dict[str, Any]]:
    getters: dict[str, Callable[[], Registry[Any]]] = {
        "modes": facade.modes,
        "output_formats": facade.output_formats,
        "question_types": facade.question_types,
        "contact_channels": facade.contact_channels,
    }
    getter = getters[which]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            registry: Registry[Any] = getter()
        except PluginError as exc:
            report["errors"].append(str(exc))
            return []
        finally:
            report["warnings"].extend(str(w.message) for w in caught)
    rows = []
    for name, item in registry.items():
        row: dict[str, Any] = {"name": name, "plugin": registry.owner(name)}
        if which == "modes":
            row |= {"label": item.label, "capabilities": sorted(item.capabilities)}
        elif which == "output_formats":
            row |= {"extensions": list(item.extensions), "media_type": item.media_type}
        elif which == "contact_channels":
            row |= {"label": item.label, "needs": item.needs, "templates": sorted(item.templates)}
        else:
            row |= {"value_type": item.value_type}
        if which != "question_types":
            missing = item.missing_requirements()
            row |= {
                "available": not missing,
                "missing_modules": list(missing),
                "install": _install_hint(missing, item.extra),
            }
        rows.append(row)
    return rows


def collect_report(facade: PluginFacade) -> dict[str, Any]:
    """Everything ``instrument plugins`` shows, as JSON-ready data."""
    report: dict[str, Any] = {"errors": [], "warnings": []}
    report["plugins"] = [
        {
            "name": info.name,
            "source": info.source,
            "distribution": info.distribution,
            "version": info.version,
            "hooks": list(info.hooks),
        }
        for info in facade.plugin_info()
    ]
    report["not_loaded"] = facade.unavailable()
    for which in ("modes", "output_formats", "question_types", "contact_channels"):
        report[which] = _registry_rows(facade, which, report)
    return report


def _print_text(report: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"Plugins ({len(report['plugins'])}):")
    for p in report["plugins"]:
        origin = p["source"] + (f", {p['distribution']}" if p["distribution"] else "")
        echo(f"  {p['name']} {p['version'] or '(no version)'}  [{origin}]")
        echo(f"    hooks: {', '.join(p['hooks']) or 'none'}")
    if report["not_loaded"]:
        echo("Not loaded:")
        for name, why in report["not_loaded"].items():
            echo(f"  {name}: {why}")
    for which, title in (
        ("modes", "Modes"),
        ("output_formats", "Output formats"),
        ("question_types", "Question types"),
        ("contact_channels", "Contact channels"),
    ):
        rows = report[which]
        echo(f"{title} ({len(rows)}):")
        for row in rows:
            if which == "modes":
                detail = f"{row['label']}; capabilities: {', '.join(row['capabilities']) or '-'}"
            elif which == "output_formats":
                exts = " ".join("." + ext for ext in row["extensions"])
                detail = f"{exts} {row['media_type']}"
            elif which == "contact_channels":
                templates = ", ".join(row["templates"]) or "none"
                detail = f"{row['label']}; sends to: {row['needs']}; templates: {templates}"
            else:
                detail = f"values: {row['value_type']}"
            line = f"  {row['name']}  {detail}  (plugin {row['plugin']})"
            if row.get("available") is False:
                line += (
                    f"  UNAVAILABLE, missing {', '.join(row['missing_modules'])}: {row['install']}"
                )
            echo(line)
    for message in report["warnings"]:
        echo(f"warning: {message}", err=True)
    for message in report["errors"]:
        echo(f"error: {message}", err=True)


@click.command("plugins")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Human-readable text, or JSON for scripts.",
)
@click.pass_context
def plugins(ctx: click.Context, output: str) -> None:
    """List plugins, their versions and hooks, and the modes and output formats they add."""
    facade = ctx.find_object(PluginFacade) or PluginFacade(get_plugin_manager())
    report = collect_report(facade)
    if output == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        _print_text(report)
    if report["errors"]:
        ctx.exit(1)
