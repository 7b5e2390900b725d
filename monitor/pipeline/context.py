"""What every unit of work starts from: the store and the compiled taxonomy."""

from __future__ import annotations

from functools import lru_cache

from monitor.config import Settings
from monitor.store import Store
from monitor.store import open_store as _open
from monitor.tagging import Tagger, load_taxonomy

__all__ = ["open_store", "tagger_for"]


def open_store(settings: Settings) -> Store:
    """The Store for the configured cluster and index prefix."""
    return _open(settings.es, settings.index_prefix)


@lru_cache(maxsize=4)
def _tagger(path: str, mtime: float) -> Tagger:
    return Tagger(load_taxonomy(path))


def tagger_for(settings: Settings) -> Tagger:
    """The compiled taxonomy, built once per process and rebuilt when topics.yaml changes."""
    p = settings.topics_path
    return _tagger(str(p), p.stat().st_mtime)
