"""Updated entries in Elasticsearch: read a story with its version, write a new text only if
nobody else wrote one since (compare-and-set on `_seq_no` / `_primary_term`).

The core distribution has no Painless, so "append to history only if the text differs" is a
read, a decision in Python (`monitor.revisions`) and a conditional write: of two polls that
saw the same change, one write wins and the other gets a conflict, re-reads the winner's text
and finds nothing left to record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch

from monitor.models import Story
from monitor.store.documents import GROUPED, iso, parse_dt, story_from_doc, tag_fields
from monitor.store.errors import translated
from monitor.store.names import IndexNames
from monitor.store.stories import _rule_query
from monitor.text import search_fold

__all__ = ["StoredStory", "StoryRevisions", "revision_fields"]

_LENIENT: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


@dataclass
class StoredStory:
    """A stored story as last written, with what a conditional write of it needs."""

    index: str
    seq_no: int
    primary_term: int
    story: Story
    history: list[dict[str, Any]] = field(default_factory=list)
    grouped: bool = True
    # When the stored text was first seen: its last update, else when the story was fetched.
    seen_at: datetime | None = None
    # When the story first became alertable (an update that newly matches a rule moves
    # `grouped_at` on; digests need the first instant to list the story once per rule).
    first_grouped_at: datetime | None = None


def revision_fields(
    story: Story, history: list[dict[str, Any]], updated_at: datetime
) -> dict[str, Any]:
    """The partial document of a new version: its text, the tagging and dedupe fields made
    from it, the history of earlier texts and when it changed."""
    doc = tag_fields(story)
    doc |= {
        "title": story.title,
        "summary": story.summary,
        "content": story.content,
        "lang": story.lang,
        "title_key": story.title_key,
        "lsh_bands": story.lsh_bands,
        "wire": story.wire,
        "text_folded": search_fold(
            " ".join(p for p in (story.title, story.summary, story.content) if p)
        ),
        "history": history,
        "updated_at": iso(updated_at),
    }
    return doc


class StoryRevisions:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def texts(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) of each stored story (refreshed first): all a poll needs to see
        which known items changed, without reading every known story whole."""
        if not ids:
            return {}
        self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        out: dict[str, tuple[str, str]] = {}
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            res = self.es.search(
                index=self.names.stories,
                query={"ids": {"values": chunk}},
                size=len(chunk),
                source_includes=["title", "summary"],
                **_LENIENT,
            )
            for h in res["hits"]["hits"]:
                src = h["_source"]
                out[h["_id"]] = (str(src.get("title") or ""), str(src.get("summary") or ""))
        return out

    @translated
    def current(self, ids: Sequence[str]) -> dict[str, StoredStory]:
        """The stored version of each of these stories (refreshed first; missing ids left out)."""
        if not ids:
            return {}
        self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        res = self.es.search(
            index=self.names.stories,
            query={"ids": {"values": list(ids)}},
            size=len(ids),
            seq_no_primary_term=True,
            **_LENIENT,
        )
        out: dict[str, StoredStory] = {}
        for h in res["hits"]["hits"]:
            src = h["_source"]
            story = story_from_doc(src)
            out[h["_id"]] = StoredStory(
                index=h["_index"],
                seq_no=int(h["_seq_no"]),
                primary_term=int(h["_primary_term"]),
                story=story,
                history=list(src.get("history") or []),
                grouped=src.get("grouped") is not False,
                seen_at=parse_dt(src.get("updated_at")) or story.fetched_at,
                first_grouped_at=parse_dt(src.get("first_grouped_at"))
                or parse_dt(src.get("grouped_at")),
            )
        return out

    @translated
    def revise(self, stored: StoredStory, doc: dict[str, Any]) -> bool:
        """Write `doc` over the story if it is still the version read; False when another
        writer got there first (re-read and decide again)."""
        try:
            self.es.update(
                index=stored.index,
                id=stored.story.id,
                doc=doc,
                if_seq_no=stored.seq_no,
                if_primary_term=stored.primary_term,
            )
        except ConflictError:
            return False
        return True

    @translated
    def matching(self, queries: Sequence[str], ids: Sequence[str]) -> list[set[str]]:
        """For each alert-rule query, which of these grouped stories it matches now.

        A query Elasticsearch refuses matches nothing here: `alerts` reports bad rules.
        """
        if not queries or not ids:
            return [set() for _ in queries]
        self.es.indices.refresh(index=self.names.stories, **_LENIENT)
        only = {"ids": {"values": list(ids)}}
        searches: list[dict[str, Any]] = []
        for q in queries:
            searches += [
                {"index": self.names.stories, **_LENIENT},
                {
                    "size": len(ids),
                    "_source": False,
                    "query": {"bool": {"must": [_rule_query(q)], "filter": [only, GROUPED]}},
                },
            ]
        res = self.es.msearch(searches=searches)
        return [
            set() if "error" in r else {h["_id"] for h in r["hits"]["hits"]}
            for r in res["responses"]
        ]

    @translated
    def mark_new_match(self, stored: StoredStory, rules: Sequence[str], now: datetime) -> None:
        """Put an updated story back into the alert window: its new text matches these rules
        for the first time. `grouped_at` is what alert windows select on; the first one is
        kept as `first_grouped_at` so the rules that matched before are not sent it again."""
        doc: dict[str, Any] = {"grouped_at": iso(now), "new_match": sorted(set(rules))}
        if stored.first_grouped_at is not None:
            doc["first_grouped_at"] = iso(stored.first_grouped_at)
        self.es.update(index=stored.index, id=stored.story.id, doc=doc)
