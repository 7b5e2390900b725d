"""The cluster decision: which earlier story, if any, a new story is a copy of.

Exact keys first (canonical URL, feed GUID, title key), then near-duplicates found by shared LSH
bands and verified in full. Pure given a `CandidateLookup`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from monitor.dedupe.compare import _conflict, _features, _Text, similarity
from monitor.dedupe.features import _join, _keep, detect_wire, headline, title_key
from monitor.dedupe.minhash import signature
from monitor.models import Story

# ---- parameters ------------------------------------------------------------------------------
MAX_CANDIDATES = 50  # what a lookup returns at most
MAX_VERIFY = 20  # candidates compared in full; copies share the most bands, so they rank first

# On the blend in `similarity`, rewritten and trimmed copies of one story score about 0.5-0.85
# and different stories on the same subject 0.3 at most; look-alikes of different events score
# high too, and are told apart by `_conflict`, not by this threshold.
MERGE_SCORE = 0.40
MIN_TITLE_KEY_TOKENS = 4  # "Live updates", "Morning briefing" recur daily under one title


# ---- candidates and decisions ----------------------------------------------------------------


@dataclass
class Candidate:
    """An earlier story, as the lookup returns it (all fields come from the stored document)."""

    id: str
    cluster_id: str
    outlet: str
    canonical_url: str
    guid: str | None
    title: str
    summary: str
    content: str | None
    title_key: str
    lsh_bands: list[str]
    published: datetime | None
    first_seen: datetime | None  # the story's fetched_at
    # How many LSH bands it shares with the story it was looked up for, when the look-up
    # counted them (the in-memory one does; its candidates then carry no `lsh_bands`).
    shared_bands: int | None = None

    @classmethod
    def from_story(cls, story: Story) -> Candidate:
        """The candidate view of a story that has been through `assign_cluster`."""
        return cls(
            id=story.id,
            cluster_id=story.cluster_id or story.id,
            outlet=story.outlet,
            canonical_url=story.canonical_url,
            guid=story.guid,
            title=story.title,
            summary=story.summary,
            content=story.content,
            title_key=story.title_key or title_key(story.title),
            lsh_bands=list(story.lsh_bands),
            published=story.published,
            first_seen=story.fetched_at,
        )


class CandidateLookup(Protocol):
    """Where earlier stories come from: Elasticsearch in the pipeline, memory elsewhere."""

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        """Stories with this canonical URL, or this GUID, or this title key from this outlet."""
        ...

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories first seen at or after `since` sharing at least one LSH band."""
        ...


@dataclass
class Decision:
    """Where a story belongs. `reason`: seen | url | guid | title | near | new."""

    cluster_id: str
    is_primary: bool
    matched_id: str | None
    reason: str
    score: float
    note: str = ""  # for the log: what was matched or why a close candidate was refused


def _candidate_features(c: Candidate) -> _Text:
    return _features(
        c.id, headline(c.title or "", c.outlet or ""), c.summary or "", c.content, _utc(c.published)
    )


def _cluster_of(c: Candidate) -> str:
    return c.cluster_id or c.id


def _seen_key(c: Candidate) -> tuple[datetime, str]:
    return (_utc(c.first_seen) or datetime.max.replace(tzinfo=UTC), c.id)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def assign_cluster(story: Story, lookup: CandidateLookup, *, window_days: int = 7) -> Decision:
    """Decide the cluster of a story from earlier stories in the lookup. Pure given the lookup."""
    key = story.title_key or title_key(story.title)
    bands = story.lsh_bands or signature(story.title, story.summary, story.content).bands
    since = story.fetched_at.astimezone(UTC) - timedelta(days=window_days)
    mine = _lazy_features(story)

    exact = lookup.exact(story.canonical_url, story.guid, key, story.outlet)
    decision = _already_stored(story, exact) or _exact_copy(story, exact, key, since, mine)
    if decision is not None:
        return decision
    found = lookup.by_bands(bands, since) if bands else []
    decision = _already_stored(story, found)
    if decision is not None:
        return decision
    return _near_copy(story, _ranked(found, bands, key, since), mine)


def _lazy_features(story: Story) -> Callable[[], _Text]:
    """The story's comparison features, computed once and only if a comparison needs them."""
    cached: list[_Text] = []

    def mine() -> _Text:
        if not cached:
            cached.append(
                _features(
                    story.id,
                    headline(story.title, story.outlet),
                    story.summary,
                    story.content,
                    _utc(story.published),
                )
            )
        return cached[0]

    return mine


def _already_stored(story: Story, candidates: list[Candidate]) -> Decision | None:
    """The "seen" decision when the story itself is among the candidates, else None."""
    return next((_seen(story, c) for c in candidates if c.id == story.id), None)


def _exact_copy(
    story: Story, exact: list[Candidate], key: str, since: datetime, mine: Callable[[], _Text]
) -> Decision | None:
    """The earliest-seen candidate sharing the URL, the GUID or a long title key, else None."""
    matches = [(c, reason) for c in exact if (reason := _exact_reason(story, c, key, since, mine))]
    if not matches:
        return None
    c, reason = min(matches, key=lambda m: _seen_key(m[0]))
    return Decision(_cluster_of(c), False, c.id, reason, 1.0, note=f"{reason} of {c.id}")


def _exact_reason(
    story: Story, c: Candidate, key: str, since: datetime, mine: Callable[[], _Text]
) -> str | None:
    """Why `c` is an exact copy of the story (url | guid | title), or None when it is not."""
    if story.canonical_url and c.canonical_url == story.canonical_url:
        return "url"
    if story.guid and c.guid == story.guid and c.outlet == story.outlet:
        return "guid"
    if _same_title(story, c, key, since):
        other = _candidate_features(c)
        if _conflict(mine(), other) is None:
            return "title"
    return None


def _same_title(story: Story, c: Candidate, key: str, since: datetime) -> bool:
    """Same outlet, same title key long enough to name one story, and seen within the window."""
    return bool(
        key
        and c.title_key == key
        and c.outlet == story.outlet
        and len(key.split()) >= MIN_TITLE_KEY_TOKENS
        and (_utc(c.first_seen) or since) >= since
    )


def _ranked(found: list[Candidate], bands: list[str], key: str, since: datetime) -> list[Candidate]:
    """Candidates worth comparing in full, most shared bands (highest estimated Jaccard) first."""
    mine_bands = set(bands)
    my_title = {t for t in key.split() if _keep(t)}
    ranked = []
    for c in found:
        if (_utc(c.first_seen) or since) < since:
            continue
        shared = c.shared_bands
        if shared is None:
            shared = len(mine_bands.intersection(c.lsh_bands or ()))
        # One shared band is an estimated Jaccard under 0.1: a copy that weak would also need
        # its headline to share words to reach MERGE_SCORE, so skip the full comparison when
        # the headlines share none (this keeps cost flat as same-topic stories pile up).
        if shared < 2 and not my_title.intersection((c.title_key or "").split()):
            continue
        ranked.append((-shared, _seen_key(c), c))
    # Most shared bands first, whatever order the lookup used.
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [c for _shared, _key, c in ranked]


def _near_copy(story: Story, ranked: list[Candidate], mine: Callable[[], _Text]) -> Decision:
    """The best-scoring verified near-duplicate among the top candidates, else a new cluster."""
    best: tuple[float, Candidate] | None = None
    refused: list[str] = []
    for c in ranked[:MAX_VERIFY]:
        other = _candidate_features(c)
        score = similarity(mine(), other)
        if score < MERGE_SCORE:
            continue
        why = _conflict(mine(), other)
        if why:
            refused.append(f"{c.id}: {why}")
            continue
        if best is None or (score, _neg(c)) > (best[0], _neg(best[1])):
            best = (score, c)
    if best is not None:
        score, c = best
        return Decision(_cluster_of(c), False, c.id, "near", round(score, 4), note=f"near {c.id}")
    return Decision(story.id, True, None, "new", 0.0, note="; ".join(refused))


def _neg(c: Candidate) -> tuple[float, str]:
    # Prefer the earliest-seen candidate among equal scores; ids break the remaining ties.
    first = _utc(c.first_seen)
    return (-(first.timestamp() if first else float("inf")), c.id)


def _seen(story: Story, c: Candidate) -> Decision:
    cluster = _cluster_of(c)
    return Decision(cluster, cluster == story.id, None, "seen", 1.0, note="already stored")


def annotate(story: Story) -> Story:
    """Fill the dedupe fields that depend on the story alone: title_key, lsh_bands, wire."""
    story.title_key = title_key(story.title)
    story.lsh_bands = signature(story.title, story.summary, story.content).bands
    story.wire = detect_wire(_join(story.summary, story.content))
    return story


def apply_decision(story: Story, decision: Decision) -> Story:
    """Copy a decision onto the story (cluster_id, is_primary)."""
    story.cluster_id = decision.cluster_id
    story.is_primary = decision.is_primary
    return story
