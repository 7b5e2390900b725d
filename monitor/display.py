"""How the `newsmon` command shows reports: readable tables, short local times, one-line cycles.

Every piece of text that comes from data (feed names, error messages, story titles) goes in as
a `rich.text.Text`, never as markup, so brackets such as ``[a-z0-9-]`` are printed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from monitor.store.search import HIGHLIGHT_TAGS, SearchResult

__all__ = [
    "cycle_line",
    "feed_health_table",
    "highlighted",
    "local_time",
    "report_tables",
    "search_table",
]

_ISO_KEYS = (
    "last_polled",
    "last_success",
    "next_due",
    "published",
    "fetched_at",
    "created_at",
    "sent_at",
)


def local_time(value: datetime | str | None, *, seconds: bool = False) -> str:
    """An instant as short local time ("2026-12-31 23:47"); "" for none.

    Stored instants are UTC; people read their own zone (the process's TZ).
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if value.tzinfo is None:  # naive instants in reports are UTC by convention
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def highlighted(fragment: str, style: str = "bold yellow") -> Text:
    """A highlight fragment (matches between HIGHLIGHT_TAGS) as styled text, brackets intact."""
    pre, post = HIGHLIGHT_TAGS
    text = Text()
    rest = fragment
    while pre in rest:
        head, _, tail = rest.partition(pre)
        match, _, rest = tail.partition(post)
        text.append(head)
        text.append(match, style=style)
    text.append(rest)
    return text


def _cell(key: str, value: Any) -> Text:
    if value is None:
        return Text("")
    if key in _ISO_KEYS or key.endswith("_at"):
        return Text(local_time(value))
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, Mapping):
        return Text(", ".join(f"{k}: {v}" for k, v in value.items()) or "—")
    if isinstance(value, list | tuple):
        if not value:
            return Text("—")
        return Text("\n".join(str(v) for v in value))
    return Text(str(value))


def _rows_table(title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    t = Table(title=title)
    for col in columns:
        t.add_column(col.replace("_", " "), overflow="fold")
    for row in rows:
        t.add_row(*(_cell(c, row.get(c)) for c in columns))
    return t


def report_tables(title: str, report: Mapping[str, Any]) -> RenderableType:
    """A report as tables: scalars in a two-column table, each list of records in its own."""
    summary = Table(title=title, show_header=False)
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    extra: list[RenderableType] = []
    for key, value in report.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            summary.add_row(Text(key.replace("_", " ")), Text(f"{len(value)} (below)"))
            extra.append(_rows_table(key.replace("_", " "), value))
        else:
            summary.add_row(Text(key.replace("_", " ")), _cell(key, value))
    return Group(summary, *extra)


def cycle_line(at: datetime, report: Mapping[str, Any]) -> str:
    """One line for one `newsmon run --interval` cycle, local time first."""
    poll = report.get("poll", {})
    alerts = report.get("alerts", {})
    digests = report.get("digests", {})
    parts = [
        local_time(at, seconds=True),
        f"polled {poll.get('feeds_polled', 0)} feeds ({poll.get('feeds_failed', 0)} failed),",
        f"{poll.get('stories_new', 0)} new stories,",
        f"{poll.get('duplicates_clustered', 0)} copies;",
        f"alerts {alerts.get('sent', 0)} sent, {len(alerts.get('failed') or [])} failed;",
        f"digests {digests.get('sent', 0)} sent",
    ]
    return " ".join(parts)


def search_table(result: SearchResult, *, unique: bool) -> Table:
    """Search results, newest first: when, outlet, language, the story with its match."""
    t = Table(
        title=f"{len(result.hits)} of {result.total} stories ({result.events} events)",
        title_justify="left",
    )
    t.add_column("published", no_wrap=True)
    t.add_column("outlet", overflow="fold", max_width=18)
    t.add_column("lang", no_wrap=True)
    if unique:
        t.add_column("reports", justify="right")
    t.add_column("story", overflow="fold", ratio=1)
    for h in result.hits:
        story = Text(h.title, style="bold")
        pre = HIGHLIGHT_TAGS[0]
        if (
            pre in h.highlight
            and h.highlight.replace(pre, "").replace(HIGHLIGHT_TAGS[1], "") == h.title.strip()
        ):
            story = highlighted(h.highlight, style="bold reverse")
        elif h.highlight:
            story.append("\n")
            story.append_text(highlighted(h.highlight))
        if unique and len(h.outlets) > 1:
            story.append("\nalso: " + ", ".join(o for o in h.outlets if o != h.outlet), "dim")
        if h.url:
            story.append("\n" + h.url, style="dim")
        cells: list[RenderableType] = [
            Text(local_time(h.published or h.fetched_at)),
            Text(h.outlet),
            Text(h.lang or ""),
        ]
        if unique:
            cells.append(Text(str(h.reports)))
        t.add_row(*cells, story)
    return t


def feed_health_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """`newsmon feeds`: one row per feed, times short and local, failing feeds in red.

    The configured and the polled URL are shown only when a permanent redirect moved a feed.
    """
    moved = any(row.get("effective_url") for row in rows)
    t = Table(title="Feed health")
    t.add_column("feed", overflow="fold")
    t.add_column("status", no_wrap=True)
    if moved:
        t.add_column("url", overflow="fold")  # as configured
        t.add_column("moved to", overflow="fold")
    t.add_column("next due", no_wrap=True)
    t.add_column("last polled", no_wrap=True)
    t.add_column("last success", no_wrap=True)
    t.add_column("failures", justify="right")
    t.add_column("error class", no_wrap=True)
    t.add_column("7 days", justify="right")
    t.add_column("stories", justify="right")
    t.add_column("error", overflow="fold")
    for row in rows:
        status = row.get("status") or "ok"
        cells: list[str | Text] = [Text(row["feed"]), status]
        if moved:
            cells += [Text(row.get("url") or ""), Text(row.get("effective_url") or "")]
        due = "not polled" if status == "gone" else (local_time(row.get("next_due")) or "now")
        cells += [
            due,
            local_time(row["last_polled"]) or "never",
            local_time(row["last_success"]) or "never",
            str(row["failures"]),
            row.get("error_class") or "",
            str(row.get("items_7d", 0)),
            str(row["stories"]),
            Text(row["error"] or ""),
        ]
        t.add_row(*cells, style="red" if row["failures"] or status == "gone" else None)
    return t
