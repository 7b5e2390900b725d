"""Folding, match form, clitic prefixes and language guessing (monitor.text)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.text import (
    fold,
    guess_lang,
    match_form,
    match_key,
    norm_lang,
    prefix_allowed,
    script_of_text,
    search_fold,
    tokens,
)

TURKISH = "abcçdefgğhıijklmnoöprsştuüvyzABCÇDEFGĞHIİJKLMNOÖPRSŞTUÜVYZ"
ARABIC_LETTERS = "ابتثجحخدذرسشصضطظعغفقكلمنهويءأإآةى"
HARAKAT = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670"
HEBREW_LETTERS = "אבגדהוזחטיכלמנסעפצקרשתךםןףץ"
NIQQUD = "\u05b0\u05b1\u05b2\u05b3\u05b4\u05b5\u05b6\u05b7\u05b8\u05b9\u05bb\u05bc\u05c1\u05c2"

mixed_text = st.text(
    alphabet=st.sampled_from(
        TURKISH
        + ARABIC_LETTERS
        + HARAKAT
        + "\u0640"
        + HEBREW_LETTERS
        + NIQQUD
        + "éèêâàçñøßﬁ’'\"״׳-–— .,!?\n\t0123456789٣"
    ),
    max_size=60,
)


# ---- fold ------------------------------------------------------------------------------------


@given(st.text(max_size=80))
def test_fold_is_idempotent_on_any_text(s: str) -> None:
    assert fold(fold(s)) == fold(s)


@given(mixed_text)
def test_fold_is_idempotent_on_the_scripts_we_care_about(s: str) -> None:
    assert fold(fold(s)) == fold(s)


def _tr_upper(s: str) -> str:
    return s.replace("i", "İ").replace("ı", "I").upper()


def _tr_lower(s: str) -> str:
    return s.replace("I", "ı").replace("İ", "i").lower()


@given(st.text(alphabet=TURKISH, max_size=30))
def test_turkish_case_round_trips_fold_to_the_same_string(s: str) -> None:
    assert fold(_tr_upper(s)) == fold(_tr_lower(s)) == fold(s)
    assert fold(_tr_upper(_tr_lower(s))) == fold(s)


def test_turkish_dotted_and_dotless_i_meet() -> None:
    forms = ["İSRAİL", "İsrail", "israil", "ISRAIL", "Israil", "ısraıl"]
    assert {fold(f) for f in forms} == {"israil"}
    assert fold("KALIN") == fold("Kalın") == "kalin"


def test_latin_diacritics_are_folded() -> None:
    assert (
        fold("Erdoğan Çavuşoğlu Güler Öncü Keçeli hâlâ")
        == "erdogan cavusoglu guler oncu keceli hala"
    )
    assert fold("Israël Jérusalem Ismaïl") == "israel jerusalem ismail"
    assert fold("Straße") == "strasse"


@given(
    st.text(alphabet=ARABIC_LETTERS, min_size=1, max_size=12),
    st.lists(st.sampled_from(HARAKAT + "\u0640"), max_size=12),
    st.randoms(use_true_random=False),
)
def test_arabic_harakat_and_tatweel_never_change_the_fold(
    word: str, marks: list[str], rnd: object
) -> None:
    chars = list(word)
    for m in marks:
        # Marks go after a letter, never first: a leading mark would attach to nothing.
        chars.insert(1 + rnd.randrange(len(chars)), m)  # type: ignore[attr-defined]
    assert fold("".join(chars)) == fold(word)


def test_arabic_letter_forms_are_normalised() -> None:
    assert fold("أحمد") == fold("إحمد") == fold("آحمد") == fold("ٱحمد") == "احمد"
    assert fold("مصطفى") == "مصطفي"
    assert fold("حماسة") == "حماسه"
    assert fold("هنيّة") == fold("هنية")
    assert fold("إسـرائيـل") == fold("إسرائيل")
    assert fold("٢٠٢٤") == "2024"


@given(
    st.text(alphabet=HEBREW_LETTERS, min_size=1, max_size=12),
    st.lists(st.sampled_from(NIQQUD), max_size=12),
    st.randoms(use_true_random=False),
)
def test_hebrew_niqqud_never_changes_the_fold(word: str, marks: list[str], rnd: object) -> None:
    chars = list(word)
    for m in marks:
        chars.insert(1 + rnd.randrange(len(chars)), m)  # type: ignore[attr-defined]
    assert fold("".join(chars)) == fold(word)


def test_hebrew_acronym_quotes_are_dropped_inside_words_only() -> None:
    assert fold('צה"ל') == fold("צה״ל") == fold("צהל") == "צהל"
    assert fold("כ״ץ") == fold('כ"ץ') == "כץ"
    assert fold("ג'בארין") == fold("ג׳בארין") == "גבארין"
    # A quotation mark next to a space is punctuation, not an acronym mark.
    assert fold('אמר "שלום"') == 'אמר "שלום"'


def test_typographic_apostrophes_become_ascii() -> None:
    assert fold("İsrail’e") == fold("İsrail'e") == "israil'e"


def test_invisible_format_characters_are_removed() -> None:
    assert fold("حم\u200cاس") == "حماس"
    assert fold("\u200fנתניהו\u200e") == "נתניהו"


def test_tokens_use_the_fold() -> None:
    assert tokens("Heniyye'nin İstanbul’daki toplantısı") == [
        "heniyye",
        "nin",
        "istanbul",
        "daki",
        "toplantisi",
    ]
    assert tokens("") == []


# ---- match form ------------------------------------------------------------------------------


@given(mixed_text)
def test_match_form_offsets_point_into_the_original(s: str) -> None:
    mt, offsets = match_form(s)
    assert len(mt) == len(offsets)
    assert list(offsets) == sorted(offsets)
    assert all(0 <= o < len(s) for o in offsets)
    assert "  " not in mt
    assert not mt.startswith(" ")
    assert not mt.endswith(" ")


@given(mixed_text)
def test_match_form_is_the_fold_with_hyphens_and_spaces_evened_out(s: str) -> None:
    mt, _ = match_form(s)
    squeeze = re.compile(r"[\s\-\u2013\u2014\u05be]+")
    assert squeeze.sub("", mt) == squeeze.sub("", fold(s))


def test_match_form_evens_out_hyphens_and_spaces() -> None:
    assert match_form("Salih  el-Aruri")[0] == "salih el aruri"
    assert match_key("Khalil al‑Hayya") == match_key("khalil al hayya")
    raw = "ISMAİL  Heniyye’nin"
    mt, offsets = match_form(raw)
    assert mt == "ismail heniyye'nin"
    # A span of the folded text maps back to the same words in the original.
    start = mt.index("heniyye")
    end = start + len("heniyye")
    assert raw[offsets[start] : offsets[end - 1] + 1] == "Heniyye"
    assert raw[offsets[0] : offsets[5] + 1] == "ISMAİL"


# ---- clitics, scripts, languages -------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["و", "ف", "ب", "ل", "ال", "وال", "بال", "لل", "ولل", "وب"])
def test_arabic_clitic_prefixes_are_allowed(prefix: str) -> None:
    assert prefix_allowed(fold(prefix), "arabic")


@pytest.mark.parametrize("prefix", ["م", "ت", "سي", "الم"])
def test_other_arabic_letters_are_not_prefixes(prefix: str) -> None:
    assert not prefix_allowed(prefix, "arabic")


@pytest.mark.parametrize("prefix", ["ו", "ה", "ב", "ל", "מ", "ש", "כ", "וה", "שב", "וכש"])
def test_hebrew_prefixes_are_allowed(prefix: str) -> None:
    assert prefix_allowed(prefix, "hebrew")


def test_hebrew_prefix_limits_and_latin_has_none() -> None:
    assert not prefix_allowed("א", "hebrew")
    assert not prefix_allowed("והבל", "hebrew")
    assert not prefix_allowed("al", "latin")
    assert prefix_allowed("", "latin")


def test_script_of_text() -> None:
    assert script_of_text("  Haniyeh") == "latin"
    assert script_of_text("هنية") == "arabic"
    assert script_of_text("הנייה") == "hebrew"
    assert script_of_text("123") == "other"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The minister said the talks with the delegation were over.", "en"),
        ("Bakan, görüşmenin olumlu geçtiğini ve yeni adımlar atılacağını söyledi.", "tr"),
        ("Le ministre a déclaré que les discussions avec la délégation sont terminées.", "fr"),
        ("Menteri mengatakan bahwa pembicaraan dengan delegasi itu telah selesai.", "id"),
        ("قال الوزير إن المحادثات مع الوفد انتهت.", "ar"),
        ("השר אמר כי השיחות עם המשלחת הסתיימו.", "he"),
        ("ÇALIŞMA GRUBU TOPLANDI", "tr"),
    ],
)
def test_guess_lang(text: str, lang: str) -> None:
    assert guess_lang(text) == lang


def test_guess_lang_gives_up_without_evidence() -> None:
    assert guess_lang("") is None
    assert guess_lang("12:30 — 2024") is None


@settings(max_examples=200)
@given(st.text(max_size=100))
def test_guess_lang_never_fails(s: str) -> None:
    assert guess_lang(s) is None or re.fullmatch(r"[a-z]{2}", guess_lang(s) or "")


def test_norm_lang() -> None:
    assert norm_lang("en-US") == "en"
    assert norm_lang("TR") == "tr"
    assert norm_lang("pt_BR") == "pt"
    assert norm_lang("") is None
    assert norm_lang(None) is None


def test_search_fold_splits_possessives_and_turkish_suffixes_only_inside_words() -> None:
    assert search_fold("Erdoğan’s visit") == "erdogan s visit"
    assert search_fold("Erdoğan'ın sözleri, İsrail'e") == "erdogan in sozleri, israil e"
    assert search_fold("'quoted' words") == "'quoted' words"
    assert search_fold("1990's") == "1990's"


def test_a_run_of_quote_marks_inside_a_hebrew_word_is_dropped_as_fold_drops_it() -> None:
    # Found by hypothesis: a doubled geresh between two letters.
    for s in ("א׳׳א", "צה''ל", "א'\"א"):
        assert match_form(s)[0] == fold(s), s


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_ascii_shortcut_folds_as_the_general_path(s: str) -> None:
    # fold() skips the Unicode normalisations for ASCII text; it must give the same answer.
    from monitor.text import fold_unicode

    assert fold(s) == fold_unicode(s)


def test_ascii_shortcut_on_feed_like_text() -> None:
    from monitor.text import fold_unicode

    for s in ["Harbour Council `votes` on TARIFF", "Tab\tand\x00nul", "İstanbul ferry", ""]:
        assert fold(s) == fold_unicode(s)
