"""The `newsmon` command. Thin: parse arguments, call monitor.pipeline, print a table or JSON.

User-facing errors are one line on stderr (exit 2 for bad configuration or input, 1 for an
unreachable service); tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.config import ConfigError, Settings, load_settings, parse_duration

# rich_markup_mode=None: help text is printed as written. With Rich markup on, "[env
# NEWSMON_CONFIG_DIR, ./config]" and "[a-z0-9-]" would be read as style tags and vanish.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="newsmon: news monitoring pipeline.",
    rich_markup_mode=None,
)
config_app = typer.Typer(
    no_args_is_help=True, help="Inspect and validate the configuration.", rich_markup_mode=None
)
app.add_typer(config_app, name="config")

out = Console()
# soft_wrap: a one-line error stays one line whatever the terminal width.
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config-dir", help="Configuration directory [env NEWSMON_CONFIG_DIR, ./config]."
    ),
]


def error_line(message: str) -> Text:
    # The message is data (it may quote a pattern such as [a-z0-9-]): Text, never markup.
    line = Text("error:", style="bold red")
    line.append(" " + " ".join(message.split()))
    return line


def fail(message: str, code: int = 2) -> None:
    err.print(error_line(message), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def duration(option: str, value: str) -> int:
    """Seconds in a duration option ("5m"), or a one-line error naming the option."""
    try:
        return parse_duration(value)
    except ValueError as e:
        fail(f"{option}: {e}")
        raise AssertionError from None  # unreachable: fail() raises


def settings(config_dir: Path | None) -> Settings:
    try:
        return load_settings(config_dir)
    except ConfigError as e:
        fail(str(e))
        raise AssertionError from None  # unreachable: fail() raises


def unit_errors() -> dict[type[Exception], int]:
    """What a unit of work raises that is not a bug, with the exit code each means: a service
    away (Elasticsearch, SMTP, Kibana: 1) or a broken taxonomy (2). `guarded` exits with it and
    `newsmon run` retries next cycle: one table, so the two lists never drift apart."""
    # Imported here, not at the top: `newsmon --help` should not load the service clients.
    from monitor.kibana import KibanaError
    from monitor.mail import MailError
    from monitor.store import StoreError
    from monitor.tagging import TaxonomyError

    return {StoreError: 1, MailError: 1, KibanaError: 1, TaxonomyError: 2}


def guarded(fn: Callable[[], T], s: Settings) -> T:
    """Run a unit of work, turning service outages into one-line errors (`unit_errors`)."""
    codes = unit_errors()
    try:
        return fn()
    except tuple(codes) as e:
        fail(str(e), next(code for kind, code in codes.items() if isinstance(e, kind)))
    raise AssertionError("unreachable")


def emit(report: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, default=str) + "\n")
    else:
        render(report)


def _kv_table(title: str, report: dict[str, Any]) -> None:
    from monitor.display import report_tables

    out.print(report_tables(title, report))


def _render_poll(r: dict[str, Any]) -> None:
    t = Table(title="Feeds")
    for col in ("feed", "status", "items", "new", "warnings", "error"):
        t.add_column(col, overflow="fold")
    for row in r["feeds"]:
        style = "red" if row["status"] == "error" else None
        t.add_row(
            Text(row["feed"]),
            row["status"],
            str(row["items"]),
            str(row["new"]),
            str(row["warnings"]),
            Text(row["error"] or ""),
            style=style,
        )
    out.print(t)
    _kv_table("Poll", {k: v for k, v in r.items() if k != "feeds"})


def _render_run(r: dict[str, Any]) -> None:
    _render_poll(r["poll"])
    _kv_table("Alerts", r["alerts"])
    _kv_table("Digests", r["digests"])


def _report_feed_errors(r: dict[str, Any]) -> None:
    # One line per failing feed on stderr, so a cron mail or log shows them without the table.
    for row in r["feeds"]:
        if row["status"] == "error":
            err.print(Text(f"feed {row['feed']}: {row['error']}"), highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"newsmon {version('newsmon')}\n")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """newsmon: news monitoring pipeline."""


@app.command()
def init(config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Install the Elasticsearch index templates and create the indices (idempotent)."""
    from monitor import pipeline

    s = settings(config_dir)
    emit(guarded(lambda: pipeline.init(s), s), as_json, lambda r: _kv_table("init", r))


# `run` lives in its own module (its loop is most of it); imported here, it is listed second in
# `newsmon --help`, where people look for it.
from monitor import run_cli  # noqa: E402


@app.command()
def poll(
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="Feed id (repeatable); default: all due.")
    ] = None,
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll feeds and index new stories (no alerts)."""
    from monitor import pipeline

    s = settings(config_dir)
    if feed:
        for f in feed:
            try:
                s.feed(f)
            except ConfigError as e:
                fail(str(e))
    report = guarded(lambda: pipeline.poll(s, feed or None), s)
    _report_feed_errors(report)
    emit(report, as_json, _render_poll)


@app.command()
def digests(config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Send the digests that are due."""
    from monitor import pipeline

    s = settings(config_dir)
    emit(guarded(lambda: pipeline.send_digests(s), s), as_json, lambda r: _kv_table("Digests", r))


@app.command()
def maintain(config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Retention (drop old monthly indices) and a feed-health report."""
    from monitor import pipeline

    s = settings(config_dir)
    emit(guarded(lambda: pipeline.maintain(s), s), as_json, lambda r: _kv_table("Maintenance", r))


def _json_lines(stream: TextIO, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Records from JSON Lines; a bad line is reported on stderr and skipped, the rest go on."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            err.print(f"line {n}: not valid JSON: {e.msg} (column {e.colno})", highlight=False)
            _json_lines.bad += 1  # type: ignore[attr-defined]
            continue
        missing = [k for k in required if not isinstance(rec, dict) or k not in rec]
        if missing:
            err.print(f"line {n}: missing field(s) {', '.join(missing)}", highlight=False)
            _json_lines.bad += 1  # type: ignore[attr-defined]
            continue
        yield rec


def _write(rec: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")


@app.command()
def tag(
    topics: Annotated[
        Path | None, typer.Option(help="Taxonomy file [CONFIG_DIR/topics.yaml].")
    ] = None,
    config_dir: ConfigOpt = None,
) -> None:
    """Tag JSON Lines stories from stdin (id, title, summary[, lang]); one JSON line out each.

    Title, summary and content go through the pipeline's HTML-to-text step first, as feed text
    does, so markup and link targets never produce a tag.
    """
    from monitor.parse import html_to_text
    from monitor.tagging import Tagger, TaxonomyError, load_taxonomy, tag_record

    path = topics or Path(config_dir or _env_config_dir()) / "topics.yaml"
    try:
        tagger = Tagger(load_taxonomy(path))
    except (TaxonomyError, OSError) as e:
        fail(str(e) if isinstance(e, TaxonomyError) else f"{path}: {e.strerror}")
    _json_lines.bad = 0  # type: ignore[attr-defined]
    for rec in _json_lines(sys.stdin, ("id", "title")):
        rec.setdefault("summary", "")
        for key in ("title", "summary", "content"):
            if isinstance(rec.get(key), str):
                rec[key] = html_to_text(rec[key])
        _write(tag_record(tagger, rec))
        sys.stdout.flush()
    if _json_lines.bad:  # type: ignore[attr-defined]
        raise typer.Exit(2)


@app.command()
def dedupe(
    topics: Annotated[
        Path | None, typer.Option(help="Taxonomy file [CONFIG_DIR/topics.yaml].")
    ] = None,
    config_dir: ConfigOpt = None,
) -> None:
    """Group JSON Lines stories from stdin in arrival order; one {id, cluster_id, event_id} each."""
    from monitor.clock import utcnow
    from monitor.dedupe import dedupe_records
    from monitor.tagging import Tagger, TaxonomyError, load_taxonomy

    # Events are decided on the entities the tagger finds, as in the pipeline.
    path = topics or Path(config_dir or _env_config_dir()) / "topics.yaml"
    try:
        tagger = Tagger(load_taxonomy(path))
    except (TaxonomyError, OSError) as e:
        fail(str(e) if isinstance(e, TaxonomyError) else f"{path}: {e.strerror}")
    _json_lines.bad = 0  # type: ignore[attr-defined]
    for rec in dedupe_records(_json_lines(sys.stdin, ("id",)), utcnow(), tagger):
        _write(rec)
    if _json_lines.bad:  # type: ignore[attr-defined]
        raise typer.Exit(2)


# The labelled sets `newsmon eval` reads when no --corpus is given (relative to the working
# directory, as in a checkout): the development set, the blind fixture set, the real-world set.
DEFAULT_CORPORA = (
    Path("../shared/corpus/dev-stories.jsonl"),
    Path("tests/fixtures/blind-stories.jsonl"),
    Path("../shared/corpus/realworld-dev.jsonl"),
)


@app.command(name="eval")
def evaluate(
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled JSON Lines corpus (repeatable) [the dev, blind and real-world sets "
            "found under ../shared/corpus and tests/fixtures]."
        ),
    ] = None,
    topics: Annotated[
        Path | None, typer.Option(help="Taxonomy file [CONFIG_DIR/topics.yaml].")
    ] = None,
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Precision (strict and lenient on borderline labels), recall and every error, per corpus."""
    from monitor.evaluation import evaluate as run_eval
    from monitor.evaluation import render_comparison, render_eval
    from monitor.tagging import Tagger, TaxonomyError, load_taxonomy

    path = topics or Path(config_dir or _env_config_dir()) / "topics.yaml"
    try:
        tagger = Tagger(load_taxonomy(path))
    except TaxonomyError as e:
        fail(str(e))
    corpora = corpus or [c for c in DEFAULT_CORPORA if c.is_file()]
    if not corpora:
        fail("no corpus given and none of the default sets found; pass --corpus FILE.jsonl")
    for c in corpora:
        if not c.is_file():
            fail(f"{c}: file not found")
    reports = []
    _json_lines.bad = 0  # type: ignore[attr-defined]
    for c in corpora:
        with c.open(encoding="utf-8") as fh:
            records = list(_json_lines(fh, ("id", "title")))
        reports.append(run_eval(tagger, records, corpus=str(c)))
    for report in reports:
        if as_json:
            _write(report.as_dict())
        else:
            for item in render_eval(report):
                out.print(item)
    if len(reports) > 1 and not as_json:
        out.print(render_comparison(reports))


@app.command()
def retag(
    since: Annotated[
        str, typer.Option(help="Re-tag stories first seen within this period (e.g. 30d).")
    ] = "30d",
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-tag stored stories with the current taxonomy (scroll + bulk; idempotent)."""
    from rich.progress import Progress

    from monitor import pipeline

    s = settings(config_dir)
    period = timedelta(seconds=duration("--since", since))
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("re-tagging", total=None)
        report = guarded(
            lambda: pipeline.retag(s, period, lambda n: progress.update(task, completed=n)), s
        )
    emit(report, as_json, lambda r: _kv_table("retag", r))


@config_app.command("check")
def config_check(config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Validate the files, the environment and every alert rule's query; one line per problem.

    Queries are validated by Elasticsearch (validate-query API) when it is reachable, by
    their Lucene syntax otherwise.
    """
    import os

    from monitor import pipeline
    from monitor.config import check_config
    from monitor.tagging import TaxonomyError

    check = check_config(config_dir)
    problems = list(check.problems)
    es_ok = not any(p.startswith("environment: NEWSMON_ES_URL") for p in problems)
    prefix = os.environ.get("NEWSMON_INDEX_PREFIX") or "newsmon"
    queries = pipeline.check_rules(check, prefix, use_es=es_ok)
    problems += queries["problems"]
    summary: dict[str, Any] = {}
    if check.settings is not None:
        try:
            summary = pipeline.config_summary(check.settings)
        except TaxonomyError as e:
            problems.append(str(e))
        except FileNotFoundError:
            problems.append(f"{check.settings.topics_path}: file not found")
    if problems:
        for p in problems:
            err.print(error_line(p), highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    summary["queries_validated_by"] = queries["validated_by"]
    emit(summary, as_json, lambda r: _kv_table("configuration OK", r))


def _env_config_dir() -> str:
    import os

    return os.environ.get("NEWSMON_CONFIG_DIR") or "./config"


def _configure_logging() -> None:
    """Log lines on stderr only when asked (NEWSMON_LOG_LEVEL=info, debug, ...): reports are
    tables or JSON, and failing feeds already get one line each."""
    import logging
    import os

    level = os.environ.get("NEWSMON_LOG_LEVEL", "").upper()
    if level:
        logging.basicConfig(
            level=getattr(logging, level, logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )


# `search`, `kibana …`, `alerts …`, `mail …` and `feeds …` live in their own modules; importing
# them registers them on `app`.
from monitor import analyst_cli, delivery_cli, feeds_cli  # noqa: E402

__all__ = [
    "analyst_cli",
    "app",
    "delivery_cli",
    "duration",
    "emit",
    "error_line",
    "fail",
    "feeds_cli",
    "guarded",
    "main",
    "run_cli",
    "settings",
]


def main() -> None:
    _configure_logging()
    app()
