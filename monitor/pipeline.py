"""Units of work shared by the CLI and the Airflow DAGs: init, poll, alerts, digests, maintenance.

Each function takes validated Settings and returns a JSON-able report (a dict), so a DAG task
can hand it to XCom and the CLI can print it as a table or JSON. Data flows one way:
fetch -> parse -> dedupe -> tag -> store -> alerts (match -> ledger -> render -> send).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from monitor import alerts as alerts_mod
from monitor.config import Settings
from monitor.dedupe import Candidate, MemoryLookup, annotate, apply_decision, assign_cluster
from monitor.fetch import FeedRequest, fetch_feeds
from monitor.mail import Mailer, MailError, render
from monitor.models import Delivery, FeedState, FetchResult, Story
from monitor.parse import parse_feed
from monitor.store import Store, connect, parse_dt, retention_cutoff
from monitor.tagging import Tagger, load_taxonomy

ALERT_OVERLAP = timedelta(minutes=15)
ALERT_FIRST_RUN = timedelta(hours=24)
# A feed polled by a 5-minute schedule with a 5-minute interval must not slip a whole tick
# because the previous run finished a few seconds "late".
DUE_SLACK = timedelta(seconds=30)


def open_store(settings: Settings) -> Store:
    return Store(connect(settings.es), settings.index_prefix)


@lru_cache(maxsize=4)
def _tagger(path: str, mtime: float) -> Tagger:
    return Tagger(load_taxonomy(path))


def tagger_for(settings: Settings) -> Tagger:
    """The compiled taxonomy, built once per process and rebuilt when topics.yaml changes."""
    p = settings.topics_path
    return _tagger(str(p), p.stat().st_mtime)


def init(settings: Settings) -> dict[str, Any]:
    """Install index templates, create the first indices, load Kibana objects (idempotent)."""
    report = open_store(settings).install()
    if settings.kibana_url:
        from monitor.kibana import import_saved_objects

        report["kibana"] = import_saved_objects(
            settings.kibana_url, settings.index_prefix, settings.es
        )
    return report


# ---- polling ---------------------------------------------------------------------------


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


def feed_batches(settings: Settings, batch_size: int = 10) -> list[list[str]]:
    """Ids of the feeds due now, split into batches for parallel poll tasks."""
    store = open_store(settings)
    states = store.load_feed_states([f.id for f in settings.feeds])
    due = due_feeds(settings, states, datetime.now(UTC))
    return [due[i : i + batch_size] for i in range(0, len(due), batch_size)]


class StoreLookup:
    """Dedupe candidates from Elasticsearch (exact keys, LSH band terms) plus this batch."""

    # What a Candidate needs; summaries and evidence of 50 stories per lookup add up.
    FIELDS = (
        *(f.name for f in dataclasses.fields(Candidate) if f.name != "first_seen"),
        "fetched_at",
    )
    # assign_cluster looks at no more than this many band candidates anyway.
    BAND_CANDIDATES = 20

    def __init__(self, store: Store) -> None:
        self.store = store
        self.memory = MemoryLookup()

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        should: list[dict[str, Any]] = [{"term": {"canonical_url": canonical_url}}]
        if guid:
            should.append({"term": {"guid": guid}})
        if title_key:
            should.append(
                {
                    "bool": {
                        "filter": [{"term": {"title_key": title_key}}, {"term": {"outlet": outlet}}]
                    }
                }
            )
        found = self.store.search_sources({"bool": {"should": should}}, size=20, fields=self.FIELDS)
        return _dedupe_candidates(
            [candidate_from_source(s) for s in found],
            self.memory.exact(canonical_url, guid, title_key, outlet),
        )

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories sharing the most LSH bands first (score = number of shared bands)."""
        if not bands:
            return []
        query = {
            "bool": {
                "should": [
                    {"constant_score": {"filter": {"term": {"lsh_bands": b}}}} for b in bands
                ],
                "minimum_should_match": 1,
                "filter": [{"range": {"fetched_at": {"gte": since.isoformat()}}}],
            }
        }
        found = self.store.search_sources(
            query,
            size=self.BAND_CANDIDATES,
            fields=self.FIELDS,
            count_hits=False,
        )
        return _dedupe_candidates(
            [candidate_from_source(s) for s in found], self.memory.by_bands(bands, since)
        )


def _dedupe_candidates(*lists: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for lst in lists:
        for c in lst:
            seen.setdefault(c.id, c)
    return list(seen.values())


def candidate_from_source(src: dict[str, Any]) -> Candidate:
    """A dedupe Candidate from a stored story document."""
    return Candidate(
        id=src["id"],
        cluster_id=src.get("cluster_id") or src["id"],
        outlet=src.get("outlet", ""),
        canonical_url=src.get("canonical_url", ""),
        guid=src.get("guid"),
        title=src.get("title", ""),
        summary=src.get("summary", ""),
        content=src.get("content"),
        title_key=src.get("title_key", ""),
        lsh_bands=list(src.get("lsh_bands") or []),
        published=parse_dt(src.get("published")),
        first_seen=parse_dt(src.get("fetched_at")),
    )


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


def poll(settings: Settings, batch: Sequence[str] | None = None) -> dict[str, Any]:
    """Fetch, parse, dedupe, tag and index the given feeds (None = every due feed)."""
    store = open_store(settings)
    now = datetime.now(UTC)
    all_ids = [f.id for f in settings.feeds if f.enabled]
    states = store.load_feed_states(all_ids)
    ids = list(batch) if batch is not None else due_feeds(settings, states, now)
    feeds = [settings.feed(i) for i in ids]
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
    results = fetch_feeds(
        requests,
        timeout=settings.fetch_timeout,
        concurrency=settings.fetch_concurrency,
        allow_private=settings.allow_private_feeds,
    )
    per_feed: dict[str, dict[str, Any]] = {}
    candidates: list[Story] = []
    new_states: list[FeedState] = []
    validators: dict[str, tuple[str | None, str | None]] = {}
    for f, res in zip(feeds, results, strict=True):
        st = states.get(f.id) or FeedState(feed_id=f.id, url=f.url)
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
                candidates.extend(parsed.stories)
        if error:
            row["status"], row["error"] = "error", error
            st.last_error = error
            st.consecutive_failures += 1
        else:
            validators[f.id] = (res.etag or st.etag, res.last_modified or st.last_modified)
            st.last_success, st.last_error, st.consecutive_failures = now, None, 0
        per_feed[f.id] = row
        new_states.append(st)

    existing = store.locate([s.id for s in candidates])
    fresh: dict[str, Story] = {}
    for s in sorted(candidates, key=_arrival_key):
        if s.id not in existing:
            fresh.setdefault(s.id, s)  # the same item in two feeds of one outlet
    new = list(fresh.values())
    enrich(new, StoreLookup(store), tagger_for(settings), settings.dedupe_window_days)
    indexed = store.index_stories(new, now=now)
    created = set(indexed.created)
    store.refresh_clusters({s.cluster_id for s in new if s.id in created and not s.is_primary})
    stored = created | set(indexed.skipped)
    unstored_feeds = set()
    for s in new:
        if s.id in created:
            per_feed[s.feed_id]["new"] += 1
        elif s.id not in stored:
            unstored_feeds.add(s.feed_id)
    for st in new_states:
        st.stories_total += per_feed[st.feed_id]["new"]
        # A feed whose stories failed to index keeps its old validators: the next poll then
        # gets the whole feed again instead of a 304 that would lose those stories for good.
        if st.feed_id in validators and st.feed_id not in unstored_feeds:
            st.etag, st.last_modified = validators[st.feed_id]
    store.save_feed_states(new_states)
    return {
        "feeds": list(per_feed.values()),
        "feeds_polled": len(feeds),
        "feeds_failed": sum(1 for r in per_feed.values() if r["status"] == "error"),
        "stories_seen": len(candidates),
        "stories_new": len(created),
        "duplicates_clustered": sum(1 for s in new if s.id in created and not s.is_primary),
        "index_errors": indexed.errors,
    }


def _feed_error(res: FetchResult) -> str | None:
    if res.ok:
        return None
    return res.error or (f"HTTP {res.status}" if res.status else "fetch failed")


# ---- alerts ----------------------------------------------------------------------------


def _deliver(
    store: Store, settings: Settings, mails: Sequence[alerts_mod.PlannedMail]
) -> dict[str, Any]:
    """Claim each mail in the ledger, send it, mark it; a claimed-before mail is skipped."""
    sent, skipped, failed = 0, 0, []
    if not mails:
        return {"sent": 0, "already_sent": 0, "failed": []}
    now = datetime.now(UTC)
    with Mailer(settings.smtp) as mailer:
        for m in mails:
            d = Delivery(
                id=m.delivery_id,
                subscriber=m.subscriber.email,
                alert=m.rule.name,
                mode=m.mode,
                story_ids=[h.id for h in m.stories],
                cluster_ids=[h.cluster_id for h in m.stories],
                status="pending",
                created_at=now,
                period=m.period,
            )
            if not store.claim_delivery(d):
                skipped += 1
                continue
            try:
                mailer.send(render(m, settings.smtp.mail_from))
            except MailError as e:
                store.mark_delivery(d.id, "failed", error=str(e))
                failed.append(str(e))
                continue
            store.mark_delivery(d.id, "sent")
            sent += 1
    return {"sent": sent, "already_sent": skipped, "failed": failed}


def _attach_outlets(store: Store, mails: Sequence[alerts_mod.PlannedMail]) -> None:
    outlets = store.cluster_outlets(sorted({h.cluster_id for m in mails for h in m.stories}))
    for m in mails:
        for h in m.stories:
            others = set(outlets.get(h.cluster_id, [])) | set(h.also_reported_by)
            h.also_reported_by = sorted(others - {h.outlet})


def _pending_new(store: Store, mails: list[alerts_mod.PlannedMail]) -> list[alerts_mod.PlannedMail]:
    """Drop mails whose delivery is already in the ledger, so no SMTP connection is opened
    just to skip them (claim_delivery still guards against races)."""
    out = []
    for m in mails:
        cur = store.get_delivery(m.delivery_id)
        if cur is None or cur.get("status") == "failed":
            out.append(m)
    return out


def send_alerts(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Instant alerts over stories indexed since the last run (one e-mail per rule and cluster)."""
    store = open_store(settings)
    now = now or datetime.now(UTC)
    pairs = alerts_mod.instant_rules(settings.subscribers)
    if not pairs:
        return {
            "rules": 0,
            "matched": 0,
            "sent": 0,
            "already_sent": 0,
            "failed": [],
            "rule_errors": [],
        }
    store.refresh()
    cursor = store.get_cursor("instant")
    start = alerts_mod.window_start(cursor, now, overlap=ALERT_OVERLAP, first_run=ALERT_FIRST_RUN)
    results = store.search_window([r.query for _, r in pairs], start, now)
    ok_pairs, ok_results, rule_errors = [], [], []
    for pair, res in zip(pairs, results, strict=True):
        if isinstance(res, str):
            rule_errors.append(f"{pair[0].email} / {pair[1].name}: invalid query: {res}")
        else:
            ok_pairs.append(pair)
            ok_results.append(res)
    mails = alerts_mod.plan_instant(ok_pairs, ok_results)
    todo = _pending_new(store, mails)
    _attach_outlets(store, todo)
    try:
        outcome = _deliver(store, settings, todo)
    except MailError as e:  # the server is down: keep the cursor so the window is retried
        return {
            "rules": len(pairs),
            "matched": len(mails),
            "sent": 0,
            "already_sent": len(mails) - len(todo),
            "failed": [str(e)],
            "rule_errors": rule_errors,
        }
    if not outcome["failed"]:
        store.set_cursor("instant", now)
    outcome["already_sent"] += len(mails) - len(todo)
    return {"rules": len(pairs), "matched": len(mails), **outcome, "rule_errors": rule_errors}


def send_digests(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Send each digest whose latest slot has passed and is not in the ledger yet."""
    store = open_store(settings)
    now = now or datetime.now(UTC)
    pairs = alerts_mod.digest_rules(settings.subscribers)
    due: list[tuple[alerts_mod.PlannedMail, datetime, datetime]] = []
    for sub, rule in pairs:
        key, start, end = alerts_mod.digest_slot(rule.digest or "daily 07:00", sub.timezone, now)
        did = alerts_mod.digest_delivery_id(sub.email, rule.name, key)
        cur = store.get_delivery(did)
        if cur is not None and cur.get("status") != "failed":
            continue
        mail = alerts_mod.PlannedMail(did, sub, rule, "digest", [], period=key, window=(start, end))
        due.append((mail, start, end))
    if not due:
        return {"digests_due": 0, "sent": 0, "already_sent": 0, "failed": [], "rule_errors": []}
    store.refresh()
    mails, rule_errors = [], []
    for mail, start, end in due:
        res = store.search_window([mail.rule.query], start, end, size=200)[0]
        if isinstance(res, str):
            rule_errors.append(f"{mail.subscriber.email} / {mail.rule.name}: invalid query: {res}")
            continue
        mail.stories = alerts_mod.hits_by_cluster(res)
        if mail.stories:  # no empty digests
            mails.append(mail)
    _attach_outlets(store, mails)
    try:
        outcome = _deliver(store, settings, mails)
    except MailError as e:
        outcome = {"sent": 0, "already_sent": 0, "failed": [str(e)]}
    return {"digests_due": len(due), **outcome, "rule_errors": rule_errors}


# ---- maintenance -----------------------------------------------------------------------


def maintain(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Drop story months past retention; report failing feeds and stuck deliveries."""
    store = open_store(settings)
    now = now or datetime.now(UTC)
    dropped = store.drop_months_before(retention_cutoff(now, settings.retention_months))
    compacted = store.compact_finished_months(now)
    states = {s.feed_id: s for s in store.all_feed_states()}
    unhealthy = []
    for f in settings.feeds:
        st = states.get(f.id)
        if st is None:
            unhealthy.append({"feed": f.id, "problem": "never polled"})
        elif st.consecutive_failures:
            unhealthy.append(
                {"feed": f.id, "problem": f"{st.consecutive_failures} failures: {st.last_error}"}
            )
        elif st.last_success and now - st.last_success > timedelta(days=1):
            unhealthy.append(
                {"feed": f.id, "problem": f"no success since {st.last_success:%Y-%m-%d %H:%M}Z"}
            )
    stuck = [
        d["id"]
        for d in store.deliveries(status="pending")
        if (created := parse_dt(d.get("created_at"))) and now - created > timedelta(hours=1)
    ]
    return {
        "dropped_indices": dropped,
        "compacted_indices": compacted,
        "unhealthy_feeds": unhealthy,
        "stuck_deliveries": stuck,
    }


def run_once(settings: Settings) -> dict[str, Any]:
    """One full cycle: make sure indices exist, poll due feeds, send due alerts and digests."""
    init(settings)
    return {
        "poll": poll(settings),
        "alerts": send_alerts(settings),
        "digests": send_digests(settings),
    }


# ---- re-tagging ------------------------------------------------------------------------


def retag(
    settings: Settings, since: timedelta, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Re-tag stored stories first seen within `since` with the current taxonomy (idempotent)."""
    store = open_store(settings)
    tagger = tagger_for(settings)
    cutoff = datetime.now(UTC) - since
    query = {"range": {"fetched_at": {"gte": cutoff.isoformat()}}}
    total = store.count(query)
    changed = 0

    def updates() -> Iterator[tuple[str, str, dict[str, Any]]]:
        nonlocal changed
        for n, (index, src) in enumerate(store.scroll_stories(query), 1):
            r = tagger.tag(
                src.get("title", ""), src.get("summary", ""), src.get("content"), src.get("lang")
            )
            doc = {
                "topics": r.topics,
                "topic_scores": r.scores,
                "evidence": r.evidence,
                "people": r.people,
                "orgs": r.orgs,
                "places": r.places,
            }
            if progress:
                progress(n)
            if any(src.get(k) != v for k, v in doc.items()):
                changed += 1
                yield index, src["id"], doc

    updated, errors = store.bulk_update(updates())
    return {"stories": total, "changed": changed, "updated": updated, "errors": errors[:10]}


def config_summary(settings: Settings) -> dict[str, Any]:
    tagger = tagger_for(settings)
    return {
        "config_dir": str(Path(settings.config_dir)),
        "feeds": len(settings.feeds),
        "subscribers": len(settings.subscribers),
        "alert_rules": sum(len(s.alerts) for s in settings.subscribers),
        "taxonomy": str(settings.topics_path),
        "topics": tagger.taxonomy.topic_ids,
        "entities": len(tagger.taxonomy.entities),
    }
