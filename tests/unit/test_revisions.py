"""When a known item's text counts as changed (a new version) and how history is bounded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.revisions import HISTORY_LIMIT, Version, material_change, push_history

T = "Ferry services suspended"
S = "Crossings to the islands stop until the wind drops."


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("FERRY   services suspended", S),  # case and spacing
        ("Ferry services suspended.", S),  # punctuation
        ("Ferry services suspended", "Crossings to the islands stop until the wind drops"),
        ("Ferry\u00a0services suspended", S),  # a no-break space from another CMS
        ("", ""),  # a feed that lost its text on a bad day is no new version
        (T, ""),  # nor one that dropped the summary
    ],
)
def test_trivial_changes_are_not_versions(title: str, summary: str) -> None:
    assert not material_change(T, S, title, summary)


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Ferry services resume", S),
        (T, "Crossings to the islands resume on Friday."),
        ("Feribot seferleri iptal edildi", S),
    ],
)
def test_changed_words_are_versions(title: str, summary: str) -> None:
    assert material_change(T, S, title, summary)


def test_history_keeps_the_newest_versions_only() -> None:
    history: list[dict[str, Any]] = []
    for n in range(HISTORY_LIMIT + 3):
        seen = datetime(2026, 1, 1, n, tzinfo=UTC)
        history = push_history(history, Version(f"title {n}", "s", seen))
    assert len(history) == HISTORY_LIMIT
    assert history[0]["title"] == "title 3"
    assert history[-1] == {
        "title": f"title {HISTORY_LIMIT + 2}",
        "summary": "s",
        "seen_at": "2026-01-01T12:00:00+00:00",
    }
