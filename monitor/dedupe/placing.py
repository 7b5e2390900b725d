"""Placing a story in its event once its cluster is decided: one function for both paths.

`newsmon dedupe` (records, in memory) and the pipeline's grouping step (candidates prefetched
from Elasticsearch) call `place_event` with the same arguments in the same order, so the same
input gives the same events on both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from monitor.dedupe.decision import Candidate, Decision
from monitor.dedupe.events import EVENT_SPAN, EventLookup, assign_event
from monitor.models import Story

__all__ = ["RECURRING_TITLE", "EventIndex", "is_recurring", "place_event"]

# A title repeated by one outlet this long after its first use is a new edition (a daily
# briefing, the next day of a live blog), even when the copy level still calls it a copy.
RECURRING_TITLE = 12  # hours


class EventIndex(EventLookup, Protocol):
    """An `EventLookup` that also keeps the events decided so far (and their merges)."""

    def event_of(self, story_id: str) -> str | None:
        """The current event of a known story (after merges), or None."""
        ...

    def event_bounds(self, event_id: str) -> tuple[datetime, datetime] | None:
        """First-seen times of the first and the latest report of an event."""
        ...

    def merge_events(self, target: str, others: list[str]) -> None:
        """Merge events into `target` (a bridging story's decision); idempotent."""
        ...

    def add(self, story: Story, event_start: datetime | None = None) -> None:
        """Keep a story after its decision, as a candidate for the stories after it."""
        ...


def is_recurring(story: Story, decision: Decision, get: Callable[[str], Candidate | None]) -> bool:
    """Whether a same-outlet title match is a new edition of a recurring title, not a copy."""
    if decision.reason != "title" or not decision.matched_id:
        return False
    earlier = get(decision.matched_id)
    first = earlier.first_seen if earlier else None
    return (
        first is not None
        and abs(story.fetched_at - first).total_seconds() >= 3600 * RECURRING_TITLE
    )


def place_event(
    story: Story, events: EventIndex, *, recurring: bool, span: timedelta = EVENT_SPAN
) -> None:
    """Give a story its event (a copy takes its cluster's) and keep it in `events`."""
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
