"""open_contract: the contract of an accepted offer and its three PDFs (company, expert, NDA views)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from app.extensions import db
from app.integrations.storage import get_storage
from app.models import ContractDocumentKind, ContractStatus, OfferForward
from app.services.contracts import milestone_amounts, new_payment_reference, open_contract


def _text(key: str) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(get_storage().get(key))).pages)


def test_open_contract_renders_the_three_documents_with_the_right_prices(f):
    offer = f.offer(milestones=(("Studies", 30), ("Report", 70)), price_minor=400000)
    offer.expert.user.full_name = "Dr Renate Realname"
    version = offer.current_version
    forward = OfferForward(offer_id=offer.id, version_id=version.id, expert_price_minor=400000, fee_minor=60000,
                           fee_basis_points=1500, client_price_minor=460000, currency="EUR",
                           forwarded_by_id=f.admin().id)
    db.session.add(forward)
    db.session.flush()

    contract = open_contract(offer, forward, actor=f.admin())

    assert contract.status is ContractStatus.AWAITING_SIGNATURES
    assert contract.client_price_minor == 460000 and contract.expert_price_minor == 400000
    docs = {d.kind: d for d in contract.documents}
    assert set(docs) == set(ContractDocumentKind)
    company_copy = _text(docs[ContractDocumentKind.CONTRACT].storage_key)
    assert "4,600.00" in company_copy and f"Expert {offer.expert.pseudonym}" in company_copy
    assert "Renate Realname" not in company_copy and "4,000.00" not in company_copy
    sub = _text(docs[ContractDocumentKind.SUBCONTRACT].storage_key)
    assert "4,000.00" in sub and "Renate Realname" in sub and "4,600.00" not in sub
    nda = _text(docs[ContractDocumentKind.NDA].storage_key)
    assert "Renate Realname" not in nda and offer.expert.pseudonym in nda


@pytest.mark.parametrize(("price", "shares", "expected"), [
    (1000, [30, 70], [300, 700]),
    (1001, [33, 33, 34], [330, 330, 341]),
    (999, [], []),
])
def test_milestone_amounts_add_up(price, shares, expected):
    assert milestone_amounts(price, shares) == expected
    assert sum(expected) in (price, 0)


def test_payment_references_are_unambiguous():
    refs = {new_payment_reference() for _ in range(200)}
    assert len(refs) == 200
    assert all(len(r) == 13 and not set(r[4:]) & set("01OIL") for r in refs)
