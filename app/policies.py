"""Who may do what: ``can_<verb>_<noun>(actor, obj) -> bool`` predicates.

Pure functions of the actor and the object (no database writes, no request).
Services call them and raise ``NotFound`` when the actor may not even know that
the object exists (another tenant's company or document), ``PermissionDenied``
when the actor may see it but not do this. State rules (draft, approved...)
are not here: the workflow tables and the services own them.
"""

from __future__ import annotations

from app.models import (
    SIGNERS,
    CatalogTicket,
    Company,
    CompanyInvitation,
    Contract,
    ContractDocument,
    ContractDocumentKind,
    Document,
    ExpertProfile,
    Job,
    JobAttachment,
    JobInvitation,
    JobStatus,
    JobVisibility,
    Offer,
    OfferStatus,
    Role,
    ThreadSide,
    User,
    VerificationStatus,
)


def _active(actor: User | None) -> bool:
    return actor is not None and actor.suspended_at is None


def is_staff(actor: User | None) -> bool:
    """An active hub admin."""
    return actor is not None and actor.is_staff


def belongs_to_company(actor: User | None, company: Company) -> bool:
    """Whether ``actor`` is an active user (owner or member) of ``company``."""
    return _active(actor) and actor is not None and actor.role is Role.COMPANY and actor.company_id == company.id


def owns_company(actor: User | None, company: Company) -> bool:
    """Whether ``actor`` is an active owner of ``company``."""
    return belongs_to_company(actor, company) and actor is not None and actor.is_company_owner


def owns_expert_profile(actor: User | None, expert: ExpertProfile) -> bool:
    """Whether ``actor`` is the active expert whose profile this is."""
    return _active(actor) and actor is not None and actor.role is Role.EXPERT and actor.id == expert.user_id


# Companies ------------------------------------------------------------------------------


def can_view_company(actor: User | None, company: Company) -> bool:
    """The company's own users and hub staff see the company's profile, status and documents."""
    return is_staff(actor) or belongs_to_company(actor, company)


def can_edit_company(actor: User | None, company: Company) -> bool:
    """Only an owner changes the company's legal profile and documents (members only read them)."""
    return owns_company(actor, company)


def can_submit_company(actor: User | None, company: Company) -> bool:
    """Only an owner submits the company for verification."""
    return owns_company(actor, company)


def can_verify_company(actor: User | None, company: Company) -> bool:
    """Hub staff approve, reject, question, suspend and reinstate companies."""
    return is_staff(actor)


def can_manage_members(actor: User | None, company: Company) -> bool:
    """Only an owner invites colleagues and revokes invitations."""
    return owns_company(actor, company)


def can_revoke_invitation(actor: User | None, invitation: CompanyInvitation) -> bool:
    """An owner of the inviting company (or staff) may revoke an open invitation."""
    return is_staff(actor) or owns_company(actor, invitation.company)


def can_post_jobs(actor: User | None, company: Company) -> bool:
    """Users of an approved company post jobs; a suspended or unverified company does not."""
    return belongs_to_company(actor, company) and company.status is VerificationStatus.APPROVED


# Experts --------------------------------------------------------------------------------


def can_view_expert(actor: User | None, expert: ExpertProfile) -> bool:
    """The expert and hub staff see the full profile; companies only ever see the pseudonym."""
    return is_staff(actor) or owns_expert_profile(actor, expert)


def can_edit_expert(actor: User | None, expert: ExpertProfile) -> bool:
    """Only the expert edits their own profile."""
    return owns_expert_profile(actor, expert)


def can_submit_expert(actor: User | None, expert: ExpertProfile) -> bool:
    """Only the expert submits their own profile for verification."""
    return owns_expert_profile(actor, expert)


def can_verify_expert(actor: User | None, expert: ExpertProfile) -> bool:
    """Hub staff approve, reject, question, suspend and reinstate experts."""
    return is_staff(actor)


def can_make_offers(actor: User | None, expert: ExpertProfile) -> bool:
    """Only an approved expert makes offers (later steps)."""
    return owns_expert_profile(actor, expert) and expert.status is VerificationStatus.APPROVED


# Documents ------------------------------------------------------------------------------


def can_view_document(actor: User | None, document: Document) -> bool:
    """Download: staff always; the owning company's users or the owning expert while not removed.

    Expert documents never reach a company (experts are anonymous to companies).
    """
    if is_staff(actor):
        return True
    if document.removed_at is not None:
        return False
    if document.company is not None:
        return belongs_to_company(actor, document.company)
    if document.expert is not None:
        return owns_expert_profile(actor, document.expert)
    return False


def can_preview_document(actor: User | None, document: Document) -> bool:
    """Inline preview (the back office's iframe/img) is for hub staff only."""
    return is_staff(actor) and document.is_previewable


def can_remove_document(actor: User | None, document: Document) -> bool:
    """The company's owner, or the expert, removes their own uploads."""
    if document.company is not None:
        return owns_company(actor, document.company)
    if document.expert is not None:
        return owns_expert_profile(actor, document.expert)
    return False


def can_review_document(actor: User | None, document: Document) -> bool:
    """Hub staff accept or reject single documents."""
    return is_staff(actor)


# Jobs (issue 3) --------------------------------------------------------------------------


def expert_can_see_job(expert: ExpertProfile | None, job: Job) -> bool:
    """An approved expert sees a published job that is public, or private and they are invited."""
    if expert is None or expert.status is not VerificationStatus.APPROVED:
        return False
    if expert.user is None or expert.user.suspended_at is not None:
        return False
    if job.status is not JobStatus.PUBLISHED:
        return False
    if job.visibility is JobVisibility.PUBLIC:
        return True
    return any(invitation.expert_id == expert.id for invitation in job.invitations)


def _expert_of(actor: User | None) -> ExpertProfile | None:
    if not _active(actor) or actor is None or actor.role is not Role.EXPERT:
        return None
    return actor.expert_profile


def can_view_job(actor: User | None, job: Job) -> bool:
    """Staff, the company's users, and experts who can see the published job."""
    if is_staff(actor) or belongs_to_company(actor, job.company):
        return True
    return expert_can_see_job(_expert_of(actor), job)


def can_edit_job(actor: User | None, job: Job) -> bool:
    """Users (owner or member) of the job's approved company draft and change its jobs."""
    return can_post_jobs(actor, job.company)


def can_submit_job(actor: User | None, job: Job) -> bool:
    """Users of the job's approved company submit it (and answer the hub's questions)."""
    return can_post_jobs(actor, job.company)


def can_review_job(actor: User | None, job: Job) -> bool:
    """Hub staff publish, reject, question jobs and invite experts."""
    return is_staff(actor)


def can_cancel_job(actor: User | None, job: Job) -> bool:
    """An owner of the job's company, or hub staff."""
    return is_staff(actor) or owns_company(actor, job.company)


def can_close_job(actor: User | None, job: Job) -> bool:
    """An owner of the job's company, or hub staff."""
    return is_staff(actor) or owns_company(actor, job.company)


def can_accept_job_confidentiality(actor: User | None, job: Job) -> bool:
    """An approved expert who can see the job."""
    return expert_can_see_job(_expert_of(actor), job)


def can_open_job_attachment(actor: User | None, attachment: JobAttachment, *, confidentiality_accepted: bool) -> bool:
    """Staff always; the company's users while not removed; an expert who can see the job and accepted its terms."""
    if is_staff(actor):
        return True
    if attachment.removed_at is not None:
        return False
    job = attachment.job
    if belongs_to_company(actor, job.company):
        return True
    return confidentiality_accepted and expert_can_see_job(_expert_of(actor), job)


# Catalog tickets (issue 3) ------------------------------------------------------------


def can_open_ticket(actor: User | None, company: Company) -> bool:
    """Users of an approved company ask the hub for missing catalog terms (from their job drafts)."""
    return can_post_jobs(actor, company)


def can_view_ticket(actor: User | None, ticket: CatalogTicket) -> bool:
    """Staff, and every user of the ticket's company."""
    return is_staff(actor) or belongs_to_company(actor, ticket.company)


def can_post_ticket_message(actor: User | None, ticket: CatalogTicket) -> bool:
    """Staff, and every user of the ticket's company, write in the ticket's thread."""
    return can_view_ticket(actor, ticket)


def can_work_ticket(actor: User | None, ticket: CatalogTicket) -> bool:
    """Hub staff start, resolve and decline tickets."""
    return is_staff(actor)


# Matching, invitations and offers (issue 4) ------------------------------------------------


def can_rank_job(actor: User | None, job: Job) -> bool:
    """Hub staff rank the experts for a job, tune the weights and invite from the ranking."""
    return is_staff(actor)


def can_view_ranking(actor: User | None, job: Job) -> bool:
    """Only hub staff see a ranking: it names experts, which companies must never see."""
    return is_staff(actor)


def can_respond_to_invitation(actor: User | None, invitation: JobInvitation) -> bool:
    """The invited expert (active, approved) declines or follows an invitation."""
    expert = _expert_of(actor)
    return expert is not None and expert.id == invitation.expert_id and expert.status is VerificationStatus.APPROVED


def can_make_offer(actor: User | None, job: Job) -> bool:
    """An approved, active expert who can see the published job."""
    expert = _expert_of(actor)
    return expert is not None and can_make_offers(actor, expert) and expert_can_see_job(expert, job)


def can_view_offer(actor: User | None, offer: Offer) -> bool:
    """Hub staff and the expert who made it. The company sees only what the hub forwards (next step)."""
    if is_staff(actor):
        return True
    expert = _expert_of(actor)
    return expert is not None and expert.id == offer.expert_id


def can_change_offer(actor: User | None, offer: Offer) -> bool:
    """The approved expert who made it adds versions and withdraws it."""
    expert = _expert_of(actor)
    return (
        expert is not None
        and expert.id == offer.expert_id
        and expert.status is VerificationStatus.APPROVED
    )


# Negotiation through the hub (issue 5) ---------------------------------------------------

# The offer states in which the job's company sees an offer (only ever what the hub forwarded).
COMPANY_VISIBLE_OFFER_STATES = frozenset({
    OfferStatus.FORWARDED,
    OfferStatus.IN_NEGOTIATION,
    OfferStatus.REVISED,
    OfferStatus.ACCEPTED,
    OfferStatus.REJECTED,
})


def can_view_forwarded_offer(actor: User | None, offer: Offer) -> bool:
    """Staff; the users (owners and members) of the job's company once the hub forwarded the offer."""
    if is_staff(actor):
        return True
    return belongs_to_company(actor, offer.job.company) and offer.status in COMPANY_VISIBLE_OFFER_STATES


def can_forward_offer(actor: User | None, offer: Offer) -> bool:
    """Hub staff forward an offer to the company (with the hub fee) or decline it."""
    return is_staff(actor)


def can_decide_offer(actor: User | None, offer: Offer) -> bool:
    """Only an owner of the job's company accepts or rejects an offer: it commits money."""
    return owns_company(actor, offer.job.company)


def can_negotiate_offer(actor: User | None, offer: Offer) -> bool:
    """Every user (owner or member) of the job's company asks the hub to negotiate."""
    return belongs_to_company(actor, offer.job.company)


def can_use_thread(actor: User | None, offer: Offer, side: ThreadSide) -> bool:
    """Read and write one of an offer's two threads.

    Staff: both. The company's users: the company side, once the offer was forwarded.
    The expert who made the offer: the expert side. Nobody else, and never the other side.
    """
    if is_staff(actor):
        return True
    if side is ThreadSide.COMPANY:
        return belongs_to_company(actor, offer.job.company) and offer.status in COMPANY_VISIBLE_OFFER_STATES
    return owns_expert_profile(actor, offer.expert)


def can_propose_revision(actor: User | None, offer: Offer) -> bool:
    """Hub staff propose a revised version on the expert's behalf (it needs the expert's confirmation)."""
    return is_staff(actor)


def can_decide_proposal(actor: User | None, offer: Offer) -> bool:
    """The approved expert who made the offer confirms or refuses the hub's proposal: the version is theirs."""
    return can_change_offer(actor, offer)


# Contracts, signatures and the seal (step 6) ---------------------------------------------

# Which documents each side reads: the company never sees the subcontract (the expert's
# identity and price), the expert never sees the contract (the client price).
COMPANY_DOCUMENTS = (ContractDocumentKind.CONTRACT, ContractDocumentKind.NDA)
EXPERT_DOCUMENTS = (ContractDocumentKind.SUBCONTRACT, ContractDocumentKind.NDA)


def is_contract_expert(actor: User | None, contract: Contract) -> bool:
    """Whether ``actor`` is the active expert of the contract."""
    return owns_expert_profile(actor, contract.expert)


def can_view_contract(actor: User | None, contract: Contract) -> bool:
    """Staff, the users (owners and members) of the contract's company, and its expert."""
    return is_staff(actor) or belongs_to_company(actor, contract.company) or is_contract_expert(actor, contract)


def can_view_contract_document(actor: User | None, document: ContractDocument) -> bool:
    """Staff all three; the company's users the contract and the NDA; the expert the subcontract and the NDA."""
    contract = document.contract
    if is_staff(actor):
        return True
    if belongs_to_company(actor, contract.company):
        return document.kind in COMPANY_DOCUMENTS
    if is_contract_expert(actor, contract):
        return document.kind in EXPERT_DOCUMENTS
    return False


def can_sign_contract_document(actor: User | None, document: ContractDocument) -> bool:
    """A company owner (not a member), the contract's expert or hub staff, for a document their side signs."""
    contract = document.contract
    if is_staff(actor):
        role = "hub"
    elif owns_company(actor, contract.company):
        role = "company"
    elif is_contract_expert(actor, contract):
        role = "expert"
    else:
        return False
    return role in {r.value for r in SIGNERS[document.kind]}


def can_cancel_contract(actor: User | None, contract: Contract) -> bool:
    """Only hub staff cancel a contract (before it is funded)."""
    return is_staff(actor)


# Funding (escrow) -------------------------------------------------------------------------


def can_pay_contract(actor: User | None, contract: Contract) -> bool:
    """Any active user (owner or member) of the contract's company pays it."""
    return belongs_to_company(actor, contract.company)


def can_view_contract_funding(actor: User | None, contract: Contract) -> bool:
    """The company's users and hub staff see the payment status and the receipt (never the expert)."""
    return is_staff(actor) or belongs_to_company(actor, contract.company)


def can_record_bank_transfer(actor: User | None, contract: Contract) -> bool:
    """Hub staff record and resolve bank transfers."""
    return is_staff(actor)
