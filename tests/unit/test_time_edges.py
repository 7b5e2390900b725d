"""Every instant-dependent decision at its edges: digest slots, alert windows, monthly index
names, retention and feed due-times, at the last minute of an hour, a day, a month and a year,
and across both daylight-saving changes. All instants are fixed here, never read from a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts import digest_slot, window_start
from monitor.config import Settings, load_settings
from monitor.models import FeedState
from monitor.pipeline import DUE_SLACK, due_feeds
from monitor.store import monthly_index, retention_cutoff
from tests.factories import feed, write_config

ISTANBUL, LONDON, NEW_YORK, KOLKATA = (
    "Europe/Istanbul",  # UTC+3 all year, no DST
    "Europe/London",  # 01:00 UTC jumps: last Sunday of March forward, of October back
    "America/New_York",  # 02:00 local jumps, second Sunday of March, first of November
    "Asia/Kolkata",  # a half-hour offset
)
ZONES = (ISTANBUL, LONDON, NEW_YORK, KOLKATA, "UTC")
SPECS = ("hourly", "daily 07:00", "daily 00:00", "daily 01:30", "daily 02:30", "weekdays 08:30")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# Instants around which slots, months and offsets change.
EDGES = (
    utc(2026, 6, 10, 14, 59),  # last minute of an ordinary hour
    utc(2026, 12, 31, 23, 47),  # the end of a year (and of a month and a day in UTC)
    utc(2026, 12, 31, 20, 59),  # 23:59 in Istanbul: the end of the subscriber's day
    utc(2026, 2, 28, 23, 59),  # the end of a short month
    utc(2026, 3, 29, 0, 52),  # London, minutes before the spring-forward change
    utc(2026, 3, 29, 1, 0),  # London, the change itself
    utc(2026, 10, 25, 0, 41),  # London, first pass through the repeated hour
    utc(2026, 10, 25, 1, 41),  # London, second pass through the repeated hour
    utc(2026, 10, 25, 2, 41),
    utc(2026, 3, 8, 7, 0),  # New York, 02:00 local becomes 03:00
    utc(2026, 11, 1, 6, 0),  # New York, 02:00 local becomes 01:00
)


# ---- digest slots ----------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    edge=st.sampled_from(EDGES),
    offset=st.integers(min_value=-26 * 3600, max_value=26 * 3600),
    zone=st.sampled_from(ZONES),
    spec=st.sampled_from(SPECS),
)
def test_digest_slots_tile_time_without_gaps_or_overlaps(
    edge: datetime, offset: int, zone: str, spec: str
) -> None:
    now = edge + timedelta(seconds=offset)
    key, start, end = digest_slot(spec, zone, now)
    assert start < end <= now  # a slot is only due once it has ended
    # The slot just before this one ends exactly where this one starts, with another key.
    prev_key, _, prev_end = digest_slot(spec, zone, end - timedelta(microseconds=1))
    assert prev_end == start
    assert prev_key != key
    # Nothing later is due yet: the same slot is the latest up to `now`.
    assert digest_slot(spec, zone, end)[0] == key
    longest = {"hourly": timedelta(hours=1), "daily": timedelta(hours=25)}
    assert end - start <= longest.get(spec.split()[0], timedelta(days=3, hours=1))


@pytest.mark.parametrize(
    ("now", "zone", "key", "start", "end"),
    [
        # The last minute of an Istanbul day belongs to the slot that ended at 07:00 that day.
        (
            utc(2026, 12, 31, 20, 59),
            ISTANBUL,
            "2026-12-31",
            utc(2026, 12, 30, 4),
            utc(2026, 12, 31, 4),
        ),
        # One minute later it is 1 January in Istanbul, still before 07:00: nothing new.
        (
            utc(2026, 12, 31, 21, 0),
            ISTANBUL,
            "2026-12-31",
            utc(2026, 12, 30, 4),
            utc(2026, 12, 31, 4),
        ),
        # London's spring-forward day is 23 hours long: 07:00 GMT to 07:00 BST.
        (utc(2026, 3, 29, 6, 0), LONDON, "2026-03-29", utc(2026, 3, 28, 7), utc(2026, 3, 29, 6)),
        # ...and the autumn day 25 hours: 07:00 BST to 07:00 GMT.
        (utc(2026, 10, 25, 7, 0), LONDON, "2026-10-25", utc(2026, 10, 24, 6), utc(2026, 10, 25, 7)),
        (
            utc(2026, 11, 1, 12, 0),
            NEW_YORK,
            "2026-11-01",
            utc(2026, 10, 31, 11),
            utc(2026, 11, 1, 12),
        ),
    ],
)
def test_daily_digest_at_day_and_dst_edges(
    now: datetime, zone: str, key: str, start: datetime, end: datetime
) -> None:
    assert digest_slot("daily 07:00", zone, now) == (key, start, end)


def test_daily_slot_in_the_skipped_hour_is_not_sent_before_it_ends() -> None:
    # 01:30 does not exist in London on 29 March 2026; the slot falls at 01:30 UTC (02:30 BST).
    # At 01:15 UTC (02:15 BST, a wall-clock time "after" 01:30) it has not ended yet.
    key, _, end = digest_slot("daily 01:30", LONDON, utc(2026, 3, 29, 1, 15))
    assert key == "2026-03-28"
    assert end == utc(2026, 3, 28, 1, 30)
    key, start, end = digest_slot("daily 01:30", LONDON, utc(2026, 3, 29, 1, 30))
    assert key == "2026-03-29"
    assert (start, end) == (
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
    )


def test_hourly_digest_sends_the_repeated_autumn_hour_twice() -> None:
    # 01:00-02:00 local happens twice in London on 25 October 2026: two slots, two keys.
    first = digest_slot("hourly", LONDON, utc(2026, 10, 25, 0, 30))  # 01:30 BST
    second = digest_slot("hourly", LONDON, utc(2026, 10, 25, 1, 30))  # 01:30 GMT
    assert first[0] == "2026-10-25T01:00+01:00"
    assert first[2] == utc(2026, 10, 25, 0)
    assert second[0] == "2026-10-25T01:00+00:00"
    assert second[2] == utc(2026, 10, 25, 1)
    assert second[1] == first[2]
    keys = [digest_slot("hourly", LONDON, utc(2026, 10, 25, h, 5))[0] for h in range(5)]
    assert len(set(keys)) == 5


def test_hourly_digest_follows_a_half_hour_offset() -> None:
    key, start, end = digest_slot("hourly", KOLKATA, utc(2026, 6, 10, 14, 59))
    assert end == utc(2026, 6, 10, 14, 30)
    assert start == utc(2026, 6, 10, 13, 30)
    assert key == "2026-06-10T20:00+05:30"


def test_last_minute_of_the_hour_is_still_the_current_slot() -> None:
    a = digest_slot("hourly", "UTC", utc(2026, 6, 10, 14, 59, 59))
    b = digest_slot("hourly", "UTC", utc(2026, 6, 10, 15, 0))
    assert a[2] == utc(2026, 6, 10, 14)
    assert b[2] == utc(2026, 6, 10, 15)
    assert a[0] != b[0]


def test_weekday_digest_over_new_year_and_weekend() -> None:
    # 1 January 2027 is a Friday; the slot before Monday the 4th is Friday's.
    key, start, end = digest_slot("weekdays 08:30", NEW_YORK, utc(2027, 1, 4, 13, 0))
    assert key == "2027-01-01"
    assert start == utc(2026, 12, 31, 13, 30)
    assert end == utc(2027, 1, 1, 13, 30)


# ---- instant-alert windows -------------------------------------------------------------


@pytest.mark.parametrize("now", EDGES)
def test_alert_window_overlaps_the_previous_run_at_any_instant(now: datetime) -> None:
    overlap, first = timedelta(minutes=15), timedelta(hours=24)
    cursor = now - timedelta(minutes=5)
    assert window_start(cursor, now, overlap=overlap, first_run=first) == cursor - overlap
    assert window_start(None, now, overlap=overlap, first_run=first) == now - first


# ---- monthly indices and retention -----------------------------------------------------


@pytest.mark.parametrize(
    ("when", "month"),
    [
        (utc(2026, 12, 31, 23, 59, 59), "2026.12"),
        (utc(2027, 1, 1, 0, 0), "2027.01"),
        (utc(2026, 2, 28, 23, 59, 59), "2026.02"),
        (utc(2026, 3, 1), "2026.03"),
        # Already 1 January in Istanbul, still December in UTC: months are UTC months.
        (datetime(2027, 1, 1, 1, 30, tzinfo=ZoneInfo(ISTANBUL)), "2026.12"),
        # The repeated London hour falls in October either way.
        (datetime(2026, 10, 25, 1, 30, fold=1, tzinfo=ZoneInfo(LONDON)), "2026.10"),
    ],
)
def test_monthly_index_is_the_utc_month(when: datetime, month: str) -> None:
    assert monthly_index("p-stories", when) == f"p-stories-{month}"


@pytest.mark.parametrize(
    ("now", "months", "cutoff"),
    [
        (utc(2026, 12, 31, 23, 59), 24, utc(2024, 12, 1)),
        (utc(2027, 1, 1, 0, 0), 24, utc(2025, 1, 1)),
        (utc(2027, 1, 1, 0, 0), 1, utc(2026, 12, 1)),
        (utc(2026, 3, 29, 0, 52), 12, utc(2025, 3, 1)),
        (utc(2026, 2, 10), 3, utc(2025, 11, 1)),
        (utc(2026, 5, 31, 23, 59), 0, utc(2026, 5, 1)),
    ],
)
def test_retention_cutoff_at_month_and_year_edges(
    now: datetime, months: int, cutoff: datetime
) -> None:
    assert retention_cutoff(now, months) == cutoff


# ---- feed due-times --------------------------------------------------------------------


@pytest.fixture
def five_minute_feed(tmp_path: Path) -> Settings:
    cfg = write_config(
        tmp_path,
        feeds=[
            feed("a", "https://x.org/a"),
            feed("paused", "https://x.org/b", name="B", enabled=False),
        ],
        default_interval="5m",
        topics=False,
    )
    return load_settings(cfg, {})


@pytest.mark.parametrize("now", EDGES)
def test_feed_is_due_once_its_interval_has_passed_at_any_instant(
    five_minute_feed: Settings, now: datetime
) -> None:
    s = five_minute_feed
    interval = timedelta(minutes=5)

    def state(last: datetime | None) -> dict[str, FeedState]:
        return {"a": FeedState(feed_id="a", url="https://x.org/a", last_polled=last)}

    assert due_feeds(s, {}, now) == ["a"]  # never polled
    assert due_feeds(s, state(now - interval + DUE_SLACK), now) == ["a"]
    not_yet = now - interval + DUE_SLACK + timedelta(seconds=1)
    assert due_feeds(s, state(not_yet), now) == []


# ---- one clock ---------------------------------------------------------------------------


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    """Everything else is handed its instant, so it can be tested at any instant."""
    root = Path(__file__).resolve().parents[2]
    readers = ("datetime.now(", "time.time(", "date.today(", ".utcnow(")
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for base in ("monitor", "dags")
        for path in sorted((root / base).rglob("*.py"))
        if path.name != "clock.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(r in line for r in readers) and "def utcnow" not in line
    ]
    assert offenders == []
