"""Dedupe candidates from Elasticsearch: the `CandidateLookup` the cluster decision runs on.

Exact keys (canonical URL, GUID, title key per outlet) and LSH band terms over stored stories,
plus the stories of the poll in progress, which are not searchable yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from monitor.dedupe import Candidate, MemoryLookup
from monitor.store.documents import CANDIDATE_FIELDS, candidate_from_doc, iso
from monitor.store.errors import translated
from monitor.store.names import IndexNames

__all__ = ["StoreLookup"]


def _merged(*lists: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for lst in lists:
        for c in lst:
            seen.setdefault(c.id, c)
    return list(seen.values())


class StoreLookup:
    """Candidates from the stories index, merged with this batch's own stories (`memory`)."""

    # assign_cluster looks at no more than this many band candidates anyway.
    BAND_CANDIDATES = 20

    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url
        self.memory = MemoryLookup()

    def _search(self, query: dict[str, Any], size: int, *, count_hits: bool) -> list[Candidate]:
        # count_hits=False lets Lucene skip documents that cannot reach the top `size` (it
        # need not count every match), which keeps scored lookups flat as the index grows.
        res = self.es.search(
            index=self.names.stories,
            query=query,
            size=size,
            track_total_hits=count_hits,
            source_includes=list(CANDIDATE_FIELDS),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return [candidate_from_doc(h["_source"]) for h in res["hits"]["hits"]]

    @translated
    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        should: list[dict[str, Any]] = [{"term": {"canonical_url": canonical_url}}]
        if guid:
            should.append({"term": {"guid": guid}})
        if title_key:
            same_outlet = [{"term": {"title_key": title_key}}, {"term": {"outlet": outlet}}]
            should.append({"bool": {"filter": same_outlet}})
        found = self._search({"bool": {"should": should}}, 20, count_hits=True)
        return _merged(found, self.memory.exact(canonical_url, guid, title_key, outlet))

    @translated
    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories sharing the most LSH bands first (score = number of shared bands)."""
        if not bands:
            return []
        query = {
            "bool": {
                "should": [
                    {"constant_score": {"filter": {"term": {"lsh_bands": b}}}} for b in bands
                ],
                "minimum_should_match": 1,
                "filter": [{"range": {"fetched_at": {"gte": iso(since)}}}],
            }
        }
        found = self._search(query, self.BAND_CANDIDATES, count_hits=False)
        return _merged(found, self.memory.by_bands(bands, since))
