"""Index and alias names. Every name starts with the configured prefix, so test runs and
parallel installs on one cluster never collide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["IndexNames", "monthly_index", "retention_cutoff"]


def monthly_index(alias: str, when: datetime) -> str:
    """The monthly story index for an instant: its UTC month, whatever zone `when` is in."""
    return f"{alias}-{when.astimezone(UTC):%Y.%m}"


def retention_cutoff(now: datetime, months: int) -> datetime:
    """First day of the month `months` months before now's month."""
    y, m = now.year, now.month - months
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)


@dataclass(frozen=True)
class IndexNames:
    """``{prefix}-stories-YYYY.MM`` behind the alias ``{prefix}-stories``; ``{prefix}-feeds``
    (feed state and alert cursors); ``{prefix}-deliveries`` (the alert ledger)."""

    prefix: str

    @property
    def stories(self) -> str:
        """The alias over every monthly story index."""
        return f"{self.prefix}-stories"

    @property
    def stories_pattern(self) -> str:
        return f"{self.stories}-*"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}-feeds"

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}-deliveries"

    def stories_for(self, when: datetime) -> str:
        return monthly_index(self.stories, when)

    def month_of(self, index: str) -> str | None:
        """``YYYY.MM`` of a monthly story index name, None for any other name."""
        head, _, month = index.rpartition("-")
        return month if head == self.stories and len(month) == 7 else None
