"""Reading stories back for people: `newsmon search`.

The query language is the one alert rules and Kibana's Lucene mode use (`query_string`) over the
same fields the rules search, so a query tried here behaves as the rule it becomes. Results are
newest first by publish time (fetch time when a feed gave none); with ``unique`` one row per
event (reports of one event, reworded or in another language, share an ``event_id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from monitor.store.documents import iso, parse_dt
from monitor.store.errors import StoreError, translated
from monitor.store.names import IndexNames
from monitor.store.stories import _RULE_FIELDS as RULE_FIELDS
from monitor.text import search_fold

__all__ = ["HIGHLIGHT_TAGS", "SearchHit", "SearchRequest", "SearchResult", "StorySearch"]

# Around each highlighted match. Feed text is plain text by the time it is stored (HTML is
# stripped at parse time), so these tags cannot clash with the story's own text.
HIGHLIGHT_TAGS = ("<mark>", "</mark>")
# Highlight the readable fields first; text_folded (lower-cased, diacritics folded) only when
# the match was on a folded spelling alone ("erdogan" for "Erdoğan").
_HIGHLIGHT_FIELDS = ("title", "summary", "content", "text_folded")
_SOURCE = [
    "id",
    "title",
    "summary",
    "outlet",
    "lang",
    "url",
    "published",
    "fetched_at",
    "topics",
    "people",
    "places",
    "cluster_id",
    "event_id",
    "is_primary",
    "cluster_size",
    "outlets",
]
# Outlets listed per event with `unique`: enough for a table cell.
_EVENT_OUTLETS = 20
_LENIENT: dict[str, Any] = {"ignore_unavailable": True, "allow_no_indices": True}


@dataclass(frozen=True)
class SearchRequest:
    """What to look for. Empty `query` matches every story; filters are exact keyword matches
    (``person`` ignores case)."""

    query: str = ""
    topic: str | None = None
    person: str | None = None
    lang: str | None = None
    since: datetime | None = None
    unique: bool = False
    limit: int = 20


@dataclass(frozen=True)
class SearchHit:
    id: str
    event_id: str
    title: str
    outlet: str
    lang: str | None
    url: str
    published: datetime | None
    fetched_at: datetime | None
    topics: list[str]
    people: list[str]
    places: list[str]
    # The best fragment of the matching text, matches between HIGHLIGHT_TAGS ("" for no query).
    highlight: str
    # Outlets that carried the story (its cluster, on a primary) or, with `unique`, the event.
    outlets: list[str]
    # Matching reports of this row's event (1 without `unique`).
    reports: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "title": self.title,
            "outlet": self.outlet,
            "lang": self.lang,
            "url": self.url,
            "published": iso(self.published),
            "fetched_at": iso(self.fetched_at),
            "topics": self.topics,
            "people": self.people,
            "places": self.places,
            "highlight": self.highlight,
            "outlets": self.outlets,
            "reports": self.reports,
        }


@dataclass(frozen=True)
class SearchResult:
    total: int  # matching stories (all copies)
    events: int  # distinct events among them
    hits: list[SearchHit] = field(default_factory=list)


def build_query(req: SearchRequest) -> dict[str, Any]:
    """The Elasticsearch query for a request (pure; the search body's ``query``)."""
    must: list[dict[str, Any]] = []
    if req.query.strip():
        must.append(
            {
                "query_string": {
                    "query": req.query,
                    "fields": RULE_FIELDS,
                    "default_operator": "AND",
                }
            }
        )
    filters: list[dict[str, Any]] = []
    if req.topic:
        filters.append({"term": {"topics": req.topic}})
    if req.person:
        filters.append({"term": {"people": {"value": req.person, "case_insensitive": True}}})
    if req.lang:
        filters.append({"term": {"lang": req.lang.lower()}})
    if req.since is not None:
        cutoff = iso(req.since)
        # Publish time is what an analyst means; a story without one counts from its fetch.
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {"published": {"gte": cutoff}}},
                        {
                            "bool": {
                                "must_not": {"exists": {"field": "published"}},
                                "filter": {"range": {"fetched_at": {"gte": cutoff}}},
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def build_body(req: SearchRequest) -> dict[str, Any]:
    """The whole search body for a request (pure)."""
    body: dict[str, Any] = {
        "query": build_query(req),
        "size": req.limit,
        "sort": [
            {"published": {"order": "desc", "missing": "_last"}},
            {"fetched_at": {"order": "desc"}},
            {"id": "asc"},
        ],
        "_source": _SOURCE,
        "track_total_hits": True,
        "aggs": {"events": {"cardinality": {"field": "event_id"}}},
    }
    if req.query.strip():
        body["highlight"] = {
            "pre_tags": [HIGHLIGHT_TAGS[0]],
            "post_tags": [HIGHLIGHT_TAGS[1]],
            "require_field_match": False,
            "fields": {
                "title": {"number_of_fragments": 0},
                "summary": {"fragment_size": 160, "number_of_fragments": 1},
                "content": {"fragment_size": 160, "number_of_fragments": 1},
                "text_folded": {"fragment_size": 160, "number_of_fragments": 1},
            },
        }
    if req.unique:
        # The newest matching report stands for its event; inner hits name the others' outlets.
        body["collapse"] = {
            "field": "event_id",
            "inner_hits": {
                "name": "reports",
                "size": _EVENT_OUTLETS,
                "_source": ["outlet"],
                "sort": [{"fetched_at": "asc"}],
            },
        }
    return body


_MARKED = re.compile(re.escape(HIGHLIGHT_TAGS[0]) + "(.*?)" + re.escape(HIGHLIGHT_TAGS[1]))
_WORD = re.compile(r"\w+(?:['’]\w+)*")


def _mark_folded(text: str, terms: set[str]) -> str:
    """`text` with every word whose folded form is one of `terms` marked ("" if none is)."""
    out, last, hit = [], 0, False
    for m in _WORD.finditer(text):
        if set(search_fold(m.group(0)).split()) & terms:
            out += [text[last : m.start()], HIGHLIGHT_TAGS[0], m.group(0), HIGHLIGHT_TAGS[1]]
            last, hit = m.end(), True
    return "".join([*out, text[last:]]) if hit else ""


def _highlight(hit: dict[str, Any]) -> str:
    found = hit.get("highlight") or {}
    for name in _HIGHLIGHT_FIELDS[:-1]:
        if found.get(name):
            return str(found[name][0])
    folded = found.get("text_folded")
    if not folded:
        return ""
    # Matched on a folded spelling only ("erdogan" for "Erdoğan"): mark the same words in the
    # text people read rather than show the lower-cased, diacritic-free copy.
    terms = {t.lower() for frag in folded for t in _MARKED.findall(frag)}
    src = hit["_source"]
    for text in (src.get("title") or "", src.get("summary") or ""):
        marked = _mark_folded(text, terms)
        if marked:
            return marked
    return str(folded[0])


def hit_from(hit: dict[str, Any]) -> SearchHit:
    """A result row from one search hit (collapsed or not)."""
    src = hit["_source"]
    outlets = list(src.get("outlets") or [])
    reports = 1
    inner = (hit.get("inner_hits") or {}).get("reports")
    if inner is not None:
        reports = int(inner["hits"]["total"]["value"])
        seen = {h["_source"].get("outlet") for h in inner["hits"]["hits"]}
        outlets = sorted({*outlets, *(o for o in seen if o)})
    if not outlets and src.get("outlet"):
        outlets = [src["outlet"]]
    return SearchHit(
        id=src.get("id") or hit["_id"],
        event_id=src.get("event_id") or src.get("cluster_id") or hit["_id"],
        title=src.get("title", ""),
        outlet=src.get("outlet", ""),
        lang=src.get("lang"),
        url=src.get("url", ""),
        published=parse_dt(src.get("published")),
        fetched_at=parse_dt(src.get("fetched_at")),
        topics=list(src.get("topics") or []),
        people=list(src.get("people") or []),
        places=list(src.get("places") or []),
        highlight=_highlight(hit),
        outlets=outlets,
        reports=reports,
    )


class StorySearch:
    """Searches over the stories alias for people (the CLI); alerts use `StoryIndex`."""

    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def run(self, req: SearchRequest) -> SearchResult:
        """Run a request. A query Elasticsearch cannot parse raises StoreError saying so."""
        if req.limit < 1:
            raise StoreError("--limit must be at least 1")
        try:
            res = self.es.search(index=self.names.stories, **build_body(req), **_LENIENT)
        except BadRequestError as e:
            raise StoreError(
                f"the query {req.query!r} is not valid Lucene syntax: {_reason(e)} "
                '(quote phrases, e.g. people:"Ismail Haniyeh" AND ceasefire)'
            ) from None
        hits = [hit_from(h) for h in res["hits"]["hits"]]
        total = int(res["hits"]["total"]["value"])
        events = int(res.get("aggregations", {}).get("events", {}).get("value", 0))
        return SearchResult(total=total, events=events, hits=hits)


def _reason(e: BadRequestError) -> str:
    """The innermost reason Elasticsearch gave, on one line."""
    err = e.body.get("error") if isinstance(e.body, dict) else None
    reason: Any = e.message
    while isinstance(err, dict):
        reason = err.get("reason") or reason
        causes = err.get("root_cause") or []
        err = err.get("caused_by") or (causes[0] if causes else None)
    return " ".join(str(reason).split())
