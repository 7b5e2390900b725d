"""The checked reader behind taxonomy validation: typed values out of a parsed YAML document.

Each method reads one value and checks its type and range; a bad value fails with one line
naming the file and the place (why hand-written: see the comment in taxonomy.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from monitor.text import match_key


class Reader:
    """Typed values out of a parsed YAML document; `fail` builds the one-line error."""

    def __init__(self, path: str, error: type[ValueError]) -> None:
        self.path = path
        self.error = error

    def fail(self, where: str, msg: str) -> ValueError:
        return self.error(f"{self.path}: {where}: {msg}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {_type_name(value)}")
        return value

    def keys(self, value: dict[str, Any], allowed: Iterable[str], where: str) -> None:
        extra = sorted(set(value) - set(allowed))
        if extra:
            raise self.fail(
                where, f"unknown key '{extra[0]}' (allowed: {', '.join(sorted(allowed))})"
            )

    def text(self, value: Any, where: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "expected a non-empty string")
        return value.strip()

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(where, f"expected a number, got {_type_name(value)}")
        if math.isinf(value):
            raise self.fail(where, "must be finite")
        return float(value)

    def integer(self, value: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(where, f"expected a whole number from {lo} to {hi}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, "expected true or false")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of strings")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise self.fail(where, f"item {i + 1} is not a non-empty string")
            out.append(item.strip())
        return out

    def phrases(self, value: Any, where: str) -> list[tuple[str, str]]:
        """A list of phrases, or a mapping language -> list; each phrase checked for matching."""
        pairs: list[tuple[str, str]] = []
        if isinstance(value, dict):
            for lang, items in value.items():
                if not isinstance(lang, str) or not lang:
                    raise self.fail(where, "language keys must be strings such as 'en'")
                pairs += [(lang, p) for p in self.strings(items, f"{where}.{lang}")]
        else:
            pairs = [("", p) for p in self.strings(value, where)]
        for _, p in pairs:
            core = p[:-1] if p.endswith("*") else p
            if "*" in core:
                raise self.fail(where, f"'{p}': '*' is only allowed at the end")
            if len(match_key(core).replace(" ", "")) < 2:
                raise self.fail(where, f"'{p}' is too short to match safely")
        return pairs

    def tag_set(self, value: Any, where: str, known: set[str]) -> frozenset[str]:
        tags = self.strings(value, where)
        for t in tags:
            if t not in known:
                raise self.fail(where, f"unknown tag '{t}' (declare it under tags: or cues:)")
        return frozenset(tags)


def _type_name(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
