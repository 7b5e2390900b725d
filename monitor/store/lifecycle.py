"""Index lifecycle: templates and first indices, retention by whole months, merging old months.

The server core has no ILM or data streams, so retention drops whole monthly indices, and
finished months are force-merged to one segment by `maintain`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from elasticsearch import BadRequestError, Elasticsearch

from monitor.resources import INDEX_TEMPLATE_KINDS, index_template
from monitor.store.errors import translated
from monitor.store.names import IndexNames

__all__ = ["Lifecycle"]


class Lifecycle:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def install(self, now: datetime) -> dict[str, Any]:
        """Install the composable templates and create the indices and alias if absent.

        `now` picks the monthly story index to create up front (the current month's).
        """
        patterns = {
            "stories": self.names.stories_pattern,
            "feeds": self.names.feeds,
            "deliveries": self.names.deliveries,
        }
        for kind in INDEX_TEMPLATE_KINDS:
            body = index_template(kind)
            template = body["template"]
            if kind == "stories":
                template = {**template, "aliases": {self.names.stories: {}}}
            self.es.indices.put_index_template(
                name=f"{self.names.prefix}-{kind}",
                index_patterns=[patterns[kind]],
                template=template,
                priority=body.get("priority", 200),
                meta={"managed_by": "newsmon", "description": body.get("_comment", "")},
            )
        upgraded = self._upgrade_mappings(patterns)
        created = []
        for index in (self.names.stories_for(now), self.names.feeds, self.names.deliveries):
            if not self.es.indices.exists(index=index):
                try:
                    self.es.indices.create(index=index)
                    created.append(index)
                except BadRequestError as e:  # another worker created it first
                    if e.error != "resource_already_exists_exception":
                        raise
        return {"templates": sorted(patterns), "created_indices": created, "upgraded": upgraded}

    def _upgrade_mappings(self, patterns: dict[str, str]) -> list[str]:
        """Add the template's fields to indices created by an earlier version.

        A template applies only to indices created after it, and mappings are `dynamic:
        false`, so a field a new version adds (``event_terms`` …) would be stored but not
        searchable in the current month's index. Adding fields to a mapping is allowed on a
        live index; changing one is not, and newsmon never does.
        """
        upgraded = []
        for kind in INDEX_TEMPLATE_KINDS:
            wanted = index_template(kind)["template"]["mappings"]["properties"]
            found = self.es.indices.get_mapping(
                index=patterns[kind], allow_no_indices=True, ignore_unavailable=True
            )
            for name, body in sorted(found.body.items()):
                have = body.get("mappings", {}).get("properties", {})
                missing = {k: v for k, v in wanted.items() if k not in have}
                if missing:
                    self.es.indices.put_mapping(index=name, properties=missing)
                    upgraded.append(name)
        return upgraded

    @translated
    def refresh(self) -> None:
        """Make every write so far searchable (near-real-time search otherwise lags ~1 s)."""
        self.es.indices.refresh(
            index=f"{self.names.prefix}-*", ignore_unavailable=True, allow_no_indices=True
        )

    @translated
    def compact_finished_months(self, now: datetime) -> list[str]:
        """Force-merge story indices of past months (no longer written) down to one segment.

        Every lookup pays per segment, so this keeps dedupe, alert and Kibana searches over old
        months as cheap as over a small index. Runs as a background task in Elasticsearch.
        """
        current = self.names.stories_for(now)
        resp = self.es.cat.segments(index=self.names.stories_pattern, format="json")
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

    @translated
    def drop_months_before(self, cutoff: datetime) -> list[str]:
        """Delete whole monthly story indices older than the cutoff's month."""
        keep_from = self.names.stories_for(cutoff).rpartition("-")[2]
        dropped = []
        res = self.es.indices.get(
            index=self.names.stories_pattern, allow_no_indices=True, ignore_unavailable=True
        )
        for name in sorted(res):
            month = self.names.month_of(name)
            if month is not None and month < keep_from:
                self.es.indices.delete(index=name)
                dropped.append(name)
        return dropped
