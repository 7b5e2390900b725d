"""monitor.parse: legacy encodings, per-story language, text-only items and JSON Feed (#11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.parse import MAX_TITLE_CHARS, ParseResult, parse_feed
from monitor.parse.encoding import redecode
from monitor.parse.language import detect, story_language
from monitor.urls import story_id

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FETCHED = datetime(2023, 12, 7, 12, 0, tzinfo=UTC)


def parse(name: str, content_type: str | None = None, **kwargs: object) -> ParseResult:
    return parse_feed(
        (FEEDS / name).read_bytes(),
        feed_id=name.split(".")[0],
        outlet="Test",
        base_url="https://feeds.example.net/" + name,
        fetched_at=FETCHED,
        content_type=content_type,
        **kwargs,  # type: ignore[arg-type]
    )


# --- encodings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding", "title", "lang"),
    [
        ("hebrew-cp1255-undeclared.xml", "cp1255", "ועדת התכנון אישרה את הרחבת הנמל בחיפה", "he"),
        (
            "hebrew-cp1255-declared-latin1.xml",
            "cp1255",
            "ועדת התכנון אישרה את הרחבת הנמל בחיפה",
            "he",
        ),
        (
            "arabic-cp1256-undeclared.xml",
            "cp1256",
            "افتتاح معرض الكتاب الدولي بمشاركة واسعة من دور النشر",
            "ar",
        ),
        (
            "turkish-8859-9-undeclared.xml",
            "iso8859_9",
            "Belediye kış için yeni otobüs hatlarını açıkladı",
            "tr",
        ),
        (
            "french-1252-undeclared.xml",
            "cp1252",
            "Le conseil régional vote un budget élargi pour les lycées",
            "fr",
        ),
    ],
)
def test_legacy_encoding_without_or_with_a_wrong_charset_is_detected(
    name: str, encoding: str, title: str, lang: str
) -> None:
    result = parse(name)
    assert result.error is None
    (story,) = result.stories
    assert story.title == title
    assert story.lang == lang
    assert result.warnings == [
        f"feed {_declared(name)} but reads as {encoding}; decoded as {encoding}"
    ]
    assert result.complete


def _declared(name: str) -> str:
    return "declares iso-8859-1" if "latin1" in name else "declares no charset"


def test_dates_in_the_detected_feeds_are_read_in_their_languages() -> None:
    he = parse("hebrew-cp1255-undeclared.xml").stories[0]
    ar = parse("arabic-cp1256-undeclared.xml").stories[0]
    tr = parse("turkish-8859-9-undeclared.xml").stories[0]
    assert he.published == datetime(2023, 12, 6, 19, 15, tzinfo=UTC)  # IST in a Hebrew feed
    assert ar.published == datetime(2023, 12, 6, 7, 0, tzinfo=UTC)
    assert tr.published == datetime(2023, 12, 6, 11, 30, tzinfo=UTC)


def test_a_correct_declaration_is_left_alone() -> None:
    body = (FEEDS / "turkish-tr.xml").read_bytes()
    assert redecode(body, None) == (body, None, None)
    utf8 = "<?xml version='1.0'?><rss><channel><title>Ümit</title></channel></rss>".encode()
    assert redecode(utf8, "application/rss+xml") == (utf8, "application/rss+xml", None)


def test_the_charset_header_is_replaced_and_the_declaration_rewritten() -> None:
    body = (FEEDS / "hebrew-cp1255-declared-latin1.xml").read_bytes()
    fixed, content_type, warning = redecode(body, "application/rss+xml; charset=ISO-8859-1")
    assert content_type == "application/rss+xml; charset=utf-8"
    assert fixed.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert "ועדת התכנון" in fixed.decode("utf-8")
    assert warning == "feed declares ISO-8859-1 but reads as cp1255; decoded as cp1255"


# --- items --------------------------------------------------------------------------------------


def test_items_without_title_or_link_are_kept() -> None:
    result = parse("untitled-items.xml")
    ferry, market, lights = result.stories
    assert ferry.title.startswith("Ferry services to the islands are suspended")
    assert ferry.id == story_id(None, "pier-notice-77", "untitled-items")
    assert ferry.published == datetime(2023, 12, 6, 7, 30, tzinfo=UTC)
    assert market.title == "The night market moves to the north quay for the winter months."
    assert market.guid is None
    assert market.url == ""
    assert lights.published is None  # 2013-xx-27 is no date
    assert result.warnings == [
        "1 entries have a date no parser recognises (e.g. '2013-xx-27'); "
        "their first-seen time is kept"
    ]


# --- language per story -------------------------------------------------------------------------


def test_story_language_beats_the_feed_declaration_and_entry_language_beats_both() -> None:
    result = parse("mixed-language-en.xml")
    assert [s.lang for s in result.stories] == ["en", "he", "tr"]


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("קו הרכבת נפתח מחדש לאחר תיקונים", "en", "he"),
        ("افتتاح معرض الكتاب الدولي", "en", "ar"),
        # Short Latin text mostly of names: not enough to overrule the feed.
        ("Erdoğan and Herzog in Ankara", "en", "en"),
        ("Erdoğan and Herzog in Ankara", None, None),
        # A language outside the six is the detector's blind spot: the declaration stands.
        ("Der Stadtrat hat den Haushalt für das kommende Jahr beschlossen", "de", "de"),
        (
            "Le conseil municipal a adopté le budget de l'année prochaine après un long débat",
            "en",
            "fr",
        ),
        ("", "tr", "tr"),
        # Persian is Arabic script but not Arabic: the six-language detector is not asked.
        ("وزیر امور خارجه ایران گفت که گفتگوها ادامه خواهد یافت و پیشرفت کرده است", None, None),
        (
            "Der Stadtrat hat den Haushalt für das kommende Jahr nach langer Debatte beschlossen",
            "en",
            "en",
        ),
    ],
)
def test_story_language(text: str, declared: str | None, expected: str | None) -> None:
    assert story_language(text, declared) == expected


def test_detect_reports_confidence() -> None:
    found = detect("Pemerintah daerah mengumumkan jadwal baru untuk kapal feri ke pulau")
    assert found is not None
    assert found[0] == "id"
    assert 0.9 <= found[1] <= 1.0


# --- JSON Feed ----------------------------------------------------------------------------------


def test_json_feed_items_become_stories() -> None:
    result = parse("lantern.json", content_type="application/feed+json")
    assert result.error is None
    assert result.feed_title == "Lantern Weekly"
    bridge, market, photo, choir = result.stories
    assert bridge.title == "Bridge repairs finish ahead of schedule"
    assert bridge.summary == "The old stone bridge reopens to cyclists on Friday."
    assert bridge.content == (
        "The old stone bridge reopens to cyclists on Friday, two weeks early. "
        "Cars follow in January."
    )
    assert bridge.published == datetime(2023, 12, 6, 7, 30, tzinfo=UTC)
    assert bridge.authors == ["Mara Ilgaz"]
    assert bridge.guid == "lantern-301"
    assert bridge.id == story_id("https://lantern.example.net/posts/bridge-repairs")
    assert bridge.lang == "en"
    assert market.url == "https://elsewhere.example.org/market-report"
    assert market.title.startswith("Stallholders at the winter market")
    assert photo.lang == "he"
    assert choir.guid == "304"  # a number in a 1.0-style feed
    assert choir.published is None
    assert len(result.warnings) == 1
    assert "'not yet'" in result.warnings[0]


def test_json_feed_is_recognised_by_its_body_under_a_generic_type() -> None:
    result = parse("lantern.json", content_type="text/plain")
    assert len(result.stories) == 4


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"title": "no version", "items": []}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 5}', "without an items list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_broken_json_feeds_are_one_line_errors(body: bytes, error: str) -> None:
    result = parse_feed(
        body,
        feed_id="j",
        outlet="J",
        base_url="https://j.example.net/feed.json",
        fetched_at=FETCHED,
        content_type="application/json",
    )
    assert result.stories == []
    assert result.error is not None
    assert error in result.error
    assert "\n" not in result.error


def test_json_feed_items_get_the_same_limits_and_cap() -> None:
    items = [
        {"id": f"n{i}", "url": f"https://j.example.net/{i}", "title": "headline " * 200}
        for i in range(30)
    ]
    body = json.dumps({"version": "https://jsonfeed.org/version/1", "items": items}).encode()
    result = parse_feed(
        body,
        feed_id="j",
        outlet="J",
        base_url="https://j.example.net/feed.json",
        fetched_at=FETCHED,
        content_type="application/feed+json",
        max_entries=10,
    )
    assert len(result.stories) == 10
    assert all(len(s.title) <= MAX_TITLE_CHARS + 1 for s in result.stories)
    assert result.warnings == ["feed has 30 entries; read the first 10"]
