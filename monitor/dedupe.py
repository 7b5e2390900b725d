"""Cross-outlet deduplication: exact keys, MinHash/LSH near-duplicates, and the cluster decision.

A story joins the cluster of an earlier story when they share a canonical URL, a feed GUID (same
outlet) or a normalised title (same outlet), or when their text is close enough AND they do not
disagree on the facts that tell events apart (numbers, years, dates, leading names). Otherwise it
starts its own cluster, whose id is its own id (the first-seen story).

The decision is pure given a `CandidateLookup`: the Elasticsearch lookup (store) and the in-memory
one here (`newsmon dedupe`, tests, benchmarks) run exactly the same code and thresholds.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
from datasketch import MinHash

from monitor.models import Story
from monitor.text import fold
from monitor.urls import canonical_url, story_id

# ---- parameters ------------------------------------------------------------------------------
# Changing NUM_PERM, ROWS or SEED changes every band string: stories stored before the change
# stop matching new ones until they age out of the window.
NUM_PERM = 256
ROWS = 2  # rows per band: 2 keeps a pair at Jaccard 0.15 a candidate with p ~ 0.95
BANDS = NUM_PERM // ROWS
SEED = 20231215
MAX_CANDIDATES = 50  # what a lookup returns at most
MAX_VERIFY = 20  # candidates compared in full; copies share the most bands, so they rank first

# On the blend in `similarity`, rewritten and trimmed copies of one story score about 0.5-0.85
# and different stories on the same subject 0.3 at most; look-alikes of different events score
# high too, and are told apart by `_conflict`, not by this threshold.
MERGE_SCORE = 0.40
MAX_GAP = timedelta(hours=72)  # copies appear within hours; days apart means a follow-up story
MIN_TITLE_KEY_TOKENS = 4  # "Live updates", "Morning briefing" recur daily under one title
MIN_SHINGLES = 6  # below this many word pairs a text is too short to call a copy on its own

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
    return _WORD.findall(_folded(s)) if s else []


def _content_tokens(*parts: str | None) -> list[str]:
    return [t for p in parts if p for t in _words(p) if _keep(t)]


def _shingles(toks: list[str]) -> set[str]:
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


# ---- MinHash signature -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray[Any, Any], str]:
    proto = MinHash(num_perm=NUM_PERM, seed=SEED)
    return proto.permutations, str(proto.scheme)


@dataclass
class Signature:
    """MinHash of a story's word shingles and the LSH band strings stored in `lsh_bands`."""

    bands: list[str]
    hashvalues: list[int] = field(default_factory=list)
    shingles: int = 0

    def jaccard(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        if not self.hashvalues or len(self.hashvalues) != len(other.hashvalues):
            return 0.0
        same = sum(1 for a, b in zip(self.hashvalues, other.hashvalues, strict=True) if a == b)
        return same / len(self.hashvalues)


def signature(title: str, summary: str, content: str | None = None) -> Signature:
    """MinHash (256 permutations, 128 bands of 2 rows) over word bigrams of the folded text."""
    sh = _shingles(_content_tokens(title, summary, content))
    if not sh:
        return Signature(bands=[], hashvalues=[], shingles=0)
    perms, scheme = _permutations()
    mh = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=perms, scheme=scheme)
    mh.update_batch([s.encode("utf-8") for s in sorted(sh)])
    values = [int(v) for v in mh.hashvalues]
    bands = []
    for b in range(BANDS):
        row = values[b * ROWS : (b + 1) * ROWS]
        digest = hashlib.blake2b(
            b"".join(v.to_bytes(4, "little") for v in row), digest_size=6
        ).hexdigest()
        bands.append(f"b{b:02x}:{digest}")
    return Signature(bands=bands, hashvalues=values, shingles=len(sh))


# ---- facts that tell events apart ------------------------------------------------------------

_NUM = re.compile(r"(?<!\w)\d+(?:[.,٫٬]\d+)*")


def _norm_number(raw: str) -> str:
    parts = re.split(r"[.,٫٬]", raw)
    if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
        return str(int("".join(parts)))  # thousands separators: 35,000 = 35.000 = 35000
    if len(parts) == 2:
        return f"{int(parts[0])}.{parts[1].rstrip('0') or '0'}"  # decimal: 6,2 = 6.2
    return ".".join(str(int(p)) for p in parts)


def _table(rows: dict[int, str]) -> dict[str, int]:
    return {fold(w): k for k, words in rows.items() for w in words.split()}


# Hand-written: weekday and month names in the languages newsmon reads (en, tr, fr, de, es, id,
# ar, he); a date library would only give us these same lists.
_WEEKDAYS = _table(
    {
        1: "monday pazartesi lundi montag lunes senin الاثنين الإثنين",
        2: "tuesday salı mardi dienstag martes selasa الثلاثاء",
        3: "wednesday çarşamba mercredi mittwoch miércoles rabu الأربعاء",
        4: "thursday perşembe jeudi donnerstag jueves kamis الخميس",
        5: "friday cuma vendredi freitag viernes jumat الجمعة",
        6: "saturday cumartesi samedi samstag sábado sabtu السبت",
        7: "sunday dimanche sonntag domingo الأحد",
    }
)
# Hebrew weekdays are ordinals ("שני" is also "second"): only counted after "יום"/"ביום".
_HE_WEEKDAYS = _table({1: "שני", 2: "שלישי", 3: "רביעי", 4: "חמישי", 5: "שישי", 7: "ראשון"})
_MONTHS = _table(
    {
        1: "january janvier januar enero januari يناير ינואר",
        2: "february février februar febrero februari şubat فبراير شباط פברואר",
        3: "mars märz marzo maret mart مارس آذار מרץ",
        4: "april avril abril nisan أبريل ابريل نيسان אפריל",
        5: "mai mayo mei mayıs مايو أيار",
        6: "june juin juni junio haziran يونيو حزيران יוני",
        7: "july juillet juli julio temmuz يوليو تموز יולי",
        8: "august août agosto agustus ağustos أغسطس اغسطس אוגוסט",
        9: "september septembre septiembre eylül سبتمبر أيلول ספטמבר",
        10: "october octobre oktober octubre أكتوبر اكتوبر אוקטובר",
        11: "november novembre noviembre نوفمبر נובמבר",
        12: "december décembre dezember diciembre desember ديسمبر דצמבר",
    }
)
# Month names that are also common words ("may", "march", Turkish "ekim" = I plant): counted only
# next to a number, as in "May 5" or "5 Ekim".
_MONTHS_AMBIGUOUS = {
    fold("may"): 5,
    fold("march"): 3,
    "ekim": 10,
    "kasim": 11,
    "aralik": 12,
    "ocak": 1,
    "מאי": 5,
}
_HE_PREFIXES = ("ב", "ל", "מ", "ו", "ה")


def _lookup_word(tok: str, table: dict[str, int]) -> int | None:
    if tok in table:
        return table[tok]
    # Hebrew and Arabic glue prepositions and "and" onto the next word: "ביוני", "والجمعه".
    if tok[:1] in _HE_PREFIXES and tok[1:] in table:
        return table[tok[1:]]
    if tok[:1] in ("و", "ب", "ل") and tok[1:] in table:
        return table[tok[1:]]
    return None


@dataclass(frozen=True)
class _Facts:
    numbers: frozenset[str]
    years: frozenset[str]
    weekdays: frozenset[int]
    months: frozenset[int]


def _facts(*parts: str | None) -> _Facts:
    folded = "\n".join(_folded(p) for p in parts if p)
    numbers: set[str] = set()
    years: set[str] = set()
    for m in _NUM.finditer(folded):
        try:
            n = _norm_number(m.group())
        except ValueError:
            continue
        if re.fullmatch(r"(19|20)\d\d", n):
            years.add(n)
        else:
            numbers.add(n)
    toks = _WORD.findall(folded)
    weekdays: set[int] = set()
    months: set[int] = set()
    for i, tok in enumerate(toks):
        wd = _lookup_word(tok, _WEEKDAYS)
        if wd is None and i > 0 and toks[i - 1] in ("יום", "ביום"):
            wd = _HE_WEEKDAYS.get(tok)
        if wd is not None:
            weekdays.add(wd)
            continue
        mo = _lookup_word(tok, _MONTHS)
        if mo is None and tok in _MONTHS_AMBIGUOUS:
            near = toks[max(0, i - 1) : i] + toks[i + 1 : i + 2]
            if any(t.isdigit() for t in near):
                mo = _MONTHS_AMBIGUOUS[tok]
        if mo is not None:
            months.add(mo)
    return _Facts(frozenset(numbers), frozenset(years), frozenset(weekdays), frozenset(months))


def _disagree(a: frozenset[Any], b: frozenset[Any]) -> bool:
    # Each side names something the other lacks: a trimmed copy names a subset, so it passes.
    return bool(a - b) and bool(b - a)


_CAP_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def _skeleton(tok: str) -> str:
    """Consonant skeleton, so transliteration variants meet: Meshaal/Mashal, Haniyeh/Haniya."""
    s = re.sub(r"[aeiouy]", "", tok)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s.rstrip("h") or tok


_SEGMENT = re.compile(r"\s[-–—|]\s|[:|–—«»\"“”‘]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _is_latin(word: str) -> bool:
    return word[:1].isalpha() and ord(word[0]) < 0x250  # Basic Latin to Latin Extended-B


def _is_cap(word: str) -> bool:
    return word[:1].isupper() and _is_latin(word)


def _title_names(title: str, summary: str) -> set[str]:
    """Capitalised words of a Latin-script title: its leading people, places and bodies."""
    # Words capitalised inside a sentence of the summary are proper nouns for sure.
    confirmed = {
        _folded(w)
        for sent in _SENTENCE.split(summary or "")
        for w in _CAP_WORD.findall(sent)[1:]
        if _is_cap(w)
    }
    initial, inner = [], []
    for seg in _SEGMENT.split(title or ""):
        words = _CAP_WORD.findall(seg)
        initial += words[:1]
        inner += words[1:]
    latin = [w for w in initial + inner if _is_latin(w)]
    caps = [w for w in inner if _is_cap(w)]
    title_case = len(latin) > 3 and len(caps) >= 0.6 * max(1, len(latin) - len(initial))
    names = [w for w in caps if not title_case or _folded(w) in confirmed]
    # A headline's first word is capitalised anyway: a name only if the summary says so.
    names += [w for w in initial if _is_cap(w) and _folded(w) in confirmed]
    return {t for w in names for t in _words(w) if _keep(t) and not t.isdigit()}


def _present(tok: str, other_tokens: AbstractSet[str], skeletons: set[str]) -> bool:
    if tok in other_tokens:
        return True
    if _LATIN.match(tok):
        sk = _skeleton(tok)
        # Transliterations and demonyms: Meshaal/Mashal, Iran/Iranian, Turkey/Türkiye/Turkish.
        return sk in skeletons or any(
            len(sk) >= 3 and len(o) >= 3 and (o.startswith(sk) or sk.startswith(o))
            for o in skeletons
        )
    # Arabic and Hebrew inflect by prefixes and vowel letters (يعلن/أعلن, ביוני/יוני): a close
    # spelling in the other text counts as the same word.
    return any(
        len(o) >= 3 and (tok in o or o in tok or SequenceMatcher(None, tok, o).ratio() >= 0.75)
        for o in other_tokens
        if not _LATIN.match(o)
    )


def _missing_names(names: AbstractSet[str], other_tokens: AbstractSet[str]) -> set[str]:
    skel = {_skeleton(t) for t in other_tokens if _LATIN.match(t)}
    return {n for n in names if not _present(n, other_tokens, skel)}


def _template_slots(a: Sequence[str], b: Sequence[str]) -> tuple[set[str], set[str]] | None:
    """The differing words of two headlines built on one template, else None."""
    if not a or not b:
        return None
    sm = SequenceMatcher(None, a, b, autojunk=False)
    ops = [op for op in sm.get_opcodes() if op[0] != "equal"]
    same = sum(i2 - i1 for tag, i1, i2, _j1, _j2 in sm.get_opcodes() if tag == "equal")
    # One or two edited spans with at least 60% of the longer headline word-for-word in place.
    if not ops or len(ops) > 2 or same < 0.6 * max(len(a), len(b)):
        return None
    sa = {t for _tag, i1, i2, _j1, _j2 in ops for t in a[i1:i2]}
    sb = {t for _tag, _i1, _i2, j1, j2 in ops for t in b[j1:j2]}
    return sa, sb


# ---- candidates and decisions ----------------------------------------------------------------


@dataclass
class Candidate:
    """An earlier story, as the lookup returns it (all fields come from the stored document)."""

    id: str
    cluster_id: str
    outlet: str
    canonical_url: str
    guid: str | None
    title: str
    summary: str
    content: str | None
    title_key: str
    lsh_bands: list[str]
    published: datetime | None
    first_seen: datetime | None  # the story's fetched_at

    @classmethod
    def from_story(cls, story: Story) -> Candidate:
        """The candidate view of a story that has been through `assign_cluster`."""
        return cls(
            id=story.id,
            cluster_id=story.cluster_id or story.id,
            outlet=story.outlet,
            canonical_url=story.canonical_url,
            guid=story.guid,
            title=story.title,
            summary=story.summary,
            content=story.content,
            title_key=story.title_key or title_key(story.title),
            lsh_bands=list(story.lsh_bands),
            published=story.published,
            first_seen=story.fetched_at,
        )


class CandidateLookup(Protocol):
    """Where earlier stories come from: Elasticsearch in the pipeline, memory elsewhere."""

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        """Stories with this canonical URL, or this GUID, or this title key from this outlet."""
        ...

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Stories first seen at or after `since` sharing at least one LSH band."""
        ...


@dataclass
class Decision:
    """Where a story belongs. `reason`: seen | url | guid | title | near | new."""

    cluster_id: str
    is_primary: bool
    matched_id: str | None
    reason: str
    score: float
    note: str = ""  # for the log: what was matched or why a close candidate was refused


@dataclass(frozen=True)
class _Text:
    """Features of one story's text (cached: stored stories come back as candidates often)."""

    title_tokens: frozenset[str]
    title_seq: tuple[str, ...]
    tokens: frozenset[str]
    shingles: frozenset[str]
    all_tokens: frozenset[str]
    facts: _Facts
    names: frozenset[str]
    when: datetime | None


@lru_cache(maxsize=4096)
def _features(title: str, summary: str, content: str | None, when: datetime | None) -> _Text:
    title = title or ""
    summary = summary or ""
    ct = _content_tokens(title, summary, content)
    title_seq = _content_tokens(title)
    return _Text(
        title_tokens=frozenset(title_seq),
        title_seq=tuple(title_seq),
        tokens=frozenset(ct),
        shingles=frozenset(_shingles(ct)),
        all_tokens=frozenset(t for p in (title, summary, content) for t in _words(p or "")),
        facts=_facts(title, summary),
        names=frozenset(_title_names(title, summary)),
        when=when,
    )


def _candidate_features(c: Candidate) -> _Text:
    return _features(
        headline(c.title or "", c.outlet or ""), c.summary or "", c.content, _utc(c.published)
    )


def _jaccard(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _containment(a: AbstractSet[str], b: AbstractSet[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _conflict(a: _Text, b: _Text) -> str | None:
    """Why two similar texts are different events, or None when their facts agree."""
    fa, fb = a.facts, b.facts
    if _disagree(fa.numbers, fb.numbers):
        only_a, only_b = sorted(fa.numbers - fb.numbers), sorted(fb.numbers - fa.numbers)
        return f"numbers differ ({only_a} vs {only_b})"
    if _disagree(fa.years, fb.years):
        return "years differ"
    if _disagree(fa.weekdays, fb.weekdays):
        return "weekdays differ"
    if _disagree(fa.months, fb.months):
        return "months differ"
    ma = _missing_names(a.names, b.all_tokens)
    mb = _missing_names(b.names, a.all_tokens)
    if ma and mb:
        return f"names differ ({sorted(ma)} vs {sorted(mb)})"
    slots = _template_slots(a.title_seq, b.title_seq)
    if slots is not None:
        # Template headlines ("X confirmed killed", "Y meets Z") differ in one slot; in scripts
        # without capitals the names rule above cannot see it, so the slot words are compared.
        sa = {t for t in slots[0] if not _LATIN.match(t) and not t.isdigit()}
        sb = {t for t in slots[1] if not _LATIN.match(t) and not t.isdigit()}
        if _missing_names(sa, b.all_tokens) and _missing_names(sb, a.all_tokens):
            return "headline slots differ"
    if a.when and b.when and abs(a.when - b.when) > MAX_GAP:
        return "published days apart"
    return None


def similarity(a: _Text, b: _Text) -> float:
    """Blend of shingle Jaccard, word containment and title overlap, in [0, 1]."""
    j2 = _jaccard(a.shingles, b.shingles)
    # Containment forgives trimmed copies, but only over enough words to mean something.
    c1 = _containment(a.tokens, b.tokens) if min(len(a.tokens), len(b.tokens)) >= 8 else 0.0
    t = _jaccard(a.title_tokens, b.title_tokens)
    # A few shared words prove little: "Live updates" recurs daily, so short texts are damped.
    evidence = min(1.0, min(len(a.shingles), len(b.shingles)) / MIN_SHINGLES)
    return (0.35 * min(1.0, 2 * j2) + 0.45 * c1 + 0.2 * t) * evidence


def _cluster_of(c: Candidate) -> str:
    return c.cluster_id or c.id


def _seen_key(c: Candidate) -> tuple[datetime, str]:
    return (_utc(c.first_seen) or datetime.max.replace(tzinfo=UTC), c.id)


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def assign_cluster(story: Story, lookup: CandidateLookup, *, window_days: int = 7) -> Decision:
    """Decide the cluster of a story from earlier stories in the lookup. Pure given the lookup."""
    key = story.title_key or title_key(story.title)
    bands = story.lsh_bands or signature(story.title, story.summary, story.content).bands
    since = (_utc(story.fetched_at) or datetime.now(UTC)) - timedelta(days=window_days)
    me: _Text | None = None

    def mine() -> _Text:
        nonlocal me
        if me is None:
            me = _features(
                headline(story.title, story.outlet),
                story.summary,
                story.content,
                _utc(story.published),
            )
        return me

    exact = lookup.exact(story.canonical_url, story.guid, key, story.outlet)
    for c in exact:
        if c.id == story.id:
            return _seen(story, c)
    matches: list[tuple[Candidate, str]] = []
    for c in exact:
        if story.canonical_url and c.canonical_url == story.canonical_url:
            matches.append((c, "url"))
        elif story.guid and c.guid == story.guid and c.outlet == story.outlet:
            matches.append((c, "guid"))
        elif (
            key
            and c.title_key == key
            and c.outlet == story.outlet
            and len(key.split()) >= MIN_TITLE_KEY_TOKENS
            and (_utc(c.first_seen) or since) >= since
        ):
            other = _candidate_features(c)
            if _conflict(mine(), other) is None:
                matches.append((c, "title"))
    if matches:
        c, reason = min(matches, key=lambda m: _seen_key(m[0]))
        return Decision(_cluster_of(c), False, c.id, reason, 1.0, note=f"{reason} of {c.id}")

    best: tuple[float, Candidate] | None = None
    refused: list[str] = []
    found = lookup.by_bands(bands, since) if bands else []
    for c in found:
        if c.id == story.id:
            return _seen(story, c)
    mine_bands = set(bands)
    my_title = {t for t in key.split() if _keep(t)}
    ranked = []
    for c in found:
        if (_utc(c.first_seen) or since) < since:
            continue
        shared = len(mine_bands.intersection(c.lsh_bands or ()))
        # One shared band is an estimated Jaccard under 0.1: a copy that weak would also need
        # its headline to share words to reach MERGE_SCORE, so skip the full comparison when
        # the headlines share none (this keeps cost flat as same-topic stories pile up).
        if shared < 2 and not my_title.intersection((c.title_key or "").split()):
            continue
        ranked.append((-shared, _seen_key(c), c))
    # Most shared bands (highest estimated Jaccard) first, whatever order the lookup used.
    ranked.sort(key=lambda r: (r[0], r[1]))
    for _shared, _key, c in ranked[:MAX_VERIFY]:
        other = _candidate_features(c)
        score = similarity(mine(), other)
        if score < MERGE_SCORE:
            continue
        why = _conflict(mine(), other)
        if why:
            refused.append(f"{c.id}: {why}")
            continue
        if best is None or (score, _neg(c)) > (best[0], _neg(best[1])):
            best = (score, c)
    if best is not None:
        score, c = best
        return Decision(_cluster_of(c), False, c.id, "near", round(score, 4), note=f"near {c.id}")
    return Decision(story.id, True, None, "new", 0.0, note="; ".join(refused))


def _neg(c: Candidate) -> tuple[float, str]:
    # Prefer the earliest-seen candidate among equal scores; ids break the remaining ties.
    first = _utc(c.first_seen)
    return (-(first.timestamp() if first else float("inf")), c.id)


def _seen(story: Story, c: Candidate) -> Decision:
    cluster = _cluster_of(c)
    return Decision(cluster, cluster == story.id, None, "seen", 1.0, note="already stored")


def clear_caches() -> None:
    """Forget cached folds and text features (benchmarks measure cold decisions with it)."""
    _folded.cache_clear()
    _features.cache_clear()


def annotate(story: Story) -> Story:
    """Fill the dedupe fields that depend on the story alone: title_key, lsh_bands, wire."""
    story.title_key = title_key(story.title)
    story.lsh_bands = signature(story.title, story.summary, story.content).bands
    story.wire = detect_wire(_join(story.summary, story.content))
    return story


def apply_decision(story: Story, decision: Decision) -> Story:
    """Copy a decision onto the story (cluster_id, is_primary)."""
    story.cluster_id = decision.cluster_id
    story.is_primary = decision.is_primary
    return story


# ---- in-memory lookup ------------------------------------------------------------------------

_KEY_MASK = (1 << 48) - 1


def _band_key(band: str) -> int:
    """A band string "bXX:<12 hex>" as one 56-bit integer (band index in the top bits)."""
    head, _, digest = band.partition(":")
    return (int(head[1:], 16) << 48) | (int(digest, 16) & _KEY_MASK)


_KEY_BITS = 56  # band index (8 bits) above a 48-bit digest


class _BandIndex:
    """Band key -> story slots: one sorted numpy array plus a dict of recent postings.

    Hand-written because 100,000 stories carry 12.8 million band postings: as Python dicts and
    sets that is gigabytes, as sorted uint64/int32 arrays about 150 MB. Digests are uniform, so
    the top bits of a key say where it sits in the array: a bucket table of offsets sends each
    lookup to a handful of neighbouring entries, and lookups cost the same at 1,000 stories as at
    100,000 (a binary search would pay a cache miss per level on a large array). The buffer is
    merged into the array when it fills, so adding stays cheap on average.
    """

    def __init__(self, buffer_limit: int = 1 << 19) -> None:
        self._keys: np.ndarray[Any, Any] = np.empty(0, dtype=np.uint64)
        self._vals: np.ndarray[Any, Any] = np.empty(0, dtype=np.int32)
        self._offsets: np.ndarray[Any, Any] = np.zeros(2, dtype=np.int64)
        self._shift = _KEY_BITS
        self._width = 0
        self._buf: dict[int, list[int]] = {}
        self._buf_n = 0
        self._limit = buffer_limit

    def add(self, keys: Iterable[int], slot: int) -> None:
        for k in keys:
            self._buf.setdefault(k, []).append(slot)
            self._buf_n += 1
        if self._buf_n >= self._limit:
            self._flush()

    def _flush(self) -> None:
        ks = np.fromiter(
            (k for k, slots in self._buf.items() for _ in slots), dtype=np.uint64, count=self._buf_n
        )
        vs = np.fromiter(
            (s for slots in self._buf.values() for s in slots), dtype=np.int32, count=self._buf_n
        )
        self._buf.clear()
        self._buf_n = 0
        ks = np.concatenate((self._keys, ks))
        vs = np.concatenate((self._vals, vs))
        order = np.argsort(ks, kind="stable")
        self._keys, self._vals = ks[order], vs[order]
        # About eight postings per bucket.
        bits = max(4, (len(self._keys) // 8).bit_length())
        self._shift = _KEY_BITS - bits
        bounds = np.arange((1 << bits) + 1, dtype=np.uint64) << np.uint64(self._shift)
        self._offsets = np.searchsorted(self._keys, bounds).astype(np.int64)
        self._offsets[-1] = len(self._keys)
        self._width = int(np.diff(self._offsets).max())

    def slots(self, keys: list[int]) -> list[int]:
        """Slots posted under any of the keys, once per matching key."""
        out: list[int] = []
        for k in keys:
            out.extend(self._buf.get(k, ()))
        if not self._width or not keys:
            return out
        q = np.asarray(keys, dtype=np.uint64)
        bucket = (q >> np.uint64(self._shift)).astype(np.int64)
        lo, hi = self._offsets[bucket], self._offsets[bucket + 1]
        pos = lo[:, None] + np.arange(self._width)[None, :]
        inside = pos < hi[:, None]
        pos = np.where(inside, pos, 0)
        match = inside & (self._keys[pos] == q[:, None])
        out.extend(self._vals[pos[match]].tolist())
        return out


class MemoryLookup:
    """An in-memory CandidateLookup with the same semantics as the Elasticsearch one."""

    def __init__(self, max_candidates: int = MAX_CANDIDATES) -> None:
        self.max_candidates = max_candidates
        # Rows hold candidates without their list of band strings, which is most of a story's
        # size as Python objects; `_bands` keeps them as one space-joined string instead.
        self._rows: list[Candidate | None] = []
        self._bands: list[str | None] = []
        self._slot: dict[str, int] = {}
        self._by_url: dict[str, set[str]] = {}
        self._by_guid: dict[str, set[str]] = {}
        self._by_title: dict[tuple[str, str], set[str]] = {}
        self._index = _BandIndex()

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._slot

    def get(self, story_id: str) -> Candidate | None:
        """The stored candidate with this id."""
        slot = self._slot.get(story_id)
        return None if slot is None else self._candidate(slot)

    def _candidate(self, slot: int) -> Candidate:
        row, keys = self._rows[slot], self._bands[slot]
        assert row is not None and keys is not None
        return replace(row, lsh_bands=keys.split())

    def add(self, story: Story) -> None:
        """Store a story after its decision; adding the same id again replaces it."""
        if not story.lsh_bands or not story.title_key:
            annotate(story)
        c = Candidate.from_story(story)
        old = self._slot.get(c.id)
        if old is not None:
            # The old slot stays in the band index as a dead posting, skipped at lookup.
            prev = self._rows[old]
            assert prev is not None
            self._by_url.get(prev.canonical_url, set()).discard(c.id)
            if prev.guid:
                self._by_guid.get(prev.guid, set()).discard(c.id)
            self._by_title.get((prev.outlet, prev.title_key), set()).discard(c.id)
            self._rows[old] = None
            self._bands[old] = None
        slot = len(self._rows)
        keys = [_band_key(b) for b in c.lsh_bands]
        self._rows.append(replace(c, lsh_bands=[]))
        self._bands.append(" ".join(c.lsh_bands))
        self._slot[c.id] = slot
        if c.canonical_url:
            self._by_url.setdefault(c.canonical_url, set()).add(c.id)
        if c.guid:
            self._by_guid.setdefault(c.guid, set()).add(c.id)
        if c.title_key:
            self._by_title.setdefault((c.outlet, c.title_key), set()).add(c.id)
        self._index.add(keys, slot)

    def exact(
        self, canonical_url: str, guid: str | None, title_key: str, outlet: str
    ) -> list[Candidate]:
        """Stories with this canonical URL, or this GUID, or this title key from this outlet."""
        ids: set[str] = set()
        if canonical_url:
            ids |= self._by_url.get(canonical_url, set())
        if guid:
            ids |= self._by_guid.get(guid, set())
        if title_key:
            ids |= self._by_title.get((outlet, title_key), set())
        return sorted((self._candidate(self._slot[i]) for i in ids), key=_seen_key)

    def by_bands(self, bands: list[str], since: datetime) -> list[Candidate]:
        """Up to `max_candidates` stories first seen since `since` sharing a band, best first."""
        hits = Counter(self._index.slots([_band_key(b) for b in bands]))
        since = _utc(since) or since
        live = []
        for slot, n in hits.items():
            row = self._rows[slot]
            if row is None:
                continue
            first = _utc(row.first_seen)
            if first is not None and first < since:
                continue
            live.append((-n, _recency(row), slot))
        # Most shared bands first, then the most recent: copies arrive close together.
        live.sort()
        return [self._candidate(slot) for _n, _r, slot in live[: self.max_candidates]]


def _recency(c: Candidate) -> tuple[float, str]:
    first = _utc(c.first_seen)
    return (-(first.timestamp() if first else 0.0), c.id)


# ---- `newsmon dedupe` ------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def record_to_story(rec: dict[str, Any], arrival: datetime) -> Story:
    """A Story from a `newsmon dedupe` input line; `arrival` stands in when it has no date."""
    url = str(rec.get("url") or "")
    canon = canonical_url(url)
    outlet = str(rec.get("outlet") or "")
    guid = rec.get("guid")
    sid = str(rec.get("id") or story_id(canon, guid, outlet))
    published = _parse_time(rec.get("published"))
    story = Story(
        id=sid,
        feed_id=outlet,
        outlet=outlet,
        url=url,
        canonical_url=canon,
        title=str(rec.get("title") or ""),
        summary=str(rec.get("summary") or ""),
        content=rec.get("content") or None,
        guid=str(guid) if guid else None,
        published=published,
        # Offline input has no fetch time; the publish time is the best stand-in for the window.
        fetched_at=published or arrival,
        lang=rec.get("lang"),
    )
    return annotate(story)


def dedupe_records(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Cluster stories given in arrival order; yields {"id", "cluster_id"} per story."""
    lookup = MemoryLookup()
    arrival = datetime.now(UTC)
    for rec in records:
        story = record_to_story(rec, arrival)
        decision = assign_cluster(story, lookup)
        apply_decision(story, decision)
        lookup.add(story)
        yield {"id": story.id, "cluster_id": story.cluster_id}
