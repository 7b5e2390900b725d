"""JSON Feed 1.0 / 1.1 (https://www.jsonfeed.org/version/1.1/) read into feedparser's shape.

Each item becomes the dict feedparser would have made for the equivalent Atom entry, so JSON
Feed stories go through the same per-item limits, id, date and language rules as RSS and Atom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JsonFeed", "looks_like_json", "read_json_feed"]

_VERSION_PREFIX = "https://jsonfeed.org/version/1"
_JSON_TYPES = ("application/feed+json", "application/json")


@dataclass
class JsonFeed:
    """A JSON Feed's title, language and items (as feedparser-shaped entry dicts)."""

    title: str
    language: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """True for a JSON media type or a body that starts as a JSON object."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _authors(obj: dict[str, Any]) -> list[dict[str, str]]:
    raw = obj.get("authors")
    if not isinstance(raw, list):  # 1.0 had one `author` object
        raw = [obj.get("author")]
    names = []
    for author in raw:
        if isinstance(author, dict) and (name := _text(author.get("name"))):
            names.append({"name": name})
    return names


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"title_detail": {"type": "text/plain"}}
    if title := _text(item.get("title")):
        entry["title"] = title
    if link := _text(item.get("url")) or _text(item.get("external_url")):
        entry["link"] = link
    item_id = item.get("id")
    if isinstance(item_id, int | float) and not isinstance(item_id, bool):
        item_id = str(item_id)  # 1.0 feeds often give numbers; 1.1 says strings
    if guid := _text(item_id):
        entry["id"] = guid
    if summary := _text(item.get("summary")):
        entry["summary"] = summary
        entry["summary_detail"] = {"type": "text/plain"}
    content = []
    if html := _text(item.get("content_html")):
        content.append({"value": html, "type": "text/html"})
    if text := _text(item.get("content_text")):
        content.append({"value": text, "type": "text/plain"})
    if content:
        entry["content"] = content
    for src, dst in (("date_published", "published"), ("date_modified", "updated")):
        if when := _text(item.get(src)):
            entry[dst] = when
    entry["authors"] = _authors(item)
    if lang := _text(item.get("language")):
        entry["language"] = lang
    return entry


def read_json_feed(body: bytes) -> JsonFeed | str:
    """The feed, or a one-line reason why the body is not a JSON Feed."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"malformed feed: not valid JSON ({type(exc).__name__})"
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(_VERSION_PREFIX):
        return "malformed feed: JSON, but not a JSON Feed (no jsonfeed.org version)"
    items = doc.get("items")
    if not isinstance(items, list):
        return "malformed feed: JSON Feed without an items list"
    return JsonFeed(
        title=_text(doc.get("title")) or "",
        language=_text(doc.get("language")),
        entries=[_entry(i) for i in items if isinstance(i, dict)],
    )
