"""JSON Lines records in, cluster ids out: the adapter behind `newsmon dedupe`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from monitor.dedupe.decision import annotate, apply_decision, assign_cluster
from monitor.dedupe.memory import MemoryLookup
from monitor.models import Story
from monitor.urls import canonical_url, story_id

# ---- `newsmon dedupe` ------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def record_to_story(rec: dict[str, Any], arrival: datetime) -> Story:
    """A Story from a `newsmon dedupe` input line; `arrival` stands in when it has no date."""
    url = str(rec.get("url") or "")
    canon = canonical_url(url)
    outlet = str(rec.get("outlet") or "")
    guid = rec.get("guid")
    sid = str(rec.get("id") or story_id(canon, guid, outlet))
    published = _parse_time(rec.get("published"))
    story = Story(
        id=sid,
        feed_id=outlet,
        outlet=outlet,
        url=url,
        canonical_url=canon,
        title=str(rec.get("title") or ""),
        summary=str(rec.get("summary") or ""),
        content=rec.get("content") or None,
        guid=str(guid) if guid else None,
        published=published,
        # Offline input has no fetch time; the publish time is the best stand-in for the window.
        fetched_at=published or arrival,
        lang=rec.get("lang"),
    )
    return annotate(story)


def dedupe_records(
    records: Iterable[dict[str, Any]], arrival: datetime
) -> Iterator[dict[str, Any]]:
    """Cluster stories given in arrival order; yields {"id", "cluster_id"} per story.

    `arrival` stands in for the fetch time of records without a publish time.
    """
    lookup = MemoryLookup()
    for rec in records:
        story = record_to_story(rec, arrival)
        decision = assign_cluster(story, lookup)
        apply_decision(story, decision)
        lookup.add(story)
        yield {"id": story.id, "cluster_id": story.cluster_id}
