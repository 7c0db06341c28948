"""On PostgreSQL, an expert double-clicking "Send offer" (or two tabs) still makes exactly one offer."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.exceptions import DomainError
from app.extensions import db
from app.models import JobConfidentialityAcceptance, JobStatus, Offer, OfferVersion, User
from app.services import offers
from tests import factories
from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

pytestmark = pytest.mark.postgres
ROUNDS = 5
CONTENDERS = 8


def _draft() -> offers.OfferInput:
    start = datetime.now(UTC).date() + timedelta(days=5)
    return offers.OfferInput(solution="DOE on holding pressure", price_minor=350000, start_date=start,
                             end_date=start + timedelta(days=10), deliverables=["Report"], accept_clauses=True,
                             clauses_version=offers.CURRENT_CLAUSES.version)


def test_concurrent_submissions_make_one_offer(storage_dir):
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(postgres_url()))
    try:
        for _ in range(ROUNDS):
            with app.app_context():
                _create_schema(app)
                _clear_tables(app)
                job = factories.job(status=JobStatus.PUBLISHED)
                expert = factories.expert()
                db.session.add(JobConfidentialityAcceptance(job_id=job.id, expert_id=expert.id, terms_version="x"))
                db.session.commit()
                job_id, user_id = job.id, expert.user_id
            barrier = threading.Barrier(CONTENDERS)
            outcomes: list[str] = []

            def contender(job_id: int = job_id, user_id: int = user_id, barrier: threading.Barrier = barrier,
                          outcomes: list[str] = outcomes) -> None:
                with app.app_context():
                    actor = db.session.get(User, user_id)
                    barrier.wait()
                    try:
                        offers.submit_offer(job_id, actor=actor, data=_draft())
                        outcomes.append("ok")
                    except DomainError as exc:
                        outcomes.append(f"refused: {exc}")
                    except sa.exc.IntegrityError:
                        outcomes.append("unique index")
                    finally:
                        db.session.remove()

            threads = [threading.Thread(target=contender) for _ in range(CONTENDERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert outcomes.count("ok") == 1, outcomes
            assert all(o == "ok" or "already have an offer" in o or o == "unique index" for o in outcomes), outcomes
            with app.app_context():
                assert db.session.scalar(sa.select(sa.func.count()).select_from(Offer)) == 1
                assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferVersion)) == 1
    finally:
        with app.app_context():
            db.session.remove()
            _clear_tables(app)
            db.engine.dispose()
