"""``instrument audit``: read the staff audit log (it can only be read: see docs/audit.md).

Also :func:`cli_actor`, the name a command run from a shell writes into the log.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys

import click

from instrument.commands.export import _DATABASE_HELP, parse_since

__all__ = ["ACTOR_ENV", "audit", "cli_actor"]

ACTOR_ENV = "INSTRUMENT_ACTOR"
"""Who runs the command, for the audit log (else the operating-system user)."""


def cli_actor() -> str:
    """``cli:<name>``: $INSTRUMENT_ACTOR, else the operating-system user running the command.

    A shared service account can say which person it runs for by setting the
    variable; the ``cli:`` prefix keeps shell users apart from staff accounts.
    """
    name = os.environ.get(ACTOR_ENV, "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            name = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{name}"


@click.command("audit")
@click.option("--database", "database", metavar="URL", default=None, help=_DATABASE_HELP)
@click.option("--action", default=None, help="Only this action (export, view_contacts, ...).")
@click.option("--actor", default=None, help="Only this actor (a staff username, or cli:NAME).")
@click.option("--subject", default=None, help="Only this subject (member:P..., questionnaire:ID).")
@click.option("--since", default=None, metavar="DATE", help="Only entries on or after DATE (UTC).")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "csv", "json"]),
    default="text",
    show_default=True,
    help="csv and json write one entry per row or line, for a spreadsheet or a script.",
)
def audit(
    database: str | None,
    action: str | None,
    actor: str | None,
    subject: str | None,
    since: str | None,
    output: str,
) -> None:
    """Print the staff audit log, oldest first: who saw, exported or withdrew what, and when."""
    from instrument.store import open_store

    with open_store(database) as store:
        entries = store.staff_audit_entries(
            since=parse_since(since), action=action, actor=actor, subject=subject
        )
        if output == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(["id", "at", "actor", "action", "subject", "detail"])
            for e in entries:
                detail = json.dumps(e.detail, sort_keys=True) if e.detail is not None else ""
                writer.writerow(
                    [e.id, e.at.isoformat(), e.actor, e.action, e.subject or "", detail]
                )
            return
        count = 0
        for e in entries:
            count += 1
            if output == "json":
                click.echo(
                    json.dumps(
                        {
                            "id": e.id,
                            "at": e.at.isoformat(),
                            "actor": e.actor,
                            "action": e.action,
                            "subject": e.subject,
                            "detail": e.detail,
                        },
                        sort_keys=True,
                    )  # fmt: skip
                )
                continue
            detail = " ".join(f"{k}={v}" for k, v in sorted((e.detail or {}).items()))
            click.echo(
                f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor}  {e.action}  {e.subject or '-'}"
                + (f"  {detail}" if detail else "")
            )
        if output == "text":
            click.echo(f"{count} entr{'y' if count == 1 else 'ies'}", err=True)
