"""The release and payout tasks (app/tasks/release.py): inline, and in a real RQ worker killed mid-transfer.

The worker test runs ``flask worker`` against a real Redis and a database shared with this
process, pointed at a FakeStripe whose transfer endpoint makes the transfer at once but holds
its answer: the worker is inside the provider call when it is SIGKILLed. A new worker then runs
the tasks again; exactly one transfer, one release and one payout transaction exist.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from rq.job import Job as RQJob

from app.extensions import db
from app.models import LedgerTransaction, Payout, PayoutMethod, PayoutStatus, Project, ProjectStatus
from app.services import uow
from app.services.transitions import transition
from app.tasks import queue
from app.tasks import release as release_tasks
from app.tasks.queue import connection
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_release import accept, accepted_project, assert_ledger_sound, count
from tests.tasks.test_worker import ROOT, redis_app, shared_db_url  # noqa: F401  (fixtures)

ACCOUNT = "acct_WorkerKillTEST"


# Inline (the embedded default) ------------------------------------------------------------------


def test_release_project_is_safe_to_run_twice(f):
    project = accepted_project(f)
    assert release_tasks.release_project(project.id) is True
    assert release_tasks.release_project(project.id) is False
    assert count(LedgerTransaction, LedgerTransaction.kind == "escrow.released") == 1
    assert db.session.get(Project, project.id).status is ProjectStatus.COMPLETED
    assert_ledger_sound()


def test_release_project_leaves_a_disputed_project_to_the_hub(f):
    project = f.project()
    uow.commit()
    transition(project, PROJECT_WORKFLOW, ProjectStatus.DISPUTED, actor=None)
    uow.commit()
    assert release_tasks.release_project(project.id) is False  # logged, not retried
    assert release_tasks.release_project(999_999) is False
    assert count(LedgerTransaction, LedgerTransaction.kind == "escrow.released") == 0
    assert db.session.get(Project, project.id).status is ProjectStatus.DISPUTED


def test_send_payout_leaves_bank_payouts_to_an_admin(f):
    project = accepted_project(f)
    release_tasks.release_project(project.id)
    payout = db.session.scalars(sa.select(Payout)).one()
    assert payout.method is PayoutMethod.BANK
    assert release_tasks.send_payout(payout.id) is False
    assert release_tasks.send_payout(999_999) is False
    assert db.session.get(Payout, payout.id).status is PayoutStatus.PENDING


# A real worker, killed inside the provider call (RELIABILITY.md §3.13 F2/F3) ---------------------


def _worker_env(db_url: str, redis: str, tmp_path: Path, fake: FakeStripe) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "TEST_", "STRIPE_"))}
    env.update(
        APP_ENV="development",
        DATABASE_URL=db_url,
        REDIS_URL=redis,
        INSTANCE_PATH=str(tmp_path / "instance"),
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        SECRET_KEY="worker-test-secret-key-0123456789abcdef",
        PUBLIC_BASE_URL="http://hub.example",
        STRIPE_SECRET_KEY=fake.api_key,
        STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
        STRIPE_API_BASE=fake.base_url,
    )
    return env


def _worker_command() -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"]


def _wait_for(condition: object, timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the worker ended before the provider call (rc {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"timed out waiting for the worker:\n{out}\n{err}")


@pytest.mark.redis
def test_worker_killed_inside_the_transfer_then_rerun_pays_exactly_once(
    redis_app: Flask, shared_db_url: str, tmp_path: Path  # noqa: F811
):
    redis = redis_app.config["REDIS_URL"]
    with FakeStripe() as fake:
        redis_app.config.update(STRIPE_SECRET_KEY=fake.api_key, STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
                                STRIPE_API_BASE=fake.base_url)
        redis_app.extensions.pop("hub_payment_gateway", None)
        project = factories.project(members=1)
        uow.commit()
        project.contract.expert.payout_account_id = ACCOUNT
        uow.commit()
        accept(project)
        project_id = project.id

        queue.enqueue_quietly(release_tasks.release_project, project_id, queue_name="high")
        high = Queue("high", connection=connection())
        (release_job_id,) = high.job_ids
        fake.delay_next(120, path="/v1/transfers")  # the transfer is made at once; the answer never comes
        db.session.remove()  # let the worker write

        env = _worker_env(shared_db_url, redis, tmp_path, fake)
        proc = subprocess.Popen(_worker_command(), cwd=ROOT, env=env, stdout=subprocess.PIPE,  # noqa: S603
                                stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: len(fake.transfers) == 1, 90, proc)
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == -signal.SIGKILL

        # The release committed before the payout task started; the payout did not.
        assert RQJob.fetch(release_job_id, connection=connection()).get_status() == "finished"
        db.session.expire_all()
        assert db.session.get(Project, project_id).status is ProjectStatus.COMPLETED
        payout = db.session.scalars(sa.select(Payout)).one()
        payout_id = payout.id
        assert payout.method is PayoutMethod.PROVIDER and payout.status is PayoutStatus.PENDING
        assert payout.provider_transfer_id is None and payout.attempts == 0
        assert count(LedgerTransaction, LedgerTransaction.kind == "payout.sent") == 0
        (made,) = fake.transfers
        db.session.remove()

        # A new worker runs both tasks again.
        queue.enqueue_quietly(release_tasks.send_payout, payout_id, queue_name="high")
        queue.enqueue_quietly(release_tasks.release_project, project_id, queue_name="high")
        rerun_ids = high.job_ids[-2:]
        result = subprocess.run(_worker_command(), cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                                timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        send_job, release_job = (RQJob.fetch(i, connection=connection()) for i in rerun_ids)
        assert send_job.get_status() == "finished", result.stderr
        assert send_job.return_value() is True
        assert release_job.return_value() is False  # already released: nothing done

        db.session.expire_all()
        payout = db.session.get(Payout, payout_id)
        assert payout.status is PayoutStatus.SENT and payout.provider_transfer_id == made
        assert len(fake.transfers) == 1
        transfer_keys = {r.idempotency_key for r in fake.request_log("/v1/transfers")}
        assert transfer_keys == {payout.idempotency_key}
        assert count(LedgerTransaction, LedgerTransaction.kind == "escrow.released") == 1
        (sent,) = db.session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.kind == "payout.sent"))
        assert sent.external_ref == made
        assert_ledger_sound()
