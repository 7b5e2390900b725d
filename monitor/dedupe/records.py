"""JSON Lines records in, cluster and event ids out: the adapter behind `newsmon dedupe`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.dedupe.decision import annotate, apply_decision, assign_cluster
from monitor.dedupe.event_memory import MemoryEventLookup
from monitor.dedupe.events import EVENT_SPAN, assign_event
from monitor.dedupe.memory import MemoryLookup
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
        recurring = decision.reason == "title" and _hours_apart(story, lookup, decision.matched_id)
        lookup.add(story)
        tags = tagger.tag(story.title, story.summary, story.content, story.lang)
        story.people, story.orgs, story.places = tags.people, tags.orgs, tags.places
        story.lang = story.lang or tags.lang
        _assign(story, events, span, recurring)
        out.append((story.id, story.cluster_id))
    for sid, cluster in out:
        yield {"id": sid, "cluster_id": cluster, "event_id": events.event_of(sid) or sid}


# A title repeated by one outlet this long after its first use is a new edition (a daily
# briefing, the next day of a live blog), even when the copy level still calls it a copy.
RECURRING_TITLE = 12  # hours


def _hours_apart(story: Story, lookup: MemoryLookup, matched: str | None) -> bool:
    earlier = lookup.get(matched) if matched else None
    first = earlier.first_seen if earlier else None
    return (
        first is not None
        and abs(story.fetched_at - first).total_seconds() >= 3600 * RECURRING_TITLE
    )


def _assign(story: Story, events: MemoryEventLookup, span: timedelta, recurring: bool) -> None:
    """Give a story its event (a copy takes its cluster's) and store it in the event lookup."""
    primary_event = None if story.is_primary or recurring else events.event_of(story.cluster_id)
    bounds = events.event_bounds(primary_event) if primary_event else None
    when = story.fetched_at
    # A copy joins its cluster's event, unless a cluster that grew over days would stretch the
    # event past its span: then the copy is decided like a new report.
    if primary_event and bounds and max(bounds[1], when) - min(bounds[0], when) <= span:
        story.event_id = primary_event
        events.add(story, bounds[0])
        return
    decision = assign_event(story, events, span=span)
    story.event_id = decision.event_id
    events.merge_events(decision.event_id, decision.merged)
    bounds = events.event_bounds(decision.event_id) if decision.reason != "new" else None
    events.add(story, bounds[0] if bounds else story.fetched_at)
