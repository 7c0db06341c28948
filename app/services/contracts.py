"""Step 6: the contract born from an accepted offer, its documents, signatures and seal (WORKFLOW.md §6).

    contract: awaiting_signatures -sign (each party; the last one)-> signed -fund-> funded
              awaiting_signatures | signed -cancel-> cancelled

:func:`open_contract` (a helper of ``negotiations.accept_offer``, never commits)
creates the contract and renders its three PDFs from the versioned templates.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import policies
from app.documents import (
    CompletionCertificate,
    ContractData,
    Milestone,
    Party,
    SignatureRecord,
    hub_party,
    render_completion_certificate,
    render_contract,
    render_nda,
    render_subcontract,
    sha256_hex,
)
from app.documents.templates import CURRENT_VERSIONS, TemplateKind
from app.exceptions import DomainError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import sealing
from app.integrations.storage import BlobNotFound, get_storage
from app.models import (
    SIGNERS,
    Contract,
    ContractDocument,
    ContractDocumentKind,
    ContractStatus,
    Delivery,
    Offer,
    OfferForward,
    OfferVersion,
    QcAssignment,
    Role,
    Signature,
    SignerRole,
    User,
)
from app.services import audit, notifications, uow
from app.services.transitions import transition
from app.workflows.contracts import CONTRACT_WORKFLOW

logger = logging.getLogger(__name__)

# Unambiguous letters and digits for the bank-transfer reference (no 0/O, 1/I/L).
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def milestone_amounts(price_minor: int, shares: Sequence[int]) -> list[int]:
    """Split ``price_minor`` by whole-percent ``shares`` (adding to 100); the last one takes the rounding."""
    if not shares:
        return []
    amounts = [price_minor * share // 100 for share in shares[:-1]]
    amounts.append(price_minor - sum(amounts))
    return amounts


def new_payment_reference() -> str:
    """A bank-transfer reference like ``PCH-7KQ2-M9XD`` (random, with no look-alike characters)."""
    body = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"PCH-{body[:4]}-{body[4:]}"


def _company_party(contract: Contract) -> Party:
    company = contract.company
    return Party(name=company.legal_name or company.name, address=company.address,
                 registration_number=company.registration_number, vat_id=company.vat_id)


def _expert_party(contract: Contract) -> Party:
    """The expert's real identity: only in the hub ↔ expert subcontract."""
    expert = contract.expert
    return Party(name=expert.user.full_name, address=expert.country)


def _data(contract: Contract, version: OfferVersion, *, price_minor: int, counterparty: Party) -> ContractData:
    from app.services.offers import CLAUSES

    clauses = CLAUSES[version.terms_version]
    milestones = list(version.milestones)
    amounts = milestone_amounts(price_minor, [m.share_percent for m in milestones])
    job = contract.job
    return ContractData(
        reference=contract.reference,
        job_title=str(job),
        scope="\n\n".join(p for p in (job.scope, version.solution) if p),
        deliverables=list(version.deliverables),
        milestones=[Milestone(m.title, m.due_date, m.share_percent, amount) for m, amount in zip(milestones, amounts,
                                                                                              strict=True)],
        start_date=version.start_date,
        end_date=version.end_date,
        price_minor=price_minor,
        currency=version.currency,
        confidentiality_text=str(clauses.confidentiality),
        non_solicitation_text=str(clauses.non_solicitation),
        clauses_version=clauses.version,
        offer_version=version.number,
        hub=hub_party(current_app.config),
        counterparty=counterparty,
        expert_pseudonym=contract.expert.pseudonym,
        issued_at=contract.created_at,
    )


def render_document(contract: Contract, kind: ContractDocumentKind) -> bytes:
    """The PDF of one of the contract's documents, as the parties sign it (deterministic)."""
    version = contract.offer_version
    if kind is ContractDocumentKind.CONTRACT:
        return render_contract(_data(contract, version, price_minor=contract.client_price_minor,
                                     counterparty=_company_party(contract)))
    if kind is ContractDocumentKind.SUBCONTRACT:
        return render_subcontract(_data(contract, version, price_minor=contract.expert_price_minor,
                                        counterparty=_expert_party(contract)))
    data = _data(contract, version, price_minor=contract.client_price_minor, counterparty=_company_party(contract))
    parties = {"Company": _company_party(contract), "Hub": data.hub,
               "Expert": Party.expert_pseudonym(contract.expert.pseudonym)}
    return render_nda(data, parties=parties)


_TEMPLATE_KINDS = {
    ContractDocumentKind.CONTRACT: TemplateKind.CONTRACT,
    ContractDocumentKind.SUBCONTRACT: TemplateKind.SUBCONTRACT,
    ContractDocumentKind.NDA: TemplateKind.NDA,
}


def open_contract(offer: Offer, forward: OfferForward, *, actor: User) -> Contract:
    """Create the contract of an accepted offer and store its three PDFs (flushes, never commits).

    (new) -> AWAITING_SIGNATURES, audited as ``contract.awaiting_signatures``.
    """
    version = forward.version
    now = datetime.now(UTC).replace(microsecond=0)
    contract = Contract(
        reference=f"PC-{now.year}-{offer.id:05d}",
        payment_reference=new_payment_reference(),
        job_id=offer.job_id,
        offer_id=offer.id,
        version_id=version.id,
        forward_id=forward.id,
        company_id=offer.job.company_id,
        expert_id=offer.expert_id,
        currency=forward.currency,
        client_price_minor=forward.client_price_minor,
        expert_price_minor=forward.expert_price_minor,
        fee_minor=forward.fee_minor,
        start_date=version.start_date,
        end_date=version.end_date,
        status=ContractStatus.AWAITING_SIGNATURES,
        created_at=now,
    )
    contract.job = offer.job
    contract.offer = offer
    contract.offer_version = version
    contract.forward = forward
    contract.company = offer.job.company
    contract.expert = offer.expert
    db.session.add(contract)
    db.session.flush()
    storage = get_storage()
    for kind in ContractDocumentKind:
        pdf = render_document(contract, kind)
        key = f"contracts/{contract.id}/{kind.value}-{uuid.uuid4().hex}"
        storage.put(key, pdf, content_type="application/pdf")
        document = ContractDocument(contract_id=contract.id, kind=kind, storage_key=key, sha256=sha256_hex(pdf),
                                    size_bytes=len(pdf), template_version=CURRENT_VERSIONS[_TEMPLATE_KINDS[kind]],
                                    created_at=now)
        contract.documents.append(document)
    db.session.flush()
    audit.record("contract.awaiting_signatures", actor=actor, entity="contracts", entity_id=contract.id,
                 to_state=ContractStatus.AWAITING_SIGNATURES.value,
                 data={"offer_id": offer.id, "version": version.number,
                       "client_price_minor": contract.client_price_minor,
                       "documents": {d.kind.value: d.sha256 for d in contract.documents}})
    return contract


# Signatures, the seal and the certificate of completion (step 6) --------------------------------

COMPANY_CONTRACT_PATH = "/company/contracts/{id}"
EXPERT_CONTRACT_PATH = "/contracts/{id}"
STAFF_CONTRACT_PATH = "/admin/contracts/{id}"
FileWhich = Literal["original", "sealed", "certificate"]
FILE_KINDS: tuple[FileWhich, ...] = ("original", "sealed", "certificate")
# The sentence every signer confirms next to the typed name (recorded in the audit log with the signature).
CONSENT_SENTENCE = _l("I have read this document and sign it electronically")
KIND_NAMES = {
    ContractDocumentKind.CONTRACT: _l("contract"),
    ContractDocumentKind.SUBCONTRACT: _l("subcontract"),
    ContractDocumentKind.NDA: _l("non-disclosure agreement"),
}
# The titles printed in the (English) PDFs.
_PDF_TITLES = {
    ContractDocumentKind.CONTRACT: "Contract",
    ContractDocumentKind.SUBCONTRACT: "Subcontract",
    ContractDocumentKind.NDA: "Non-disclosure agreement",
}
_PDF_ROLES = {SignerRole.COMPANY: "Company", SignerRole.HUB: "Hub", SignerRole.EXPERT: "Expert"}


def normalized_name(value: str) -> str:
    """A name compared loosely: no accents, no case, single spaces (``"  JOSÉ  müller"`` -> ``"jose muller"``)."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def signer_role(actor: User | None, contract: Contract) -> SignerRole | None:
    """The side ``actor`` signs for: a company owner COMPANY, the contract's expert EXPERT, hub staff HUB.

    Company members read the company's documents but do not sign (``None``), nor does anyone else.
    """
    if policies.is_staff(actor):
        return SignerRole.HUB
    if policies.owns_company(actor, contract.company):
        return SignerRole.COMPANY
    if policies.is_contract_expert(actor, contract):
        return SignerRole.EXPERT
    return None


def documents_for(actor: User | None, contract: Contract) -> list[ContractDocument]:
    """The documents of ``contract`` that ``actor`` may read.

    The company: the contract and the NDA; the expert: the subcontract and the NDA; staff: all three.
    """
    return [d for d in contract.documents if policies.can_view_contract_document(actor, d)]


def load_contract(contract_id: int, *, actor: User) -> Contract:
    """A contract ``actor`` may see (a party or staff).

    :raises NotFound: no such contract, or not one of ``actor``'s.
    """
    contract = db.session.get(Contract, contract_id)
    if contract is None or not policies.can_view_contract(actor, contract):
        raise NotFound(_("This contract does not exist."))
    return contract


def contracts_for(actor: User) -> list[Contract]:
    """The contracts of the actor's company (its users) or of the actor's expert profile, newest first."""
    query = sa.select(Contract).order_by(Contract.created_at.desc(), Contract.id.desc())
    if actor.role is Role.COMPANY and actor.company_id is not None:
        query = query.where(Contract.company_id == actor.company_id)
    elif actor.role is Role.EXPERT and actor.expert_profile is not None:
        query = query.where(Contract.expert_id == actor.expert_profile.id)
    else:
        return []
    return list(db.session.scalars(query))


def contracts_queue_query(status: ContractStatus | None = None) -> sa.Select[Contract]:
    """The back office's list: contracts awaiting signatures first, then the rest, newest first."""
    awaiting_first = sa.case((Contract.status == ContractStatus.AWAITING_SIGNATURES, 0), else_=1)
    query = sa.select(Contract).order_by(awaiting_first, Contract.created_at.desc(), Contract.id.desc())
    if status is not None:
        query = query.where(Contract.status == status)
    return query


@dataclass(frozen=True)
class SignatureLine:
    """One party line of a document as a party's page shows it (the expert by pseudonym to the company)."""

    role: SignerRole
    display_name: str
    signed_at: datetime | None


@dataclass(frozen=True)
class DocumentPage:
    """One document on a party's contract page."""

    document: ContractDocument
    lines: tuple[SignatureLine, ...]
    signs: bool  # the actor's side signs this document
    signed_by_me: bool
    can_sign: bool  # ... and may sign it now


@dataclass(frozen=True)
class ContractPage:
    """What a party's contract page shows; ``price_minor`` is the price of the reader's own document."""

    contract: Contract
    role: SignerRole | None
    price_minor: int
    documents: tuple[DocumentPage, ...]
    name_to_type: str  # the reader's own account name, when they have something to sign
    reader_is_company: bool


def _party_name(role: SignerRole, signature: Signature | None, contract: Contract, *, company_reader: bool) -> str:
    if role is SignerRole.HUB:
        return str(current_app.config["HUB_LEGAL_NAME"])
    if role is SignerRole.EXPERT:
        if company_reader:
            return _("Expert %(pseudonym)s", pseudonym=contract.expert.pseudonym)
        return signature.user.full_name if signature is not None else contract.expert.user.full_name
    if company_reader and signature is not None:
        return signature.user.full_name
    return contract.company.legal_name or contract.company.name


def contract_page(contract: Contract, *, actor: User) -> ContractPage:
    """The party's view of ``contract``: their documents, who signed when, what is left for them to sign.

    A company's users read the expert by pseudonym and the client price; the
    expert reads the expert price. Staff use the back office instead.
    """
    role = signer_role(actor, contract)
    company_reader = policies.belongs_to_company(actor, contract.company)
    awaiting = contract.status is ContractStatus.AWAITING_SIGNATURES
    pages = []
    for document in documents_for(actor, contract):
        by_role = {s.role: s for s in document.signatures}
        lines = tuple(
            SignatureLine(r, _party_name(r, by_role.get(r), contract, company_reader=company_reader),
                          by_role[r].signed_at if r in by_role else None)
            for r in SIGNERS[document.kind]
        )
        signs = role is not None and role in SIGNERS[document.kind]
        mine = signs and role in by_role
        pages.append(DocumentPage(document, lines, signs, mine, signs and not mine and awaiting))
    return ContractPage(
        contract=contract,
        role=role,
        price_minor=contract.client_price_minor if company_reader else contract.expert_price_minor,
        documents=tuple(pages),
        name_to_type=actor.full_name if any(p.can_sign for p in pages) else "",
        reader_is_company=company_reader,
    )


def _lock_contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id, with_for_update=True)
    if contract is None:
        raise NotFound(_("This contract does not exist."))
    return contract


def hub_key_paths() -> tuple[str, str]:
    """The hub's seal key and certificate, made on first use.

    :raises DomainError: the key material cannot be made or read.
    """
    config = current_app.config
    key_path, cert_path = str(config["HUB_SIGNING_KEY_PATH"]), str(config["HUB_SIGNING_CERT_PATH"])
    try:
        sealing.ensure_hub_certificate(key_path, cert_path, common_name=str(config["HUB_LEGAL_NAME"]),
                                       organisation=str(config["HUB_LEGAL_NAME"]))
    except (sealing.SealingError, OSError) as exc:
        logger.error("Hub seal key material unusable: %s", exc)
        raise DomainError(_("The hub cannot seal documents at the moment; nothing was saved. Please try again "
                            "later or contact the hub.")) from exc
    return key_path, cert_path


def _company_recipients(contract: Contract) -> list[User]:
    """Every active user of the contract's company (they may all read its documents)."""
    return [u for u in contract.company.users if u.role is Role.COMPANY and u.suspended_at is None]


def _certificate(document: ContractDocument, sealed_at: datetime) -> bytes:
    """The certificate of completion of one sealed document; the expert only by pseudonym where the company reads it."""
    contract = document.contract
    company_reads = document.kind in policies.COMPANY_DOCUMENTS
    records = []
    for signature in document.signatures:
        company_reader_line = company_reads and signature.role is SignerRole.EXPERT
        if signature.role is SignerRole.EXPERT:
            display = f"Expert {contract.expert.pseudonym}" if company_reads else signature.user.full_name
        elif signature.role is SignerRole.HUB:
            display = f"{signature.user.full_name}, {current_app.config['HUB_LEGAL_NAME']}"
        else:
            display = f"{signature.user.full_name}, {contract.company.legal_name or contract.company.name}"
        records.append(SignatureRecord(
            role=_PDF_ROLES[signature.role],
            display_name=display,
            typed_name=signature.typed_name,
            signed_at=signature.signed_at.replace(tzinfo=signature.signed_at.tzinfo or UTC),
            ip=signature.ip_address or "",
            user_agent=signature.user_agent,
            document_sha256=signature.document_sha256,
            withhold_identity=company_reader_line,
        ))
    return render_completion_certificate(CompletionCertificate(
        document_title=f"{_PDF_TITLES[document.kind]} {contract.reference}",
        document_reference=contract.reference,
        document_sha256=document.sealed_sha256 or "",
        signers=records,
        sealed_at=sealed_at,
    ))


def _seal_all(contract: Contract, *, actor: User, now: datetime) -> None:
    """Seal every document, store the sealed copy and its certificate of completion (never commits).

    :raises DomainError: a stored original does not match its fingerprint, or sealing failed.
    """
    key_path, cert_path = hub_key_paths()
    storage = get_storage()
    for document in contract.documents:
        try:
            original = storage.get(document.storage_key)
        except BlobNotFound as exc:
            raise DomainError(_("A document of this contract is missing from storage; nothing was saved. "
                                "Please contact the hub.")) from exc
        if sha256_hex(original) != document.sha256:
            logger.error("Contract document %s does not match its SHA-256", document.id)
            raise DomainError(_("A stored document does not match what was signed; nothing was saved. "
                                "Please contact the hub."))
        try:
            sealed = sealing.seal_pdf(
                original, reason=f"{_PDF_TITLES[document.kind]} {contract.reference} sealed by Plasticonnect Hub",
                key_path=key_path, cert_path=cert_path,
            )
        except sealing.SealingError as exc:
            logger.error("Sealing contract document %s failed: %s", document.id, exc)
            raise DomainError(_("The documents could not be sealed; nothing was saved. Please try again or "
                                "contact the hub.")) from exc
        sealed_key = f"contracts/{contract.id}/{document.kind.value}-sealed-{uuid.uuid4().hex}"
        storage.put(sealed_key, sealed, content_type="application/pdf")
        document.sealed_storage_key = sealed_key
        document.sealed_sha256 = sha256_hex(sealed)
        document.sealed_at = now
        certificate = _certificate(document, now)
        certificate_key = f"contracts/{contract.id}/{document.kind.value}-certificate-{uuid.uuid4().hex}"
        storage.put(certificate_key, certificate, content_type="application/pdf")
        document.certificate_storage_key = certificate_key
        audit.record("contract_document.sealed", actor=actor, entity="contract_documents", entity_id=document.id,
                     data={"contract_id": contract.id, "kind": document.kind.value, "sha256": document.sha256,
                           "sealed_sha256": document.sealed_sha256,
                           "certificate_sha256": sha256_hex(certificate),
                           "certificate_fingerprint": sealing.certificate_fingerprint(cert_path)})


def _notify_signed(contract: Contract) -> None:
    job = str(contract.job)
    for user in _company_recipients(contract):
        notifications.notify(user, "contract.signed_company", link=COMPANY_CONTRACT_PATH.format(id=contract.id),
                             contract=contract.reference, job=job)
    notifications.notify(contract.expert.user, "contract.signed_expert",
                         link=EXPERT_CONTRACT_PATH.format(id=contract.id), contract=contract.reference, job=job)
    notifications.notify_staff("contract.signed_staff", link=STAFF_CONTRACT_PATH.format(id=contract.id),
                               contract=contract.reference, job=job)


def _all_signed(contract: Contract) -> bool:
    return all(set(SIGNERS[d.kind]) <= {s.role for s in d.signatures} for d in contract.documents)


def sign_document(
    document_id: int, *, actor: User, typed_name: str, document_sha256: str, user_agent: str = ""
) -> Signature:
    """Sign one document of a contract by typing one's name (a click-wrap signature).

    AWAITING_SIGNATURES -> (the last missing signature of all three documents) SIGNED.
    Who: a company owner (COMPANY), the contract's expert (EXPERT) or hub staff
    (HUB), for a document their side signs (``SIGNERS``). The typed name must be
    the signer's account name (case, accents and repeated spaces ignored), and
    ``document_sha256`` the fingerprint of the version the signer read.
    Effects: a ``Signature`` with time, IP, user agent, typed name and SHA-256;
    audited ``contract_document.signed``. On the last signature: the contract
    becomes SIGNED (``signed_at``), each document is sealed by the hub, its sealed
    copy and certificate of completion are stored (``contract_document.sealed``),
    and the company's users, the expert and the hub are notified. One commit.

    :raises NotFound: no such document, or not one ``actor`` may read.
    :raises PermissionDenied: ``actor``'s side does not sign this document (a company member, say).
    :raises InvalidTransition: the contract no longer waits for signatures.
    :raises ValidationFailed: already signed; an outdated version; the typed name does not match.
    :raises DomainError: the documents could not be sealed (nothing is saved).
    """
    document = db.session.get(ContractDocument, document_id)
    if document is None or not policies.can_view_contract_document(actor, document):
        raise NotFound(_("This document does not exist."))
    contract = _lock_contract(document.contract_id)
    role = signer_role(actor, contract)
    if role is None or role not in SIGNERS[document.kind]:
        if policies.belongs_to_company(actor, contract.company):
            raise PermissionDenied(_("Only an owner of your company can sign its contracts. You can read them."))
        raise PermissionDenied(_("You do not sign this document."))
    if contract.status is not ContractStatus.AWAITING_SIGNATURES:
        raise InvalidTransition(
            CONTRACT_WORKFLOW.name, contract.status, ContractStatus.SIGNED,
            _("This contract is %(status)s; it can no longer be signed.",
              status=str(contract.status.value).replace("_", " ")),
        )
    if any(s.role is role for s in document.signatures):
        raise ValidationFailed(_("This document is already signed on your side."))
    if (document_sha256 or "").strip().lower() != document.sha256:
        raise ValidationFailed(_("This document changed since you opened it; read the current version and sign "
                                 "again."))
    if not normalized_name(typed_name) or normalized_name(typed_name) != normalized_name(actor.full_name):
        raise ValidationFailed(_("The name you typed is not the name of your account. Type your full name as "
                                 "shown above the field (capitals and accents do not matter)."))
    now = datetime.now(UTC)
    signature = Signature(
        document_id=document.id, role=role, user_id=actor.id, typed_name=" ".join(typed_name.split())[:160],
        signed_at=now, ip_address=audit.client_ip.get(), user_agent=(user_agent or "")[:255],
        document_sha256=document.sha256,
    )
    signature.user = actor
    document.signatures.append(signature)
    db.session.flush()
    audit.record("contract_document.signed", actor=actor, entity="contract_documents", entity_id=document.id,
                 data={"contract_id": contract.id, "kind": document.kind.value, "role": role.value,
                       "signature_id": signature.id, "sha256": document.sha256,
                       "typed_name": signature.typed_name, "user_agent": signature.user_agent,
                       "consent": str(CONSENT_SENTENCE)})
    if _all_signed(contract):
        transition(contract, CONTRACT_WORKFLOW, ContractStatus.SIGNED, actor=actor,
                   documents={d.kind.value: d.sha256 for d in contract.documents})
        contract.signed_at = now
        _seal_all(contract, actor=actor, now=now)
        _notify_signed(contract)
    uow.commit()
    return signature


def cancel_contract(contract_id: int, *, actor: User, reason: str) -> Contract:
    """Cancel a contract before it is funded.

    AWAITING_SIGNATURES | SIGNED -> CANCELLED. Who: hub staff. A reason is
    required; it is kept (``status_note``) and sent to the company's users and
    the expert. Audited ``contract.cancelled``. One commit.

    :raises NotFound: no such contract (or not one ``actor`` may see).
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises ValidationFailed: no reason given.
    :raises InvalidTransition: the contract is funded or already cancelled.
    """
    contract = _lock_contract(contract_id)
    if not policies.can_view_contract(actor, contract):
        raise NotFound(_("This contract does not exist."))
    if not policies.can_cancel_contract(actor, contract):
        raise PermissionDenied(_("Only the hub can cancel a contract."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason: the company and the expert read it."))
    transition(contract, CONTRACT_WORKFLOW, ContractStatus.CANCELLED, actor=actor, reason=reason)
    contract.cancelled_at = datetime.now(UTC)
    contract.status_note = reason
    job = str(contract.job)
    for user in _company_recipients(contract):
        notifications.notify(user, "contract.cancelled", link=COMPANY_CONTRACT_PATH.format(id=contract.id),
                             contract=contract.reference, job=job, reason=reason)
    notifications.notify(contract.expert.user, "contract.cancelled", link=EXPERT_CONTRACT_PATH.format(id=contract.id),
                         contract=contract.reference, job=job, reason=reason)
    uow.commit()
    return contract


def file_name(document: ContractDocument, which: FileWhich) -> str:
    """A download name made of the reference and the kind, never of a person (``PC-2026-00042-nda-sealed.pdf``)."""
    suffix = "" if which == "original" else f"-{which}"
    return f"{document.contract.reference}-{document.kind.value}{suffix}.pdf"


def open_contract_file(
    document_id: int, *, actor: User, which: FileWhich, inline: bool = False
) -> tuple[str, bytes]:
    """Read a contract document (the signed original, the sealed copy or its certificate) for ``actor``.

    Who: whoever may read the document (``policies.can_view_contract_document``).
    Effects: the read is audited (``contract_document.downloaded``, or
    ``contract_document.viewed`` for an inline preview). One commit.

    :raises NotFound: no such document or file kind, not one ``actor`` may read, not sealed yet, or its blob is gone.
    """
    document = db.session.get(ContractDocument, document_id)
    if document is None or which not in FILE_KINDS or not policies.can_view_contract_document(actor, document):
        raise NotFound(_("This document does not exist."))
    key = {"original": document.storage_key, "sealed": document.sealed_storage_key,
           "certificate": document.certificate_storage_key}[which]
    if key is None:
        raise NotFound(_("This document is not sealed yet; the sealed copy exists once every party has signed."))
    try:
        data = get_storage().get(key)
    except BlobNotFound as exc:
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    audit.record("contract_document.viewed" if inline else "contract_document.downloaded", actor=actor,
                 entity="contract_documents", entity_id=document.id,
                 data={"contract_id": document.contract_id, "kind": document.kind.value, "which": which,
                       "sha256": sha256_hex(data)})
    uow.commit()
    return file_name(document, which), data


# Verification of an uploaded PDF ---------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """The verdict of the public verification page, in plain words; nothing else about the contract.

    ``verdict``: ``on_record`` (the exact sealed copy we keep), ``sealed`` (an intact
    hub seal on a PDF we do not keep), ``changed``, ``not_sealed``, ``not_pdf`` or ``unreadable``.
    """

    verdict: str
    message: str
    reference: str | None = None
    kind: ContractDocumentKind | None = None
    sealed_at: datetime | None = None

    @property
    def ok(self) -> bool:
        """The upload is a sealed document of the hub, unchanged."""
        return self.verdict in {"on_record", "sealed"}


def _sealed_record(sha256: str) -> tuple[str, str, ContractDocumentKind | None, datetime] | None:
    """What the hub sealed with these exact bytes: (what it is, in words; the contract reference; the kind
    of contract document, if it is one; when it was sealed), or None.

    The sealed contract documents, the quality-control NDAs and the acceptance certificates.
    """
    document = db.session.scalar(
        sa.select(ContractDocument).where(ContractDocument.sealed_sha256 == sha256).limit(1))
    if document is not None and document.sealed_at is not None:
        reference = document.contract.reference
        return (_("the sealed %(kind)s of contract %(reference)s", kind=str(KIND_NAMES[document.kind]),
                  reference=reference), reference, document.kind, document.sealed_at)
    qc_nda = db.session.scalar(sa.select(QcAssignment).where(QcAssignment.sealed_sha256 == sha256).limit(1))
    if qc_nda is not None and qc_nda.signed_at is not None:
        reference = qc_nda.project.contract.reference
        return (_("the sealed quality-control NDA of contract %(reference)s", reference=reference), reference,
                None, qc_nda.signed_at)
    delivery = db.session.scalar(sa.select(Delivery).where(Delivery.certificate_sha256 == sha256).limit(1))
    if delivery is not None and delivery.decided_at is not None:
        reference = delivery.project.contract.reference
        return (_("the sealed acceptance certificate of delivery %(number)s of contract %(reference)s",
                  number=delivery.number, reference=reference), reference, None, delivery.decided_at)
    return None


def verify_upload(data: bytes) -> VerificationResult:
    """Tell anyone holding a PDF whether it is a document the hub sealed, unchanged since.

    Who: anyone (the public verification page). Looks the exact bytes up among
    the sealed copies and always checks the seal against the hub certificate.
    Reveals only the kind, the reference and the seal time of an exact sealed
    copy; never prices or names. Changes nothing.

    :raises DomainError: the hub certificate cannot be made or read.
    """
    _key_path, cert_path = hub_key_paths()
    try:
        check = sealing.verify_sealed_pdf(data, cert_path=cert_path)
    except sealing.SealingError as exc:
        raise DomainError(_("The hub cannot check seals at the moment. Please try again later.")) from exc
    record = _sealed_record(sha256_hex(data))
    if record is not None:
        what, reference, kind, sealed_at = record
        params = {"what": what, "when": format_datetime(sealed_at, "medium")}
        if check.ok:
            return VerificationResult("on_record", _("This is %(what)s, sealed on %(when)s, unchanged.", **params),
                                      reference, kind, sealed_at)
        logger.warning("The sealed copy of %s no longer verifies against the hub certificate", what)
        message = _("This is %(what)s as the hub keeps it, sealed on %(when)s, but its seal cannot be confirmed "
                    "with the hub's current certificate. Please contact the hub.", **params)
        return VerificationResult("on_record_unconfirmed", message, reference, kind, sealed_at)
    if check.ok:
        return VerificationResult("sealed", _("This PDF carries an intact seal of Plasticonnect Hub, but it is not "
                                              "one of the sealed documents on record."),
                                  sealed_at=check.signed_at)
    if check.sealed:
        return VerificationResult("changed", _("This PDF was changed after it was sealed: it is not the document "
                                               "Plasticonnect Hub sealed."))
    if check.summary == sealing.SUMMARY_NOT_PDF:
        return VerificationResult("not_pdf", _("This file is not a PDF document."))
    if check.summary == sealing.SUMMARY_UNREADABLE:
        return VerificationResult("unreadable", _("This PDF is damaged or cannot be read, so its seal cannot be "
                                                  "checked."))
    return VerificationResult("not_sealed", _("This PDF carries no seal of Plasticonnect Hub: it is not a sealed "
                                              "document of ours."))
