"""The authorization matrix (RELIABILITY.md §3.2), built from the app's own url_map.

Every HTTP rule must have an entry in POLICY; a new route without one fails
this test. Each (rule, method, principal) case runs on a fresh database and
asserts the status class, and for refused calls that nothing in the database
changed. Objects in URLs belong to company A (and its owner), so company B's
users and experts must get 404 (never another tenant's data) where the route
is theirs to use at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import (
    CompanyInvitation,
    Document,
    DocumentKind,
    EmailMessage,
    Notification,
    OutboxMessage,
    VerificationStatus,
)
from app.models.mixins import utcnow
from tests.conftest import make_app

PUBLIC = "public"  # anyone
LOGIN = "login"  # any logged-in user
COMPANY = "company"  # company users (owner or member)
OWNER = "owner"  # company owners only, on company A's objects
OWNER_PAGE = "owner_page"  # a page of the owner's own company
EXPERT = "expert"  # experts only
STAFF = "staff"  # hub admins (Flask-Admin views)
# Object routes: the object of company A; other tenants get 404.
COMPANY_OBJECT = "company_object"
FILE_OBJECT = "file_object"  # company A's users and admins; others 404
ADMIN_FILE = "admin_file"  # admins only (inline preview)
OWN_SESSION = "own_session"  # a session id of someone else: 404
COMPANY_OWNER_OBJECT = "company_owner_object"  # company A's object, owners only (members 403, others 404)
BOARD_JOB = "board_job"  # a published public job: approved experts; unverified experts 404; others refused
BOARD_FILE = "board_file"  # an attachment: experts who accepted the terms (none have here) -> 404; others refused
# The approved expert's own object (offer, invitation): other experts 404; companies, admins refused.
EXPERT_OBJECT = "expert_object"
# The project workspace: company A's project with the expert, managed by the admin.
PROJECT = "project"  # every member (company A's users, the expert, the hub); others 404
PROJECT_WORK = "project_work"  # the expert and the hub; company A's users 403; others 404
PROJECT_HUB = "project_hub"  # the hub only; the other members 403; others 404
QC_OBJECT = "qc_object"  # the QC expert of the assignment and the hub; others 404
PROJECT_EXPERT = "project_expert"  # the project's expert only; its other members 403; others 404
PROJECT_COMPANY = "project_company"  # the project's company users only; its other members 403; others 404
PROJECT_PARTY = "project_party"  # the company users and the expert (not the hub); others 404
QC_REVIEW = "qc_review"  # the active QC expert (none in this world) and, read-only, the hub; others 404
QC_SUBMIT = "qc_submit"  # the active QC expert only (none here): the hub 403, others 404
INVOICE = "invoice"  # the company's users once the project is completed (it is not here): 404; others 403

POLICY: dict[str, str] = {
    "static": PUBLIC,
    "health.health": PUBLIC,
    "portal.home": PUBLIC,
    "portal.set_language": PUBLIC,
    "portal.dashboard": LOGIN,
    "portal.notifications": LOGIN,
    "portal.open_notification": LOGIN,
    "portal.read_all": LOGIN,
    "auth.login": PUBLIC,
    "auth.logout": LOGIN,
    "auth.signup_company": PUBLIC,
    "auth.signup_expert": PUBLIC,
    "auth.check_email": PUBLIC,
    "auth.verify_email": PUBLIC,
    "auth.resend_verification": PUBLIC,
    "auth.forgot_password": PUBLIC,
    "auth.reset_password": PUBLIC,
    "auth.two_factor": PUBLIC,
    "auth.totp_setup": PUBLIC,
    "auth.account": LOGIN,
    "auth.change_password": LOGIN,
    "auth.disable_totp": LOGIN,
    "auth.end_other_sessions": LOGIN,
    "auth.end_session": LOGIN,
    "company.home": COMPANY,
    "company.profile": OWNER_PAGE,
    "company.documents": COMPANY,
    "company.remove_document": COMPANY_OBJECT,
    "company.submit": OWNER_PAGE,
    "company.members": OWNER_PAGE,
    "company.revoke_invitation": OWNER,
    "company.accept_invitation": PUBLIC,
    "expert.home": EXPERT,
    "expert.profile": EXPERT,
    "expert.skills": EXPERT,
    "expert.languages": EXPERT,
    "expert.employers": EXPERT,
    "expert.documents": EXPERT,
    "expert.remove_document": EXPERT,
    "expert.submit": EXPERT,
    "files.download": FILE_OBJECT,
    "files.preview": ADMIN_FILE,
    "company_jobs.index": COMPANY,
    "company_jobs.new": COMPANY,
    "company_jobs.detail": COMPANY_OBJECT,
    "company_jobs.edit": COMPANY_OBJECT,
    "company_jobs.upload": COMPANY_OBJECT,
    "company_jobs.remove_attachment": COMPANY_OBJECT,
    "company_jobs.download": COMPANY_OBJECT,
    "company_jobs.submit": COMPANY_OBJECT,
    "company_jobs.answer": COMPANY_OBJECT,
    "company_jobs.cancel": COMPANY_OWNER_OBJECT,
    "board.index": EXPERT,
    "board.detail": BOARD_JOB,
    "board.accept_terms": BOARD_JOB,
    "board.download": BOARD_FILE,
    "tickets.index": COMPANY,
    "tickets.new": COMPANY,
    "tickets.detail": COMPANY_OBJECT,
    "tickets.reply": COMPANY_OBJECT,
    "expert_offers.invitations": EXPERT,
    "expert_offers.decline_invitation": EXPERT_OBJECT,
    "expert_offers.new": BOARD_JOB,
    "expert_offers.index": EXPERT,
    "expert_offers.detail": EXPERT_OBJECT,
    "expert_offers.revise": EXPERT_OBJECT,
    "expert_offers.withdraw": EXPERT_OBJECT,
    "expert_offers.post_message": EXPERT_OBJECT,
    "expert_offers.confirm_proposal": EXPERT_OBJECT,
    "expert_offers.refuse_proposal": EXPERT_OBJECT,
    # negotiation, contracts and funding (issue 5)
    "company_offers.job_offers": COMPANY_OBJECT,
    "company_offers.detail": COMPANY_OBJECT,
    "company_offers.post": COMPANY_OBJECT,
    "company_offers.negotiate": COMPANY_OBJECT,
    "company_offers.accept": COMPANY_OWNER_OBJECT,
    "company_offers.reject": COMPANY_OWNER_OBJECT,
    "company_offers.attachment": FILE_OBJECT,
    "contracts.company_index": COMPANY,
    "contracts.company_contract": COMPANY_OBJECT,
    "contracts.company_download": COMPANY_OBJECT,
    "contracts.company_preview": COMPANY_OBJECT,
    "contracts.company_sign": COMPANY_OWNER_OBJECT,
    "contracts.expert_index": EXPERT,
    "contracts.expert_contract": EXPERT_OBJECT,
    "contracts.expert_download": EXPERT_OBJECT,
    "contracts.expert_preview": EXPERT_OBJECT,
    "contracts.expert_sign": EXPERT_OBJECT,
    "contracts.verify": PUBLIC,
    "projects.index": LOGIN,
    **{f"projects.{n}": PROJECT for n in ("delivery", "delivery_file", "acceptance_certificate", "disputes",
                                           "rate")},
    "projects.rate:POST": PROJECT_PARTY,  # the hub reads both ratings; only the parties rate
    "projects.submit_delivery": PROJECT_EXPERT,
    "projects.approve_delivery": PROJECT_COMPANY,
    "projects.request_revision": PROJECT_COMPANY,
    "projects.open_dispute": PROJECT_PARTY,
    "projects.qc_review": QC_REVIEW,
    "projects.qc_submit": QC_SUBMIT,
    "earnings.index": EXPERT,
    "earnings.settings": EXPERT,
    "earnings.invoice": INVOICE,
    **{f"projects.{n}": PROJECT for n in (
        "channel", "messages", "post_message", "mark_read", "search", "files", "upload", "upload_version",
        "download", "inline", "model", "preview", "plan", "calls", "schedule_call")},
    **{f"projects.{n}": PROJECT_WORK for n in (
        "progress", "add_task", "start_milestone", "complete_milestone", "edit_task",
        "task_status")},  # the world's task has no assignee: company users may not move it
    **{f"projects.{n}": PROJECT_HUB for n in ("reopen_milestone", "host", "cancel_call")},
    **{f"projects.{n}": QC_OBJECT for n in ("qc_nda", "qc_sign", "qc_download")},
    "payments.pay": COMPANY_OBJECT,
    "payments.pay_by_card": COMPANY_OBJECT,
    "payments.paid": COMPANY_OBJECT,
    "payments.receipt": COMPANY_OBJECT,
    "webhooks.stripe": PUBLIC,
}

# Where a URL argument of one endpoint names another object than the same argument elsewhere.
ARG_SOURCES: dict[str, dict[str, str]] = {
    "expert_offers.decline_invitation": {"invitation_id": "invitation_id_expert"},
    "company_offers.attachment": {"message_id": "negotiation_message_id"},
    "projects.delivery_file": {"file_id": "delivery_file_id"},
    **{f"contracts.company_{n}": {"document_id": "contract_document_id"} for n in ("download", "preview", "sign")},
    **{f"contracts.expert_{n}": {"document_id": "subcontract_document_id"} for n in ("download", "preview", "sign")},
    **{f"admin_contracts.{n}": {"document_id": "contract_document_id"} for n in ("sign", "download")},
}

PRINCIPALS = ("anonymous", "owner_a", "member_a", "owner_b", "expert", "expert_pending", "suspended", "admin")


def _admin_endpoints(app: Flask) -> set[str]:
    return set(app.extensions["admin_blueprints"])


def _policy(app: Flask, endpoint: str) -> str | None:
    blueprint = endpoint.split(".", 1)[0]
    if endpoint == "admin.static":
        return PUBLIC
    if blueprint in _admin_endpoints(app):
        return STAFF
    return POLICY.get(endpoint)


def _collect_cases() -> list[tuple[str, str, str]]:
    app = make_app("/tmp/pc-matrix-unused")
    cases = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for principal in PRINCIPALS:
                cases.append((rule.endpoint, rule.rule, method, principal))
    return [(e, m, p) for e, _r, m, p in sorted(set(cases))]


CASES = _collect_cases()


def test_every_route_has_a_policy_entry(app):
    missing = sorted({rule.endpoint for rule in app.url_map.iter_rules() if _policy(app, rule.endpoint) is None})
    assert missing == [], f"add these endpoints to POLICY: {missing}"
    assert len(CASES) >= 8 * 100


def _world(f: Any) -> dict[str, Any]:
    company_a = f.company()
    owner_a = f.company_user(company_a, owner=True)
    member_a = f.company_user(company_a, owner=False)
    company_b = f.company()
    owner_b = f.company_user(company_b, owner=True)
    expert = f.expert()
    expert_pending = f.expert(status=VerificationStatus.DRAFT)
    suspended = f.company_user(f.company(), owner=True)
    admin = f.admin(totp_enabled_at=utcnow())
    doc = Document(
        company_id=company_a.id,
        kind=DocumentKind.REGISTRATION_CERTIFICATE,
        storage_key="matrix-doc",
        original_name="certificate.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256="0" * 64,
        uploaded_by_id=owner_a.id,
    )
    db.session.add(doc)
    invitation = CompanyInvitation(
        company_id=company_a.id,
        email="colleague@example.test",
        invited_by_id=owner_a.id,
        token_hash="f" * 64,
        expires_at=utcnow(),
    )
    db.session.add(invitation)
    note = Notification(user_id=owner_a.id, kind="company.approved", params={"company": "A"})
    db.session.add(note)
    outbox = OutboxMessage(topic="email.direct", payload={})
    db.session.add(outbox)
    db.session.flush()
    mail = EmailMessage(
        outbox_message_id=outbox.id,
        to_address="a@example.test",
        subject="s",
        body_text="t",
        body_html="<p>h</p>",
        transport="outbox",
    )
    db.session.add(mail)
    term = f.term()
    from app.models import AttachmentKind, JobAttachment, JobStatus

    job = f.job(company_a, status=JobStatus.PUBLISHED, created_by=owner_a)
    attachment = JobAttachment(
        job_id=job.id,
        kind=AttachmentKind.PDF,
        storage_key="matrix-job-file",
        original_name="drawing.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256="0" * 64,
        uploaded_by_id=owner_a.id,
    )
    db.session.add(attachment)
    db.session.flush()
    extra_args = _tickets_world(f, company_a, owner_a, job)
    invitation_to_expert = f.job_invitation(job, expert, invited_by=admin)
    from app.models import ContractDocumentKind, NegotiationMessage, OfferStatus, ThreadSide

    offer = f.offer(job, expert, status=OfferStatus.FORWARDED, milestones=(("Plan", 40), ("Report", 60)))
    f.forward(offer, forwarded_by=admin)
    message = NegotiationMessage(offer_id=offer.id, side=ThreadSide.COMPANY, author_id=owner_a.id,
                                 body="Can the study start a week earlier?")
    db.session.add(message)
    contract = f.contract(job, expert, actor=admin)
    docs = {d.kind: d.id for d in contract.documents}
    extra_args.update(offer_id=offer.id, invitation_id_expert=invitation_to_expert.id, contract_id=contract.id,
                      negotiation_message_id=0, contract_document_id=docs[ContractDocumentKind.CONTRACT],
                      subcontract_document_id=docs[ContractDocumentKind.SUBCONTRACT], side="company")
    db.session.flush()
    extra_args["negotiation_message_id"] = message.id
    extra_args.update(_projects_world(f, company_a, expert, admin))
    db.session.commit()
    return {
        "users": {
            "owner_a": owner_a,
            "member_a": member_a,
            "owner_b": owner_b,
            "expert": expert.user,
            "expert_pending": expert_pending.user,
            "suspended": suspended,
            "admin": admin,
        },
        "args": {
            "document_id": doc.id,
            "invitation_id": invitation.id,
            "notification_id": note.id,
            "user_id": member_a.id,
            "obj_id": company_a.id,
            "decision": "approve",
            "term_id": term.id,
            "message_id": mail.id,
            "session_id": 999_999,
            "token": "not-a-valid-token",
            "export_type": "csv",
            "filename": "css/hub.css",
            "job_id": job.id,
            "attachment_id": attachment.id,
            **extra_args,
        },
    }


def _projects_world(f: Any, company_a: Any, expert: Any, admin: Any) -> dict[str, int]:
    """A funded project of company A with the expert: a file version, a task, a call, a QC assignment."""
    from app.models import (
        Delivery,
        DeliveryFile,
        DeliveryStatus,
        Dispute,
        JobStatus,
        OfferStatus,
        Payout,
        PayoutMethod,
        PayoutRole,
        ProjectFile,
        ProjectFileVersion,
        ProjectMilestone,
        ProjectTask,
        QcAssignment,
        Refund,
        VideoCall,
        VideoProviderName,
    )

    job = f.job(company_a, status=JobStatus.AWARDED, qc_requested=True)
    offer = f.offer(job, expert, status=OfferStatus.ACCEPTED, milestones=(("Study", 40), ("Report", 60)))
    project = f.project(f.signed_contract(offer, actor=admin), manager=admin)
    milestone = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                   .order_by(ProjectMilestone.position)).first()
    file = ProjectFile(project_id=project.id, title="Drawing", created_by_id=expert.user_id, version_count=1)
    db.session.add(file)
    db.session.flush()
    version = ProjectFileVersion(file_id=file.id, number=1, storage_key="matrix-project-file",
                                 original_name="drawing.pdf", file_type="pdf", content_type="application/pdf",
                                 size_bytes=10, sha256="0" * 64, uploaded_by_id=expert.user_id)
    task = ProjectTask(project_id=project.id, milestone_id=milestone.id, title="Send samples",
                       created_by_id=admin.id)
    call = VideoCall(project_id=project.id, provider=VideoProviderName.LINK, topic="Kick-off",
                     starts_at=utcnow(), join_url="https://meet.example/room", created_by_id=admin.id)
    qc = QcAssignment(project_id=project.id, expert_id=expert.id, assigned_by_id=admin.id,
                      nda_storage_key="matrix-qc-nda", nda_sha256="0" * 64)
    delivery = Delivery(project_id=project.id, number=1, status=DeliveryStatus.FORWARDED, notes="Report",
                        submitted_by_id=expert.user_id)
    db.session.add_all([version, task, call, qc, delivery])
    db.session.flush()
    delivery_file = DeliveryFile(delivery_id=delivery.id, storage_key="matrix-delivery-file", original_name="r.pdf",
                                 file_type="pdf", content_type="application/pdf", size_bytes=10, sha256="0" * 64)
    payout = Payout(project_id=project.id, expert_id=expert.id, role=PayoutRole.EXPERT, amount_minor=1000,
                    currency="EUR", method=PayoutMethod.BANK, idempotency_key=f"payout-{project.id}-expert")
    dispute = Dispute(project_id=project.id, delivery_id=delivery.id, opened_by_id=expert.user_id,
                      opened_side="expert", reason="The revision asks for work outside the offer.")
    refund = Refund(project_id=project.id, company_id=company_a.id, amount_minor=1000, currency="EUR",
                    method=PayoutMethod.BANK, idempotency_key=f"refund-matrix-{project.id}")
    db.session.add_all([delivery_file, payout, dispute, refund])
    db.session.flush()
    return {"project_id": project.id, "file_id": file.id, "version_id": version.id, "milestone_id": milestone.id,
            "task_id": task.id, "call_id": call.id, "assignment_id": qc.id, "delivery_id": delivery.id,
            "delivery_file_id": delivery_file.id, "payout_id": payout.id, "dispute_id": dispute.id,
            "refund_id": refund.id}


def _tickets_world(f: Any, company_a: Any, owner_a: Any, job: Any) -> dict[str, int]:
    """A catalog ticket of company A, opened from its job."""
    ticket = f.ticket(company_a, opened_by=owner_a, job=job)
    return {"ticket_id": ticket.id}


def _counts(*, with_audit: bool = False) -> dict[str, int]:
    """The row count of every table (log-in bookkeeping left out), in one statement."""
    skipped = {"user_sessions", "login_attempts"} | (set() if with_audit else {"audit_events"})
    tables = [t for t in db.metadata.sorted_tables if t.name not in skipped]
    row = db.session.execute(sa.select(*(
        sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))).one()
    return {t.name: int(value) for t, value in zip(tables, row, strict=True)}


def _expected(policy: str, principal: str, endpoint: str) -> Callable[[int], bool] | str:
    ok = lambda code: code < 500 and code not in (401, 403)  # noqa: E731
    if principal == "suspended":
        principal = "anonymous"  # a suspended user's session is refused: treated as a visitor
    anonymous = principal == "anonymous"
    company = principal in {"owner_a", "member_a", "owner_b"}
    if policy == PUBLIC:
        return ok
    if anonymous:
        return "login"
    if policy == LOGIN:
        return ok
    if policy == STAFF:
        return ok if principal == "admin" else "deny"
    if policy == COMPANY:
        return ok if company else "deny"
    if policy == OWNER:
        if principal == "owner_a":
            return ok
        if principal == "owner_b":
            return "notfound"
        return "deny"
    if policy == OWNER_PAGE:
        return ok if principal in {"owner_a", "owner_b"} else "deny"
    if policy == EXPERT:
        return ok if principal in {"expert", "expert_pending"} else "deny"
    if policy == COMPANY_OBJECT:
        if principal in {"owner_a", "member_a"}:
            return ok
        return "notfound" if company else "deny"
    if policy == COMPANY_OWNER_OBJECT:
        if principal == "owner_a":
            return ok
        if principal == "member_a":
            return "deny"
        return "notfound" if company else "deny"
    if policy == BOARD_JOB:
        if principal == "expert":
            return ok
        return "notfound_or_deny"
    if policy == BOARD_FILE:
        return "notfound_or_deny"
    if policy == EXPERT_OBJECT:
        if principal == "expert":
            return ok
        return "notfound" if principal == "expert_pending" else "deny"
    if policy == FILE_OBJECT:
        return ok if principal in {"owner_a", "member_a", "admin"} else "notfound"
    if policy in {PROJECT, PROJECT_WORK, PROJECT_HUB}:
        members = {PROJECT: {"owner_a", "member_a", "expert", "admin"}, PROJECT_WORK: {"expert", "admin"},
                   PROJECT_HUB: {"admin"}}[policy]
        if principal in members:
            return ok
        return "deny" if principal in {"owner_a", "member_a", "expert"} else "notfound"
    if policy in {PROJECT_EXPERT, PROJECT_COMPANY, PROJECT_PARTY}:
        allowed = {PROJECT_EXPERT: {"expert"}, PROJECT_COMPANY: {"owner_a", "member_a"},
                   PROJECT_PARTY: {"owner_a", "member_a", "expert"}}[policy]
        if principal in allowed:
            return ok
        return "deny" if principal in {"owner_a", "member_a", "expert", "admin"} else "notfound"
    if policy == QC_REVIEW:
        return ok if principal == "admin" else "notfound"
    if policy == QC_SUBMIT:
        return "deny" if principal == "admin" else "notfound"
    if policy == INVOICE:
        return "notfound" if company else "deny"
    if policy == QC_OBJECT:
        return ok if principal in {"expert", "admin"} else "notfound"
    if policy == ADMIN_FILE:
        return ok if principal == "admin" else "notfound_or_deny"
    raise AssertionError(policy)


class World:
    """Company A, B, experts and an admin, built once and rebuilt only after a call that may change it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.data: dict[str, Any] = {}
        self.tokens: dict[str, tuple[str, int]] = {}  # principal -> (token, its user_sessions row)
        self.dirty = True

    def ensure(self) -> dict[str, Any]:
        from tests import factories
        from tests.conftest import _clear_tables

        if self.dirty:
            db.session.remove()
            _clear_tables(self.app)
            built = _world(factories)
            # Suspended once for all its cases (a suspension per case would rebuild the world each time):
            # its sessions are refused from the next request on, as after a real suspension.
            built["users"]["suspended"].suspended_at = utcnow()
            db.session.commit()
            self.data = {
                "users": {name: user.id for name, user in built["users"].items()},
                "args": built["args"],
            }
            self.tokens = {}
            self.dirty = False
        return self.data

    def log_in(self, client: Any, principal: str) -> None:
        """Log ``client`` in with the principal's session of this world, opened at its first case.

        Opening a session writes a row and commits; a world rebuilt after a call that may have changed
        it (a log-out, a suspension...) opens new ones, and so does a case after one that ended it.
        """
        from app.login import SESSION_KEY
        from app.models import User, UserSession
        from app.services import sessions

        user_id = self.data["users"][principal]
        if principal not in self.tokens:
            user = db.session.get(User, user_id)
            token = sessions.open_session(user, ip="127.0.0.1", user_agent="pytest")
            row = db.session.scalar(sa.select(sa.func.max(UserSession.id)).where(UserSession.user_id == user_id))
            self.tokens[principal] = (token, int(row or 0))
        with client.session_transaction() as sess:
            sess.clear()
            sess[SESSION_KEY] = self.tokens[principal][0]
            sess["_user_id"] = str(user_id)
            sess["_fresh"] = True

    def forget_ended_session(self, principal: str) -> None:
        """After a case: a session that the call revoked (or rotated away) is not used again."""
        from app.models import UserSession

        if principal in self.tokens:
            row_id = self.tokens[principal][1]
            live = db.session.scalar(sa.select(UserSession.id).where(UserSession.id == row_id,
                                                                     UserSession.revoked_at.is_(None)))
            if live is None:
                del self.tokens[principal]


@pytest.fixture(scope="module")
def world(shared_app: Flask) -> Any:
    from tests.conftest import _clear_tables

    holder = World(shared_app)
    yield holder
    with shared_app.app_context():
        db.session.remove()
        _clear_tables(shared_app)


@pytest.mark.parametrize(("endpoint", "method", "principal"), CASES)
def test_route_access(world, endpoint, method, principal):
    from app.extensions import limiter

    app = world.app
    with app.app_context():
        limiter.reset()
        data = world.ensure()
        allowed_call = True
        try:
            rule = next(r for r in app.url_map.iter_rules(endpoint=endpoint) if method in (r.methods or ()))
            sources = ARG_SOURCES.get(endpoint, {})
            url = rule.build({k: data["args"][sources.get(k, k)] for k in rule.arguments}, append_unknown=False)[1]
            client = app.test_client()
            if principal != "anonymous":
                world.log_in(client, principal)
            policy = POLICY.get(f"{endpoint}:{method}") or _policy(app, endpoint)
            assert policy is not None
            expected = _expected(policy, principal, endpoint)
            allowed_call = callable(expected)
            before_all = _counts(with_audit=True)
            before = {name: n for name, n in before_all.items() if name != "audit_events"}
            response = client.open(url, method=method, data={})
            code = response.status_code
            if callable(expected):
                assert expected(code), f"{method} {url} as {principal}: {code}"
                db.session.expire_all()
                # Every change of state writes an audit event or a row: a call that wrote nothing leaves the
                # world as it was, and the next case need not rebuild it.
                allowed_call = _counts(with_audit=True) != before_all
                return
            if expected == "login":
                if method == "GET" and policy != STAFF:
                    assert code == 302 and "/login" in response.headers["Location"], f"{url}: {code}"
                else:
                    assert code in (302, 401, 403), f"{method} {url}: {code}"
                    if code == 302:
                        assert "/login" in response.headers["Location"]
            elif expected == "deny":
                assert code in (403, 404), f"{method} {url} as {principal}: {code}"
            elif expected == "notfound":
                assert code == 404, f"{method} {url} as {principal}: {code}"
            elif expected == "notfound_or_deny":
                assert code in (403, 404), f"{method} {url} as {principal}: {code}"
            db.session.expire_all()
            assert _counts() == before, f"refused {method} {url} as {principal} changed the database"
        except BaseException:
            world.dirty = True
            raise
        finally:
            if allowed_call and method != "GET":
                world.dirty = True
            db.session.remove()
            if not world.dirty:
                world.forget_ended_session(principal)
            db.session.remove()
