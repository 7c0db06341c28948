"""A process-local cache of the expert index, shared between processes through Redis.

:func:`get_index` compares the cached index's fingerprint with the database's
(two cheap aggregate queries) and rebuilds only when they differ, first trying
the bytes another process stored in Redis under ``matching:index:<fingerprint>``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from app.matching.index import ExpertIndex
from app.matching.loader import fingerprint, load_expert_records

logger = logging.getLogger(__name__)

REDIS_KEY_PREFIX = "matching:index:"
REDIS_TTL_SECONDS = 24 * 3600

_lock = threading.Lock()
_cached: ExpertIndex | None = None


def get_index(session: Session | scoped_session[Any], *, redis: Any | None = None) -> ExpertIndex:
    """The expert index matching the database now (cached, else from Redis, else built and shared)."""
    global _cached
    current = fingerprint(session)
    with _lock:
        if _cached is not None and _cached.fingerprint == current:
            return _cached
        key = REDIS_KEY_PREFIX + current
        index: ExpertIndex | None = None
        if redis is not None:
            try:
                data = redis.get(key)
                if data:
                    index = ExpertIndex.from_bytes(data)
                    if index.fingerprint != current:
                        index = None
            except Exception:  # a broken or stale cache entry must not stop matching
                logger.warning("Could not read the matching index from Redis", exc_info=True)
                index = None
        if index is None:
            index = ExpertIndex.build(load_expert_records(session), fingerprint=current)
            release_memory()
            logger.info("Built the matching index: %d experts, %d bytes", index.size, index.nbytes)
            if redis is not None:
                try:
                    redis.set(key, index.to_bytes(), ex=REDIS_TTL_SECONDS)
                except Exception:
                    logger.warning("Could not store the matching index in Redis", exc_info=True)
        _cached = index
        return index


def release_memory() -> None:
    """Return the build's transient memory (100k records, row buffers) to the OS where the C library allows.

    A collection frees the records; glibc's ``malloc_trim`` then gives the freed
    heap back, so a long-lived worker holding the index does not keep the
    build's peak resident. A no-op where there is no glibc.
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        trim = getattr(libc, "malloc_trim", None)
        if trim is not None:
            trim(0)
    except OSError:  # not glibc: nothing to trim
        return


def clear() -> None:
    """Forget the cached index (tests)."""
    global _cached
    with _lock:
        _cached = None
