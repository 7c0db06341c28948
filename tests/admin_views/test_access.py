"""Every back-office view and every one of its URL rules refuses everyone but active hub admins.

The rules are read from the app's URL map, so a view or endpoint added later is
walked too; an endpoint whose admin result is not in ``ADMIN_GET`` fails the
test until someone decides what an admin should get there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from admin_views.base import StaffOnly
from app.extensions import db
from app.models import (
    CompanyInvitation,
    Delivery,
    DeliveryStatus,
    Dispute,
    EmailMessage,
    JobStatus,
    OutboxMessage,
    Payout,
    PayoutMethod,
    PayoutRole,
    QcAssignment,
    Refund,
    User,
)
from app.services import audit, uow
from tests.admin_views.conftest import company_case, expert_case, snapshot
from tests.admin_views.test_jobs import make_job_attachment
from tests.conftest import login

# What an admin gets on GET, by the endpoint's method name; a new name must be added here.
ADMIN_GET = {
    "index": 200,
    "index_view": 200,
    "details_view": 200,
    "create_view": "if can_create",
    "edit_view": "if can_edit",
    "export": "if can_export",
    "ajax_lookup": 404,  # no ajax relations configured: nothing to look up
    "html_body": 200,
    "job_redirect": 302,  # the notification link /admin/jobs/<id> -> the job's details page
    "attachment_download": 200,
    "attachment_preview": 200,
    "ticket_redirect": 302,  # the notification link /admin/tickets/<id> -> the ticket's details page
    "job_view": 200,  # a job's offers side by side
    "download": 200,  # a contract document
    "cancellations": 200,  # projects without work, which the hub may cancel
    "refunds_list": 200,
}


@pytest.fixture
def world(app: Flask, f: Any) -> dict[str, Any]:
    """One object of every kind the admin views show, and one user per principal."""
    company = company_case(f)
    expert = expert_case(f)
    term = f.term()
    admin = f.admin(email="walker-admin@example.test", totp_enabled_at=datetime.now(UTC))
    suspended_admin = f.admin(email="suspended-admin@example.test", totp_enabled_at=datetime.now(UTC))
    admin_without_2fa = f.admin(email="no-2fa-admin@example.test")
    outbox = OutboxMessage(
        topic="email.direct",
        payload={"to": "x@example.test"},
        attempts=8,
        last_error="SMTPError: boom",
        failed_at=datetime.now(UTC),
    )
    db.session.add(outbox)
    db.session.flush()
    email = EmailMessage(
        outbox_message_id=outbox.id,
        to_address="x@example.test",
        subject="Hello",
        body_text="Hello",
        body_html="<p>Hello</p>",
        transport="outbox",
    )
    invitation = CompanyInvitation(
        company_id=company.company.id,
        email="colleague@example.test",
        invited_by_id=company.owner.id,
        token_hash="0" * 64,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    db.session.add_all([email, invitation])
    event = audit.record("test.event", actor=admin, entity="companies", entity_id=company.company.id)
    job = f.job(status=JobStatus.PENDING_REVIEW)
    job_invitation = f.job_invitation(job, expert.expert, invited_by=admin)
    job_attachment = make_job_attachment(job)
    uow.commit()
    ids = {
        "company_verification": company.company.id,
        "expert_verification": expert.expert.id,
        "users": company.owner.id,
        "invitations": invitation.id,
        "catalog": term.id,
        "email_messages": email.id,
        "outbox": outbox.id,
        "audit": event.id,
        "jobs": job.id,
        "job_invitations": job_invitation.id,
        "catalog_tickets": f.ticket(company.company).id,
        "matching": job.id,
        "offers": (an_offer := f.offer(expert_obj=expert.expert)).id,
        "admin_contracts": (contract := f.contract(expert_obj=expert.expert)).id,
        "admin_projects": (project := f.project()).id,
    }
    qc = QcAssignment(project_id=project.id, expert_id=expert.expert.id, assigned_by_id=admin.id,
                      nda_storage_key="walker-qc-nda", nda_sha256="0" * 64)
    delivery = Delivery(project_id=project.id, number=1, status=DeliveryStatus.HUB_REVIEW, notes="Report",
                        submitted_by_id=project.contract.expert.user_id)
    payout = Payout(project_id=project.id, expert_id=project.expert_id, role=PayoutRole.EXPERT, amount_minor=1000,
                    currency="EUR", method=PayoutMethod.BANK, idempotency_key=f"payout-{project.id}-expert")
    dispute = Dispute(project_id=project.id, opened_by_id=project.contract.expert.user_id, opened_side="expert",
                      reason="Outside the offer.")
    refund = Refund(project_id=project.id, company_id=project.company_id, amount_minor=1000, currency="EUR",
                    method=PayoutMethod.BANK, idempotency_key=f"refund-walker-{project.id}")
    db.session.add_all([qc, delivery, payout, dispute, refund])
    uow.commit()
    ids.update(admin_deliveries=delivery.id, admin_payouts=payout.id, admin_disputes=dispute.id)
    return {
        "ids": ids,
        "attachment_ids": {"jobs": job_attachment.id},
        "assignment_ids": {"admin_projects": qc.id},
        "project_ids": {"admin_payouts": project.id, "admin_disputes": project.id},
        "refund_ids": {"admin_disputes": refund.id},
        "job_ids": {"offers": an_offer.job_id},
        "document_ids": {"company_verification": company.document.id, "expert_verification": expert.document.id,
                         "admin_contracts": contract.documents[0].id},
        "company_user": company.owner,
        "expert": db.session.get(User, expert.expert.user_id),
        "admin": admin,
        "suspended_admin": suspended_admin,
        "admin_without_2fa": admin_without_2fa,
    }


def admin_rules(app: Flask) -> Iterator[Rule]:
    blueprints = app.extensions["admin_blueprints"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] in blueprints and not rule.endpoint.endswith(".static"):
            yield rule


def build_url(app: Flask, rule: Rule, world: dict[str, Any]) -> str:
    view, name = rule.endpoint.split(".", 1)
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg == "document_id":
            values[arg] = world["document_ids"][view]
        elif arg == "project_id" and view in world["project_ids"]:
            values[arg] = world["project_ids"][view]
        elif arg == "refund_id":
            values[arg] = world["refund_ids"][view]
        elif arg == "assignment_id":
            values[arg] = world["assignment_ids"][view]
        elif arg == "attachment_id":
            values[arg] = world["attachment_ids"][view]
        elif arg == "job_id" and view in world["job_ids"]:
            values[arg] = world["job_ids"][view]
        elif arg == "side":
            values[arg] = "company"
        elif arg == "decision":
            values[arg] = "approve"
        elif arg == "export_type":
            values[arg] = "csv"
        else:  # obj_id, user_id, term_id, message_id
            values[arg] = world["ids"][view]
    if name in {"details_view", "edit_view"}:
        values["id"] = world["ids"][view]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def view_of(app: Flask, endpoint: str) -> Any:
    admin = app.extensions["admin"][0]
    blueprint = endpoint.split(".", 1)[0]
    return next(v for v in admin._views if v.endpoint == blueprint)


def principal_client(app: Flask, world: dict[str, Any], who: str) -> FlaskClient:
    client = app.test_client()
    if who == "anonymous":
        return client
    if who == "suspended_admin":
        user = world["suspended_admin"]
        login(client, user)  # a live session from before the suspension ...
        user.suspended_at = datetime.now(UTC)  # ... must be refused from now on
        uow.commit()
        return client
    return login(client, world[who])


POST_DATA = {
    "approve-note": "ok",
    "reject-reason": "Not a company",
    "request_info-question": "Which plant?",
    "suspend-reason": "Fraud",
    "reinstate-note": "",
    "accept-note": "",
    "kind": "skill",
    "slug": "hacked",
    "name": "Hacked",
    "id": "1",
    "action": "delete",
    "rowid": "1",
}


def test_every_admin_view_is_staff_only(app: Flask) -> None:
    admin = app.extensions["admin"][0]
    assert len(admin._views) >= 9
    for view in admin._views:
        assert isinstance(view, StaffOnly), f"{type(view).__name__} does not inherit StaffOnly"
    # The access check treats every view's blueprint as admin-only (computed after all views were added).
    assert {v.endpoint for v in admin._views} <= app.extensions["admin_blueprints"]


def test_the_walk_covers_every_view(app: Flask, world: dict[str, Any]) -> None:
    admin = app.extensions["admin"][0]
    walked = {rule.endpoint.split(".", 1)[0] for rule in admin_rules(app)}
    assert walked == {v.endpoint for v in admin._views}


@pytest.mark.parametrize("who", ["anonymous", "suspended_admin"])
def test_logged_out_principals_are_sent_to_login(app: Flask, world: dict[str, Any], who: str) -> None:
    client = principal_client(app, world, who)
    for rule in admin_rules(app):
        url = build_url(app, rule, world)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            before = snapshot(app) if method == "POST" else None
            resp = client.open(url, method=method, data=POST_DATA if method == "POST" else None)
            assert resp.status_code in (302, 401), f"{who} {method} {url} -> {resp.status_code}"
            if resp.status_code == 302:
                assert "/login" in resp.headers["Location"], f"{who} {method} {url} -> {resp.headers['Location']}"
            if before is not None:
                assert snapshot(app) == before, f"{who} {method} {url} changed data"


@pytest.mark.parametrize("who", ["company_user", "expert"])
def test_non_admins_are_refused_everywhere(app: Flask, world: dict[str, Any], who: str) -> None:
    client = principal_client(app, world, who)
    for rule in admin_rules(app):
        url = build_url(app, rule, world)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            before = snapshot(app) if method == "POST" else None
            resp = client.open(url, method=method, data=POST_DATA if method == "POST" else None)
            assert resp.status_code == 403, f"{who} {method} {url} -> {resp.status_code}"
            if before is not None:
                assert snapshot(app) == before, f"{who} {method} {url} changed data"


def test_admin_gets_every_page(app: Flask, world: dict[str, Any]) -> None:
    client = principal_client(app, world, "admin")
    checked = 0
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        view = view_of(app, rule.endpoint)
        name = rule.endpoint.split(".", 1)[1]
        assert name in ADMIN_GET, f"no expected admin result for {rule.endpoint}: add it to ADMIN_GET"
        expected = ADMIN_GET[name]
        url = build_url(app, rule, world)
        resp = client.get(url)
        if isinstance(expected, str):
            allowed = getattr(view, expected.split()[-1])
            if allowed:
                assert resp.status_code == 200, f"GET {url} -> {resp.status_code}"
            else:  # the capability is off: Flask-Admin sends the admin back to the list
                assert resp.status_code == 302, f"GET {url} -> {resp.status_code}"
                assert resp.headers["Location"].split("?")[0].endswith(view.url + "/")
        else:
            assert resp.status_code == expected, f"GET {url} -> {resp.status_code}"
        checked += 1
    assert checked >= 9 * 5


def test_read_only_views_have_no_generic_writes(app: Flask) -> None:
    admin = app.extensions["admin"][0]
    for view in admin._views:
        if not hasattr(view, "can_delete"):
            continue
        assert view.can_delete is False, type(view).__name__
        assert not view.column_editable_list, type(view).__name__
        if view.endpoint != "catalog":
            assert view.can_create is False and view.can_edit is False, type(view).__name__


def test_an_admin_without_two_factor_is_sent_to_enrol(app: Flask, world: dict[str, Any]) -> None:
    client = principal_client(app, world, "admin_without_2fa")
    for rule in admin_rules(app):
        url = build_url(app, rule, world)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            before = snapshot(app) if method == "POST" else None
            resp = client.open(url, method=method, data=POST_DATA if method == "POST" else None)
            assert resp.status_code == 302, f"{method} {url} -> {resp.status_code}"
            assert resp.headers["Location"].endswith("/two-factor/setup"), resp.headers["Location"]
            if before is not None:
                assert snapshot(app) == before, f"{method} {url} changed data"
