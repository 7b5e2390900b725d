"""The numpy MinHash gives datasketch's hash values and the same band strings, bit for bit."""

from __future__ import annotations

import hashlib
import random

from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedupe.features import _content_tokens, _shingles
from monitor.dedupe.minhash import BANDS, NUM_PERM, ROWS, SEED, signature

# Words in the scripts feeds arrive in, so the folding and shingling in front of the hash see
# Turkish dotted capitals, Arabic and Hebrew as well as plain ASCII.
WORDS = [
    "harbour",
    "council",
    "tariff",
    "corridor",
    "Erdoğan",
    "İstanbul",
    "Ankara'da",
    "ministère",
    "غزة",
    "الحكومة",
    "ירושלים",
    'צה"ל',
    "2026",
    "envoy",
    "summit",
]


def reference(title: str, summary: str, content: str | None) -> tuple[list[str], list[int]]:
    """The signature as newsmon computed it before the numpy version: datasketch's MinHash."""
    sh = _shingles(_content_tokens(title, summary, content))
    if not sh:
        return [], []
    mh = MinHash(num_perm=NUM_PERM, seed=SEED)
    mh.update_batch([s.encode("utf-8") for s in sorted(sh)])
    values = [int(v) for v in mh.hashvalues]
    bands = []
    for b in range(BANDS):
        row = values[b * ROWS : (b + 1) * ROWS]
        digest = hashlib.blake2b(
            b"".join(v.to_bytes(4, "little") for v in row), digest_size=6
        ).hexdigest()
        bands.append(f"b{b:02x}:{digest}")
    return bands, values


def test_same_as_datasketch_on_many_texts() -> None:
    rnd = random.Random(14)
    for _ in range(600):
        title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(0, 12)))
        summary = " ".join(rnd.choice(WORDS) + str(rnd.randint(0, 40)) for _ in range(60))
        content = None if rnd.random() < 0.5 else " ".join(rnd.sample(WORDS, 6))
        sig = signature(title, summary, content)
        bands, values = reference(title, summary, content)
        assert sig.bands == bands
        assert sig.hashvalues == values


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=400))
def test_same_as_datasketch_on_any_text(title: str, summary: str) -> None:
    sig = signature(title, summary)
    assert (sig.bands, sig.hashvalues) == reference(title, summary, None)


def test_empty_text_has_no_bands() -> None:
    assert signature("", "").bands == []
