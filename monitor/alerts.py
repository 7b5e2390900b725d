"""Subscriber rules: which stories go to whom, when digests are due, and the ledger keys.

Pure: the pipeline runs the searches (via `store`) and the sending (via `mail`). A delivery id
is a hash of who, which rule and what (cluster or digest period), so the ledger refuses a second
send of the same thing whatever retries or overlapping windows do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import AlertRule, Subscriber


@dataclass
class StoryHit:
    """A story as shown in an alert: one per cluster, with the other outlets that carried it."""

    id: str
    cluster_id: str
    title: str
    summary: str
    url: str
    outlet: str
    published: str | None
    topics: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    also_reported_by: list[str] = field(default_factory=list)


@dataclass
class PlannedMail:
    """One e-mail to send: its ledger id, recipient, rule and the stories it lists."""

    delivery_id: str
    subscriber: Subscriber
    rule: AlertRule
    mode: str
    stories: list[StoryHit]
    period: str | None = None
    window: tuple[datetime, datetime] | None = None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def instant_delivery_id(email: str, rule: str, cluster_id: str) -> str:
    return "i-" + _digest(email.lower(), rule, cluster_id)


def digest_delivery_id(email: str, rule: str, period: str) -> str:
    return "d-" + _digest(email.lower(), rule, period)


def hits_by_cluster(sources: Sequence[dict[str, Any]]) -> list[StoryHit]:
    """One hit per cluster, preferring the cluster's primary story, in first-seen order."""
    chosen: dict[str, dict[str, Any]] = {}
    outlets: dict[str, list[str]] = {}
    for src in sources:
        cid = str(src.get("cluster_id") or src["id"])
        outlets.setdefault(cid, [])
        if src.get("outlet") and src["outlet"] not in outlets[cid]:
            outlets[cid].append(src["outlet"])
        if cid not in chosen or (src.get("is_primary") and not chosen[cid].get("is_primary")):
            chosen[cid] = src
    hits = []
    for cid, src in chosen.items():
        others = sorted({*outlets[cid], *src.get("outlets", [])} - {src.get("outlet")})
        hits.append(
            StoryHit(
                id=src["id"],
                cluster_id=cid,
                title=src.get("title", ""),
                summary=src.get("summary", ""),
                url=src.get("url", ""),
                outlet=src.get("outlet", ""),
                published=src.get("published"),
                topics=list(src.get("topics", [])),
                people=list(src.get("people", [])),
                also_reported_by=others,
            )
        )
    return hits


def instant_rules(subscribers: Sequence[Subscriber]) -> list[tuple[Subscriber, AlertRule]]:
    return [(s, r) for s in subscribers for r in s.alerts if r.mode == "instant"]


def digest_rules(subscribers: Sequence[Subscriber]) -> list[tuple[Subscriber, AlertRule]]:
    return [(s, r) for s in subscribers for r in s.alerts if r.mode == "digest"]


def plan_instant(
    pairs: Sequence[tuple[Subscriber, AlertRule]], results: Sequence[Sequence[dict[str, Any]]]
) -> list[PlannedMail]:
    """One mail per (subscriber, rule, cluster) found by that rule's search."""
    mails = []
    for (sub, rule), sources in zip(pairs, results, strict=True):
        for hit in hits_by_cluster(sources):
            mails.append(
                PlannedMail(
                    delivery_id=instant_delivery_id(sub.email, rule.name, hit.cluster_id),
                    subscriber=sub,
                    rule=rule,
                    mode="instant",
                    stories=[hit],
                )
            )
    return mails


def digest_slot(spec: str, tz_name: str, now: datetime) -> tuple[str, datetime, datetime]:
    """The latest digest slot at or before `now`: (period key, window start, window end), UTC.

    'daily HH:MM' and 'weekdays HH:MM' are in the subscriber's time zone; the window runs from
    the previous slot to this one, so consecutive digests neither overlap nor leave gaps.
    """
    tz = ZoneInfo(tz_name)
    local = now.astimezone(tz)
    kind, _, hhmm = spec.partition(" ")
    if kind == "hourly":
        end_local = local.replace(minute=0, second=0, microsecond=0)
        start_local = end_local - timedelta(hours=1)
        key = end_local.strftime("%Y-%m-%dT%H")
    else:
        h, m = (int(x) for x in hhmm.split(":"))
        at = time(h, m)
        day = local.date() if local.time() >= at else local.date() - timedelta(days=1)
        if kind == "weekdays":
            while day.weekday() >= 5:
                day -= timedelta(days=1)
        end_local = datetime.combine(day, at, tzinfo=tz)
        prev = day - timedelta(days=1)
        if kind == "weekdays":
            while prev.weekday() >= 5:
                prev -= timedelta(days=1)
        start_local = datetime.combine(prev, at, tzinfo=tz)
        key = day.isoformat()
    return key, start_local.astimezone(UTC), end_local.astimezone(UTC)


def window_start(
    cursor: datetime | None, now: datetime, *, overlap: timedelta, first_run: timedelta
) -> datetime:
    """Start of an instant-alert window: last cursor minus an overlap (the ledger makes it safe).

    The overlap catches stories that were indexed just before the previous run but became
    searchable only after it (Elasticsearch refresh), at no risk of a second e-mail.
    """
    return (cursor - overlap) if cursor else (now - first_run)
