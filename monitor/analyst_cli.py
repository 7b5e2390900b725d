"""The analyst-facing commands: `newsmon search` and `newsmon kibana export|import`.

Registered on the `newsmon` app by importing this module (monitor.cli does); the shared helpers
(one-line errors, settings, service errors) are monitor.cli's.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.text import Text

from monitor.cli import (
    ConfigOpt,
    JsonOpt,
    _kv_table,
    _write,
    app,
    duration,
    emit,
    fail,
    guarded,
    out,
    settings,
)

__all__ = ["kibana_app", "kibana_export", "kibana_import", "search"]

kibana_app = typer.Typer(
    no_args_is_help=True,
    help="newsmon's Kibana saved objects (data views, searches, dashboard).",
    rich_markup_mode=None,
)
app.add_typer(kibana_app, name="kibana")


@app.command()
def search(
    query: Annotated[
        str,
        typer.Argument(
            help="Lucene query, as in Kibana's Lucene mode and alert rules, over title, "
            "summary, content and folded text (erdogan finds Erdoğan); e.g. 'ceasefire AND "
            'people:"Ismail Haniyeh"\'. Empty: every story.'
        ),
    ] = "",
    topic: Annotated[str | None, typer.Option(help="Only this topic id.")] = None,
    person: Annotated[
        str | None, typer.Option(help="Only stories naming this person (canonical name).")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Only this language (en, tr, ar, he).")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only stories published within this period (e.g. 7d).")
    ] = None,
    unique: Annotated[
        bool, typer.Option("--unique", help="One row per event (reports of one event).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Rows to show.")] = 20,
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search indexed stories, newest first, matches highlighted; with a Kibana URL, the link."""
    from monitor.clock import utcnow
    from monitor.display import search_table
    from monitor.kibana import discover_url
    from monitor.pipeline import open_store
    from monitor.store import SearchRequest

    cutoff = utcnow() - timedelta(seconds=duration("--since", since)) if since else None
    s = settings(config_dir)
    req = SearchRequest(
        query=query, topic=topic, person=person, lang=lang, since=cutoff, unique=unique, limit=limit
    )
    result = guarded(lambda: open_store(s).search.run(req), s)
    kibana = s.kibana_public_url or s.kibana_url
    link = (
        discover_url(
            kibana,
            s.index_prefix,
            query=query,
            topic=topic,
            person=person,
            lang=lang,
            since=cutoff,
            unique=unique,
        )
        if kibana
        else None
    )
    if as_json:
        _write(
            {
                "total": result.total,
                "events": result.events,
                "hits": [h.as_dict() for h in result.hits],
                "kibana": link,
            }
        )
        return
    out.print(search_table(result, unique=unique))
    if link:
        out.print(Text("Kibana: " + link), soft_wrap=True, highlight=False)


@kibana_app.command("export")
def kibana_export(
    prefix: Annotated[
        str | None, typer.Option(help="Index prefix [env NEWSMON_INDEX_PREFIX, newsmon].")
    ] = None,
) -> None:
    """Print the saved objects (NDJSON) for an index prefix, as `init` imports them."""
    import os
    import re

    from monitor.kibana import objects_for_prefix
    from monitor.resources import kibana_saved_objects

    p = prefix or os.environ.get("NEWSMON_INDEX_PREFIX") or "newsmon"
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", p):
        fail(f"--prefix: {p!r} must be lower-case letters, digits, - or _")
    sys.stdout.write(objects_for_prefix(kibana_saved_objects(), p))


@kibana_app.command("import")
def kibana_import(config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Import (overwrite) the saved objects into NEWSMON_KIBANA_URL for NEWSMON_INDEX_PREFIX."""
    from monitor.kibana import import_saved_objects

    s = settings(config_dir)
    kibana = s.kibana_url
    if not kibana:
        fail("NEWSMON_KIBANA_URL is not set: set it to Kibana's address (http://host:5601)")
        return
    report = guarded(lambda: import_saved_objects(kibana, s.index_prefix, s.es), s)
    emit(report, as_json, lambda r: _kv_table("Kibana import", r))
