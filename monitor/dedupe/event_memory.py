"""The in-memory `EventLookup` (`newsmon dedupe`, tests, benchmarks): a term index and events.

Stories are indexed under their event terms (`event_terms`): entities, numbers, dates and
stemmed content words. A look-up walks the postings of the story's rarest terms, newest first
and at most `per_term` deep, so its cost does not grow with the number of stories stored: a
term held by thousands of stories ("l:israel") is read only as deep as its latest postings, and
reports of one event arrive close together. Events merged by a bridging story are kept as a
union-find over event ids, so every member answers with the merged id at once.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import datetime
from itertools import chain

import numpy as np

from monitor.dedupe.decision import annotate
from monitor.dedupe.events import (
    MAX_EVENT_CANDIDATES,
    EventCandidate,
    TermStats,
    Weights,
    _utc,
    _when,
    event_term_set,
    event_terms,
)
from monitor.models import Story

QUERY_TERMS = 16  # the story's rarest terms are the ones that find its event
PER_TERM = 120  # postings read per term, newest first
# Below this many stored rows per posting read, a look-up counts over every row (`bincount`)
# rather than sorting its postings (`unique`): a first poll's 20,000 rows against ~1,500
# postings; a 100,000-story index sorts, so a look-up's cost does not grow with the index.
_DENSE_PER_POSTING = 32


class MemoryEventLookup:
    """An in-memory EventLookup with the same semantics as the Elasticsearch one."""

    def __init__(
        self,
        max_candidates: int = MAX_EVENT_CANDIDATES,
        query_terms: int = QUERY_TERMS,
        per_term: int = PER_TERM,
    ) -> None:
        self.max_candidates = max_candidates
        self.query_terms = query_terms
        self.per_term = per_term
        self._rows: list[EventCandidate | None] = []
        self._terms: list[frozenset[str]] = []
        # Per slot, the first-seen time as a UTC timestamp (+inf when unknown, -inf for a
        # removed row) and the story id: ranking reads these for every hit, not the rows.
        self._first = np.empty(1024, dtype=np.float64)
        self._ids: list[str] = []
        self._made: dict[int, EventCandidate] = {}  # slot -> the candidate last made of it
        self._slot: dict[str, int] = {}
        self._postings: dict[str, list[int]] = {}
        self._df: Counter[str] = Counter()
        self._parent: dict[str, str] = {}
        self._bounds: dict[str, tuple[datetime, datetime]] = {}

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._slot

    # ---- events ------------------------------------------------------------------------------

    def _root(self, event_id: str) -> str:
        root = event_id
        while (up := self._parent.get(root, root)) != root:
            root = up
        # Path halving would do; full compression keeps later look-ups one step deep.
        while (up := self._parent.get(event_id, event_id)) != root:
            self._parent[event_id] = root
            event_id = up
        return root

    def event_root(self, event_id: str) -> str:
        """The id an event goes by now: itself, or the event it was merged into."""
        return self._root(event_id)

    def know_event(self, event_id: str, start: datetime, end: datetime) -> None:
        """Record the bounds of an event whose reports are stored elsewhere (Elasticsearch)."""
        root = self._root(event_id)
        lo, hi = self._bounds.get(root, (start, end))
        self._bounds[root] = (min(lo, start), max(hi, end))

    def event_of(self, story_id: str) -> str | None:
        """The current event of a stored story (after any merges), or None."""
        slot = self._slot.get(story_id)
        row = None if slot is None else self._rows[slot]
        return None if row is None else self._root(row.event_id)

    def event_bounds(self, event_id: str) -> tuple[datetime, datetime] | None:
        """First-seen times of the first and the latest report of an event."""
        return self._bounds.get(self._root(event_id))

    def merge_events(self, target: str, others: list[str]) -> None:
        """Merge events into `target` (a bridging story's decision); idempotent."""
        root = self._root(target)
        for other in others:
            r = self._root(other)
            if r == root:
                continue
            self._parent[r] = root
            a, b = self._bounds.get(root), self._bounds.pop(r, None)
            if b is not None:
                self._bounds[root] = b if a is None else (min(a[0], b[0]), max(a[1], b[1]))

    # ---- stories -----------------------------------------------------------------------------

    def add(self, story: Story, event_start: datetime | None = None) -> None:
        """Store a story after its decisions; adding the same id again replaces it."""
        if not story.title_key:
            annotate(story)
        when = _when(story)
        event_id = story.event_id or story.cluster_id or story.id
        root = self._root(event_id)
        start = min(_utc(event_start) or when, when)
        lo, hi = self._bounds.get(root, (start, when))
        self._bounds[root] = (min(lo, start), max(hi, when))
        self._remove(story.id)
        c = EventCandidate.from_story(replace(story, event_id=root), start)
        terms = event_term_set(story)
        slot = len(self._rows)
        self._rows.append(c)
        self._terms.append(terms)
        first = _utc(c.first_seen)
        if slot >= len(self._first):
            self._first = np.concatenate((self._first, np.empty_like(self._first)))
        self._first[slot] = math.inf if first is None else first.timestamp()
        self._ids.append(c.id)
        self._slot[c.id] = slot
        self._df.update(terms)
        for t in terms:
            self._postings.setdefault(t, []).append(slot)

    def _remove(self, story_id: str) -> None:
        old = self._slot.pop(story_id, None)
        if old is None:
            return
        # The old slot stays in the postings as a dead entry, skipped at look-up.
        self._df.subtract(self._terms[old])
        self._rows[old] = None
        self._made.pop(old, None)
        self._terms[old] = frozenset()
        self._first[old] = -math.inf

    def _candidate(self, slot: int) -> EventCandidate | None:
        row = self._rows[slot]
        if row is None:
            return None
        root = self._root(row.event_id)
        start, end = self._bounds.get(root, (row.event_start, row.first_seen))
        # A stored story comes back as a candidate decision after decision, mostly with its
        # event unchanged: the candidate made last time is handed out again (read-only, as
        # every candidate is) until a merge or a later report changes its event or bounds.
        made = self._made.get(slot)
        if made is not None and (made.event_id, made.event_start, made.event_end) == (
            root,
            start,
            end,
        ):
            return made
        fields = vars(row) | {
            "event_id": root,
            "event_start": start,
            "event_end": end,
            "terms": self._terms[slot],
        }
        made = self._made[slot] = EventCandidate(**fields)
        return made

    # ---- EventLookup ---------------------------------------------------------------------------

    def term_stats(self, terms: list[str]) -> TermStats:
        """Stored stories in all, and per term how many hold it."""
        return TermStats(len(self._slot), {t: self._df[t] for t in terms if self._df[t] > 0})

    def event_candidates(self, story: Story, since: datetime) -> list[EventCandidate]:
        """Up to `max_candidates` stories first seen since `since` sharing the rarest terms."""
        since = _utc(since) or since
        stats = self.term_stats(event_terms(story))
        weights = Weights(stats)
        # Rarest first: they name the event; common ones ("l:israel") only add to the score.
        # Terms no stored story holds find nothing, so they do not take a place in the query.
        query = sorted(stats.doc_freq, key=lambda t: (-weights(t), t))[: self.query_terms]
        if self.max_candidates <= 0:
            return []
        chunks: list[list[int]] = []
        ws: list[float] = []
        for t in query:
            postings = self._postings.get(t)
            if postings:
                chunks.append(postings[-self.per_term :])
                ws.append(weights(t))
        if not chunks:
            return []
        # A story's score is the weight of each query term it holds, added in query order:
        # bincount adds the concatenated postings in that same order, so the sums are exactly
        # those of a loop over the terms (about 1,500 postings per decision).
        lens = [len(c) for c in chunks]
        posted = np.fromiter(chain.from_iterable(chunks), dtype=np.int64, count=sum(lens))
        weighted = np.repeat(np.array(ws), lens)
        if len(self._ids) <= _DENSE_PER_POSTING * len(posted):
            # Few stored rows for this many postings: count over every row at once, which
            # skips `unique`'s sort. Each row's weights are added in the same order either way.
            held = np.bincount(posted)
            slots = np.flatnonzero(held)
            sums = np.bincount(posted, weights=weighted)[slots]
        else:
            slots, where = np.unique(posted, return_inverse=True)
            sums = np.bincount(where, weights=weighted)
        # Stories first seen before `since` (and removed rows, at -inf) are out; a story with
        # no first-seen time stays in (+inf). Timestamps order exactly as the UTC datetimes do.
        live = self._first[slots] >= since.timestamp()
        slots, sums = slots[live], sums[live]
        # Only the best `max_candidates` can be returned: every story scoring at least the
        # last one's score is ranked by (score, id), the others are never compared.
        extra = len(sums) - self.max_candidates
        if extra > 0:
            keep = sums >= np.partition(sums, extra)[extra]
            slots, sums = slots[keep], sums[keep]
        ids = self._ids
        order = slots.tolist()
        ranked = sorted(zip((-sums).tolist(), [ids[i] for i in order], order, strict=True))
        out = []
        for _s, _id, slot in ranked[: self.max_candidates]:
            c = self._candidate(slot)
            if c is not None:
                out.append(c)
        return out
