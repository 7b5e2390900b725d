"""Sending alerts: instant alerts over the stories indexed since the last run, and the digests
that are due. Each e-mail is claimed in the ledger before it is sent, so nothing goes twice.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from monitor import alerts as rules
from monitor.clock import utcnow
from monitor.config import (
    AlertRule,
    ConfigError,
    Settings,
    Subscriber,
    address_problem,
    topic_labels,
)
from monitor.mail import Mailer, MailError, render, render_notice, render_test
from monitor.models import Delivery, Story
from monitor.pipeline.context import open_store
from monitor.pipeline.grouping import group_pending
from monitor.store import Store
from monitor.store.ledger import ClaimPolicy

__all__ = [
    "ALERT_FIRST_RUN",
    "ALERT_OVERLAP",
    "preview_alert",
    "report_abandoned_sends",
    "send_alerts",
    "send_digests",
    "send_test_mail",
]

log = logging.getLogger(__name__)

ALERT_OVERLAP = timedelta(minutes=15)
ALERT_FIRST_RUN = timedelta(hours=24)
# The id of the stories data view in the shipped Kibana saved objects (monitor/resources/kibana).
KIBANA_DATA_VIEW = "newsmon-stories"


def _policy(settings: Settings) -> ClaimPolicy:
    return ClaimPolicy(
        expiry=timedelta(minutes=settings.claim_expiry_minutes),
        resend_ambiguous=settings.resend_ambiguous,
    )


def _deliver(
    store: Store, settings: Settings, mails: Sequence[rules.PlannedMail], now: datetime
) -> dict[str, Any]:
    """Claim each mail in the ledger, send it; a mail another run has is skipped.

    Per mail: the claim (a create carrying this run's token), then one bulk request that marks
    the previous mail `sent` and this one `sending`, then SMTP. So a run killed at any point
    leaves at most one mail whose fate is unknown (`sending`); a claim it never started to
    send stays `claimed` and is taken over once it expires.
    """
    sent, skipped, failed, ambiguous = 0, 0, [], []
    if not mails:
        return {"sent": 0, "already_sent": 0, "failed": [], "ambiguous": []}
    labels = topic_labels(settings.topics_path)
    policy = _policy(settings)
    token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
    accepted: list[str] = []  # sent, not yet marked so
    try:
        with Mailer(settings.smtp) as mailer:
            for m in mails:
                d = _delivery(m, now)
                if not store.ledger.claim(d, token=token, now=now, policy=policy):
                    skipped += 1
                    continue
                msg = render(
                    m,
                    settings.smtp.mail_from,
                    now=now,
                    labels=labels,
                    contact=settings.operator_email,
                )
                problems, marked = store.ledger.advance(accepted, sending=d.id, now=now)
                accepted = []
                _log_unmarked(problems)
                if not marked:  # left `claimed`: taken over after the expiry, nothing sent
                    failed.append(f"{d.id}: could not record the send in the ledger")
                    continue
                try:
                    mailer.send(msg)
                except MailError as e:
                    if e.ambiguous:
                        _ambiguous(store, settings, mailer, d, str(e), now)
                        ambiguous.append(str(e))
                        continue
                    if e.unreachable:  # the server went away: nothing sent, stop this run
                        store.ledger.mark(d.id, "failed", now=now, error=str(e))
                        failed.append(str(e))
                        break
                    _failed(store, settings, mailer, d, str(e), now)
                    failed.append(str(e))
                    continue
                accepted.append(d.id)
                log.info("sent %s alert %r to %s (%s)", m.mode, m.rule.name, d.subscriber, d.id)
                sent += 1
                if m.covers:
                    store.ledger.cover([_covered(m, cid, now) for cid in m.covers])
    finally:
        if accepted:
            _log_unmarked(store.ledger.advance(accepted, sending=None, now=now)[0])
    return {"sent": sent, "already_sent": skipped, "failed": failed, "ambiguous": ambiguous}


def _log_unmarked(problems: Sequence[str]) -> None:
    for problem in problems:
        log.error("delivery sent but not marked (stays `sending`, never re-sent): %s", problem)


def _delivery(m: rules.PlannedMail, now: datetime) -> Delivery:
    return Delivery(
        id=m.delivery_id,
        subscriber=m.subscriber.email,
        alert=m.rule.name,
        mode=m.mode,
        story_ids=[h.id for h in m.stories],
        cluster_ids=[h.cluster_id for h in m.stories],
        event_ids=[h.event_id for h in m.stories],
        status="pending",
        created_at=now,
        period=m.period,
    )


def _covered(m: rules.PlannedMail, delivery_id: str, now: datetime) -> Delivery:
    """The ledger entry of an instant mail an over-cap mail stands for."""
    return Delivery(
        id=delivery_id,
        subscriber=m.subscriber.email,
        alert=m.rule.name,
        mode="instant",
        story_ids=[],
        cluster_ids=[],
        status="covered",
        created_at=now,
        error=f"announced by {m.delivery_id}",
    )


def _failed(
    store: Store, settings: Settings, mailer: Mailer, d: Delivery, error: str, now: datetime
) -> None:
    """Record a refused send; at the last allowed attempt give the delivery up for good and
    tell the operator once, so one bad address does not fail every run forever."""
    current = store.ledger.get(d.id)
    tries = (current.attempts if current else 0) + 1
    if tries < settings.max_send_attempts:
        store.ledger.mark(d.id, "failed", now=now, error=error)
        log.warning("delivery %s to %s failed (try %d): %s", d.id, d.subscriber, tries, error)
        return
    store.ledger.mark(d.id, "given_up", now=now, error=error)
    log.error("delivery %s to %s given up after %d tries: %s", d.id, d.subscriber, tries, error)
    if not settings.operator_email:
        return
    _notify(store, settings, mailer, d, "given_up", tries, error, now)


def _ambiguous(
    store: Store, settings: Settings, mailer: Mailer, d: Delivery, error: str, now: datetime
) -> None:
    """Record a send whose answer was lost. Resent later (same Message-ID) only when
    NEWSMON_RESEND_AMBIGUOUS is set; otherwise the operator is told once and decides."""
    store.ledger.mark(d.id, "ambiguous", now=now, error=error)
    if settings.resend_ambiguous:
        log.warning("delivery %s to %s ambiguous, will be resent: %s", d.id, d.subscriber, error)
        return
    log.error("delivery %s to %s ambiguous, not resent: %s", d.id, d.subscriber, error)
    current = store.ledger.get(d.id)
    _notify(
        store,
        settings,
        mailer,
        d,
        "ambiguous",
        (current.attempts if current else 0) + 1,
        error,
        now,
    )


def report_abandoned_sends(settings: Settings, store: Store, now: datetime) -> list[str]:
    """Deliveries a dead run left `sending` past the claim expiry become `ambiguous`; the
    operator is told once about each (resent only with NEWSMON_RESEND_AMBIGUOUS)."""
    turned = store.ledger.expire_sending(now=now, policy=_policy(settings))
    if turned and settings.operator_email and not settings.resend_ambiguous:
        try:
            with Mailer(settings.smtp) as mailer:
                for d in turned:
                    error = d.error or "the run died while sending it"
                    _notify(store, settings, mailer, d, "ambiguous", d.attempts + 1, error, now)
        except MailError as e:  # the ledger says ambiguous either way; `mail list` shows it
            log.error("operator not told about abandoned sends: %s", e)
    return [d.id for d in turned]


def _notify(
    store: Store,
    settings: Settings,
    mailer: Mailer,
    d: Delivery,
    kind: str,
    tries: int,
    error: str,
    now: datetime,
) -> None:
    """One e-mail to the operator about delivery `d`, claimed in the ledger like any other."""
    if not settings.operator_email:
        return
    notice = Delivery(
        id=f"notice-{d.id}" if kind == "given_up" else f"{kind}-{d.id}",
        subscriber=settings.operator_email,
        alert=d.alert,
        mode="notice",
        story_ids=[],
        cluster_ids=[],
        status="claimed",
        created_at=now,
    )
    token = f"notice-{uuid.uuid4().hex}"
    if not store.ledger.claim(notice, token=token, now=now, policy=_policy(settings)):
        return
    try:
        mailer.send(
            render_notice(d, tries, error, settings.operator_email, settings.smtp, kind=kind)
        )
    except MailError as e:
        store.ledger.mark(
            notice.id, "ambiguous" if e.ambiguous else "failed", now=now, error=str(e)
        )
        return
    store.ledger.mark(notice.id, "sent", now=now)


def _attach_outlets(store: Store, mails: Sequence[rules.PlannedMail]) -> None:
    """Every stored report of each mailed event (all outlets and languages, linked)."""
    reports = store.stories.event_reports(sorted({h.event_id for m in mails for h in m.stories}))
    for m in mails:
        for h in m.stories:
            h.add_reports(reports.get(h.event_id, []))


def _still_owed(
    store: Store,
    settings: Settings,
    mails: Sequence[rules.PlannedMail],
    now: datetime,
    aliases: dict[str, list[str]] | None = None,
) -> tuple[list[rules.PlannedMail], set[str]]:
    """(the mails owed a send, the ids another run has in flight).

    An instant mail whose event absorbed other events (a bridging report merged them) is
    not owed when the mail of one of those events went out (or is going out) already: the
    subscriber has heard of this event under its earlier id.
    """
    also = {m.delivery_id: _alias_ids(m, aliases or {}) for m in mails}
    ids = sorted({m.delivery_id for m in mails} | {a for ids in also.values() for a in ids})
    owed, in_flight = store.ledger.owed(ids, now=now, policy=_policy(settings))
    keep = [
        m for m in mails if m.delivery_id in owed and all(a in owed for a in also[m.delivery_id])
    ]
    return keep, in_flight & {m.delivery_id for m in mails}


def _alias_ids(m: rules.PlannedMail, aliases: dict[str, list[str]]) -> list[str]:
    if m.mode != "instant":
        return []
    return [
        rules.instant_delivery_id(m.subscriber.email, m.rule.name, alias)
        for h in m.stories
        for alias in aliases.get(h.event_id, [])
    ]


def _cap_for(settings: Settings) -> Callable[[AlertRule], int]:
    return lambda rule: rule.max_per_run or settings.alert_cap


def _link_for(settings: Settings, start: datetime, end: datetime) -> Callable[[AlertRule], str]:
    return lambda rule: rules.search_link(
        rule.query, start, end, kibana_url=settings.kibana_url, data_view=KIBANA_DATA_VIEW
    )


def _owed(store: Store, settings: Settings, delivery_id: str, now: datetime) -> bool:
    """Not in the ledger yet, or claimable again (see `monitor.store.ledger.claimable`)."""
    return delivery_id in store.ledger.owed([delivery_id], now=now, policy=_policy(settings))[0]


Rule = tuple[Subscriber, AlertRule]


def _split_rule_errors(
    pairs: Sequence[Rule], results: Sequence[list[Story] | str]
) -> tuple[list[Rule], list[list[Story]], list[str]]:
    """Rules whose query ran (with their results) apart from one line per refused query."""
    ok_pairs: list[Rule] = []
    ok_results: list[list[Story]] = []
    errors: list[str] = []
    for pair, res in zip(pairs, results, strict=True):
        if isinstance(res, str):
            errors.append(f"{pair[0].email} / {pair[1].name}: invalid query: {res}")
        else:
            ok_pairs.append(pair)
            ok_results.append(res)
    return ok_pairs, ok_results, errors


def send_alerts(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Instant alerts over stories grouped since the last run (one e-mail per rule and event)."""
    store = open_store(settings)
    now = now or utcnow()
    pairs = rules.instant_rules(settings.subscribers)
    if not pairs:
        return {
            "rules": 0,
            "matched": 0,
            "sent": 0,
            "already_sent": 0,
            "failed": [],
            "ambiguous": [],
            "capped": 0,
            "rule_errors": [],
        }
    # Stories a crashed or deferred poll left pending are grouped first: alerts see only
    # grouped stories.
    group_pending(store, settings.dedupe_window_days, now)
    store.refresh()
    cursor = store.feeds.get_cursor("instant")
    start = rules.window_start(cursor, now, overlap=ALERT_OVERLAP, first_run=ALERT_FIRST_RUN)
    results = store.stories.search_window(
        [r.query for _, r in pairs], start, now, rule_names=[r.name for _, r in pairs]
    )
    ok_pairs, ok_results, rule_errors = _split_rule_errors(pairs, results)
    for e in rule_errors:
        log.warning("alert rule skipped: %s", e)
    mails = rules.plan_instant(ok_pairs, ok_results)
    aliases = store.events.event_aliases(sorted({h.event_id for m in mails for h in m.stories}))
    # Mails already in the ledger are dropped first (one mget), so no SMTP connection is
    # opened just to skip them and the cap counts only what is owed (the claim still guards
    # against races).
    owed, in_flight = _still_owed(store, settings, mails, now, aliases)
    todo, _ = _still_owed(
        store,
        settings,
        rules.cap_instant(owed, _cap_for(settings), _link_for(settings, start, now)),
        now,
    )
    capped = sum(m.more for m in todo if m.mode == "overflow")
    _attach_outlets(store, todo)
    try:
        outcome = _deliver(store, settings, todo, now)
    except MailError as e:  # the server is down: keep the cursor so the window is retried
        log.error("alerts not sent: %s", e)
        return {
            "rules": len(pairs),
            "matched": len(mails),
            "sent": 0,
            "already_sent": len(mails) - len(owed),
            "capped": 0,
            "failed": [str(e)],
            "ambiguous": [],
            "rule_errors": rule_errors,
        }
    # The window moves on only when nothing in it is still owed: failures are retried, a
    # claim another run holds is checked again (taken over if that run died), and ambiguous
    # sends are resent when the setting says so.
    retry_ambiguous = settings.resend_ambiguous and outcome["ambiguous"]
    if not outcome["failed"] and not in_flight and not retry_ambiguous:
        store.feeds.set_cursor("instant", now)
    outcome["already_sent"] += len(mails) - len(owed)
    return {
        "rules": len(pairs),
        "matched": len(mails),
        **outcome,
        "capped": capped,
        "rule_errors": rule_errors,
    }


def send_digests(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Send each digest whose latest slot has passed and is not in the ledger yet."""
    store = open_store(settings)
    now = now or utcnow()
    due: list[tuple[rules.PlannedMail, datetime, datetime]] = []
    for sub, rule in rules.digest_rules(settings.subscribers):
        key, start, end = rules.digest_slot(rule.digest or "daily 07:00", sub.timezone, now)
        did = rules.digest_delivery_id(sub.email, rule.name, key)
        if not _owed(store, settings, did, now):
            continue
        mail = rules.PlannedMail(did, sub, rule, "digest", [], period=key, window=(start, end))
        due.append((mail, start, end))
    if not due:
        return {
            "digests_due": 0,
            "sent": 0,
            "already_sent": 0,
            "failed": [],
            "ambiguous": [],
            "rule_errors": [],
        }
    store.refresh()
    mails, rule_errors = [], []
    for mail, start, end in due:
        res = store.stories.search_window(
            [mail.rule.query], start, end, rule_names=[mail.rule.name]
        )[0]
        if isinstance(res, str):
            rule_errors.append(f"{mail.subscriber.email} / {mail.rule.name}: invalid query: {res}")
            continue
        mail.stories = rules.hits_by_cluster(res)
        if mail.stories:  # no empty digests
            mails.append(mail)
    _attach_outlets(store, mails)
    try:
        outcome = _deliver(store, settings, mails, now)
    except MailError as e:
        log.error("digests not sent: %s", e)
        outcome = {"sent": 0, "already_sent": 0, "failed": [str(e)], "ambiguous": []}
    return {"digests_due": len(due), **outcome, "rule_errors": rule_errors}


def preview_alert(
    settings: Settings, name: str, since: timedelta, now: datetime | None = None
) -> dict[str, Any]:
    """What the rule(s) called `name` would send for stories grouped in the last `since`:
    each event once, and whether its e-mail is still owed. Sends nothing, writes nothing."""
    now = now or utcnow()
    pairs = [(s, r) for s in settings.subscribers for r in s.alerts if r.name == name]
    if not pairs:
        known = sorted({r.name for s in settings.subscribers for r in s.alerts})
        raise ConfigError(
            f"{settings.config_dir / 'subscribers.yaml'}: no alert rule named {name!r} "
            f"(rules: {', '.join(known) or 'none'})"
        )
    store = open_store(settings)
    store.refresh()
    results = store.stories.search_window([r.query for _, r in pairs], now - since, now)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for (sub, rule), res in zip(pairs, results, strict=True):
        if isinstance(res, str):
            errors.append(f"{sub.email} / {rule.name}: invalid query: {res}")
            continue
        mails = rules.plan_instant([(sub, rule)], [res])
        status = store.ledger.statuses([m.delivery_id for m in mails])
        for m in mails:
            h = m.stories[0]
            rows.append(
                {
                    "subscriber": sub.email,
                    "mode": rule.mode,
                    "title": h.title,
                    "outlet": h.outlet,
                    "languages": h.languages,
                    "published": h.published,
                    "url": h.url,
                    "ledger": status.get(m.delivery_id, "owed" if rule.mode == "instant" else "-"),
                }
            )
    return {
        "rule": name,
        "query": pairs[0][1].query,
        "since": (now - since).isoformat(),
        "events": len(rows),
        "would_send": sum(1 for r in rows if r["ledger"] in ("owed", "failed")),
        "matches": rows,
        "rule_errors": errors,
    }


def send_test_mail(settings: Settings, address: str, now: datetime | None = None) -> dict[str, Any]:
    """Send one test message to `address` with the configured SMTP settings."""
    problem = address_problem(address)
    if problem:
        raise ConfigError(f"mail test: {problem}")
    now = now or utcnow()
    smtp = settings.smtp
    with Mailer(smtp) as mailer:
        mailer.send(render_test(address, smtp, now))
    return {"sent_to": address, "smtp": f"{smtp.host}:{smtp.port} ({smtp.security})"}
