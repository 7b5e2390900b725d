"""The delivery commands: `newsmon alerts [preview NAME]` and `newsmon mail test|list`.

Registered on the `newsmon` app by importing this module (monitor.cli does); the shared helpers
(one-line errors, settings, service errors) are monitor.cli's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor.cli import (
    ConfigOpt,
    JsonOpt,
    _kv_table,
    app,
    emit,
    err,
    error_line,
    fail,
    guarded,
    out,
    settings,
)
from monitor.config import ConfigError, parse_duration

__all__ = ["alerts", "alerts_app", "alerts_preview", "mail_app", "mail_list", "mail_test"]

alerts_app = typer.Typer(help="Send instant alerts (no subcommand), or preview a rule.")
app.add_typer(alerts_app, name="alerts")
mail_app = typer.Typer(
    no_args_is_help=True,
    help="Check that e-mail gets through, or list the local stack's mail folder.",
)
app.add_typer(mail_app, name="mail")


@alerts_app.callback(invoke_without_command=True)
def alerts(ctx: typer.Context, config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Send instant alerts for stories indexed since the last run."""
    from monitor import pipeline

    if ctx.invoked_subcommand is not None:
        return
    s = settings(config_dir)
    emit(guarded(lambda: pipeline.send_alerts(s), s), as_json, lambda r: _kv_table("Alerts", r))


def _render_preview(r: dict[str, Any]) -> None:
    t = Table(title=f"{r['rule']}: {r['events']} events since {r['since']}, {r['would_send']} owed")
    for col in ("subscriber", "ledger", "outlet", "languages", "title", "url"):
        t.add_column(col, overflow="fold")
    for m in r["matches"]:
        langs = ", ".join(m["languages"])
        t.add_row(m["subscriber"], m["ledger"], m["outlet"], langs, m["title"], m["url"])
    out.print(t)
    for e in r["rule_errors"]:
        err.print(error_line(e), highlight=False, soft_wrap=True)


@alerts_app.command("preview")
def alerts_preview(
    name: Annotated[str, typer.Argument(help="The rule's name in subscribers.yaml.")],
    since: Annotated[str, typer.Option(help="How far back: 30m, 12h, 7d.")] = "7d",
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a rule would send for the stories of the last --since: sends and writes nothing."""
    from datetime import timedelta

    from monitor import pipeline

    s = settings(config_dir)
    try:
        window = timedelta(seconds=parse_duration(since))
    except ValueError as e:
        fail(f"--since: {e}")
    try:
        report = guarded(lambda: pipeline.preview_alert(s, name, window), s)
    except ConfigError as e:
        fail(str(e))
    emit(report, as_json, _render_preview)


@mail_app.command("test")
def mail_test(
    address: Annotated[str, typer.Argument(help="Where to send the test message.")],
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send one test message with the configured SMTP settings."""
    from monitor import pipeline

    s = settings(config_dir)
    try:
        report = guarded(lambda: pipeline.send_test_mail(s, address), s)
    except ConfigError as e:
        fail(str(e))
    emit(report, as_json, lambda r: _kv_table("test message sent", r))


@mail_app.command("list")
def mail_list(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder of .eml files (make up's mail catcher).")
    ] = Path("var/mail"),
    as_json: JsonOpt = False,
) -> None:
    """The e-mails in a folder, oldest first: file, date, recipients, subject."""
    from email import policy
    from email.parser import BytesParser

    from rich.text import Text

    if not folder.is_dir():
        fail(f"{folder}: no such folder (start the stack with `make up`, or pass --dir)")
    rows = []
    for path in sorted(folder.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes(), headersonly=True)
        rows.append(
            {
                "file": path.name,
                "date": str(msg.get("Date", "")),
                "to": str(msg.get("X-Envelope-To") or msg.get("To", "")),
                "subject": str(msg.get("Subject", "")),
            }
        )

    def render(r: dict[str, Any]) -> None:
        t = Table(title=f"{r['count']} e-mails in {r['dir']}")
        for col in ("file", "date", "to", "subject"):
            t.add_column(col, overflow="fold")
        for row in r["mails"]:
            # Text, not markup: subjects start with "[newsmon]".
            t.add_row(*(Text(row[c]) for c in ("file", "date", "to", "subject")))
        out.print(t)

    emit({"dir": str(folder), "count": len(rows), "mails": rows}, as_json, render)
