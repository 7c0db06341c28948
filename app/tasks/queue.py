"""Queues: real Redis when ``REDIS_URL`` is set, otherwise run in-process.

In the embedded default, RQ runs ``is_async=False`` on one shared fakeredis, so
a task runs right away in the web process. RQ retries do not happen there; the
outbox sweeper (``flask outbox sweep``) is what retries, in both modes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fakeredis import FakeServer, FakeStrictRedis
from flask import current_app
from redis import Redis
from rq import Queue, Retry

logger = logging.getLogger(__name__)
QUEUE_NAMES = ("high", "notifications", "default", "low")
_fake_server = FakeServer()


def connection() -> Redis:
    """The Redis connection of this app (one fake server per process when embedded)."""
    conn = current_app.extensions.get("rq_redis")
    if conn is None:
        url = current_app.config.get("REDIS_URL")
        conn = Redis.from_url(url) if url else FakeStrictRedis(server=_fake_server)
        current_app.extensions["rq_redis"] = conn
    return conn


def get_queue(name: str = "default") -> Queue:
    """A named queue; synchronous when no Redis is configured."""
    # RQ_ASYNC=False (tests) runs tasks inline even on a real Redis, like Flask-RQ's RQ_ASYNC.
    is_async = bool(current_app.config.get("REDIS_URL")) and bool(current_app.config.get("RQ_ASYNC", True))
    return Queue(name, connection=connection(), is_async=is_async, default_timeout=300)


def enqueue_quietly(func: Callable[..., Any], *args: Any, queue_name: str = "default") -> None:
    """Best-effort enqueue after commit: a Redis outage or a failing inline run never fails the request."""
    try:
        queue = get_queue(queue_name)
        if queue.is_async:
            queue.enqueue(func, *args, retry=Retry(max=3, interval=[10, 60, 300]))
        else:
            queue.enqueue(func, *args)
    except Exception:
        logger.warning("Could not run %s now; the outbox sweeper will retry it", func.__name__, exc_info=True)
