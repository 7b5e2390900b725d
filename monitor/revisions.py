"""Updated entries: when a known item's text changed enough to keep a new version.

Pure: `pipeline.updates` reads the stored version (via `store`), asks `material_change`, and
writes the new one with the old text pushed onto `history`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["HISTORY_LIMIT", "Version", "material_change", "push_history", "text_key"]

# Versions kept per story: a feed that rewrites a headline every poll must not grow a
# document without bound.
HISTORY_LIMIT = 10


@dataclass(frozen=True)
class Version:
    """One earlier text of a story and when newsmon first saw it."""

    title: str
    summary: str
    seen_at: datetime | None


def text_key(text: str) -> str:
    """The text with what feeds change for no reason removed: case, whitespace, punctuation
    and Unicode form (a CMS re-saving "Erdoğan" decomposed, curly quotes for straight ones)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = [
        ch if not unicodedata.category(ch).startswith(("P", "Z", "C")) else " " for ch in folded
    ]
    return " ".join("".join(kept).split())


def material_change(old_title: str, old_summary: str, new_title: str, new_summary: str) -> bool:
    """Whether the new title or summary says something the old one did not.

    An empty new text is never a change: feeds drop a summary on a bad day, and losing the
    stored text to that would be a loss, not an update.
    """
    if not text_key(new_title) and not text_key(new_summary):
        return False
    title_changed = bool(text_key(new_title)) and text_key(new_title) != text_key(old_title)
    summary_changed = bool(text_key(new_summary)) and (
        text_key(new_summary) != text_key(old_summary)
    )
    return title_changed or summary_changed


def push_history(
    history: list[dict[str, Any]], old: Version, limit: int = HISTORY_LIMIT
) -> list[dict[str, Any]]:
    """The history with `old` added as the newest entry (oldest entries dropped past `limit`)."""
    entry = {
        "title": old.title,
        "summary": old.summary,
        "seen_at": old.seen_at.isoformat() if old.seen_at else None,
    }
    return [*history, entry][-limit:]
