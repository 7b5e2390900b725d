from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.alerts import (
    digest_delivery_id,
    digest_slot,
    hits_by_cluster,
    instant_delivery_id,
    plan_instant,
    window_start,
)
from monitor.config import AlertRule, Subscriber
from tests.factories import make_story


def test_one_hit_per_cluster_prefers_primary_and_lists_other_outlets() -> None:
    hits = hits_by_cluster(
        [
            make_story("b", outlet="B", cluster_id="a", is_primary=False),
            make_story("a", outlet="A", cluster_id="a"),
            make_story("z", outlet="Z", cluster_id="z"),
        ]
    )
    assert [h.id for h in hits] == ["a", "z"]
    assert hits[0].also_reported_by == ["B"]
    assert hits[1].also_reported_by == []


def test_plan_instant_one_mail_per_rule_and_event_with_stable_ids() -> None:
    sub = Subscriber(email="A@Example.org", alerts=[AlertRule(name="r", query="q")])
    rule = sub.alerts[0]
    mails = plan_instant(
        [(sub, rule)],
        [
            [
                make_story("a", outlet="A", cluster_id="a"),
                make_story("b", outlet="B", cluster_id="a", is_primary=False),
                make_story("c", outlet="C", cluster_id="c"),
                # Another language's report of event "a": its own cluster, the same mail.
                make_story("d", outlet="D", cluster_id="d", event_id="a", lang="ar"),
            ]
        ],
    )
    assert len(mails) == 2
    assert mails[0].delivery_id == instant_delivery_id(sub.email, "r", "a")
    assert [r.outlet for r in mails[0].stories[0].reports] == ["A", "B", "D"]
    # The same subscriber, rule and cluster always give the same ledger key.
    assert instant_delivery_id("a@example.org", "r", "a") == mails[0].delivery_id
    assert instant_delivery_id("a@example.org", "r", "c") != mails[0].delivery_id
    assert digest_delivery_id("a@example.org", "r", "2026-01-01") != digest_delivery_id(
        "a@example.org", "r", "2026-01-02"
    )


def test_daily_digest_slot_in_subscriber_time_zone() -> None:
    # 06:30 in Istanbul (UTC+3) is before 07:00: the latest slot is yesterday's.
    now = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    key, start, end = digest_slot("daily 07:00", "Europe/Istanbul", now)
    assert key == "2026-03-09"
    assert end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    key2, _, end2 = digest_slot("daily 07:00", "Europe/Istanbul", now + timedelta(hours=1))
    assert key2 == "2026-03-10"
    assert end2 == datetime(2026, 3, 10, 4, 0, tzinfo=UTC)


def test_weekday_digest_skips_weekend_and_hourly_slots() -> None:
    sunday = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    key, start, end = digest_slot("weekdays 08:00", "UTC", sunday)
    assert key == "2026-03-13"  # Friday
    assert start == datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
    key, start, end = digest_slot("hourly", "UTC", datetime(2026, 3, 15, 12, 17, tzinfo=UTC))
    assert key == "2026-03-15T12:00+00:00"
    assert end - start == timedelta(hours=1)


def test_window_start_overlaps_the_last_run() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    cur = now - timedelta(minutes=5)
    assert window_start(cur, now, overlap=timedelta(minutes=15), first_run=timedelta(days=1)) == (
        cur - timedelta(minutes=15)
    )
    assert window_start(
        None, now, overlap=timedelta(minutes=15), first_run=timedelta(days=1)
    ) == now - timedelta(days=1)


def test_cap_keeps_the_first_mails_and_announces_the_rest_once() -> None:
    from monitor.alerts import cap_instant, overflow_delivery_id

    sub = Subscriber(email="a@example.org", alerts=[AlertRule(name="r", query="q")])
    other = Subscriber(email="b@example.org", alerts=[AlertRule(name="r", query="q")])
    stories = [make_story(f"s{i}", cluster_id=f"s{i}") for i in range(5)]
    mails = plan_instant([(sub, sub.alerts[0]), (other, other.alerts[0])], [stories, stories[:2]])
    capped = cap_instant(mails, lambda rule: 3, lambda rule: "LINK")
    assert [m.mode for m in capped] == ["instant"] * 3 + ["overflow"] + ["instant"] * 2
    over = capped[3]
    assert (over.more, over.link, over.subscriber.email) == (2, "LINK", "a@example.org")
    assert over.covers == [mails[3].delivery_id, mails[4].delivery_id]
    assert over.delivery_id == overflow_delivery_id("A@example.org", "r", over.covers[::-1])


def test_search_link_is_kibana_discover_when_configured_else_the_search_command() -> None:
    from monitor.alerts import search_link

    start, end = datetime(2026, 12, 31, 20, tzinfo=UTC), datetime(2026, 12, 31, 23, 47, tzinfo=UTC)
    cmd = search_link("erdogan AND lang:tr", start, end, kibana_url=None, data_view="dv")
    assert cmd == "newsmon search 'erdogan AND lang:tr' --since 4h"
    url = search_link(
        'people:"Ismail Haniyeh" OR it\'s',
        start,
        end,
        kibana_url="https://k.example/",
        data_view="dv",
    )
    assert url.startswith("https://k.example/app/discover#/?_g=(time:(from:'2026-12-31T19:00:00")
    assert "dataViewId:'dv'" in url
    assert "query:(language:lucene,query:'people:%22Ismail%20Haniyeh%22%20OR%20it!'s')" in url
