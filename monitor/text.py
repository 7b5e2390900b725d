"""Unicode folding and tokenisation shared by tagging and dedupe.

Elasticsearch's core distribution has no asciifolding or language analyzers, so folding happens
here and the folded text is indexed in its own fields analysed by `standard`.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic diacritics (harakat, tanwin, shadda, sukun, superscript alef) and tatweel.
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
# Hebrew points and cantillation (niqqud, te'amim).
_HEBREW_MARKS = re.compile("[\u0591-\u05c7]")
_ARABIC_MAP = str.maketrans(
    {
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0622": "\u0627",  # آ -> ا
        "\u0671": "\u0627",  # ٱ -> ا
        "\u0649": "\u064a",  # ى -> ي
        "\u0629": "\u0647",  # ة -> ه
    }
)
_TOKEN = re.compile(r"\w+", re.UNICODE)


def casefold(s: str) -> str:
    """Case-fold with Turkish dotted/dotless I handled: İ -> i, I -> i, ı -> i."""
    # Folding both Turkish i's onto plain i loses the ı/i distinction, which is what we want
    # for matching: "İsrail", "ISRAIL" and "Israil" must all meet.
    return s.replace("İ", "i").replace("ı", "i").casefold()


def fold(s: str) -> str:
    """NFKC, case-fold, strip Latin diacritics and Arabic/Hebrew marks. Idempotent."""
    s = unicodedata.normalize("NFKC", s)
    s = casefold(s)
    s = _ARABIC_MARKS.sub("", s)
    s = _HEBREW_MARKS.sub("", s)
    s = s.translate(_ARABIC_MAP)
    # Strip combining marks from Latin letters only: NFD would also split Arabic/Hebrew letters.
    decomposed = unicodedata.normalize("NFD", s)
    s = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    s = unicodedata.normalize("NFC", s)
    # Typographic apostrophes become ASCII so Turkish suffixes (İsrail’e) split the same way.
    s = s.replace("\u2019", "'").replace("\u02bc", "'").replace("`", "'")
    return s


def tokens(s: str) -> list[str]:
    """Word tokens of the folded text."""
    return _TOKEN.findall(fold(s))
