"""Step 6: the contract born from an accepted offer, its documents, signatures and seal (WORKFLOW.md §6).

    contract: awaiting_signatures -sign (each party; the last one)-> signed -fund-> funded
              awaiting_signatures | signed -cancel-> cancelled

:func:`open_contract` (a helper of ``negotiations.accept_offer``, never commits)
creates the contract and renders its three PDFs from the versioned templates.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from flask import current_app

from app.documents import (
    ContractData,
    Milestone,
    Party,
    hub_party,
    render_contract,
    render_nda,
    render_subcontract,
    sha256_hex,
)
from app.documents.templates import CURRENT_VERSIONS, TemplateKind
from app.extensions import db
from app.integrations.storage import get_storage
from app.models import (
    Contract,
    ContractDocument,
    ContractDocumentKind,
    ContractStatus,
    Offer,
    OfferForward,
    OfferVersion,
    User,
)
from app.services import audit

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
                 data={"offer_id": offer.id, "version": version.number, "client_price_minor": contract.client_price_minor,
                       "documents": {d.kind.value: d.sha256 for d in contract.documents}})
    return contract
