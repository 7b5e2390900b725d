"""Per-feed polling state (validators, health) and the alert cursors, in ``{prefix}-feeds``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from elasticsearch import Elasticsearch, NotFoundError, helpers

from monitor.models import FeedState
from monitor.store.documents import feed_state_from_doc, feed_state_to_doc, iso, parse_dt
from monitor.store.errors import translated
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
    def save(self, states: Iterable[FeedState]) -> None:
        actions = [
            {
                "_op_type": "index",
                "_index": self.names.feeds,
                "_id": f"feed:{st.feed_id}",
                "_source": feed_state_to_doc(st),
            }
            for st in states
        ]
        if actions:
            helpers.bulk(self.es, actions, refresh="wait_for")

    @translated
    def all(self) -> list[FeedState]:
        """Every stored feed state, including feeds no longer configured."""
        res = self.es.search(
            index=self.names.feeds,
            query={"term": {"kind": "feed"}},
            size=10_000,
            ignore_unavailable=True,
        )
        return [feed_state_from_doc(h["_source"]) for h in res["hits"]["hits"]]

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
            refresh="wait_for",
        )

    @translated
    def delete_cursor(self, name: str) -> None:
        """Forget a cursor (the next alert run starts from its first-run window)."""
        with contextlib.suppress(NotFoundError):
            self.es.delete(index=self.names.feeds, id=f"cursor:{name}", refresh=True)
