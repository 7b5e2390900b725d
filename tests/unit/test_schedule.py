"""The pure feed scheduler: base interval, what the server asks, cap, back-off per class,
dead probes, gone, deterministic jitter. Instants from the fixed NOW, never the clock."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_settings
from monitor.fetch import ERROR_CLASSES
from monitor.models import FeedState
from monitor.pipeline import DUE_SLACK, due_feeds
from monitor.pipeline.schedule import (
    BACKOFF,
    SchedulePolicy,
    backoff_delay,
    jitter,
    max_age_seconds,
    next_due,
    retry_after_seconds,
    server_delay,
    ttl_minutes,
)
from tests.factories import NOW, feed, write_config

BASE = timedelta(minutes=10)
POLICY = SchedulePolicy()


def test_a_healthy_feed_keeps_its_interval_exactly() -> None:
    assert next_due("wire-a", NOW, BASE, POLICY, status="ok") == NOW + BASE
    # The server asking for less than the interval changes nothing.
    short = timedelta(minutes=2)
    assert next_due("wire-a", NOW, BASE, POLICY, status="ok", asked=short) == NOW + BASE


def test_the_later_of_interval_and_server_request_wins_with_jitter_within_ten_percent() -> None:
    hour = timedelta(hours=1)
    due = next_due("wire-a", NOW, BASE, POLICY, status="ok", asked=hour)
    assert due is not None
    assert NOW + hour <= due <= NOW + hour * 1.1
    # Deterministic: the same feed gets the same instant every time.
    assert next_due("wire-a", NOW, BASE, POLICY, status="ok", asked=hour) == due


def test_jitter_differs_between_feeds_and_is_stable() -> None:
    day = timedelta(days=1)
    spread = {jitter(f"feed-{n}", day) for n in range(50)}
    assert len(spread) > 40
    assert all(timedelta(0) <= j < day * 0.1 for j in spread)
    assert jitter("feed-7", day) == jitter("feed-7", day)


def test_server_requests_are_capped() -> None:
    week = timedelta(days=7)
    due = next_due("wire-a", NOW, BASE, POLICY, status="ok", asked=week)
    assert due is not None
    assert NOW + timedelta(hours=24) <= due <= NOW + timedelta(hours=24) * 1.1
    tight = SchedulePolicy(max_interval=timedelta(hours=2))
    due = next_due("wire-a", NOW, BASE, tight, status="ok", asked=week)
    assert due is not None
    assert due <= NOW + timedelta(hours=2.2)


def test_a_configured_interval_longer_than_the_cap_is_kept() -> None:
    two_days = timedelta(days=2)
    assert next_due("slow", NOW, two_days, POLICY, status="ok") == NOW + two_days


def test_server_delay_takes_the_longest_request() -> None:
    assert server_delay(ttl_minutes=None, max_age=None, retry_after=None) is None
    assert server_delay(ttl_minutes=30, max_age=60.0, retry_after=None) == timedelta(minutes=30)
    assert server_delay(ttl_minutes=1, max_age=3600.0, retry_after=120.0) == timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        # An HTTP date 90 minutes after NOW (23:47 on 31 December 2026 UTC).
        ("Fri, 01 Jan 2027 01:17:00 GMT", 5400.0),
        ("Thu, 31 Dec 2026 20:00:00 GMT", 0.0),  # already past: no wait
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=600", 600.0),
        ("public, max-age=300, must-revalidate", 300.0),
        ("s-maxage=900", None),  # for shared caches; newsmon is a private reader
        ("private, s-maxage=900, max-age=120", 120.0),
        ("no-cache, max-age=600", None),
        ("no-store", None),
        (None, None),
    ],
)
def test_max_age(header: str | None, seconds: float | None) -> None:
    assert max_age_seconds(header) == seconds


def test_ttl_from_the_body() -> None:
    body = b"<rss version='2.0'><channel><title>T</title><ttl> 45 </ttl><item/></channel></rss>"
    assert ttl_minutes(body) == 45
    assert ttl_minutes(b"<rss><channel><ttl>0</ttl></channel></rss>") is None
    assert ttl_minutes(b"<rss><channel></channel></rss>") is None
    assert ttl_minutes(None) is None


def test_every_error_class_has_a_backoff_rule() -> None:
    assert set(ERROR_CLASSES) == set(BACKOFF)


def test_backoff_grows_per_class_and_stops_at_its_cap() -> None:
    fast = [backoff_delay(BASE, "timeout", n) for n in range(1, 8)]
    slow = [backoff_delay(BASE, "http_4xx", n) for n in range(1, 8)]
    assert fast[:4] == [BASE, BASE * 2, BASE * 4, BASE * 8]
    assert slow[:3] == [BASE, BASE * 1.5, BASE * 2.25]
    assert all(a < b for a, b in pairwise(fast) if b < BACKOFF["timeout"].cap)
    assert fast[3] > slow[3]
    assert backoff_delay(BASE, "timeout", 100) == BACKOFF["timeout"].cap
    assert backoff_delay(BASE, "http_4xx", 10_000) == BACKOFF["http_4xx"].cap
    # An unknown class backs off like "other".
    assert backoff_delay(BASE, "martian", 3) == backoff_delay(BASE, "other", 3)


def test_a_failing_feed_backs_off_and_retry_after_wins() -> None:
    third = next_due(
        "wire-a", NOW, BASE, POLICY, status="failing", error_class="http_5xx", failures=3
    )
    assert third is not None
    assert NOW + BASE * 4 <= third <= NOW + BASE * 4 * 1.1
    # Retry-After: 15 minutes, shorter than the back-off of 80 minutes, and it wins.
    asked = timedelta(minutes=15)
    told = next_due(
        "wire-a",
        NOW,
        BASE,
        POLICY,
        status="failing",
        error_class="http_429",
        failures=4,
        asked=asked,
    )
    assert told is not None
    assert NOW + asked <= told <= NOW + asked * 1.1
    # But never sooner than the feed's own interval.
    soon = next_due(
        "wire-a",
        NOW,
        BASE,
        POLICY,
        status="failing",
        error_class="http_429",
        failures=1,
        asked=timedelta(seconds=5),
    )
    assert soon == NOW + BASE


def test_dead_feeds_are_probed_slowly_and_gone_feeds_never() -> None:
    dead = next_due("wire-a", NOW, BASE, POLICY, status="dead", error_class="dns", failures=10)
    assert dead is not None
    assert NOW + timedelta(days=1) <= dead <= NOW + timedelta(days=1.1)
    hourly = SchedulePolicy(dead_probe=timedelta(hours=1))
    probe = next_due("wire-a", NOW, BASE, hourly, status="dead", failures=10)
    assert probe is not None
    assert probe <= NOW + timedelta(hours=1.1)
    assert next_due("wire-a", NOW, BASE, POLICY, status="gone", failures=1) is None


def test_due_feeds_follow_next_due_skip_gone_feeds_and_restart_on_a_new_url(
    tmp_path: Path,
) -> None:
    cfg = write_config(
        tmp_path,
        feeds=[feed(i, f"https://x.org/{i}") for i in ("due", "later", "gone", "moved-config")],
        default_interval="10m",
        topics=False,
    )
    s = load_settings(cfg, {})
    before = NOW - timedelta(hours=1)

    def state(fid: str, **kw: Any) -> FeedState:
        return FeedState(feed_id=fid, url=f"https://x.org/{fid}", last_polled=before, **kw)

    states = {
        "due": state("due", next_due=NOW + DUE_SLACK),
        "later": state("later", next_due=NOW + DUE_SLACK + timedelta(seconds=1)),
        "gone": state("gone", status="gone", next_due=None),
        # Its URL in feeds.yaml is not the one this state was recorded for: due at once.
        "moved-config": FeedState(
            feed_id="moved-config",
            url="https://x.org/old",
            last_polled=before,
            status="gone",
        ),
    }
    assert due_feeds(s, states, NOW) == ["due", "moved-config"]
    assert due_feeds(s, states, NOW + timedelta(days=365)) == ["due", "later", "moved-config"]
