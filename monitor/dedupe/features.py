"""Text features of one story: content tokens, shingles, headline and title key, wire credit.

Everything here looks at a single text. The MinHash signature, the exact title key and the
comparison of two stories all start from these tokens; folding is cached here because it is most
of the cost of comparing stories.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise
from sys import intern

from monitor.text import fold

# ---- text features ---------------------------------------------------------------------------

# Frequent function words of 4+ letters in the Latin-script languages we see; short words are
# dropped by length already. Hand-written because a stopword package per language would be a
# large dependency for a filter that only has to keep shingles away from boilerplate.
_STOP_WORDS = """
    with that from this said says were have been will into over after their which about also
    they them than when more what would could there these those while where other some such
    only most very just being under since last first year years told according added
    için olarak daha gibi sonra ancak kadar değil olan oldu etti dedi veya
    dans pour avec sont mais plus cette elle leur leurs selon après
    dari yang untuk dengan pada akan telah dalam oleh juga
"""
_STOP = frozenset(fold(w) for w in _STOP_WORDS.split())
_LATIN = re.compile(r"[a-z]")


def _keep(tok: str) -> bool:
    if tok.isdigit():
        return True
    if tok in _STOP:
        return False
    # Latin function words are mostly <= 3 letters; Arabic and Hebrew content words often are 3.
    return len(tok) >= (4 if _LATIN.match(tok) else 3)


_WORD = re.compile(r"\w+")


@lru_cache(maxsize=16384)
def _folded(s: str) -> str:
    # Folding is most of the cost of comparing stories, and the same candidate texts and names
    # come back decision after decision.
    return fold(s)


def _words(s: str) -> list[str]:
    """`text.tokens(s)`, from the cached fold (fold is idempotent; tokens are \\w+ runs of it)."""
    return list(_tokens(s)) if s else []


@lru_cache(maxsize=4096)
def _tokens(s: str) -> tuple[str, ...]:
    # A story's title and summary are tokenised once and read by the title key, the MinHash
    # shingles, the event text and the copy comparison; a grouping pass (250 stories) and its
    # candidates fit in the cache. Interned: the comparison features of thousands of stories
    # hold their tokens, and the same words recur story after story (one string per word).
    return tuple(map(intern, _WORD.findall(_folded(s))))


def _content_tokens(*parts: str | None) -> list[str]:
    return [t for p in parts if p for t in _words(p) if _keep(t)]


def _shingles(toks: Sequence[str]) -> set[str]:
    if len(toks) < 2:
        return set(toks)
    return {f"{a} {b}" for a, b in pairwise(toks)}


def _join(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p)


# ---- exact keys ------------------------------------------------------------------------------

# Desk labels that outlets prefix and later drop: "UPDATE 2-", "BREAKING:", "LIVE:".
_TITLE_LABEL = re.compile(
    r"^\s*(?:(?:update|updated|breaking|exclusive|live|watch|video|analysis|corrected|"
    r"son dakika|flaş|flas|عاجل|מבזק)\s*\d*\s*[-:–—|]\s*)+",
    re.IGNORECASE,
)

_TITLE_TAIL = re.compile(r"\s+[-|–—:]\s+([^-|–—:]{2,60})$")


def _letters(s: str) -> str:
    return "".join(_WORD.findall(_folded(s)))


def headline(title: str, outlet: str = "") -> str:
    """The title without desk labels ("UPDATE 2-") or a trailing outlet name (" - Reuters")."""
    t = _TITLE_LABEL.sub("", title or "").strip()
    m = _TITLE_TAIL.search(t)
    if m and outlet:
        tail, name = _letters(m.group(1)), _letters(outlet)
        if tail and name and (tail in name or name in tail):
            t = t[: m.start()].rstrip()
    return t


def title_key(title: str) -> str:
    """Normalised title (folded words, no desk label) for exact duplicates within an outlet."""
    stripped = _TITLE_LABEL.sub("", title or "")
    return " ".join(_words(stripped))


# ---- wire credits ----------------------------------------------------------------------------

_WIRES: dict[str, tuple[str, ...]] = {
    "Reuters": ("reuters", "رويترز", "רויטרס"),
    "AP": ("ap", "associated press", "أسوشيتد برس", "اسوشيتد برس", "אי.פי", "איי.פי"),
    "AFP": ("afp", "agence france-presse", "agence france presse", "أ ف ب", "ا ف ب", "فرانس برس"),
    "AA": ("aa", "anadolu", "anadolu agency", "anadolu ajansı", "الأناضول", "الاناضول"),
    "dpa": ("dpa",),
    "Xinhua": ("xinhua", "شينخوا"),
    "EFE": ("efe",),
    "ANSA": ("ansa",),
    "UPI": ("upi",),
    "DHA": ("dha", "demirören haber ajansı"),
    "IHA": ("iha", "ihlas haber ajansı"),
    "WAFA": ("wafa", "وفا"),
}
_ALIAS_TO_WIRE = {alias: wire for wire, aliases in _WIRES.items() for alias in aliases}
_ALIASES = "|".join(sorted((re.escape(a) for a in _ALIAS_TO_WIRE), key=len, reverse=True))
# A credit, not a mention: "(Reuters) -", "ANKARA (AA) -", "— AP" at the end, "AFP —" at the start.
_CREDIT = re.compile(
    rf"\(\s*(?P<p>{_ALIASES})\s*\)"
    rf"|(?:^|\n)\s*(?P<s>{_ALIASES})\s*[-–—:]\s"
    rf"|[-–—]\s*(?P<e>{_ALIASES})\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def detect_wire(text: str) -> str | None:
    """The wire agency credited in the text ("Reuters", "AP", "AFP", "AA", ...), else None."""
    if not text:
        return None
    # Turkish capital İ lower-cases to "i̇" (two code points) and would miss "iha".
    m = _CREDIT.search(text.replace("İ", "I"))
    if not m:
        return None
    alias = (m.group("p") or m.group("s") or m.group("e")).lower()
    return _ALIAS_TO_WIRE.get(alias) or _ALIAS_TO_WIRE.get(fold(alias))
