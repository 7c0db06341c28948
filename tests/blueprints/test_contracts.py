"""The parties' contract pages, downloads and signatures, and the public verification page."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.integrations.storage import get_storage
from app.models import SIGNERS, ContractDocumentKind, ContractStatus, Signature, SignerRole
from app.services import contracts, uow
from tests.conftest import login
from tests.services.test_contracts import (  # noqa: F401  (fixtures)
    CLIENT_AMOUNTS,
    EXPERT_AMOUNTS,
    EXPERT_EMAIL,
    EXPERT_NAME,
    Deal,
    _deal,
    _pdf_everything,
    _sign_all,
    hub_seal,
    hub_seal_dir,
    modified_copy,
)

K = ContractDocumentKind


@pytest.fixture
def deal(f: Any) -> Deal:
    return _deal(f)


def _as(app: Any, user: Any) -> Any:
    return login(app.test_client(), user)


def _sign_data(document: Any, **overrides: Any) -> dict[str, Any]:
    prefix = f"d{document.id}-"
    data = {f"{prefix}typed_name": "Olga Owner", f"{prefix}consent": "y", f"{prefix}document_sha256": document.sha256}
    data.update({f"{prefix}{k}": v for k, v in overrides.items()})
    return data


# The company --------------------------------------------------------------------------------


def test_company_owner_sees_contract_and_nda_and_signs(app, deal):
    client = _as(app, deal.owner)
    page = client.get(f"/company/contracts/{deal.contract.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="document-contract"' in html and 'data-testid="document-nda"' in html
    assert 'data-testid="document-subcontract"' not in html
    assert deal.doc(K.CONTRACT).sha256 in html and "4,600.00" in html
    assert 'data-testid="sign-form-contract"' in html and "Olga Owner" in html
    assert "funds held by Plasticonnect until you accept the work" in html
    assert "Expert K7Q2" in html

    document = deal.doc(K.CONTRACT)
    response = client.post(f"/company/contracts/documents/{document.id}/sign", data=_sign_data(document),
                           headers={"User-Agent": "Browser/1.0"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/company/contracts/{deal.contract.id}")
    signature = db.session.scalar(sa.select(Signature).where(Signature.document_id == document.id))
    assert signature is not None and signature.user_agent == "Browser/1.0" and signature.ip_address == "127.0.0.1"
    after = client.get(f"/company/contracts/{deal.contract.id}").get_data(as_text=True)
    assert 'data-testid="sign-form-contract"' not in after and 'data-testid="sign-form-nda"' in after


@pytest.mark.parametrize(("overrides", "status", "message"), [
    ({"typed_name": "Olga Otherwise"}, 422, "not the name of your account"),
    ({"document_sha256": "a" * 64}, 422, "changed since you opened it"),
    ({"consent": ""}, 400, "Tick the box"),
])
def test_company_sign_refusals_keep_what_was_typed(app, deal, overrides, status, message):
    client = _as(app, deal.owner)
    document = deal.doc(K.NDA)
    response = client.post(f"/company/contracts/documents/{document.id}/sign", data=_sign_data(document, **overrides))
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html.replace("&#39;", "'")
    typed = overrides.get("typed_name", "Olga Owner")
    assert re.search(rf'name="d{document.id}-typed_name"[^>]*value="{typed}"', html)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


def test_a_member_reads_but_cannot_sign(app, deal):
    client = _as(app, deal.member)
    html = client.get(f"/company/contracts/{deal.contract.id}").get_data(as_text=True)
    assert "sign-form-" not in html and 'data-testid="owner-signs"' in html
    document = deal.doc(K.CONTRACT)
    response = client.post(f"/company/contracts/documents/{document.id}/sign",
                           data=_sign_data(document, typed_name="Max Member"))
    assert response.status_code == 403
    assert "Only an owner" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


def test_company_visibility(app, f, deal):
    client = _as(app, deal.owner)
    sub = deal.doc(K.SUBCONTRACT)
    assert client.get(f"/company/contracts/documents/{sub.id}/download?which=original").status_code == 404
    assert client.get(f"/company/contracts/documents/{sub.id}/preview").status_code == 404
    assert client.post(f"/company/contracts/documents/{sub.id}/sign", data=_sign_data(sub)).status_code == 404
    assert client.get(f"/company/contracts/documents/{deal.doc(K.NDA).id}/download?which=bogus").status_code == 404
    other = _as(app, f.company_user(f.company()))
    assert other.get(f"/company/contracts/{deal.contract.id}").status_code == 404
    contract_doc = deal.doc(K.CONTRACT)
    assert other.get(f"/company/contracts/documents/{contract_doc.id}/download?which=original").status_code == 404
    assert _as(app, deal.expert).get(f"/company/contracts/{deal.contract.id}").status_code == 403
    anonymous = app.test_client().get(f"/company/contracts/{deal.contract.id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_company_list(app, deal):
    html = _as(app, deal.member).get("/company/contracts").get_data(as_text=True)
    assert deal.contract.reference in html and f"/company/contracts/{deal.contract.id}" in html
    assert "Expert K7Q2" in html and EXPERT_NAME not in html


def test_downloads_are_attachments_with_safe_headers(app, deal):
    client = _as(app, deal.owner)
    document = deal.doc(K.CONTRACT)
    response = client.get(f"/company/contracts/documents/{document.id}/download?which=original")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert f"{deal.contract.reference}-contract.pdf" in response.headers["Content-Disposition"]
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    preview = client.get(f"/company/contracts/documents/{document.id}/preview")
    assert preview.status_code == 200 and preview.headers["Content-Disposition"].startswith("inline")
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview.headers["Content-Security-Policy"]
    assert client.get(f"/company/contracts/documents/{document.id}/download?which=sealed").status_code == 404


# The expert ---------------------------------------------------------------------------------


def test_expert_sees_subcontract_and_nda_and_signs(app, deal):
    client = _as(app, deal.expert)
    html = client.get(f"/contracts/{deal.contract.id}").get_data(as_text=True)
    assert 'data-testid="document-subcontract"' in html and 'data-testid="document-nda"' in html
    assert 'data-testid="document-contract"' not in html
    assert "4,000.00" in html and EXPERT_NAME in html  # the name to type, shown to the expert only
    for amount in CLIENT_AMOUNTS:
        assert amount not in html
    document = deal.doc(K.SUBCONTRACT)
    response = client.post(f"/contracts/documents/{document.id}/sign",
                           data=_sign_data(document, typed_name=EXPERT_NAME.upper()))
    assert response.status_code == 302
    assert [s.role for s in deal.doc(K.SUBCONTRACT).signatures] == [SignerRole.EXPERT]
    listing = client.get("/contracts").get_data(as_text=True)
    assert deal.contract.reference in listing and "4,000.00" in listing and "4,600.00" not in listing


def test_expert_visibility(app, f, deal):
    client = _as(app, deal.expert)
    contract_doc = deal.doc(K.CONTRACT)
    assert client.get(f"/contracts/documents/{contract_doc.id}/download?which=original").status_code == 404
    assert client.get(f"/contracts/documents/{contract_doc.id}/preview").status_code == 404
    assert client.post(f"/contracts/documents/{contract_doc.id}/sign",
                       data=_sign_data(contract_doc, typed_name=EXPERT_NAME)).status_code == 404
    other = _as(app, f.expert().user)
    assert other.get(f"/contracts/{deal.contract.id}").status_code == 404
    assert other.get(f"/contracts/documents/{deal.doc(K.NDA).id}/download?which=original").status_code == 404
    assert _as(app, deal.owner).get(f"/contracts/{deal.contract.id}").status_code == 403


# After everyone signed ------------------------------------------------------------------------


def test_signed_pages_offer_sealed_downloads_and_keep_anonymity(app, deal):
    _sign_all(deal, skip=(K.CONTRACT, SignerRole.COMPANY))
    owner = _as(app, deal.owner)
    document = deal.doc(K.CONTRACT)
    response = owner.post(f"/company/contracts/documents/{document.id}/sign", data=_sign_data(document),
                          follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Every party has signed" in html
    assert db.session.get(type(deal.contract), deal.contract.id).status is ContractStatus.SIGNED
    assert 'data-testid="download-sealed"' in html and 'data-testid="download-certificate"' in html
    assert "Pay into escrow" in html or "pay the price into escrow" in html

    company_texts = [html, owner.get("/company/contracts").get_data(as_text=True)]
    for d in contracts.documents_for(deal.owner, deal.contract):
        for which in contracts.FILE_KINDS:
            r = owner.get(f"/company/contracts/documents/{d.id}/download?which={which}")
            assert r.status_code == 200
            company_texts.append(_pdf_everything(r.data) + r.headers["Content-Disposition"])
    for text in company_texts:
        for marker in ("Geheimname", EXPERT_EMAIL, *EXPERT_AMOUNTS):
            assert marker not in text, marker

    expert = _as(app, deal.expert)
    expert_texts = [expert.get(f"/contracts/{deal.contract.id}").get_data(as_text=True),
                    expert.get("/contracts").get_data(as_text=True)]
    for d in contracts.documents_for(deal.expert, deal.contract):
        for which in contracts.FILE_KINDS:
            r = expert.get(f"/contracts/documents/{d.id}/download?which={which}")
            assert r.status_code == 200
            expert_texts.append(_pdf_everything(r.data))
    for text in expert_texts:
        for marker in CLIENT_AMOUNTS:
            assert marker not in text, marker


# Verification -----------------------------------------------------------------------------------


def _upload(client: Any, data: bytes, name: str = "doc.pdf") -> Any:
    return client.post("/verify", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_verify_page(app, deal):
    client = app.test_client()
    assert client.get("/verify").status_code == 200
    _sign_all(deal)
    storage = get_storage()
    sealed = storage.get(deal.doc(K.SUBCONTRACT).sealed_storage_key)

    ok = _upload(client, sealed).get_data(as_text=True)
    assert 'data-verdict="on_record"' in ok and deal.contract.reference in ok and "unchanged" in ok
    for secret in (EXPERT_NAME, *EXPERT_AMOUNTS, *CLIENT_AMOUNTS, "Olga Owner"):
        assert secret not in ok
    changed = _upload(client, modified_copy(sealed)).get_data(as_text=True)
    assert 'data-verdict="changed"' in changed and deal.contract.reference not in changed
    original = _upload(client, storage.get(deal.doc(K.SUBCONTRACT).storage_key)).get_data(as_text=True)
    assert 'data-verdict="not_sealed"' in original
    assert 'data-verdict="not_pdf"' in _upload(client, b"plain text").get_data(as_text=True)
    missing = client.post("/verify", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and "Choose a PDF" in missing.get_data(as_text=True)


def test_verify_refuses_files_over_25_mb(app):
    response = _upload(app.test_client(), b"%PDF-1.7\n" + b"0" * (25 * 1024 * 1024))
    assert response.status_code == 413 and "25 MB" in response.get_data(as_text=True)


def test_verify_is_rate_limited(app):
    app.config["VERIFY_RATE_LIMIT"] = "2 per hour"
    client = app.test_client()
    assert _upload(client, b"x").status_code == 200
    assert _upload(client, b"x").status_code == 200
    assert _upload(client, b"x").status_code == 429


def test_all_roles_sign_through_the_pages(app, deal):
    """Every signature through HTTP (company, expert, hub in the back office) ends SIGNED."""
    from datetime import UTC, datetime

    deal.staff.totp_enabled_at = datetime.now(UTC)
    uow.commit()
    clients = {SignerRole.COMPANY: (_as(app, deal.owner), "/company/contracts/documents/{id}/sign", "Olga Owner"),
               SignerRole.EXPERT: (_as(app, deal.expert), "/contracts/documents/{id}/sign", EXPERT_NAME),
               SignerRole.HUB: (_as(app, deal.staff),
                                f"/admin/contracts/{deal.contract.id}/documents/{{id}}/sign", "Hanna Hub")}
    for kind in K:
        document = deal.doc(kind)
        for role in SIGNERS[kind]:
            client, url, name = clients[role]
            response = client.post(url.format(id=document.id), data=_sign_data(document, typed_name=name))
            assert response.status_code == 302, (kind, role, response.get_data(as_text=True)[:500])
    db.session.expire_all()
    assert db.session.get(type(deal.contract), deal.contract.id).status is ContractStatus.SIGNED
