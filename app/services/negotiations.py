"""Step 5: forwarding, negotiation through the hub, and the company's decision (WORKFLOW.md §4–§5).

    offer: submitted | revised -forward (hub, with the fee)-> forwarded
           submitted | revised -decline (hub)-> declined
           forwarded -negotiate (company)-> in_negotiation   (the expert then revises -> revised)
           forwarded -accept (company owner)-> accepted; the job's other pending offers -> not_selected;
                                                         the job published -> awarded; the contract opens
           forwarded | in_negotiation -reject (company owner)-> rejected

The company never talks to the expert: each offer has two threads, ``company``
(company ↔ hub) and ``expert`` (hub ↔ expert), which never mix. What reaches the
company carries the expert's pseudonym and the client price only; what reaches
the expert never carries the client price, the fee or the company's name
(RELIABILITY.md §3.10). Each public function loads and locks its rows, checks
existence, then permission (``app.policies``), then state, and commits once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied
from app.extensions import db
from app.i18n import money
from app.integrations.storage import BlobNotFound, get_storage
from app.models import (
    PENDING_OFFER_STATES,
    CompanyRole,
    Contract,
    DocumentKind,
    DocumentReview,
    ExpertiseLevel,
    ExpertProfile,
    Job,
    JobStatus,
    LanguageProficiency,
    NegotiationMessage,
    Offer,
    OfferForward,
    OfferProposal,
    OfferStatus,
    OfferVersion,
    ProposalDecision,
    Role,
    ThreadSide,
    User,
)
from app.services import audit, notifications, uow, uploads
from app.services.contracts import open_contract
from app.services.jobs import FieldErrors, attachment_max_bytes
from app.services.offers import (  # the rules and the writer of an expert's version (helpers: never commit)
    MilestoneInput,
    OfferInput,
    _add_version,
    _check_input,
    version_changes,
)
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.jobs import JOB_WORKFLOW
from app.workflows.offers import OFFER_WORKFLOW

logger = logging.getLogger(__name__)

O = OfferStatus  # noqa: E741

ADMIN_OFFER_PATH = "/admin/offers/{id}"
EXPERT_OFFER_PATH = "/offers/{id}"
COMPANY_OFFER_PATH = "/company/offers/{id}"
COMPANY_JOB_OFFERS_PATH = "/company/jobs/{id}/offers"
COMPANY_CONTRACT_PATH = "/company/contracts/{id}"
FORWARDABLE = (O.SUBMITTED, O.REVISED)
MAX_MESSAGE = 10_000
MAX_NOTE = 5_000
MAX_FEE_MINOR = 10**12
NOTIFICATION_EXCERPT = 300


# Fees ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeeQuote:
    """What a forward would carry: the expert price, the hub fee and the client price (minor units)."""

    expert_price_minor: int
    fee_minor: int
    fee_basis_points: int | None  # None: a fixed amount
    currency: str

    @property
    def client_price_minor(self) -> int:
        return self.expert_price_minor + self.fee_minor


def default_fee_percent() -> Decimal:
    """The hub fee applied when the admin types none (HUB_FEE_PERCENT, 15 by default)."""
    return Decimal(int(current_app.config.get("HUB_FEE_PERCENT", 15)))


def quote_fee(
    price_minor: int, currency: str, *, fee_percent: Decimal | None = None, fee_minor: int | None = None
) -> FeeQuote:
    """The fee on ``price_minor``: a percentage (at most two decimals) rounded half up, or a fixed amount.

    Neither given: the default percentage. Pure: the forward form's preview uses it too.

    :raises FieldErrors: both given, a negative or too large fee, or a percentage with more than two decimals.
    """
    if fee_percent is not None and fee_minor is not None:
        raise FieldErrors({"fee_minor": _("Give either a percentage or a fixed fee, not both.")})
    if fee_minor is not None:
        if fee_minor < 0:
            raise FieldErrors({"fee_minor": _("The fee cannot be negative.")})
        if fee_minor > MAX_FEE_MINOR:
            raise FieldErrors({"fee_minor": _("This fee is too large.")})
        return FeeQuote(price_minor, int(fee_minor), None, currency)
    percent = default_fee_percent() if fee_percent is None else fee_percent
    try:
        percent = Decimal(percent)
        basis_points = percent * 100
        exact = basis_points == basis_points.to_integral_value()
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise FieldErrors({"fee_percent": _("Enter the fee as a percentage, e.g. 15 or 12.5.")}) from exc
    if not percent.is_finite() or percent < 0:
        raise FieldErrors({"fee_percent": _("The fee cannot be negative.")})
    if percent > 100:
        raise FieldErrors({"fee_percent": _("The fee cannot be more than %(max)d %% of the expert's price.", max=100)})
    if not exact:
        raise FieldErrors({"fee_percent": _("Use at most two decimals for the percentage.")})
    fee = (Decimal(price_minor) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return FeeQuote(price_minor, int(fee), int(basis_points), currency)


# Internals -------------------------------------------------------------------------------


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= NOTIFICATION_EXCERPT else text[: NOTIFICATION_EXCERPT - 1] + "…"


def _load_offer(offer_id: int, actor: User, *, lock: bool = True) -> Offer:
    """The offer, if ``actor`` may know it exists (the expert, the company once forwarded, staff)."""
    offer = db.session.get(Offer, offer_id, with_for_update=lock, populate_existing=lock)
    if offer is None or not (policies.can_view_offer(actor, offer) or policies.can_view_forwarded_offer(actor, offer)):
        raise NotFound(_("This offer does not exist."))
    return offer


def _latest_forward(offer_id: int) -> OfferForward | None:
    return db.session.scalar(
        sa.select(OfferForward).where(OfferForward.offer_id == offer_id).order_by(OfferForward.id.desc()).limit(1)
    )


def _company_people(job: Job) -> list[User]:
    """Who hears about a job's offers: the company's active owners and the job's author."""
    people: dict[int, User] = {}
    for user in job.company.users:
        if user.suspended_at is None and user.role is Role.COMPANY and (
            user.company_role is CompanyRole.OWNER or user.id == job.created_by_id
        ):
            people[user.id] = user
    return list(people.values())


def _notify_company(offer: Offer, kind: str, *, link: str, **params: Any) -> None:
    # Only the pseudonym ("Expert K7Q2") and the job's title: never a name, an e-mail or the expert price.
    for user in _company_people(offer.job):
        notifications.notify(user, kind, link=link, expert=str(offer.expert), job=str(offer.job), **params)


def _notify_expert(offer: Offer, kind: str, **params: Any) -> None:
    # The job's title only: never the client price, the fee or the company's name.
    user = offer.expert.user
    if user is not None and user.suspended_at is None:
        notifications.notify(user, kind, link=EXPERT_OFFER_PATH.format(id=offer.id), job=str(offer.job), **params)


def _notify_staff(offer: Offer, kind: str, **params: Any) -> None:
    notifications.notify_staff(kind, link=ADMIN_OFFER_PATH.format(id=offer.id), expert=str(offer.expert),
                               job=str(offer.job), company=offer.job.company.name, **params)


def _add_message(offer: Offer, side: ThreadSide, author: User, body: str) -> NegotiationMessage:
    message = NegotiationMessage(offer_id=offer.id, side=side, author_id=author.id, body=body,
                                 created_at=datetime.now(UTC))
    db.session.add(message)
    db.session.flush()
    return message


def _require_published(job: Job, target: OfferStatus, current: OfferStatus) -> None:
    if job.status is not JobStatus.PUBLISHED:
        raise InvalidTransition(
            OFFER_WORKFLOW.name, current, target,
            _("The job is %(status)s, no longer open: its offers cannot move on.",
              status=job.status.value.replace("_", " ")),
        )


# Transitions -----------------------------------------------------------------------------


def forward_offer(
    offer_id: int,
    *,
    actor: User,
    fee_percent: Decimal | None = None,
    fee_minor: int | None = None,
    note: str = "",
) -> OfferForward:
    """Forward the offer's current version to the company, with the hub fee.

    SUBMITTED | REVISED -> FORWARDED. Hub staff only. Records an ``OfferForward``
    (expert price, fee — a percentage, by default HUB_FEE_PERCENT, rounded half
    up to the minor unit, or a fixed amount — and client price = expert price +
    fee). The company's users are told (pseudonym and client price only); the
    expert is told it was forwarded (no client price, no fee).

    :raises NotFound: no such offer.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the offer is not submitted or revised, or the job is not published.
    :raises FieldErrors: the fee is negative, too large, or given twice.
    """
    offer = _load_offer(offer_id, actor)
    if not policies.can_forward_offer(actor, offer):
        raise PermissionDenied(_("Only the hub forwards offers to the company."))
    OFFER_WORKFLOW.check(offer.status, O.FORWARDED)
    _require_published(offer.job, O.FORWARDED, offer.status)
    version = offer.current_version
    if version is None:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.FORWARDED, _("This offer has no version."))
    quote = quote_fee(version.price_minor, version.currency, fee_percent=fee_percent, fee_minor=fee_minor)
    note = (note or "").strip()[:MAX_NOTE]
    event = transition(offer, OFFER_WORKFLOW, O.FORWARDED, actor=actor, version=version.number,
                       expert_price_minor=quote.expert_price_minor, fee_minor=quote.fee_minor,
                       fee_basis_points=quote.fee_basis_points, client_price_minor=quote.client_price_minor)
    forward = OfferForward(
        offer_id=offer.id,
        version_id=version.id,
        expert_price_minor=quote.expert_price_minor,
        fee_minor=quote.fee_minor,
        fee_basis_points=quote.fee_basis_points,
        client_price_minor=quote.client_price_minor,
        currency=quote.currency,
        note_to_company=note,
        forwarded_by_id=actor.id,
        forwarded_at=event.created_at,
    )
    forward.offer = offer
    forward.version = version
    db.session.add(forward)
    db.session.flush()
    offer.status_note = ""
    _notify_company(offer, "offer.forwarded_to_company", link=COMPANY_OFFER_PATH.format(id=offer.id),
                    client_price=money(quote.client_price_minor, quote.currency))
    _notify_expert(offer, "offer.forwarded", number=str(version.number))
    uow.commit()
    return forward


def decline_offer(offer_id: int, *, actor: User, reason: str) -> Offer:
    """The hub decides not to forward the offer; the expert reads the reason.

    SUBMITTED | REVISED -> DECLINED. Hub staff only. The reason becomes the
    offer's status note and is sent to the expert.

    :raises NotFound: no such offer.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the offer is not submitted or revised.
    :raises ValidationFailed: no reason.
    """
    offer = _load_offer(offer_id, actor)
    if not policies.can_forward_offer(actor, offer):
        raise PermissionDenied(_("Only the hub declines offers."))
    OFFER_WORKFLOW.check(offer.status, O.DECLINED)
    reason = required_text(reason, _("Give the expert a reason: they read it and can learn from it."),
                           max_length=MAX_NOTE)
    transition(offer, OFFER_WORKFLOW, O.DECLINED, actor=actor, reason=reason)
    offer.status_note = reason
    _notify_expert(offer, "offer.declined", reason=reason)
    uow.commit()
    return offer


def accept_offer(offer_id: int, *, actor: User) -> Contract:
    """The company accepts the latest forwarded version; the hub's contract opens.

    FORWARDED -> ACCEPTED. An owner of the job's company only (members read and
    negotiate, they do not commit money). In the same transaction: every other
    pending offer of the job -> NOT_SELECTED (its expert told), the job
    PUBLISHED -> AWARDED, and the contract with its PDFs is created at the
    forwarded client price. The company's people, the expert and staff are told.
    The job row is locked first, so two owners accepting two offers of one job
    at the same time cannot both win (the second sees the job awarded).

    :raises NotFound: no such offer visible to ``actor``.
    :raises PermissionDenied: ``actor`` is not an owner of the job's company.
    :raises InvalidTransition: the offer is not forwarded, or the job is no longer published.
    """
    # Only the job's id first: the offer row is read after the job's lock is granted, so a loser of
    # a race reads the winner's committed state (not a stale copy of the offer).
    job_id = db.session.scalar(sa.select(Offer.job_id).where(Offer.id == offer_id))
    if job_id is None:
        raise NotFound(_("This offer does not exist."))
    # Lock order: the job, then its offers (the same order everywhere avoids deadlocks).
    job = db.session.get(Job, job_id, with_for_update=True, populate_existing=True)
    offer = db.session.get(Offer, offer_id, with_for_update=True, populate_existing=True)
    if (job is not None and offer is not None and offer.status is O.NOT_SELECTED
            and policies.can_decide_offer(actor, offer)):
        # The loser of a race: by the time its lock was granted, another offer had won.
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.ACCEPTED,
                                _("Another offer of this job was accepted in the meantime."))
    offer = _load_offer(offer_id, actor)
    if job is None:
        raise NotFound(_("This offer does not exist."))
    if not policies.can_decide_offer(actor, offer):
        raise PermissionDenied(_("Only an owner of your company can accept an offer: it commits your company to "
                                 "the price."))
    OFFER_WORKFLOW.check(offer.status, O.ACCEPTED)
    if job.status is not JobStatus.PUBLISHED:
        raise InvalidTransition(JOB_WORKFLOW.name, job.status, JobStatus.AWARDED,
                                _("The job is no longer open (it is %(status)s); no offer can be accepted.",
                                  status=job.status.value.replace("_", " ")))
    forward = _latest_forward(offer.id)
    if forward is None or forward.version_id != offer.current_version_id:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.ACCEPTED,
                                _("The hub has not forwarded the current version of this offer yet."))
    transition(offer, OFFER_WORKFLOW, O.ACCEPTED, actor=actor, version=forward.version.number,
               forward_id=forward.id, client_price_minor=forward.client_price_minor)
    others = db.session.scalars(
        sa.select(Offer).where(Offer.job_id == job.id, Offer.id != offer.id, Offer.status.in_(PENDING_OFFER_STATES))
        .order_by(Offer.id).with_for_update()
    ).all()
    for other in others:
        transition(other, OFFER_WORKFLOW, O.NOT_SELECTED, actor=actor, accepted_offer_id=offer.id)
        _notify_expert(other, "offer.not_selected")
    transition(job, JOB_WORKFLOW, JobStatus.AWARDED, actor=actor, offer_id=offer.id)
    contract = open_contract(offer, forward, actor=actor)
    client_price = money(forward.client_price_minor, forward.currency)
    _notify_company(offer, "offer.accepted_by_company", link=COMPANY_CONTRACT_PATH.format(id=contract.id),
                    client_price=client_price)
    _notify_expert(offer, "offer.accepted")
    _notify_staff(offer, "offer.accepted_staff", contract=contract.reference, client_price=client_price,
                  expert_price=money(forward.expert_price_minor, forward.currency))
    uow.commit()
    return contract


def reject_offer(offer_id: int, *, actor: User, reason: str) -> Offer:
    """The company decides not to take the offer.

    FORWARDED | IN_NEGOTIATION -> REJECTED. An owner of the job's company only.
    The reason goes into the company ↔ hub thread (the expert never reads the
    company's words); staff are told with the reason, the expert by the hub's
    own message without the company's name.

    :raises NotFound: no such offer visible to ``actor``.
    :raises PermissionDenied: ``actor`` is not an owner of the job's company.
    :raises InvalidTransition: the offer is not forwarded or in negotiation.
    :raises ValidationFailed: no reason.
    """
    offer = _load_offer(offer_id, actor)
    if not policies.can_decide_offer(actor, offer):
        raise PermissionDenied(_("Only an owner of your company can reject an offer."))
    OFFER_WORKFLOW.check(offer.status, O.REJECTED)
    reason = required_text(reason, _("Tell the hub briefly why; it helps them find a better offer for you."),
                           max_length=MAX_NOTE)
    transition(offer, OFFER_WORKFLOW, O.REJECTED, actor=actor, reason=reason)
    _add_message(offer, ThreadSide.COMPANY, actor, _("Offer rejected. Reason: %(reason)s", reason=reason))
    _notify_staff(offer, "offer.rejected_staff", reason=_excerpt(reason))
    _notify_expert(offer, "offer.rejected")
    uow.commit()
    return offer


def request_negotiation(offer_id: int, *, actor: User, message: str) -> NegotiationMessage:
    """The company asks the hub for changes (technical details, price, dates).

    FORWARDED -> IN_NEGOTIATION. Any user of the job's company. The message goes
    into the company ↔ hub thread; staff are told and relay to the expert.

    :raises NotFound: no such offer visible to ``actor``.
    :raises PermissionDenied: ``actor`` is not a user of the job's company.
    :raises InvalidTransition: the offer is not forwarded.
    :raises ValidationFailed: no message.
    """
    offer = _load_offer(offer_id, actor)
    if not policies.can_negotiate_offer(actor, offer):
        raise PermissionDenied(_("Only the job's company asks to negotiate an offer."))
    OFFER_WORKFLOW.check(offer.status, O.IN_NEGOTIATION)
    body = required_text(message, _("Say what you would like changed, so the hub can ask the expert."),
                         max_length=MAX_MESSAGE)
    transition(offer, OFFER_WORKFLOW, O.IN_NEGOTIATION, actor=actor)
    note = _add_message(offer, ThreadSide.COMPANY, actor, body)
    _notify_staff(offer, "offer.negotiation_requested", body=_excerpt(body))
    uow.commit()
    return note


def post_message(
    offer_id: int, *, actor: User, side: ThreadSide, body: str, upload: uploads.Upload | None = None
) -> NegotiationMessage:
    """Write in one of the offer's two threads, with an optional attachment. No state change.

    Company users write on the company side of their job's offers once
    forwarded; the expert on the expert side of their own offer; staff on
    either. A body or an attachment is required; the file is checked like a job
    attachment, cleaned of identifying metadata and stored under a random key.
    The other party of that thread is told (company or expert -> staff; staff ->
    that side's people).

    :raises NotFound: no such offer, or the thread is not ``actor``'s.
    :raises FieldErrors: neither text nor file, or the text is too long (field ``body``).
    :raises uploads.UploadRejected: the file is refused (the message says why).
    """
    offer = _load_offer(offer_id, actor, lock=False)
    side = ThreadSide(side)
    if not policies.can_use_thread(actor, offer, side):
        raise NotFound(_("This conversation does not exist."))
    text = (body or "").strip()
    has_file = upload is not None and bool(upload.filename or upload.data)
    if not text and not has_file:
        raise FieldErrors({"body": _("Write a message or attach a file.")})
    if len(text) > MAX_MESSAGE:
        raise FieldErrors({"body": _("Please keep the message under %(n)s characters.", n=f"{MAX_MESSAGE:,}")})
    if has_file:
        assert upload is not None
        clean = uploads.check_job_file(upload, max_bytes=attachment_max_bytes())
        with uploads.stored(clean, prefix=f"offers/{offer.id}/threads/{side.value}") as key:
            message = _add_message(offer, side, actor, text)
            message.storage_key = key
            message.attachment_name = clean.name
            message.attachment_type = clean.content_type
            message.attachment_size = clean.size
            message.attachment_sha256 = clean.sha256
            _record_and_notify(offer, message, actor)
            uow.commit()
        return message
    message = _add_message(offer, side, actor, text)
    _record_and_notify(offer, message, actor)
    uow.commit()
    return message


def _record_and_notify(offer: Offer, message: NegotiationMessage, actor: User) -> None:
    db.session.flush()
    audit.record("negotiation_message.posted", actor=actor, entity="negotiation_messages", entity_id=message.id,
                 data={"offer_id": offer.id, "side": message.side.value,
                       "attachment_sha256": message.attachment_sha256})
    body = _excerpt(message.body) or _("(a file: %(name)s)", name=message.attachment_name or "")
    if not policies.is_staff(actor):
        kind = ("negotiation.message_from_company" if message.side is ThreadSide.COMPANY
                else "negotiation.message_from_expert")
        _notify_staff(offer, kind, body=body)
    elif message.side is ThreadSide.COMPANY:
        _notify_company(offer, "negotiation.message_to_company", link=COMPANY_OFFER_PATH.format(id=offer.id),
                        body=body)
    else:
        _notify_expert(offer, "negotiation.message_to_expert", body=body)


def open_message_attachment(message_id: int, *, actor: User) -> tuple[NegotiationMessage, bytes]:
    """Read a thread message's file for ``actor`` and log the download (``negotiation_message.downloaded``).

    The same side rules as the thread: anyone else learns nothing.

    :raises NotFound: no such file, not ``actor``'s thread, or the blob is gone.
    """
    message = db.session.get(NegotiationMessage, message_id)
    if message is None or message.storage_key is None or not policies.can_use_thread(actor, message.offer,
                                                                                      message.side):
        raise NotFound(_("This file does not exist."))
    try:
        data = get_storage().get(message.storage_key)
    except BlobNotFound as exc:
        logger.error("Negotiation message %s has no blob at %s", message.id, message.storage_key)
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    audit.record("negotiation_message.downloaded", actor=actor, entity="negotiation_messages", entity_id=message.id,
                 data={"offer_id": message.offer_id, "side": message.side.value,
                       "sha256": message.attachment_sha256})
    uow.commit()
    return message, data


# Revisions proposed by the hub (WORKFLOW.md §5) ----------------------------------------------


def _open_proposal(offer_id: int) -> OfferProposal | None:
    return db.session.scalar(
        sa.select(OfferProposal).where(OfferProposal.offer_id == offer_id,
                                       OfferProposal.decision == ProposalDecision.OPEN.value)
    )


def _load_proposal(proposal_id: int, actor: User) -> tuple[OfferProposal, Offer]:
    """The proposal and its offer, both locked, if ``actor`` may know the offer (its expert or staff)."""
    proposal = db.session.get(OfferProposal, proposal_id, with_for_update=True, populate_existing=True)
    offer = (db.session.get(Offer, proposal.offer_id, with_for_update=True, populate_existing=True)
             if proposal is not None else None)
    if proposal is None or offer is None or not policies.can_view_offer(actor, offer):
        raise NotFound(_("This proposal does not exist."))
    if not policies.can_decide_proposal(actor, offer):
        raise PermissionDenied(_("Only the expert who made the offer confirms or refuses the hub's proposal."))
    if not proposal.is_open:
        raise InvalidTransition("offer_proposal", ProposalDecision(proposal.decision), ProposalDecision.CONFIRMED,
                                _("This proposal was already %(decision)s.", decision=_decision_label(proposal)))
    return proposal, offer


def _decision_label(proposal: OfferProposal) -> str:
    return _("confirmed") if proposal.decision == ProposalDecision.CONFIRMED.value else _("refused")


def _proposal_input(proposal: OfferProposal, *, accept_clauses: bool, clauses_version: str) -> OfferInput:
    return OfferInput(
        solution=proposal.solution,
        price_minor=proposal.price_minor,
        start_date=proposal.start_date,
        end_date=proposal.end_date,
        deliverables=[str(d) for d in proposal.deliverables],
        milestones=[MilestoneInput(title, due, share) for title, due, share in proposal.milestone_rows],
        accept_clauses=accept_clauses,
        clauses_version=clauses_version,
        change_note=_("Proposed by the hub: %(note)s", note=proposal.note),
    )


def propose_revision(offer_id: int, *, actor: User, data: OfferInput, note: str) -> OfferProposal:
    """The hub proposes a revised version on the expert's behalf; it counts only once the expert confirms.

    IN_NEGOTIATION, no status change. Hub staff only; at most one open proposal
    per offer. Checked with the rules of an expert's version (the clauses are
    accepted by the expert on confirming); ``note`` tells the expert why and is
    required. Audited (``offer_proposal.proposed``); the expert is notified
    (never with the client price, the fee or the company's name).

    :raises NotFound: no such offer.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the offer is not in negotiation, its job is closed, or a proposal is open.
    :raises FieldErrors: the proposal breaks a rule (fields as in ``OfferInput``; the note is ``note``).
    """
    offer = _load_offer(offer_id, actor)
    if not policies.can_propose_revision(actor, offer):
        raise PermissionDenied(_("Only the hub proposes a revised version to the expert."))
    if offer.status is not O.IN_NEGOTIATION:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.REVISED,
                                _("Only an offer in negotiation can be revised; this one is %(status)s.",
                                  status=offer.status.value.replace("_", " ")))
    _require_published(offer.job, O.REVISED, offer.status)
    if _open_proposal(offer.id) is not None:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.REVISED,
                                _("A proposal already waits for the expert; wait for the answer first."))
    base = offer.current_version
    if base is None:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.REVISED, _("This offer has no version."))
    try:
        # The clauses are the expert's to accept, on confirming: not asked of the hub.
        clean = _check_input(offer.job, replace(data, accept_clauses=True, clauses_version="",
                                                     change_note=note), first=False)
    except FieldErrors as exc:
        raise FieldErrors({("note" if k == "change_note" else k): v for k, v in exc.errors.items()}) from exc
    assert clean.price_minor is not None and clean.start_date is not None and clean.end_date is not None
    proposal = OfferProposal(
        offer_id=offer.id,
        based_on_version_id=base.id,
        solution=clean.solution,
        price_minor=clean.price_minor,
        currency=base.currency,
        start_date=clean.start_date,
        end_date=clean.end_date,
        deliverables=list(clean.deliverables),
        milestones=[{"title": m.title[:200], "due_date": m.due_date.isoformat() if m.due_date else None,
                     "share_percent": m.share_percent} for m in clean.milestones],
        note=clean.change_note,
        proposed_by_id=actor.id,
        proposed_at=datetime.now(UTC),
        decision=ProposalDecision.OPEN.value,
        decided_note="",
    )
    db.session.add(proposal)
    db.session.flush()
    audit.record("offer_proposal.proposed", actor=actor, entity="offer_proposals", entity_id=proposal.id,
                 data={"offer_id": offer.id, "based_on_version": base.number, "price_minor": proposal.price_minor,
                       "note": proposal.note})
    _notify_expert(offer, "offer.revision_proposed", note=_excerpt(proposal.note))
    uow.commit()
    return proposal


def confirm_proposal(proposal_id: int, *, actor: User, accept_clauses: bool, clauses_version: str) -> OfferVersion:
    """The expert confirms the hub's proposal: it becomes the expert's new version of the offer.

    IN_NEGOTIATION -> REVISED. The offer's approved expert only, accepting the
    current clauses. The version is authored by the expert, with the change note
    "Proposed by the hub: <note>"; the proposal records the confirmation and the
    version. Audited; hub staff are notified.

    :raises NotFound: no such proposal, or not ``actor``'s offer.
    :raises PermissionDenied: ``actor`` is not the offer's approved expert (hub staff included).
    :raises InvalidTransition: already decided, the offer is no longer in negotiation or changed since.
    :raises FieldErrors: the clauses are not accepted, or the proposal no longer passes the rules.
    """
    proposal, offer = _load_proposal(proposal_id, actor)
    OFFER_WORKFLOW.check(offer.status, O.REVISED)
    _require_published(offer.job, O.REVISED, offer.status)
    if proposal.based_on_version_id != offer.current_version_id:
        raise InvalidTransition(OFFER_WORKFLOW.name, offer.status, O.REVISED,
                                _("The offer changed since the hub made this proposal; refuse it and ask the "
                                  "hub for a new one."))
    clean = _check_input(offer.job, _proposal_input(proposal, accept_clauses=accept_clauses,
                                                         clauses_version=clauses_version), first=False)
    transition(offer, OFFER_WORKFLOW, O.REVISED, actor=actor, proposal_id=proposal.id)
    version = _add_version(offer, clean, actor)
    proposal.decision = ProposalDecision.CONFIRMED.value
    proposal.decided_at = datetime.now(UTC)
    proposal.resulting_version_id = version.id
    audit.record("offer_proposal.confirmed", actor=actor, entity="offer_proposals", entity_id=proposal.id,
                 data={"offer_id": offer.id, "version": version.number, "price_minor": version.price_minor,
                       "clauses_version": version.terms_version})
    _notify_staff(offer, "offer.proposal_confirmed", number=str(version.number),
                  price=money(version.price_minor, version.currency))
    uow.commit()
    return version


def refuse_proposal(proposal_id: int, *, actor: User, reason: str) -> OfferProposal:
    """The expert refuses the hub's proposal, saying why; the offer stays as it was.

    No status change (the offer stays in negotiation). The offer's approved
    expert only. Audited; hub staff are notified with the reason.

    :raises NotFound: no such proposal, or not ``actor``'s offer.
    :raises PermissionDenied: ``actor`` is not the offer's approved expert (hub staff included).
    :raises InvalidTransition: already decided.
    :raises ValidationFailed: no reason.
    """
    proposal, offer = _load_proposal(proposal_id, actor)
    reason = required_text(reason, _("Tell the hub briefly why, so it can relay a better proposal."),
                           max_length=MAX_NOTE)
    proposal.decision = ProposalDecision.REFUSED.value
    proposal.decided_at = datetime.now(UTC)
    proposal.decided_note = reason
    audit.record("offer_proposal.refused", actor=actor, entity="offer_proposals", entity_id=proposal.id,
                 data={"offer_id": offer.id, "reason": reason})
    _notify_staff(offer, "offer.proposal_refused", reason=_excerpt(reason))
    uow.commit()
    return proposal


# Queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertCredentials:
    """What a company may know about an expert: verified facts under the pseudonym, nothing identifying."""

    pseudonym: str
    years_experience: int
    skills: list[tuple[str, ExpertiseLevel | None]]  # the job's required skills, with the expert's level
    languages: list[tuple[str, LanguageProficiency]]
    certificates_verified: bool
    completed_projects: int = 0
    rating: float | None = None


@dataclass(frozen=True)
class CompanyOffer:
    """An offer as the company sees it: the latest forwarded version and its client price."""

    offer: Offer
    forward: OfferForward
    previous: OfferForward | None
    credentials: ExpertCredentials
    changes: list[str] = field(default_factory=list)

    @property
    def version(self) -> OfferVersion:
        return self.forward.version


def expert_credentials(expert: ExpertProfile, job: Job) -> ExpertCredentials:
    """The expert's verified facts relevant to ``job``, safe to show to its company."""
    levels = {s.term_id: s.level for s in expert.skills}
    skills = [(s.term.name if s.term is not None else "", levels.get(s.term_id)) for s in job.skills]
    certificates = any(
        d.kind is DocumentKind.CERTIFICATE and d.review is DocumentReview.ACCEPTED and d.removed_at is None
        for d in expert.documents
    )
    return ExpertCredentials(
        pseudonym=expert.pseudonym,
        years_experience=expert.years_experience,
        skills=skills,
        languages=[(lang.code, lang.proficiency) for lang in expert.languages],
        certificates_verified=certificates,
    )


def forwards_of(offer: Offer) -> list[OfferForward]:
    """Every version the hub forwarded for ``offer``, oldest first."""
    return list(db.session.scalars(
        sa.select(OfferForward)
        .options(joinedload(OfferForward.version).selectinload(OfferVersion.milestones))
        .where(OfferForward.offer_id == offer.id)
        .order_by(OfferForward.id)
    ))


def forward_changes(old: OfferForward | None, new: OfferForward) -> list[str]:
    """What changed between two forwarded versions, for the company: the client price, never the expert price."""
    if old is None:
        return []
    changes = [c for c in version_changes(old.version, new.version) if c != _("price")]
    if old.client_price_minor != new.client_price_minor:
        changes.insert(0, _("client price"))
    return changes


def _company_offer(offer: Offer) -> CompanyOffer | None:
    forwards = forwards_of(offer)
    if not forwards:
        return None
    previous = forwards[-2] if len(forwards) > 1 else None
    return CompanyOffer(offer=offer, forward=forwards[-1], previous=previous,
                        credentials=expert_credentials(offer.expert, offer.job),
                        changes=forward_changes(previous, forwards[-1]))


def company_offers(job_id: int, *, actor: User) -> list[CompanyOffer]:
    """The offers of a job its company may see (forwarded, in negotiation, revised, accepted, rejected).

    Each with its latest forward; ordered by when the hub first forwarded them.

    :raises NotFound: no such job of ``actor``'s company.
    """
    job = db.session.get(Job, job_id)
    if job is None or not (policies.is_staff(actor) or policies.belongs_to_company(actor, job.company)):
        raise NotFound(_("This job does not exist."))
    offers = db.session.scalars(
        sa.select(Offer)
        .options(joinedload(Offer.expert).selectinload(ExpertProfile.skills),
                 joinedload(Offer.expert).selectinload(ExpertProfile.languages),
                 joinedload(Offer.expert).selectinload(ExpertProfile.documents))
        .where(Offer.job_id == job.id, Offer.status.in_(policies.COMPANY_VISIBLE_OFFER_STATES))
        .order_by(Offer.id)
    ).unique().all()
    items = [item for item in (_company_offer(o) for o in offers) if item is not None]
    items.sort(key=lambda item: (item.offer.status is not O.ACCEPTED, item.forward.forwarded_at, item.offer.id))
    return items


def company_offer(offer_id: int, *, actor: User) -> CompanyOffer:
    """One offer as its company sees it (the latest forwarded version, and what changed since the one before).

    :raises NotFound: no such offer forwarded to ``actor``'s company.
    """
    offer = db.session.get(Offer, offer_id)
    if offer is None or not policies.can_view_forwarded_offer(actor, offer):
        raise NotFound(_("This offer does not exist."))
    item = _company_offer(offer)
    if item is None:
        raise NotFound(_("This offer does not exist."))
    return item


def thread(offer_id: int, side: ThreadSide, *, actor: User) -> list[NegotiationMessage]:
    """The messages of one of the offer's threads, oldest first.

    :raises NotFound: no such offer, or not ``actor``'s thread.
    """
    offer = db.session.get(Offer, offer_id)
    side = ThreadSide(side)
    if offer is None or not policies.can_use_thread(actor, offer, side):
        raise NotFound(_("This conversation does not exist."))
    return list(db.session.scalars(
        sa.select(NegotiationMessage).options(joinedload(NegotiationMessage.author))
        .where(NegotiationMessage.offer_id == offer.id, NegotiationMessage.side == side)
        .order_by(NegotiationMessage.id)
    ))


def author_label(message: NegotiationMessage, viewer: User) -> str:
    """Who wrote a message, as ``viewer`` may know it: "You", "the hub", "your company", "the expert".

    Staff see the author's name; the company and the expert only roles, never a name.
    """
    author = message.author
    if author.id == viewer.id:
        return _("You")
    if author.role is Role.ADMIN:
        return _("Plasticonnect Hub") if not policies.is_staff(viewer) else _("Hub: %(name)s", name=author.full_name)
    if policies.is_staff(viewer):
        if author.role is Role.COMPANY:
            return _("%(name)s (company)", name=author.full_name)
        return _("%(name)s (expert)", name=author.full_name)
    if author.role is Role.COMPANY:
        return _("Your colleague %(name)s", name=author.full_name)
    return _("The expert")


def forwarded_offer_counts(job_ids: Iterable[int]) -> dict[int, int]:
    """How many offers of each job its company can see (one grouped statement)."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Offer.job_id, sa.func.count())
        .where(Offer.job_id.in_(ids), Offer.status.in_(policies.COMPANY_VISIBLE_OFFER_STATES))
        .group_by(Offer.job_id)
    )
    return {int(job_id): int(n) for job_id, n in rows}


def open_proposal(offer: Offer) -> OfferProposal | None:
    """The hub's proposal waiting for the offer's expert, if any (the caller may already see the offer)."""
    return _open_proposal(offer.id)


def proposals_of(offer: Offer) -> list[OfferProposal]:
    """Every proposal the hub made for ``offer``, newest first (for the hub's page)."""
    return list(db.session.scalars(
        sa.select(OfferProposal).options(joinedload(OfferProposal.proposed_by))
        .where(OfferProposal.offer_id == offer.id).order_by(OfferProposal.id.desc())
    ))


def proposal_changes(version: OfferVersion | None, proposal: OfferProposal) -> list[str]:
    """What the proposal would change in ``version``, named for people (like ``offers.version_changes``)."""
    if version is None:
        return []
    pairs = [
        (_("solution"), version.solution, proposal.solution),
        (_("price"), version.price_minor, proposal.price_minor),
        (_("start date"), version.start_date, proposal.start_date),
        (_("end date"), version.end_date, proposal.end_date),
        (_("deliverables"), list(version.deliverables), list(proposal.deliverables)),
        (_("milestones"), [(m.title, m.due_date, m.share_percent) for m in version.milestones],
         proposal.milestone_rows),
    ]
    return [label for label, before, after in pairs if before != after]
