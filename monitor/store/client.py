"""Connecting to Elasticsearch, and `Store`: one object holding newsmon's four kinds of data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer

from monitor.clock import utcnow
from monitor.config import ElasticsearchSettings
from monitor.store.errors import translated
from monitor.store.event_lookup import StoreEventLookup
from monitor.store.events import EventWrites
from monitor.store.feeds import FeedStates
from monitor.store.leases import Leases
from monitor.store.ledger import Ledger
from monitor.store.lifecycle import Lifecycle
from monitor.store.lookup import BatchLookup
from monitor.store.names import IndexNames
from monitor.store.revisions import StoryRevisions
from monitor.store.search import StorySearch
from monitor.store.stories import StoryIndex

__all__ = ["Store", "connect", "open_store"]


class _OrjsonNdjsonSerializer(NdjsonSerializer):
    """Bulk and multi-search bodies and answers, a line at a time through orjson.

    The client ships orjson for plain JSON only (`OrjsonSerializer`); bulk bodies are where a
    first poll spent most of its 4 s of JSON encoding with the standard library."""

    _json = OrjsonSerializer()

    def json_dumps(self, data: Any) -> bytes:
        return self._json.json_dumps(data)

    def json_loads(self, data: bytes) -> Any:
        return self._json.json_loads(data)


def connect(es: ElasticsearchSettings) -> Elasticsearch:
    """A client for the configured cluster (API key or basic auth, optional CA bundle)."""
    kwargs: dict[str, Any] = {
        "request_timeout": es.timeout,
        "max_retries": 3,
        "retry_on_timeout": True,
        # orjson, a dependency through elasticsearch[orjson]: the same JSON, encoded and
        # decoded several times faster than by the standard library.
        "serializers": {
            OrjsonSerializer.mimetype: OrjsonSerializer(),
            _OrjsonNdjsonSerializer.mimetype: _OrjsonNdjsonSerializer(),
        },
    }
    if es.api_key:
        kwargs["api_key"] = es.api_key
    elif es.username:
        kwargs["basic_auth"] = (es.username, es.password or "")
    if es.ca_certs:
        kwargs["ca_certs"] = es.ca_certs
    # Several nodes, comma-separated: the client spreads requests and fails over between them,
    # so one node lost mid-poll is retried on another (every write is idempotent).
    nodes = [u.strip() for u in es.url.split(",") if u.strip()]
    return Elasticsearch(nodes, **kwargs)


def _url_of(client: Elasticsearch) -> str:
    nodes = client.transport.node_pool.all()
    return ",".join(str(n.base_url) for n in nodes) or "the configured URL"


class Store:
    """newsmon's data in Elasticsearch, by kind: ``stories``, ``events`` (merges and
    counts), ``feeds`` (state and cursors), ``ledger`` (deliveries), ``leases`` (one holder
    per job), ``lifecycle`` (templates, retention, merges) and ``search`` (searches for
    people: `newsmon search`).

    Every method takes and returns newsmon records and raises only `StoreError`.
    """

    def __init__(
        self,
        client: Elasticsearch,
        prefix: str = "newsmon",
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.es = client
        self.url = _url_of(client)
        self.names = IndexNames(prefix)
        self.stories = StoryIndex(client, self.names, self.url)
        self.events = EventWrites(client, self.names, self.url)
        self.feeds = FeedStates(client, self.names, self.url)
        self.ledger = Ledger(client, self.names, self.url)
        self.lifecycle = Lifecycle(client, self.names, self.url)
        self.leases = Leases(client, self.names, self.url, clock)
        self.search = StorySearch(client, self.names, self.url)
        self.revisions = StoryRevisions(client, self.names, self.url)

    def lookup(self, run: str | None = None) -> BatchLookup:
        """A dedupe candidate lookup for the first pass of grouping run `run` (`next_pass`
        gives the next ones), or for one pass on its own (None)."""
        return BatchLookup(self.es, self.names, self.url, run)

    def event_lookup(self, run: str | None = None) -> StoreEventLookup:
        """An event candidate lookup for the first pass of grouping run `run` (`next_pass`
        gives the next ones), or for one pass on its own (None)."""
        return StoreEventLookup(self.es, self.names, self.url, run=run)

    def refresh(self) -> None:
        """Make every write so far searchable."""
        self.lifecycle.refresh()

    @translated
    def close(self) -> None:
        self.es.close()


def open_store(es: ElasticsearchSettings, prefix: str) -> Store:
    """A Store on the configured cluster and index prefix."""
    return Store(connect(es), prefix)
