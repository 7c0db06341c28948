"""Signing, sealing, cancelling, downloading and verifying contracts (app/services/contracts.py)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations import sealing
from app.integrations.storage import get_storage
from app.models import (
    SIGNERS,
    AuditEvent,
    Contract,
    ContractDocument,
    ContractDocumentKind,
    ContractStatus,
    EmailMessage,
    JobStatus,
    Notification,
    Signature,
    SignerRole,
    User,
)
from app.services import audit, contracts, uow
from app.services.transitions import transition
from app.workflows.contracts import CONTRACT_WORKFLOW
from tests.admin_views.conftest import snapshot

K = ContractDocumentKind


@pytest.fixture(scope="session")
def hub_seal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hub key and certificate for the whole run (RSA-3072 takes a moment to make)."""
    return tmp_path_factory.getbasetemp() / "hub-seal"


@pytest.fixture(autouse=True)
def hub_seal(app: Any, hub_seal_dir: Path) -> Path:
    app.config["HUB_SIGNING_KEY_PATH"] = str(hub_seal_dir / "hub-seal-key.pem")
    app.config["HUB_SIGNING_CERT_PATH"] = str(hub_seal_dir / "hub-seal-cert.pem")
    return hub_seal_dir


@dataclass
class Deal:
    contract: Contract
    owner: User
    member: User
    expert: User
    staff: User

    def doc(self, kind: ContractDocumentKind) -> ContractDocument:
        return next(d for d in self.contract.documents if d.kind is kind)

    def signer(self, role: SignerRole) -> User:
        return {SignerRole.COMPANY: self.owner, SignerRole.EXPERT: self.expert, SignerRole.HUB: self.staff}[role]


EXPERT_NAME = "Renate Geheimname"
EXPERT_EMAIL = "renate.geheim@experts.example"
# The expert price 4,000.00 in milestones of 40/60 %; the client price 4,600.00 likewise.
EXPERT_AMOUNTS = ("4,000.00", "1,600.00", "2,400.00")
CLIENT_AMOUNTS = ("4,600.00", "1,840.00", "2,760.00")


def _deal(f: Any, *, email: str = EXPERT_EMAIL, pseudonym: str = "K7Q2") -> Deal:
    expert_user = f.user(full_name=EXPERT_NAME, email=email)
    expert = f.expert(user=expert_user, pseudonym=pseudonym)
    company = f.company()
    owner = f.company_user(company, full_name="Olga Owner")
    member = f.company_user(company, owner=False, full_name="Max Member")
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    staff = f.admin(full_name="Hanna Hub")
    contract = f.contract(job, expert, expert_price_minor=400000, fee_minor=60000, actor=staff)
    uow.commit()
    return Deal(contract, owner, member, expert_user, staff)


def _sign(deal: Deal, kind: ContractDocumentKind, role: SignerRole, **kw: Any) -> Signature:
    document = deal.doc(kind)
    user = kw.pop("actor", deal.signer(role))
    return contracts.sign_document(
        document.id, actor=user, typed_name=kw.pop("typed_name", user.full_name),
        document_sha256=kw.pop("document_sha256", document.sha256), user_agent=kw.pop("user_agent", "pytest-agent"),
    )


def _sign_all(deal: Deal, *, skip: tuple[ContractDocumentKind, SignerRole] | None = None) -> None:
    for kind in ContractDocumentKind:
        for role in SIGNERS[kind]:
            if (kind, role) != skip:
                _sign(deal, kind, role)


def _actions(**where: Any) -> list[str]:
    query = sa.select(AuditEvent.action).order_by(AuditEvent.id)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return list(db.session.scalars(query))


def _kinds(user: User) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


@pytest.fixture
def deal(f: Any) -> Deal:
    return _deal(f)


@pytest.fixture
def client_ip() -> Any:
    token = audit.client_ip.set("203.0.113.7")
    yield "203.0.113.7"
    audit.client_ip.reset(token)


# Roles and visibility ----------------------------------------------------------------------------


def test_signer_roles_and_documents(deal, f):
    c = deal.contract
    stranger = f.company_user(f.company())
    assert contracts.signer_role(deal.owner, c) is SignerRole.COMPANY
    assert contracts.signer_role(deal.member, c) is None
    assert contracts.signer_role(deal.expert, c) is SignerRole.EXPERT
    assert contracts.signer_role(deal.staff, c) is SignerRole.HUB
    assert contracts.signer_role(stranger, c) is None
    assert [d.kind for d in contracts.documents_for(deal.owner, c)] == [K.CONTRACT, K.NDA]
    assert [d.kind for d in contracts.documents_for(deal.member, c)] == [K.CONTRACT, K.NDA]
    assert [d.kind for d in contracts.documents_for(deal.expert, c)] == [K.SUBCONTRACT, K.NDA]
    assert [d.kind for d in contracts.documents_for(deal.staff, c)] == [K.CONTRACT, K.SUBCONTRACT, K.NDA]
    assert contracts.documents_for(stranger, c) == []


def test_contract_page_hides_the_expert_from_the_company(deal):
    _sign(deal, K.NDA, SignerRole.EXPERT)
    page = contracts.contract_page(deal.contract, actor=deal.member)
    assert page.price_minor == 460000 and page.name_to_type == ""
    nda = next(d for d in page.documents if d.document.kind is K.NDA)
    expert_line = next(line for line in nda.lines if line.role is SignerRole.EXPERT)
    assert expert_line.display_name == "Expert K7Q2" and expert_line.signed_at is not None
    assert not any(d.can_sign for d in page.documents)
    expert_page = contracts.contract_page(deal.contract, actor=deal.expert)
    assert expert_page.price_minor == 400000 and expert_page.name_to_type == EXPERT_NAME
    assert [d.can_sign for d in expert_page.documents] == [True, False]


# Signing ---------------------------------------------------------------------------------------


def test_sign_records_the_click_wrap_signature(deal, client_ip):
    document = deal.doc(K.CONTRACT)
    signature = _sign(deal, K.CONTRACT, SignerRole.COMPANY, typed_name="  olga   OWNER ")

    db.session.expire_all()
    signature = db.session.get(Signature, signature.id)
    assert signature.role is SignerRole.COMPANY and signature.user_id == deal.owner.id
    assert signature.typed_name == "olga OWNER"
    assert signature.ip_address == client_ip and signature.user_agent == "pytest-agent"
    assert signature.document_sha256 == document.sha256 and signature.signed_at is not None
    assert _actions(entity="contract_documents", entity_id=document.id) == ["contract_document.signed"]
    assert deal.contract.status is ContractStatus.AWAITING_SIGNATURES
    assert _kinds(deal.owner) == []


def test_typed_name_ignores_case_accents_and_spaces(f):
    deal = _deal(f)
    deal.owner.full_name = "José  Müller-Ñúñez"
    uow.commit()
    _sign(deal, K.CONTRACT, SignerRole.COMPANY, typed_name="jose muller-nunez")
    assert len(deal.doc(K.CONTRACT).signatures) == 1


def _refusal_cases() -> list[Any]:
    return [
        pytest.param("member", K.CONTRACT, {}, PermissionDenied, id="member-signs"),
        pytest.param("stranger", K.CONTRACT, {}, NotFound, id="other-company"),
        pytest.param("expert", K.CONTRACT, {}, NotFound, id="expert-signs-contract"),
        pytest.param("owner", K.SUBCONTRACT, {}, NotFound, id="company-signs-subcontract"),
        pytest.param("owner", K.NDA, {"document_sha256": "0" * 64}, ValidationFailed, id="outdated-sha"),
        pytest.param("owner", K.NDA, {"typed_name": "Someone Else"}, ValidationFailed, id="wrong-name"),
        pytest.param("expert", K.NDA, {"typed_name": "Expert K7Q2"}, ValidationFailed, id="pseudonym-not-name"),
    ]


@pytest.mark.parametrize(("who", "kind", "overrides", "error"), _refusal_cases())
def test_sign_refusals_change_nothing(app, f, deal, who, kind, overrides, error):
    actor = {"member": deal.member, "stranger": f.company_user(f.company()), "expert": deal.expert,
             "owner": deal.owner}[who]
    uow.commit()
    before = snapshot(app)
    with pytest.raises(error) as info:
        _sign(deal, kind, SignerRole.COMPANY, actor=actor, **overrides)
    uow.rollback()
    assert snapshot(app) == before
    if overrides.get("document_sha256"):
        assert "changed since you opened it" in str(info.value)


def test_sign_twice_is_refused(app, deal):
    _sign(deal, K.NDA, SignerRole.EXPERT)
    before = snapshot(app)
    with pytest.raises(ValidationFailed, match="already signed"):
        _sign(deal, K.NDA, SignerRole.EXPERT)
    uow.rollback()
    assert snapshot(app) == before


def test_sign_a_cancelled_contract_is_refused(app, deal):
    contracts.cancel_contract(deal.contract.id, actor=deal.staff, reason="The company withdrew.")
    before = snapshot(app)
    with pytest.raises(InvalidTransition, match="can no longer be signed"):
        _sign(deal, K.CONTRACT, SignerRole.COMPANY)
    uow.rollback()
    assert snapshot(app) == before


def test_the_last_signature_signs_seals_and_notifies(app, deal, hub_seal):
    _sign_all(deal, skip=(K.NDA, SignerRole.HUB))
    assert deal.contract.status is ContractStatus.AWAITING_SIGNATURES
    assert all(d.sealed_storage_key is None for d in deal.contract.documents)

    _sign(deal, K.NDA, SignerRole.HUB)

    db.session.expire_all()
    contract = db.session.get(Contract, deal.contract.id)
    assert contract.status is ContractStatus.SIGNED and contract.signed_at is not None
    assert _actions(entity="contracts", entity_id=contract.id) == ["contract.awaiting_signatures", "contract.signed"]
    storage = get_storage()
    cert_path = app.config["HUB_SIGNING_CERT_PATH"]
    for document in contract.documents:
        assert document.sealed_at is not None and document.certificate_storage_key
        sealed = storage.get(document.sealed_storage_key)
        check = sealing.verify_sealed_pdf(sealed, cert_path=cert_path)
        assert check.ok, check.summary
        assert sealed.startswith(storage.get(document.storage_key))  # an incremental update of what was signed
        assert _actions(entity="contract_documents", entity_id=document.id)[-1] == "contract_document.sealed"
        certificate = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
            storage.get(document.certificate_storage_key))).pages)
        assert document.sealed_sha256 in certificate.replace("\n", "")
    assert _kinds(deal.owner) == ["contract.signed_company"]
    assert _kinds(deal.member) == ["contract.signed_company"]
    assert _kinds(deal.expert) == ["contract.signed_expert"]
    assert "contract.signed_staff" in _kinds(deal.staff)

    # Verification: the exact sealed copy, a modified copy, the unsealed original, not a PDF.
    nda = next(d for d in contract.documents if d.kind is K.NDA)
    sealed = storage.get(nda.sealed_storage_key)
    result = contracts.verify_upload(sealed)
    assert result.verdict == "on_record" and result.ok
    assert f"contract {contract.reference}" in result.message and "unchanged" in result.message
    assert "non-disclosure agreement" in result.message
    changed = contracts.verify_upload(modified_copy(sealed))
    assert changed.verdict == "changed" and "changed after it was sealed" in changed.message
    assert changed.reference is None and contract.reference not in changed.message
    assert contracts.verify_upload(sealed + b"\n%tampered\n").verdict == "changed"
    tampered = bytearray(sealed)
    at = tampered.index(b"Non-disclosure") if b"Non-disclosure" in tampered else len(tampered) // 3
    tampered[at] = ord("X") if tampered[at] != ord("X") else ord("Y")
    assert contracts.verify_upload(bytes(tampered)).verdict in {"changed", "unreadable"}
    assert contracts.verify_upload(storage.get(nda.storage_key)).verdict == "not_sealed"
    assert contracts.verify_upload(b"hello").verdict == "not_pdf"


def test_the_certificates_name_the_expert_only_where_the_company_cannot_read(deal):
    _sign_all(deal)
    storage = get_storage()
    for document in deal.contract.documents:
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
            storage.get(document.certificate_storage_key))).pages)
        if document.kind is K.SUBCONTRACT:
            assert EXPERT_NAME in text
        else:
            assert EXPERT_NAME not in text and EXPERT_EMAIL not in text and "4,000.00" not in text
            if document.kind is K.NDA:
                assert "Expert K7Q2" in text


# Cancelling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [False, True])
def test_cancel_contract(deal, signed):
    if signed:
        _sign_all(deal)
    contract = contracts.cancel_contract(deal.contract.id, actor=deal.staff, reason="  The job was withdrawn. ")

    assert contract.status is ContractStatus.CANCELLED and contract.cancelled_at is not None
    assert contract.status_note == "The job was withdrawn."
    assert _actions(entity="contracts", entity_id=contract.id)[-1] == "contract.cancelled"
    assert _kinds(deal.owner)[-1] == "contract.cancelled" and _kinds(deal.expert)[-1] == "contract.cancelled"


@pytest.mark.parametrize(("who", "reason", "error"), [
    ("owner", "No.", PermissionDenied),
    ("expert", "No.", PermissionDenied),
    ("stranger", "No.", NotFound),
    ("staff", "   ", ValidationFailed),
])
def test_cancel_refusals_change_nothing(app, f, deal, who, reason, error):
    actor = {"owner": deal.owner, "expert": deal.expert, "staff": deal.staff,
             "stranger": f.company_user(f.company())}[who]
    uow.commit()
    before = snapshot(app)
    with pytest.raises(error):
        contracts.cancel_contract(deal.contract.id, actor=actor, reason=reason)
    uow.rollback()
    assert snapshot(app) == before


def test_a_funded_contract_cannot_be_cancelled(app, deal):
    _sign_all(deal)
    contract = db.session.get(Contract, deal.contract.id)
    transition(contract, CONTRACT_WORKFLOW, ContractStatus.FUNDED, actor=deal.staff)
    contract.funded_at = contract.signed_at
    uow.commit()
    before = snapshot(app)
    with pytest.raises(InvalidTransition):
        contracts.cancel_contract(contract.id, actor=deal.staff, reason="Too late.")
    uow.rollback()
    assert snapshot(app) == before


def test_cancel_an_unknown_contract(deal):
    with pytest.raises(NotFound):
        contracts.cancel_contract(999_999, actor=deal.staff, reason="x")


# Files ------------------------------------------------------------------------------------------


def test_open_contract_file_names_audits_and_guards(deal):
    contract_doc, sub, nda = deal.doc(K.CONTRACT), deal.doc(K.SUBCONTRACT), deal.doc(K.NDA)
    name, data = contracts.open_contract_file(contract_doc.id, actor=deal.member, which="original")
    assert name == f"{deal.contract.reference}-contract.pdf" and data.startswith(b"%PDF")
    assert _actions(entity="contract_documents", entity_id=contract_doc.id) == ["contract_document.downloaded"]
    with pytest.raises(NotFound):
        contracts.open_contract_file(sub.id, actor=deal.owner, which="original")
    with pytest.raises(NotFound):
        contracts.open_contract_file(contract_doc.id, actor=deal.expert, which="original")
    with pytest.raises(NotFound, match="not sealed yet"):
        contracts.open_contract_file(nda.id, actor=deal.expert, which="sealed")
    with pytest.raises(NotFound):
        contracts.open_contract_file(nda.id, actor=deal.expert, which="bogus")  # type: ignore[arg-type]

    _sign_all(deal)
    name, data = contracts.open_contract_file(nda.id, actor=deal.expert, which="sealed")
    assert name == f"{deal.contract.reference}-nda-sealed.pdf"
    name, _data = contracts.open_contract_file(sub.id, actor=deal.expert, which="certificate", inline=True)
    assert name == f"{deal.contract.reference}-subcontract-certificate.pdf"
    assert _actions(entity="contract_documents", entity_id=sub.id)[-1] == "contract_document.viewed"


def test_other_companies_see_nothing(f, deal):
    stranger = f.company_user(f.company())
    for document in deal.contract.documents:
        with pytest.raises(NotFound):
            contracts.open_contract_file(document.id, actor=stranger, which="original")
    with pytest.raises(NotFound):
        contracts.load_contract(deal.contract.id, actor=stranger)
    assert contracts.contracts_for(stranger) == []
    assert contracts.contracts_for(deal.member) == [deal.contract]
    assert contracts.contracts_for(deal.expert) == [deal.contract]


# Anonymity --------------------------------------------------------------------------------------


def modified_copy(sealed: bytes) -> bytes:
    """The sealed PDF with one change appended as an incremental update (what an editor would save)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    writer.root["/PieceInfo"] = generic.NameObject("/Changed")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdf_everything(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    meta = " ".join(f"{k}={v}" for k, v in (reader.metadata or {}).items())
    return f"{text}\n{meta}\n{data.decode('latin-1')}"


def test_the_company_never_gets_the_expert_identity_or_price(deal):
    _sign_all(deal)
    company_emails = {deal.owner.email, deal.member.email}
    for document in contracts.documents_for(deal.member, deal.contract):
        for which in contracts.FILE_KINDS:
            name, data = contracts.open_contract_file(document.id, actor=deal.member, which=which)
            everything = _pdf_everything(data) + name
            for marker in ("Geheimname", EXPERT_EMAIL, *EXPERT_AMOUNTS):
                assert marker not in everything, (document.kind, which, marker)
    mails = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address.in_(company_emails))).all()
    assert mails, "the company's users are e-mailed"
    for mail in mails:
        body = mail.subject + mail.body_text + mail.body_html
        assert "Geheimname" not in body and EXPERT_EMAIL not in body and "4,000" not in body


def test_the_expert_never_gets_the_client_price(deal):
    _sign_all(deal)
    for document in contracts.documents_for(deal.expert, deal.contract):
        for which in contracts.FILE_KINDS:
            _name, data = contracts.open_contract_file(document.id, actor=deal.expert, which=which)
            everything = _pdf_everything(data)
            for marker in CLIENT_AMOUNTS:
                assert marker not in everything, (document.kind, which, marker)
    mails = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address == EXPERT_EMAIL)).all()
    assert mails
    for mail in mails:
        assert "4,600" not in mail.body_text + mail.body_html
