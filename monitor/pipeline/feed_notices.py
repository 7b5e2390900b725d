"""Tell the operator once when a feed turns dead or gone, and once when it comes back.

Each e-mail is a ledger entry whose id is the feed, the transition and the start of the failure
streak it is about, created with op_type=create (the watchdog's way): concurrent or retried
polls cannot both send it, and a send that failed is retried by the feed's next poll.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.config import Settings
from monitor.mail import Mailer, MailError, render_feed_notice
from monitor.models import Delivery, FeedState
from monitor.store import Store
from monitor.store.ledger import ClaimPolicy

__all__ = ["FEED_NOTICE_MODE", "notice_for", "tell_operator"]

log = logging.getLogger(__name__)

FEED_NOTICE_MODE = "feed"
# A revival notice still owed (its send failed) is retried by the polls of this long after it.
_REVIVAL_RETRY = timedelta(days=1)


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def notice_for(st: FeedState, now: datetime) -> tuple[str, str] | None:
    """(kind, ledger id) of the notice this feed state owes the operator, if any."""
    if st.status in ("dead", "gone") and st.failing_since is not None:
        return st.status, f"feed-{st.status}-{st.feed_id}-{_stamp(st.failing_since)}"
    if (
        st.status == "ok"
        and st.revived_from is not None
        and st.revived_at is not None
        and now - st.revived_at < _REVIVAL_RETRY
    ):
        return "revived", f"feed-revived-{st.feed_id}-{_stamp(st.revived_from)}"
    return None


def tell_operator(
    settings: Settings, store: Store, states: Sequence[FeedState], now: datetime
) -> list[str]:
    """Send the notices these (just written) feed states owe; the ids of those sent."""
    if not settings.operator_email:
        return []
    wanted = {}
    for st in states:
        found = notice_for(st, now)
        if found is not None:
            wanted[found[1]] = (found[0], st)
    if not wanted:
        return []
    policy = ClaimPolicy(expiry=timedelta(minutes=settings.claim_expiry_minutes))
    owed, _in_flight = store.ledger.owed(list(wanted), now=now, policy=policy)
    sent: list[str] = []
    token = f"poll-{uuid.uuid4().hex}"
    claimed = []
    for notice_id in sorted(owed):
        kind, st = wanted[notice_id]
        d = Delivery(
            id=notice_id,
            subscriber=settings.operator_email,
            alert=f"feed {st.feed_id} {kind}",
            mode=FEED_NOTICE_MODE,
            story_ids=[],
            cluster_ids=[],
            status="claimed",
            created_at=now,
            period=_stamp(st.failing_since or st.revived_from or now),
        )
        if store.ledger.claim(d, token=token, now=now, policy=policy):
            claimed.append((notice_id, kind, st))
    if not claimed:
        return []
    try:
        with Mailer(settings.smtp) as mailer:
            for notice_id, kind, st in claimed:
                msg = render_feed_notice(
                    kind, notice_id, st, now, settings.operator_email, settings.smtp
                )
                try:
                    store.ledger.advance([], sending=notice_id, now=now)
                    mailer.send(msg)
                except MailError as e:
                    status = "ambiguous" if e.ambiguous else "failed"
                    store.ledger.mark(notice_id, status, now=now, error=str(e))
                    log.error("operator not told that feed %s is %s: %s", st.feed_id, kind, e)
                    continue
                store.ledger.mark(notice_id, "sent", now=now)
                sent.append(notice_id)
    except MailError as e:  # could not even connect: every claim is marked failed, retried later
        for notice_id, _kind, _st in claimed:
            if notice_id not in sent:
                store.ledger.mark(notice_id, "failed", now=now, error=str(e))
        log.error("operator not told about %d feed(s): %s", len(claimed) - len(sent), e)
    return sent
