"""The company's offer pages: the offers the hub forwarded for a job, one offer, and the decision.

The company sees each offer under the expert's pseudonym with verified
credentials and the client price (never the expert's name, contact, employers,
price or the hub fee), talks to the hub in the company ↔ hub thread, and an
owner accepts or rejects (members get 403 there); any user of the company may ask to negotiate. Each
view parses a form and calls one service of app/services/negotiations.py.
Another company's job or offer, and offers the hub has not forwarded, are "not
found" (404). The thread-file download at the end is shared by the company's,
the expert's and the hub's pages; the service applies the side rules.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from app import policies
from app.blueprints import documents as documents_flow
from app.exceptions import DomainError, NotFound, ValidationFailed
from app.extensions import db
from app.integrations import reference
from app.models import Contract, Job, NegotiationMessage, Offer, OfferStatus, Role, ThreadSide, User
from app.security import company_owner_required, login_required, roles_required, send_inert
from app.services import jobs, negotiations, uploads
from app.services.contracts import milestone_amounts
from app.workflows.offers import OFFER_WORKFLOW
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS
from forms.negotiations import AcceptOfferForm, NegotiateForm, RejectOfferForm, ThreadMessageForm

bp = Blueprint("company_offers", __name__)

SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()}
CONTRACT_ENDPOINT = "contracts.company_contract"

# What each status means for the company (the hub's internal states are not shown).
COMPANY_STATUS_LABELS = {
    OfferStatus.FORWARDED: _l("Forwarded by the hub"),
    OfferStatus.IN_NEGOTIATION: _l("In negotiation with the hub"),
    OfferStatus.REVISED: _l("New version with the hub"),
    OfferStatus.ACCEPTED: _l("Accepted"),
    OfferStatus.REJECTED: _l("Rejected"),
}
COMPANY_STATUS_COLOURS = {
    OfferStatus.FORWARDED: "primary",
    OfferStatus.IN_NEGOTIATION: "warning",
    OfferStatus.REVISED: "info",
    OfferStatus.ACCEPTED: "success",
    OfferStatus.REJECTED: "secondary",
}


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _job(job_id: int) -> Job:
    """The job if it belongs to the actor's company; anything else is 404."""
    job = db.session.get(Job, job_id)
    if job is None or not policies.belongs_to_company(_actor(), job.company):
        abort(404)
    return job


def _offer(offer_id: int) -> Offer:
    """The offer if the hub forwarded it to the actor's company; anything else is 404."""
    offer = db.session.get(Offer, offer_id)
    if offer is None or not policies.can_view_forwarded_offer(_actor(), offer):
        abort(404)
    return offer


def _language_label(code: str) -> str:
    return reference.language_name(code, str(get_locale() or "en"))


def _labels() -> dict[str, Any]:
    return {
        "status_labels": COMPANY_STATUS_LABELS,
        "status_colours": COMPANY_STATUS_COLOURS,
        "level_labels": LEVEL_LABELS,
        "proficiency_labels": PROFICIENCY_LABELS,
        "language_label": _language_label,
        "milestone_amounts": milestone_amounts,
    }


@bp.app_template_global()
def forwarded_offer_count(job_id: int) -> int:
    """For the company's job page: how many offers of the job the hub forwarded (the company may see)."""
    return negotiations.forwarded_offer_counts([job_id]).get(job_id, 0)


def _contract_url(contract: Contract | None, job: Job) -> str:
    """The contract's page if that page exists in this build, else the job's page."""
    if contract is not None and CONTRACT_ENDPOINT in current_app.view_functions:
        return url_for(CONTRACT_ENDPOINT, contract_id=contract.id)
    return url_for("company_jobs.detail", job_id=job.id)


# Pages ----------------------------------------------------------------------------------


@bp.get("/company/jobs/<int:job_id>/offers")
@roles_required(Role.COMPANY)
def job_offers(job_id: int) -> ResponseReturnValue:
    """The offers the hub forwarded for the job, side by side."""
    job = _job(job_id)
    items = negotiations.company_offers(job.id, actor=_actor())
    return render_template("company/offers/index.html", job=job, company=job.company, items=items, **_labels())


def _render_detail(offer: Offer, *, message_form: ThreadMessageForm | None = None,
                   accept_form: AcceptOfferForm | None = None, reject_form: RejectOfferForm | None = None,
                   negotiate_form: NegotiateForm | None = None, status: int = 200) -> ResponseReturnValue:
    actor = _actor()
    item = negotiations.company_offer(offer.id, actor=actor)
    messages = negotiations.thread(offer.id, ThreadSide.COMPANY, actor=actor)
    contract = db.session.query(Contract).filter_by(offer_id=offer.id).one_or_none()
    is_owner = policies.can_decide_offer(actor, offer)
    return render_template(
        "company/offers/detail.html",
        item=item,
        offer=offer,
        job=offer.job,
        company=offer.job.company,
        messages=[(m, negotiations.author_label(m, actor)) for m in messages],
        can_accept=is_owner and OFFER_WORKFLOW.allows(offer.status, OfferStatus.ACCEPTED),
        can_reject=is_owner and OFFER_WORKFLOW.allows(offer.status, OfferStatus.REJECTED),
        can_negotiate=policies.can_negotiate_offer(actor, offer)
        and OFFER_WORKFLOW.allows(offer.status, OfferStatus.IN_NEGOTIATION),
        is_owner=is_owner,
        contract_url=_contract_url(contract, offer.job) if contract is not None else None,
        message_form=message_form or ThreadMessageForm(formdata=None),
        accept_form=accept_form or AcceptOfferForm(formdata=None),
        reject_form=reject_form or RejectOfferForm(formdata=None),
        negotiate_form=negotiate_form or NegotiateForm(formdata=None),
        upload_hint=_("%(types)s, up to %(limit)s. Hidden metadata is removed where the format allows.",
                      types=uploads.types_label(uploads.JOB_TYPES),
                      limit=uploads.human_size(jobs.attachment_max_bytes())),
        accept=uploads.accept_attribute(uploads.JOB_TYPES),
        **_labels(),
    ), status


@bp.get("/company/offers/<int:offer_id>")
@roles_required(Role.COMPANY)
def detail(offer_id: int) -> ResponseReturnValue:
    """One forwarded offer: the latest version, what changed, the thread with the hub, and the decision."""
    return _render_detail(_offer(offer_id))


def _back(offer: Offer) -> ResponseReturnValue:
    return redirect(url_for("company_offers.detail", offer_id=offer.id))


@bp.post("/company/offers/<int:offer_id>/accept")
@company_owner_required
def accept(offer_id: int) -> ResponseReturnValue:
    """Accept the forwarded version (owners); the hub prepares the contract and the NDA."""
    offer = _offer(offer_id)
    form = AcceptOfferForm()
    if not form.validate():
        return _render_detail(offer, accept_form=form, status=400)
    try:
        contract = negotiations.accept_offer(offer.id, actor=_actor())
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
        return _back(offer)
    flash(_("You accepted the offer of %(expert)s. The hub prepares the contract and the NDA for signature; we "
            "let you know when they are ready.", expert=str(offer.expert)), "success")
    return redirect(_contract_url(contract, offer.job))


@bp.post("/company/offers/<int:offer_id>/reject")
@company_owner_required
def reject(offer_id: int) -> ResponseReturnValue:
    """Reject the offer with a reason for the hub (owners)."""
    offer = _offer(offer_id)
    form = RejectOfferForm()
    if not form.validate():
        return _render_detail(offer, reject_form=form, status=400)
    try:
        negotiations.reject_offer(offer.id, actor=_actor(), reason=form.reason.data or "")
    except NotFound:
        raise
    except ValidationFailed as exc:
        form.reason.errors = [*form.reason.errors, str(exc)]
        return _render_detail(offer, reject_form=form, status=400)
    except DomainError as exc:
        flash(str(exc), "danger")
        return _back(offer)
    flash(_("The offer is rejected. The hub is told."), "success")
    return redirect(url_for("company_offers.job_offers", job_id=offer.job_id))


@bp.post("/company/offers/<int:offer_id>/negotiate")
@roles_required(Role.COMPANY)
def negotiate(offer_id: int) -> ResponseReturnValue:
    """Ask the hub for changes; the message starts the negotiation."""
    offer = _offer(offer_id)
    form = NegotiateForm()
    if not form.validate():
        return _render_detail(offer, negotiate_form=form, status=400)
    try:
        negotiations.request_negotiation(offer.id, actor=_actor(), message=form.message.data or "")
    except NotFound:
        raise
    except ValidationFailed as exc:
        form.message.errors = [*form.message.errors, str(exc)]
        return _render_detail(offer, negotiate_form=form, status=400)
    except DomainError as exc:
        flash(str(exc), "danger")
        return _back(offer)
    flash(_("Your request is sent to the hub, which discusses it with the expert."), "success")
    return _back(offer)


def post_thread_message(offer: Offer, side: ThreadSide, form: ThreadMessageForm) -> NegotiationMessage | None:
    """Hand a thread form to the service; put refusals under the fields (None) for the page to re-render.

    Shared by the company's and the expert's offer pages.
    """
    storage = form.attachment.data
    upload = documents_flow.received(storage) if isinstance(storage, FileStorage) and storage.filename else None
    try:
        return negotiations.post_message(offer.id, actor=_actor(), side=side, body=form.body.data or "",
                                         upload=upload)
    except uploads.UploadRejected as exc:
        form.attachment.errors = [str(exc)]
    except jobs.FieldErrors as exc:
        form.body.errors = list(exc.errors.values())
    return None


@bp.post("/company/offers/<int:offer_id>/messages")
@roles_required(Role.COMPANY)
def post(offer_id: int) -> ResponseReturnValue:
    """Write to the hub about this offer, with an optional file."""
    offer = _offer(offer_id)
    form = ThreadMessageForm()
    if not form.validate() or post_thread_message(offer, ThreadSide.COMPANY, form) is None:
        return _render_detail(offer, message_form=form, status=400)
    flash(_("Your message is sent to the hub."), "success")
    return redirect(url_for("company_offers.detail", offer_id=offer.id) + "#thread")


@bp.get("/offers/messages/<int:message_id>/file")
@login_required
def attachment(message_id: int) -> ResponseReturnValue:
    """Download a thread message's file (its thread's people and the hub; the download is logged)."""
    message, data = negotiations.open_message_attachment(message_id, actor=_actor())
    return send_inert(data, message.attachment_name or "attachment", message.attachment_type or "",
                      safe_types=SAFE_TYPES)
