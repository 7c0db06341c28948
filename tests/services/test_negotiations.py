"""Negotiation services: forwarding with the hub fee, declining, the company's accept / reject /
negotiate, the two threads and their attachments; audit events, who is told, every refusal with
nothing changed, the not_selected cascade, the award and the contract at the client price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    Contract,
    DocumentKind,
    DocumentReview,
    EmailMessage,
    ExpertiseLevel,
    ExpertSkill,
    JobStatus,
    NegotiationMessage,
    Notification,
    Offer,
    OfferForward,
    OfferStatus,
    ThreadSide,
)
from app.services import negotiations, uow, uploads
from app.services.jobs import FieldErrors

O = OfferStatus  # noqa: E741


def kinds(user: Any) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def actions(entity: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id)
    ))


def count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def status_of(offer: Offer) -> OfferStatus:
    db.session.expire_all()
    return db.session.get(Offer, offer.id).status


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    """A published job with an owner, a member, the job's author; an offer of €4,200.00; an admin; another company."""
    company = f.company()
    owner = f.company_user(company, full_name="Olga Owner")
    member = f.company_user(company, owner=False, full_name="Max Member")
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert = f.expert()
    offer = f.offer(job, expert, milestones=(("Trial", 40), ("Report", 60)))
    admin = f.admin()
    stranger = f.company_user(f.company())
    uow.commit()
    return {"company": company, "owner": owner, "member": member, "job": job, "expert": expert,
            "offer": offer, "admin": admin, "stranger": stranger}


def forwarded(f: Any, w: dict[str, Any], offer: Offer | None = None, **kw: Any) -> Offer:
    offer = offer or w["offer"]
    negotiations.forward_offer(offer.id, actor=w["admin"], **kw)
    return offer


# Fees --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("percent", "fee"), [(Decimal("15"), 63_000), (Decimal("12.5"), 52_500),
                                              (Decimal("0"), 0), (Decimal("0.01"), 42)])
def test_quote_fee_percent_rounds_half_up(app: Any, percent: Decimal, fee: int) -> None:
    quote = negotiations.quote_fee(420_000, "EUR", fee_percent=percent)
    assert quote.fee_minor == fee
    assert quote.client_price_minor == 420_000 + fee
    assert quote.fee_basis_points == int(percent * 100)


def test_quote_fee_half_a_cent_rounds_up(app: Any) -> None:
    # 15 % of 1,001 minor units is 150.15 -> 150; 12.5 % of 1,004 is 125.5 -> 126 (half up, not half even).
    assert negotiations.quote_fee(1_001, "EUR", fee_percent=Decimal("15")).fee_minor == 150
    assert negotiations.quote_fee(1_004, "EUR", fee_percent=Decimal("12.5")).fee_minor == 126


def test_quote_fee_default_is_hub_fee_percent(app: Any) -> None:
    app.config["HUB_FEE_PERCENT"] = 20
    assert negotiations.quote_fee(100_000, "EUR").fee_minor == 20_000


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"fee_percent": Decimal("-1")}, "fee_percent"),
    ({"fee_percent": Decimal("100.5")}, "fee_percent"),
    ({"fee_percent": Decimal("1.234")}, "fee_percent"),
    ({"fee_minor": -1}, "fee_minor"),
    ({"fee_minor": 5, "fee_percent": Decimal("5")}, "fee_minor"),
])
def test_quote_fee_refuses_bad_fees(app: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldErrors) as exc:
        negotiations.quote_fee(100_000, "EUR", **kwargs)
    assert list(exc.value.errors) == [field]


# forward_offer -----------------------------------------------------------------------------


def test_forward_offer_records_the_forward_audits_and_tells_company_and_expert(f: Any, w: dict[str, Any]) -> None:
    fwd = negotiations.forward_offer(w["offer"].id, actor=w["admin"], note="Strong track record on PA66.")

    assert status_of(w["offer"]) is O.FORWARDED
    assert (fwd.expert_price_minor, fwd.fee_minor, fwd.client_price_minor) == (420_000, 63_000, 483_000)
    assert fwd.fee_basis_points == 1500 and fwd.forwarded_by_id == w["admin"].id
    assert fwd.note_to_company == "Strong track record on PA66."
    assert actions("offers", w["offer"].id) == ["offer.forwarded"]
    assert kinds(w["owner"]) == ["offer.forwarded_to_company"]
    assert kinds(w["member"]) == []  # members read the job's page; owners and the author are told
    assert kinds(w["expert"].user) == ["offer.forwarded"]
    company_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == w["owner"].id)).one()
    assert company_note.params["client_price"] == "€4,830.00"
    assert company_note.params["expert"] == f"Expert {w['expert'].pseudonym}"
    assert "€4,200.00" not in str(company_note.params)
    expert_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == w["expert"].user_id)).one()
    assert "4,830" not in str(expert_note.params) and "630" not in str(expert_note.params)


def test_forward_offer_with_a_fixed_fee(f: Any, w: dict[str, Any]) -> None:
    fwd = negotiations.forward_offer(w["offer"].id, actor=w["admin"], fee_minor=50_000)
    assert (fwd.fee_minor, fwd.fee_basis_points, fwd.client_price_minor) == (50_000, None, 470_000)


def test_forward_a_revised_offer_forwards_the_new_version(f: Any, w: dict[str, Any]) -> None:
    offer = f.offer(w["job"], f.expert(), status=O.REVISED, versions=2)
    f.forward(offer, version_id=offer.versions[0].id, expert_price_minor=420_000, fee_minor=63_000,
              client_price_minor=483_000)
    uow.commit()
    fwd = negotiations.forward_offer(offer.id, actor=w["admin"])
    assert fwd.version.number == 2 and fwd.expert_price_minor == 430_000
    assert len(negotiations.forwards_of(offer)) == 2


def _nothing_forwarded(w: dict[str, Any]) -> None:
    assert count(OfferForward) == 0
    assert actions("offers", w["offer"].id) == []
    assert kinds(w["owner"]) == [] and kinds(w["expert"].user) == []


@pytest.mark.parametrize("who", ["owner", "stranger"])
def test_forward_offer_by_non_staff_is_refused(f: Any, w: dict[str, Any], who: str) -> None:
    with pytest.raises(NotFound):  # the company cannot even know a submitted offer exists
        negotiations.forward_offer(w["offer"].id, actor=w[who])
    _nothing_forwarded(w)


def test_forward_offer_by_its_expert_is_forbidden(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(PermissionDenied):
        negotiations.forward_offer(w["offer"].id, actor=w["expert"].user)
    _nothing_forwarded(w)


def test_forward_offer_with_a_negative_fee_changes_nothing(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(FieldErrors):
        negotiations.forward_offer(w["offer"].id, actor=w["admin"], fee_minor=-100)
    uow.rollback()
    assert status_of(w["offer"]) is O.SUBMITTED
    _nothing_forwarded(w)


@pytest.mark.parametrize("status", [O.FORWARDED, O.IN_NEGOTIATION, O.ACCEPTED, O.DECLINED, O.WITHDRAWN])
def test_forward_offer_in_the_wrong_state_is_refused(f: Any, w: dict[str, Any], status: OfferStatus) -> None:
    offer = f.offer(w["job"], f.expert(), status=status)
    uow.commit()
    with pytest.raises(InvalidTransition):
        negotiations.forward_offer(offer.id, actor=w["admin"])
    assert status_of(offer) is status and count(OfferForward) == 0


@pytest.mark.parametrize("job_status", [JobStatus.CLOSED, JobStatus.CANCELLED])
def test_forward_offer_on_a_job_no_longer_published_is_refused(f: Any, w: dict[str, Any],
                                                               job_status: JobStatus) -> None:
    job = f.job(w["company"], status=job_status)
    offer = f.offer(job, f.expert())
    uow.commit()
    with pytest.raises(InvalidTransition, match="no longer open"):
        negotiations.forward_offer(offer.id, actor=w["admin"])
    assert status_of(offer) is O.SUBMITTED and count(OfferForward) == 0


# decline_offer -----------------------------------------------------------------------------


def test_decline_offer_sends_the_reason_to_the_expert(f: Any, w: dict[str, Any]) -> None:
    negotiations.decline_offer(w["offer"].id, actor=w["admin"], reason="The timeline misses the SOP.")
    offer = db.session.get(Offer, w["offer"].id)
    assert offer.status is O.DECLINED and offer.status_note == "The timeline misses the SOP."
    assert actions("offers", offer.id) == ["offer.declined"]
    note = db.session.scalars(sa.select(Notification).where(Notification.user_id == w["expert"].user_id)).one()
    assert note.kind == "offer.declined" and note.params["reason"] == "The timeline misses the SOP."
    assert kinds(w["owner"]) == []


def test_decline_offer_needs_a_reason_and_staff(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        negotiations.decline_offer(w["offer"].id, actor=w["admin"], reason="  ")
    with pytest.raises(PermissionDenied):
        negotiations.decline_offer(w["offer"].id, actor=w["expert"].user, reason="x")
    uow.rollback()
    assert status_of(w["offer"]) is O.SUBMITTED and actions("offers", w["offer"].id) == []


def test_decline_a_forwarded_offer_is_refused(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    with pytest.raises(InvalidTransition):
        negotiations.decline_offer(w["offer"].id, actor=w["admin"], reason="Too late")
    assert status_of(w["offer"]) is O.FORWARDED


# accept_offer ------------------------------------------------------------------------------


def test_accept_offer_awards_the_job_opens_the_contract_and_cascades(f: Any, w: dict[str, Any]) -> None:
    rival_forwarded = f.offer(w["job"], f.expert(), status=O.FORWARDED)
    f.forward(rival_forwarded)
    rival_submitted = f.offer(w["job"], f.expert())
    withdrawn = f.offer(w["job"], f.expert(), status=O.WITHDRAWN)
    uow.commit()
    forwarded(f, w, fee_minor=80_000)

    contract = negotiations.accept_offer(w["offer"].id, actor=w["owner"])

    db.session.expire_all()
    assert status_of(w["offer"]) is O.ACCEPTED
    assert status_of(rival_forwarded) is O.NOT_SELECTED and status_of(rival_submitted) is O.NOT_SELECTED
    assert status_of(withdrawn) is O.WITHDRAWN
    assert db.session.get(type(w["job"]), w["job"].id).status is JobStatus.AWARDED
    assert (contract.client_price_minor, contract.expert_price_minor, contract.fee_minor) == (500_000, 420_000,
                                                                                               80_000)
    assert contract.client_price_minor == contract.expert_price_minor + contract.fee_minor
    assert contract.offer_id == w["offer"].id and len(contract.documents) == 3
    assert actions("offers", w["offer"].id) == ["offer.forwarded", "offer.accepted"]
    assert actions("offers", rival_submitted.id) == ["offer.not_selected"]
    assert actions("jobs", w["job"].id) == ["job.awarded"]
    assert actions("contracts", contract.id) == ["contract.awaiting_signatures"]
    assert kinds(rival_submitted.expert.user) == ["offer.not_selected"]
    assert kinds(w["expert"].user) == ["offer.forwarded", "offer.accepted"]
    assert kinds(w["owner"])[-1] == "offer.accepted_by_company"
    assert kinds(w["admin"]) == ["offer.accepted_staff"]
    link = db.session.scalars(sa.select(Notification.link).where(Notification.user_id == w["owner"].id)
                              .order_by(Notification.id.desc())).first()
    assert link == f"/company/contracts/{contract.id}"


def _nothing_accepted(w: dict[str, Any]) -> None:
    db.session.expire_all()
    assert count(Contract) == 0
    assert db.session.get(type(w["job"]), w["job"].id).status is JobStatus.PUBLISHED
    assert actions("jobs", w["job"].id) == []


def test_a_member_cannot_accept(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    with pytest.raises(PermissionDenied, match="owner"):
        negotiations.accept_offer(w["offer"].id, actor=w["member"])
    uow.rollback()
    assert status_of(w["offer"]) is O.FORWARDED
    _nothing_accepted(w)


@pytest.mark.parametrize("who", ["stranger", "expert"])
def test_other_companies_and_experts_cannot_accept(f: Any, w: dict[str, Any], who: str) -> None:
    forwarded(f, w)
    actor = w["expert"].user if who == "expert" else w[who]
    with pytest.raises(NotFound if who == "stranger" else PermissionDenied):
        negotiations.accept_offer(w["offer"].id, actor=actor)
    uow.rollback()
    assert status_of(w["offer"]) is O.FORWARDED
    _nothing_accepted(w)


def test_accept_a_submitted_offer_is_not_found_for_the_company(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(NotFound):
        negotiations.accept_offer(w["offer"].id, actor=w["owner"])
    _nothing_accepted(w)


def test_accept_an_offer_in_negotiation_is_refused(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    negotiations.request_negotiation(w["offer"].id, actor=w["member"], message="Can you start earlier?")
    with pytest.raises(InvalidTransition):
        negotiations.accept_offer(w["offer"].id, actor=w["owner"])
    uow.rollback()
    assert status_of(w["offer"]) is O.IN_NEGOTIATION
    _nothing_accepted(w)


def test_accept_when_the_job_is_no_longer_published_is_refused(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    job = db.session.get(type(w["job"]), w["job"].id)
    job.status = JobStatus.CLOSED
    uow.commit()
    with pytest.raises(InvalidTransition, match="no longer open"):
        negotiations.accept_offer(w["offer"].id, actor=w["owner"])
    uow.rollback()
    assert status_of(w["offer"]) is O.FORWARDED and count(Contract) == 0


def test_a_second_acceptance_on_the_same_job_loses(f: Any, w: dict[str, Any]) -> None:
    other = f.offer(w["job"], f.expert())
    uow.commit()
    forwarded(f, w)
    forwarded(f, w, offer=other)
    negotiations.accept_offer(w["offer"].id, actor=w["owner"])
    with pytest.raises(InvalidTransition):
        negotiations.accept_offer(other.id, actor=w["owner"])
    uow.rollback()
    assert status_of(other) is O.NOT_SELECTED and count(Contract) == 1


# reject_offer ------------------------------------------------------------------------------


def test_reject_offer_keeps_the_reason_in_the_company_thread(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    negotiations.reject_offer(w["offer"].id, actor=w["owner"], reason="Molder 7 GmbH chose to do it in-house.")

    offer = db.session.get(Offer, w["offer"].id)
    assert offer.status is O.REJECTED and offer.status_note == ""  # the expert page shows status notes
    assert actions("offers", offer.id) == ["offer.forwarded", "offer.rejected"]
    company_thread = negotiations.thread(offer.id, ThreadSide.COMPANY, actor=w["admin"])
    assert "in-house" in company_thread[-1].body
    assert negotiations.thread(offer.id, ThreadSide.EXPERT, actor=w["admin"]) == []
    assert kinds(w["admin"]) == ["offer.rejected_staff"]
    expert_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == w["expert"].user_id)
                                     .order_by(Notification.id.desc())).first()
    assert expert_note.kind == "offer.rejected" and "Molder" not in str(expert_note.params)


def test_reject_from_negotiation(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    negotiations.request_negotiation(w["offer"].id, actor=w["owner"], message="Lower the price?")
    negotiations.reject_offer(w["offer"].id, actor=w["owner"], reason="No agreement")
    assert status_of(w["offer"]) is O.REJECTED


def test_reject_is_for_owners_with_a_reason(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    with pytest.raises(PermissionDenied):
        negotiations.reject_offer(w["offer"].id, actor=w["member"], reason="No")
    with pytest.raises(NotFound):
        negotiations.reject_offer(w["offer"].id, actor=w["stranger"], reason="No")
    with pytest.raises(ValidationFailed):
        negotiations.reject_offer(w["offer"].id, actor=w["owner"], reason="")
    uow.rollback()
    assert status_of(w["offer"]) is O.FORWARDED and count(NegotiationMessage) == 0


# request_negotiation -----------------------------------------------------------------------


def test_request_negotiation_by_a_member_opens_the_company_thread(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    message = negotiations.request_negotiation(w["offer"].id, actor=w["member"], message="Could you add a DOE?")
    assert status_of(w["offer"]) is O.IN_NEGOTIATION
    assert message.side is ThreadSide.COMPANY and message.author_id == w["member"].id
    assert actions("offers", w["offer"].id)[-1] == "offer.in_negotiation"
    assert kinds(w["admin"]) == ["offer.negotiation_requested"]
    assert kinds(w["expert"].user) == ["offer.forwarded"]  # the hub relays; the expert hears nothing directly


def test_request_negotiation_refusals_change_nothing(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(NotFound):  # not forwarded yet: the company cannot see it
        negotiations.request_negotiation(w["offer"].id, actor=w["member"], message="Hello")
    forwarded(f, w)
    with pytest.raises(NotFound):
        negotiations.request_negotiation(w["offer"].id, actor=w["stranger"], message="Hello")
    with pytest.raises(PermissionDenied):
        negotiations.request_negotiation(w["offer"].id, actor=w["expert"].user, message="Hello")
    with pytest.raises(ValidationFailed):
        negotiations.request_negotiation(w["offer"].id, actor=w["owner"], message=" ")
    uow.rollback()
    assert status_of(w["offer"]) is O.FORWARDED and count(NegotiationMessage) == 0
    negotiations.request_negotiation(w["offer"].id, actor=w["owner"], message="Earlier start?")
    with pytest.raises(InvalidTransition):
        negotiations.request_negotiation(w["offer"].id, actor=w["owner"], message="Again")
    assert count(NegotiationMessage) == 1


# post_message, thread, attachments ---------------------------------------------------------


def test_company_message_tells_staff_and_staff_reply_tells_the_company(f: Any, w: dict[str, Any]) -> None:
    forwarded(f, w)
    negotiations.post_message(w["offer"].id, actor=w["member"], side=ThreadSide.COMPANY, body="Which resin?")
    assert kinds(w["admin"]) == ["negotiation.message_from_company"]
    reply = negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.COMPANY, body="PA66 GF30.")
    assert kinds(w["owner"])[-1] == "negotiation.message_to_company"
    assert "negotiation.message_to_expert" not in kinds(w["expert"].user)
    assert actions("negotiation_messages", reply.id) == ["negotiation_message.posted"]
    bodies = [m.body for m in negotiations.thread(w["offer"].id, ThreadSide.COMPANY, actor=w["member"])]
    assert bodies == ["Which resin?", "PA66 GF30."]


def test_expert_message_tells_staff_and_staff_reply_tells_the_expert(f: Any, w: dict[str, Any]) -> None:
    negotiations.post_message(w["offer"].id, actor=w["expert"].user, side=ThreadSide.EXPERT, body="A question")
    assert kinds(w["admin"]) == ["negotiation.message_from_expert"]
    negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.EXPERT, body="The answer")
    assert kinds(w["expert"].user) == ["negotiation.message_to_expert"]
    assert kinds(w["owner"]) == []


@pytest.mark.parametrize(("who", "side"), [
    ("member", ThreadSide.EXPERT),      # the company never reads the expert's thread
    ("expert", ThreadSide.COMPANY),     # nor the expert the company's
    ("stranger", ThreadSide.COMPANY),   # another company
    ("member", ThreadSide.COMPANY),     # not forwarded yet
])
def test_posting_on_the_wrong_side_is_not_found(f: Any, w: dict[str, Any], who: str, side: ThreadSide) -> None:
    actor = w["expert"].user if who == "expert" else w[who]
    with pytest.raises(NotFound):
        negotiations.post_message(w["offer"].id, actor=actor, side=side, body="Hello")
    with pytest.raises(NotFound):
        negotiations.thread(w["offer"].id, side, actor=actor)
    assert count(NegotiationMessage) == 0 and kinds(w["admin"]) == []


def test_post_message_needs_text_or_a_file(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(FieldErrors) as exc:
        negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.EXPERT, body="   ")
    assert list(exc.value.errors) == ["body"] and count(NegotiationMessage) == 0


def test_an_attachment_is_cleaned_stored_and_downloaded_with_an_audit(f: Any, w: dict[str, Any]) -> None:
    pdf = f.pdf_bytes(metadata={"/Author": "Canary Person 7731"})
    message = negotiations.post_message(w["offer"].id, actor=w["expert"].user, side=ThreadSide.EXPERT, body="",
                                        upload=uploads.Upload("drawing.pdf", pdf))
    assert message.attachment_name == "drawing.pdf" and message.attachment_type == "application/pdf"
    assert message.storage_key and message.storage_key.startswith(f"offers/{w['offer'].id}/threads/expert/")
    _, data = negotiations.open_message_attachment(message.id, actor=w["admin"])
    assert b"Canary Person 7731" not in data and data.startswith(b"%PDF")
    assert actions("negotiation_messages", message.id) == ["negotiation_message.posted",
                                                           "negotiation_message.downloaded"]
    forwarded(f, w)
    with pytest.raises(NotFound):  # the company never opens the expert side's files
        negotiations.open_message_attachment(message.id, actor=w["owner"])


def test_a_refused_attachment_stores_nothing(f: Any, w: dict[str, Any]) -> None:
    with pytest.raises(uploads.UploadRejected):
        negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.EXPERT, body="see file",
                                  upload=uploads.Upload("tool.exe", b"MZ\x90\x00"))
    assert count(NegotiationMessage) == 0


# Queries -----------------------------------------------------------------------------------


def test_company_offers_lists_only_forwarded_ones_with_credentials(f: Any, w: dict[str, Any]) -> None:
    expert = w["expert"]
    skill = w["job"].skills[0]
    db.session.add(ExpertSkill(expert_id=expert.id, term_id=skill.term_id, level=ExpertiseLevel.PRINCIPAL))
    f.document(expert, kind=DocumentKind.CERTIFICATE, review=DocumentReview.ACCEPTED)
    f.offer(w["job"], f.expert())  # submitted: the company cannot see it
    uow.commit()
    forwarded(f, w)

    items = negotiations.company_offers(w["job"].id, actor=w["member"])

    assert [i.offer.id for i in items] == [w["offer"].id]
    creds = items[0].credentials
    assert creds.pseudonym == expert.pseudonym and creds.years_experience == 20
    assert creds.skills == [(skill.term.name, ExpertiseLevel.PRINCIPAL)]
    assert creds.certificates_verified is True and creds.completed_projects == 0
    with pytest.raises(NotFound):
        negotiations.company_offers(w["job"].id, actor=w["stranger"])


def test_forward_changes_names_the_client_price_never_the_expert_price(f: Any, w: dict[str, Any]) -> None:
    offer = f.offer(w["job"], f.expert(), status=O.REVISED, versions=2)
    first = f.forward(offer, version_id=offer.versions[0].id, expert_price_minor=420_000, fee_minor=63_000,
                      client_price_minor=483_000)
    uow.commit()
    second = negotiations.forward_offer(offer.id, actor=w["admin"])
    changes = negotiations.forward_changes(first, second)
    assert changes[0] == "client price" and "solution" in changes and "price" not in changes
    same_fee = negotiations.forward_changes(first, first)
    assert same_fee == []


def test_no_company_email_carries_the_expert_identity_or_price(f: Any, w: dict[str, Any]) -> None:
    expert_user = w["expert"].user
    expert_user.full_name = "Zebulon Canaryname"
    expert_user.email = "zebulon.canary@example.test"
    uow.commit()
    forwarded(f, w)
    negotiations.request_negotiation(w["offer"].id, actor=w["member"], message="Earlier?")
    negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.COMPANY, body="Asking the expert.")
    company_mail = db.session.scalars(sa.select(EmailMessage).where(
        EmailMessage.to_address.in_([w["owner"].email, w["member"].email]))).all()
    assert len(company_mail) == 2
    for mail in company_mail:
        text = f"{mail.subject}\n{mail.body_text}\n{mail.body_html}"
        assert "Canaryname" not in text and "zebulon.canary" not in text
        assert "4,200" not in text and "630.00" not in text


# Races (PostgreSQL: SQLite ignores row locks) ------------------------------------------------


@pytest.mark.postgres
def test_two_owners_accepting_two_offers_at_once_make_one_contract(storage_dir: str) -> None:
    import threading

    from app.exceptions import DomainError
    from app.models import Job, User
    from tests import factories
    from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(postgres_url()))
    try:
        for _ in range(3):
            with app.app_context():
                _create_schema(app)
                _clear_tables(app)
                company = factories.company()
                owners = [factories.company_user(company), factories.company_user(company)]
                job = factories.job(company, status=JobStatus.PUBLISHED, created_by=owners[0])
                admin = factories.admin()
                offer_ids = []
                for _owner in owners:
                    o = factories.offer(job, factories.expert(), status=O.FORWARDED)
                    factories.forward(o, forwarded_by=admin)
                    offer_ids.append(o.id)
                db.session.commit()
                pairs = list(zip([u.id for u in owners], offer_ids, strict=True))
                job_id = job.id
            barrier = threading.Barrier(len(pairs))
            outcomes: list[str] = []

            def contender(user_id: int, offer_id: int, barrier: threading.Barrier = barrier,
                          outcomes: list[str] = outcomes) -> None:
                with app.app_context():
                    actor = db.session.get(User, user_id)
                    barrier.wait()
                    try:
                        negotiations.accept_offer(offer_id, actor=actor)
                        outcomes.append("ok")
                    except DomainError as exc:
                        outcomes.append(f"refused: {exc}")
                    finally:
                        db.session.remove()

            threads = [threading.Thread(target=contender, args=pair) for pair in pairs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(outcomes) == ["ok", "refused: Another offer of this job was accepted in the meantime."], \
                outcomes
            with app.app_context():
                assert db.session.scalar(sa.select(sa.func.count()).select_from(Contract)) == 1
                statuses = sorted(s.value for s in db.session.scalars(sa.select(Offer.status)))
                assert statuses == ["accepted", "not_selected"]
                assert db.session.get(Job, job_id).status is JobStatus.AWARDED
    finally:
        with app.app_context():
            db.session.remove()
            _clear_tables(app)
            db.engine.dispose()
