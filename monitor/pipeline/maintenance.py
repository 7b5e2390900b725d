"""Keeping newsmon healthy: retention, merging finished months, the health report, re-tagging."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import utcnow
from monitor.config import Settings
from monitor.mail import Mailer, MailError, render_watchdog
from monitor.models import Delivery, FeedState, Story
from monitor.pipeline.context import open_store, tagger_for
from monitor.pipeline.delivery import report_abandoned_sends
from monitor.store import Store, retention_cutoff
from monitor.store.ledger import ClaimPolicy

__all__ = ["feed_health", "maintain", "retag", "watchdog"]

log = logging.getLogger(__name__)


def maintain(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Drop story months past retention; report failing feeds and stuck deliveries."""
    store = open_store(settings)
    now = now or utcnow()
    dropped = store.lifecycle.drop_months_before(retention_cutoff(now, settings.retention_months))
    for name in dropped:
        log.info("retention: dropped %s", name)
    compacted = store.lifecycle.compact_finished_months(now)
    states = store.feeds.load([f.id for f in settings.feeds])
    unhealthy = []
    for f in settings.feeds:
        st = states.get(f.id)
        if st is None:
            unhealthy.append({"feed": f.id, "problem": "never polled"})
        elif st.consecutive_failures:
            # dead or gone first: those are the feeds nobody will see again unless told.
            state = f"{st.status}: " if st.status in ("dead", "gone") else ""
            problem = f"{state}{st.consecutive_failures} failures: {st.last_error}"
            unhealthy.append({"feed": f.id, "problem": problem})
        elif st.last_success and now - st.last_success > timedelta(days=1):
            unhealthy.append(
                {"feed": f.id, "problem": f"no success since {st.last_success:%Y-%m-%d %H:%M}Z"}
            )
    # A run that died mid-send left these `sending`: their fate is unknown (see
    # docs/operations.md); they become `ambiguous` and the operator is told once.
    stuck = report_abandoned_sends(settings, store, now)
    if stuck:
        log.warning("%d deliveries abandoned mid-send, now ambiguous: %s", len(stuck), stuck)
    switch = watchdog(settings, store, now)
    return {
        "dropped_indices": dropped,
        "compacted_indices": compacted,
        "unhealthy_feeds": unhealthy,
        "stuck_deliveries": stuck,
        **switch,
    }


WATCHDOG_MODE = "watchdog"


def watchdog(settings: Settings, store: Store, now: datetime) -> dict[str, Any]:
    """The dead man's switch: e-mail the operator once when no story has been indexed for
    NEWSMON_STALE_HOURS, and once when indexing resumes.

    Each e-mail is a ledger entry with an id derived from the last story indexed before the
    silence, created with op_type=create: two maintainers running at once cannot both send
    it, and a send that failed is retried by the next run.
    """
    last = store.stories.last_indexed()
    out: dict[str, Any] = {
        "last_indexed": last.isoformat() if last else None,
        "indexing_stale": bool(last and now - last >= timedelta(hours=settings.stale_hours)),
        "operator_told": None,
    }
    if last is None or not settings.operator_email:
        return out
    stamp = last.strftime("%Y%m%dT%H%M%SZ")
    if out["indexing_stale"]:
        kind, marker, since = "stale", f"watchdog-stale-{stamp}", last
    else:
        previous = store.ledger.latest(WATCHDOG_MODE)
        if previous is None or not previous.id.startswith("watchdog-stale-"):
            return out
        kind, marker = "resumed", previous.id.replace("-stale-", "-resumed-", 1)
        since = last
    d = Delivery(
        id=marker,
        subscriber=settings.operator_email,
        alert="dead man's switch",
        mode=WATCHDOG_MODE,
        story_ids=[],
        cluster_ids=[],
        status="claimed",
        created_at=now,
        period=stamp,
    )
    policy = ClaimPolicy(expiry=timedelta(minutes=settings.claim_expiry_minutes))
    if not store.ledger.claim(d, token=f"maintain-{uuid.uuid4().hex}", now=now, policy=policy):
        return out
    msg = render_watchdog(
        kind, marker, since, now, settings.stale_hours, settings.operator_email, settings.smtp
    )
    try:
        with Mailer(settings.smtp) as mailer:
            store.ledger.advance([], sending=d.id, now=now)
            mailer.send(msg)
    except MailError as e:
        status = "ambiguous" if e.ambiguous else "failed"
        store.ledger.mark(d.id, status, now=now, error=str(e))
        log.error("dead man's switch: %s e-mail not sent: %s", kind, e)
        out["operator_told"] = f"{kind}: not sent ({e})"
        return out
    store.ledger.mark(d.id, "sent", now=now)
    out["operator_told"] = kind
    return out


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def feed_health(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Per configured feed: status, schedule, last poll and success, failures, stories, last
    error; `items_7d` counts the stories first fetched in the 7 days before `now`."""
    store = open_store(settings)
    now = now or utcnow()
    ids = [f.id for f in settings.feeds]
    states = store.feeds.load(ids)
    recent = store.feeds.items_since(now - timedelta(days=7), ids)
    rows = []
    for f in settings.feeds:
        st = states.get(f.id)
        # A state recorded for another URL is the old URL's: this one starts over.
        current = st if st is not None and st.url == f.url else None
        status = current.status if current else "ok"
        rows.append(
            {
                "feed": f.id,
                "status": status if f.enabled else "disabled",
                "url": f.url,
                "effective_url": current.effective_url if current else None,
                "next_due": _iso(current.next_due) if current else None,
                "last_polled": _iso(st.last_polled) if st else None,
                "last_success": _iso(st.last_success) if st else None,
                "failures": st.consecutive_failures if st else 0,
                "error_class": st.error_class if st else None,
                "items_7d": recent.get(f.id, 0),
                "stories": st.stories_total if st else 0,
                "error": st.last_error if st else None,
            }
        )
    return {"feeds": rows}


def _tags(s: Story) -> tuple[object, ...]:
    return (s.topics, s.topic_scores, s.evidence, s.people, s.orgs, s.places)


def retag(
    settings: Settings,
    since: timedelta,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Re-tag stored stories first seen within `since` with the current taxonomy (idempotent)."""
    store = open_store(settings)
    tagger = tagger_for(settings)
    cutoff = (now or utcnow()) - since
    store.refresh()  # stories a poll indexed a moment ago are re-tagged too
    total = store.stories.count_since(cutoff)
    changed = 0

    def updates() -> Iterator[tuple[str, Story]]:
        nonlocal changed
        for n, (index, s) in enumerate(store.stories.scroll_since(cutoff), 1):
            before = _tags(s)
            r = tagger.tag(s.title, s.summary, s.content, s.lang)
            s.topics, s.topic_scores, s.evidence = r.topics, r.scores, r.evidence
            s.people, s.orgs, s.places = r.people, r.orgs, r.places
            if progress:
                progress(n)
            if _tags(s) != before:
                changed += 1
                yield index, s

    updated, errors = store.stories.update_tags(updates())
    log.info("retag: %d stories, %d changed, %d updated", total, changed, updated)
    return {"stories": total, "changed": changed, "updated": updated, "errors": errors[:10]}


def enable_feed(settings: Settings, feed_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Make a feed due at the next poll, whatever its health: an operator's "try it again".

    A gone feed (HTTP 410) is otherwise never polled again until its configured URL changes,
    and a dead one only once a probe interval. The feed becomes `failing` (not `ok`: it has
    not answered yet); a success then resets it as any success does, and a failure carries on
    its streak, so the operator is not told again about a death already reported. Applied
    compare-and-set, so a poll writing the feed's state at the same time is not overwritten.
    """
    feed = settings.feed(feed_id)
    store = open_store(settings)
    now = now or utcnow()
    seen: list[FeedState] = []

    def reopen(current: FeedState | None) -> FeedState:
        # A state recorded for another URL is the old URL's: the feed starts over anyway.
        if current is None or current.url != feed.url:
            current = FeedState(feed_id=feed_id, url=feed.url)
        seen[:] = [current]
        status = "failing" if current.status == "gone" else current.status
        return dataclasses.replace(current, status=status, next_due=now)

    store.feeds.update({feed_id: reopen})
    was = seen[0].status if seen else "ok"
    return {
        "feed": feed_id,
        "was": was,
        "status": "failing" if was == "gone" else was,
        "next_due": _iso(now),
        "enabled_in_config": feed.enabled,
    }
