"""The dashboard: queue cards with counts and oldest waiting time, and the latest events."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin_views import queries
from app.extensions import db
from app.models import OutboxMessage, User, VerificationStatus
from app.services import audit, uow
from tests.admin_views.conftest import company_case, expert_case

S = VerificationStatus


@contextmanager
def count_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def card(html: str, key: str) -> str:
    match = re.search(rf'data-testid="queue-{key}".*?card-footer.*?</a>', html, re.S)
    assert match, key
    return match.group(0)


def test_empty_dashboard_says_nothing_waits(admin_client: FlaskClient) -> None:
    html = admin_client.get("/admin/").get_data(as_text=True)
    for spec in queries.QUEUES:
        assert 'data-testid="queue-count">0<' in card(html, spec.key)
        assert "nothing waiting" in card(html, spec.key)
    assert "No events yet" in html


def test_queue_counts_and_oldest_waiting(app: Flask, f: Any) -> None:
    now = datetime.now(UTC)
    company_case(f, submitted_at=now - timedelta(days=3))
    company_case(f, submitted_at=now - timedelta(hours=2))
    company_case(f, status=S.INFO_REQUESTED, submitted_at=now - timedelta(days=10))  # waits for the company
    company_case(f, status=S.APPROVED)
    expert_case(f, submitted_at=now - timedelta(hours=5))
    db.session.add_all(
        [
            OutboxMessage(topic="email.direct", payload={}, created_at=now - timedelta(hours=1), failed_at=now),
            OutboxMessage(topic="email.direct", payload={}, created_at=now - timedelta(minutes=30)),
            OutboxMessage(topic="email.direct", payload={}, created_at=now, delivered_at=now),
        ]
    )
    uow.commit()

    stats = {s.spec.key: s for s in queries.queue_stats(now=now)}

    assert stats["companies"].count == 2
    assert stats["companies"].waiting_for is not None
    assert abs(stats["companies"].waiting_for - timedelta(days=3)) < timedelta(seconds=5)
    assert stats["companies"].overdue  # more than two days
    assert stats["experts"].count == 1 and not stats["experts"].overdue
    assert stats["outbox_failed"].count == 1 and stats["outbox_failed"].overdue
    assert stats["outbox_waiting"].count == 1
    assert abs(stats["outbox_waiting"].waiting_for - timedelta(minutes=30)) < timedelta(seconds=5)


def test_dashboard_shows_cards_links_and_latest_events(admin_client: FlaskClient, f: Any, admin: User) -> None:
    case = company_case(f, submitted_at=datetime.now(UTC) - timedelta(days=3))
    for n in range(20):
        audit.record(f"test.event{n}", actor=admin, entity="companies", entity_id=case.company.id)
    uow.commit()

    html = admin_client.get("/admin/").get_data(as_text=True)

    companies = card(html, "companies")
    assert 'data-testid="queue-count">1<' in companies
    assert "oldest waiting 3 days" in companies
    assert 'href="/admin/companies/"' in companies
    assert 'href="/admin/experts/"' in card(html, "experts")
    assert 'href="/admin/outbox/"' in card(html, "outbox_failed")
    # The 15 newest events, newest first, each linked to its object.
    assert "test.event19" in html and "test.event5" in html and "test.event4" not in html
    assert html.index("test.event19") < html.index("test.event5")
    assert f'href="/admin/companies/details/?id={case.company.id}"' in html


def test_dashboard_runs_a_constant_number_of_queries(admin_client: FlaskClient, f: Any, admin: User) -> None:
    admin_client.get("/admin/")  # warm up (first-time loads)
    db.session.expire_all()  # the test shares the app's session: start both requests cold
    with count_queries() as few:
        assert admin_client.get("/admin/").status_code == 200

    now = datetime.now(UTC)
    for n in range(6):
        case = company_case(f, submitted_at=now - timedelta(days=n))
        expert_case(f, submitted_at=now - timedelta(hours=n))
        db.session.add(OutboxMessage(topic="email.direct", payload={}, failed_at=now))
        audit.record("test.event", actor=case.owner, entity="companies", entity_id=case.company.id)
    uow.commit()
    db.session.expire_all()
    with count_queries() as many:
        assert admin_client.get("/admin/").status_code == 200

    assert len(many) == len(few)


def test_a_new_queue_is_one_line(app: Flask, f: Any) -> None:
    """Later steps add queues by appending one QueueSpec; queue_stats needs no change."""
    company_case(f, status=S.APPROVED)
    extra = queries.QueueSpec(
        "approved",
        queries.QUEUES[0].label,
        queries.QUEUES[0].model,
        queries.QUEUES[0].model.status == S.APPROVED,
        queries.QUEUES[0].model.submitted_at,
        "company_verification.index_view",
    )
    with app.test_request_context():
        stats = queries.queue_stats((*queries.QUEUES, extra))
        assert [s.spec.key for s in stats][-1] == "approved"
        assert stats[-1].count == 1
        assert stats[-1].url == "/admin/companies/"
