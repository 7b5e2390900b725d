"""MinHash signature of a story's word shingles and the LSH band strings stored in `lsh_bands`."""

from __future__ import annotations

import hashlib
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


def _minhash_class() -> Any:  # datasketch ships no type hints
    # Imported on first use: datasketch's package import pulls in scipy and redis (about 2 s),
    # which every `newsmon` command that never signs a story (search, feeds, config check,
    # alerts) would otherwise pay through monitor.store.
    from datasketch import MinHash

    return MinHash


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray[Any, Any], str]:
    proto = _minhash_class()(num_perm=NUM_PERM, seed=SEED)
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
    mh = _minhash_class()(num_perm=NUM_PERM, seed=SEED, permutations=perms, scheme=scheme)
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
