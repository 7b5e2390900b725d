"""Which ledger states may be claimed again (#15): pure, no Elasticsearch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.store.ledger import ClaimPolicy, claimable
from tests.factories import NOW

EXPIRY = ClaimPolicy(expiry=timedelta(minutes=30))
RESEND = ClaimPolicy(expiry=timedelta(minutes=30), resend_ambiguous=True)


def _at(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


@pytest.mark.parametrize(
    ("src", "default", "resend"),
    [
        (None, True, True),  # never claimed
        ({"status": "failed"}, True, True),  # refused: nothing was accepted
        ({"status": "claimed", "claimed_at": _at(5)}, False, False),  # a live run has it
        ({"status": "claimed", "claimed_at": _at(31)}, True, True),  # its run died before SMTP
        ({"status": "sending", "sending_at": _at(5)}, False, False),  # in flight
        ({"status": "sending", "sending_at": _at(31)}, False, True),  # died mid-send: ambiguous
        ({"status": "pending", "created_at": _at(90)}, False, True),  # older versions' claim
        ({"status": "ambiguous"}, False, True),
        ({"status": "sent"}, False, False),
        ({"status": "given_up"}, False, False),
        ({"status": "covered"}, False, False),
    ],
)
def test_claimable_by_state_and_age(
    src: dict[str, str] | None, default: bool, resend: bool
) -> None:
    assert claimable(src, NOW, EXPIRY) is default
    assert claimable(src, NOW, RESEND) is resend
