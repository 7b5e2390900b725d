"""The shifted-clock reruns' split: every pure test under every instant, every service test
under exactly one instant per run, and the day's rotation moving each slice on."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from localdev.clockshift import slices
from tests.conftest import shard_items

TESTS = Path(__file__).resolve().parents[1]


class _Item:
    """What shard_items reads of a pytest item: its file and its id."""

    def __init__(self, rel: str, name: str) -> None:
        self.path = TESTS / rel
        self.nodeid = f"tests/{rel}::{name}"


ITEMS = cast(
    list[pytest.Item],
    [_Item("unit/test_a.py", f"test_{i}") for i in range(30)]
    + [_Item("integration/test_b.py", f"test_{i}") for i in range(200)]
    + [_Item("e2e/test_c.py", f"test_{i}[case-{i % 3}]") for i in range(40)],
)


def test_each_service_test_falls_in_one_slice_and_each_pure_test_in_all() -> None:
    pure = {i.nodeid for i in ITEMS if "/unit/" in i.nodeid}
    seen: list[str] = []
    for k in range(4):
        kept, dropped = shard_items(ITEMS, f"{k}/4", TESTS)
        assert len(kept) + len(dropped) == len(ITEMS)
        assert pure <= {i.nodeid for i in kept}
        seen += [i.nodeid for i in kept if i.nodeid not in pure]
        assert 20 <= len(kept) - len(pure) <= 100  # a hash split: roughly even, never empty
    assert sorted(seen) == sorted(i.nodeid for i in ITEMS if i.nodeid not in pure)


def test_a_slice_is_the_same_from_run_to_run() -> None:
    first = [i.nodeid for i in shard_items(ITEMS, "2/4", TESTS)[0]]
    again = [i.nodeid for i in shard_items(list(reversed(ITEMS)), "2/4", TESTS)[0]]
    assert sorted(first) == sorted(again)


@pytest.mark.parametrize("bad", ["4/4", "1", "a/4", "-1/4", "1/"])
def test_a_malformed_shard_is_refused(bad: str) -> None:
    with pytest.raises(pytest.UsageError, match="K/N"):
        shard_items(ITEMS, bad, TESTS)


def test_every_slice_meets_every_instant_within_as_many_days() -> None:
    days = [slices(4, day) for day in range(738_000, 738_004)]
    for day in days:
        assert sorted(day) == ["0/4", "1/4", "2/4", "3/4"]  # each slice once per run
    for instant in range(4):
        assert sorted(day[instant] for day in days) == ["0/4", "1/4", "2/4", "3/4"]
