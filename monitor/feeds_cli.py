"""The feed commands: `newsmon feeds` (health table), `feeds import FILE.opml`, `feeds check URL`.

Registered on the `newsmon` app by importing this module (monitor.cli does); `newsmon feeds`
with no subcommand prints the health table.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from monitor import cli
from monitor.cli import ConfigOpt, JsonOpt, app, emit, fail, guarded, out, settings

__all__ = [
    "OpmlError",
    "feed_id_for",
    "feeds",
    "feeds_app",
    "feeds_check",
    "feeds_enable",
    "feeds_import",
    "merge_opml",
    "read_opml",
]

feeds_app = typer.Typer(help="Feed health (no subcommand), import an OPML list, check one URL.")
app.add_typer(feeds_app, name="feeds")

# An OPML export of a few thousand subscriptions is well under this; more is not a reading list.
_MAX_OPML_BYTES = 5_000_000
_MAX_ID_CHARS = 48


@feeds_app.callback(invoke_without_command=True)
def feeds(ctx: typer.Context, config_dir: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Feed health: last poll, last success, failures, last error (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor import pipeline
    from monitor.display import feed_health_table

    s = settings(config_dir)
    emit(
        guarded(lambda: pipeline.feed_health(s), s),
        as_json,
        lambda r: out.print(feed_health_table(r["feeds"])),
    )


# ---- import -----------------------------------------------------------------------------


class OpmlError(ValueError):
    """The OPML file cannot be read as a subscription list (one line, naming the file)."""


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(title, feed URL) of every subscription in an OPML file, nested outlines included."""
    import listparser

    from monitor.parse import entity_bomb

    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_OPML_BYTES + 1)
    except OSError as e:
        raise OpmlError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if len(data) > _MAX_OPML_BYTES:
        raise OpmlError(f"{path}: larger than {_MAX_OPML_BYTES} bytes; not an OPML reading list")
    bomb = entity_bomb(data)
    if bomb:
        raise OpmlError(f"{path}: {bomb}")
    # Bytes, never a str: listparser fetches a str that looks like a URL.
    parsed = listparser.parse(data)
    if parsed.get("bozo") or not str(parsed.get("version", "")).startswith("opml"):
        reason = parsed.get("bozo_exception") or "no <opml> root element"
        one = " ".join(str(reason).split())[:200]
        raise OpmlError(f"{path}: not a valid OPML file ({one}); export it again from the reader")
    return [(str(f.get("title") or ""), str(f.get("url") or "")) for f in parsed.feeds]


def _url_key(url: str) -> str:
    """Two spellings of one feed URL compare equal: scheme and host case, a trailing slash."""
    import httpx

    try:
        u = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.strip()
    return str(u.copy_with(scheme=u.scheme.lower(), host=u.host.lower())).rstrip("/")


def feed_id_for(title: str, url: str, taken: set[str]) -> str:
    """A feed id ([a-z0-9-]) from the title (else the URL's host), unique among `taken`."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:_MAX_ID_CHARS].strip("-")
    if not base:  # a title in a non-Latin script, or none: the host names the feed
        import httpx

        try:
            host = httpx.URL(url).host
        except (httpx.InvalidURL, TypeError, ValueError):
            host = ""
        base = re.sub(r"[^a-z0-9]+", "-", host.lower().removeprefix("www.")).strip("-") or "feed"
        base = base[:_MAX_ID_CHARS].strip("-")
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


def merge_opml(doc: Any, subscriptions: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Append the new subscriptions to a feeds.yaml document (in place); one row per entry
    saying what happened to it: added, duplicate (same URL already there) or invalid."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from monitor.config import FeedConfig

    feeds = doc.setdefault("feeds", [])
    taken = {str(f.get("id")) for f in feeds if isinstance(f, dict)}
    known = {_url_key(str(f.get("url", ""))) for f in feeds if isinstance(f, dict)}
    rows = []
    for title, url in subscriptions:
        name = " ".join(title.split())[:200]
        row = {"id": "", "name": name, "url": url, "action": "added", "reason": ""}
        if _url_key(url) in known:
            row["action"], row["reason"] = "duplicate", "this URL is already in feeds.yaml"
        else:
            fid = feed_id_for(name, url, taken)
            try:
                FeedConfig(id=fid, url=url, name=name or fid)
            except ValueError as e:
                first = e.errors()[0]["msg"] if hasattr(e, "errors") else str(e)
                row["action"], row["reason"] = "invalid", f"url: {first}"
            else:
                # Quoted as the shipped file quotes them: a "?" in a flow mapping is YAML syntax.
                quoted = DoubleQuotedScalarString(url)
                entry = CommentedMap([("id", fid), ("name", name or fid), ("url", quoted)])
                entry.fa.set_flow_style()  # one line per feed, as the shipped file writes them
                feeds.append(entry)
                taken.add(fid)
                known.add(_url_key(url))
                row["id"] = fid
        rows.append(row)
    return rows


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".feeds-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@feeds_app.command("import")
def feeds_import(
    file: Annotated[Path, typer.Argument(help="An OPML subscription list (from a feed reader).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added; write nothing.")
    ] = False,
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the feeds of an OPML file to feeds.yaml (existing feeds kept, same URLs skipped)."""
    import io

    import yaml as pyyaml
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from monitor.config import ConfigError, FeedsFile

    s = settings(config_dir)  # the current file must be valid before anything is added
    path = s.config_dir / "feeds.yaml"
    try:
        subscriptions = read_opml(file)
    except OpmlError as e:
        fail(str(e))
    yaml = YAML()  # round trip: the file's comments, order, quotes and indentation are kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as e:
        fail(f"{path}: cannot read it ({' '.join(str(e).split())[:200]})")
    rows = merge_opml(doc, subscriptions)
    added = sum(1 for r in rows if r["action"] == "added")
    buf = io.StringIO()
    yaml.dump(doc, buf)
    try:  # read back as `load_settings` reads it
        FeedsFile.model_validate(pyyaml.safe_load(buf.getvalue()))
    except (
        ValueError,
        ConfigError,
        pyyaml.YAMLError,
    ) as e:  # a bug here must never write a broken file
        fail(f"{path}: the merged file would not validate ({' '.join(str(e).split())[:200]})")
    if added and not dry_run:
        _write_atomically(path, buf.getvalue())
    report = {
        "file": str(file),
        "feeds_yaml": str(path),
        "dry_run": dry_run,
        "added": added,
        "duplicates": sum(1 for r in rows if r["action"] == "duplicate"),
        "invalid": sum(1 for r in rows if r["action"] == "invalid"),
        "feeds": rows,
    }

    def render(r: dict[str, Any]) -> None:
        verb = "would add" if r["dry_run"] else "added"
        t = Table(title=f"{r['file']}: {verb} {r['added']} feeds to {r['feeds_yaml']}")
        for col in ("action", "id", "name", "url", "reason"):
            t.add_column(col, overflow="fold")
        for row in r["feeds"]:
            action = "would add" if r["dry_run"] and row["action"] == "added" else row["action"]
            t.add_row(action, row["id"], row["name"], row["url"], row["reason"])
        out.print(t)

    emit(report, as_json, render)


# ---- check ------------------------------------------------------------------------------


def check_feed(url: str, s: Any) -> dict[str, Any]:
    """Fetch and parse one feed URL once, as a poll would, and tag its items; nothing stored.

    Raises ValueError with a one-line reason when the fetch or the parse fails.
    """
    from monitor.clock import utcnow
    from monitor.fetch import FeedRequest, fetch_feeds

    (res,) = fetch_feeds(
        [FeedRequest(feed_id="check", url=url)],
        timeout=s.fetch_timeout,
        allow_private=s.allow_private_feeds,
    )
    if not res.ok:
        raise ValueError(f"{url}: {res.error or f'HTTP {res.status}'}")
    from monitor.parse import parse_feed  # after the fetch: a failed one answers sooner

    now = utcnow()
    parsed = parse_feed(
        res.body or b"",
        feed_id="check",
        outlet="",
        base_url=res.final_url or url,
        fetched_at=now,
        content_type=res.content_type,
        max_entries=s.max_entries_per_feed,
    )
    if parsed.error:
        raise ValueError(f"{url}: {parsed.error}")
    from monitor.pipeline import tagger_for
    from monitor.pipeline.polling import tag_stories

    tag_stories(parsed.stories, tagger_for(s))
    return {
        "url": url,
        "final_url": res.final_url,
        "status": res.status,
        "feed_title": parsed.feed_title,
        "items": [
            {
                "title": st.title,
                "url": st.url,
                "published": st.published.isoformat() if st.published else None,
                "lang": st.lang,
                "topics": st.topics,
                "id": st.id,
            }
            for st in parsed.stories
        ],
        "warnings": list(parsed.warnings),
    }


@feeds_app.command("check")
def feeds_check(
    url: Annotated[str, typer.Argument(help="The feed URL (RSS, Atom, RDF or JSON Feed).")],
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch and parse one feed once and show what would be indexed (nothing is stored)."""
    from monitor.tagging import TaxonomyError

    s = settings(config_dir)
    try:
        report = check_feed(url, s)
    except TaxonomyError as e:
        fail(str(e))
    except ValueError as e:
        fail(str(e), 1)

    def render(r: dict[str, Any]) -> None:
        title = r["feed_title"] or r["url"]
        t = Table(title=f"{title}: {len(r['items'])} items, {len(r['warnings'])} warnings")
        for col in ("title", "published", "lang", "topics"):
            t.add_column(col, overflow="fold")
        for item in r["items"]:
            t.add_row(
                item["title"],
                item["published"] or "-",
                item["lang"] or "-",
                ", ".join(item["topics"]),
            )
        out.print(t)
        if r["warnings"]:
            w = Table(title="warnings (items skipped or read with a guess)")
            w.add_column("warning", overflow="fold")
            for line in r["warnings"]:
                w.add_row(line)
            out.print(w)

    emit(report, as_json, render)


# ---- enable -----------------------------------------------------------------------------


@feeds_app.command("enable")
def feeds_enable(
    feed_id: Annotated[str, typer.Argument(help="The feed's id in feeds.yaml.")],
    config_dir: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll a gone (HTTP 410) or dead feed again at the next poll.

    A gone feed is otherwise never polled again until its URL in feeds.yaml changes.
    """
    from monitor import pipeline
    from monitor.config import ConfigError

    s = settings(config_dir)
    try:
        s.feed(feed_id)
    except ConfigError as e:
        fail(str(e))
    emit(
        guarded(lambda: pipeline.enable_feed(s, feed_id), s),
        as_json,
        lambda r: cli._kv_table(f"Feed {feed_id}", r),
    )
