"""The alert ledger, ``{prefix}-deliveries``: one document per e-mail, decided atomically.

A delivery is created (``op_type=create``) before its e-mail is sent and marked after, keyed by
subscriber + rule + event (or digest period): whatever retries, overlapping windows or
concurrent workers do, only one of them can claim it. Claims and reads go by document id,
which Elasticsearch answers in real time, so no write waits for a refresh (a refresh per
e-mail would make sending a hundred alerts take minutes).

States of a delivery (``status``):

    claimed    created by a run that has not started the SMTP send: nothing went out. A claim
               older than the claim expiry belongs to a run that died; it is taken over.
    sending    the SMTP send started. If the run dies now, the server may or may not have the
               message: a stale ``sending`` counts as ``ambiguous``.
    sent       the server accepted the message.
    failed     the server refused it or could not be reached: nothing was accepted, claimable.
    ambiguous  the message went out and the answer was lost: resent (same Message-ID) only
               when the setting says so, otherwise left for the operator.
    given_up   failed too many times (the operator is told once).
    covered    announced by an over-cap e-mail, never sent one by one.
    pending    (written by earlier versions) claimed and maybe sent: treated as ``sending``.

Each claim carries a token unique to the run that made it. A claim whose answer was lost and
whose retry met a conflict reads the document: when the token there is its own, the claim is
its own (otherwise the e-mail would be reported "already sent" and never sent at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers

from monitor.models import Delivery
from monitor.store.documents import delivery_from_doc, delivery_to_doc, iso, parse_dt
from monitor.store.errors import translated
from monitor.store.names import IndexNames

__all__ = ["ClaimPolicy", "Ledger", "claimable"]

_IN_FLIGHT = ("claimed", "sending", "pending")


@dataclass(frozen=True)
class ClaimPolicy:
    """When a delivery already in the ledger may be claimed again."""

    expiry: timedelta = timedelta(minutes=30)
    resend_ambiguous: bool = False


def _stale(src: Mapping[str, Any], key: str, now: datetime, policy: ClaimPolicy) -> bool:
    at = parse_dt(src.get(key)) or parse_dt(src.get("created_at"))
    return at is None or now - at >= policy.expiry


def claimable(src: Mapping[str, Any] | None, now: datetime, policy: ClaimPolicy) -> bool:
    """Whether a delivery whose ledger document is `src` (None: absent) is owed a send."""
    if src is None:
        return True
    status = src.get("status")
    if status == "failed":
        return True
    if status == "claimed":  # its run died before any send: nothing went out
        return _stale(src, "claimed_at", now, policy)
    if status == "ambiguous":
        return policy.resend_ambiguous
    if status in ("sending", "pending"):  # a run died mid-send: as ambiguous, once stale
        return policy.resend_ambiguous and _stale(src, "sending_at", now, policy)
    return False


class Ledger:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def claim(
        self,
        d: Delivery,
        *,
        token: str,
        now: datetime,
        policy: ClaimPolicy | None = None,
    ) -> bool:
        """Claim a delivery before sending it, with this run's `token`. False when another
        run has it (sent, in flight, or not owed: see `claimable`).

        A re-claim is a compare-and-set on the document's sequence number, so two workers
        cannot both win it; a conflict on our own retried write is recognised by the token.
        """
        policy = policy or ClaimPolicy()
        doc = delivery_to_doc(d) | {
            "status": "claimed",
            "claim_token": token,
            "claimed_at": iso(now),
        }
        try:
            self.es.create(index=self.names.deliveries, id=d.id, document=doc)
            return True
        except ConflictError:
            pass
        cur = self.es.get(index=self.names.deliveries, id=d.id)
        src = cur["_source"]
        if src.get("claim_token") == token:  # our create went through; its answer was lost
            return True
        if not claimable(src, now, policy):
            return False
        doc["attempts"] = int(src.get("attempts", 0)) + 1
        try:
            self.es.index(
                index=self.names.deliveries,
                id=d.id,
                document=doc,
                if_seq_no=cur["_seq_no"],
                if_primary_term=cur["_primary_term"],
            )
            return True
        except ConflictError:  # someone else won, or our own write's answer was lost
            again = self.es.get(index=self.names.deliveries, id=d.id, source=["claim_token"])
            return bool(again["_source"].get("claim_token") == token)

    @translated
    def owed(
        self, ids: Sequence[str], *, now: datetime, policy: ClaimPolicy | None = None
    ) -> tuple[set[str], set[str]]:
        """(ids still owed a send, ids in flight in another run): one `mget`, real time."""
        policy = policy or ClaimPolicy()
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 1000):
            res = self.es.mget(
                index=self.names.deliveries,
                ids=list(ids[i : i + 1000]),
                source=["status", "claimed_at", "sending_at", "created_at"],
            )
            for doc in res["docs"]:
                if doc.get("found"):
                    found[doc["_id"]] = doc["_source"]
        owed = {i for i in ids if claimable(found.get(i), now, policy)}
        in_flight = {
            i
            for i, src in found.items()
            if i not in owed
            and src.get("status") in _IN_FLIGHT
            and not _stale_any(src, now, policy)
        }
        return owed, in_flight

    @translated
    def mark(
        self, delivery_id: str, status: str, *, now: datetime, error: str | None = None
    ) -> None:
        """Record the outcome of a claimed delivery (`sent`, `failed`, `ambiguous`, …)."""
        doc: dict[str, Any] = {"status": status, "error": error}
        if status == "sent":
            doc["sent_at"] = iso(now)
        self.es.update(index=self.names.deliveries, id=delivery_id, doc=doc)

    @translated
    def advance(
        self, sent: Sequence[str], *, sending: str | None, now: datetime
    ) -> tuple[list[str], bool]:
        """One bulk request: mark `sent` the deliveries the server accepted, and `sending`
        the one about to go. Returns (one line per sent mark that failed, whether the
        `sending` mark was written: when it was not, do not send)."""
        ops: list[dict[str, Any]] = []
        for i in sent:
            ops += [
                {"update": {"_index": self.names.deliveries, "_id": i}},
                {"doc": {"status": "sent", "error": None, "sent_at": iso(now)}},
            ]
        if sending is not None:
            ops += [
                {"update": {"_index": self.names.deliveries, "_id": sending}},
                {"doc": {"status": "sending", "sending_at": iso(now)}},
            ]
        if not ops:
            return [], True
        res = self.es.bulk(operations=ops)
        problems, sending_ok = [], sending is not None
        for item in res["items"]:
            upd = item.get("update", {})
            if upd.get("error") is None:
                continue
            if upd.get("_id") == sending:
                sending_ok = False
            else:
                problems.append(f"{upd.get('_id')}: {upd.get('error')}")
        return problems, sending_ok

    @translated
    def statuses(self, ids: Sequence[str]) -> dict[str, str]:
        """The ledger status of each id that is in the ledger: one `mget`, real time."""
        out: dict[str, str] = {}
        for i in range(0, len(ids), 1000):
            res = self.es.mget(
                index=self.names.deliveries, ids=list(ids[i : i + 1000]), source=["status"]
            )
            for doc in res["docs"]:
                if doc.get("found"):
                    out[doc["_id"]] = str(doc["_source"].get("status", ""))
        return out

    @translated
    def cover(self, deliveries: Sequence[Delivery]) -> int:
        """Record deliveries as `covered` (announced by an over-cap e-mail, never sent one by
        one), in one bulk of creates: an id already in the ledger is left as it was."""
        actions = (
            {
                "_op_type": "create",
                "_index": self.names.deliveries,
                "_id": d.id,
                "_source": delivery_to_doc(d) | {"status": "covered"},
            }
            for d in deliveries
        )
        created = 0
        for ok, _ in helpers.streaming_bulk(
            self.es, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
        ):
            created += int(ok)
        return created

    @translated
    def get(self, delivery_id: str) -> Delivery | None:
        try:
            res = self.es.get(index=self.names.deliveries, id=delivery_id)
        except NotFoundError:
            return None
        return delivery_from_doc(res["_id"], res["_source"])

    @translated
    def expire_sending(self, *, now: datetime, policy: ClaimPolicy | None = None) -> list[Delivery]:
        """Turn each `sending` (or old `pending`) delivery older than the expiry into
        `ambiguous`: its run died mid-send. Compare-and-set per document, so a run that marks
        it `sent` meanwhile wins, and two maintainers turn (and report) each one once."""
        policy = policy or ClaimPolicy()
        self.es.indices.refresh(index=self.names.deliveries, ignore_unavailable=True)
        cutoff = iso(now - policy.expiry)
        res = self.es.search(
            index=self.names.deliveries,
            query={
                "bool": {
                    "should": [
                        {
                            "bool": {
                                "filter": [
                                    {"term": {"status": "sending"}},
                                    {"range": {"sending_at": {"lte": cutoff}}},
                                ]
                            }
                        },
                        {
                            "bool": {
                                "filter": [
                                    {"term": {"status": "pending"}},
                                    {"range": {"created_at": {"lte": cutoff}}},
                                ]
                            }
                        },
                    ],
                    "minimum_should_match": 1,
                }
            },
            size=1000,
            seq_no_primary_term=True,
            ignore_unavailable=True,
        )
        turned = []
        for hit in res["hits"]["hits"]:
            try:
                self.es.update(
                    index=self.names.deliveries,
                    id=hit["_id"],
                    doc={"status": "ambiguous", "error": "the run died while sending it"},
                    if_seq_no=hit["_seq_no"],
                    if_primary_term=hit["_primary_term"],
                )
            except ConflictError:  # marked meanwhile, or another maintainer turned it
                continue
            src = hit["_source"] | {"status": "ambiguous"}
            turned.append(delivery_from_doc(hit["_id"], src))
        return turned

    @translated
    def latest(self, mode: str) -> Delivery | None:
        """The newest delivery of one mode (after a refresh: rare, maintenance only)."""
        self.es.indices.refresh(index=self.names.deliveries, ignore_unavailable=True)
        res = self.es.search(
            index=self.names.deliveries,
            query={"term": {"mode": mode}},
            size=1,
            sort=[{"created_at": "desc"}],
            ignore_unavailable=True,
        )
        hits = res["hits"]["hits"]
        return delivery_from_doc(hits[0]["_id"], hits[0]["_source"]) if hits else None

    @translated
    def list(self, *, status: str | None = None, size: int = 1000) -> list[Delivery]:
        """Deliveries, oldest first, optionally only those in one status."""
        query: dict[str, Any] = {"term": {"status": status}} if status else {"match_all": {}}
        res = self.es.search(
            index=self.names.deliveries,
            query=query,
            size=size,
            sort=[{"created_at": "asc"}],
            ignore_unavailable=True,
        )
        return [delivery_from_doc(h["_id"], h["_source"]) for h in res["hits"]["hits"]]


def _stale_any(src: Mapping[str, Any], now: datetime, policy: ClaimPolicy) -> bool:
    key = "claimed_at" if src.get("status") == "claimed" else "sending_at"
    return _stale(src, key, now, policy)
