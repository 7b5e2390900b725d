"""monitor.pipeline on real services: clusters across runs, alerts once per cluster, the ledger
under SMTP failures and re-runs, digests once per period."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from localdev.feedserver import FeedServer
from localdev.mailcatcher import MailCatcher
from monitor import pipeline
from monitor.config import load_settings
from tests.factories import (
    NOW,
    digest_rule,
    instant_rule,
    make_story,
    served_feeds,
    subscriber,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "feeds"

RULE_LEADERS = "topics:hamas_leadership"
# The analyst wants each new cluster about Hamas leaders at once.
WATCH_LEADERS = [subscriber(instant_rule(RULE_LEADERS))]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FeedServer]:
    root = tmp_path / "www"
    root.mkdir()
    with FeedServer(root) as server:
        yield server


def publish(server: FeedServer, name: str) -> None:
    shutil.copy(FIXTURES / name, Path(server.directory) / name)


def test_copy_in_a_later_run_joins_cluster_and_does_not_realert(
    tmp_path: Path,
    served: FeedServer,
    smtp_server: MailCatcher,
    newsmon_env: dict[str, str],
    es_client: Elasticsearch,
) -> None:
    publish(served, "wire-a.xml")
    cfg = write_config(
        tmp_path / "cfg", feeds=served_feeds(served, "wire-a.xml"), subscribers=WATCH_LEADERS
    )
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    first = pipeline.poll(s, now=NOW)
    assert first["stories_new"] == 3
    assert first["feeds_failed"] == 0
    assert pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))["sent"] == 1
    assert len(smtp_server.wait_for(1)) == 1

    # Later another outlet carries the same story.
    publish(served, "outlet-b.xml")
    write_config(
        cfg, feeds=served_feeds(served, "wire-a.xml", "outlet-b.xml"), subscribers=WATCH_LEADERS
    )
    s = load_settings(cfg, newsmon_env)
    later = NOW + timedelta(minutes=10)  # in the next year: the copy goes to January's index
    second = pipeline.poll(s, now=later)
    assert second["stories_new"] == 2  # the copy and outlet B's unrelated item
    assert second["duplicates_clustered"] == 1
    store = pipeline.open_store(s)
    store.refresh()
    res = store.es.search(index=store.names.stories, query={"term": {"topics": "hamas_leadership"}})
    tagged = [h["_source"] for h in res["hits"]["hits"]]
    assert len(tagged) == 2
    assert len({d["cluster_id"] for d in tagged}) == 1
    primary = next(d for d in tagged if d["is_primary"])
    copy = next(d for d in tagged if not d["is_primary"])
    assert primary["feed_id"] == "wire-a"
    assert copy["cluster_id"] == primary["id"]
    assert primary["cluster_size"] == 2
    assert copy["wire"] == "Reuters"  # the copy credits the wire: "JERUSALEM (Reuters) -"
    assert primary["outlets"] == sorted(["Wire-A", "Outlet-B"])

    assert {
        d["_index"] for d in store.es.search(index=store.names.stories, size=10)["hits"]["hits"]
    } == {
        store.names.stories_for(NOW),
        store.names.stories_for(later),
    }
    alerts = pipeline.send_alerts(s, now=later + timedelta(minutes=1))
    assert alerts["sent"] == 0
    assert alerts["matched"] == 1
    assert len(smtp_server.messages) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_smtp_outage_sends_nothing_then_exactly_once(
    tmp_path: Path, served: FeedServer, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    publish(served, "wire-a.xml")
    down_env = {**newsmon_env, "NEWSMON_SMTP_PORT": str(_closed_port())}
    cfg = write_config(
        tmp_path / "cfg", feeds=served_feeds(served, "wire-a.xml"), subscribers=WATCH_LEADERS
    )
    s_down = load_settings(cfg, down_env)
    pipeline.init(s_down, NOW)
    pipeline.poll(s_down, now=NOW)
    report = pipeline.send_alerts(s_down, now=NOW + timedelta(minutes=1))
    assert report["sent"] == 0
    assert len(report["failed"]) == 1
    assert "SMTP" in report["failed"][0]
    assert "\n" not in report["failed"][0]
    store = pipeline.open_store(s_down)
    assert store.feeds.get_cursor("instant") is None  # the window will be retried

    s_up = load_settings(cfg, newsmon_env)
    assert pipeline.send_alerts(s_up, now=NOW + timedelta(minutes=6))["sent"] == 1
    assert pipeline.send_alerts(s_up, now=NOW + timedelta(minutes=11))["sent"] == 0
    # A cleared/retried task that lost its cursor re-runs the window: the ledger still refuses.
    store.feeds.delete_cursor("instant")
    again = pipeline.send_alerts(s_up, now=NOW + timedelta(minutes=16))
    assert again["sent"] == 0
    assert again["already_sent"] == 1
    assert len(smtp_server.messages) == 1


def test_bad_rule_is_reported_and_good_rule_still_sends(
    tmp_path: Path, served: FeedServer, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    publish(served, "wire-a.xml")
    cfg = write_config(
        tmp_path / "cfg",
        feeds=served_feeds(served, "wire-a.xml"),
        subscribers=[
            subscriber(
                instant_rule("title:(unclosed", name="broken"),
                instant_rule(RULE_LEADERS, name="good"),
            )
        ],
    )
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    pipeline.poll(s, now=NOW)
    report = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))
    assert report["sent"] == 1
    assert len(report["rule_errors"]) == 1
    assert "broken" in report["rule_errors"][0]


def test_digest_goes_once_per_period(
    tmp_path: Path, served: FeedServer, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    publish(served, "wire-a.xml")
    publish(served, "outlet-b.xml")
    cfg = write_config(
        tmp_path / "cfg",
        feeds=served_feeds(served, "wire-a.xml", "outlet-b.xml"),
        subscribers=[
            subscriber(
                digest_rule(RULE_LEADERS, name="hourly leaders", every="hourly"),
                email="editor@example.org",
                timezone="Europe/Istanbul",
            )
        ],
    )
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    pipeline.poll(s, now=NOW)
    # Nothing is due before the hour the stories were indexed in has ended...
    assert pipeline.send_digests(s, now=NOW + timedelta(minutes=12))["sent"] == 0
    # ...and the slot ending at the top of the hour (here: midnight, 1 January) covers them.
    later = NOW.replace(minute=0) + timedelta(hours=1)
    report: dict[str, Any] = pipeline.send_digests(s, now=later)
    assert report["sent"] == 1
    msg = smtp_server.wait_for(1)[0]
    assert "digest: 1 event" in msg["Subject"]  # two copies, one cluster: one event
    assert "Also reported by" in msg.get_body(preferencelist=("plain",)).get_content()
    assert pipeline.send_digests(s, now=later)["sent"] == 0
    assert pipeline.send_digests(s, now=later + timedelta(minutes=59))["digests_due"] == 0
    # The next hour's slot is due but holds no new story: no empty digest.
    assert pipeline.send_digests(s, now=later + timedelta(hours=1))["sent"] == 0
    assert len(smtp_server.messages) == 1


def test_a_rule_matching_120_clusters_in_one_run_sends_all_120(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    """More hits than one search page (500 here is one page; 120 > the old cap of 50): every
    cluster is alerted in the run, and the next run owes nothing."""
    from monitor.pipeline.context import open_store

    cfg = write_config(
        tmp_path / "cfg", feeds=[], subscribers=[subscriber(instant_rule("summary:corridor"))]
    )
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    store = open_store(s)
    stories = [
        make_story(n, when=NOW, summary="A trade corridor story", cluster_id=f"id{n}")
        for n in range(120)
    ]
    store.stories.index(stories, now=NOW)
    assert store.stories.apply_groups(stories, now=NOW) == []
    report = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))
    assert (report["matched"], report["sent"], report["failed"]) == (120, 120, [])
    assert len(smtp_server.wait_for(120)) == 120
    again = pipeline.send_alerts(s, now=NOW + timedelta(minutes=6))
    assert again["sent"] == 0


def test_a_refused_delivery_is_given_up_after_its_tries_and_the_operator_told_once(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    from monitor.pipeline.context import open_store

    rule = instant_rule("summary:corridor")
    subs = [subscriber(rule, email="refuse@example.org"), subscriber(rule)]
    cfg = write_config(tmp_path / "cfg", feeds=[], subscribers=subs)
    env = {**newsmon_env, "NEWSMON_MAX_SEND_ATTEMPTS": "3", "NEWSMON_OPERATOR_EMAIL": "ops@x.org"}
    s = load_settings(cfg, env)
    pipeline.init(s, NOW)
    store = open_store(s)
    story = make_story(1, when=NOW, summary="A trade corridor story", cluster_id="id1")
    store.stories.index([story], now=NOW)
    store.stories.apply_groups([story], now=NOW)
    runs = [pipeline.send_alerts(s, now=NOW + timedelta(minutes=5 * k + 1)) for k in range(5)]
    # Tries 1-3 fail (the cursor stays, so the window is retried); then it is given up.
    assert [len(r["failed"]) for r in runs] == [1, 1, 1, 0, 0]
    assert [r["sent"] for r in runs] == [1, 0, 0, 0, 0]  # the other subscriber, once
    assert store.feeds.get_cursor("instant") == NOW + timedelta(minutes=21)  # moved on
    mails = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["analyst@example.org", "ops@x.org"]
    notice = next(m for m in mails if m.rcpt_tos == ["ops@x.org"])
    assert "given up" in str(notice["Subject"])
    assert "refuse@example.org" in notice.get_content()


def test_over_the_cap_one_email_says_how_many_more_and_nothing_is_left_behind(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    from monitor.pipeline.context import open_store

    cfg = write_config(
        tmp_path / "cfg", feeds=[], subscribers=[subscriber(instant_rule("summary:corridor"))]
    )
    s = load_settings(cfg, {**newsmon_env, "NEWSMON_ALERT_CAP": "100"})
    pipeline.init(s, NOW)
    store = open_store(s)
    stories = [
        make_story(n, when=NOW, summary="A trade corridor story", cluster_id=f"id{n}")
        for n in range(120)
    ]
    store.stories.index(stories, now=NOW)
    assert store.stories.apply_groups(stories, now=NOW) == []
    report = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))
    assert (report["matched"], report["sent"], report["capped"]) == (120, 101, 20)
    mails = smtp_server.wait_for(101)
    over = [m for m in mails if "more" in str(m["Subject"])]
    assert len(over) == 1
    text = over[0].get_body(preferencelist=("plain",)).get_content()
    assert "20 more matches" in text
    assert "newsmon search summary:corridor --since" in text
    # The 20 are recorded as announced: an overlapping later run owes nothing.
    again = pipeline.send_alerts(s, now=NOW + timedelta(minutes=6))
    assert (again["sent"], again["already_sent"], again["capped"]) == (0, 120, 0)
    assert len(store.ledger.list(status="covered")) == 20


def test_alert_email_highlights_matches_links_every_report_of_the_event_and_keeps_rtl_spaces(
    tmp_path: Path, smtp_server: MailCatcher, newsmon_env: dict[str, str]
) -> None:
    from monitor.pipeline.context import open_store

    hebrew = (
        "שר החוץ הטורקי הודיע כי השגריר יחזור לתל אביב בשבוע הבא לאחר שיחות ממושכות "
        "בין המשלחות בבירת אזרבייג'ן"
    )
    subs = [subscriber(instant_rule("corridor OR שיחות"), timezone="Europe/Istanbul")]
    cfg = write_config(tmp_path / "cfg", feeds=[], subscribers=subs)
    s = load_settings(cfg, newsmon_env)
    pipeline.init(s, NOW)
    store = open_store(s)
    en = make_story(
        "en",
        when=NOW,
        title="Envoys agree on a corridor plan",
        outlet="Wire A",
        lang="en",
        summary="Negotiators said the corridor would open in spring.",
        cluster_id="en",
        event_id="en",
    )
    tr = make_story(
        "tr",
        when=NOW,
        title="Koridor planında uzlaşı",
        outlet="Outlet Tr",
        lang="tr",
        summary="Müzakereciler baharda açılacağını söyledi.",
        cluster_id="tr",
        event_id="en",
    )
    he = make_story(
        "he",
        when=NOW,
        title=hebrew,
        outlet="Outlet He",
        lang="he",
        summary="לדברי גורם מדיני, השגריר ייפגש עם ראש הממשלה.",
        cluster_id="he",
        event_id="he",
    )
    store.stories.index([en, tr, he], now=NOW)
    assert store.stories.apply_groups([en, tr, he], now=NOW) == []
    report = pipeline.send_alerts(s, now=NOW + timedelta(minutes=1))
    assert report["sent"] == 2
    by_subject = {str(m["Subject"]): m for m in smtp_server.wait_for(2)}
    # The Hebrew subject folds and parses back (stdlib parser) with every space.
    assert f"[newsmon] watch: {hebrew}" in by_subject
    en_mail = by_subject["[newsmon] watch: Envoys agree on a corridor plan"]
    html = en_mail.get_body(preferencelist=("html",)).get_content()
    text = en_mail.get_body(preferencelist=("plain",)).get_content()
    assert ">corridor</mark>" in html  # Elasticsearch's highlight
    assert 'href="https://x.org/tr"' in html  # the Turkish report of the same event, linked
    assert "Languages: en, tr" in text
    assert str(en_mail["List-Unsubscribe"]).startswith("<mailto:")
