"""JSON Lines records in, cluster and event ids out: the adapter behind `newsmon dedupe`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.dedupe.decision import annotate, apply_decision, assign_cluster
from monitor.dedupe.event_memory import MemoryEventLookup
from monitor.dedupe.events import EVENT_SPAN
from monitor.dedupe.memory import MemoryLookup
from monitor.dedupe.placing import is_recurring, place_event
from monitor.models import Story
from monitor.urls import canonical_url, story_id

if TYPE_CHECKING:
    from datetime import timedelta

    from monitor.tagging import Tagger

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
    records: Iterable[dict[str, Any]],
    arrival: datetime,
    tagger: Tagger | None = None,
    *,
    span: timedelta = EVENT_SPAN,
) -> Iterator[dict[str, Any]]:
    """Cluster stories given in arrival order; yields {"id", "cluster_id"} per story.

    With a tagger, each line also carries "event_id" (reports of one event, reworded or in
    another language). A later story can merge two events, so event ids are final only once
    every record is read: the lines then come after the last record, in input order.
    `arrival` stands in for the fetch time of records without a publish time.
    """
    lookup = MemoryLookup()
    if tagger is None:
        for rec in records:
            story = record_to_story(rec, arrival)
            apply_decision(story, assign_cluster(story, lookup))
            lookup.add(story)
            yield {"id": story.id, "cluster_id": story.cluster_id}
        return
    events = MemoryEventLookup()
    out: list[tuple[str, str]] = []
    for rec in records:
        story = record_to_story(rec, arrival)
        decision = assign_cluster(story, lookup)
        apply_decision(story, decision)
        recurring = is_recurring(story, decision, lookup.get)
        lookup.add(story)
        tags = tagger.tag(story.title, story.summary, story.content, story.lang)
        story.people, story.orgs, story.places = tags.people, tags.orgs, tags.places
        story.lang = story.lang or tags.lang
        place_event(story, events, recurring=recurring, span=span)
        out.append((story.id, story.cluster_id))
    for sid, cluster in out:
        yield {"id": sid, "cluster_id": cluster, "event_id": events.event_of(sid) or sid}
