"""The poll: fetch due feeds, parse, dedupe, tag and index their new stories, save feed state.

One failing feed is a row in the report, never an exception: the others go on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from monitor.clock import utcnow
from monitor.config import FeedConfig, Settings
from monitor.dedupe import annotate
from monitor.fetch import PARSE_ERROR, FeedRequest, fetch_feeds
from monitor.models import FeedState, FetchResult, Story
from monitor.parse import parse_feed
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.feed_notices import tell_operator
from monitor.pipeline.fulltext import fill_content
from monitor.pipeline.grouping import group_pending
from monitor.pipeline.schedule import (
    SchedulePolicy,
    max_age_seconds,
    next_due,
    retry_after_seconds,
    server_delay,
    ttl_minutes,
)
from monitor.pipeline.updates import apply_updates
from monitor.store import Store
from monitor.tagging import Tagger

__all__ = [
    "DUE_SLACK",
    "STEP_FEEDS",
    "due_feeds",
    "feed_batches",
    "poll",
    "schedule_policy",
    "tag_stories",
]

log = logging.getLogger(__name__)

# A feed polled by a 5-minute schedule with a 5-minute interval must not slip a whole tick
# because the previous run finished a few seconds "late".
DUE_SLACK = timedelta(seconds=30)


def due_feeds(settings: Settings, states: dict[str, FeedState], now: datetime) -> list[str]:
    """Enabled feeds whose next poll is due (never polled = due; gone = never, until the
    configured URL changes)."""
    due = []
    for f in settings.feeds:
        if not f.enabled:
            continue
        st = states.get(f.id)
        if st is None or st.url != f.url or st.last_polled is None:
            due.append(f.id)
        elif st.status == "gone":
            continue
        elif st.next_due is not None:
            if now + DUE_SLACK >= st.next_due:
                due.append(f.id)
        elif now - st.last_polled + DUE_SLACK >= _interval(settings, f):
            # A state written before feeds had a schedule.
            due.append(f.id)
    return due


def _interval(settings: Settings, f: FeedConfig) -> timedelta:
    return timedelta(seconds=f.interval or settings.default_interval)


def schedule_policy(settings: Settings) -> SchedulePolicy:
    """The schedule settings as the pure scheduler takes them."""
    return SchedulePolicy(
        max_interval=timedelta(seconds=settings.max_interval),
        dead_after=settings.dead_after,
        dead_probe=timedelta(seconds=settings.dead_probe),
    )


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


def _requests(
    feeds: Sequence[FeedConfig], states: dict[str, FeedState], unconditional_every: int
) -> list[FeedRequest]:
    requests = []
    for f in feeds:
        st = states.get(f.id)
        # Validators and a redirect's new home belong to the configured URL they came from.
        known = st if st is not None and st.url == f.url else None
        # Every N-th poll goes without validators: some servers answer 304 when they have news.
        conditional = known is not None and known.conditional_polls + 1 < unconditional_every
        requests.append(
            FeedRequest(
                feed_id=f.id,
                url=(known.effective_url if known else None) or f.url,
                etag=known.etag if known and conditional else None,
                last_modified=known.last_modified if known and conditional else None,
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

    url: str  # the configured URL
    status: int | None
    error: str | None
    validators: tuple[str | None, str | None] | None  # None: keep the stored ones
    base: timedelta  # the feed's configured interval
    policy: SchedulePolicy
    new: int = 0
    # The body was cut short or not well-formed: drop the validators, so the next poll asks
    # for the whole feed even when the server's ETag did not change.
    forget_validators: bool = False
    error_class: str | None = None
    conditional: bool = False
    body_sha256: str | None = None  # of a new body read in full; None: keep the stored one
    moved_to: str | None = None
    ttl_minutes: int | None = None  # None: no body read this time (keep the stored one)
    max_age: float | None = None
    retry_after: float | None = None
    # The state as written by the last `apply` (the one that won the compare-and-set).
    state: FeedState | None = None

    def apply(self, feed_id: str, current: FeedState | None, now: datetime) -> FeedState:
        st = current or FeedState(feed_id=feed_id, url=self.url)
        if st.url != self.url:
            # The configured URL changed: what was learnt about the old one does not carry
            # over (validators, a redirect's target, a 410).
            st.etag = st.last_modified = st.body_sha256 = st.effective_url = None
            st.status = "ok" if st.status == "gone" else st.status
        was = st.status
        st.url, st.last_polled, st.last_status = self.url, now, self.status
        if self.moved_to:
            st.effective_url = self.moved_to
        st.conditional_polls = st.conditional_polls + 1 if self.conditional else 0
        if self.ttl_minutes is not None:
            st.ttl_minutes = self.ttl_minutes or None
        if self.error:
            st.last_error, st.error_class = self.error, self.error_class
            st.consecutive_failures += 1
            st.failing_since = st.failing_since or now
            if self.status == 410:
                st.status = "gone"
            elif st.consecutive_failures >= self.policy.dead_after:
                st.status = "dead"
            else:
                st.status = "failing"
            asked = server_delay(ttl_minutes=None, max_age=None, retry_after=self.retry_after)
        else:
            if was in ("dead", "gone"):  # the operator was told it died: tell it is back
                st.revived_from, st.revived_at = st.failing_since, now
            st.last_success, st.last_error, st.error_class = now, None, None
            st.consecutive_failures, st.failing_since, st.status = 0, None, "ok"
            asked = server_delay(
                ttl_minutes=st.ttl_minutes, max_age=self.max_age, retry_after=self.retry_after
            )
        st.next_due = next_due(
            feed_id,
            now,
            self.base,
            self.policy,
            status=st.status,
            error_class=st.error_class,
            failures=st.consecutive_failures,
            asked=asked,
        )
        if self.forget_validators:
            st.etag = st.last_modified = st.body_sha256 = None
        elif self.validators is not None:
            etag, modified = self.validators
            st.etag, st.last_modified = etag, modified
            st.body_sha256 = self.body_sha256 or st.body_sha256
        st.stories_total += self.new
        self.state = st
        return st


class _Batch:
    """What one poll learnt feed by feed: report rows, outcomes, parsed stories."""

    def __init__(self, settings: Settings, states: dict[str, FeedState]) -> None:
        self.settings = settings
        self.states = states
        self.policy = schedule_policy(settings)
        self.rows: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, _Outcome] = {}
        self.stories: list[Story] = []

    def _stored_hash(self, f: FeedConfig) -> str | None:
        st = self.states.get(f.id)
        return st.body_sha256 if st is not None and st.url == f.url else None

    def record(self, f: FeedConfig, req: FeedRequest, res: FetchResult, now: datetime) -> None:
        row: dict[str, Any] = {
            "feed": f.id,
            "status": "ok",
            "items": 0,
            "new": 0,
            "warnings": 0,
            "error": None,
            "error_class": res.error_class,
        }
        error = _feed_error(res)
        complete = True
        body_hash = hashlib.sha256(res.body or b"").hexdigest()
        changed = False
        ttl: int | None = None
        if error is None and res.not_modified:
            row["status"] = "not modified"
        elif error is None and body_hash == self._stored_hash(f):
            # The very body read in full last time, under new (or no) validators: nothing to
            # parse or index.
            row["status"] = "unchanged"
        elif error is None:
            parsed = parse_feed(
                res.body or b"",
                feed_id=f.id,
                outlet=f.name,
                base_url=res.final_url or f.url,
                fetched_at=now,
                default_lang=f.language,
                content_type=res.content_type,
                max_entries=self.settings.max_entries_per_feed,
            )
            complete = parsed.complete
            ttl = ttl_minutes(res.body) or 0  # 0: read, and the feed asks for nothing
            if parsed.error:
                error = parsed.error
                row["error_class"] = PARSE_ERROR
            else:
                changed = True
                row["items"] = len(parsed.stories)
                # Skipped entries and recoverable XML errors: counted, so a feed that silently
                # loses items shows up in the report rather than nowhere.
                row["warnings"] = len(parsed.warnings)
                self.stories.extend(parsed.stories)
        if error:
            row["status"], row["error"] = "error", error
            log.warning("feed %s failed: %s", f.id, error)
        # Validators are stored only with a new body read in full, so they always stand for
        # the body whose hash is stored beside them.
        validators = (res.etag, res.last_modified) if changed else None
        self.outcomes[f.id] = _Outcome(
            f.url,
            res.status,
            error,
            validators,
            base=_interval(self.settings, f),
            policy=self.policy,
            forget_validators=not complete,
            error_class=(row["error_class"] or "other") if error else None,
            conditional=bool(req.etag or req.last_modified),
            body_sha256=body_hash if changed and complete else None,
            moved_to=res.moved_to,
            ttl_minutes=ttl,
            max_age=max_age_seconds(res.cache_control),
            retry_after=retry_after_seconds(res.retry_after, now),
        )
        self.rows[f.id] = row


# Feeds parsed, tagged and indexed per step of a poll: the stories of a whole 1,000-feed batch
# (about 12 KB each in memory, most of it LSH band strings) are never all held at once.
STEP_FEEDS = 200


@dataclass
class _Step:
    created: set[str]
    unstored_feeds: set[str]
    errors: list[str]
    fulltext: dict[str, Any]
    updates: dict[str, Any]


def _add_counts(total: dict[str, Any], step: dict[str, Any]) -> None:
    """Add one step's report into the poll's: numbers summed, lists joined."""
    for k, v in step.items():
        total[k] = total[k] + v if k in total else v


def _index_new(
    store: Store, settings: Settings, b: _Batch, tagger_of: Callable[[], Tagger], now: datetime
) -> _Step:
    """Tag and index the stories of `b` not stored yet (their full text first, for full-text
    feeds), count each feed's new ones, and version the known ones whose text changed."""
    if not b.stories:
        # Every feed of the step answered 304, was unchanged or failed: nothing to look up,
        # tag or index (and no taxonomy to compile, a second and a half of a 304 poll).
        return _Step(set(), set(), [], {}, {})
    tagger = tagger_of()
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
    tag_stories(new, tagger)
    updates = apply_updates(
        store, settings, [s for s in b.stories if s.id in existing], tagger, now
    )
    indexed = store.stories.index(new, now=now, existing=existing)
    for e in indexed.errors:
        log.error("story not indexed: %s", e)
    created = set(indexed.created)
    stored = created | set(indexed.skipped)
    unstored_feeds = set()
    for s in new:
        if s.id in created:
            b.rows[s.feed_id]["new"] += 1
        elif s.id not in stored:
            unstored_feeds.add(s.feed_id)
    return _Step(created, unstored_feeds, indexed.errors, fulltext, updates)


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
    requests = _requests(feeds, states, settings.unconditional_every)
    results = fetch_feeds(
        requests,
        timeout=settings.fetch_timeout,
        concurrency=settings.fetch_concurrency,
        allow_private=settings.allow_private_feeds,
    )
    b = _Batch(settings, states)
    created: set[str] = set()
    unstored_feeds: set[str] = set()
    index_errors: list[str] = []
    fulltext: dict[str, Any] = {"requested": 0, "extracted": 0, "warnings": []}
    updates: dict[str, Any] = {"updated": 0, "new_match": 0, "conflicts": 0}
    seen = 0
    fetched = list(zip(feeds, requests, results, strict=True))
    for i in range(0, len(fetched), STEP_FEEDS):
        for f, req, res in fetched[i : i + STEP_FEEDS]:
            b.record(f, req, res, now)
            # Parsed: the body is not needed again, and a thousand feeds' bodies add up.
            res.body = None
        seen += len(b.stories)
        step = _index_new(store, settings, b, partial(tagger_for, settings), now)
        _add_counts(fulltext, step.fulltext)
        _add_counts(updates, step.updates)
        created |= step.created
        unstored_feeds |= step.unstored_feeds
        index_errors += step.errors
        b.stories = []  # indexed (or reported): the next step's stories take their place
    # Stored pending: the grouping step decides clusters and events, one process at a time.
    grouping = group_pending(store, settings.dedupe_window_days, now)
    for fid, outcome in b.outcomes.items():
        outcome.new = b.rows[fid]["new"]
        # A feed whose stories failed to index keeps its old validators: the next poll then
        # gets the whole feed again instead of a 304 that would lose those stories for good.
        if fid in unstored_feeds:
            outcome.validators = None
    store.feeds.update({fid: partial(o.apply, fid, now=now) for fid, o in b.outcomes.items()})
    written = [o.state for o in b.outcomes.values() if o.state is not None]
    told = tell_operator(settings, store, written, now)
    report = {
        "feeds": list(b.rows.values()),
        "feeds_polled": len(feeds),
        "feeds_failed": sum(1 for r in b.rows.values() if r["status"] == "error"),
        "stories_seen": seen,
        "stories_new": len(created),
        "duplicates_clustered": grouping["clustered"],
        "stories_updated": updates["updated"],
        "updates": updates,
        # Counts in one cell; the warnings one line each (the table prints a list that way).
        "fulltext": {k: v for k, v in fulltext.items() if k != "warnings"},
        "fulltext_warnings": fulltext["warnings"],
        "index_errors": index_errors,
        "grouping": {k: v for k, v in grouping.items() if k != "clustered"},
        "operator_told": told,
    }
    log.info(
        "polled %d feeds (%d failed): %d new stories, %d clustered as copies",
        report["feeds_polled"],
        report["feeds_failed"],
        report["stories_new"],
        report["duplicates_clustered"],
    )
    return report
