"""The poll: fetch due feeds, parse, dedupe, tag and index their new stories, save feed state.

One failing feed is a row in the report, never an exception: the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import utcnow
from monitor.config import FeedConfig, Settings
from monitor.dedupe import annotate, apply_decision, assign_cluster
from monitor.fetch import FeedRequest, fetch_feeds
from monitor.models import FeedState, FetchResult, Story
from monitor.parse import parse_feed
from monitor.pipeline.context import open_store, tagger_for
from monitor.store import StoreLookup
from monitor.tagging import Tagger

__all__ = ["DUE_SLACK", "due_feeds", "enrich", "feed_batches", "poll"]

log = logging.getLogger(__name__)

# A feed polled by a 5-minute schedule with a 5-minute interval must not slip a whole tick
# because the previous run finished a few seconds "late".
DUE_SLACK = timedelta(seconds=30)


def due_feeds(settings: Settings, states: dict[str, FeedState], now: datetime) -> list[str]:
    """Enabled feeds whose interval has elapsed since their last poll (never polled = due)."""
    due = []
    for f in settings.feeds:
        if not f.enabled:
            continue
        st = states.get(f.id)
        interval = timedelta(seconds=f.interval or settings.default_interval)
        if st is None or st.last_polled is None or now - st.last_polled + DUE_SLACK >= interval:
            due.append(f.id)
    return due


def feed_batches(
    settings: Settings, batch_size: int = 10, now: datetime | None = None
) -> list[list[str]]:
    """Ids of the feeds due at `now` (default: the clock), in batches for parallel poll tasks."""
    store = open_store(settings)
    states = store.feeds.load([f.id for f in settings.feeds])
    due = due_feeds(settings, states, now or utcnow())
    return [due[i : i + batch_size] for i in range(0, len(due), batch_size)]


def enrich(stories: Sequence[Story], lookup: StoreLookup, tagger: Tagger, window_days: int) -> None:
    """Dedupe and tag new stories in arrival order (oldest published first)."""
    for s in stories:
        annotate(s)
        apply_decision(s, assign_cluster(s, lookup, window_days=window_days))
        lookup.memory.add(s)
        result = tagger.tag(s.title, s.summary, s.content, s.lang)
        s.topics = result.topics
        s.topic_scores = result.scores
        s.evidence = result.evidence
        s.people, s.orgs, s.places = result.people, result.orgs, result.places
        s.lang = s.lang or result.lang


def _arrival_key(s: Story) -> tuple[datetime, str]:
    return (s.published or s.fetched_at, s.id)


def _requests(feeds: Sequence[FeedConfig], states: dict[str, FeedState]) -> list[FeedRequest]:
    requests = []
    for f in feeds:
        st = states.get(f.id)
        same_url = st is not None and st.url == f.url  # validators belong to a URL
        requests.append(
            FeedRequest(
                feed_id=f.id,
                url=f.url,
                etag=st.etag if st and same_url else None,
                last_modified=st.last_modified if st and same_url else None,
            )
        )
    return requests


def _feed_error(res: FetchResult) -> str | None:
    if res.ok:
        return None
    return res.error or (f"HTTP {res.status}" if res.status else "fetch failed")


class _Batch:
    """What one poll learnt feed by feed: report rows, new states, parsed stories."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.states: list[FeedState] = []
        self.stories: list[Story] = []
        self.validators: dict[str, tuple[str | None, str | None]] = {}

    def record(self, f: FeedConfig, res: FetchResult, st: FeedState, now: datetime) -> None:
        st.url, st.last_polled, st.last_status = f.url, now, res.status
        row: dict[str, Any] = {
            "feed": f.id,
            "status": "ok",
            "items": 0,
            "new": 0,
            "warnings": 0,
            "error": None,
        }
        error = _feed_error(res)
        if error is None and res.not_modified:
            row["status"] = "not modified"
        elif error is None:
            parsed = parse_feed(
                res.body or b"",
                feed_id=f.id,
                outlet=f.name,
                base_url=res.final_url or f.url,
                fetched_at=now,
                default_lang=f.language,
                content_type=res.content_type,
            )
            if parsed.error:
                error = parsed.error
            else:
                row["items"] = len(parsed.stories)
                # Skipped entries and recoverable XML errors: counted, so a feed that silently
                # loses items shows up in the report rather than nowhere.
                row["warnings"] = len(parsed.warnings)
                self.stories.extend(parsed.stories)
        if error:
            row["status"], row["error"] = "error", error
            st.last_error = error
            st.consecutive_failures += 1
            log.warning("feed %s failed: %s", f.id, error)
        else:
            self.validators[f.id] = (res.etag or st.etag, res.last_modified or st.last_modified)
            st.last_success, st.last_error, st.consecutive_failures = now, None, 0
        self.rows[f.id] = row
        self.states.append(st)


def poll(
    settings: Settings, batch: Sequence[str] | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Fetch, parse, dedupe, tag and index the given feeds (None = every due feed).

    `now` (default: the clock, read once) is the poll's fetch and index time for every story
    and feed state it writes, so one poll lands in one monthly index.
    """
    store = open_store(settings)
    now = now or utcnow()
    states = store.feeds.load([f.id for f in settings.feeds if f.enabled])
    ids = list(batch) if batch is not None else due_feeds(settings, states, now)
    feeds = [settings.feed(i) for i in ids]
    results = fetch_feeds(
        _requests(feeds, states),
        timeout=settings.fetch_timeout,
        concurrency=settings.fetch_concurrency,
        allow_private=settings.allow_private_feeds,
    )
    b = _Batch()
    for f, res in zip(feeds, results, strict=True):
        b.record(f, res, states.get(f.id) or FeedState(feed_id=f.id, url=f.url), now)

    existing = store.stories.locate([s.id for s in b.stories])
    fresh: dict[str, Story] = {}
    for s in sorted(b.stories, key=_arrival_key):
        if s.id not in existing:
            fresh.setdefault(s.id, s)  # the same item in two feeds of one outlet
    new = list(fresh.values())
    enrich(new, store.lookup(), tagger_for(settings), settings.dedupe_window_days)
    indexed = store.stories.index(new, now=now)
    for e in indexed.errors:
        log.error("story not indexed: %s", e)
    created = set(indexed.created)
    store.stories.refresh_clusters(
        {s.cluster_id for s in new if s.id in created and not s.is_primary}
    )
    stored = created | set(indexed.skipped)
    unstored_feeds = set()
    for s in new:
        if s.id in created:
            b.rows[s.feed_id]["new"] += 1
        elif s.id not in stored:
            unstored_feeds.add(s.feed_id)
    for st in b.states:
        st.stories_total += b.rows[st.feed_id]["new"]
        # A feed whose stories failed to index keeps its old validators: the next poll then
        # gets the whole feed again instead of a 304 that would lose those stories for good.
        if st.feed_id in b.validators and st.feed_id not in unstored_feeds:
            st.etag, st.last_modified = b.validators[st.feed_id]
    store.feeds.save(b.states)
    report = {
        "feeds": list(b.rows.values()),
        "feeds_polled": len(feeds),
        "feeds_failed": sum(1 for r in b.rows.values() if r["status"] == "error"),
        "stories_seen": len(b.stories),
        "stories_new": len(created),
        "duplicates_clustered": sum(1 for s in new if s.id in created and not s.is_primary),
        "index_errors": indexed.errors,
    }
    log.info(
        "polled %d feeds (%d failed): %d new stories, %d clustered as copies",
        report["feeds_polled"],
        report["feeds_failed"],
        report["stories_new"],
        report["duplicates_clustered"],
    )
    return report
