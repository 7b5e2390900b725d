"""How newsmon's records look as Elasticsearch documents, both ways.

The only place that knows document field names and shapes: `Story`, dedupe `Candidate`,
`FeedState` and `Delivery` go in and come out as typed records. Instants are stored as ISO 8601
in UTC; `text_folded` is the diacritic- and script-folded copy that plain-word rules search
(the server core has no asciifolding, so Python folds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from monitor.dedupe import Candidate, EventCandidate, event_terms
from monitor.models import Delivery, FeedState, Story
from monitor.text import search_fold

__all__ = [
    "CANDIDATE_FIELDS",
    "GROUPED",
    "NOT_EVENT_PRIMARY",
    "PENDING",
    "candidate_from_doc",
    "cluster_fields",
    "delivery_from_doc",
    "delivery_to_doc",
    "event_candidate_from_doc",
    "event_fields",
    "feed_state_from_doc",
    "feed_state_to_doc",
    "group_fields",
    "grouped_before",
    "iso",
    "parse_dt",
    "story_from_doc",
    "story_to_doc",
    "tag_fields",
]

# The `_source` fields a dedupe Candidate is built from: summaries and evidence of 50 stories
# per lookup add up, so a lookup fetches only these.
CANDIDATE_FIELDS: tuple[str, ...] = (
    *(f.name for f in fields(Candidate) if f.name not in ("first_seen", "shared_bands")),
    "fetched_at",
)
# A story is written "pending" (`grouped: false`) and becomes visible to alerts and to other
# stories' dedupe only once the grouping step has decided its cluster and event. Documents
# without the field (none are written so) would count as grouped.
GROUPED: dict[str, Any] = {"bool": {"must_not": [{"term": {"grouped": False}}]}}
PENDING: dict[str, Any] = {"term": {"grouped": False}}
# Pending stories in the order a grouping pass decides them (`grouping._arrival_key`: the
# publication time, else the first-seen time, then the id; `arrival` stores that time). One
# poll's stories share their first-seen time, so sorting on it put them in passes by id: which
# pass a story fell in then decided which of two copies became the primary. In arrival order
# a run's passes, whatever their size, decide as one pass would.
ARRIVAL_ORDER: list[dict[str, Any]] = [
    # Stories stored before `arrival` existed have none: they are the older ones, so first.
    {"arrival": {"order": "asc", "missing": "_first"}},
    {"fetched_at": "asc"},
    {"id": "asc"},
]
# Fields that `retag` rewrites.
_TAG_FIELDS = ("topics", "topic_scores", "evidence", "people", "orgs", "places")


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


def parse_dt(value: Any) -> datetime | None:
    """A stored instant back as an aware datetime (None for a missing or empty value)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# ---- stories ----------------------------------------------------------------------------


_STORY_FIELDS = tuple(f.name for f in fields(Story))


def story_to_doc(story: Story, indexed_at: datetime) -> dict[str, Any]:
    """The stored document for a story: its fields plus folded text for script-blind search.

    ``indexed_at`` is when newsmon stored it: alert windows select on it, not on the publish
    date, so a story published late is still alerted on.
    """
    # A shallow copy: the record holds only strings, numbers, lists and dicts of them, and
    # `asdict`'s recursive deep copy made building a document ten times slower.
    doc = {name: getattr(story, name) for name in _STORY_FIELDS}
    doc["published"] = iso(story.published)
    doc["fetched_at"] = iso(story.fetched_at)
    doc["arrival"] = iso(story.published or story.fetched_at)  # the grouping order (ARRIVAL_ORDER)
    doc["indexed_at"] = iso(indexed_at)
    doc["text_folded"] = search_fold(
        " ".join(p for p in (story.title, story.summary, story.content) if p)
    )
    doc["cluster_id"] = story.cluster_id or story.id
    doc["event_id"] = story.event_id or doc["cluster_id"]
    doc.pop("outlets")  # the cluster's outlets live on its primary, set when it is grouped
    doc.pop("highlight")  # a property of one search's result, not of the story
    doc["grouped"] = False
    return doc


def grouped_before(run: str | None) -> dict[str, Any]:
    """Stories grouped before the grouping run `run` (all grouped stories for None).

    A run keeps the stories it grouped in memory as candidates for its later passes, so its
    look-ups leave them out of Elasticsearch's answers (they would be found twice)."""
    if run is None:
        return GROUPED
    return {"bool": {"must_not": [{"term": {"grouped": False}}, {"term": {"group_run": run}}]}}


def group_fields(story: Story, grouped_at: datetime, run: str | None = None) -> dict[str, Any]:
    """The partial document the grouping step writes: the story's cluster and event.

    ``grouped_at`` is when the story became alertable: alert windows select on it.
    ``group_run`` names the grouping run that wrote it (`grouped_before`).
    """
    event_id = story.event_id or story.cluster_id or story.id
    doc: dict[str, Any] = {
        "cluster_id": story.cluster_id or story.id,
        "is_primary": story.is_primary,
        "event_id": event_id,
        # What the event look-up finds later reports by (a keyword field, `terms` queries).
        "event_terms": event_terms(story),
        "is_event_primary": event_id == story.id,
        "grouped": True,
        "grouped_at": iso(grouped_at),
    }
    if run is not None:
        doc["group_run"] = run
    if story.is_primary:
        doc |= cluster_fields(1, [story.outlet])
    return doc


def event_fields(
    size: int,
    outlets: list[str],
    languages: list[str],
    first_seen: datetime | None,
    last_seen: datetime | None,
) -> dict[str, Any]:
    """The partial document that keeps an event's counts on its primary (its first report)."""
    return {
        "is_event_primary": True,
        "event_size": size,
        "event_outlets": sorted(outlets),
        "event_languages": sorted(languages),
        "event_first_seen": iso(first_seen),
        "event_last_seen": iso(last_seen),
    }


# What a story merged away from being an event's primary keeps of it: nothing.
NOT_EVENT_PRIMARY: dict[str, Any] = {
    "is_event_primary": False,
    "event_size": None,
    "event_outlets": [],
    "event_languages": [],
    "event_first_seen": None,
    "event_last_seen": None,
}


def event_candidate_from_doc(src: dict[str, Any]) -> EventCandidate:
    """An event look-up candidate from a stored story (`EVENT_CANDIDATE_FIELDS`); its event
    bounds are filled in by the look-up."""
    # Every stored story has a fetch time; one without would be older than any span.
    first = parse_dt(src.get("fetched_at")) or datetime.min.replace(tzinfo=UTC)
    return EventCandidate(
        id=src["id"],
        event_id=src.get("event_id") or src.get("cluster_id") or src["id"],
        event_start=first,
        outlet=src.get("outlet", ""),
        lang=src.get("lang"),
        title=src.get("title", ""),
        summary=src.get("summary", ""),
        title_key=src.get("title_key", ""),
        people=list(src.get("people") or []),
        orgs=list(src.get("orgs") or []),
        places=list(src.get("places") or []),
        published=parse_dt(src.get("published")),
        first_seen=first,
        # Stories grouped before event terms were stored have none: their text is read whole.
        terms=frozenset(src["event_terms"]) if "event_terms" in src else None,
    )


def story_from_doc(src: dict[str, Any]) -> Story:
    """Rebuild a Story from a stored document (fields newsmon did not write are ignored)."""
    known = Story.__dataclass_fields__
    data = {k: v for k, v in src.items() if k in known}
    for key in ("published", "fetched_at"):
        data[key] = parse_dt(data.get(key))
    if data.get("fetched_at") is None:  # written by hand or by an old version: indexed is close
        data["fetched_at"] = parse_dt(src.get("indexed_at")) or data.get("published")
    data["cluster_id"] = data.get("cluster_id") or data["id"]
    return Story(**data)


def tag_fields(story: Story) -> dict[str, Any]:
    """The partial document `retag` writes: the tagger's output, and the event terms made
    from it (a grouped story's entities are what later reports find its event by)."""
    return {k: getattr(story, k) for k in _TAG_FIELDS} | {"event_terms": event_terms(story)}


# What an Elasticsearch recount of a group reads at most: outlets per cluster or event and
# languages per event (its `terms` aggregations' sizes, the most frequent first).
MAX_GROUP_OUTLETS = 200
MAX_EVENT_LANGUAGES = 50


@dataclass(frozen=True)
class GroupCounts:
    """A cluster's or an event's members as the grouping step saw them all: how many, each
    outlet and language with its number of members, and the first-seen times of the first
    and the latest (`StoryIndex.apply_groups` writes them as a recount would)."""

    size: int
    outlets: Mapping[str, int]
    languages: Mapping[str, int]
    first_seen: datetime
    last_seen: datetime


def _top(counts: Mapping[str, int], n: int) -> list[str]:
    # A `terms` aggregation's buckets: the most members first, ties by key.
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _ms(dt: datetime) -> datetime:
    # A `date` field keeps milliseconds: what a recount's min and max give back.
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def group_count_fields(
    clusters: Mapping[str, GroupCounts], events: Mapping[str, GroupCounts]
) -> dict[str, dict[str, Any]]:
    """Per primary id, its cluster's and its event's count fields as `refresh_clusters` and
    `refresh_events` would write them (an event here has no stored story moved into it, so
    no aliases)."""
    out = {
        cid: cluster_fields(c.size, _top(c.outlets, MAX_GROUP_OUTLETS))
        for cid, c in clusters.items()
    }
    for eid, c in events.items():
        counted = event_fields(
            c.size,
            _top(c.outlets, MAX_GROUP_OUTLETS),
            _top(c.languages, MAX_EVENT_LANGUAGES),
            _ms(c.first_seen),
            _ms(c.last_seen),
        )
        out[eid] = out.get(eid, {}) | counted | {"event_aliases": []}
    return out


def cluster_fields(size: int, outlets: list[str]) -> dict[str, Any]:
    """The partial document that keeps a cluster's counts on its primary."""
    return {"cluster_size": size, "outlets": sorted(outlets)}


def candidate_from_doc(src: dict[str, Any]) -> Candidate:
    """A dedupe Candidate from a stored story (its `CANDIDATE_FIELDS`)."""
    return Candidate(
        id=src["id"],
        cluster_id=src.get("cluster_id") or src["id"],
        outlet=src.get("outlet", ""),
        canonical_url=src.get("canonical_url", ""),
        guid=src.get("guid"),
        title=src.get("title", ""),
        summary=src.get("summary", ""),
        content=src.get("content"),
        title_key=src.get("title_key", ""),
        lsh_bands=list(src.get("lsh_bands") or []),
        published=parse_dt(src.get("published")),
        first_seen=parse_dt(src.get("fetched_at")),
    )


# ---- feed state -------------------------------------------------------------------------

_FEED_INSTANTS = (
    "last_polled",
    "last_success",
    "next_due",
    "failing_since",
    "revived_from",
    "revived_at",
)


def feed_state_to_doc(st: FeedState) -> dict[str, Any]:
    doc = asdict(st)
    doc["kind"] = "feed"
    for key in _FEED_INSTANTS:
        doc[key] = iso(getattr(st, key))
    return doc


def feed_state_from_doc(src: dict[str, Any]) -> FeedState:
    data = {k: v for k, v in src.items() if k in FeedState.__dataclass_fields__}
    for key in _FEED_INSTANTS:
        data[key] = parse_dt(data.get(key))
    return FeedState(**data)


# ---- deliveries -------------------------------------------------------------------------


def delivery_to_doc(d: Delivery) -> dict[str, Any]:
    """The ledger document (the delivery id is the document id, not a field)."""
    doc = asdict(d)
    doc.pop("id")
    doc["created_at"] = iso(d.created_at)
    doc["sent_at"] = iso(d.sent_at)
    return doc


def delivery_from_doc(doc_id: str, src: dict[str, Any]) -> Delivery:
    data = {k: v for k, v in src.items() if k in Delivery.__dataclass_fields__}
    data["id"] = doc_id
    for key in ("created_at", "sent_at"):
        data[key] = parse_dt(data.get(key))
    data.setdefault("story_ids", [])
    data.setdefault("cluster_ids", [])
    data.setdefault("event_ids", [])
    return Delivery(**data)
