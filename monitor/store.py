"""The only module that talks to Elasticsearch.

Indices (all names start with the configured prefix):
- ``{prefix}-stories-YYYY.MM`` by first-seen month, behind the alias ``{prefix}-stories``;
- ``{prefix}-feeds``: feed state and health, plus alert cursors;
- ``{prefix}-deliveries``: the alert ledger.

Every story write is keyed by the story id (hash of the canonical URL or GUID), so re-polling a
feed is an idempotent upsert. The core distribution has no Painless, so cluster counters are
recomputed from the data (an aggregation) instead of incremented by scripts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from elasticsearch import BadRequestError, ConflictError, Elasticsearch, NotFoundError, helpers

from monitor.config import ElasticsearchSettings
from monitor.models import Delivery, FeedState, Story
from monitor.text import fold

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "config" / "elasticsearch"


class StoreError(RuntimeError):
    """Elasticsearch refused or could not be reached; the message is one line."""


def connect(es: ElasticsearchSettings) -> Elasticsearch:
    """A client for the configured cluster (API key or basic auth, optional CA bundle)."""
    kwargs: dict[str, Any] = {"request_timeout": 30, "max_retries": 3, "retry_on_timeout": True}
    if es.api_key:
        kwargs["api_key"] = es.api_key
    elif es.username:
        kwargs["basic_auth"] = (es.username, es.password or "")
    if es.ca_certs:
        kwargs["ca_certs"] = es.ca_certs
    return Elasticsearch(es.url, **kwargs)


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


def parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def story_to_doc(story: Story, indexed_at: datetime) -> dict[str, Any]:
    """The stored document for a story: its fields plus folded text for script-blind search."""
    doc = asdict(story)
    doc["published"] = _iso(story.published)
    doc["fetched_at"] = _iso(story.fetched_at)
    doc["indexed_at"] = _iso(indexed_at)
    doc["text_folded"] = fold(" ".join(p for p in (story.title, story.summary, story.content) if p))
    doc["cluster_id"] = story.cluster_id or story.id
    if doc["is_primary"]:
        doc["cluster_size"] = 1
        doc["outlets"] = [story.outlet]
    return doc


def doc_to_story(src: dict[str, Any]) -> Story:
    """Rebuild a Story from a stored document (fields newsmon did not write are ignored)."""
    known = Story.__dataclass_fields__
    data = {k: v for k, v in src.items() if k in known}
    for key in ("published", "fetched_at"):
        data[key] = parse_dt(data.get(key))
    if data.get("fetched_at") is None:
        data["fetched_at"] = datetime.now(UTC)
    return Story(**data)


@dataclass
class IndexReport:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already stored
    errors: list[str] = field(default_factory=list)


class Store:
    """Typed operations on newsmon's indices. Construct with a client and the index prefix."""

    def __init__(self, client: Elasticsearch, prefix: str = "newsmon") -> None:
        self.es = client
        self.prefix = prefix
        self.stories_alias = f"{prefix}-stories"
        self.feeds_index = f"{prefix}-feeds"
        self.deliveries_index = f"{prefix}-deliveries"

    # ---- set-up -------------------------------------------------------------------------

    def stories_index_for(self, when: datetime) -> str:
        return f"{self.stories_alias}-{when.astimezone(UTC):%Y.%m}"

    def install(self) -> dict[str, Any]:
        """Install the composable templates and create the indices and alias if absent."""
        names = {
            "stories": f"{self.stories_alias}-*",
            "feeds": self.feeds_index,
            "deliveries": self.deliveries_index,
        }
        for kind, pattern in names.items():
            body = json.loads((TEMPLATE_DIR / f"{kind}.json").read_text(encoding="utf-8"))
            template = body["template"]
            if kind == "stories":
                template = {**template, "aliases": {self.stories_alias: {}}}
            self.es.indices.put_index_template(
                name=f"{self.prefix}-{kind}",
                index_patterns=[pattern],
                template=template,
                priority=body.get("priority", 200),
                meta={"managed_by": "newsmon", "description": body.get("_comment", "")},
            )
        created = []
        for index in (
            self.stories_index_for(datetime.now(UTC)),
            self.feeds_index,
            self.deliveries_index,
        ):
            if not self.es.indices.exists(index=index):
                try:
                    self.es.indices.create(index=index)
                    created.append(index)
                except BadRequestError as e:  # another worker created it first
                    if e.error != "resource_already_exists_exception":
                        raise
        return {"templates": sorted(names), "created_indices": created}

    def refresh(self) -> None:
        self.es.indices.refresh(index=f"{self.prefix}-*")

    # ---- stories ------------------------------------------------------------------------

    def locate(self, ids: Sequence[str]) -> dict[str, str]:
        """Map the given story ids that are stored to the index holding them.

        Search is near-real-time, so the alias is refreshed first: a story written a moment
        ago by another task must count as stored.
        """
        found: dict[str, str] = {}
        if ids:
            self.es.indices.refresh(
                index=self.stories_alias, ignore_unavailable=True, allow_no_indices=True
            )
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            res = self.es.search(
                index=self.stories_alias,
                query={"ids": {"values": chunk}},
                size=len(chunk),
                source=False,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            for hit in res["hits"]["hits"]:
                found[hit["_id"]] = hit["_index"]
        return found

    def index_stories(
        self, stories: Sequence[Story], *, now: datetime | None = None
    ) -> IndexReport:
        """Create the stories that are not stored yet; a stored story is left as it was."""
        now = now or datetime.now(UTC)
        report = IndexReport()
        if not stories:
            return report
        existing = self.locate([s.id for s in stories])
        actions = []
        seen: set[str] = set()
        for s in stories:
            if s.id in existing or s.id in seen:
                report.skipped.append(s.id)
                continue
            seen.add(s.id)
            actions.append(
                {
                    "_op_type": "create",
                    "_index": self.stories_index_for(s.fetched_at),
                    "_id": s.id,
                    "_source": story_to_doc(s, now),
                }
            )
        for ok, item in helpers.streaming_bulk(
            self.es, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
        ):
            info = item.get("create", {})
            if ok:
                report.created.append(str(info.get("_id")))
            elif info.get("status") == 409:  # a concurrent poll stored it first: fine
                report.skipped.append(str(info.get("_id")))
            else:
                err = info.get("error", {})
                reason = err.get("reason", err) if isinstance(err, dict) else err
                report.errors.append(f"{info.get('_id')}: {reason}")
        return report

    def get_stories(self, ids: Sequence[str]) -> list[Story]:
        if not ids:
            return []
        res = self.es.search(
            index=self.stories_alias,
            query={"ids": {"values": list(ids)}},
            size=len(ids),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return [doc_to_story(h["_source"]) for h in res["hits"]["hits"]]

    def search_sources(
        self,
        query: dict[str, Any],
        *,
        size: int = 100,
        sort: list[Any] | None = None,
        fields: Sequence[str] | None = None,
        count_hits: bool = True,
    ) -> list[dict[str, Any]]:
        """Raw `_source`s (optionally only `fields`) of stories matching a query.

        ``count_hits=False`` lets Lucene skip documents that cannot reach the top ``size``
        (it need not count every match), which keeps scored lookups flat as the index grows.
        """
        res = self.es.search(
            index=self.stories_alias,
            query=query,
            size=size,
            sort=sort,
            track_total_hits=count_hits,
            source_includes=list(fields) if fields else None,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return [h["_source"] for h in res["hits"]["hits"]]

    def refresh_clusters(self, cluster_ids: Iterable[str]) -> int:
        """Recompute cluster_size and outlets on each cluster's primary from its members."""
        ids = sorted(set(cluster_ids))
        if not ids:
            return 0
        self.es.indices.refresh(index=self.stories_alias)
        res = self.es.search(
            index=self.stories_alias,
            size=0,
            query={"terms": {"cluster_id": ids}},
            aggs={
                "c": {
                    "terms": {"field": "cluster_id", "size": len(ids)},
                    "aggs": {"o": {"terms": {"field": "outlet", "size": 200}}},
                }
            },
        )
        where = self.locate(ids)
        updated = 0
        for b in res["aggregations"]["c"]["buckets"]:
            cid = b["key"]
            if cid not in where:
                continue
            self.es.update(
                index=where[cid],
                id=cid,
                doc={
                    "cluster_size": b["doc_count"],
                    "outlets": sorted(o["key"] for o in b["o"]["buckets"]),
                },
            )
            updated += 1
        return updated

    def cluster_outlets(self, cluster_ids: Sequence[str]) -> dict[str, list[str]]:
        """Outlets that reported each cluster (for "also reported by" in mails)."""
        if not cluster_ids:
            return {}
        res = self.es.search(
            index=self.stories_alias,
            size=0,
            query={"terms": {"cluster_id": list(cluster_ids)}},
            aggs={
                "c": {
                    "terms": {"field": "cluster_id", "size": len(cluster_ids)},
                    "aggs": {"o": {"terms": {"field": "outlet", "size": 50}}},
                }
            },
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        aggs = res.get("aggregations", {}).get("c", {}).get("buckets", [])
        return {b["key"]: [o["key"] for o in b["o"]["buckets"]] for b in aggs}

    def scroll_stories(
        self, query: dict[str, Any], batch: int = 500
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(index, source) of every story matching the query, in index order."""
        for hit in helpers.scan(
            self.es,
            index=self.stories_alias,
            query={"query": query},
            size=batch,
            ignore_unavailable=True,
            allow_no_indices=True,
        ):
            yield hit["_index"], hit["_source"]

    def bulk_update(
        self, updates: Iterable[tuple[str, str, dict[str, Any]]]
    ) -> tuple[int, list[str]]:
        """Partial updates (index, id, fields); returns (updated, errors)."""
        actions = (
            {"_op_type": "update", "_index": i, "_id": d, "doc": doc} for i, d, doc in updates
        )
        ok_count, errors = 0, []
        for ok, item in helpers.streaming_bulk(
            self.es, actions, raise_on_error=False, raise_on_exception=False
        ):
            if ok:
                ok_count += 1
            else:
                errors.append(str(item))
        return ok_count, errors

    def search_window(
        self, queries: Sequence[str], start: datetime, end: datetime, *, size: int = 50
    ) -> list[list[dict[str, Any]] | str]:
        """Run Lucene query strings over stories indexed in (start, end] with one `_msearch`.

        Each entry is the list of matching `_source`s, or a one-line error string when the
        query itself is invalid (a bad rule must not stop the others).
        """
        if not queries:
            return []
        body: list[dict[str, Any]] = []
        for q in queries:
            body.append(
                {"index": self.stories_alias, "ignore_unavailable": True, "allow_no_indices": True}
            )
            body.append(
                {
                    "size": size,
                    "sort": [{"indexed_at": "asc"}, {"id": "asc"}],
                    "query": {
                        "bool": {
                            "must": [
                                {
                                    "query_string": {
                                        "query": q,
                                        "fields": ["title^3", "summary", "content", "text_folded"],
                                        "default_operator": "AND",
                                    }
                                }
                            ],
                            "filter": [
                                {"range": {"indexed_at": {"gt": _iso(start), "lte": _iso(end)}}}
                            ],
                        }
                    },
                }
            )
        res = self.es.msearch(searches=body)
        out: list[list[dict[str, Any]] | str] = []
        for r in res["responses"]:
            if "error" in r:
                err = r["error"]
                cause = (
                    err.get("root_cause", [{}])[0].get("reason") if isinstance(err, dict) else None
                )
                out.append(str(cause or (err.get("reason") if isinstance(err, dict) else err)))
            else:
                out.append([h["_source"] for h in r["hits"]["hits"]])
        return out

    def count(self, query: dict[str, Any] | None = None) -> int:
        res = self.es.count(
            index=self.stories_alias,
            query=query or {"match_all": {}},
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return int(res["count"])

    # ---- feed state & cursors -----------------------------------------------------------

    def load_feed_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        if not feed_ids:
            return {}
        res = self.es.mget(index=self.feeds_index, ids=[f"feed:{f}" for f in feed_ids])
        out: dict[str, FeedState] = {}
        for d in res["docs"]:
            if not d.get("found"):
                continue
            src = {k: v for k, v in d["_source"].items() if k in FeedState.__dataclass_fields__}
            for key in ("last_polled", "last_success"):
                src[key] = parse_dt(src.get(key))
            state = FeedState(**src)
            out[state.feed_id] = state
        return out

    def save_feed_states(self, states: Iterable[FeedState]) -> None:
        actions = []
        for st in states:
            doc = asdict(st)
            doc["kind"] = "feed"
            doc["last_polled"] = _iso(st.last_polled)
            doc["last_success"] = _iso(st.last_success)
            actions.append(
                {
                    "_op_type": "index",
                    "_index": self.feeds_index,
                    "_id": f"feed:{st.feed_id}",
                    "_source": doc,
                }
            )
        if actions:
            helpers.bulk(self.es, actions, refresh="wait_for")

    def all_feed_states(self) -> list[FeedState]:
        res = self.es.search(
            index=self.feeds_index,
            query={"term": {"kind": "feed"}},
            size=10_000,
            ignore_unavailable=True,
        )
        return list(
            self.load_feed_states([h["_source"]["feed_id"] for h in res["hits"]["hits"]]).values()
        )

    def get_cursor(self, name: str) -> datetime | None:
        try:
            res = self.es.get(index=self.feeds_index, id=f"cursor:{name}")
        except NotFoundError:
            return None
        return parse_dt(res["_source"].get("value"))

    def set_cursor(self, name: str, value: datetime) -> None:
        self.es.index(
            index=self.feeds_index,
            id=f"cursor:{name}",
            document={"kind": "cursor", "value": _iso(value)},
            refresh="wait_for",
        )

    # ---- delivery ledger ----------------------------------------------------------------

    def claim_delivery(self, d: Delivery) -> bool:
        """Record a delivery as pending before sending. False when it was sent or is in flight.

        A delivery that failed before the SMTP server accepted it may be claimed again; a
        pending one may have been accepted by the server before a crash, so it is never
        re-sent automatically (at most once beats twice).
        """
        doc = self._delivery_doc(d, status="pending")
        try:
            self.es.create(index=self.deliveries_index, id=d.id, document=doc, refresh="wait_for")
            return True
        except ConflictError:
            pass
        cur = self.es.get(index=self.deliveries_index, id=d.id)
        if cur["_source"].get("status") != "failed":
            return False
        doc["attempts"] = int(cur["_source"].get("attempts", 0)) + 1
        try:
            self.es.index(
                index=self.deliveries_index,
                id=d.id,
                document=doc,
                if_seq_no=cur["_seq_no"],
                if_primary_term=cur["_primary_term"],
                refresh="wait_for",
            )
            return True
        except ConflictError:  # someone else re-claimed it between our read and write
            return False

    def mark_delivery(self, delivery_id: str, status: str, *, error: str | None = None) -> None:
        doc: dict[str, Any] = {"status": status, "error": error}
        if status == "sent":
            doc["sent_at"] = _iso(datetime.now(UTC))
        self.es.update(index=self.deliveries_index, id=delivery_id, doc=doc, refresh="wait_for")

    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.es.get(index=self.deliveries_index, id=delivery_id)["_source"])
        except NotFoundError:
            return None

    def deliveries(self, *, status: str | None = None, size: int = 1000) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"term": {"status": status}} if status else {"match_all": {}}
        res = self.es.search(
            index=self.deliveries_index,
            query=query,
            size=size,
            sort=[{"created_at": "asc"}],
            ignore_unavailable=True,
        )
        return [h["_source"] | {"id": h["_id"]} for h in res["hits"]["hits"]]

    @staticmethod
    def _delivery_doc(d: Delivery, status: str) -> dict[str, Any]:
        doc = asdict(d)
        doc.pop("id")
        doc["status"] = status
        doc["created_at"] = _iso(d.created_at)
        doc["sent_at"] = _iso(d.sent_at)
        return doc

    # ---- retention ----------------------------------------------------------------------

    def compact_finished_months(self, now: datetime) -> list[str]:
        """Force-merge story indices of past months (no longer written) down to one segment.

        Every lookup pays per segment, so this keeps dedupe, alert and Kibana searches over old
        months as cheap as over a small index. Runs as a background task in Elasticsearch.
        """
        current = self.stories_index_for(now)
        resp = self.es.cat.segments(index=f"{self.stories_alias}-*", format="json")
        rows = cast(list[dict[str, Any]], resp.body)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["index"]] = counts.get(row["index"], 0) + 1
        merged = []
        for name in sorted(counts):
            if name < current and counts[name] > 1:
                self.es.indices.forcemerge(
                    index=name, max_num_segments=1, wait_for_completion=False
                )
                merged.append(name)
        return merged

    def drop_months_before(self, cutoff: datetime) -> list[str]:
        """Delete whole monthly story indices older than the cutoff month."""
        keep_from = f"{cutoff.astimezone(UTC):%Y.%m}"
        dropped = []
        res = self.es.indices.get(
            index=f"{self.stories_alias}-*", allow_no_indices=True, ignore_unavailable=True
        )
        for name in sorted(res):
            month = name.rsplit("-", 1)[-1]
            if len(month) == 7 and month < keep_from:
                self.es.indices.delete(index=name)
                dropped.append(name)
        return dropped


def retention_cutoff(now: datetime, months: int) -> datetime:
    """First day of the month `months` months before now's month."""
    y, m = now.year, now.month - months
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)
