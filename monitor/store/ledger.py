"""The alert ledger, ``{prefix}-deliveries``: one document per e-mail, decided atomically.

A delivery is created (``op_type=create``) before its e-mail is sent and marked after, keyed by
subscriber + rule + cluster (or digest period): whatever retries, overlapping windows or
concurrent workers do, only one of them can claim it. Claims and reads go by document id,
which Elasticsearch answers in real time, so no write waits for a refresh (a refresh per
e-mail would make sending a hundred alerts take minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers

from monitor.models import Delivery
from monitor.store.documents import delivery_from_doc, delivery_to_doc, iso
from monitor.store.errors import translated
from monitor.store.names import IndexNames

__all__ = ["Ledger"]


class Ledger:
    def __init__(self, client: Elasticsearch, names: IndexNames, url: str) -> None:
        self.es, self.names, self.url = client, names, url

    @translated
    def claim(self, d: Delivery) -> bool:
        """Record a delivery as pending before sending. False when it was sent or is in flight.

        A delivery that failed before the SMTP server accepted it may be claimed again; a
        pending one may have been accepted by the server before a crash, so it is never
        re-sent automatically (at most once beats twice). The re-claim is a compare-and-set
        on the document's sequence number, so two workers cannot both win it.
        """
        doc = delivery_to_doc(d) | {"status": "pending"}
        try:
            self.es.create(index=self.names.deliveries, id=d.id, document=doc)
            return True
        except ConflictError:
            pass
        cur = self.es.get(index=self.names.deliveries, id=d.id)
        if cur["_source"].get("status") != "failed":
            return False
        doc["attempts"] = int(cur["_source"].get("attempts", 0)) + 1
        try:
            self.es.index(
                index=self.names.deliveries,
                id=d.id,
                document=doc,
                if_seq_no=cur["_seq_no"],
                if_primary_term=cur["_primary_term"],
            )
            return True
        except ConflictError:  # someone else re-claimed it between our read and write
            return False

    @translated
    def mark(
        self, delivery_id: str, status: str, *, now: datetime, error: str | None = None
    ) -> None:
        """Record the outcome of a claimed delivery (`sent` or `failed`)."""
        doc: dict[str, Any] = {"status": status, "error": error}
        if status == "sent":
            doc["sent_at"] = iso(now)
        self.es.update(index=self.names.deliveries, id=delivery_id, doc=doc)

    @translated
    def mark_sent(self, ids: Sequence[str], *, now: datetime) -> list[str]:
        """Mark many claimed deliveries `sent` in one bulk request; returns errors, one line
        each. No refresh: the ledger is read by id (real time), never searched, while sending."""
        actions = (
            {
                "_op_type": "update",
                "_index": self.names.deliveries,
                "_id": i,
                "doc": {"status": "sent", "error": None, "sent_at": iso(now)},
            }
            for i in ids
        )
        return [
            f"{item.get('update', {}).get('_id')}: {item.get('update', {}).get('error')}"
            for ok, item in helpers.streaming_bulk(
                self.es, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
            )
            if not ok
        ]

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
