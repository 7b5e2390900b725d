"""Dedupe candidates from Elasticsearch for a whole batch at once: the `CandidateLookup` the
grouping step decides on.

`prefetch` asks a few searches per pass, whatever the pass's size: one `terms` query per key
field (canonical URL, GUID, title key) over the pass's keys, one `terms` query over the union
of the pass's LSH bands returning only each match's id, bands and first-seen time, then the
full candidate fields of the band matches it keeps. Which band matches a story keeps is
decided in memory: the ones sharing the most bands with it, the earliest seen first (the order
the decision ranks them in), at most `BAND_CANDIDATES`. A per-story query of one clause per
band cost more to build and to run than the whole pass's union (issue #14's profile).

The decision then runs in memory in arrival order, with the grouping run's own stories (its
earlier passes' and this pass's) in `memory`; Elasticsearch is asked only about stories grouped
before the run. Only stories whose group is decided are candidates: a pending story of another
batch is grouped in its own pass, after this one (the grouping lease orders the runs, and every
pass refreshes before it reads, so it sees all runs before it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch

from monitor.dedupe import Candidate, MemoryLookup
from monitor.dedupe.decision import MIN_TITLE_KEY_TOKENS
from monitor.models import Story
from monitor.store.documents import (
    CANDIDATE_FIELDS,
    candidate_from_doc,
    grouped_before,
    iso,
    parse_dt,
)
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames

__all__ = ["BatchLookup"]

# Terms per `terms` query: well under the server's index.max_terms_count (65,536); a pass of
# 1,000 stories (grouping.PASS_SIZE) carries up to 128,000 bands.
_TERMS = 16_384
# Hits per page of a key or band search (the server's max_result_window is 10,000).
_PAGE = 5_000
# Band matches per page: each match carries all 128 of its bands, so a page is reduced to the
# pass's bands before the next is read. 5,000-hit pages of every band chunk at once were the
# peak of a first poll's memory (a pass's union matches thousands of stored stories).
_BAND_PAGE = 1_000
_BAND_FIELDS = ["id", "lsh_bands", "fetched_at"]
_EPOCH = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _merged(*lists: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for lst in lists:
        for c in lst:
            seen.setdefault(c.id, c)
    return list(seen.values())


def _chunks(values: Sequence[str], n: int = _TERMS) -> Iterator[list[str]]:
    for i in range(0, len(values), n):
        yield list(values[i : i + n])


class BatchLookup:
    """Candidates prefetched from the stories index, merged with the batch's own (`memory`)."""

    # assign_cluster compares no more than this many band candidates anyway.
    BAND_CANDIDATES = 20

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        url: str,
        run: str | None = None,
        memory: MemoryLookup | None = None,
        *,
        stored: int | None = None,
    ) -> None:
        self.es, self.names, self.url = client, names, url
        # A grouping run's stories stay in `memory` from pass to pass and Elasticsearch is
        # asked only for those grouped before the run (`grouped_before`): a backlog's later
        # passes find the earlier ones without a round trip, and a first poll's look-ups,
        # against an index holding nothing grouped before it, come back empty.
        self.run = run
        self._grouped = grouped_before(run)
        self.memory = memory if memory is not None else MemoryLookup()
        # Stories grouped before the run, counted once per run (the lease keeps every other
        # grouper out meanwhile, so the count holds for the run): none, and there is nothing
        # to look up, as in a first poll, whose key and band searches each visited the
        # terms of a thousand stories to find nothing.
        self._stored = stored
        self._by_url: dict[str, list[Candidate]] = {}
        self._by_guid: dict[str, list[Candidate]] = {}
        self._by_title: dict[tuple[str, str], list[Candidate]] = {}
        self._bands: dict[tuple[str, ...], list[Candidate]] = {}
        self._known: dict[str, Candidate] = {}  # every stored candidate fetched, by id
        self.searches = 0  # searches sent, for reports and benchmarks
        self.requests = 0
        self.band_matches = 0  # stored stories sharing a band with the pass

    @translated
    def prefetch(self, stories: Sequence[Story], since: dict[str, datetime]) -> None:
        """Fetch the stored candidates of every story (`since`: its band window start)."""
        if not stories or not self._count_stored():
            return
        urls = sorted({s.canonical_url for s in stories if s.canonical_url})
        guids = sorted({s.guid for s in stories if s.guid})
        # A title key shorter than this never makes a title match (decision._same_title).
        titles = sorted(
            {
                s.title_key
                for s in stories
                if s.title_key and len(s.title_key.split()) >= MIN_TITLE_KEY_TOKENS
            }
        )
        bands = sorted({b for s in stories for b in s.lsh_bands})
        start = min(since.values(), default=_EPOCH)
        searches: list[tuple[str, dict[str, Any]]] = []
        for field, values in (("canonical_url", urls), ("guid", guids), ("title_key", titles)):
            for chunk in _chunks(values):
                query = {"bool": {"filter": [self._grouped, {"terms": {field: chunk}}]}}
                searches.append(("x", {"query": query, "_source": list(CANDIDATE_FIELDS)}))
        window = {"range": {"fetched_at": {"gte": iso(start)}}}
        for chunk in _chunks(bands):
            bands_held = {"terms": {"lsh_bands": chunk}}
            query = {"bool": {"filter": [self._grouped, window, bands_held]}}
            searches.append(("b", {"query": query, "_source": _BAND_FIELDS, "size": _BAND_PAGE}))
        exact: dict[str, dict[str, Any]] = {}
        # Per band match: when it was first seen, and which of the pass's bands it holds (its
        # other bands are most of its postings and are dropped page by page).
        wanted = set(bands)
        matches: dict[str, tuple[datetime, list[str]]] = {}
        for kind, hits in self._search_all(searches):
            for h in hits:
                if kind == "x":
                    exact[h["_id"]] = h["_source"]
                elif h["_id"] not in matches:
                    src = h["_source"]
                    seen = parse_dt(src.get("fetched_at")) or _LATEST
                    held = wanted.intersection(src.get("lsh_bands") or ())
                    matches[h["_id"]] = (seen, list(held))
        for src in exact.values():
            self._keep(candidate_from_doc(src))
        self.band_matches += len(matches)
        chosen = self._choose(stories, since, matches)
        missing = sorted({i for ids in chosen.values() for i in ids} - self._known.keys())
        fetch = [
            ("x", {"query": {"ids": {"values": chunk}}, "_source": list(CANDIDATE_FIELDS)})
            for chunk in _chunks(missing, _PAGE)
        ]
        for _kind, hits in self._search_all(fetch):
            for h in hits:
                self._known[h["_id"]] = candidate_from_doc(h["_source"])
        for key, ids in chosen.items():
            self._bands[key] = [self._known[i] for i in ids if i in self._known]

    def next_pass(self) -> BatchLookup:
        """The look-up for the next pass of the same grouping run, once this pass's groups
        are written: the run's stories so far stay in its memory."""
        if self.run is None:
            raise ValueError("next_pass needs a grouping run: Store.lookup(run)")
        return BatchLookup(
            self.es, self.names, self.url, self.run, self.memory, stored=self._stored
        )

    def _count_stored(self) -> int:
        if self._stored is None:
            res = self.es.count(
                index=self.names.stories,
                query=self._grouped,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            self.requests += 1
            self.searches += 1
            self._stored = int(res["count"])
        return self._stored

    def _keep(self, c: Candidate) -> None:
        """File a stored candidate under each exact key it has."""
        if c.id in self._known:
            return
        self._known[c.id] = c
        if c.canonical_url:
            self._by_url.setdefault(c.canonical_url, []).append(c)
        if c.guid:
            self._by_guid.setdefault(c.guid, []).append(c)
        if c.title_key:
            self._by_title.setdefault((c.title_key, c.outlet), []).append(c)

    def _choose(
        self,
        stories: Sequence[Story],
        since: dict[str, datetime],
        matches: dict[str, tuple[datetime, list[str]]],
    ) -> dict[tuple[str, ...], list[str]]:
        """Per distinct band set, the ids of the stored stories it keeps as band candidates."""
        # Number the matches earliest seen first (ids break ties), the order the decision ranks
        # equal band counts in (`decision._ranked`): a stable sort by count then keeps it.
        rows = sorted((first, sid) for sid, (first, _held) in matches.items())
        ids = [sid for _t, sid in rows]
        seen = np.array([t.timestamp() for t, _sid in rows], dtype=np.float64)
        slot = {sid: i for i, sid in enumerate(ids)}
        lists: dict[str, list[int]] = {}
        for sid, (_first, held) in matches.items():
            for b in held:
                lists.setdefault(b, []).append(slot[sid])
        postings = {b: np.array(v, dtype=np.int32) for b, v in lists.items()}
        chosen: dict[tuple[str, ...], list[str]] = {}
        for s in stories:
            key = tuple(s.lsh_bands)
            if not key or key in chosen:
                continue
            hit = [postings[b] for b in set(key) if b in postings]
            if not hit:
                chosen[key] = []
                continue
            counts = np.bincount(np.concatenate(hit), minlength=len(ids))
            live = np.flatnonzero(counts)
            live = live[seen[live] >= since[s.id].timestamp()]
            top = live[np.argsort(-counts[live], kind="stable")[: self.BAND_CANDIDATES]]
            chosen[key] = [ids[i] for i in top.tolist()]
        return chosen

    def _search_all(
        self, searches: list[tuple[str, dict[str, Any]]]
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every hit of each search: first pages in one `_msearch`, then `search_after`."""
        if not searches:
            return
        head = {"index": self.names.stories, "ignore_unavailable": True, "allow_no_indices": True}
        page: dict[str, Any] = {"size": _PAGE, "sort": [{"id": "asc"}], "track_total_hits": False}
        body: list[dict[str, Any]] = []
        for _kind, s in searches:
            body += [head, page | s]
        res = self.es.msearch(searches=body)
        self.requests += 1
        self.searches += len(searches)
        responses = res["responses"]
        del res  # each first page is dropped once read, not kept until the last one is
        for i, (kind, s) in enumerate(searches):
            hits = self._hits(responses[i])
            responses[i] = None
            size = int(s.get("size", _PAGE))
            yield kind, hits
            while len(hits) == size:
                more = self.es.search(
                    index=self.names.stories,
                    search_after=hits[-1]["sort"],
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **(page | s),
                )
                self.requests += 1
                self.searches += 1
                hits = self._hits(more)
                yield kind, hits

    def _hits(self, r: Any) -> list[dict[str, Any]]:
        if "error" in r:
            raise StoreError(
                f"Elasticsearch at {self.url}: candidate search failed: "
                f"{r['error'].get('reason', r['error'])}; run `newsmon init` to upgrade the "
                "index mappings"
            )
        hits: list[dict[str, Any]] = r["hits"]["hits"]
        return hits

    # ---- CandidateLookup ------------------------------------------------------------------

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        stored = [
            *(self._by_url.get(canonical_url, []) if canonical_url else []),
            *(self._by_guid.get(guid, []) if guid else []),
            *(self._by_title.get((title_key, outlet), []) if title_key else []),
        ]
        return _merged(stored, self.memory.exact(canonical_url, guid, title_key, outlet))

    def get(self, story_id: str) -> Candidate | None:
        """A candidate fetched for this pass (stored or in the pass) by id, or None."""
        found = self.memory.get(story_id)
        return found if found is not None else self._known.get(story_id)

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories sharing the most LSH bands first (score = number of shared bands)."""
        if not bands:
            return []
        stored = [c for c in self._bands.get(tuple(bands), []) if _seen_since(c, since)]
        return _merged(stored, self.memory.by_bands(bands, since))


def _seen_since(c: Candidate, since: datetime) -> bool:
    return c.first_seen is None or c.first_seen >= since
