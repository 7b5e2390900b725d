"""Alerts follow events, end to end on real services (feed server, Elasticsearch, SMTP): reports
of one event in English, Arabic and Hebrew arriving in three poll runs make one event and one
e-mail listing every outlet and language; a Turkish report after it sends nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import Settings, load_settings
from monitor.pipeline.grouping import group_pending
from tests.factories import NOW, instant_rule, served_feed, subscriber, write_config
from tests.integration.test_events_pipeline import bridge_scenario

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
# file -> outlet name (the feed's name in feeds.yaml)
OUTLETS = {
    "event-en.xml": "Harbour Ledger",
    "event-ar.xml": "Sada al-Sharq",
    "event-he.xml": "Maariv HaGalil",
    "event-tr.xml": "Marmara Gazetesi",
}
WATCH = [subscriber(instant_rule('people:"Ismail Haniyeh"', name="haniyeh"))]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    with FeedServer(root) as server:
        yield server


def _poll_with(
    server: FeedServer, cfg: Path, env: dict[str, str], files: list[str], at: int
) -> tuple[Settings, dict[str, Any]]:
    """Serve `files`, one feed each, and poll them all `at` minutes after NOW."""
    for f in files:
        shutil.copy(FEEDS / f, Path(server.directory) / f)
    feeds = [served_feed(server, f, name=OUTLETS[f]) for f in files]
    write_config(cfg, feeds=feeds, subscribers=WATCH)
    s = load_settings(cfg, env)
    report = pipeline.poll(s, now=NOW + timedelta(minutes=at))
    assert report["feeds_failed"] == 0, report
    return s, report


def test_three_languages_in_three_runs_make_one_event_and_one_email(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
) -> None:
    cfg = tmp_path / "cfg"
    write_config(cfg, feeds=[], subscribers=WATCH)
    pipeline.init(load_settings(cfg, newsmon_env), NOW)
    files: list[str] = []
    for at, f in ((0, "event-en.xml"), (30, "event-ar.xml"), (60, "event-he.xml")):
        files.append(f)
        s, report = _poll_with(served, cfg, newsmon_env, files, at)
        assert report["stories_new"] == 1, report

    store = pipeline.open_store(s)
    store.refresh()
    docs = [h["_source"] for h in store.es.search(index=store.names.stories)["hits"]["hits"]]
    assert len(docs) == 3
    # Three clusters (no copies: three languages), one event named by the English report.
    assert len({d["cluster_id"] for d in docs}) == 3
    english = next(d for d in docs if d["lang"] == "en")
    assert {d["event_id"] for d in docs} == {english["id"]}
    assert english["is_event_primary"] is True
    assert english["event_size"] == 3
    assert english["event_languages"] == ["ar", "en", "he"]
    assert english["event_outlets"] == sorted(OUTLETS[f] for f in files)

    sent = pipeline.send_alerts(s, now=NOW + timedelta(minutes=61))
    assert sent["matched"] == 1, sent
    assert sent["sent"] == 1, sent
    (mail,) = smtp_server.wait_for(1)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for f in files:
        assert OUTLETS[f] in text, (OUTLETS[f], text)
    assert "Languages: ar, en, he" in text
    assert 'href="https://sada-al-sharq.example/news/fidan-haniyeh"' in html
    assert 'href="https://maariv-hagalil.example/politics/fidan-haniyeh"' in html

    # A Turkish report of the event already mailed: grouped into it, and nothing is sent.
    files.append("event-tr.xml")
    s, report = _poll_with(served, cfg, newsmon_env, files, 90)
    assert report["stories_new"] == 1, report
    again = pipeline.send_alerts(s, now=NOW + timedelta(minutes=91))
    assert again["matched"] == 1, again
    assert again["sent"] == 0, again
    assert again["already_sent"] == 1, again
    assert len(smtp_server.messages) == 1
    store.refresh()
    turkish = store.es.search(index=store.names.stories, query={"term": {"lang": "tr"}})
    assert turkish["hits"]["hits"][0]["_source"]["event_id"] == english["id"]


def test_a_bridge_after_the_alert_does_not_mail_the_merged_event_again(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    """The rule matched event b and mailed it; a bridging report then merges b into the
    earlier event a. The bridge matches the rule too, and its event (a) was never mailed
    under its own id, but a absorbed b: the subscriber has had this event already."""
    subs = [subscriber(instant_rule("Fidan", name="fidan"))]
    cfg = write_config(tmp_path / "cfg", feeds=[], subscribers=subs)
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    store = pipeline.open_store(s)
    a, b, b_copy, bridge = bridge_scenario()
    for story in (a, b, b_copy):
        assert store.stories.index([story], now=NOW).errors == []
        assert group_pending(store, window_days=7, now=NOW)["errors"] == []
    first = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))
    assert first["sent"] == 1, first  # event b ("Fidan" is not in a's text)
    assert store.stories.index([bridge], now=NOW + timedelta(minutes=2)).errors == []
    assert group_pending(store, window_days=7, now=NOW + timedelta(minutes=2))["errors"] == []
    store.refresh()
    assert {x.event_id for x in store.stories.get(["a", "b", "b-copy", "bridge"])} == {"a"}
    later = pipeline.send_alerts(s, now=NOW + timedelta(minutes=3))
    assert later["matched"] == 1, later
    assert later["sent"] == 0, later
    assert len(smtp_server.messages) == 1
