"""Stories: idempotent creation, look-ups by id, cluster counts, alert-rule searches, re-tagging.

Every story write is keyed by the story id (a hash of the canonical URL or feed GUID), so
re-polling a feed never duplicates a story. The core distribution has no Painless, so cluster
counters are recomputed from the data (an aggregation) instead of incremented by scripts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from monitor.models import HIGHLIGHT_END, HIGHLIGHT_START, Story
from monitor.store.documents import (
    ARRIVAL_ORDER,
    GROUPED,
    MAX_GROUP_OUTLETS,
    PENDING,
    GroupCounts,
    cluster_fields,
    group_count_fields,
    group_fields,
    iso,
    story_from_doc,
    story_to_doc,
    tag_fields,
)
from monitor.store.errors import StoreError, translated, translated_iter
from monitor.store.names import IndexNames

__all__ = ["IndexReport", "StoryIndex"]

# Fields plain-word alert rules search: the title counts most; text_folded makes "erdogan"
# find "Erdoğan" with the core's standard analyzer.
_RULE_FIELDS = ["title^3", "summary", "content", "text_folded"]
# Reading many stories over the alias must not fail on a month that retention just dropped.
_LENIENT: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}
# The matched terms, for the alert e-mail's snippet: the whole title, one summary fragment (or
# the summary's start when only another field matched). Any field of the query may mark them.
_HIGHLIGHT: dict[str, Any] = {
    "pre_tags": [HIGHLIGHT_START],
    "post_tags": [HIGHLIGHT_END],
    "require_field_match": False,
    "fields": {
        "title": {"number_of_fragments": 0},
        "summary": {"fragment_size": 280, "number_of_fragments": 1, "no_match_size": 280},
    },
}


@dataclass
class IndexReport:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already stored
    errors: list[str] = field(default_factory=list)


def _bulk_reason(item: dict[str, Any], op: str) -> str:
    info = item.get(op, {})
    err = info.get("error", {})
    reason = " ".join(str(err.get("reason", err) if isinstance(err, dict) else err).split())
    # Elasticsearch quotes the offending value, which can be a megabyte: one line, capped.
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 1] + "…"
    return f"{info.get('_id')}: {reason}"


_MAX_REASON = 300
# One bulk request: up to this many documents or bytes, whichever comes first.
_BULK_DOCS = 5000
_BULK_BYTES = 8 * 1024 * 1024


class StoryIndex:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url
        # Pending story id -> its index, as `pending` found it; `apply_groups` takes its
        # stories' out. Kept across calls: a grouping run reads the next pass while the
        # last one is still being written.
        self._pending_at: dict[str, str] = {}

    @translated
    def refresh(self) -> None:
        """Make every story written so far searchable (search is near-real-time)."""
        self.es.indices.refresh(index=self.names.stories, **_LENIENT)

    @translated
    def locate(self, ids: Sequence[str], *, refresh: bool = True) -> dict[str, str]:
        """Map the given story ids that are stored to the index holding them.

        Search is near-real-time, so the alias is refreshed first (unless the caller just
        did): a story written a moment ago by another task must count as stored.
        """
        found: dict[str, str] = {}
        if ids and refresh:
            self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            res = self.es.search(
                index=self.names.stories,
                query={"ids": {"values": chunk}},
                size=len(chunk),
                source=False,
                **_LENIENT,
            )
            for hit in res["hits"]["hits"]:
                found[hit["_id"]] = hit["_index"]
        return found

    @translated
    def index(
        self,
        stories: Sequence[Story],
        *,
        now: datetime,
        existing: Mapping[str, str] | None = None,
    ) -> IndexReport:
        """Create the stories that are not stored yet; a stored story is left as it was.

        `now` is recorded as each story's ``indexed_at``: the instant alert windows select on.
        Each story goes to the monthly index of its ``fetched_at``. `existing` is `locate`'s
        answer for these stories when the caller has just asked (saves a refresh and a search);
        a story stored meanwhile still comes back as skipped (a create conflict).
        """
        report = IndexReport()
        if not stories:
            return report
        if existing is None:
            existing = self.locate([s.id for s in stories])

        def actions() -> Iterator[dict[str, Any]]:
            # Built one by one as the bulk helper sends them: one document in memory per
            # story at a time, never a second copy of the whole batch.
            seen: set[str] = set()
            for s in stories:
                if s.id in existing or s.id in seen:
                    report.skipped.append(s.id)
                    continue
                seen.add(s.id)
                yield {
                    "_op_type": "create",
                    "_index": self.names.stories_for(s.fetched_at),
                    "_id": s.id,
                    "_source": story_to_doc(s, now),
                }

        for ok, item in helpers.streaming_bulk(
            self.es,
            actions(),
            # Requests sized by bytes rather than the helper's 500 documents: fewer round trips
            # for short stories, and long ones still stay far below http.max_content_length.
            chunk_size=_BULK_DOCS,
            max_chunk_bytes=_BULK_BYTES,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=2,
        ):
            info = item.get("create", {})
            if ok:
                report.created.append(str(info.get("_id")))
            elif info.get("status") == 409:  # a concurrent poll stored it first: fine
                report.skipped.append(str(info.get("_id")))
            else:
                report.errors.append(_bulk_reason(item, "create"))
        return report

    @translated
    def pending(
        self, limit: int = 500, *, refresh: bool = True, exclude: Collection[str] = ()
    ) -> list[Story]:
        """Stories whose cluster and event are not decided yet, in arrival order (refreshed
        first, unless the caller has just refreshed after its own writes: a grouping run's
        later passes). `exclude`: ids left out, a pass whose groups are still being written."""
        if refresh:
            self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        query = PENDING
        if exclude:
            query = {"bool": {"filter": [PENDING], "must_not": [{"ids": {"values": [*exclude]}}]}}
        res = self.es.search(
            index=self.names.stories,
            query=query,
            size=limit,
            sort=ARRIVAL_ORDER,
            **_LENIENT,
        )
        hits = res["hits"]["hits"]
        # apply_groups writes these back: knowing their index saves it a refresh and a search.
        self._pending_at.update((h["_id"], h["_index"]) for h in hits)
        return [story_from_doc(h["_source"]) for h in hits]

    @translated
    def apply_groups(
        self,
        stories: Sequence[Story],
        *,
        now: datetime,
        run: str | None = None,
        clusters: Mapping[str, GroupCounts] | None = None,
        events: Mapping[str, GroupCounts] | None = None,
    ) -> list[str]:
        """Write each story's decided cluster and event (and the grouping `run` that decided
        them); returns errors, one line each. A primary in `clusters` or `events` (by id)
        also gets its group's counts written, as `refresh_clusters`/`refresh_events` would.

        The grouping lease makes the grouper the only writer of these fields, so plain
        partial updates cannot lose a concurrent decision.
        """
        more = group_count_fields(clusters or {}, events or {})
        known = self._pending_at
        where = {s.id: known.pop(s.id) for s in stories if s.id in known}
        where |= self.locate([s.id for s in stories if s.id not in where])
        actions = (
            {
                "_op_type": "update",
                "_index": where[s.id],
                "_id": s.id,
                "doc": group_fields(s, now, run) | more.get(s.id, {}),
            }
            for s in stories
            if s.id in where
        )
        errors = [
            _bulk_reason(item, "update")
            for ok, item in helpers.streaming_bulk(
                self.es, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
            )
            if not ok
        ]
        errors += [f"{s.id}: not found" for s in stories if s.id not in where]
        return errors

    @translated
    def get(self, ids: Sequence[str]) -> list[Story]:
        """The stored stories with these ids (missing ids are left out)."""
        if not ids:
            return []
        res = self.es.search(
            index=self.names.stories,
            query={"ids": {"values": list(ids)}},
            size=len(ids),
            **_LENIENT,
        )
        return [story_from_doc(h["_source"]) for h in res["hits"]["hits"]]

    @translated
    def refresh_clusters(self, cluster_ids: Iterable[str], *, refresh: bool = True) -> int:
        """Recompute cluster_size and outlets on each cluster's primary from its members.

        One aggregation and one bulk request for all the clusters (a grouping pass touches
        hundreds): a request per cluster was a fifth of a pass's time. `refresh=False` when
        the caller has just refreshed the stories after writing the members.
        """
        ids = sorted(set(cluster_ids))
        if not ids:
            return 0
        counts = self._cluster_outlets(ids, per_cluster=MAX_GROUP_OUTLETS, refresh=refresh)
        where = self.locate(ids, refresh=False)  # refreshed just before (here or by the caller)
        ops: list[dict[str, Any]] = []
        for cid, (size, outlets) in counts.items():
            if cid in where:
                ops += [
                    {"update": {"_index": where[cid], "_id": cid}},
                    {"doc": cluster_fields(size, outlets)},
                ]
        if not ops:
            return 0
        res = self.es.bulk(operations=ops)
        failed = [i["update"] for i in res["items"] if i["update"].get("error")]
        if failed:
            raise StoreError(
                f"Elasticsearch at {self.url}: cluster counts not updated on {len(failed)} "
                f"stories ({_bulk_reason({'update': failed[0]}, 'update')}); check the "
                "server's log, then run the poll again"
            )
        return len(ops) // 2

    @translated
    def cluster_outlets(self, cluster_ids: Sequence[str]) -> dict[str, list[str]]:
        """Outlets that reported each cluster (for "also reported by" in mails)."""
        if not cluster_ids:
            return {}
        counts = self._cluster_outlets(list(cluster_ids), per_cluster=50, refresh=False)
        return {cid: outlets for cid, (_, outlets) in counts.items()}

    def _cluster_outlets(
        self, ids: list[str], *, per_cluster: int, refresh: bool = True
    ) -> dict[str, tuple[int, list[str]]]:
        if refresh:
            self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        res = self.es.search(
            index=self.names.stories,
            size=0,
            query={"terms": {"cluster_id": ids}},
            aggs={
                "c": {
                    "terms": {"field": "cluster_id", "size": len(ids)},
                    "aggs": {"o": {"terms": {"field": "outlet", "size": per_cluster}}},
                }
            },
            **_LENIENT,
        )
        buckets = res.get("aggregations", {}).get("c", {}).get("buckets", [])
        return {
            b["key"]: (int(b["doc_count"]), [o["key"] for o in b["o"]["buckets"]]) for b in buckets
        }

    @translated
    def search_window(
        self,
        queries: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        page: int = 500,
        rule_names: Sequence[str] | None = None,
    ) -> list[list[Story] | str]:
        """Run Lucene query strings over stories grouped in (start, end]: every hit, in pages.

        A story counts once its cluster and event are decided (``grouped_at``), so an alert
        never goes out for a story whose group may still change. Each entry is the list of
        all matching stories (oldest first), or a one-line error string when the query itself
        is invalid (a bad rule must not stop the others). The first page of every query goes
        in one `_msearch`; a query whose page came back full goes on with `search_after` on
        the sort key, so nothing past a page is silently dropped (the alert cursor moves past
        the whole window afterwards).

        With `rule_names` (one per query), a story that an update put back into the window
        (`new_match`) counts only for the rules it newly matches, unless it was first grouped
        inside this window too: a rule that matched its old text had it in an earlier window.
        """
        if not queries:
            return []
        window = {"range": {"grouped_at": {"gt": iso(start), "lte": iso(end)}}}
        bodies: list[dict[str, Any]] = []
        names: Sequence[str | None] = rule_names or [None] * len(queries)
        for q, name in zip(queries, names, strict=True):
            rule = _rule_query(q)
            filters = [window, GROUPED]
            if name is not None:
                filters.append(_first_in_window(name, start, end))
            bodies.append(
                {
                    "size": page,
                    "sort": [{"grouped_at": "asc"}, {"id": "asc"}],
                    "query": {"bool": {"must": [rule], "filter": filters}},
                    "highlight": _HIGHLIGHT,
                }
            )
        searches: list[dict[str, Any]] = []
        for body in bodies:
            searches += [{"index": self.names.stories, **_LENIENT}, body]
        res = self.es.msearch(searches=searches)
        out: list[list[Story] | str] = []
        for body, r in zip(bodies, res["responses"], strict=True):
            if "error" in r:
                out.append(_rule_error(r["error"]))
                continue
            hits = r["hits"]["hits"]
            stories = [_hit_story(h) for h in hits]
            while len(hits) == page:
                more = self.es.search(
                    index=self.names.stories,
                    search_after=hits[-1]["sort"],
                    size=page,
                    sort=body["sort"],
                    query=body["query"],
                    highlight=_HIGHLIGHT,
                    **_LENIENT,
                )
                hits = more["hits"]["hits"]
                stories += [_hit_story(h) for h in hits]
            out.append(stories)
        return out

    @translated
    def validate_queries(self, queries: Sequence[str]) -> list[str | None] | None:
        """Elasticsearch's verdict on each alert-rule query (validate-query API, as alerts run
        it): None for a valid query, else the reason in one line. None overall when there is
        no stories index yet to validate against (run `newsmon init`)."""
        if not self.es.indices.exists(index=self.names.stories):
            return None
        out: list[str | None] = []
        for q in queries:
            res = self.es.indices.validate_query(
                index=self.names.stories, query=_rule_query(q), explain=True, **_LENIENT
            )
            if res.get("valid"):
                out.append(None)
                continue
            errors = [e.get("error") for e in res.get("explanations", []) if e.get("error")]
            out.append(_validation_reason(str(res.get("error") or (errors or ["invalid"])[0])))
        return out

    @translated
    def event_reports(
        self, event_ids: Sequence[str], per_event: int = 30
    ) -> dict[str, list[Story]]:
        """Every stored report of each event (all outlets and languages), oldest first."""
        if not event_ids:
            return {}
        res = self.es.search(
            index=self.names.stories,
            query={"terms": {"event_id": list(event_ids)}},
            size=min(10_000, per_event * len(event_ids)),
            sort=[{"fetched_at": "asc"}, {"id": "asc"}],
            source_excludes=["content", "lsh_bands", "evidence", "text_folded"],
            **_LENIENT,
        )
        out: dict[str, list[Story]] = {}
        for h in res["hits"]["hits"]:
            s = story_from_doc(h["_source"])
            out.setdefault(s.event_id or s.cluster_id, []).append(s)
        return out

    @translated
    def count_since(self, cutoff: datetime | None = None) -> int:
        """Stories first fetched at or after `cutoff` (all stories for None)."""
        res = self.es.count(index=self.names.stories, query=_since(cutoff), **_LENIENT)
        return int(res["count"])

    @translated
    def last_indexed(self) -> datetime | None:
        """When the newest story was indexed (None when there is none): the dead man's switch."""
        self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        res = self.es.search(
            index=self.names.stories,
            size=0,
            aggs={"last": {"max": {"field": "indexed_at"}}},
            **_LENIENT,
        )
        value = res.get("aggregations", {}).get("last", {}).get("value_as_string")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    @translated_iter
    def scroll_since(self, cutoff: datetime, batch: int = 500) -> Iterator[tuple[str, Story]]:
        """(index, story) of every story first fetched at or after `cutoff`, in index order."""
        for hit in helpers.scan(
            self.es,
            index=self.names.stories,
            query={"query": _since(cutoff)},
            size=batch,
            **_LENIENT,
        ):
            yield hit["_index"], story_from_doc(hit["_source"])

    @translated
    def update_tags(self, updates: Iterable[tuple[str, Story]]) -> tuple[int, list[str]]:
        """Write the tagging fields of (index, story) pairs; returns (updated, errors)."""
        actions = (
            {"_op_type": "update", "_index": index, "_id": s.id, "doc": tag_fields(s)}
            for index, s in updates
        )
        ok_count, errors = 0, []
        for ok, item in helpers.streaming_bulk(
            self.es, actions, raise_on_error=False, raise_on_exception=False
        ):
            if ok:
                ok_count += 1
            else:
                errors.append(_bulk_reason(item, "update"))
        return ok_count, errors


def _since(cutoff: datetime | None) -> dict[str, Any]:
    if cutoff is None:
        return {"match_all": {}}
    return {"range": {"fetched_at": {"gte": iso(cutoff)}}}


def _rule_query(q: str) -> dict[str, Any]:
    """An alert rule's Lucene query string as Elasticsearch runs it (the same as Kibana's)."""
    return {"query_string": {"query": q, "fields": _RULE_FIELDS, "default_operator": "AND"}}


def _validation_reason(text: str) -> str:
    """The readable part of a validate-query error: Lucene's "Cannot parse ...: Encountered
    ... at line 1, column N" without the list of expected tokens, else the first cause."""
    parts = " ".join(text.split()).split("; ")
    for part in parts:
        if "Cannot parse" in part:
            reason = part.split("Exception: ", 1)[-1].split(". Was expecting")[0]
            return re.sub(r"^Cannot parse '.*?': ", "", reason)
    return parts[0][:300]


def _hit_story(hit: dict[str, Any]) -> Story:
    story = story_from_doc(hit["_source"])
    story.highlight = {k: " … ".join(v) for k, v in hit.get("highlight", {}).items()}
    return story


def _rule_error(err: Any) -> str:
    """One line saying why a rule's query was refused."""
    if isinstance(err, dict):
        cause = (err.get("root_cause") or [{}])[0].get("reason") or err.get("reason")
        return str(cause or err)
    return str(err)


def _first_in_window(rule_name: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The story is new to this rule in (start, end]: never re-entered the window through an
    update, or re-entered for this rule, or first grouped inside the window anyway."""
    return {
        "bool": {
            "should": [
                {"bool": {"must_not": [{"exists": {"field": "new_match"}}]}},
                {"term": {"new_match": rule_name}},
                {"range": {"first_grouped_at": {"gt": iso(start), "lte": iso(end)}}},
            ],
            "minimum_should_match": 1,
        }
    }
