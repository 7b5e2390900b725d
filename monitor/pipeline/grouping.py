"""The grouping step: decide the cluster (copies) and event of every pending story.

Polls write new stories as pending; this step groups them, one process at a time under a
lease in Elasticsearch, in arrival order, against the stories grouped before. Because passes
never overlap, N polls running at once on N hosts give the same groups as one poll, and
alerts, which only see grouped stories, never see a story whose group could still change.
Every pass fetches the candidates of all its stories in a few `_msearch` requests and decides
in memory: nothing per story waits on Elasticsearch. A run's earlier passes are candidates
from the look-ups' memory, not from the index (`next_pass`). So a pass is written on a thread
while the next one is read and decided (`_Writer`): the decisions never read the pass in flight
from the index, and a pass is handed over only once the one before it is written.

The pass records the unit of work's `now` as ``grouped_at``, the instant alert windows
select on. A poll ends within its execution timeout (10 minutes), inside the alert window's
15-minute overlap, so a story grouped late in a long poll is still in the next window.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.dedupe import EVENT_SPAN, annotate, apply_decision, assign_cluster, clear_caches
from monitor.dedupe.event_features import clear_event_caches
from monitor.dedupe.placing import is_recurring, place_event
from monitor.models import Story
from monitor.store import BatchLookup, GroupCounts, LeaseBusy, Store, StoreEventLookup

__all__ = ["GROUPING_LEASE", "decide_groups", "group_pending"]

log = logging.getLogger(__name__)

GROUPING_LEASE = "grouping"
# A pass of PASS_SIZE stories takes seconds; the lease is renewed after every pass.
LEASE_TTL = timedelta(minutes=2)
# How long a poll waits for another process's pass before leaving its stories pending (the
# holder's next pass, or the next poll or alert run, groups them).
LEASE_WAIT = timedelta(minutes=2)
# Stories per pass. A pass pays a fixed cost (refreshes, bulk writes, a lease renewal, ~0.4 s)
# and its memory grows with its size (its stories and the texts compared): a 1,000-feed first
# poll (20,000 stories) took 133 s and 353 MB at 250 per pass, 102 s and 419 MB at 1,000,
# when each pass waited for its writes. Written while the next pass is decided (`_Writer`),
# that fixed cost is off the decisions' path: 500 and 1,000 per pass both took 58-60 s, and
# 500 peaked at 410 MB against 455 MB. Pending stories come in arrival order
# (`ARRIVAL_ORDER`), so the size changes no decision.
PASS_SIZE = 500


def _arrival_key(s: Story) -> tuple[datetime, str]:
    return (s.published or s.fetched_at, s.id)


def decide_groups(
    stories: Sequence[Story],
    lookup: BatchLookup,
    window_days: int,
    events: StoreEventLookup | None = None,
    *,
    span: timedelta = EVENT_SPAN,
) -> None:
    """Decide each story's cluster, then its event, in arrival order; later stories see
    earlier ones. Without `events` a story's event is its cluster's."""
    ordered = sorted(stories, key=_arrival_key)
    for s in ordered:
        if not s.lsh_bands or not s.title_key:
            annotate(s)
    lookup.prefetch(ordered, {s.id: s.fetched_at - timedelta(days=window_days) for s in ordered})
    recurring: dict[str, bool] = {}
    for s in ordered:
        decision = assign_cluster(s, lookup, window_days=window_days)
        apply_decision(s, decision)
        recurring[s.id] = is_recurring(s, decision, lookup.get)
        s.event_id = s.cluster_id
        lookup.memory.add(s)
    if events is None:
        return
    # A cluster decision never depends on events, so deciding every cluster first and then
    # every event, both in arrival order, gives what `newsmon dedupe` gives interleaved; the
    # event candidates of the whole pass then come in three `_msearch` requests.
    events.prefetch(ordered, span)
    for s in ordered:
        place_event(s, events, recurring=recurring[s.id], span=span)
    for s in ordered:  # a later story of the pass may have merged the event it joined
        s.event_id = events.final_event(s.event_id)


def holder_id() -> str:
    """Who holds a lease: host and process, plus a nonce for two units in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Pass:
    """One pass's decisions, as handed to the writer."""

    stories: list[Story]
    relabels: dict[str, str]  # stored events the pass merged away: old id -> new id
    # Nothing was grouped before the run (a first poll, a backlog): see `_counted_here`.
    first: bool = False


def _counted_here(p: _Pass) -> tuple[dict[str, GroupCounts], dict[str, GroupCounts]]:
    """Counts of the clusters and events whose every member is in the pass, by primary id.

    When nothing was grouped before the run, a cluster or an event whose primary (first
    story) is in this pass has no member outside it: earlier passes were decided before it
    began, and no stored story was moved into it (it is no relabel's target). Its counts are
    then the pass's own, and are written with its stories instead of being recounted from the
    index after a refresh: two searches and a bulk request per pass, a third of a first poll's
    writes.
    """
    if not p.first:
        return {}, {}
    by_id = {s.id: s for s in p.stories}
    clusters: dict[str, list[Story]] = {}
    events: dict[str, list[Story]] = {}
    for s in p.stories:
        clusters.setdefault(s.cluster_id or s.id, []).append(s)
        events.setdefault(_event_of(s), []).append(s)
    targets = set(p.relabels.values())
    own_clusters = {
        cid: _counts(members)
        for cid, members in clusters.items()
        if cid in by_id and by_id[cid].is_primary
    }
    own_events = {
        eid: _counts(members)
        for eid, members in events.items()
        if eid in by_id and _event_of(by_id[eid]) == eid and eid not in targets
    }
    return own_clusters, own_events


def _event_of(s: Story) -> str:
    return s.event_id or s.cluster_id or s.id


def _counts(members: list[Story]) -> GroupCounts:
    seen = [m.fetched_at for m in members]
    return GroupCounts(
        size=len(members),
        outlets=Counter(m.outlet for m in members),
        languages=Counter(m.lang for m in members if m.lang),
        first_seen=min(seen),
        last_seen=max(seen),
    )


class _Writer:
    """Writes a grouping run's passes one after another on a thread, so the next pass is
    read and decided while the last one is written (in a 20,000-story first poll the writes
    took 18 s against 30 s of decisions, and the decisions had waited for them).

    A pass is handed over only once the one before it is written: passes land in order, at
    most one is in flight, and a failed write is seen before the next is sent, so the next
    pass (which may name the failed one's stories) is never written.
    """

    def __init__(self, store: Store, now: datetime, run: str, report: dict[str, Any]) -> None:
        self.store, self.now, self.run, self.report = store, now, run, report
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsmon-grouping")
        self._job: Future[list[str]] | None = None
        self._pass: _Pass | None = None

    def in_flight(self) -> set[str]:
        """Ids of the stories being written: still pending in the index meanwhile."""
        return {s.id for s in self._pass.stories} if self._pass else set()

    def submit(self, p: _Pass) -> None:
        assert self._job is None, "a pass is submitted only once the last one is written"
        self._pass, self._job = p, self._pool.submit(self._write, p)

    def wait(self) -> bool:
        """Wait for the pass in flight and count it; False when some of it was not written
        (those stories stay pending for a later run). A `StoreError` is raised here."""
        job, p = self._job, self._pass
        if job is None or p is None:
            return True
        self._job = self._pass = None
        errors = job.result()
        report = self.report
        report["events_merged"] = report.get("events_merged", 0) + len(p.relabels)
        report["passes"] += 1
        report["grouped"] += len(p.stories) - len(errors)
        report["clustered"] += sum(1 for s in p.stories if not s.is_primary)
        if errors:  # left pending for a later run; do not spin on them now
            report["errors"] += errors[:10]
            log.error("grouping: %d stories not updated: %s", len(errors), errors[:3])
        return not errors

    def close(self) -> None:
        """Wait for the pass in flight whatever happened before: no write outlives the lease.
        An error raised meanwhile is the one that propagates."""
        try:
            if self._job is not None:
                # Waits. Its error, if any, gives way to the one already propagating.
                self._job.exception()
        finally:
            self._pool.shutdown(wait=True)

    def _write(self, p: _Pass) -> list[str]:
        store = self.store
        clusters, events = _counted_here(p)
        # Stored members of merged events move first: if that fails, the pass's stories stay
        # pending and the retried pass merges again (idempotent).
        errors = store.events.relabel_events(p.relabels)
        if not errors:
            errors = store.stories.apply_groups(
                p.stories, now=self.now, run=self.run, clusters=clusters, events=events
            )
        if errors:
            clusters, events = {}, {}  # members are missing: the index recounts every group
        # One refresh makes the pass's writes visible to both recounts, and to the reads
        # after the next pass's (which leaves this pass out).
        store.stories.refresh()
        store.stories.refresh_clusters(
            {s.cluster_id for s in p.stories if not s.is_primary} - clusters.keys(),
            refresh=False,
        )
        store.events.refresh_events(
            ({s.event_id for s in p.stories} | set(p.relabels.values())) - events.keys(),
            refresh=False,
        )
        return errors


def group_pending(store: Store, window_days: int, now: datetime) -> dict[str, Any]:
    """Group every pending story, pass by pass, holding the grouping lease."""
    report: dict[str, Any] = {"grouped": 0, "clustered": 0, "passes": 0, "errors": []}
    holder = holder_id()
    # The run's passes share their look-ups' memory of what the run decided (`next_pass`):
    # only stories grouped before the run are asked of Elasticsearch.
    lookup: BatchLookup | None = None
    events: StoreEventLookup | None = None
    try:
        with store.leases.held(GROUPING_LEASE, holder, ttl=LEASE_TTL, wait=LEASE_WAIT):
            # Objects frozen before the run are someone else's (a forking server's): left
            # frozen. Read under the lease, so an earlier run in this process has thawed.
            thaw = gc.get_freeze_count() == 0
            writer = _Writer(store, now, holder, report)
            try:
                while True:
                    # The text caches fill with earlier passes' stories and candidates (full at
                    # ~8,000 texts, ~150 MB); a new pass mostly meets new ones (peak RSS, above).
                    # The parsed texts they are built from stay: bounded by bytes, a fifth of
                    # the size, and what a later pass's candidates cost most to rebuild.
                    clear_caches(keep_parsed=True)
                    clear_event_caches()
                    # What the run holds so far (earlier passes' stories, texts, band postings)
                    # lives until the run ends: frozen, CPython's collector stops walking all
                    # of it on each full collection, which a pass's small allocations set off
                    # again and again (a fifth of the decisions' time in a first poll).
                    gc.freeze()
                    # A later pass needs no refresh: the run refreshed after writing the pass
                    # before the last, and the last one's stories, perhaps still pending in the
                    # index, are left out. Stories a concurrent poll stores meanwhile are
                    # grouped by that poll's own run.
                    pending = store.stories.pending(
                        PASS_SIZE, refresh=lookup is None, exclude=writer.in_flight()
                    )
                    if not pending:
                        break
                    lookup = store.lookup(holder) if lookup is None else lookup.next_pass()
                    events = store.event_lookup(holder) if events is None else events.next_pass()
                    # Candidates are stories grouped before the run or held in the look-ups'
                    # memory, never the pass in flight as the index has it: deciding does not
                    # wait for the last pass's writes.
                    decide_groups(pending, lookup, window_days, events)
                    decided = _Pass(pending, events.relabels(), events.grouped_before == 0)
                    if not writer.wait():
                        break  # this pass's decisions may name stories left pending: dropped
                    store.leases.acquire(GROUPING_LEASE, holder, LEASE_TTL)  # renew
                    writer.submit(decided)
                writer.wait()
            finally:
                writer.close()
                if thaw:
                    gc.unfreeze()  # what the run froze is collectable again
    except LeaseBusy as e:
        log.warning("grouping deferred: %s", e)
        report["deferred"] = str(e)
    finally:
        # A long-lived process (`newsmon run`, an Airflow worker) keeps no run's texts.
        clear_caches()
        clear_event_caches()
    return report
