"""Feed bytes -> `Story` records: feedparser reads RSS, Atom and RDF, `jsonfeed` JSON Feed; nh3
turns HTML into text. Dates (`dates`), encodings (`encoding`) and per-story language
(`language`) have their own modules.

Nothing here touches the network: the body comes from `fetch`, and feedparser is handed a
stream (never a string) so it cannot mistake the body for a URL or a file name to open.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3

from monitor.models import Story
from monitor.parse.cap import keep_first_entries
from monitor.parse.dates import parse_date
from monitor.parse.encoding import redecode
from monitor.parse.jsonfeed import looks_like_json, read_json_feed
from monitor.parse.language import story_language
from monitor.text import one_line

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_ENTITY_DECLARATIONS",
    "MAX_ENTITY_EXPANSION",
    "MAX_ENTRIES",
    "MAX_GUID_CHARS",
    "MAX_LINK_CHARS",
    "MAX_SUMMARY_CHARS",
    "MAX_TITLE_CHARS",
    "ParseResult",
    "entity_bomb",
    "html_to_text",
    "parse_feed",
]
from monitor.urls import canonical_url, story_id

# Feeds date items a little ahead of the clock (time zones typed wrong, embargoed copy); more
# than this is a broken date, not news from the future.
_MAX_FUTURE = timedelta(days=2)
# Nothing older than the web feed formats themselves is a real publication date; it is a
# zeroed or mis-parsed field (1970-01-01 is the usual one).
_MIN_DATE = datetime(1995, 1, 1, tzinfo=UTC)
# Block-level tags end a word even when the markup has no whitespace between them
# ("<p>One</p><p>Two</p>"); nh3 strips tags without inserting any, so we add a space first.
_BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|blockquote|"
    r"section|article|aside|header|footer|figure|figcaption|img|pre|address|nav|main)\b)",
    re.IGNORECASE,
)
# Bozo reasons about labels, not about the document: entries are complete.
_SOFT_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.CharacterEncodingUnknown,
    feedparser.NonXMLContentType,
)
_LANG = re.compile(r"^[a-z]{2,3}$")
_TITLE_FROM_SUMMARY_CHARS = 120
_SUMMARY_FROM_CONTENT_CHARS = 600
# Per-item limits, so one absurd item is cut down instead of failing its whole feed (a 32 KB
# link or GUID is over Elasticsearch's term limit; a 1 MB title is no headline). A raw field is
# cut before its HTML is stripped, at a size no real field reaches.
MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 5_000
MAX_CONTENT_CHARS = 200_000
MAX_LINK_CHARS = 2_048
MAX_GUID_CHARS = 512
_MAX_AUTHORS = 10
_RAW_FACTOR = 8  # raw (HTML) characters read per character kept
# Entries read from one feed unless the caller says otherwise (settings.max_entries_per_feed).
MAX_ENTRIES = 1_000
# Entity expansion: what an internal DTD may add to a body before it is refused. feedparser's
# fallback parser expands entities without limit once expat's own amplification guard trips
# (a 40 KB feed reached 5.8 GB), so the bound is checked on the bytes, before any parser runs.
MAX_ENTITY_EXPANSION = 1_000_000
MAX_ENTITY_DECLARATIONS = 100
_ENTITY_DECL = re.compile(
    rb"""<!ENTITY\s+(%\s+)?([^\s>]+)\s+(?:"([^"]*)"|'([^']*)'|[^>]*)\s*>""", re.DOTALL
)
_ENTITY_REF = re.compile(rb"[&%]([A-Za-z_:][\w.:-]*);")


@dataclass
class ParseResult:
    """Stories read from one feed body, plus what the operator should know about the feed."""

    stories: list[Story]
    error: str | None = None  # one line; set when no entries could be read at all
    warnings: list[str] = field(default_factory=list)
    feed_title: str | None = None
    # False when the body was not well-formed (cut short, say): what was read is kept, but the
    # feed's validators must not advance, or a 304 would hide the rest for good.
    complete: bool = True


def html_to_text(html_fragment: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    if not html_fragment:
        return ""
    spaced = _BLOCK_TAG.sub(" <", html_fragment)
    # tags=set() strips every tag but keeps its text; script/style content is dropped entirely.
    stripped = nh3.clean(spaced, tags=set(), strip_comments=True)
    return one_line(html.unescape(stripped))


def entity_bomb(body: bytes) -> str | None:
    """Why the body's internal DTD would expand too far, or None (the usual: no entity at all).

    Each declared entity's expanded size is its value's length plus what its own references
    expand to; the body's references are added up the same way. Hand-written: defusedxml
    refuses every entity, and real feeds (RSS 0.91 with HTML entity sets) declare a few.
    """
    text = body
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with a BOM: look at it as text
        try:
            text = body.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None
    if b"<!ENTITY" not in text:
        return None
    decls = list(_ENTITY_DECL.finditer(text))
    if len(decls) > MAX_ENTITY_DECLARATIONS:
        return (
            f"the feed declares {len(decls)} XML entities (limit {MAX_ENTITY_DECLARATIONS}); "
            "not parsed"
        )
    values = {m.group(2): m.group(3) or m.group(4) or b"" for m in decls}
    sizes: dict[bytes, int] = {}

    def size(name: bytes, depth: int = 0) -> int:
        if name in sizes:
            return sizes[name]
        value = values.get(name)
        if value is None or depth > 20:  # undeclared (a predefined one) or a cycle: its name
            return len(name) + 2
        sizes[name] = len(value)  # provisional, so a self-reference terminates
        total = len(value)
        for ref in _ENTITY_REF.finditer(value):
            total += size(ref.group(1), depth + 1)
            if total > MAX_ENTITY_EXPANSION:
                break
        sizes[name] = total
        return total

    total = 0
    for ref in _ENTITY_REF.finditer(text, decls[-1].end() if decls else 0):
        if ref.group(1) in values:
            total += size(ref.group(1))
            if total > MAX_ENTITY_EXPANSION:
                return (
                    f"the feed's XML entities expand to more than {MAX_ENTITY_EXPANSION} "
                    "bytes; not parsed"
                )
    return None


def _one_line(text: str, limit: int = 200) -> str:
    line = one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _truncate_words(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:-") + "…"


def _detail_text(value: str, detail: Mapping[str, Any] | None) -> str:
    """Text of a feedparser text construct; only text/plain skips the HTML stripping."""
    if detail is not None and detail.get("type") == "text/plain":
        return one_line(value)
    return html_to_text(value)


@dataclass
class _FeedContext:
    """What every entry of one feed is read against, and what the feed's entries report."""

    feed_id: str
    outlet: str
    base_url: str
    fetched_at: datetime  # UTC
    feed_lang: str | None
    default_lang: str | None
    lang_tag: str | None  # the feed's full language tag ("en-IN"): decides what IST means
    host: str | None
    warnings: list[str]
    refused: list[str] = field(default_factory=list)  # date strings nobody recognised


def _entry_published(entry: dict[str, Any], ctx: _FeedContext) -> datetime | None:
    """The entry's publication instant in UTC, read from its raw date strings.

    feedparser's `*_parsed` values are not used: its fallbacks turn unparseable strings into
    plausible wrong dates. A string nobody recognises gives None (the first-seen time stands).
    """
    refused = None
    # dict.get skips FeedParserDict's deprecated updated->published key aliasing (and its
    # warning); we choose between the two ourselves.
    for key in ("published", "updated"):
        raw = dict.get(entry, key)
        if not isinstance(raw, str) or not raw.strip():
            continue
        when = parse_date(raw, lang=ctx.lang_tag, host=ctx.host)
        if when is None:
            refused = refused or _one_line(raw, 60)
            continue
        return _in_range(when, ctx.fetched_at)
    if refused is not None:
        ctx.refused.append(refused)
    return None


def _in_range(when: datetime | None, fetched_at: datetime) -> datetime | None:
    """`when` in UTC, or None when it is before the web's feeds or days ahead of the fetch."""
    if when is None:
        return None
    try:
        when = when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if when < _MIN_DATE or when > fetched_at + _MAX_FUTURE:
        return None
    return when


def _language(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    primary = re.split(r"[-_]", raw.strip().lower(), maxsplit=1)[0]
    return primary if _LANG.match(primary) else None


def _entry_language(entry: Mapping[str, Any], ctx: _FeedContext, text: str) -> str | None:
    """Entry-level language when the entry states its own; else the feed's declaration (or
    the configured hint), overruled by the text when it confidently says another language."""
    candidates: list[object] = [entry.get("language")]
    # xml:lang on an Atom entry or on its text constructs lands in the *_detail dicts; an
    # xml:lang inherited from the feed lands there too, and is the feed's word, not the entry's.
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping):
            candidates.append(detail.get("language"))
    for item in entry.get("content") or []:
        if isinstance(item, Mapping):
            candidates.append(item.get("language"))
    for raw in candidates:
        lang = _language(raw)
        if lang and lang != ctx.feed_lang:
            return lang
    return story_language(text, ctx.feed_lang or _language(ctx.default_lang))


def _authors(entry: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            name = one_line(str(author.get("name") or author.get("email") or ""))
            if name and name not in names:
                names.append(name)
    if not names and isinstance(entry.get("author"), str):
        name = one_line(entry["author"])
        if name:
            names.append(name)
    return names


def _link(entry: Mapping[str, Any], base_url: str) -> str | None:
    raw = entry.get("link")
    if not isinstance(raw, str) or not raw.strip():
        return None
    absolute = urljoin(base_url, raw.strip())
    # javascript:, mailto: and friends are not articles.
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def _content(entry: Mapping[str, Any]) -> str | None:
    texts = []
    for item in entry.get("content") or []:
        if isinstance(item, Mapping) and isinstance(item.get("value"), str):
            text = _detail_text(item["value"][: MAX_CONTENT_CHARS * _RAW_FACTOR], item)
            if text:
                texts.append(text)
    # Feeds that offer several content variants (plain and HTML) repeat one text; keep the fullest.
    return max(texts, key=len) if texts else None


def _feed_error(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    if exc is not None:
        return f"malformed feed: {_one_line(str(exc) or type(exc).__name__)}"
    return "malformed feed: not an RSS, Atom or RDF document"


def parse_feed(
    body: bytes,
    *,
    feed_id: str,
    outlet: str,
    base_url: str,
    fetched_at: datetime,
    default_lang: str | None = None,
    content_type: str | None = None,
    max_entries: int = MAX_ENTRIES,
) -> ParseResult:
    """Read the stories of one feed body (RSS, Atom, RDF or JSON Feed); a feed with no
    readable entry gives `error`.

    At most `max_entries` entries are read (feeds list the newest first); the rest are
    reported in a warning.
    """
    fetched_utc = (
        fetched_at.astimezone(UTC) if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    )
    ctx = _FeedContext(
        feed_id=feed_id,
        outlet=outlet,
        base_url=base_url,
        fetched_at=fetched_utc,
        feed_lang=None,
        default_lang=default_lang,
        lang_tag=default_lang,
        host=urlsplit(base_url).hostname,
        warnings=[],
    )
    if looks_like_json(body, content_type):
        doc = read_json_feed(body)
        if isinstance(doc, str):
            return ParseResult(stories=[], error=doc)
        ctx.feed_lang = _language(doc.language)
        ctx.lang_tag = doc.language or default_lang
        feed_title = one_line(doc.title) or None
        return _read_entries(doc.entries, ctx, max_entries, feed_title=feed_title, complete=True)

    bomb = entity_bomb(body)
    if bomb is not None:
        return ParseResult(stories=[], error=f"malformed feed: {bomb}", complete=False)
    body, content_type, encoding_warning = redecode(body, content_type)
    if encoding_warning:
        ctx.warnings.append(encoding_warning)
    # feedparser would build every entry of a huge document before the cap drops them.
    body, listed = keep_first_entries(body, max_entries)
    if listed is not None:
        ctx.warnings.insert(0, f"feed has {listed} entries; read the first {max_entries}")
    # The charset in Content-Type outranks the XML declaration (RFC 7303); without a header,
    # application/xml lets the declaration decide instead of flagging a missing type.
    headers = {"content-location": base_url, "content-type": content_type or "application/xml"}
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            # We turn every field into plain text ourselves; feedparser's own sanitiser and URI
            # rewriting of embedded HTML would be work thrown away.
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        # feedparser reports bad input through `bozo`; a raise is its own bug, and still only
        # this feed's problem.
        return ParseResult(
            stories=[], error=f"malformed feed: parser failed: {_one_line(repr(exc))}"
        )
    feed = parsed.get("feed") or {}
    feed_title = one_line(html_to_text(feed.get("title", ""))) or None
    entries = parsed.get("entries") or []
    if not entries:
        if parsed.get("bozo") or not parsed.get("version"):
            return ParseResult(stories=[], error=_feed_error(parsed), feed_title=feed_title)
        return ParseResult(stories=[], warnings=ctx.warnings, feed_title=feed_title)

    complete = True
    if parsed.get("bozo"):
        bozo_exc = parsed.get("bozo_exception")
        reason = (
            _one_line(str(bozo_exc) or type(bozo_exc).__name__)
            if bozo_exc is not None
            else "unknown"
        )
        if isinstance(bozo_exc, _SOFT_BOZO):
            # The XML itself was fine; the server mislabelled its type or charset.
            ctx.warnings.append(f"feed content type or encoding: {reason}")
        else:
            complete = False
            ctx.warnings.append(
                f"feed is not well-formed ({reason}); read {min(len(entries), max_entries)} "
                "entries anyway"
            )
    ctx.feed_lang = _language(feed.get("language"))
    if isinstance(feed.get("language"), str):
        ctx.lang_tag = feed["language"]
    return _read_entries(entries, ctx, max_entries, feed_title=feed_title, complete=complete)


def _read_entries(
    entries: list[Any],
    ctx: _FeedContext,
    max_entries: int,
    *,
    feed_title: str | None,
    complete: bool,
) -> ParseResult:
    if len(entries) > max_entries:
        ctx.warnings.insert(0, f"feed has {len(entries)} entries; read the first {max_entries}")
        entries = entries[:max_entries]
    stories: list[Story] = []
    for position, entry in enumerate(entries, start=1):
        story = _story(entry, position, ctx)
        if story is not None:
            stories.append(story)
    if ctx.refused:
        # One line for the feed, not one per entry: a feed that writes its dates one odd way
        # writes them all that way.
        ctx.warnings.append(
            f"{len(ctx.refused)} entries have a date no parser recognises "
            f"(e.g. {ctx.refused[0]!r}); their first-seen time is kept"
        )
    return ParseResult(
        stories=stories, warnings=ctx.warnings, feed_title=feed_title, complete=complete
    )


def _story(entry: dict[str, Any], position: int, ctx: _FeedContext) -> Story | None:
    """One entry (a FeedParserDict, or a JSON Feed item in its shape) as a Story, or None."""
    warnings = ctx.warnings
    title = _limited(entry, "title", MAX_TITLE_CHARS)
    link = _link(entry, ctx.base_url)
    if link is not None and len(link) > MAX_LINK_CHARS:
        warnings.append(f"entry {position}: link longer than {MAX_LINK_CHARS} characters; dropped")
        link = None
    guid = _guid(entry.get("id"))
    summary = _limited(entry, "summary", MAX_SUMMARY_CHARS)
    content = _content(entry)
    if content is not None:
        content = _truncate_words(content, MAX_CONTENT_CHARS)
    if not title and not link and not summary and not content:
        warnings.append(f"entry {position}: no title, text or link; skipped")
        return None
    canonical = canonical_url(link) if link else ""
    key = guid
    if not canonical and not guid:
        if not summary and not content:
            warnings.append(
                f"entry {position} ({_one_line(title, 60)}): no link, GUID or text; skipped"
            )
            return None
        # RSS 2.0 requires nothing but a title or a description: an item with only text is
        # identified by that text (the same text polled again is the same story).
        digest = hashlib.sha256(f"{title}\x1f{summary}\x1f{content or ''}".encode()).hexdigest()
        key = "text:" + digest
    if content and (not summary or summary == content):
        # feedparser copies the body into `summary` when an entry has no summary of its own;
        # a summary is a teaser, the full text belongs in `content`.
        summary = _truncate_words(content, _SUMMARY_FROM_CONTENT_CHARS)
    if content == summary:
        content = None
    if not title:
        # RSS 2.0 allows an item with only a description; alerts and dedupe need a headline.
        title = _truncate_words(summary or content or link or "", _TITLE_FROM_SUMMARY_CHARS)

    return Story(
        id=story_id(canonical or None, key, ctx.feed_id),
        feed_id=ctx.feed_id,
        outlet=ctx.outlet,
        url=link or "",
        canonical_url=canonical,
        title=title,
        summary=summary,
        fetched_at=ctx.fetched_at,
        published=_entry_published(entry, ctx),
        guid=guid,
        content=content,
        lang=_entry_language(entry, ctx, f"{title}\n{summary}"),
        authors=[_one_line(a, 200) for a in _authors(entry)[:_MAX_AUTHORS]],
    )


def _limited(entry: Mapping[str, Any], key: str, limit: int) -> str:
    """A text field cut to `limit` characters at a word boundary (its raw HTML cut first)."""
    raw = str(entry.get(key) or "")[: limit * _RAW_FACTOR]
    return _truncate_words(_detail_text(raw, entry.get(f"{key}_detail")), limit)


def _guid(raw: object) -> str | None:
    """The entry's GUID; one too long to store as a term is replaced by its SHA-256."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    guid = raw.strip()
    if len(guid) > MAX_GUID_CHARS:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    return guid
