"""The expert's invitations and offers (WORKFLOW.md §4).

An approved expert sees the invitations and recommendations the hub sent,
declines one with a reason, makes an offer on a job whose confidentiality terms
they accepted, changes it (each change is a new immutable version) and
withdraws it, and confirms or refuses a revised version the hub proposes on
their behalf (WORKFLOW.md §5). Every view parses a form and calls one service of
app/services/offers.py; a refused input is shown next to its field with
everything typed kept (400), a refused state is flashed. Offers of other
experts "do not exist" (404).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app import policies
from app.blueprints.company_offers import post_thread_message
from app.exceptions import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.models import (
    PENDING_OFFER_STATES,
    ExpertProfile,
    InvitationStatus,
    Job,
    JobInvitation,
    JobStatus,
    Offer,
    Role,
    ThreadSide,
    User,
)
from app.security import roles_required, safe_next
from app.services import jobs, negotiations, offers, uploads
from app.services.jobs import FieldErrors
from forms.negotiations import ThreadMessageForm
from forms.offers import (
    INVITATION_KIND_LABELS,
    INVITATION_STATUS_LABELS,
    OFFER_STATUS_COLOURS,
    OFFER_STATUS_LABELS,
    ConfirmProposalForm,
    DeclineInvitationForm,
    OfferForm,
    RefuseProposalForm,
    ReviseOfferForm,
    WithdrawOfferForm,
    add_errors,
)

bp = Blueprint("expert_offers", __name__)

PER_PAGE = 20
# Offers the expert may still change (a new version); withdrawing is possible while pending.
LABELS: dict[str, Any] = {
    "offer_status_labels": OFFER_STATUS_LABELS,
    "offer_status_colours": OFFER_STATUS_COLOURS,
    "invitation_kind_labels": INVITATION_KIND_LABELS,
    "invitation_status_labels": INVITATION_STATUS_LABELS,
    "clauses": offers.CURRENT_CLAUSES,
}


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _expert(actor: User) -> ExpertProfile:
    expert = actor.expert_profile
    if expert is None:
        abort(404)
    return expert


def _page_arg() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


# Template helpers ---------------------------------------------------------------------------


@bp.app_template_global()
def expert_offer_summary() -> dict[str, int]:
    """For the expert's nav and home page: open invitations on open jobs, and offers still pending."""
    if "expert_offer_summary" not in g:
        summary = {"open_invitations": 0, "pending_offers": 0}
        user = current_user._get_current_object() if current_user.is_authenticated else None
        expert = user.expert_profile if isinstance(user, User) and user.role is Role.EXPERT else None
        if expert is not None:
            summary["open_invitations"] = int(db.session.scalar(
                sa.select(sa.func.count()).select_from(JobInvitation).join(Job, Job.id == JobInvitation.job_id)
                .where(JobInvitation.expert_id == expert.id, JobInvitation.status == InvitationStatus.OPEN,
                       Job.status == JobStatus.PUBLISHED)
            ) or 0)
            summary["pending_offers"] = int(db.session.scalar(
                sa.select(sa.func.count()).select_from(Offer)
                .where(Offer.expert_id == expert.id, Offer.status.in_(PENDING_OFFER_STATES))
            ) or 0)
        g.expert_offer_summary = summary
    return dict(g.expert_offer_summary)


def _latest_offers(expert: ExpertProfile, job_ids: list[int]) -> dict[int, Offer]:
    """The expert's latest offer per job among ``job_ids``."""
    latest: dict[int, Offer] = {}
    if not job_ids:
        return latest
    rows = db.session.scalars(
        sa.select(Offer).where(Offer.expert_id == expert.id, Offer.job_id.in_(job_ids))
        .order_by(Offer.submitted_at.asc(), Offer.id.asc())
    )
    for offer in rows:
        latest[offer.job_id] = offer
    return latest


def board_offer_context(job: Job, actor: User) -> dict[str, Any]:
    """What the board's job page shows about offers: the call to action, the expert's offer, the decline form."""
    expert = actor.expert_profile
    my_offer = _latest_offers(expert, [job.id]).get(job.id) if expert is not None else None
    invitation = next(
        (i for i in job.invitations if expert is not None and i.expert_id == expert.id), None
    )
    return {
        "offer_refusal": offers.offer_refusal(job, actor),
        "my_offer": my_offer,
        "invitation": invitation,
        "decline_invitation_form": DeclineInvitationForm(formdata=None, next=url_for("board.detail", job_id=job.id)),
        "offer_status_labels": OFFER_STATUS_LABELS,
        "offer_status_colours": OFFER_STATUS_COLOURS,
        "invitation_kind_labels": INVITATION_KIND_LABELS,
    }


# Invitations --------------------------------------------------------------------------------


Failed = tuple[JobInvitation, DeclineInvitationForm]


def _render_invitations(expert: ExpertProfile, page: int, *, failed: Failed | None = None,
                        status: int = 200) -> ResponseReturnValue:
    pagination = db.paginate(offers.expert_invitations_query(expert), page=page, per_page=PER_PAGE,
                             error_out=False, count=True)
    items: list[JobInvitation] = list(pagination.items)
    forms: dict[int, DeclineInvitationForm] = {}
    for invitation in items:
        if invitation.status is InvitationStatus.OPEN:
            forms[invitation.id] = DeclineInvitationForm(formdata=None, next=url_for("expert_offers.invitations",
                                                                                      page=page))
    extra: JobInvitation | None = None
    if failed is not None:
        forms[failed[0].id] = failed[1]
        if failed[0] not in items:
            extra = failed[0]
    return render_template(
        "expert/invitations/index.html",
        expert=expert,
        invitations=items,
        pagination=pagination,
        forms=forms,
        failed_invitation=extra,
        offers_by_job=_latest_offers(expert, [i.job_id for i in items] + ([extra.job_id] if extra else [])),
        **LABELS,
    ), status


@bp.get("/invitations")
@roles_required(Role.EXPERT)
def invitations() -> ResponseReturnValue:
    """The expert's invitations and recommendations, open ones first (20 per page)."""
    expert = _expert(_actor())
    return _render_invitations(expert, _page_arg())


@bp.post("/invitations/<int:invitation_id>/decline")
@roles_required(Role.EXPERT)
def decline_invitation(invitation_id: int) -> ResponseReturnValue:
    """Decline an invitation with a reason for the hub; a missing reason keeps the page with the error."""
    actor = _actor()
    expert = _expert(actor)
    invitation = db.session.get(JobInvitation, invitation_id)
    if invitation is None or not policies.can_respond_to_invitation(actor, invitation):
        abort(404)
    form = DeclineInvitationForm()
    back = safe_next(form.next.data, url_for("expert_offers.invitations"))
    if form.validate():
        try:
            offers.decline_invitation(invitation.id, actor=actor, reason=form.reason.data or "")
        except NotFound:
            raise
        except ValidationFailed as exc:
            form.reason.errors = [*form.reason.errors, str(exc)]
        except DomainError as exc:
            flash(str(exc), "danger")
            return redirect(back)
        else:
            flash(_("You declined “%(job)s”. Thank you for telling the hub why.", job=invitation.job), "success")
            return redirect(back)
    return _render_invitations(expert, _page_arg(), failed=(invitation, form), status=400)


# Making an offer ----------------------------------------------------------------------------


def _render_offer_form(job: Job, form: OfferForm, *, offer: Offer | None = None,
                       status: int = 200) -> ResponseReturnValue:
    if form.clauses_version.data != offers.CURRENT_CLAUSES.version:
        # The clauses changed while the form was open: show the new ones, to be read and accepted again.
        form.clauses_version.data = offers.CURRENT_CLAUSES.version
        form.accept_clauses.data = False
    return render_template(
        "expert/offers/form.html",
        job=job,
        view=jobs.job_public_view(job, _actor()),
        form=form,
        offer=offer,
        **LABELS,
    ), status


@bp.route("/jobs/<int:job_id>/offer", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def new(job_id: int) -> ResponseReturnValue:
    """The offer form; sending it submits the offer to the hub (version 1)."""
    actor = _actor()
    job = db.session.get(Job, job_id)
    if job is None or not policies.can_make_offer(actor, job):
        abort(404)
    refusal = offers.offer_refusal(job, actor)
    if refusal:
        flash(refusal, "warning")
        return redirect(url_for("board.detail", job_id=job.id))
    form = OfferForm()
    if request.method == "GET":
        return _render_offer_form(job, form)
    if not form.validate():
        return _render_offer_form(job, form, status=400)
    try:
        offer = offers.submit_offer(job.id, actor=actor, data=form.offer_input(job.currency))
    except FieldErrors as exc:
        for message in add_errors(form, exc.errors):
            flash(message, "danger")
        return _render_offer_form(job, form, status=400)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("board.detail", job_id=job.id))
    flash(_("Your offer is sent to the hub. It reviews the offer and forwards it to the company, which only "
            "sees your pseudonym."), "success")
    return redirect(url_for("expert_offers.detail", offer_id=offer.id))


# The expert's offers ------------------------------------------------------------------------


@bp.get("/offers")
@roles_required(Role.EXPERT)
def index() -> ResponseReturnValue:
    """The expert's offers, newest first (20 per page)."""
    expert = _expert(_actor())
    pagination = db.paginate(offers.expert_offers_query(expert), page=_page_arg(), per_page=PER_PAGE,
                             error_out=False, count=True)
    return render_template("expert/offers/index.html", expert=expert, offers=list(pagination.items),
                           pagination=pagination, **LABELS)


def _can_revise(offer: Offer, actor: User) -> bool:
    return offers.can_be_revised(offer) and policies.can_change_offer(actor, offer)


def _render_detail(offer: Offer, *, withdraw_form: WithdrawOfferForm | None = None,
                   message_form: ThreadMessageForm | None = None, confirm_form: ConfirmProposalForm | None = None,
                   refuse_form: RefuseProposalForm | None = None, status: int = 200) -> ResponseReturnValue:
    actor = _actor()
    proposal = negotiations.open_proposal(offer) if policies.can_decide_proposal(actor, offer) else None
    proposal_id = proposal.id if proposal else ""
    if confirm_form is None or confirm_form.clauses_version.data != offers.CURRENT_CLAUSES.version:
        # A new form, or the clauses changed while it was open: the new ones are to be read and accepted again.
        confirm_form = ConfirmProposalForm(formdata=None, prefix="confirm", proposal_id=proposal_id)
    refuse_form = refuse_form or RefuseProposalForm(formdata=None, prefix="refuse", proposal_id=proposal_id)
    messages = negotiations.thread(offer.id, ThreadSide.EXPERT, actor=actor)
    versions = list(offer.versions)
    history = [
        (version, offers.version_changes(versions[n - 1] if n else None, version))
        for n, version in enumerate(versions)
    ]
    return render_template(
        "expert/offers/detail.html",
        offer=offer,
        job=offer.job,
        current=offer.current_version,
        history=list(reversed(history)),
        can_revise=_can_revise(offer, actor),
        can_withdraw=offer.is_pending and policies.can_change_offer(actor, offer),
        withdraw_form=withdraw_form or WithdrawOfferForm(formdata=None),
        board_link=policies.expert_can_see_job(offer.expert, offer.job),
        messages=[(m, negotiations.author_label(m, actor)) for m in messages],
        message_form=message_form or ThreadMessageForm(formdata=None),
        upload_hint=_("%(types)s, up to %(limit)s. Hidden metadata is removed where the format allows.",
                      types=uploads.types_label(uploads.JOB_TYPES),
                      limit=uploads.human_size(jobs.attachment_max_bytes())),
        accept=uploads.accept_attribute(uploads.JOB_TYPES),
        proposal=proposal,
        proposal_changes=negotiations.proposal_changes(offer.current_version, proposal) if proposal else [],
        confirm_form=confirm_form,
        refuse_form=refuse_form,
        **LABELS,
    ), status


@bp.get("/offers/<int:offer_id>")
@roles_required(Role.EXPERT)
def detail(offer_id: int) -> ResponseReturnValue:
    """One offer: its status and what happens next, the current version in full, and every version."""
    return _render_detail(offers.load_offer(offer_id, actor=_actor()))


@bp.route("/offers/<int:offer_id>/revise", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def revise(offer_id: int) -> ResponseReturnValue:
    """Change an offer: the form starts from the current version; sending it adds a new version."""
    actor = _actor()
    offer = offers.load_offer(offer_id, actor=actor)
    if not _can_revise(offer, actor):
        flash(_("This offer cannot be changed now."), "warning")
        return redirect(url_for("expert_offers.detail", offer_id=offer.id))
    if request.method == "GET":
        assert offer.current_version is not None
        form = ReviseOfferForm(formdata=None, data=ReviseOfferForm.initial_data(offer.current_version))
        return _render_offer_form(offer.job, form, offer=offer)
    form = ReviseOfferForm()
    if not form.validate():
        return _render_offer_form(offer.job, form, offer=offer, status=400)
    try:
        offers.revise_offer(offer.id, actor=actor, data=form.offer_input(offer.job.currency))
    except FieldErrors as exc:
        for message in add_errors(form, exc.errors):
            flash(message, "danger")
        return _render_offer_form(offer.job, form, offer=offer, status=400)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("expert_offers.detail", offer_id=offer.id))
    flash(_("The new version of your offer is sent to the hub."), "success")
    return redirect(url_for("expert_offers.detail", offer_id=offer.id))


@bp.post("/offers/<int:offer_id>/withdraw")
@roles_required(Role.EXPERT)
def withdraw(offer_id: int) -> ResponseReturnValue:
    """Withdraw an offer (with an optional reason) after confirming."""
    actor = _actor()
    offer = offers.load_offer(offer_id, actor=actor)
    form = WithdrawOfferForm()
    if not form.validate():
        return _render_detail(offer, withdraw_form=form, status=400)
    try:
        offers.withdraw_offer(offer.id, actor=actor, reason=form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("expert_offers.detail", offer_id=offer.id))
    flash(_("Your offer is withdrawn. The hub is told."), "success")
    return redirect(url_for("expert_offers.detail", offer_id=offer.id))


@bp.post("/offers/<int:offer_id>/messages")
@roles_required(Role.EXPERT)
def post_message(offer_id: int) -> ResponseReturnValue:
    """Write to the hub about this offer (the hub ↔ expert thread), with an optional file."""
    offer = offers.load_offer(offer_id, actor=_actor())
    form = ThreadMessageForm()
    if not form.validate() or post_thread_message(offer, ThreadSide.EXPERT, form) is None:
        return _render_detail(offer, message_form=form, status=400)
    flash(_("Your message is sent to the hub."), "success")
    return redirect(url_for("expert_offers.detail", offer_id=offer.id) + "#thread")


def _proposal_id(offer: Offer, form: ConfirmProposalForm | RefuseProposalForm) -> int | None:
    """The open proposal the expert answers: the one the page showed, if it is still the open one."""
    proposal = negotiations.open_proposal(offer)
    if proposal is None or str(proposal.id) != (form.proposal_id.data or ""):
        flash(_("This proposal is no longer open; the page shows what the hub proposes now."), "warning")
        return None
    return proposal.id


@bp.post("/offers/<int:offer_id>/proposal/confirm")
@roles_required(Role.EXPERT)
def confirm_proposal(offer_id: int) -> ResponseReturnValue:
    """Confirm the hub's proposal, accepting the clauses: it becomes the new version of the offer."""
    actor = _actor()
    offer = offers.load_offer(offer_id, actor=actor)
    back = url_for("expert_offers.detail", offer_id=offer.id)
    form = ConfirmProposalForm(prefix="confirm")
    proposal_id = _proposal_id(offer, form)
    if proposal_id is None:
        return redirect(back)
    if not form.validate():
        return _render_detail(offer, confirm_form=form, status=400)
    try:
        negotiations.confirm_proposal(proposal_id, actor=actor, accept_clauses=bool(form.accept_clauses.data),
                                      clauses_version=form.clauses_version.data or "")
    except FieldErrors as exc:
        for name, message in exc.errors.items():
            if name == "accept_clauses":
                form.accept_clauses.errors = [*form.accept_clauses.errors, message]
            else:
                flash(message, "danger")
        return _render_detail(offer, confirm_form=form, status=400)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(back)
    flash(_("You confirmed the hub's proposal: it is the new version of your offer, and the hub is told."),
          "success")
    return redirect(back)


@bp.post("/offers/<int:offer_id>/proposal/refuse")
@roles_required(Role.EXPERT)
def refuse_proposal(offer_id: int) -> ResponseReturnValue:
    """Refuse the hub's proposal with a reason; the offer stays as it is."""
    actor = _actor()
    offer = offers.load_offer(offer_id, actor=actor)
    back = url_for("expert_offers.detail", offer_id=offer.id)
    form = RefuseProposalForm(prefix="refuse")
    proposal_id = _proposal_id(offer, form)
    if proposal_id is None:
        return redirect(back)
    if not form.validate():
        return _render_detail(offer, refuse_form=form, status=400)
    try:
        negotiations.refuse_proposal(proposal_id, actor=actor, reason=form.reason.data or "")
    except NotFound:
        raise
    except ValidationFailed as exc:
        form.reason.errors = [*form.reason.errors, str(exc)]
        return _render_detail(offer, refuse_form=form, status=400)
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(back)
    flash(_("You refused the hub's proposal. The hub is told why; your offer stays as it was."), "success")
    return redirect(back)
