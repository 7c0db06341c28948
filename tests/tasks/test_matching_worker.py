"""A real ``flask worker`` against a real Redis runs a queued ranking and shares the index through Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from rq import Queue

from app.extensions import db
from app.models import ExpertiseLevel, ExpertSkill, JobStatus, MatchResult, MatchRun, MatchRunStatus
from app.services import matching
from app.tasks.queue import connection
from tests import factories
from tests.tasks.test_worker import _run_worker, redis_app, shared_db_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.redis


def test_worker_process_runs_a_queued_ranking(redis_app: Flask, shared_db_url: str, tmp_path: Path):  # noqa: F811
    job = factories.job(status=JobStatus.PUBLISHED, skills=3)
    required = [s.term_id for s in job.skills]
    experts = [factories.expert(pseudonym=f"W{n}") for n in range(3)]
    for n, e in enumerate(experts):
        for term_id in required[: n + 1]:
            db.session.add(ExpertSkill(expert_id=e.id, term_id=term_id, level=ExpertiseLevel.SENIOR))
    admin = factories.admin()
    db.session.commit()
    best = experts[2].id

    run = matching.queue_ranking(job.id, actor=admin)  # committed; the task went to Redis
    run_id = run.id
    assert db.session.get(MatchRun, run_id).status is MatchRunStatus.QUEUED
    assert Queue("default", connection=connection()).count == 1
    db.session.remove()

    result = _run_worker(shared_db_url, redis_app.config["REDIS_URL"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    run = db.session.get(MatchRun, run_id)
    assert run.status is MatchRunStatus.COMPLETED, run.error
    assert run.considered == 3 and run.index_fingerprint
    ranked = db.session.scalars(
        sa.select(MatchResult.expert_id).where(MatchResult.run_id == run_id).order_by(MatchResult.rank)
    ).all()
    assert ranked[0] == best  # the one with every required skill
    # The worker left the built index in Redis for other workers (and web processes) to load.
    assert connection().exists(f"matching:index:{run.index_fingerprint}") == 1
