"""Rank experts for a job in the background (the index stays warm in a long-lived worker)."""

from __future__ import annotations

import logging

from app.services import matching
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)


@with_app_context
def rank_job(run_id: int) -> bool:
    """Run one queued ranking: start it, score every approved expert, store the result.

    Safe to run twice: a run that is no longer queued is left alone. A failure is
    recorded on the run (and the hub told) instead of being retried blindly.
    """
    run = matching.start_run(run_id)
    if run is None:
        return False
    try:
        ranking, fingerprint = matching.compute_ranking(run)
        matching.complete_run(run_id, ranking, fingerprint=fingerprint)
    except Exception as exc:
        logger.exception("Ranking run %s failed", run_id)
        from app.services import uow

        uow.rollback()
        matching.fail_run(run_id, f"{type(exc).__name__}: {exc}")
        return False
    return True


@with_app_context
def sweep_stale_runs() -> int:
    """Run queued rankings whose enqueue was lost (Redis down at the time); returns how many ran."""
    done = 0
    for run_id in matching.stale_queued_run_ids():
        done += bool(rank_job(run_id))
    return done


@with_app_context
def refresh_index() -> int:
    """Rebuild this process's expert index when profiles changed (warms a worker); returns the expert count."""
    from flask import current_app

    from app.extensions import db
    from app.matching.cache import get_index
    from app.tasks.queue import connection

    redis = connection() if current_app.config.get("REDIS_URL") else None
    return get_index(db.session, redis=redis).size
