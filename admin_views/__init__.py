"""The back office: Flask-Admin views, built per app."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from admin_views.accounts import InvitationView, UserView
from admin_views.audit import AuditLogView
from admin_views.base import HubIndexView, json_block
from admin_views.catalog import CatalogTermView
from admin_views.contracts import ContractsView
from admin_views.deliveries import DeliveriesView
from admin_views.disputes import DisputesView
from admin_views.escrow import EscrowView
from admin_views.jobs import JobInvitationView, JobReviewView
from admin_views.labels import (
    catalog_kind_label,
    company_role_label,
    criterion_label,
    exclusion_label,
    match_run_badge,
    offer_badge,
    role_label,
)
from admin_views.matching import MatchingView, MatchingWeightsView
from admin_views.messages import EmailMessageView, OutboxMessageView
from admin_views.offers import OfferQueueView
from admin_views.payouts import PayoutsView
from admin_views.projects import ProjectsView
from admin_views.tickets import CatalogTicketView
from admin_views.verification import CompanyVerificationView, ExpertVerificationView
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogTerm,
    CatalogTicket,
    Company,
    CompanyInvitation,
    EmailMessage,
    ExpertProfile,
    Job,
    JobInvitation,
    OutboxMessage,
    User,
)
from app.security import csp_nonce


def init_admin(app: Flask) -> Admin:
    """Build a fresh Admin per app (tests create many apps) and register every view."""
    from admin_views.labels import exclusion_text

    app.jinja_env.filters["exclusion_text"] = exclusion_text
    admin = Admin(
        name="Plasticonnect Hub",
        index_view=HubIndexView(name=_l("Dashboard"), url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/hub_base.html", swatch="default", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    verification, accounts, catalog, messages = _l("Verification"), _l("Accounts"), _l("Catalog"), _l("Messages")
    admin.add_view(
        CompanyVerificationView(
            Company, db, name=_l("Companies"), category=verification, endpoint="company_verification", url="companies"
        )
    )
    admin.add_view(
        ExpertVerificationView(
            ExpertProfile, db, name=_l("Experts"), category=verification, endpoint="expert_verification", url="experts"
        )
    )
    jobs = _l("Jobs")
    admin.add_view(JobReviewView(Job, db, name=_l("Job review"), category=jobs, endpoint="jobs", url="jobs"))
    admin.add_view(
        JobInvitationView(
            JobInvitation, db, name=_l("Job invitations"), category=jobs, endpoint="job_invitations",
            url="job-invitations",
        )
    )
    admin.add_view(OfferQueueView(name=_l("Offers"), category=jobs, endpoint="offers", url="offers"))
    admin.add_view(MatchingView(name=_l("Rankings"), category=jobs, endpoint="matching", url="matching"))
    admin.add_view(
        MatchingWeightsView(
            name=_l("Matching weights"), category=jobs, endpoint="matching_weights", url="matching/weights"
        )
    )
    money = _l("Contracts & escrow")
    admin.add_view(ContractsView(name=_l("Contracts"), category=money, endpoint="admin_contracts", url="contracts"))
    admin.add_view(EscrowView(name=_l("Escrow"), category=money, endpoint="escrow", url="escrow"))
    admin.add_view(PayoutsView(name=_l("Payouts"), category=money, endpoint="admin_payouts", url="payouts"))
    admin.add_view(DisputesView(name=_l("Disputes"), category=money, endpoint="admin_disputes", url="disputes"))
    admin.add_view(ProjectsView(name=_l("Projects"), endpoint="admin_projects", url="projects"))
    admin.add_view(DeliveriesView(name=_l("Delivery checking"), endpoint="admin_deliveries", url="deliveries"))
    admin.add_view(UserView(User, db, name=_l("Users"), category=accounts, endpoint="users", url="users"))
    admin.add_view(
        InvitationView(
            CompanyInvitation, db, name=_l("Invitations"), category=accounts, endpoint="invitations", url="invitations"
        )
    )
    admin.add_view(
        CatalogTermView(CatalogTerm, db, name=_l("Terms"), category=catalog, endpoint="catalog", url="catalog")
    )
    admin.add_view(
        CatalogTicketView(
            CatalogTicket, db, name=_l("Tickets"), category=catalog, endpoint="catalog_tickets", url="tickets"
        )
    )
    admin.add_view(
        EmailMessageView(
            EmailMessage, db, name=_l("Mail outbox"), category=messages, endpoint="email_messages", url="mail"
        )
    )
    admin.add_view(
        OutboxMessageView(OutboxMessage, db, name=_l("Outbox"), category=messages, endpoint="outbox", url="outbox")
    )
    admin.add_view(AuditLogView(AuditEvent, db, name=_l("Audit log"), endpoint="audit", url="audit"))
    admin.init_app(app)
    # After every view is registered: the access check treats these blueprints as admin-only.
    app.extensions["admin_blueprints"] = {view.endpoint for view in admin._views} | {"admin"}
    app.jinja_env.globals["admin_json"] = json_block
    app.jinja_env.globals.update(
        role_label=role_label,
        company_role_label=company_role_label,
        catalog_kind_label=catalog_kind_label,
        criterion_label=criterion_label,
        exclusion_label=exclusion_label,
        offer_badge=offer_badge,
        match_run_badge=match_run_badge,
    )
    return admin
