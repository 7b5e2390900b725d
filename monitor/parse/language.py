"""The language of one story's text, for stories whose feed declares another (or none).

lingua, loaded with only the six languages the feeds are in (en, tr, ar, he, fr, id): a
detector that knows fewer languages is faster, and a story in a seventh language keeps its
feed's declaration because `detect` is only asked to overrule a declaration in that set.
"""

from __future__ import annotations

from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from monitor.text import guess_lang

__all__ = ["DETECTED", "MIN_CONFIDENCE", "detect", "story_language"]

_LANGUAGES = {
    Language.ENGLISH: "en",
    Language.TURKISH: "tr",
    Language.ARABIC: "ar",
    Language.HEBREW: "he",
    Language.FRENCH: "fr",
    Language.INDONESIAN: "id",
}
DETECTED = frozenset(_LANGUAGES.values())
# A detection overrules a declaration only at this confidence: a headline that is mostly names
# ("Erdoğan and Herzog in Ankara") must not turn an English story Turkish.
MIN_CONFIDENCE = 0.9
# Fewer letters than this are a name or a label, not enough text to judge. Between two Latin
# languages the bar is higher: a few Turkish names make a short English headline read Turkish.
_MIN_LETTERS = 12
_MIN_LATIN_LETTERS = 40
_OWN_SCRIPT = frozenset({"he", "ar"})
_MAX_CHARS = 400


@cache
def _detector() -> LanguageDetector:
    # Low-accuracy mode reads trigrams only: a fraction of the memory and time of the full
    # models, and titles plus summaries are long enough for it.
    return LanguageDetectorBuilder.from_languages(*_LANGUAGES).with_low_accuracy_mode().build()


def detect(text: str) -> tuple[str, float] | None:
    """`(code, confidence)` of the likeliest of the six languages, or None for too little text."""
    sample = text[:_MAX_CHARS]
    letters = sum(c.isalpha() for c in sample)
    if letters < _MIN_LETTERS:
        return None
    values = _detector().compute_language_confidence_values(sample)
    if not values:
        return None
    top = values[0]
    code = _LANGUAGES[top.language]
    if code not in _OWN_SCRIPT and letters < _MIN_LATIN_LETTERS:
        return None
    return code, top.value


def story_language(text: str, declared: str | None) -> str | None:
    """The language to store: `declared` unless the text confidently says another of the six.

    A declaration outside the six (de, fa, ...) is kept: the detector cannot tell those.
    """
    if declared is not None and declared not in DETECTED:
        return declared
    # The script-and-stopword guesser first (a sixth of the detector's cost): text in a seventh
    # language (Persian, German, Russian...) would still come out as one of the six, so the
    # detector is not asked; and when the guess agrees with the declaration, two signals
    # agree and there is nothing to overrule.
    guess = guess_lang(text[:_MAX_CHARS])
    if guess is not None and (guess not in DETECTED or guess == declared):
        return declared
    found = detect(text)
    if found is None or found[1] < MIN_CONFIDENCE:
        return declared
    return found[0]
