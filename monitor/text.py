"""Unicode folding, tokens and language guessing shared by tagging, dedupe and store.

Elasticsearch's core distribution has no asciifolding or language analyzers, so folding happens
here and the folded text is indexed in its own fields analysed by `standard`.

Two views of the same folding:

- `fold(s)` / `tokens(s)`: the folded string, for signatures and indexed fields;
- `match_form(s)`: the folded string plus, for every folded character, the index of the original
  character it came from, so a match found in folded text can be shown in the original.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# Arabic diacritics (harakat, tanwin, shadda, sukun, superscript alef, Quranic marks) and tatweel.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
# Hebrew points and cantillation (niqqud, te'amim), not the letters or punctuation marks after them.
_HEBREW_MARKS = re.compile("[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7]")
# Invisible format characters (ZWNJ/ZWJ, direction marks, soft hyphen, BOM) that copy-pasted
# Arabic, Hebrew and Persian text is full of; they would split words that look whole.
_INVISIBLE = re.compile("[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CHAR_MAP = str.maketrans(
    {
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0622": "\u0627",  # آ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0649": "\u064a",  # ى -> ي
        "\u0629": "\u0647",  # ة -> ه
        "\u06cc": "\u064a",  # Persian ی -> ي
        "\u06a9": "\u0643",  # Persian ک -> ك
        # Typographic apostrophes and the Hebrew geresh become ASCII, so Turkish suffixes
        # (İsrail’e) split the same way and transliterations (Sa’ar) meet their plain form.
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u02bb": "'",
        "\u02be": "'",
        "\u02bf": "'",
        "`": "'",
        "\u05f3": "'",  # ׳ geresh
        "\u05f4": '"',  # ״ gershayim
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
    }
)
# Quote marks inside a Hebrew word are acronym or transliteration marks (צה"ל, כ"ץ, ג'בארין):
# writers use them inconsistently, so they are dropped.
_HEBREW_QUOTE = re.compile("(?<=[\u05d0-\u05ea])[\"']+(?=[\u05d0-\u05ea])")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u05be\ufe58\ufe63\uff0d")


# Deleted from every stored text and header: control characters (a NUL in a title would reach
# an email's Subject raw; the whitespace ones are left to str.split), and the bidirectional
# overrides, embeddings and isolates, zero-width space and stray byte-order marks that make a
# title read differently from what it says ("Invoice \u202egnp.exe" displays as "Invoice
# exe.png"). Joiners (U+200C, U+200D) stay: Persian, Arabic and emoji need them.
_UNSAFE_CHARS = dict.fromkeys(
    (
        *range(0x00, 0x09),
        *range(0x0E, 0x1C),
        0x7F,
        *range(0x80, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x200B,
        0xFEFF,
    )
)


def one_line(text: str) -> str:
    """`text` safe to store or put in a header: unsafe characters deleted, one line, single
    spaces (every run of whitespace, line breaks included, becomes one space)."""
    return " ".join(text.translate(_UNSAFE_CHARS).split())


def casefold(s: str) -> str:
    """Case-fold with Turkish dotted/dotless I handled: İ -> i, I -> i, ı -> i."""
    # Folding both Turkish i's onto plain i loses the ı/i distinction, which is what we want
    # for matching: "İsrail", "ISRAIL" and "Israil" must all meet.
    return s.replace("İ", "i").replace("ı", "i").casefold()


def _fold_once(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    s = _INVISIBLE.sub("", s)
    s = casefold(s)
    s = _ARABIC_MARKS.sub("", s)
    s = _HEBREW_MARKS.sub("", s)
    s = s.translate(_CHAR_MAP)
    # Dropping every combining mark after NFD folds Latin diacritics (ğ ş ç ö ü â é) and also
    # the hamza/madda carriers of Arabic (ؤ -> و, ئ -> ي), the usual search normalisation there.
    decomposed = unicodedata.normalize("NFD", s)
    s = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    s = unicodedata.normalize("NFC", s)
    return _HEBREW_QUOTE.sub("", s)


def fold(s: str) -> str:
    """NFKC, Turkish-aware case folding, no Latin diacritics or Arabic/Hebrew marks. Idempotent."""
    if s.isascii():
        # Most feed text is plain ASCII, for which every step below but lower-casing and the
        # backtick -> apostrophe mapping is the identity (tests/unit/test_text.py holds the two
        # paths equal); skipping four normalisations halves tokenising a story.
        return s.lower().replace("`", "'")
    return fold_unicode(s)


def fold_unicode(s: str) -> str:
    """`fold` by the general path, for any text (`fold` takes a shortcut for ASCII text)."""
    once = _fold_once(s)
    # A handful of compatibility characters only reach their final form on a second pass
    # (casefold can emit characters NFKC would rewrite); loop so fold(fold(s)) == fold(s).
    while True:
        again = _fold_once(once)
        if again == once:
            return once
        once = again


# An apostrophe inside a word: English possessives (Erdoğan's), Turkish case suffixes
# (Erdoğan'ın, İsrail'e), elisions (l'armée). The standard tokenizer keeps such a word whole.
_INNER_APOSTROPHE = re.compile(r"(?<=[^\W\d_])'(?=[^\W\d_])")


def search_fold(s: str) -> str:
    """`fold`, with apostrophes inside words turned into spaces: the copy plain-word alert
    rules search, so `erdogan` finds "Erdoğan's" and "Erdoğan'ın" (the suffix becomes a word
    of its own, which no rule asks for; "O'Brien" still matches on the unfolded fields)."""
    return _INNER_APOSTROPHE.sub(" ", fold(s))


def tokens(s: str) -> list[str]:
    """Word tokens of the folded text."""
    return _TOKEN.findall(fold(s))


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    return fold(ch)


def is_word_char(ch: str) -> bool:
    """True for letters and digits of any script (what a match may not touch on either side)."""
    return ch.isalnum()


def match_form(s: str) -> tuple[str, Sequence[int]]:
    """Fold `s` for alias matching; returns the folded text and, per folded char, its source index.

    On top of `fold` (applied character by character so offsets survive): hyphens and dashes
    become spaces, so "al-Arouri", "al Arouri" and "El-Aruri" meet; whitespace runs collapse
    to one space; quote marks inside Hebrew words are dropped.
    """
    # The hot path of tagging (every field of every story). Most text folds one character to
    # one character, so one `str.translate` (in C) gives the folded text with offsets equal to
    # positions; only text holding a character that folds to none or several (ß, ligatures,
    # vowel points) takes the character-by-character walk.
    one = s.translate(_ONE_TO_ONE)
    offsets: Sequence[int]
    if _SEVERAL in one:
        chars, offsets = _match_form_walk(s)
        text = "".join(chars)
    else:
        text, offsets = _even_spaces(one)
    # Hebrew acronym quotes: dropped after the fold because they depend on both neighbours.
    if "'" not in text and '"' not in text:
        return text, offsets
    drop = {k for q in _HEBREW_INNER_QUOTE.finditer(text) for k in range(q.start(), q.end())}
    if drop:
        text = "".join(c for k, c in enumerate(text) if k not in drop)
        offsets = [o for k, o in enumerate(offsets) if k not in drop]
    return text, offsets


# Marks, in `_ONE_TO_ONE`'s output, a character whose fold is not exactly one character.
_SEVERAL = "\uffff"
# Quote marks inside a Hebrew word, a whole run of them as `fold` drops (a doubled geresh is
# still an acronym mark).
_HEBREW_INNER_QUOTE = _HEBREW_QUOTE
# Spaces that do not survive: a leading or trailing run, and all but the first of a run.
_EXTRA_SPACES = re.compile("^ +| +$|(?<= ) +")


class _OneToOne(dict[int, str]):
    """Translation table, filled as characters are first met: whitespace and hyphens to a space,
    a character that folds to one non-space character to it, anything else to `_SEVERAL`."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = _fold_char(ch)
        if ch in _HYPHENS or ch.isspace():
            out = " "
        elif len(folded) == 1 and not folded.isspace() and ch != _SEVERAL:
            out = folded
        else:
            out = _SEVERAL
        self[code] = out
        return out


_ONE_TO_ONE = _OneToOne()


def _even_spaces(one: str) -> tuple[str, Sequence[int]]:
    """Drop `_EXTRA_SPACES` from a one-to-one fold, keeping each kept char's position."""
    if not (one.startswith(" ") or one.endswith(" ") or "  " in one):  # cheaper than the regex
        return one, range(len(one))  # the common case: no list of a thousand ints to build
    parts: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _EXTRA_SPACES.finditer(one):
        parts.append(one[pos : m.start()])
        offsets.extend(range(pos, m.start()))
        pos = m.end()
    parts.append(one[pos:])
    offsets.extend(range(pos, len(one)))
    return "".join(parts), offsets


def _match_form_walk(s: str) -> tuple[list[str], list[int]]:
    """`match_form` one character at a time, for text whose fold changes its length."""
    chars: list[str] = []
    offsets: list[int] = []
    for i, ch in enumerate(s):
        if ch in _HYPHENS or ch.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                offsets.append(i)
            continue
        for c in _fold_char(ch):
            if c.isspace():
                if chars and chars[-1] != " ":
                    chars.append(" ")
                    offsets.append(i)
                continue
            chars.append(c)
            offsets.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    return chars, offsets


def match_key(s: str) -> str:
    """The folded form of an alias or phrase, as compared against `match_form` text."""
    return match_form(s.strip())[0]


def _is_hebrew_letter(ch: str) -> bool:
    return "\u05d0" <= ch <= "\u05ea"


def script_of(ch: str) -> str:
    """Coarse script of one character: latin, arabic, hebrew, cyrillic, greek or other."""
    o = ord(ch)
    if 0x0590 <= o <= 0x05FF or 0xFB1D <= o <= 0xFB4F:
        return "hebrew"
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF:
        return "arabic"
    if 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
        return "arabic"
    if 0x0400 <= o <= 0x052F:
        return "cyrillic"
    if 0x0370 <= o <= 0x03FF:
        return "greek"
    if ch.isalpha() and (o < 0x0250 or 0x1E00 <= o <= 0x1EFF):
        return "latin"
    return "other"


def script_of_text(s: str) -> str:
    """The script of the first letter in `s` ("other" when there is none)."""
    for ch in s:
        if ch.isalpha():
            return script_of(ch)
    return "other"


# Arabic clitics written onto the next word: conjunctions و ف, prepositions ب ل ك, the article
# ال, and لل (ل + ال, whose alef is dropped in writing).
ARABIC_PREFIXES = frozenset(
    {
        "و",
        "ف",
        "ب",
        "ل",
        "ك",
        "ال",
        "وال",
        "فال",
        "بال",
        "كال",
        "لل",
        "ولل",
        "فلل",
        "وب",
        "ول",
        "وك",
        "فب",
        "فل",
        "فك",
        "وبال",
        "وكال",
        "فبال",
    }
)
ARABIC_ARTICLE_PREFIXES = frozenset(p for p in ARABIC_PREFIXES if p.endswith(("ال", "لل")))
# Hebrew proclitics: ו ה ב ל מ ש כ, which stack (ובה, שמה, וכש, ...).
_HEBREW_PREFIX = re.compile("[והבלמשכ]{1,3}")


def prefix_allowed(prefix: str, script: str) -> bool:
    """Whether `prefix` (letters glued before a match inside one word) is a clitic of `script`."""
    if not prefix:
        return True
    if script == "arabic":
        return prefix in ARABIC_PREFIXES
    if script == "hebrew":
        return _HEBREW_PREFIX.fullmatch(prefix) is not None
    return False


# ---- language guessing -----------------------------------------------------------------------


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the of and to in is was for on that with said by from as at its has have will after "
        "who were his their are be this an over says"
    ),
    "tr": _words(
        "ve bir bu ile için da de olan olarak gibi daha çok ancak sonra ise değil kadar üzere "
        "tarafından ilişkin yaptı etti dedi şunları ki ne"
    ),
    "fr": _words(
        "le la les des du et un une est dans pour que qui sur au aux par avec pas ce sont été "
        "elle il selon ont"
    ),
    "id": _words(
        "yang dan di ke dari untuk dengan ini itu pada dalam tidak akan oleh telah juga ada "
        "bahwa mereka kata sebagai setelah"
    ),
    "de": _words(
        "der die das und ist nicht mit den dem ein eine sich auf für von zu im auch wurde wird nach"
    ),
    "es": _words(
        "el la los las y de del en que un una por con para se su al es lo como más fue según"
    ),
}
_TURKISH_LETTERS = frozenset("ğĞıİşŞ")
_PERSIAN_LETTERS = frozenset("پچژگکی")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# The letters `script_of` names, by script (it counts letters only: `guess_lang` passes letters).
_SCRIPT_LETTERS = [
    ("hebrew", re.compile("[\u0590-\u05ff\ufb1d-\ufb4f]")),
    ("arabic", re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")),
    ("cyrillic", re.compile("[\u0400-\u052f]")),
    ("greek", re.compile("[\u0370-\u03ff]")),
    ("latin", re.compile("[\u0000-\u024f\u1e00-\u1eff]")),
]


def guess_lang(text: str) -> str | None:
    """Best-effort ISO 639-1 code from script and common words; None when there is nothing to go on.

    Good enough for stories whose feed gives no language: Hebrew and Arabic by script, Latin
    text among en/tr/fr/id/de/es by characteristic letters and function words.
    """
    # Counted with regular expressions, not a loop over characters: this runs on every story
    # whose feed gives no language.
    letters = "".join(_WORD.findall(text))
    if not letters:
        return None
    if letters.isascii():
        # Plain ASCII letters are all Latin: no script to count (most English feeds).
        return _latin_lang(text)
    if not letters.isalpha():  # [^\W\d_] also admits numerals such as "²"
        letters = "".join(c for c in letters if c.isalpha())
    found = []
    for script, pattern in _SCRIPT_LETTERS:
        first = pattern.search(letters)
        if first:
            found.append((first.start(), script, len(pattern.findall(letters, first.start()))))
    rest = len(letters) - sum(n for _, _, n in found)
    if rest:
        first_other = next(k for k, c in enumerate(letters) if script_of(c) == "other")
        found.append((first_other, "other", rest))
    # In order of first appearance, so a tie goes to the script met first.
    counts = {script: n for _, script, n in sorted(found)}
    persian = sum(letters.count(c) for c in _PERSIAN_LETTERS)
    if not counts:
        return None
    script = max(counts, key=lambda k: counts[k])
    if script == "hebrew":
        return "he"
    if script == "arabic":
        return "fa" if persian * 20 >= counts["arabic"] and persian >= 2 else "ar"
    if script == "cyrillic":
        return "ru"
    if script == "greek":
        return "el"
    if script != "latin":
        return None
    return _latin_lang(text)


# Stopword -> the languages (other than Turkish) that list it: one look-up per word, not six.
_STOP_LANGS: dict[str, tuple[str, ...]] = {
    w: tuple(lang for lang, stop in _STOPWORDS.items() if lang != "tr" and w in stop)
    for ws in _STOPWORDS.values()
    for w in ws
}


def _stop_langs(word: str) -> tuple[str, ...]:
    """The languages that list `word` (as written in a text) among their function words."""
    # Turkish words are matched with Turkish casing (I -> ı), the others casefolded.
    langs = _STOP_LANGS.get(casefold(word), ())
    if word.replace("İ", "i").replace("I", "ı").lower() in _STOPWORDS["tr"]:
        langs = ("tr", *langs)
    return langs


# Word as written -> `_stop_langs`: most words of a feed recur, and casing them costs more
# than the look-up. Bounded: cleared when full.
_WORD_LANGS: dict[str, tuple[str, ...]] = {}
_WORD_LANGS_MAX = 100_000


def _latin_lang(text: str) -> str | None:
    """Among the Latin-script languages, the one whose function words the text uses most."""
    scores = {lang: 0.0 for lang in _STOPWORDS}
    memo = _WORD_LANGS
    for w in _WORD.findall(text):
        langs = memo.get(w)
        if langs is None:
            if len(memo) >= _WORD_LANGS_MAX:
                memo.clear()
            langs = memo[w] = _stop_langs(w)
        for lang in langs:
            scores[lang] += 1
    scores["tr"] += 1.5 * sum(text.count(c) for c in _TURKISH_LETTERS)
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else None


def norm_lang(lang: str | None) -> str | None:
    """'en-US' -> 'en', 'TR' -> 'tr'; empty -> None."""
    if not lang:
        return None
    code = re.split(r"[-_]", lang.strip(), maxsplit=1)[0].lower()
    return code or None
