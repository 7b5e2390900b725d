"""monitor.parse.dates: only what a parser really recognised becomes a date (#11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.parse import parse_feed
from monitor.parse.dates import parse_date

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Date strings from feedparser's, gofeed's and Miniflux's own test suites and from the issue,
# each with the instant it names (null: it names none). `known_drop`: formats left unread on
# purpose (all-numeric day/month orders, a month with three digits); they give no date.
TABLE = [
    json.loads(line)
    for line in (FIXTURES / "dates" / "feed-dates.jsonl").read_text(encoding="utf-8").splitlines()
]
FETCHED = datetime(2023, 12, 7, 12, 0, tzinfo=UTC)


def _utc(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "row", TABLE, ids=[f"{i}:{r['raw'].strip()[:40]}" for i, r in enumerate(TABLE)]
)
def test_real_world_date_strings(row: dict[str, Any]) -> None:
    got = _utc(parse_date(row["raw"], lang=row.get("lang")))
    if row.get("known_drop"):
        assert got is None
    else:
        assert got == row["utc"]


def test_the_table_covers_every_kind() -> None:
    assert len(TABLE) >= 150
    assert sum(r["utc"] is None for r in TABLE) >= 15  # strings that name no instant
    assert sum(bool(r.get("known_drop")) for r in TABLE) <= 10


@pytest.mark.parametrize(
    ("raw", "lang", "host", "expected"),
    [
        ("Wed, 06 Dec 2023 14:30:00 IST", "he", None, datetime(2023, 12, 6, 12, 30)),
        ("Wed, 06 Dec 2023 14:30:00 IST", "en-IL", None, datetime(2023, 12, 6, 12, 30)),
        (
            "Wed, 06 Dec 2023 14:30:00 IST",
            "en",
            "news.example.co.il",
            datetime(2023, 12, 6, 12, 30),
        ),
        ("Wed, 06 Dec 2023 14:30:00 IST", "en-IN", None, datetime(2023, 12, 6, 9, 0)),
        ("Wed, 06 Dec 2023 14:30:00 IST", None, None, datetime(2023, 12, 6, 9, 0)),
        ("Wed, 06 Dec 2023 14:30:00 IST", "en-IE", None, datetime(2023, 12, 6, 13, 30)),
        ("Wed, 06 Dec 2023 14:30:00 AST", "ar", None, datetime(2023, 12, 6, 11, 30)),
        ("Wed, 06 Dec 2023 14:30:00 AST", "en", None, datetime(2023, 12, 6, 18, 30)),
        ("יום ד', 6 בדצמבר 2023 14:30 IST", "he-IL", None, datetime(2023, 12, 6, 12, 30)),
        ("Rabu, 6 Desember 2023 14:30 WIB", "id", None, datetime(2023, 12, 6, 7, 30)),
        ("Donnerstag, 7. Dezember 2023 08:15 MEZ", None, None, datetime(2023, 12, 7, 7, 15)),
        # The zone database decides daylight saving: July in Los Angeles is UTC-7.
        ("Thu, 06 Jul 2023 14:30:00 America/Los_Angeles", None, None, datetime(2023, 7, 6, 21, 30)),
    ],
)
def test_ambiguous_and_named_zones(
    raw: str, lang: str | None, host: str | None, expected: datetime
) -> None:
    assert parse_date(raw, lang=lang, host=host) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "raw", ["", "   ", "yesterday", "Wed, 06 Dec 2023 14:30:00 XYZ", "x" * 500, "06 Foo 2023"]
)
def test_nothing_is_guessed(raw: str) -> None:
    assert parse_date(raw) is None


def test_feed_entries_keep_first_seen_time_for_unreadable_dates_with_one_warning() -> None:
    result = parse_feed(
        (FIXTURES / "feeds" / "odd-dates.xml").read_bytes(),
        feed_id="odd-dates",
        outlet="Clockwork",
        base_url="https://clockwork.example.net/feed.xml",
        fetched_at=FETCHED,
    )
    assert result.error is None
    by_title = {s.title: s.published for s in result.stories}
    assert by_title == {
        "Market opens early for the holiday week": datetime(2023, 12, 6, 12, 30, tzinfo=UTC),
        "Night buses extended to the airport": datetime(2023, 12, 6, 22, 30, tzinfo=UTC),
        "Library adds Sunday hours": datetime(2023, 12, 6, 14, 30, tzinfo=UTC),
        "Stadium roof inspection scheduled": None,
        "Ferry fares frozen for next year": datetime(2023, 12, 6, 8, 0, tzinfo=UTC),
    }
    assert len(result.warnings) == 1
    assert "1 entries have a date no parser recognises (e.g. '22013')" in result.warnings[0]
    assert all(s.fetched_at == FETCHED for s in result.stories)


def test_updated_is_read_when_published_is_unreadable() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>T</title><id>urn:t</id><updated>2023-12-06T10:00:00Z</updated>"
        "<entry><title>E</title><id>urn:e</id><link href='https://t.example.net/e'/>"
        "<published>sometime</published><updated>2023-12-06T09:00:00+03:00</updated></entry>"
        "</feed>"
    )
    result = parse_feed(
        body.encode(),
        feed_id="t",
        outlet="T",
        base_url="https://t.example.net/",
        fetched_at=FETCHED,
    )
    assert result.stories[0].published == datetime(2023, 12, 6, 6, 0, tzinfo=UTC)
    assert result.warnings == []
