"""The one place newsmon reads the wall clock.

Each unit of work (a poll, an alert run, a digest run, a maintenance run, a CLI cycle) asks
for ``utcnow()`` once and hands that instant down, so one run never straddles two digest slots
or two monthly indices halfway through, and every function below the unit is deterministic in
the instant it is given (tests pass a fixed one).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)
