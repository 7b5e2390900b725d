"""monitor.parse: feed bytes to Story records, without any network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.parse import MAX_TITLE_CHARS, ParseResult, html_to_text, parse_feed
from monitor.urls import canonical_url, story_id

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
FETCHED = datetime(2023, 12, 19, 12, 0, tzinfo=UTC)


def parse(
    body: bytes | str,
    *,
    feed_id: str = "test-feed",
    base_url: str = "https://feeds.example.com/world.xml",
    fetched_at: datetime = FETCHED,
    default_lang: str | None = None,
    content_type: str | None = None,
) -> ParseResult:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(
        raw,
        feed_id=feed_id,
        outlet="Test Outlet",
        base_url=base_url,
        fetched_at=fetched_at,
        default_lang=default_lang,
        content_type=content_type,
    )


def fixture(name: str, **kwargs: object) -> ParseResult:
    return parse((FEEDS / name).read_bytes(), feed_id=name.removesuffix(".xml"), **kwargs)  # type: ignore[arg-type]


def rss(items: str, *, channel_extra: str = "", namespaces: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {namespaces}><channel>'
        f"<title>Test</title><link>https://feeds.example.com/</link>{channel_extra}{items}"
        "</channel></rss>"
    )


def atom(entries: str, *, lang: str | None = None) -> str:
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{lang_attr}>'
        "<title>Atom test</title><id>tag:example.com,2024:feed</id>"
        f"<updated>2024-01-01T00:00:00Z</updated>{entries}</feed>"
    )


# --- fixtures: the three copies of the Türkiye meeting story -----------------------------------


def test_rss_wire_feed_reads_every_item_with_ids_dates_and_authors() -> None:
    result = fixture("wire-a.xml")
    assert result.error is None
    assert result.warnings == []
    assert result.feed_title == "Wire A – World"
    assert len(result.stories) == 3
    story = result.stories[0]
    assert story.title.startswith("Hamas leaders met in secret in Türkiye")
    assert story.feed_id == "wire-a"
    assert story.outlet == "Test Outlet"
    assert story.url == (
        "https://wire-a.example.com/world/2023/12/17/hamas-leaders-secret-meeting-turkiye"
    )
    assert story.canonical_url == canonical_url(story.url)
    assert story.id == story_id(story.canonical_url, "wire-a-20231217-0413", "wire-a")
    assert story.guid == "wire-a-20231217-0413"
    # 19:30 at +03:00 is 16:30 UTC.
    assert story.published == datetime(2023, 12, 17, 16, 30, tzinfo=UTC)
    assert story.fetched_at == FETCHED
    assert story.authors == ["Selin Aydın"]
    assert story.lang == "en"  # <language>en-gb</language>, primary subtag only
    assert "Saleh al-Arouri" in story.summary
    assert "political bureau" in story.summary
    assert story.content is None
    assert len({s.id for s in result.stories}) == 3


def test_atom_copy_reads_text_summary_and_converts_offsets() -> None:
    result = fixture("outlet-b.xml")
    assert result.error is None
    first, second = result.stories
    assert first.title == "Turkey quietly hosted top Hamas officials, Israeli report says"
    assert first.guid == "tag:outlet-b.example.org,2023:article-88120"
    assert first.published == datetime(2023, 12, 18, 6, 15, tzinfo=UTC)
    assert first.authors == ["Reuters"]
    assert first.summary.startswith("JERUSALEM (Reuters) - Two of the most senior figures in Hamas")
    assert first.lang == "en"
    # An HTML summary (type="html") loses its markup.
    assert second.summary == (
        "Policy makers left the benchmark rate unchanged for a second meeting as inflation eased."
    )


def test_rss_copy_strips_html_tracking_params_and_keeps_content() -> None:
    result = fixture("outlet-c.xml")
    assert result.error is None
    story, other = result.stories
    assert "utm_source" in story.url  # the link as published is kept
    assert story.canonical_url == (
        "https://outlet-c.example.net/world/report-hamas-chiefs-gathered-secretly-turkey"
    )
    assert story.id == story_id(story.canonical_url, story.guid, "outlet-c")
    assert story.summary == (
        "ISTANBUL (Reuters) – Two of the most senior figures in Hamas held a closed-door meeting "
        "in Türkiye last week, according to Israel’s state broadcaster. Saleh al-Arouri, deputy "
        "head of the group’s political bureau, flew in from Beirut, while Khaled Mashal, who "
        "once led the movement, came from Doha."
    )
    assert story.content is not None
    assert "vowed to track the group’s leaders abroad." in story.content
    assert "trackView" not in story.content  # script bodies are dropped, not turned into text
    assert "<" not in story.content
    assert story.authors == ["Outlet C wire desk"]
    assert other.summary == (
        "The circular line links the city centre with the riverside & is expected to carry "
        "60,000 passengers a day."
    )
    assert other.canonical_url == "https://outlet-c.example.net/europe/lisbon-new-metro-line"


def test_same_link_gives_same_id_whatever_the_guid_or_feed() -> None:
    item = (
        "<item><title>One</title><link>https://news.example.com/a?utm_source=x</link>"
        "<guid isPermaLink='false'>{guid}</guid></item>"
    )
    a = parse(rss(item.format(guid="g-1")), feed_id="feed-a").stories[0]
    b = parse(rss(item.format(guid="g-2")), feed_id="feed-b").stories[0]
    assert a.id == b.id == story_id("https://news.example.com/a")


# --- HTML to text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One Two"),
        ("first<br>second<br/>third", "first second third"),
        ("<ul><li>a</li><li>b</li></ul>", "a b"),
        (
            "Tom &amp; Jerry &ndash; &quot;live&quot; &#8220;now&#8221;",
            'Tom & Jerry – "live" “now”',
        ),
        ("<b>Ha</b>mas <i>leader</i>", "Hamas leader"),
        ("keep<script>var x = '<p>no</p>';</script> this<style>p{color:red}</style>", "keep this"),
        ("<!-- comment -->visible", "visible"),
        ("a\u00a0\u00a0b \n\t c", "a b c"),
        ("&lt;p&gt;escaped markup is text&lt;/p&gt;", "<p>escaped markup is text</p>"),
        ('<a href="https://x.example/">link text</a><img src="x.jpg" alt="pic">', "link text"),
        ("", ""),
        ("plain text", "plain text"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_plain_text_title_is_not_treated_as_html() -> None:
    entry = (
        '<entry><title type="text">Profits &lt;b&gt; rise</title><id>urn:x:1</id>'
        '<link href="https://news.example.com/1"/><updated>2024-01-02T00:00:00Z</updated></entry>'
    )
    assert parse(atom(entry)).stories[0].title == "Profits <b> rise"


# --- dates --------------------------------------------------------------------------------------


def item_dated(date_xml: str) -> str:
    return rss(f"<item><title>T</title><link>https://news.example.com/d</link>{date_xml}</item>")


@pytest.mark.parametrize(
    ("date_xml", "expected"),
    [
        ("<pubDate>Tue, 19 Dec 2023 08:00:00 -0500</pubDate>", datetime(2023, 12, 19, 13, 0)),
        ("<pubDate>Tue, 19 Dec 2023 08:00:00 +0530</pubDate>", datetime(2023, 12, 19, 2, 30)),
        ("<pubDate>Tue, 19 Dec 2023 08:00:00 GMT</pubDate>", datetime(2023, 12, 19, 8, 0)),
        ("<pubDate>Tue, 19 Dec 2023 08:00:00 EST</pubDate>", datetime(2023, 12, 19, 13, 0)),
        ("<pubDate>Mon, 01 Jan 2024 01:30:00 +0300</pubDate>", datetime(2023, 12, 31, 22, 30)),
    ],
)
def test_dates_are_converted_to_utc(date_xml: str, expected: datetime) -> None:
    story = parse(item_dated(date_xml), fetched_at=datetime(2024, 2, 1, tzinfo=UTC)).stories[0]
    assert story.published == expected.replace(tzinfo=UTC)
    assert story.published is not None
    assert story.published.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "date_xml",
    [
        "",
        "<pubDate>not a date at all</pubDate>",
        "<pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate>",  # zeroed field
        "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate>",  # far future
    ],
)
def test_missing_or_absurd_dates_are_none(date_xml: str) -> None:
    assert parse(item_dated(date_xml)).stories[0].published is None


def test_slightly_future_date_is_kept() -> None:
    # Clocks and time zones in feeds are often a few hours off; that is not an absurd date.
    story = parse(item_dated("<pubDate>Tue, 19 Dec 2023 18:00:00 GMT</pubDate>")).stories[0]
    assert story.published == datetime(2023, 12, 19, 18, 0, tzinfo=UTC)


def test_updated_is_used_when_published_is_missing() -> None:
    entry = (
        "<entry><title>T</title><id>urn:x:2</id><link href='https://news.example.com/2'/>"
        "<updated>2023-12-18T23:30:00-02:00</updated></entry>"
    )
    assert parse(atom(entry)).stories[0].published == datetime(2023, 12, 19, 1, 30, tzinfo=UTC)


def test_fetched_at_in_another_zone_is_stored_in_utc() -> None:
    istanbul = timezone(timedelta(hours=3))
    story = parse(item_dated(""), fetched_at=datetime(2023, 12, 19, 15, 0, tzinfo=istanbul))
    assert story.stories[0].fetched_at == datetime(2023, 12, 19, 12, 0, tzinfo=UTC)
    assert story.stories[0].fetched_at.tzinfo == UTC


# --- language and encodings ---------------------------------------------------------------------


def test_turkish_feed_in_iso_8859_9_decodes_and_takes_channel_language() -> None:
    result = fixture("turkish-tr.xml")
    assert result.error is None
    (story,) = result.stories
    assert story.title == (
        "Ankara, İsrail'in büyükelçilik maslahatgüzarını Dışişleri Bakanlığı'na çağırdı"
    )
    assert "ağır sonuçları" in story.summary
    assert story.lang == "tr"
    assert story.published == datetime(2023, 12, 19, 8, 45, tzinfo=UTC)


def test_charset_in_content_type_is_honoured() -> None:
    body = (FEEDS / "turkish-tr.xml").read_bytes()
    result = parse(body, content_type="application/rss+xml; charset=iso-8859-9")
    assert result.warnings == []
    assert "Dışişleri" in result.stories[0].title


def test_arabic_atom_entry_language_from_xml_lang_and_relative_link() -> None:
    result = fixture("arabic-ar.xml", base_url="https://akhbar.example.net/feeds/ar.atom")
    (story,) = result.stories
    assert story.lang == "ar"  # xml:lang on the entry; the feed declares none
    assert story.title.startswith("تقرير إسرائيلي")
    assert "صالح العاروري" in story.summary
    assert "<p>" not in story.summary
    assert story.url == "https://akhbar.example.net/ar/news/2023/12/18/hamas-turkey-meeting"
    assert story.authors == ["مراسل الشبكة"]
    assert story.published == datetime(2023, 12, 18, 10, 20, tzinfo=UTC)


def test_hebrew_rss_language_and_text() -> None:
    (story,) = fixture("hebrew-he.xml").stories
    assert story.lang == "he"
    assert story.title == "דיווח: בכירי חמאס נפגשו בחשאי בטורקיה"
    assert story.summary.startswith("לפי הדיווח")
    assert story.authors == ["כתב מדיני"]


def test_entry_language_beats_feed_language() -> None:
    entries = (
        "<entry><title>English</title><id>urn:x:en</id><link href='https://n.example.com/en'/>"
        "<updated>2023-12-01T00:00:00Z</updated></entry>"
        "<entry xml:lang='tr-TR'><title>Türkçe</title><id>urn:x:tr</id>"
        "<link href='https://n.example.com/tr'/><updated>2023-12-01T00:00:00Z</updated></entry>"
    )
    en, tr = parse(atom(entries, lang="en")).stories
    assert (en.lang, tr.lang) == ("en", "tr")


def test_dc_language_on_rss_item_beats_channel_language() -> None:
    items = (
        "<item><title>Haber</title><link>https://n.example.com/1</link>"
        "<dc:language>tr</dc:language></item>"
    )
    body = rss(
        items,
        channel_extra="<language>en</language>",
        namespaces='xmlns:dc="http://purl.org/dc/elements/1.1/"',
    )
    assert parse(body).stories[0].lang == "tr"


@pytest.mark.parametrize(
    ("channel_extra", "hint", "expected"),
    [
        ("", "ar", "ar"),  # nothing in the feed: the configured hint
        ("", None, None),
        ("<language>he-IL</language>", "ar", "he"),  # the feed wins over the hint
        ("<language>English</language>", "en", "en"),  # not a language tag: ignored
    ],
)
def test_language_falls_back_to_config_hint(
    channel_extra: str, hint: str | None, expected: str | None
) -> None:
    body = rss(
        "<item><title>T</title><link>https://n.example.com/1</link></item>",
        channel_extra=channel_extra,
    )
    assert parse(body, default_lang=hint).stories[0].lang == expected


# --- ids, links, odd entries --------------------------------------------------------------------


def test_entry_without_link_gets_a_guid_id_scoped_to_its_feed() -> None:
    item = "<item><title>Bulletin</title><guid isPermaLink='false'>bulletin-7</guid></item>"
    a = parse(rss(item), feed_id="feed-a").stories[0]
    b = parse(rss(item), feed_id="feed-b").stories[0]
    assert a.url == ""
    assert a.canonical_url == ""
    assert a.id == story_id(None, "bulletin-7", "feed-a")
    assert a.id != b.id


def test_permalink_guid_serves_as_link() -> None:
    item = "<item><title>T</title><guid>https://news.example.com/story-9</guid></item>"
    story = parse(rss(item)).stories[0]
    assert story.url == "https://news.example.com/story-9"
    assert story.id == story_id("https://news.example.com/story-9")


def test_relative_link_is_resolved_against_the_feed_url() -> None:
    item = "<item><title>T</title><link>/world/story-1?x=1</link></item>"
    story = parse(rss(item), base_url="https://outlet.example.org/feeds/world.xml").stories[0]
    assert story.url == "https://outlet.example.org/world/story-1?x=1"


def test_entries_with_nothing_to_read_are_skipped_with_a_warning() -> None:
    items = (
        "<item><guid isPermaLink='false'>empty-1</guid></item>"
        "<item><title>Kept</title><link>https://n.example.com/kept</link></item>"
    )
    result = parse(rss(items))
    assert [s.title for s in result.stories] == ["Kept"]
    assert result.error is None
    assert len(result.warnings) == 1
    assert "entry 1" in result.warnings[0]
    assert "skipped" in result.warnings[0]


def test_item_with_only_a_description_and_a_non_permalink_guid_is_kept() -> None:
    # RSS 2.0: "all elements of an item are optional, however at least one of title or
    # description must be present". Found dropped before #11.
    item = (
        "<item><description>The ferry timetable changes on Monday: the first boat leaves at "
        "six.</description><guid isPermaLink='false'>notice-41</guid></item>"
    )
    result = parse(rss(item))
    assert result.warnings == []
    (story,) = result.stories
    assert story.title.startswith("The ferry timetable changes on Monday")
    assert story.url == ""
    assert story.guid == "notice-41"
    assert story.id == story_id(None, "notice-41", "test-feed")


def test_item_with_only_text_is_identified_by_a_hash_of_it() -> None:
    item = "<item><description>Harbour closed to small craft until the storm passes.</description>"
    item += "</item>"
    other = "<item><description>Harbour reopened to small craft this morning.</description></item>"
    first = parse(rss(item + other)).stories
    again = parse(rss(item)).stories
    assert [s.title for s in first] == [
        "Harbour closed to small craft until the storm passes.",
        "Harbour reopened to small craft this morning.",
    ]
    assert first[0].id != first[1].id
    assert again[0].id == first[0].id  # the same text polled again is the same story
    assert first[0].guid is None


def test_entry_with_neither_link_nor_guid_is_skipped() -> None:
    result = parse(rss("<item><title>No way to identify me</title></item>"))
    assert result.stories == []
    assert result.error is None
    assert "no link, GUID or text" in result.warnings[0]


def test_javascript_link_is_not_a_link() -> None:
    item = (
        "<item><title>T</title><link>javascript:alert(1)</link>"
        "<guid isPermaLink='false'>g-js</guid></item>"
    )
    story = parse(rss(item)).stories[0]
    assert story.url == ""
    assert story.id == story_id(None, "g-js", "test-feed")


def test_item_without_title_gets_one_from_its_summary() -> None:
    words = " ".join(["word"] * 60)
    item = f"<item><link>https://n.example.com/x</link><description>{words}</description></item>"
    story = parse(rss(item)).stories[0]
    assert story.title.startswith("word word")
    assert story.title.endswith("…")
    assert len(story.title) <= 121


def test_content_only_item_gets_a_short_summary_and_full_content() -> None:
    body_text = " ".join(f"Sentence {i} of the article body." for i in range(60))
    item = (
        "<item><title>Long read</title><link>https://n.example.com/long</link>"
        f"<content:encoded><![CDATA[<p>{body_text}</p>]]></content:encoded></item>"
    )
    body = rss(item, namespaces='xmlns:content="http://purl.org/rss/1.0/modules/content/"')
    story = parse(body).stories[0]
    assert story.content == body_text
    assert story.summary.endswith("…")
    assert len(story.summary) <= 601
    assert body_text.startswith(story.summary.removesuffix("…"))


# --- broken and odd feeds -----------------------------------------------------------------------


def test_malformed_feed_without_entries_is_an_error_in_one_line() -> None:
    result = fixture("malformed.xml")
    assert result.stories == []
    assert result.error is not None
    assert result.error.startswith("malformed feed: ")
    assert "\n" not in result.error


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><title>Oops</title></head><body>502</body></html>",
        b"",
        b"\x00\x01\x02 binary junk",
        b'{"not": "a feed"}',
    ],
)
def test_non_feeds_are_errors(body: bytes) -> None:
    result = parse(body)
    assert result.stories == []
    assert result.error is not None
    assert result.error.startswith("malformed feed")


def test_broken_xml_with_readable_entries_keeps_them_and_warns() -> None:
    items = (
        "<item><title>Tom & Jerry</title><link>https://n.example.com/1</link></item>"
        "<item><title>Two</title><link>https://n.example.com/2</link></item>"
    )
    result = parse(rss(items))
    assert result.error is None
    assert [s.title for s in result.stories] == ["Tom & Jerry", "Two"]
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("feed is not well-formed")


def test_valid_empty_feed_is_not_an_error() -> None:
    result = parse(rss(""))
    assert result == ParseResult(stories=[], error=None, warnings=[], feed_title="Test")


def test_body_is_never_taken_for_a_url_or_a_path() -> None:
    # feedparser fetches strings that look like URLs; parse_feed must only ever read bytes.
    result = parse(b"https://feeds.example.com/world.xml")
    assert result.error is not None
    result = parse(str(FEEDS / "wire-a.xml").encode())
    assert result.stories == []


# --- hostile items and bodies (issue #15): limits instead of a failed feed ---------------------


def _item(title: str, link: str, guid: str = "", summary: str = "A short note.") -> str:
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
    return (
        f"<item><title>{title}</title><link>{link}</link>{guid_xml}"
        f"<description>{summary}</description></item>"
    )


def test_a_one_megabyte_title_is_cut_to_a_headline() -> None:
    words = "ministers met again to talk about the port " * 25_000  # about 1 MB
    res = parse(rss(_item(words, "https://news.example.com/a/1")))
    (story,) = res.stories
    assert len(story.title) <= MAX_TITLE_CHARS + 1
    assert story.title.startswith("ministers met again")
    assert story.title.endswith("…")


def test_an_overlong_link_is_dropped_and_the_guid_identifies_the_item() -> None:
    long_link = "https://news.example.com/a?q=" + "x" * 32_000
    res = parse(rss(_item("Port talks resume", long_link, guid="urn:port-talks-7")))
    (story,) = res.stories
    assert story.url == ""
    assert story.guid == "urn:port-talks-7"
    assert story.id == story_id(None, "urn:port-talks-7", "test-feed")
    assert any("link longer than" in w for w in res.warnings)


def test_an_overlong_guid_is_replaced_by_its_hash_and_stays_stable() -> None:
    guid = "tag:example.com," + "g" * 32_000
    body = rss(_item("Port talks resume", "", guid=guid))
    first, second = parse(body).stories[0], parse(body).stories[0]
    assert first.guid is not None
    assert first.guid.startswith("sha256:")
    assert len(first.guid) == len("sha256:") + 64
    assert first.id == second.id


def test_entries_beyond_the_cap_are_reported_not_read() -> None:
    items = "".join(_item(f"Item {i}", f"https://news.example.com/i/{i}") for i in range(30))
    raw = rss(items).encode()
    res = parse_feed(
        raw,
        feed_id="big",
        outlet="Big",
        base_url="https://news.example.com/feed",
        fetched_at=FETCHED,
        max_entries=20,
    )
    assert len(res.stories) == 20
    assert res.stories[0].title == "Item 0"  # feeds list the newest first: those are kept
    assert "feed has 30 entries; read the first 20" in res.warnings


def _dtd(decls: str, body_refs: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{decls}]><rss version="2.0"><channel>'
        f"<title>T</title><item><title>Entity test</title><link>https://e.example.com/1</link>"
        f"<description>{body_refs}</description></item></channel></rss>"
    ).encode()


@pytest.mark.timeout(60)  # unbounded expansion would take minutes and gigabytes, not fail
def test_quadratic_entity_blow_up_is_refused_before_parsing() -> None:
    body = _dtd(f'<!ENTITY a "{"A" * 10_000}">', "&a;" * 10_000)  # 40 KB -> 100 MB
    res = parse(body)
    assert res.stories == []
    assert res.error is not None
    assert "entities expand to more than" in res.error
    assert not res.complete


@pytest.mark.timeout(60)
def test_billion_laughs_is_refused_before_parsing() -> None:
    decls = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    res = parse(_dtd(decls, "&l9;"))
    assert res.error is not None
    assert "entities expand" in res.error


def test_utf16_entity_bomb_is_seen_through_the_bom() -> None:
    text = _dtd(f'<!ENTITY a "{"B" * 10_000}">', "&a;" * 200).decode()
    body = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    res = parse(body.encode("utf-16"))
    assert res.error is not None
    assert "entities expand" in res.error


def test_a_few_small_declared_entities_still_parse() -> None:
    res = parse(_dtd('<!ENTITY nbsp "&#160;"><!ENTITY mdash "&#8212;">', "Talks&mdash;resumed"))
    assert res.error is None
    assert res.stories[0].summary == "Talks\u2014resumed"


def test_a_body_cut_short_is_read_but_marked_incomplete() -> None:
    items = "".join(_item(f"Item {i}", f"https://news.example.com/i/{i}") for i in range(10))
    whole = rss(items).encode()
    cut = whole[: whole.index(b"<item><title>Item 6")] + b"<item><title>Ite"
    res = parse(cut)
    assert [s.title for s in res.stories][:6] == [f"Item {i}" for i in range(6)]
    assert not res.complete
    assert parse(whole).complete
