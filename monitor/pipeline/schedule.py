"""When to poll a feed next, and what state its health is in: pure, no I/O, no clock.

A healthy feed is polled every base interval, or later when the server asks for it
(`<ttl>`, `Cache-Control: max-age`, `Retry-After`), never later than the cap. A failing feed
backs off exponentially from its base interval, at a rate that depends on what failed
(`BACKOFF`); `Retry-After` overrides the back-off. After `dead_after` consecutive failures the
feed is dead and probed once per `dead_probe`; one success brings it back. A feed whose server
answered 410 Gone is not polled again until its configured URL changes or it is re-enabled.

Delays longer than the base interval get a deterministic jitter (a hash of the feed id), so
feeds of one host that failed together do not come back together, and tests stay reproducible.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "BACKOFF",
    "FEED_STATUSES",
    "Backoff",
    "SchedulePolicy",
    "backoff_delay",
    "jitter",
    "max_age_seconds",
    "next_due",
    "retry_after_seconds",
    "server_delay",
    "ttl_minutes",
]

# ok: last poll succeeded; failing: fewer than `dead_after` failures in a row; dead: probed
# slowly until it answers; gone: the server said 410, not polled any more.
FEED_STATUSES = ("ok", "failing", "dead", "gone")


@dataclass(frozen=True)
class Backoff:
    """How one class of failure grows the delay: base interval x factor^(failures-1), capped."""

    factor: float
    cap: timedelta


_FAST = Backoff(2.0, timedelta(hours=6))
_SLOW = Backoff(1.5, timedelta(hours=24))

# Transient server trouble (overload, a network blip) doubles the delay, so a struggling server
# is left alone quickly, and stays short (6 h) because it usually recovers by itself. Problems
# a person must fix (a 404, a broken document, a bad certificate) grow more slowly but reach a
# day: polling faster than someone can fix them only fills the logs.
BACKOFF: dict[str, Backoff] = {
    "timeout": _FAST,
    "connect": _FAST,
    "http_5xx": _FAST,
    "http_429": _FAST,
    "dns": Backoff(2.0, timedelta(hours=12)),
    "tls": _SLOW,
    "http_4xx": _SLOW,
    "parse": _SLOW,
    "too_large": _SLOW,
    "refused": _SLOW,
    "other": _FAST,
}

_JITTER_FRACTION = 0.1
# s-maxage is for shared caches; newsmon is a private reader, so only max-age counts.
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\b", re.IGNORECASE)
# RSS 2.0 <ttl> sits in <channel>, not in items; read from the bytes so a 304 or an unchanged
# body (never parsed) and the parser stay out of scheduling. Namespaced forms are not RSS's.
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>")


@dataclass(frozen=True)
class SchedulePolicy:
    """The settings that shape every feed's schedule (see README, feed scheduling)."""

    max_interval: timedelta = timedelta(hours=24)
    dead_after: int = 10
    dead_probe: timedelta = timedelta(hours=24)


def jitter(feed_id: str, delay: timedelta) -> timedelta:
    """Up to 10% of `delay`, the same for the same feed every time."""
    digest = hashlib.sha256(feed_id.encode("utf-8")).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=round(delay.total_seconds() * _JITTER_FRACTION * share))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now` (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def ttl_minutes(body: bytes | None) -> int | None:
    """The RSS `<ttl>` of a feed body in minutes; None when absent or zero."""
    m = _TTL.search(body or b"")
    return (int(m.group(1)) or None) if m else None


def max_age_seconds(cache_control: str | None) -> float | None:
    """`Cache-Control: max-age` in seconds; None when absent or no-cache."""
    if not cache_control or _NO_CACHE.search(cache_control):
        return None
    m = _MAX_AGE.search(cache_control)
    return float(m.group(1)) if m else None


def server_delay(
    *, ttl_minutes: int | None, max_age: float | None, retry_after: float | None
) -> timedelta | None:
    """The longest wait the server asked for, if it asked."""
    asked = [
        s
        for s in (
            ttl_minutes * 60.0 if ttl_minutes is not None else None,
            max_age,
            retry_after,
        )
        if s is not None and s > 0
    ]
    return timedelta(seconds=max(asked)) if asked else None


def backoff_delay(base: timedelta, error_class: str, failures: int) -> timedelta:
    """The delay after the `failures`-th failure in a row of this class (1 = first)."""
    rule = BACKOFF.get(error_class, BACKOFF["other"])
    cap = max(rule.cap, base)
    exponent = max(0, failures - 1)
    # Beyond ~60 doublings the float overflows long after the cap was reached.
    if exponent > 60:
        return cap
    return min(cap, base * (rule.factor**exponent))


def next_due(
    feed_id: str,
    now: datetime,
    base: timedelta,
    policy: SchedulePolicy,
    *,
    status: str,
    error_class: str | None = None,
    failures: int = 0,
    asked: timedelta | None = None,
) -> datetime | None:
    """When to poll the feed next, after a poll at `now` that left it in `status`.

    `asked` is what the server asked for (`server_delay`); on a failure a `Retry-After` there
    outranks the back-off. None: never (a gone feed).
    """
    if status == "gone":
        return None
    cap = max(policy.max_interval, base)
    if status == "dead":
        delay = policy.dead_probe
    elif status == "failing" and asked is not None:
        delay = min(cap, max(base, asked))
    elif status == "failing":
        delay = backoff_delay(base, error_class or "other", failures)
    else:
        delay = min(cap, max(base, asked)) if asked is not None else base
    if delay > base:
        delay += jitter(feed_id, delay)
    return now + delay
