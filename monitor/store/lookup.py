"""Dedupe candidates from Elasticsearch for a whole batch at once: the `CandidateLookup` the
grouping step decides on.

`prefetch` sends every story's exact-key and LSH-band queries in a few `_msearch` requests,
so nothing per story waits on a round trip; the decision then runs in memory in arrival
order, with the batch's own stories (not searchable as grouped yet) in `memory`. Only stories
whose group is decided are candidates: a pending story of another batch is grouped in its own
pass, after this one (the grouping lease orders the passes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from monitor.dedupe import Candidate, MemoryLookup
from monitor.models import Story
from monitor.store.documents import CANDIDATE_FIELDS, GROUPED, candidate_from_doc, iso
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames

__all__ = ["BatchLookup"]

ExactKey = tuple[str, str | None, str, str]

# Sub-searches per `_msearch` request: large enough to amortise the round trip, small enough
# that one request stays well under the server's default limits.
_CHUNK = 200


def _merged(*lists: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for lst in lists:
        for c in lst:
            seen.setdefault(c.id, c)
    return list(seen.values())


def exact_key(s: Story) -> ExactKey:
    return (s.canonical_url, s.guid, s.title_key, s.outlet)


class BatchLookup:
    """Candidates prefetched from the stories index, merged with the batch's own (`memory`)."""

    # assign_cluster looks at no more than this many band candidates anyway.
    BAND_CANDIDATES = 20
    EXACT_CANDIDATES = 20

    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url
        self.memory = MemoryLookup()
        self._exact: dict[ExactKey, list[Candidate]] = {}
        self._bands: dict[tuple[str, ...], list[Candidate]] = {}
        self.searches = 0  # sub-searches sent, for reports and benchmarks
        self.requests = 0

    @translated
    def prefetch(self, stories: Sequence[Story], since: dict[str, datetime]) -> None:
        """Fetch the stored candidates of every story (`since`: its band window start)."""
        body: list[dict[str, Any]] = []
        keys: list[tuple[str, Any]] = []
        head = {"index": self.names.stories, "ignore_unavailable": True, "allow_no_indices": True}
        for s in stories:
            ek = exact_key(s)
            if ek not in self._exact and ek not in {k for kind, k in keys if kind == "x"}:
                body += [head, self._exact_search(s)]
                keys.append(("x", ek))
            bk = tuple(s.lsh_bands)
            if bk and bk not in self._bands:
                body += [head, self._band_search(s.lsh_bands, since[s.id])]
                keys.append(("b", bk))
        for i in range(0, len(keys), _CHUNK):
            res = self.es.msearch(searches=body[2 * i : 2 * (i + _CHUNK)])
            self.requests += 1
            for (kind, key), r in zip(keys[i : i + _CHUNK], res["responses"], strict=True):
                if "error" in r:
                    raise StoreError(
                        f"Elasticsearch at {self.url}: candidate search failed: "
                        f"{r['error'].get('reason', r['error'])}"
                    )
                found = [candidate_from_doc(h["_source"]) for h in r["hits"]["hits"]]
                (self._exact if kind == "x" else self._bands)[key] = found
        self.searches += len(keys)

    def _exact_search(self, s: Story) -> dict[str, Any]:
        should: list[dict[str, Any]] = [{"term": {"canonical_url": s.canonical_url}}]
        if s.guid:
            should.append({"term": {"guid": s.guid}})
        if s.title_key:
            same_outlet = [{"term": {"title_key": s.title_key}}, {"term": {"outlet": s.outlet}}]
            should.append({"bool": {"filter": same_outlet}})
        query = {"bool": {"should": should, "minimum_should_match": 1, "filter": [GROUPED]}}
        return {
            "size": self.EXACT_CANDIDATES,
            "query": query,
            "_source": list(CANDIDATE_FIELDS),
        }

    def _band_search(self, bands: list[str], since: datetime) -> dict[str, Any]:
        # Stories sharing the most bands score highest (constant score per shared band).
        # track_total_hits off lets Lucene skip documents that cannot reach the top, which
        # keeps the look-up flat as the index grows.
        query = {
            "bool": {
                "should": [
                    {"constant_score": {"filter": {"term": {"lsh_bands": b}}}} for b in bands
                ],
                "minimum_should_match": 1,
                "filter": [GROUPED, {"range": {"fetched_at": {"gte": iso(since)}}}],
            }
        }
        return {
            "size": self.BAND_CANDIDATES,
            "query": query,
            "track_total_hits": False,
            "_source": list(CANDIDATE_FIELDS),
        }

    # ---- CandidateLookup ------------------------------------------------------------------

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        stored = self._exact.get((canonical_url, guid, title_key, outlet), [])
        return _merged(stored, self.memory.exact(canonical_url, guid, title_key, outlet))

    def get(self, story_id: str) -> Candidate | None:
        """A candidate fetched for this pass (stored or in the pass) by id, or None."""
        found = self.memory.get(story_id)
        if found is not None:
            return found
        for cands in (*self._exact.values(), *self._bands.values()):
            for c in cands:
                if c.id == story_id:
                    return c
        return None

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories sharing the most LSH bands first (score = number of shared bands)."""
        if not bands:
            return []
        stored = [c for c in self._bands.get(tuple(bands), []) if _seen_since(c, since)]
        return _merged(stored, self.memory.by_bands(bands, since))


def _seen_since(c: Candidate, since: datetime) -> bool:
    return c.first_seen is None or c.first_seen >= since
