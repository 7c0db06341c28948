"""Disputes, cancellations and refunds in the back office (WORKFLOW.md §10).

Three pages behind one menu entry:

- the disputes (``/admin/disputes/``): open ones first, the longest waiting at
  the top, then the decided ones; each opens the case (``/admin/disputes/<id>``)
  with the project's money (what is held, and the contract's parts: expert
  price, QC fee, hub fee), the deliveries, the reason, and the decision form
  (release, refund, or a split in major units checked on the server; a reason);
- the projects where no work has started, each with "Cancel project (refund in
  full)" (``/admin/disputes/cancellations``);
- the refunds (``/admin/disputes/refunds``): outstanding first, with "Mark as
  refunded" (the bank reference) for bank refunds and "Retry" for failed ones.

Every button calls app/services/disputes.py or app/services/refunds.py; nothing
here writes a status. Registered with endpoint ``admin_disputes`` and url
``disputes``, so notification links read /admin/disputes/<id>.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from admin_views.base import SecureBaseView, current_actor, form_error_flash
from app.exceptions import DomainError
from app.extensions import db
from app.models import (
    AuditEvent,
    Delivery,
    Dispute,
    DisputeDecision,
    DisputeStatus,
    ExpertProfile,
    Payout,
    Project,
    Refund,
    RefundStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import disputes, refunds, release, uow
from app.services.release import ReleaseParts
from forms.disputes import DECISION_NAMES, CancelProjectForm, DecideDisputeForm, MarkRefundedForm
from forms.experts import from_minor, to_minor

PER_PAGE = 30
DISPUTE_STATUS_LABELS = {"open": _l("Open"), "decided": _l("Decided")}
DISPUTE_STATUS_COLOURS = {"open": "warning", "decided": "secondary"}
REFUND_STATUS_LABELS = {"pending": _l("Pending"), "sent": _l("Refunded"), "failed": _l("Failed")}
REFUND_STATUS_COLOURS = {"pending": "warning", "sent": "success", "failed": "danger"}
METHOD_LABELS = {"provider": _l("Card (payment provider)"), "bank": _l("Bank transfer")}
SIDE_LABELS = {"company": _l("the company"), "expert": _l("the expert")}
LABELS: dict[str, Any] = {
    "dispute_status_labels": DISPUTE_STATUS_LABELS,
    "dispute_status_colours": DISPUTE_STATUS_COLOURS,
    "refund_status_labels": REFUND_STATUS_LABELS,
    "refund_status_colours": REFUND_STATUS_COLOURS,
    "method_labels": METHOD_LABELS,
    "side_labels": SIDE_LABELS,
    "decision_names": DECISION_NAMES,
}


def waiting(since: datetime) -> str:
    """How long something has waited, in words ("3 days")."""
    return str(format_timedelta(utcnow() - since, granularity="minute", threshold=1.0))


@dataclass(frozen=True)
class Money:
    """A project's money as the hub reads it: what is held and the contract's parts."""

    currency: str
    held_minor: int
    client_price_minor: int
    expert_price_minor: int
    qc_fee_minor: int
    hub_fee_minor: int  # the contract's fee minus the QC fee


def project_money(project: Project) -> Money:
    """What is held for ``project`` and how its contract splits the client price."""
    contract = project.contract
    qc = release.active_qc(project)
    qc_fee = qc.fee_minor if qc is not None else 0
    return Money(currency=contract.currency, held_minor=release.held_minor(project),
                 client_price_minor=contract.client_price_minor, expert_price_minor=contract.expert_price_minor,
                 qc_fee_minor=qc_fee, hub_fee_minor=contract.fee_minor - qc_fee)


def _opener(dispute: Dispute) -> str:
    """Who opened a dispute, as the hub reads it (the expert by pseudonym and real name)."""
    user = db.session.get(User, dispute.opened_by_id)
    if user is None:
        return _("a former member")
    pseudonym = db.session.scalar(sa.select(ExpertProfile.pseudonym).where(ExpertProfile.user_id == user.id))
    if pseudonym:
        return _("Expert %(p)s — %(name)s", p=pseudonym, name=user.full_name)
    return f"{user.full_name} <{user.email}>"


class DisputesView(SecureBaseView):
    """Disputes (with the decision), projects without work (with cancellation) and refunds."""

    # Disputes --------------------------------------------------------------------------------

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """Open disputes first (longest waiting first), then the decided ones; ``?status=`` filters."""
        raw = request.args.get("status", "")
        status = DisputeStatus(raw) if raw in {s.value for s in DisputeStatus} else None
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        query = disputes.dispute_list(status=status).options(
            joinedload(Dispute.project).joinedload(Project.contract))
        pagination = db.paginate(query, page=page, per_page=PER_PAGE, error_out=False)
        rows = [(d, waiting(d.opened_at) if d.status is DisputeStatus.OPEN else None) for d in pagination.items]
        open_count = db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
            Dispute.status == DisputeStatus.OPEN)) or 0
        return self.render("admin/disputes/index.html", pagination=pagination, rows=rows,
                           status=status.value if status else "", statuses=list(DisputeStatus),
                           open_count=open_count, pager_args={"status": status.value} if status else {},
                           tab="disputes", **LABELS)

    def _dispute(self, dispute_id: int) -> Dispute:
        dispute = db.session.get(Dispute, dispute_id)
        if dispute is None:
            abort(404)
        return dispute

    def _decide_form(self, dispute: Dispute, money: Money) -> DecideDisputeForm:
        form = DecideDisputeForm(formdata=None, prefix="decide")
        currency = money.currency
        try:
            parts = release.default_parts(dispute.project)
        except DomainError:  # what is held does not cover the contract's parts: the admin types a split
            parts = ReleaseParts(expert_minor=0, qc_minor=0, hub_minor=0)
        form.expert_amount.data = from_minor(parts.expert_minor, currency)
        form.qc_amount.data = from_minor(parts.qc_minor, currency)
        form.hub_amount.data = from_minor(parts.hub_minor, currency)
        form.refund_amount.data = from_minor(money.held_minor - parts.total, currency) \
            if money.held_minor >= parts.total else Decimal(0)
        return form

    def render_case(self, dispute: Dispute, *, form: DecideDisputeForm | None = None,
                    status: int = 200) -> ResponseReturnValue:
        project = dispute.project
        money = project_money(project)
        deliveries = list(db.session.scalars(
            sa.select(Delivery).options(joinedload(Delivery.files), joinedload(Delivery.qc_reviews))
            .where(Delivery.project_id == project.id).order_by(Delivery.number.desc())
        ).unique())
        decided = disputes.summary(dispute) if dispute.status is DisputeStatus.DECIDED else None
        decided_by = db.session.get(User, dispute.decided_by_id) if dispute.decided_by_id else None
        history = list(db.session.scalars(
            sa.select(AuditEvent).options(joinedload(AuditEvent.actor)).where(sa.or_(
                sa.and_(AuditEvent.entity == "disputes", AuditEvent.entity_id == dispute.id),
                sa.and_(AuditEvent.entity == "projects", AuditEvent.entity_id == project.id),
            )).order_by(AuditEvent.id.desc()).limit(100)
        ))
        others = list(db.session.scalars(sa.select(Dispute).where(
            Dispute.project_id == project.id, Dispute.id != dispute.id).order_by(Dispute.id.desc())))
        html = self.render(
            "admin/disputes/details.html",
            dispute=dispute, project=project, contract=project.contract, money=money, deliveries=deliveries,
            opener=_opener(dispute), waited=waiting(dispute.opened_at), decided=decided, decided_by=decided_by,
            form=form or (self._decide_form(dispute, money) if dispute.status is DisputeStatus.OPEN else None),
            payouts=list(db.session.scalars(sa.select(Payout).where(Payout.project_id == project.id)
                                            .order_by(Payout.id))),
            refund_rows=refunds.refunds_of(project), history=history, others=others,
            project_url=self.get_url("admin_projects.details_view", project_id=project.id)
            if "admin_projects.details_view" in current_app.view_functions else None,
            tab="disputes", **LABELS,
        )
        return html, status

    @expose("/<int:dispute_id>")
    def details_view(self, dispute_id: int) -> ResponseReturnValue:
        """One dispute: the project's money, the deliveries, the reason, and the decision form."""
        return self.render_case(self._dispute(dispute_id))

    @expose("/<int:dispute_id>/decide", methods=("POST",))
    def decide(self, dispute_id: int) -> ResponseReturnValue:
        """Decide the dispute: release, refund, or a split whose parts add up to what is held (server check)."""
        dispute = self._dispute(dispute_id)
        form = DecideDisputeForm(prefix="decide")
        if not form.validate():
            form_error_flash()
            return self.render_case(dispute, form=form, status=400)
        decision = DisputeDecision(form.decision.data)
        currency = dispute.project.contract.currency
        try:
            parts: ReleaseParts | None = None
            refund = 0
            if decision is DisputeDecision.SPLIT:
                parts = ReleaseParts(expert_minor=to_minor(form.expert_amount.data, currency) or 0,
                                     qc_minor=to_minor(form.qc_amount.data, currency) or 0,
                                     hub_minor=to_minor(form.hub_amount.data, currency) or 0)
                refund = to_minor(form.refund_amount.data, currency) or 0
            disputes.decide_dispute(dispute_id, actor=current_actor(), decision=decision,
                                    reason=form.reason.data or "", release=parts, refund_minor=refund)
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_case(self._dispute(dispute_id), form=form, status=exc.status_code)
        flash(_("The dispute is decided; both parties have been told."), "success")
        return redirect(self.get_url(".details_view", dispute_id=dispute_id))

    # Cancellations ---------------------------------------------------------------------------

    @expose("/cancellations")
    def cancellations(self) -> ResponseReturnValue:
        """Active projects where no work has started, oldest first, each with "Cancel project (refund in full)"."""
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        return self._render_cancellations(page)

    def _render_cancellations(self, page: int, *, bound: tuple[int, CancelProjectForm] | None = None,
                              status: int = 200) -> ResponseReturnValue:
        query = disputes.projects_without_work().options(joinedload(Project.contract))
        pagination = db.paginate(query, page=page, per_page=PER_PAGE, error_out=False)
        rows = []
        for project in pagination.items:
            form = bound[1] if bound is not None and bound[0] == project.id else \
                CancelProjectForm(formdata=None, prefix=f"p{project.id}")
            rows.append((project, project_money(project), form))
        return self.render("admin/disputes/cancellations.html", pagination=pagination, rows=rows,
                           tab="cancellations", **LABELS), status

    @expose("/cancellations/<int:project_id>", methods=("POST",))
    def cancel_project(self, project_id: int) -> ResponseReturnValue:
        """Cancel a project before the work starts; everything held is refunded to the company."""
        project = db.session.get(Project, project_id)
        if project is None:
            abort(404)
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        form = CancelProjectForm(prefix=f"p{project_id}")
        if not form.validate():
            form_error_flash()
            return self._render_cancellations(page, bound=(project_id, form), status=400)
        try:
            disputes.cancel_project(project_id, actor=current_actor(), reason=form.reason.data or "")
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._render_cancellations(page, bound=(project_id, form), status=exc.status_code)
        flash(_("Project %(reference)s is cancelled; everything held is being refunded to the company.",
                reference=project.contract.reference), "success")
        return redirect(self.get_url(".refunds_list"))

    # Refunds ---------------------------------------------------------------------------------

    @expose("/refunds")
    def refunds_list(self) -> ResponseReturnValue:
        """Every refund: failed and pending first, then the newest; ``?status=`` filters."""
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        raw = request.args.get("status", "")
        status = RefundStatus(raw) if raw in {s.value for s in RefundStatus} else None
        return self._render_refunds(page, status)

    def _render_refunds(self, page: int, status: RefundStatus | None, *,
                        bound: tuple[int, MarkRefundedForm] | None = None, code: int = 200) -> ResponseReturnValue:
        query = refunds.refund_list(status=status).options(joinedload(Refund.project).joinedload(Project.contract))
        pagination = db.paginate(query, page=page, per_page=PER_PAGE, error_out=False)
        rows = []
        for refund in pagination.items:
            form = bound[1] if bound is not None and bound[0] == refund.id else \
                MarkRefundedForm(formdata=None, prefix=f"r{refund.id}")
            rows.append((refund, form))
        return self.render("admin/disputes/refunds.html", pagination=pagination, rows=rows,
                           status=status.value if status else "", statuses=list(RefundStatus),
                           pager_args={"status": status.value} if status else {}, tab="refunds",
                           **LABELS), code

    @expose("/refunds/<int:refund_id>/refunded", methods=("POST",))
    def mark_refunded(self, refund_id: int) -> ResponseReturnValue:
        """Confirm a bank refund with the bank's reference."""
        if db.session.get(Refund, refund_id) is None:
            abort(404)
        form = MarkRefundedForm(prefix=f"r{refund_id}")
        if not form.validate():
            form_error_flash()
            return self._render_refunds(1, None, bound=(refund_id, form), code=400)
        try:
            refunds.mark_bank_refund_sent(refund_id, actor=current_actor(), reference=form.bank_reference.data or "")
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._render_refunds(1, None, bound=(refund_id, form), code=exc.status_code)
        flash(_("The refund is marked as refunded; the company has been told."), "success")
        return redirect(self.get_url(".refunds_list"))

    @expose("/refunds/<int:refund_id>/retry", methods=("POST",))
    def retry_refund(self, refund_id: int) -> ResponseReturnValue:
        """Send a failed card refund again (the same idempotency key: it is never refunded twice)."""
        if db.session.get(Refund, refund_id) is None:
            abort(404)
        try:
            refunds.retry_refund(refund_id, actor=current_actor())
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return redirect(self.get_url(".refunds_list"))
        refund = db.session.get(Refund, refund_id, populate_existing=True)
        if refund is not None and refund.status is RefundStatus.SENT:
            flash(_("The refund is sent."), "success")
        else:
            flash(_("The refund is being sent again."), "info")
        return redirect(self.get_url(".refunds_list"))
