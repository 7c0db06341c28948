"""Step 1 for companies: the profile, legal documents, verification and member invitations.

Verification (WORKFLOW.md §1)::

    draft -submit-> pending_verification -approve-> approved -suspend-> suspended -reinstate-> approved
    pending_verification -request_info-> info_requested -submit (resubmit)-> pending_verification
    pending_verification -reject-> rejected

One public function per transition or change; each loads and locks its row,
checks existence, then permission (``app.policies``), then state, writes,
notifies, and commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import reference
from app.models import (
    CatalogKind,
    CatalogTerm,
    Company,
    CompanyInvitation,
    CompanyRole,
    Document,
    DocumentKind,
    DocumentReview,
    ExpertProfile,
    PaymentMethod,
    Role,
    User,
    VerificationStatus,
)
from app.passwords import hash_password, password_problems
from app.services import audit, notifications, uow, uploads
from app.services.transitions import transition
from app.services.validation import required_text
from app.workflows.verification import COMPANY_WORKFLOW

S = VerificationStatus

# Paths of the portal pages that notifications and e-mails link to (services build no URLs
# from the request; tests check these match the blueprints' routes).
COMPANY_HOME_PATH = "/company/"
COMPANY_DOCUMENTS_PATH = "/company/documents"
COMPANY_MEMBERS_PATH = "/company/members"
EXPERT_HOME_PATH = "/expert/"
EXPERT_DOCUMENTS_PATH = "/expert/documents"
ADMIN_HOME_PATH = "/admin/"
INVITATION_PATH = "/company/invitations/{token}"

EDITABLE_STATES = frozenset({S.DRAFT, S.INFO_REQUESTED})
COMPANY_DOCUMENT_KINDS = (DocumentKind.REGISTRATION_CERTIFICATE, DocumentKind.VAT_CERTIFICATE, DocumentKind.OTHER_LEGAL)
REQUIRED_COMPANY_DOCUMENTS = (DocumentKind.REGISTRATION_CERTIFICATE,)
INVITATION_DAYS = 7
MAX_OPEN_INVITATIONS = 20

# The profile fields an owner may set, with their column lengths (0: unlimited text).
PROFILE_FIELDS: dict[str, int] = {
    "name": 160,
    "legal_name": 200,
    "registration_number": 64,
    "vat_id": 32,
    "country": 2,
    "address": 2000,
    "website": 255,
    "contact_person": 120,
    "contact_email": 254,
    "phone": 40,
}
OTHER_FIELDS = ("industry_id", "payment_method", "show_name_to_experts")

REQUIRED_FIELDS: tuple[tuple[str, Any], ...] = (
    ("name", _l("Company name")),
    ("legal_name", _l("Legal name")),
    ("registration_number", _l("Registration number")),
    ("country", _l("Country")),
    ("address", _l("Address")),
    ("industry_id", _l("Industry")),
    ("contact_person", _l("Contact person")),
    ("contact_email", _l("Contact e-mail")),
    ("phone", _l("Phone")),
    ("payment_method", _l("Preferred payment method")),
)
DOCUMENT_LABELS: dict[DocumentKind, Any] = {
    DocumentKind.REGISTRATION_CERTIFICATE: _l("Registration certificate (certificate of incorporation)"),
    DocumentKind.VAT_CERTIFICATE: _l("VAT certificate"),
    DocumentKind.OTHER_LEGAL: _l("Other legal document"),
    DocumentKind.CV: _l("CV"),
    DocumentKind.CERTIFICATE: _l("Certificate"),
    DocumentKind.IDENTITY: _l("Identity document"),
}


def document_label(kind: DocumentKind) -> str:
    """A document kind in the reader's language."""
    return str(DOCUMENT_LABELS.get(kind, kind.value))


# Read helpers (no state change) ------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    """One line of a status page's checklist."""

    label: str
    done: bool
    hint: str = ""


def active_documents(company: Company) -> list[Document]:
    """The company's documents that were not removed, oldest first."""
    return [d for d in company.documents if d.removed_at is None]


def _has_document(documents: list[Document], kind: DocumentKind) -> bool:
    return any(d.kind is kind and d.review is not DocumentReview.REJECTED for d in documents)


def _field_missing(company: Company, field: str) -> bool:
    value = getattr(company, field)
    return value is None or (isinstance(value, str) and not value.strip())


def missing_for_submit(company: Company) -> list[str]:
    """What is still missing before ``company`` can be submitted (empty: ready)."""
    missing = [str(label) for field, label in REQUIRED_FIELDS if _field_missing(company, field)]
    documents = active_documents(company)
    for kind in REQUIRED_COMPANY_DOCUMENTS:
        if not _has_document(documents, kind):
            missing.append(document_label(kind))
    return missing


def checklist(company: Company) -> list[ChecklistItem]:
    """The status page's checklist: profile fields, then required documents."""
    missing_fields = [str(label) for field, label in REQUIRED_FIELDS if _field_missing(company, field)]
    items = [
        ChecklistItem(
            _("Company profile complete"),
            not missing_fields,
            _("Missing: %(fields)s", fields=", ".join(missing_fields)) if missing_fields else "",
        )
    ]
    documents = active_documents(company)
    for kind in REQUIRED_COMPANY_DOCUMENTS:
        rejected = any(d.kind is kind and d.review is DocumentReview.REJECTED for d in documents)
        hint = _("The hub did not accept the uploaded one; upload a new one.") if rejected else ""
        items.append(ChecklistItem(_("%(doc)s uploaded", doc=document_label(kind)), _has_document(documents, kind),
                                   hint))
    items.append(
        ChecklistItem(
            _("Submitted for verification"),
            company.status not in EDITABLE_STATES,
            _("Submit when everything above is done.") if company.status in EDITABLE_STATES else "",
        )
    )
    items.append(ChecklistItem(_("Verified by the hub"), company.status is S.APPROVED))
    return items


def edit_refusal(company: Company) -> str:
    """Why the company's profile cannot be changed now (empty when it can)."""
    if company.status in EDITABLE_STATES:
        return ""
    return {
        S.PENDING_VERIFICATION: _(
            "Your company is under review; you can edit it again if the hub asks for more information."
        ),
        S.APPROVED: _("Your company is verified. To change its legal details, please contact the hub."),
        S.REJECTED: _("Your company could not be verified, so its profile is closed. "
                      "Contact the hub if you think this is a mistake."),
        S.SUSPENDED: _("Your company is suspended; its profile cannot be changed. Please contact the hub."),
    }.get(company.status, _("Your company's profile cannot be changed now."))


def owners(company: Company) -> list[User]:
    """The active owners of ``company`` (who receive verification news)."""
    return [
        u
        for u in company.users
        if u.company_role is CompanyRole.OWNER and u.role is Role.COMPANY and u.suspended_at is None
    ]


def members(company: Company) -> list[User]:
    """Everyone of ``company``, owners first, then by name."""
    return sorted(company.users, key=lambda u: (u.company_role is not CompanyRole.OWNER, u.full_name.casefold()))


def open_invitations(company: Company) -> list[CompanyInvitation]:
    """Invitations not yet accepted, revoked or expired, newest first."""
    now = datetime.now(UTC)
    return list(
        db.session.scalars(
            sa.select(CompanyInvitation)
            .where(
                CompanyInvitation.company_id == company.id,
                CompanyInvitation.accepted_at.is_(None),
                CompanyInvitation.revoked_at.is_(None),
                CompanyInvitation.expires_at > now,
            )
            .order_by(CompanyInvitation.id.desc())
        )
    )


def find_invitation(token: str) -> CompanyInvitation | None:
    """The open invitation for ``token`` (None when unknown, used, revoked or expired)."""
    invitation = db.session.scalar(
        sa.select(CompanyInvitation).where(CompanyInvitation.token_hash == _hash_token(token or ""))
    )
    if invitation is None or not _is_open(invitation):
        return None
    return invitation


# Internals ------------------------------------------------------------------------------------


def _load_company(company_id: int, actor: User | None) -> Company:
    company = db.session.get(Company, company_id, with_for_update=True)
    if company is None or not policies.can_view_company(actor, company):
        raise NotFound(_("This company does not exist."))
    return company


def _require_editable(company: Company) -> None:
    refusal = edit_refusal(company)
    if refusal:
        raise PermissionDenied(refusal)


def _decide(obj: Company | ExpertProfile, actor: User, note: str) -> None:
    obj.decided_at = datetime.now(UTC)
    obj.decided_by_id = actor.id
    obj.status_note = note


def _notify_owners(company: Company, kind: str, **params: Any) -> None:
    for user in owners(company):
        notifications.notify(user, kind, link=COMPANY_HOME_PATH, company=company.name, **params)


def _clean_fields(company: Company, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate shape again (the service is the authority, forms only help)."""
    unknown = set(fields) - set(PROFILE_FIELDS) - set(OTHER_FIELDS)
    if unknown:
        raise ValueError(f"unknown company fields: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for field, value in fields.items():
        if field in PROFILE_FIELDS:
            text = " ".join((value or "").split()) if field != "address" else (value or "").strip()
            if len(text) > PROFILE_FIELDS[field]:
                raise ValidationFailed(_("%(field)s is too long.", field=field.replace("_", " ").capitalize()))
            clean[field] = text
        else:
            clean[field] = value
    if "name" in clean and not clean["name"]:
        raise ValidationFailed(_("The company name cannot be empty."))
    if clean.get("country"):
        clean["country"] = clean["country"].upper()
        if clean["country"] not in reference.country_codes():
            raise ValidationFailed(_("Choose a country from the list."))
    if clean.get("contact_email"):
        clean["contact_email"] = clean["contact_email"].lower()
        if "@" not in clean["contact_email"].strip("@"):
            raise ValidationFailed(_("Enter a valid contact e-mail address."))
    if clean.get("website") and not clean["website"].startswith(("https://", "http://")):
        clean["website"] = "https://" + clean["website"]
    if "payment_method" in clean and clean["payment_method"] is not None:
        clean["payment_method"] = PaymentMethod(clean["payment_method"])
    if "show_name_to_experts" in clean:
        clean["show_name_to_experts"] = bool(clean["show_name_to_experts"])
    if clean.get("industry_id") is not None:
        term = db.session.get(CatalogTerm, int(clean["industry_id"]))
        if term is None or term.kind is not CatalogKind.INDUSTRY:
            raise ValidationFailed(_("Choose an industry from the list."))
        if term.is_retired and term.id != company.industry_id:
            raise ValidationFailed(_("This industry is no longer offered; choose another one."))
        clean["industry_id"] = term.id
    return clean


# Profile and documents ---------------------------------------------------------------------------


def update_company(company_id: int, *, actor: User, **fields: Any) -> Company:
    """Save the company's profile (a draft may be incomplete; completeness is checked on submit).

    Allowed for an owner while the company is ``draft`` or ``info_requested``.
    Audited as ``company.updated`` with the names of the changed fields.

    :raises NotFound: no such company visible to ``actor``.
    :raises PermissionDenied: not an owner, or the company is not editable now (the message says why).
    :raises ValidationFailed: a value is not acceptable.
    """
    company = _load_company(company_id, actor)
    if not policies.can_edit_company(actor, company):
        raise PermissionDenied(_("Only an owner of the company can change its profile."))
    _require_editable(company)
    clean = _clean_fields(company, fields)
    changed = sorted(field for field, value in clean.items() if getattr(company, field) != value)
    for field in changed:
        setattr(company, field, clean[field])
    if changed:
        audit.record("company.updated", actor=actor, entity="companies", entity_id=company.id,
                     data={"fields": changed})
        uow.commit()
    return company


def add_company_document(company_id: int, *, actor: User, kind: DocumentKind, upload: uploads.Upload) -> Document:
    """Check, clean and store a legal document (PDF, PNG or JPEG) for the company.

    Allowed for an owner while the company is ``draft`` or ``info_requested``.
    The blob is stored first and deleted again if the transaction fails.

    :raises NotFound: no such company visible to ``actor``.
    :raises PermissionDenied: not an owner, or the company is not editable now.
    :raises ValidationFailed: wrong kind; :class:`uploads.UploadRejected` for the file itself.
    """
    company = _load_company(company_id, actor)
    if not policies.can_edit_company(actor, company):
        raise PermissionDenied(_("Only an owner of the company can upload its documents."))
    _require_editable(company)
    if kind not in COMPANY_DOCUMENT_KINDS:
        raise ValidationFailed(_("Choose what kind of document this is."))
    clean = uploads.check(upload, allowed=uploads.LEGAL_TYPES)
    with uploads.stored(clean, prefix=f"companies/{company.id}/kyc") as key:
        document = uploads.new_document(clean, key=key, kind=kind, uploaded_by=actor, company_id=company.id)
        audit.record("document.uploaded", actor=actor, entity="documents", entity_id=document.id,
                     data={"company_id": company.id, "kind": kind.value, "sha256": clean.sha256,
                           "size": clean.size})
        uow.commit()
    return document


def remove_document(document_id: int, *, actor: User) -> Document:
    """Remove one of the company's documents from its profile (the row is kept for the record).

    Allowed for an owner while the company is ``draft`` or ``info_requested``;
    a document the hub already accepted stays.

    :raises NotFound: no such (company) document visible to ``actor``.
    :raises PermissionDenied: not an owner, the company is not editable, or the document was accepted.
    """
    document = db.session.get(Document, document_id, with_for_update=True)
    if document is None or document.company is None or not policies.can_view_document(actor, document) \
            or document.removed_at is not None:
        raise NotFound(_("This document does not exist."))
    company = document.company
    if not policies.can_remove_document(actor, document):
        raise PermissionDenied(_("Only an owner of the company can remove its documents."))
    _require_editable(company)
    if document.review is DocumentReview.ACCEPTED:
        raise PermissionDenied(_("The hub already accepted this document, so it stays on file."))
    document.removed_at = datetime.now(UTC)
    audit.record("document.removed", actor=actor, entity="documents", entity_id=document.id,
                 data={"company_id": company.id, "kind": document.kind.value})
    uow.commit()
    return document


# Verification ----------------------------------------------------------------------------------


def submit_company(company_id: int, *, actor: User, answer: str = "") -> Company:
    """Submit the company for verification, or resubmit it after the hub asked for information.

    DRAFT or INFO_REQUESTED -> PENDING_VERIFICATION. Needs every required field
    and a registration certificate; ``answer`` (optional) is the owner's reply to
    the hub's question, kept in the audit event. Hub staff are notified.

    :raises NotFound: no such company visible to ``actor``.
    :raises PermissionDenied: not an owner.
    :raises InvalidTransition: the company is not a draft and no information was requested.
    :raises ValidationFailed: something is missing (the message lists what).
    """
    company = _load_company(company_id, actor)
    if not policies.can_submit_company(actor, company):
        raise PermissionDenied(_("Only an owner of the company can submit it for verification."))
    if not COMPANY_WORKFLOW.allows(company.status, S.PENDING_VERIFICATION):
        raise InvalidTransition(COMPANY_WORKFLOW.name, company.status, S.PENDING_VERIFICATION, _submit_refusal(company))
    missing = missing_for_submit(company)
    if missing:
        raise ValidationFailed(_("Before submitting, please complete: %(missing)s.", missing="; ".join(missing)))
    resubmission = company.status is S.INFO_REQUESTED
    data: dict[str, Any] = {"resubmission": resubmission}
    if answer.strip():
        data["answer"] = answer.strip()[:5000]
    transition(company, COMPANY_WORKFLOW, S.PENDING_VERIFICATION, actor=actor, **data)
    company.submitted_at = datetime.now(UTC)
    notifications.notify_staff("company.submitted", link=ADMIN_HOME_PATH, company=company.name)
    uow.commit()
    return company


def _submit_refusal(company: Company) -> str:
    return {
        S.PENDING_VERIFICATION: _("Your company was already submitted and is waiting for verification."),
        S.APPROVED: _("Your company is already verified."),
        S.REJECTED: _("Your company could not be verified, so it cannot be submitted again. "
                      "Contact the hub if you think this is a mistake."),
        S.SUSPENDED: _("Your company is suspended; please contact the hub."),
    }.get(company.status, _("Your company cannot be submitted now."))


def _load_for_staff(company_id: int, actor: User) -> Company:
    company = db.session.get(Company, company_id, with_for_update=True)
    if company is None:
        raise NotFound(_("This company does not exist."))
    if not policies.can_verify_company(actor, company):
        raise PermissionDenied(_("Only hub staff can decide on verifications."))
    return company


def approve_company(company_id: int, *, actor: User, note: str = "") -> Company:
    """Approve a company waiting for verification.

    PENDING_VERIFICATION -> APPROVED. Documents still pending review are accepted
    with it (each decision recorded); rejected ones stay rejected. The owners are
    notified. Only approved companies post jobs.

    :raises NotFound: no such company.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the company is not pending verification.
    :raises ValidationFailed: no acceptable registration certificate is on file.
    """
    company = _load_for_staff(company_id, actor)
    if company.status is not S.PENDING_VERIFICATION:  # SUSPENDED -> APPROVED is reinstate, not approve
        raise InvalidTransition(COMPANY_WORKFLOW.name, company.status, S.APPROVED)
    documents = active_documents(company)
    for kind in REQUIRED_COMPANY_DOCUMENTS:
        if not _has_document(documents, kind):
            raise ValidationFailed(
                _("%(doc)s is missing or was rejected; request information instead of approving.",
                  doc=document_label(kind))
            )
    now = datetime.now(UTC)
    for document in documents:
        if document.review is DocumentReview.PENDING:
            _set_review(document, actor, DocumentReview.ACCEPTED, _("Accepted with the company's approval."), now)
    transition(company, COMPANY_WORKFLOW, S.APPROVED, actor=actor, note=note.strip())
    _decide(company, actor, note.strip())
    _notify_owners(company, "company.approved")
    uow.commit()
    return company


def reject_company(company_id: int, *, actor: User, reason: str) -> Company:
    """Reject a company waiting for verification; the reason is kept and sent to the owners.

    PENDING_VERIFICATION -> REJECTED (final; the company may appeal by a ticket).

    :raises NotFound: no such company.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the company is not pending verification.
    """
    company = _load_for_staff(company_id, actor)
    reason = required_text(reason, _("Give the reason for the rejection; the company will read it."))
    transition(company, COMPANY_WORKFLOW, S.REJECTED, actor=actor, reason=reason)
    _decide(company, actor, reason)
    _notify_owners(company, "company.rejected", reason=reason)
    uow.commit()
    return company


def request_company_info(company_id: int, *, actor: User, question: str) -> Company:
    """Ask the company for more information; it can edit and resubmit.

    PENDING_VERIFICATION -> INFO_REQUESTED. The question is shown on the
    company's status page and sent to the owners.

    :raises NotFound: no such company.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no question given.
    :raises InvalidTransition: the company is not pending verification.
    """
    company = _load_for_staff(company_id, actor)
    question = required_text(question, _("Write the question the company should answer."))
    transition(company, COMPANY_WORKFLOW, S.INFO_REQUESTED, actor=actor, question=question)
    _decide(company, actor, question)
    _notify_owners(company, "company.info_requested", question=question)
    uow.commit()
    return company


def suspend_company(company_id: int, *, actor: User, reason: str) -> Company:
    """Suspend an approved company: its users still log in, but it cannot post jobs.

    APPROVED -> SUSPENDED. Nothing else is suspended (users, jobs in progress).

    :raises NotFound: no such company.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the company is not approved.
    """
    company = _load_for_staff(company_id, actor)
    reason = required_text(reason, _("Give the reason for the suspension; the company will read it."))
    transition(company, COMPANY_WORKFLOW, S.SUSPENDED, actor=actor, reason=reason)
    _decide(company, actor, reason)
    _notify_owners(company, "company.suspended", reason=reason)
    uow.commit()
    return company


def reinstate_company(company_id: int, *, actor: User, note: str = "") -> Company:
    """Lift a suspension.

    SUSPENDED -> APPROVED. The owners are notified.

    :raises NotFound: no such company.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the company is not suspended.
    """
    company = _load_for_staff(company_id, actor)
    if company.status is not S.SUSPENDED:  # PENDING -> APPROVED is approve, not reinstate
        raise InvalidTransition(COMPANY_WORKFLOW.name, company.status, S.APPROVED,
                                _("Only a suspended company can be reinstated; this one is %(status)s.",
                                  status=company.status.value.replace("_", " ")))
    transition(company, COMPANY_WORKFLOW, S.APPROVED, actor=actor, note=note.strip(), reinstated=True)
    _decide(company, actor, note.strip())
    _notify_owners(company, "company.reinstated")
    uow.commit()
    return company


def _set_review(document: Document, actor: User, review: DocumentReview, note: str, when: datetime) -> None:
    before = document.review
    document.review = review
    document.reviewed_by_id = actor.id
    document.reviewed_at = when
    document.review_note = note
    audit.record(f"document.{review.value}", actor=actor, entity="documents", entity_id=document.id,
                 from_state=before.value, to_state=review.value, data={"note": note})


def review_document(document_id: int, *, actor: User, accepted: bool, note: str = "") -> Document:
    """Accept or reject one document of a company or an expert under review.

    The decision (who, when, note) is kept on the document and in the audit
    log; a rejection needs a note and notifies the company's owners (or the
    expert). A decision may be corrected while the review is open.

    :raises NotFound: no such document, or it was removed.
    :raises PermissionDenied: ``actor`` is not hub staff, or the owner is not under review.
    :raises ValidationFailed: a rejection without a reason.
    """
    document = db.session.get(Document, document_id, with_for_update=True)
    if document is None or document.removed_at is not None:
        raise NotFound(_("This document does not exist."))
    if not policies.can_review_document(actor, document):
        raise PermissionDenied(_("Only hub staff can review documents."))
    owner: Company | ExpertProfile | None = document.company or document.expert
    if owner is None or owner.status not in {S.PENDING_VERIFICATION, S.INFO_REQUESTED}:
        raise PermissionDenied(_("Documents are reviewed while their owner is under verification."))
    note = note.strip()
    if not accepted:
        note = required_text(note, _("Say why the document is not accepted; the owner will read it."))
    _set_review(document, actor, DocumentReview.ACCEPTED if accepted else DocumentReview.REJECTED, note,
                datetime.now(UTC))
    if not accepted:
        if document.company is not None:
            for user in owners(document.company):
                notifications.notify(user, "document.rejected", link=COMPANY_DOCUMENTS_PATH,
                                     name=document.original_name, reason=note)
        elif document.expert is not None:
            notifications.notify(document.expert.user, "document.rejected", link=EXPERT_DOCUMENTS_PATH,
                                 name=document.original_name, reason=note)
    uow.commit()
    return document


# Member invitations ----------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_open(invitation: CompanyInvitation) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > datetime.now(UTC)
    )


def invite_member(company_id: int, *, actor: User, email: str) -> CompanyInvitation:
    """Invite a colleague by e-mail to join the company as a member.

    The e-mail carries a single-use link valid for 7 days; only the token's
    SHA-256 is stored. Inviting the same address again replaces the open
    invitation. Allowed for an owner unless the company is rejected or suspended.

    :raises NotFound: no such company visible to ``actor``.
    :raises PermissionDenied: not an owner, or the company is rejected/suspended.
    :raises ValidationFailed: bad address, the address already has an account, or too many open invitations.
    """
    company = _load_company(company_id, actor)
    if not policies.can_manage_members(actor, company):
        raise PermissionDenied(_("Only an owner of the company can invite colleagues."))
    if company.status in {S.REJECTED, S.SUSPENDED}:
        raise PermissionDenied(_("Invitations are not possible while the company is %(status)s.",
                                 status=_("rejected") if company.status is S.REJECTED else _("suspended")))
    address = (email or "").strip().lower()
    if len(address) > 254 or "@" not in address.strip("@") or any(c.isspace() for c in address):
        raise ValidationFailed(_("Enter a valid e-mail address."))
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == address)) is not None:
        raise ValidationFailed(
            _("%(email)s already has an account on the hub, and an account belongs to one company or expert only. "
              "Invite another address.", email=address)
        )
    now = datetime.now(UTC)
    open_ones = open_invitations(company)
    for old in open_ones:
        if old.email == address:
            old.revoked_at = now
            audit.record("company.invitation_replaced", actor=actor, entity="company_invitations",
                         entity_id=old.id, data={"email": address})
    if sum(1 for old in open_ones if old.email != address) >= MAX_OPEN_INVITATIONS:
        raise ValidationFailed(_("You have %(n)d open invitations; revoke some before inviting more.",
                                 n=MAX_OPEN_INVITATIONS))
    token = secrets.token_urlsafe(32)
    invitation = CompanyInvitation(
        company_id=company.id,
        email=address,
        invited_by_id=actor.id,
        token_hash=_hash_token(token),
        expires_at=now + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record("company.member_invited", actor=actor, entity="company_invitations", entity_id=invitation.id,
                 data={"company_id": company.id, "email": address})
    notifications.send_email(
        address,
        "invitation",
        locale=actor.locale or "en",
        link=INVITATION_PATH.format(token=token),
        company=company.name,
        inviter=actor.full_name,
        days=INVITATION_DAYS,
    )
    uow.commit()
    return invitation


def revoke_invitation(invitation_id: int, *, actor: User) -> CompanyInvitation:
    """Revoke an open invitation; its link stops working at once.

    :raises NotFound: no such invitation visible to ``actor``.
    :raises PermissionDenied: not an owner of the inviting company.
    :raises ValidationFailed: the invitation was already accepted, revoked or has expired.
    """
    invitation = db.session.get(CompanyInvitation, invitation_id, with_for_update=True)
    if invitation is None or not policies.can_view_company(actor, invitation.company):
        raise NotFound(_("This invitation does not exist."))
    if not policies.can_revoke_invitation(actor, invitation):
        raise PermissionDenied(_("Only an owner of the company can revoke invitations."))
    if invitation.accepted_at is not None:
        raise ValidationFailed(_("This invitation was already accepted."))
    if invitation.revoked_at is not None:
        raise ValidationFailed(_("This invitation was already revoked."))
    if invitation.expires_at <= datetime.now(UTC):
        raise ValidationFailed(_("This invitation has already expired."))
    invitation.revoked_at = datetime.now(UTC)
    audit.record("company.invitation_revoked", actor=actor, entity="company_invitations", entity_id=invitation.id,
                 data={"email": invitation.email})
    uow.commit()
    return invitation


def accept_invitation(token: str, *, full_name: str, password: str, locale: str = "en") -> User:
    """Join the company with the invitation's e-mail address as a member.

    Following the e-mailed link proves the address, so it counts as verified.
    The invitation is used up; the company's owners are notified (``member.joined``).

    :raises NotFound: the link is unknown, used, revoked or expired.
    :raises ValidationFailed: no name, a weak password, or the address got an account meanwhile.
    """
    invitation = db.session.scalar(
        sa.select(CompanyInvitation)
        .where(CompanyInvitation.token_hash == _hash_token(token or ""))
        .with_for_update()
    )
    if invitation is None or not _is_open(invitation):
        raise NotFound(_("This invitation link is not valid any more (used, revoked or expired). "
                         "Ask your colleague to invite you again."))
    name = " ".join((full_name or "").split())
    if not name:
        raise ValidationFailed(_("Enter your name."))
    if len(name) > 120:
        raise ValidationFailed(_("Your name is too long (at most 120 characters)."))
    problems = password_problems(password, email=invitation.email, name=name)
    if problems:
        raise ValidationFailed(" ".join(problems))
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == invitation.email)) is not None:
        raise ValidationFailed(_("This e-mail address already has an account; log in with it instead."))
    now = datetime.now(UTC)
    user = User(
        email=invitation.email,
        password_hash=hash_password(password),
        full_name=name,
        role=Role.COMPANY,
        company_id=invitation.company_id,
        company_role=CompanyRole.MEMBER,
        locale=locale,
        email_verified_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    invitation.accepted_at = now
    invitation.accepted_user_id = user.id
    audit.record("company.member_joined", actor=user, entity="company_invitations", entity_id=invitation.id,
                 data={"company_id": invitation.company_id, "user_id": user.id})
    company = invitation.company
    for owner in owners(company):
        notifications.notify(owner, "member.joined", link=COMPANY_MEMBERS_PATH, name=name, company=company.name)
    uow.commit()
    return user

