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


def test_plan_instant_one_mail_per_rule_and_cluster_with_stable_ids() -> None:
    sub = Subscriber(email="A@Example.org", alerts=[AlertRule(name="r", query="q")])
    rule = sub.alerts[0]
    mails = plan_instant(
        [(sub, rule)],
        [
            [
                make_story("a", outlet="A", cluster_id="a"),
                make_story("b", outlet="B", cluster_id="a", is_primary=False),
                make_story("c", outlet="C", cluster_id="c"),
            ]
        ],
    )
    assert len(mails) == 2
    assert mails[0].delivery_id == instant_delivery_id(sub.email, "r", "a")
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
