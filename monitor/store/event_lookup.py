"""Event candidates from Elasticsearch for a whole grouping pass at once: the `EventIndex` the
grouping step places stories with (`monitor.dedupe.placing.place_event`).

`prefetch` asks, in three `_msearch` requests whatever the pass's size:

1. how many grouped stories there are, and how many hold each event term of the pass's
   stories (the weights of evidence; a `terms` aggregation restricted to those terms);
2. per story, the grouped stories inside the event span sharing its rarest terms, ranked by
   the summed weight of the shared terms (as `MemoryEventLookup` ranks its postings), and the
   events of the stored cluster primaries the pass's copies belong to;
3. the first and latest report of every event those candidates belong to, and the weights
   of the candidates' own terms (the score compares both sides).

A grouping run (`Store.event_lookup(run)`, then `next_pass` for each later pass of the same
`group_pending` call) keeps the stories it decided in `memory` and asks Elasticsearch only about
stories grouped before it (`grouped_before`); candidates' fields are fetched, and terms counted,
once per run (the grouping lease keeps every other grouper out meanwhile).

The decision then runs in memory in arrival order, with the run's own stories in `memory`,
exactly as `newsmon dedupe` runs it. Merges made by
a bridging story are kept in `memory`'s union-find; `relabels` lists the stored events that
must take a new id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from monitor.dedupe import EVENT_SPAN, EventCandidate, MemoryEventLookup, TermStats, event_terms
from monitor.dedupe.event_features import event_text, name_words
from monitor.dedupe.event_memory import QUERY_TERMS
from monitor.dedupe.events import MAX_EVENT_CANDIDATES, Weights
from monitor.models import Story
from monitor.store.documents import (
    GROUPED,
    event_candidate_from_doc,
    grouped_before,
    iso,
    parse_dt,
)
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames

__all__ = ["EVENT_CANDIDATE_FIELDS", "StoreEventLookup"]

EVENT_CANDIDATE_FIELDS = (
    "id",
    "event_id",
    "outlet",
    "lang",
    "title",
    "summary",
    "title_key",
    "people",
    "orgs",
    "places",
    "published",
    "fetched_at",
    "event_terms",
)
# Sub-searches per `_msearch` request, and terms per aggregation: well under the server's
# default limits (max_terms_count 65,536; a request's size).
_CHUNK = 200
_TERMS_PER_AGG = 1000
# Terms per document-frequency aggregation: it visits every grouped story holding any of its
# terms, and most hold one of the common ones, so each extra search visits most of the index
# again; one search for a whole pass's terms (a few thousand) is cheapest. Under the server's
# max_terms_count and search.max_buckets (both 65,536).
_TERMS_PER_STATS = 16_384
# What `_msearch` keeps of each answer when only its hits are read.
_HIT_FIELDS = [
    "responses.status",
    "responses.error",
    "responses.hits.hits._id",
    "responses.hits.hits._source",
]
# Ids per fetch of candidate fields (the server's max_result_window is 10,000).
_PAGE = 5000


class _Known:
    """What a grouping run keeps from pass to pass: the run's own stories (`memory`, with the
    merges it made), the stored candidates read so far by story id, and how many stories
    grouped before the run there are and hold each term.

    Elasticsearch is asked only about stories grouped before the run (`grouped_before`), and
    the grouping lease keeps every other grouper out meanwhile, so none of that changes under
    the run: a stored candidate read once stays right if its event id follows the run's
    merges (`after_pass`), and the counts stay right (the run's stories are counted in
    `memory`). Counting once per run matters: the count visits every grouped story holding a
    pass's terms, so it grew with the index.
    """

    def __init__(self) -> None:
        self.by_id: dict[str, EventCandidate] = {}
        self.stories: int | None = None  # grouped before the run, once counted
        self.df: dict[str, int] = {}  # term -> stories grouped before the run holding it
        self.memory = MemoryEventLookup()
        self.written: set[str] = set()  # the event ids the run's stories are stored under
        # Stored events an earlier pass of the run merged away: their members were all moved
        # then, and no story is stored under them again. A later pass may still read one of
        # their members as it was before the move (the move was being written meanwhile).
        self.moved: set[str] = set()

    def __len__(self) -> int:
        return len(self.by_id)

    def after_pass(self, relabels: dict[str, str], written: dict[str, str]) -> None:
        """Follow the pass's merges (old event id -> final id) and note the event ids the
        pass stored its stories under (`written`: story id -> event id)."""
        for sid in written:
            self.by_id.pop(sid, None)
        self.written = {relabels.get(e, e) for e in self.written} | set(written.values())
        self.moved |= relabels.keys()
        if not relabels:
            return
        for sid, c in self.by_id.items():
            new = relabels.get(c.event_id)
            if new is not None:
                self.by_id[sid] = replace(c, event_id=new)


class StoreEventLookup:
    """Event candidates prefetched from the stories index, merged with the pass's own."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        url: str,
        known: _Known | None = None,
        *,
        run: str | None = None,
    ) -> None:
        self.es, self.names, self.url = client, names, url
        # With a grouping run, what the run decided stays in `memory` for its later passes
        # and Elasticsearch answers only for stories grouped before it (see `_Known`).
        self.run = run
        self._grouped = grouped_before(run)
        self._known = known if known is not None else _Known()
        self._pass: list[str] = []  # the ids of the pass's stories
        self.memory = self._known.memory
        # Stored candidate id -> the candidate as last handed out with its event's current id
        # and bounds: stories share most of their candidates, and the event of most of them
        # does not change between two decisions.
        self._made: dict[str, EventCandidate] = {}
        self._df = self._known.df  # grouped stories stored holding a term
        self._candidates: dict[str, list[EventCandidate]] = {}  # per pass story id
        self._stored_event: dict[str, str] = {}  # stored story id -> its stored event id
        self._stored_events: set[str] = set()  # stored event ids this pass has seen
        self.searches = 0
        self.requests = 0

    # ---- prefetch ----------------------------------------------------------------------------

    @translated
    def prefetch(self, stories: Sequence[Story], span: timedelta = EVENT_SPAN) -> None:
        """Fetch what every story of the pass needs to be placed in its event."""
        self._pass = [s.id for s in stories]
        terms = {s.id: event_terms(s) for s in stories}
        mine = {t for ts in terms.values() for t in ts}
        self._fetch_stats(mine)
        weights = Weights(TermStats(self._stories, self._df))
        # One clause object per term for the whole pass: the pass's stories share most of
        # their terms, and serialising a shared dict costs what a fresh one does without the
        # allocations (which were most of the cost of building the searches).
        clauses: dict[str, dict[str, Any]] = {}
        rank: dict[str, tuple[float, str]] = {}
        for t in mine:
            if self._df[t] > 0:
                w = weights(t)
                rank[t] = (-w, t)
                clauses[t] = {
                    "constant_score": {"filter": {"term": {"event_terms": t}}, "boost": w}
                }
        searches: list[dict[str, Any]] = []
        owners: list[str] = []
        for s in stories:
            held = [t for t in terms[s.id] if t in rank]
            query = sorted(held, key=rank.__getitem__)[:QUERY_TERMS]
            if query:
                searches.append(self._candidate_search(query, clauses, s.fetched_at - span))
                owners.append(s.id)
        in_pass = {s.id for s in stories}
        # Primaries of the pass or held in the run's memory are known without a search.
        primaries = sorted(
            {
                s.cluster_id
                for s in stories
                if s.cluster_id and s.cluster_id not in in_pass and s.cluster_id not in self.memory
            }
        )
        if primaries:
            searches.append(
                {
                    "size": len(primaries),
                    "query": {"bool": {"filter": [GROUPED, {"ids": {"values": primaries}}]}},
                    "_source": ["id", "event_id", "cluster_id"],
                }
            )
        results = self._msearch(searches)
        # The ranked searches return ids only: the pass's stories share most of their
        # candidates, so each candidate's fields are fetched and parsed once, not per story.
        known = self._known.by_id
        wanted = sorted({h["_id"] for r in results[: len(owners)] for h in r} - known.keys())
        known.update(self._fetch_docs(wanted))
        docs = known
        for sid, r in zip(owners, results, strict=False):
            self._candidates[sid] = [docs[h["_id"]] for h in r if h["_id"] in docs]
        if primaries:
            for h in results[-1]:
                src = h["_source"]
                self._stored_event[src["id"]] = src.get("event_id") or src["id"]
        # Each candidate once: a pass's stories share most of theirs.
        found = list({c.id: c for cs in self._candidates.values() for c in cs}.values())
        for c in found:
            self._stored_event[c.id] = c.event_id
        self._stored_events |= set(self._stored_event.values())
        # The weights the decision reads: the candidates' terms and the words of their names
        # (what their `covers` hold beyond their terms).
        extra: set[str] = set()
        for c in found:
            if c.terms is None:
                extra |= event_text(c.title, c.summary, c.people, c.orgs, c.places).covers
            else:
                extra |= c.terms | name_words(c.people, c.orgs, c.places)
        self._fetch_stats(extra)
        self._fetch_bounds(sorted(self._stored_events))

    def _candidate_search(
        self, query: list[str], clauses: dict[str, dict[str, Any]], since: datetime
    ) -> dict[str, Any]:
        # Each shared term scores its weight, so the stories sharing the rarest evidence rank
        # first, as in `MemoryEventLookup`. track_total_hits off lets Lucene skip documents
        # that cannot reach the top.
        return {
            "size": MAX_EVENT_CANDIDATES,
            "query": {
                "bool": {
                    "should": [clauses[t] for t in query],
                    "minimum_should_match": 1,
                    "filter": [self._grouped, {"range": {"fetched_at": {"gte": iso(since)}}}],
                }
            },
            "sort": ["_score", {"fetched_at": "desc"}, {"id": "asc"}],
            "track_total_hits": False,
            "_source": False,
        }

    def _fetch_docs(self, ids: list[str]) -> dict[str, EventCandidate]:
        """The candidate fields of these stories, by id (one search per `_PAGE` ids)."""
        searches = [
            {
                "size": len(chunk),
                "query": {"ids": {"values": chunk}},
                "track_total_hits": False,
                "_source": list(EVENT_CANDIDATE_FIELDS),
            }
            for chunk in (ids[i : i + _PAGE] for i in range(0, len(ids), _PAGE))
        ]
        return {
            h["_id"]: event_candidate_from_doc(h["_source"])
            for hits in self._msearch(searches)
            for h in hits
        }

    @property
    def grouped_before(self) -> int | None:
        """How many stories were grouped before the run (None until a prefetch counted)."""
        return self._known.stories

    @property
    def _stories(self) -> int:
        """Stories grouped before the run."""
        return self._known.stories or 0

    def _fetch_stats(self, wanted: Iterable[str]) -> None:
        """Count the grouped stories and those holding each term, for what is not counted."""
        terms = sorted(set(wanted) - self._df.keys())
        total = self._known.stories is None
        if self._known.stories == 0:
            # Nothing was grouped before the run (a first poll): no stored story holds a term.
            self._df.update(dict.fromkeys(terms, 0))
            return
        searches: list[dict[str, Any]] = []
        if total:
            searches.append({"size": 0, "track_total_hits": True, "query": self._grouped})
        for i in range(0, len(terms), _TERMS_PER_STATS):
            chunk = terms[i : i + _TERMS_PER_STATS]
            n = len(chunk)
            searches.append(
                {
                    "size": 0,
                    "track_total_hits": False,
                    "query": {
                        "bool": {"filter": [self._grouped, {"terms": {"event_terms": chunk}}]}
                    },
                    "aggs": {"t": {"terms": {"field": "event_terms", "include": chunk, "size": n}}},
                }
            )
        if not searches:
            return
        responses = self._msearch(searches, raw=True)
        if total:
            self._known.stories = int(responses[0]["hits"]["total"]["value"])
            responses = responses[1:]
        for t in terms:
            self._df.setdefault(t, 0)
        for r in responses:
            for b in r.get("aggregations", {}).get("t", {}).get("buckets", []):
                self._df[b["key"]] = int(b["doc_count"])

    def _fetch_bounds(self, event_ids: list[str]) -> None:
        searches = [
            {
                "size": 0,
                "track_total_hits": False,
                "query": {"bool": {"filter": [GROUPED, {"terms": {"event_id": chunk}}]}},
                "aggs": {
                    "e": {
                        "terms": {"field": "event_id", "size": len(chunk)},
                        "aggs": {
                            "lo": {"min": {"field": "fetched_at"}},
                            "hi": {"max": {"field": "fetched_at"}},
                        },
                    }
                },
            }
            for chunk in (
                event_ids[i : i + _TERMS_PER_AGG] for i in range(0, len(event_ids), _TERMS_PER_AGG)
            )
        ]
        if not searches:
            return
        for r in self._msearch(searches, raw=True):
            for b in r.get("aggregations", {}).get("e", {}).get("buckets", []):
                lo = parse_dt(b["lo"].get("value_as_string"))
                hi = parse_dt(b["hi"].get("value_as_string"))
                if lo and hi:
                    self.memory.know_event(b["key"], lo, hi)

    def _msearch(self, searches: list[dict[str, Any]], *, raw: bool = False) -> list[Any]:
        head = {"index": self.names.stories, "ignore_unavailable": True, "allow_no_indices": True}
        # Hits are read for their id and source only: the server leaves out the rest (index
        # name, score, sort values), a third of what the client parsed. `status` is in every
        # answer, so no answer is dropped as empty and the answers stay in order.
        keep = None if raw else _HIT_FIELDS
        out: list[Any] = []
        for i in range(0, len(searches), _CHUNK):
            chunk = searches[i : i + _CHUNK]
            body: list[dict[str, Any]] = []
            for s in chunk:
                body += [head, s]
            res = self.es.msearch(searches=body, filter_path=keep)
            self.requests += 1
            self.searches += len(chunk)
            responses = res["responses"]
            if len(responses) != len(chunk):
                raise StoreError(
                    f"Elasticsearch at {self.url}: {len(responses)} answers to {len(chunk)} "
                    "event candidate searches; check the server's version against newsmon's"
                )
            for r in responses:
                if "error" in r:
                    raise StoreError(
                        f"Elasticsearch at {self.url}: event candidate search failed: "
                        f"{r['error'].get('reason', r['error'])}; run `newsmon init` to "
                        "upgrade the index mappings"
                    )
                out.append(r if raw else r.get("hits", {}).get("hits", []))
        return out

    # ---- EventIndex --------------------------------------------------------------------------

    def term_stats(self, terms: list[str]) -> TermStats:
        """Grouped stories stored plus the pass's, and per term how many hold it."""
        mine = self.memory.term_stats(terms)
        df = {t: self._df.get(t, 0) + mine.doc_freq.get(t, 0) for t in terms}
        return TermStats(self._stories + mine.stories, {t: n for t, n in df.items() if n > 0})

    def event_candidates(self, story: Story, since: datetime) -> list[EventCandidate]:
        """The stored candidates of `story` (events as merged so far) and the pass's own."""
        out: dict[str, EventCandidate] = {}
        for c in self.memory.event_candidates(story, since):
            out[c.id] = c
        for c in self._candidates.get(story.id, []):
            if c.id in out or c.id in self.memory or c.first_seen < since:
                continue
            root = self.memory.event_root(c.event_id)
            bounds = self.memory.event_bounds(root)
            start, end = bounds if bounds else (c.first_seen, c.first_seen)
            made = self._made.get(c.id)
            if (
                made is None
                or made.event_id != root
                or made.event_start != start
                or made.event_end != end
            ):
                made = self._made[c.id] = _with_event(c, root, start, end)
            out[c.id] = made
        return list(out.values())

    def event_of(self, story_id: str) -> str | None:
        """The current event of a story of this pass or a stored one it has seen."""
        if story_id in self.memory:
            return self.memory.event_of(story_id)
        stored = self._stored_event.get(story_id)
        return None if stored is None else self.memory.event_root(stored)

    def event_bounds(self, event_id: str) -> tuple[datetime, datetime] | None:
        return self.memory.event_bounds(event_id)

    def merge_events(self, target: str, others: list[str]) -> None:
        self.memory.merge_events(target, others)

    def add(self, story: Story, event_start: datetime | None = None) -> None:
        self.memory.add(story, event_start)

    # ---- results -----------------------------------------------------------------------------

    def next_pass(self) -> StoreEventLookup:
        """The look-up for the next pass of the same grouping run, once this pass's groups
        are written: it keeps the run's stories in memory and the stored candidates read so
        far (their events as merged now). Only while the grouping lease is held."""
        if self.run is None:
            raise ValueError("next_pass needs a grouping run: Store.event_lookup(run)")
        written = {sid: self.memory.event_of(sid) or sid for sid in self._pass}
        self._known.after_pass(self.relabels(), written)
        return StoreEventLookup(self.es, self.names, self.url, self._known, run=self.run)

    def final_event(self, event_id: str) -> str:
        """An event id as it stands after every merge of the pass."""
        return self.memory.event_root(event_id)

    def relabels(self) -> dict[str, str]:
        """Stored events merged into another by this pass: old id -> new id (events stored
        before the run, and those the run's earlier passes stored)."""
        out = {}
        for eid in (self._stored_events | self._known.written) - self._known.moved:
            root = self.memory.event_root(eid)
            if root != eid:
                out[eid] = root
        return out


def _with_event(c: EventCandidate, event_id: str, start: datetime, end: datetime) -> EventCandidate:
    # A plain copy of the instance dict: `dataclasses.replace` re-runs `__init__` field by
    # field, several times the cost, and candidates are re-labelled by the hundred thousand.
    made = object.__new__(EventCandidate)
    made.__dict__.update(vars(c))
    made.event_id, made.event_start, made.event_end = event_id, start, end
    return made
