"""MinHash signature of a story's word shingles and the LSH band strings stored in `lsh_bands`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from monitor.dedupe.features import _content_tokens, _shingles

# ---- parameters ------------------------------------------------------------------------------
# Changing NUM_PERM, ROWS or SEED changes every band string: stories stored before the change
# stop matching new ones until they age out of the window.
NUM_PERM = 256
ROWS = 2  # rows per band: 2 keeps a pair at Jaccard 0.15 a candidate with p ~ 0.95
BANDS = NUM_PERM // ROWS
SEED = 20231215


# ---- MinHash signature -----------------------------------------------------------------------
# The same arithmetic as datasketch's MinHash (scheme "affine32", its default since 2.0: SHA-1's
# first 4 bytes, the MurmurHash3 finaliser, then a*h + b mod 2^32 with odd a), written out in
# numpy over every shingle at once. Importing datasketch pulls in scipy (about 2 s per process)
# and its per-object set-up costs more than the hashing itself; tests/unit/test_minhash.py holds
# the two to bit-identical hash values and band strings.
_FMIX = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The (a, b) pairs datasketch draws for NUM_PERM permutations under SEED."""
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(hv: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    s1, m1, s2, m2, s3 = _FMIX
    hv = hv ^ (hv >> np.uint32(s1))
    hv = hv * np.uint32(m1)
    hv = hv ^ (hv >> np.uint32(s2))
    hv = hv * np.uint32(m2)
    out: np.ndarray[Any, Any] = hv ^ (hv >> np.uint32(s3))
    return out


def _hashvalues(shingles: Iterable[str]) -> np.ndarray[Any, Any]:
    sha1 = hashlib.sha1
    # The first 4 bytes of each SHA-1 digest, little-endian, as one uint32 array.
    digests = b"".join(sha1(x.encode("utf-8")).digest()[:4] for x in shingles)
    hv = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32))
    a, b = _permutations()
    with np.errstate(over="ignore"):  # wrap-around is the modulo 2^32 the scheme wants
        phv = hv[:, None] * a + b
    return np.asarray(phv.min(axis=0), dtype=np.uint32)


_PREFIXES = [f"b{b:02x}:" for b in range(BANDS)]
_OFFSETS = [b * 4 * ROWS for b in range(BANDS)]


# A BLAKE2b-48 hasher with nothing fed yet: copying it skips the parameter set-up that 128
# constructions per story would repeat (about a fifth of the band cost).
_BLAKE48 = hashlib.blake2b(digest_size=6)


def _bands(values: np.ndarray[Any, Any]) -> list[str]:
    # Band b: BLAKE2b-48 of its ROWS hash values as little-endian uint32, as "b{b:02x}:{hex}".
    raw = memoryview(values.astype("<u4").tobytes())
    width = 4 * ROWS
    out = []
    for p, o in zip(_PREFIXES, _OFFSETS, strict=True):
        h = _BLAKE48.copy()
        h.update(raw[o : o + width])
        out.append(p + h.hexdigest())
    return out


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
    return signature_of_tokens(_content_tokens(title, summary, content))


def signature_of_tokens(tokens: list[str]) -> Signature:
    """`signature` from the story's content tokens (`features._content_tokens`), already made."""
    sh = _shingles(tokens)
    if not sh:
        return Signature(bands=[], hashvalues=[], shingles=0)
    values = _hashvalues(sh)
    return Signature(bands=_bands(values), hashvalues=values.tolist(), shingles=len(sh))
