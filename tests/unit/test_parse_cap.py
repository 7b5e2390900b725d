"""The entry cap applied to the bytes before feedparser reads them (monitor.parse.cap)."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser

from monitor.parse import parse_feed
from monitor.parse.cap import keep_first_entries

FETCHED = datetime(2026, 12, 31, 23, 47, tzinfo=UTC)


def _rss(n: int, extra: str = "") -> bytes:
    items = "".join(
        f"<item><title>Harbour note {i}</title><link>https://harbour.example.org/{i}</link></item>"
        for i in range(n)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title>{extra}'
        f"{items}</channel></rss>"
    ).encode()


def _atom(n: int) -> bytes:
    entries = "".join(
        f"<entry><title>Quay log {i}</title><id>urn:quay:{i}</id>"
        f'<link href="https://quay.example.org/{i}"/></entry>'
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Quay</title>'
        f"{entries}</feed>"
    ).encode()


def _rdf(n: int) -> bytes:
    items = "".join(
        f'<item rdf:about="https://dock.example.org/{i}"><title>Dock {i}</title>'
        f"<link>https://dock.example.org/{i}</link></item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://dock.example.org/">'
        f"<title>Dock</title></channel>{items}</rdf:RDF>"
    ).encode()


def test_each_format_is_cut_to_a_well_formed_document_of_the_first_entries() -> None:
    for make in (_rss, _atom, _rdf):
        cut, listed = keep_first_entries(make(50), 7)
        assert listed == 50
        parsed = feedparser.parse(cut)
        assert not parsed.bozo, (make.__name__, parsed.get("bozo_exception"))
        assert [e.title.split()[-1] for e in parsed.entries] == [str(i) for i in range(7)]


def test_a_document_within_the_cap_is_left_as_it_is() -> None:
    body = _rss(7)
    assert keep_first_entries(body, 7) == (body, None)
    assert keep_first_entries(b"<html><body>not a feed</body></html>", 1)[1] is None


def test_entry_tags_in_cdata_or_comments_are_not_entries() -> None:
    quoted = _rss(9).replace(
        b"<title>Harbour note 2</title>",
        b"<title>Harbour note 2</title><description><![CDATA[an <item> tag]]></description>",
    )
    quoted = quoted.replace(b"<item>", b"<!-- <item> --><item>", 1)
    body, listed = keep_first_entries(quoted, 4)
    assert listed == 9
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert [e.title for e in parsed.entries] == [f"Harbour note {i}" for i in range(4)]


def test_parse_feed_reports_the_listed_count_and_reads_the_newest() -> None:
    res = parse_feed(
        _rss(5000),
        feed_id="harbour",
        outlet="Harbour",
        base_url="https://harbour.example.org/feed",
        fetched_at=FETCHED,
        max_entries=10,
    )
    assert [s.title for s in res.stories] == [f"Harbour note {i}" for i in range(10)]
    assert res.warnings[0] == "feed has 5000 entries; read the first 10"
