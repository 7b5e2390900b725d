"""The poll: fetch due feeds, parse, dedupe, tag and index their new stories, save feed state.

One failing feed is a row in the report, never an exception: the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from monitor.clock import utcnow
from monitor.config import FeedConfig, Settings
from monitor.dedupe import annotate
from monitor.fetch import FeedRequest, fetch_feeds
from monitor.models import FeedState, FetchResult, Story
from monitor.parse import parse_feed
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.fulltext import fill_content
from monitor.pipeline.grouping import group_pending
from monitor.pipeline.updates import apply_updates
from monitor.tagging import Tagger

__all__ = ["DUE_SLACK", "due_feeds", "feed_batches", "poll", "tag_stories"]

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
    settings: Settings, batch_size: int = 10, now: datetime | None = None, *, force: bool = False
) -> list[list[str]]:
    """Ids of the feeds due at `now` (default: the clock), in batches for parallel poll tasks.

    `force` takes every enabled feed, due or not (a manual "poll everything now").
    """
    if force:
        due = [f.id for f in settings.feeds if f.enabled]
    else:
        store = open_store(settings)
        states = store.feeds.load([f.id for f in settings.feeds])
        due = due_feeds(settings, states, now or utcnow())
    return [due[i : i + batch_size] for i in range(0, len(due), batch_size)]


def tag_stories(stories: Sequence[Story], tagger: Tagger) -> None:
    """Tag new stories and fill the dedupe fields that depend on each story alone."""
    for s in stories:
        annotate(s)
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


@dataclass
class _Outcome:
    """What one poll learnt about one feed, applied later to the feed's state as stored then."""

    url: str
    status: int | None
    error: str | None
    validators: tuple[str | None, str | None] | None  # None: keep the stored ones
    new: int = 0
    # The body was cut short or not well-formed: drop the validators, so the next poll asks
    # for the whole feed even when the server's ETag did not change.
    forget_validators: bool = False

    def apply(self, feed_id: str, current: FeedState | None, now: datetime) -> FeedState:
        st = current or FeedState(feed_id=feed_id, url=self.url)
        same_url = st.url == self.url  # validators belong to a URL
        st.url, st.last_polled, st.last_status = self.url, now, self.status
        if self.error:
            st.last_error = self.error
            st.consecutive_failures += 1
        else:
            st.last_success, st.last_error, st.consecutive_failures = now, None, 0
        if self.forget_validators:
            st.etag = st.last_modified = None
        elif self.validators is not None:
            etag, modified = self.validators
            st.etag = etag or (st.etag if same_url else None)
            st.last_modified = modified or (st.last_modified if same_url else None)
        st.stories_total += self.new
        return st


class _Batch:
    """What one poll learnt feed by feed: report rows, outcomes, parsed stories."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.rows: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, _Outcome] = {}
        self.stories: list[Story] = []

    def record(self, f: FeedConfig, res: FetchResult, now: datetime) -> None:
        row: dict[str, Any] = {
            "feed": f.id,
            "status": "ok",
            "items": 0,
            "new": 0,
            "warnings": 0,
            "error": None,
        }
        error = _feed_error(res)
        complete = True
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
                max_entries=self.max_entries,
            )
            complete = parsed.complete
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
            log.warning("feed %s failed: %s", f.id, error)
        validators = None if error else (res.etag, res.last_modified)
        self.outcomes[f.id] = _Outcome(
            f.url, res.status, error, validators, forget_validators=not complete
        )
        self.rows[f.id] = row


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
    b = _Batch(settings.max_entries_per_feed)
    for f, res in zip(feeds, results, strict=True):
        b.record(f, res, now)

    existing = store.stories.locate([s.id for s in b.stories])
    fresh: dict[str, Story] = {}
    for s in sorted(b.stories, key=_arrival_key):
        if s.id not in existing:
            fresh.setdefault(s.id, s)  # the same item in two feeds of one outlet
    new = list(fresh.values())
    fulltext = fill_content(new, settings)
    for s in new:
        if s.content_warning:
            b.rows[s.feed_id]["warnings"] += 1
    tagger = tagger_for(settings)
    tag_stories(new, tagger)
    updates = apply_updates(
        store, settings, [s for s in b.stories if s.id in existing], tagger, now
    )
    # Stored pending: the grouping step decides clusters and events, one process at a time.
    indexed = store.stories.index(new, now=now)
    for e in indexed.errors:
        log.error("story not indexed: %s", e)
    created = set(indexed.created)
    grouping = group_pending(store, settings.dedupe_window_days, now)
    stored = created | set(indexed.skipped)
    unstored_feeds = set()
    for s in new:
        if s.id in created:
            b.rows[s.feed_id]["new"] += 1
        elif s.id not in stored:
            unstored_feeds.add(s.feed_id)
    for fid, outcome in b.outcomes.items():
        outcome.new = b.rows[fid]["new"]
        # A feed whose stories failed to index keeps its old validators: the next poll then
        # gets the whole feed again instead of a 304 that would lose those stories for good.
        if fid in unstored_feeds:
            outcome.validators = None
    store.feeds.update({fid: partial(o.apply, fid, now=now) for fid, o in b.outcomes.items()})
    report = {
        "feeds": list(b.rows.values()),
        "feeds_polled": len(feeds),
        "feeds_failed": sum(1 for r in b.rows.values() if r["status"] == "error"),
        "stories_seen": len(b.stories),
        "stories_new": len(created),
        "duplicates_clustered": grouping["clustered"],
        "stories_updated": updates["updated"],
        "updates": updates,
        # Counts in one cell; the warnings one line each (the table prints a list that way).
        "fulltext": {k: v for k, v in fulltext.items() if k != "warnings"},
        "fulltext_warnings": fulltext["warnings"],
        "index_errors": indexed.errors,
        "grouping": {k: v for k, v in grouping.items() if k != "clustered"},
    }
    log.info(
        "polled %d feeds (%d failed): %d new stories, %d clustered as copies",
        report["feeds_polled"],
        report["feeds_failed"],
        report["stories_new"],
        report["duplicates_clustered"],
    )
    return report
