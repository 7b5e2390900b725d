"""Events on stored stories: merging events a bridging report joined, and the counts an
event keeps on its primary (its first report), like a cluster's.

Every write is idempotent: members are moved with a compare-and-set on their sequence number
and a member already moved is not found again; counts are recomputed from the members (the
core distribution has no Painless to increment them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from elasticsearch import Elasticsearch, helpers

from monitor.store.documents import (
    MAX_EVENT_LANGUAGES,
    MAX_GROUP_OUTLETS,
    NOT_EVENT_PRIMARY,
    event_fields,
    parse_dt,
)
from monitor.store.errors import translated
from monitor.store.names import IndexNames

__all__ = ["EventWrites"]

# Reading many stories over the alias must not fail on a month that retention just dropped.
_LENIENT: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


class EventWrites:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    def _locate(self, ids: Sequence[str]) -> dict[str, str]:
        res = self.es.search(
            index=self.names.stories,
            query={"ids": {"values": list(ids)}},
            size=len(ids),
            source=False,
            **_LENIENT,
        )
        return {h["_id"]: h["_index"] for h in res["hits"]["hits"]}

    @translated
    def relabel_events(self, relabels: dict[str, str]) -> list[str]:
        """Move every stored member of each merged event to its new id (old -> new).

        A bridging story merged the events; each member is updated with a compare-and-set on
        its sequence number, and a member already moved is not found again, so a retried pass
        gives the same result. Returns errors, one line each.
        """
        if not relabels:
            return []
        errors: list[str] = []
        for _ in range(3):  # a member changed meanwhile (re-tagged) is read and moved again
            self.es.indices.refresh(index=self.names.stories, **_LENIENT)
            hits = list(
                helpers.scan(
                    self.es,
                    index=self.names.stories,
                    query={"query": {"terms": {"event_id": sorted(relabels)}}},
                    _source=["event_id", "event_aliases"],
                    seq_no_primary_term=True,
                    **_LENIENT,
                )
            )
            if not hits:
                return []
            ops: list[dict[str, Any]] = []
            for h in hits:
                old = h["_source"]["event_id"]
                new = _final(relabels, old)
                aliases = sorted((set(h["_source"].get("event_aliases") or []) | {old}) - {new})
                meta = {"_index": h["_index"], "_id": h["_id"]}
                meta |= {"if_seq_no": h["_seq_no"], "if_primary_term": h["_primary_term"]}
                doc = {"event_id": new, "event_aliases": aliases} | _demoted(h["_id"], old)
                ops += [{"update": meta}, {"doc": doc}]
            res = self.es.bulk(operations=ops)
            errors = [
                f"{i['update'].get('_id')}: {i['update']['error'].get('reason')}"
                for i in res["items"]
                if i["update"].get("error")
            ]
            if not errors:
                return []
        return errors

    @translated
    def refresh_events(self, event_ids: Iterable[str], *, refresh: bool = True) -> int:
        """Recompute each event's size, outlets, languages and first/last seen on its primary
        (the story whose id is the event id), from its members. `refresh=False` when the
        caller has just refreshed the stories after writing the members."""
        ids = sorted(set(event_ids))
        if not ids:
            return 0
        if refresh:
            self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        where: dict[str, str] = {}
        for i in range(0, len(ids), 1000):
            where |= self._locate(ids[i : i + 1000])
        ops: list[dict[str, Any]] = []
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            res = self.es.search(
                index=self.names.stories,
                size=0,
                query={"terms": {"event_id": chunk}},
                aggs={
                    "e": {
                        "terms": {"field": "event_id", "size": len(chunk)},
                        "aggs": {
                            "o": {"terms": {"field": "outlet", "size": MAX_GROUP_OUTLETS}},
                            "l": {"terms": {"field": "lang", "size": MAX_EVENT_LANGUAGES}},
                            "a": {"terms": {"field": "event_aliases", "size": 200}},
                            "lo": {"min": {"field": "fetched_at"}},
                            "hi": {"max": {"field": "fetched_at"}},
                        },
                    }
                },
                **_LENIENT,
            )
            for b in res.get("aggregations", {}).get("e", {}).get("buckets", []):
                if b["key"] not in where:
                    continue
                doc = event_fields(
                    int(b["doc_count"]),
                    [o["key"] for o in b["o"]["buckets"]],
                    [x["key"] for x in b["l"]["buckets"]],
                    parse_dt(b["lo"].get("value_as_string")),
                    parse_dt(b["hi"].get("value_as_string")),
                )
                doc["event_aliases"] = sorted(x["key"] for x in b["a"]["buckets"])
                ops += [{"update": {"_index": where[b["key"]], "_id": b["key"]}}, {"doc": doc}]
        if not ops:
            return 0
        res = self.es.bulk(operations=ops)
        return sum(1 for i in res["items"] if not i["update"].get("error"))

    @translated
    def event_aliases(self, event_ids: Sequence[str]) -> dict[str, list[str]]:
        """The ids of the events merged into each of these events (from their primaries)."""
        if not event_ids:
            return {}
        res = self.es.search(
            index=self.names.stories,
            query={"ids": {"values": list(event_ids)}},
            size=len(event_ids),
            source_includes=["event_aliases"],
            **_LENIENT,
        )
        return {
            h["_id"]: list(h["_source"].get("event_aliases") or [])
            for h in res["hits"]["hits"]
            if h["_source"].get("event_aliases")
        }


def _final(relabels: dict[str, str], event_id: str) -> str:
    """Follow merges to the end: an event merged into one that was merged in turn."""
    seen = {event_id}
    while event_id in relabels and relabels[event_id] not in seen:
        event_id = relabels[event_id]
        seen.add(event_id)
    return event_id


def _demoted(story_id: str, old_event: str) -> dict[str, Any]:
    """A merged-away event's primary stops being one (its counts move to the new primary)."""
    return NOT_EVENT_PRIMARY if story_id == old_event else {}
