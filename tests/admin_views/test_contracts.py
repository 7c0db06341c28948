"""The back office's contracts: the list (awaiting signatures first), the contract page with the full
signature trail, signing as the hub, cancelling with a reason, downloads, and who may see it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Contract, ContractDocumentKind, ContractStatus, Notification, Signature, SignerRole
from app.services import audit, uow
from tests.admin_views.conftest import snapshot
from tests.conftest import login
from tests.services.test_contracts import (  # noqa: F401  (fixtures)
    EXPERT_NAME,
    Deal,
    _deal,
    _sign,
    _sign_all,
    hub_seal,
    hub_seal_dir,
)

K = ContractDocumentKind


@pytest.fixture
def deal(f: Any) -> Deal:
    return _deal(f)


def _sign_data(document: Any, name: str, **overrides: Any) -> dict[str, str]:
    prefix = f"d{document.id}-"
    data = {f"{prefix}typed_name": name, f"{prefix}consent": "y", f"{prefix}document_sha256": document.sha256}
    data.update({f"{prefix}{k}": v for k, v in overrides.items()})
    return data


def test_list_shows_awaiting_first_and_filters(admin_client, f, deal):
    signed = _deal(f, email="second.expert@experts.example", pseudonym="M3X9")
    _sign_all(signed)
    html = admin_client.get("/admin/contracts/").get_data(as_text=True)
    assert html.index(deal.contract.reference) < html.index(signed.contract.reference)
    only_signed = admin_client.get("/admin/contracts/?status=signed").get_data(as_text=True)
    assert signed.contract.reference in only_signed and deal.contract.reference not in only_signed
    assert admin_client.get("/admin/contracts/?status=bogus").status_code == 200


def test_contract_page_shows_the_full_signature_trail(admin_client, deal):
    token = audit.client_ip.set("198.51.100.9")
    try:
        _sign(deal, K.NDA, SignerRole.EXPERT, typed_name=EXPERT_NAME.lower(), user_agent="ExpertBrowser/2.0")
    finally:
        audit.client_ip.reset(token)
    html = admin_client.get(f"/admin/contracts/{deal.contract.id}").get_data(as_text=True)
    for kind in K:
        assert f'data-testid="document-{kind.value}"' in html
        assert f'data-testid="form-sign-{kind.value}"' in html
    row = html[html.index('data-testid="signature-nda-expert"'):]
    row = row[: row.index("</tr>")]
    for value in (EXPERT_NAME, EXPERT_NAME.lower(), "198.51.100.9", "ExpertBrowser/2.0", deal.doc(K.NDA).sha256):
        assert value in row
    assert "4,600.00" in html and "4,000.00" in html and 'data-testid="form-cancel"' in html


def test_sign_as_the_hub(admin_client, admin, deal):
    document = deal.doc(K.CONTRACT)
    response = admin_client.post(f"/admin/contracts/{deal.contract.id}/documents/{document.id}/sign",
                                 data=_sign_data(document, admin.full_name))
    assert response.status_code == 302
    signature = db.session.scalar(sa.select(Signature).where(Signature.document_id == document.id))
    assert signature.role is SignerRole.HUB and signature.user_id == admin.id


def test_sign_as_the_hub_with_the_wrong_name_changes_nothing(app, admin_client, deal):
    document = deal.doc(K.CONTRACT)
    before = snapshot(app)
    response = admin_client.post(f"/admin/contracts/{deal.contract.id}/documents/{document.id}/sign",
                                 data=_sign_data(document, "Somebody Else"))
    assert response.status_code == 422 and "not the name of your account" in response.get_data(as_text=True)
    assert 'value="Somebody Else"' in response.get_data(as_text=True)
    assert snapshot(app) == before


def test_the_hubs_signature_completes_the_contract(admin_client, admin, deal):
    _sign_all(deal, skip=(K.SUBCONTRACT, SignerRole.HUB))
    document = deal.doc(K.SUBCONTRACT)
    response = admin_client.post(f"/admin/contracts/{deal.contract.id}/documents/{document.id}/sign",
                                 data=_sign_data(document, admin.full_name), follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "documents are sealed" in html
    db.session.expire_all()
    assert db.session.get(Contract, deal.contract.id).status is ContractStatus.SIGNED
    for kind in K:
        assert f'data-testid="download-sealed-{kind.value}"' in html
    sealed = admin_client.get(f"/admin/contracts/documents/{deal.doc(K.NDA).id}/download?which=sealed")
    assert sealed.status_code == 200 and sealed.data.startswith(b"%PDF")
    assert f"{deal.contract.reference}-nda-sealed.pdf" in sealed.headers["Content-Disposition"]
    assert 'data-testid="form-cancel"' in html  # signed, not yet funded: still cancellable


def test_cancel_with_a_reason(admin_client, deal):
    response = admin_client.post(f"/admin/contracts/{deal.contract.id}/cancel",
                                 data={"cancel-reason": "The company went out of business."})
    assert response.status_code == 302
    db.session.expire_all()
    contract = db.session.get(Contract, deal.contract.id)
    assert contract.status is ContractStatus.CANCELLED and contract.status_note == "The company went out of business."
    kinds = set(db.session.scalars(sa.select(Notification.kind).where(
        Notification.user_id.in_([deal.owner.id, deal.expert.id]))))
    assert kinds == {"contract.cancelled"}
    html = admin_client.get(f"/admin/contracts/{contract.id}").get_data(as_text=True)
    assert 'data-testid="form-cancel"' not in html and "form-sign-" not in html


def test_cancel_without_a_reason_changes_nothing(app, admin_client, deal):
    before = snapshot(app)
    response = admin_client.post(f"/admin/contracts/{deal.contract.id}/cancel", data={"cancel-reason": " "})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_only_staff(app, deal):
    owner = login(app.test_client(), deal.owner)
    assert owner.get("/admin/contracts/").status_code == 403
    assert owner.get(f"/admin/contracts/{deal.contract.id}").status_code == 403
    assert owner.post(f"/admin/contracts/{deal.contract.id}/cancel", data={"cancel-reason": "x"}).status_code == 403
    anonymous = app.test_client().get("/admin/contracts/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    uow.rollback()
    assert db.session.get(Contract, deal.contract.id).status is ContractStatus.AWAITING_SIGNATURES


def test_unknown_contract_is_404(admin_client):
    assert admin_client.get("/admin/contracts/999999").status_code == 404
    assert admin_client.get("/admin/contracts/documents/999999/download?which=original").status_code == 404
