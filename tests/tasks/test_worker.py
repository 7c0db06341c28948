"""A real RQ worker (``flask worker``) against a real Redis delivers what a service call queued."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from rq.job import Job as RQJob

from app.extensions import db
from app.models import EmailMessage, OutboxMessage
from app.services import notifications, uow
from app.tasks.queue import connection
from tests import factories
from tests.conftest import make_app, postgres_url, redis_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.redis


@pytest.fixture
def shared_db_url(tmp_path: Path) -> str:
    """A database both this process and the worker process see: PostgreSQL in CI's tier, else a SQLite file."""
    if os.environ.get("TEST_DATABASE_URL"):
        return postgres_url()  # this xdist worker's own database
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def redis_app(shared_db_url: str, storage_dir: str) -> Iterator[Flask]:
    url = redis_url()
    from tests.conftest import _to_sqlalchemy_url

    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(shared_db_url), REDIS_URL=url, RQ_ASYNC=True)
    with app.app_context():
        db.create_all()
        connection().flushdb()
        yield app
        connection().flushdb()
        db.session.remove()
        if shared_db_url.startswith("postgres"):
            names = ", ".join(f'"{t.name}"' for t in reversed(db.metadata.sorted_tables))
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


def _run_worker(db_url: str, redis: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "TEST_"))}
    env.update(
        APP_ENV="development",
        DATABASE_URL=db_url,
        REDIS_URL=redis,
        INSTANCE_PATH=str(tmp_path / "instance"),
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        SECRET_KEY="worker-test-secret-key-0123456789abcdef",
        PUBLIC_BASE_URL="http://hub.example",
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_worker_process_delivers_a_queued_notification(redis_app: Flask, shared_db_url: str, tmp_path: Path):
    user = factories.user(full_name="Paula Presse")
    address = user.email
    notifications.notify(user, "expert.approved", link="/expert", pseudonym="K7Q2")
    uow.commit()  # after commit the delivery task goes to Redis, not run here

    (message,) = db.session.scalars(sa.select(OutboxMessage)).all()
    message_id = message.id
    queue = Queue("notifications", connection=connection())
    job_ids = queue.job_ids
    assert len(job_ids) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailMessage)) == 0
    db.session.remove()  # let the other process write

    result = _run_worker(shared_db_url, redis_app.config["REDIS_URL"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    job = RQJob.fetch(job_ids[0], connection=connection())
    assert job.get_status() == "finished", result.stderr
    assert job.return_value() is True
    message = db.session.get(OutboxMessage, message_id)
    assert message is not None and message.delivered_at is not None and message.attempts == 0
    (email,) = db.session.scalars(sa.select(EmailMessage)).all()
    assert email.to_address == address
    assert email.transport == "outbox"
    assert email.outbox_message_id == message_id
    assert "http://hub.example/expert" in email.body_text
    assert queue.count == 0


def test_worker_refuses_to_start_without_redis(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(APP_ENV="development", INSTANCE_PATH=str(tmp_path / "instance"))
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr
