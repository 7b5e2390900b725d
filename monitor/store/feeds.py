"""Per-feed polling state (validators, health) and the alert cursors, in ``{prefix}-feeds``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError, helpers

from monitor.models import FeedState
from monitor.store.documents import feed_state_from_doc, feed_state_to_doc, iso, parse_dt
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames

__all__ = ["FeedStates"]


class FeedStates:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def load(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        """The stored state of each given feed that has one."""
        if not feed_ids:
            return {}
        res = self.es.mget(index=self.names.feeds, ids=[f"feed:{f}" for f in feed_ids])
        states = (feed_state_from_doc(d["_source"]) for d in res["docs"] if d.get("found"))
        return {st.feed_id: st for st in states}

    @translated
    def update(
        self, changes: Mapping[str, Callable[[FeedState | None], FeedState]], attempts: int = 8
    ) -> None:
        """Apply each feed's change to its current stored state, compare-and-set.

        A change is a function of the state as stored now, so two polls of one feed (two
        workers, a retry overlapping a slow run) each apply their outcome on top of the
        other's: no validators, counters or errors are lost. A write that lost the race is
        re-read and re-applied.
        """
        todo = dict(changes)
        for _ in range(attempts):
            if not todo:
                return
            res = self.es.mget(index=self.names.feeds, ids=[f"feed:{f}" for f in todo])
            actions = []
            for fid, d in zip(todo, res["docs"], strict=True):
                action: dict[str, Any] = {"_index": self.names.feeds, "_id": f"feed:{fid}"}
                if d.get("found"):
                    current: FeedState | None = feed_state_from_doc(d["_source"])
                    action |= {
                        "_op_type": "index",
                        "if_seq_no": d["_seq_no"],
                        "if_primary_term": d["_primary_term"],
                    }
                else:
                    current = None
                    action["_op_type"] = "create"
                action["_source"] = feed_state_to_doc(todo[fid](current))
                actions.append(action)
            lost: set[str] = set()
            for ok, item in helpers.streaming_bulk(self.es, actions, raise_on_error=False):
                info = next(iter(item.values()))
                if not ok and info.get("status") == 409:
                    lost.add(str(info["_id"]).removeprefix("feed:"))
                elif not ok:
                    raise StoreError(f"Elasticsearch at {self.url}: feed state not saved: {info}")
            todo = {fid: fn for fid, fn in todo.items() if fid in lost}
        if todo:
            raise StoreError(
                f"feed state of {sorted(todo)} kept changing under concurrent polls; "
                "it is retried on the next poll"
            )

    def save(self, states: Iterable[FeedState]) -> None:
        """Store these states as they are (set-up and tests; polls use `update`)."""
        self.update({st.feed_id: _replacing(st) for st in states})

    @translated
    def all(self) -> list[FeedState]:
        """Every stored feed state, including feeds no longer configured.

        Polls save feed state without waiting for a refresh (they must not wait a second per
        batch), so a search would not yet see the last poll's writes: refresh this small
        index first, as an operator looking at feed health expects the current state.
        """
        self.es.indices.refresh(index=self.names.feeds, ignore_unavailable=True)
        res = self.es.search(
            index=self.names.feeds,
            query={"term": {"kind": "feed"}},
            size=10_000,
            ignore_unavailable=True,
        )
        return [feed_state_from_doc(h["_source"]) for h in res["hits"]["hits"]]

    @translated
    def items_since(self, since: datetime, feed_ids: Sequence[str]) -> dict[str, int]:
        """Stories first fetched at or after `since`, per feed: one aggregation for them all."""
        if not feed_ids:
            return {}
        self.es.indices.refresh(index=self.names.stories, ignore_unavailable=True)
        res = self.es.search(
            index=self.names.stories,
            size=0,
            query={
                "bool": {
                    "filter": [
                        {"range": {"fetched_at": {"gte": iso(since)}}},
                        {"terms": {"feed_id": list(feed_ids)}},
                    ]
                }
            },
            aggs={"feeds": {"terms": {"field": "feed_id", "size": len(feed_ids)}}},
            ignore_unavailable=True,
        )
        buckets = res.get("aggregations", {}).get("feeds", {}).get("buckets", [])
        return {str(b["key"]): int(b["doc_count"]) for b in buckets}

    @translated
    def get_cursor(self, name: str) -> datetime | None:
        try:
            res = self.es.get(index=self.names.feeds, id=f"cursor:{name}")
        except NotFoundError:
            return None
        return parse_dt(res["_source"].get("value"))

    @translated
    def set_cursor(self, name: str, value: datetime) -> None:
        self.es.index(
            index=self.names.feeds,
            id=f"cursor:{name}",
            document={"kind": "cursor", "value": iso(value)},
        )

    @translated
    def delete_cursor(self, name: str) -> None:
        """Forget a cursor (the next alert run starts from its first-run window)."""
        with contextlib.suppress(NotFoundError):
            self.es.delete(index=self.names.feeds, id=f"cursor:{name}")


def _replacing(state: FeedState) -> Callable[[FeedState | None], FeedState]:
    return lambda _current: state
