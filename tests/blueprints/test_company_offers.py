"""The company's offer pages through HTTP: who may open them (owner, member, other company, expert,
anonymous), the offers side by side, one offer with what changed and its thread, accept / reject /
negotiate, the expert's thread on the expert's page, and the anonymity canary (RELIABILITY.md §3.10)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import (
    Contract,
    EmailMessage,
    ExpertEmployer,
    JobStatus,
    NegotiationMessage,
    Offer,
    OfferStatus,
    ThreadSide,
)
from app.models.enums import EmployerRelation
from app.services import negotiations, uow
from app.services import offers as offer_service
from tests.conftest import login
from tests.services.test_offers import draft

O = OfferStatus  # noqa: E741
CANARY_NAME = "Quentin Canaryfeather"
CANARY_EMAIL = "q.canaryfeather@canary.example"
CANARY_EMPLOYER = "Canarywerk Kunststoff AG"
EXPERT_PRICE = 777_301  # €7,773.01: distinctive, never on a company page
FEE = 111_109  # €1,111.09


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    company = f.company()
    owner = f.company_user(company, full_name="Olga Owner")
    member = f.company_user(company, owner=False, full_name="Max Member")
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert_user = f.user(full_name=CANARY_NAME, email=CANARY_EMAIL)
    expert = f.expert(user=expert_user)
    db.session.add(ExpertEmployer(expert_id=expert.id, name=CANARY_EMPLOYER,
                                  relation=EmployerRelation.FORMER))
    offer = f.offer(job, expert, price_minor=EXPERT_PRICE, milestones=(("Trial", 40), ("Report", 60)))
    admin = f.admin()
    stranger = f.company_user(f.company())
    uow.commit()
    return {"owner": owner, "member": member, "job": job, "expert": expert, "offer": offer, "admin": admin,
            "stranger": stranger}


def forward(w: dict[str, Any], offer: Offer | None = None) -> Offer:
    offer = offer or w["offer"]
    negotiations.forward_offer(offer.id, actor=w["admin"], fee_minor=FEE, note="Strong on PA66.")
    return offer


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.status_code
    return resp.get_data(as_text=True)


# Access ------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    resp = client.get(f"/company/offers/{w['offer'].id}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.post(f"/company/offers/{w['offer'].id}/accept", data={"confirm": "y"}).status_code == 401


def test_an_expert_is_refused_the_company_pages(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["expert"].user)
    assert client.get(f"/company/offers/{w['offer'].id}").status_code == 403
    assert client.get(f"/company/jobs/{w['job'].id}/offers").status_code == 403


def test_another_company_gets_404(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["stranger"])
    assert client.get(f"/company/offers/{w['offer'].id}").status_code == 404
    assert client.get(f"/company/jobs/{w['job'].id}/offers").status_code == 404
    assert client.post(f"/company/offers/{w['offer'].id}/accept", data={"confirm": "y"}).status_code == 404
    assert client.post(f"/company/offers/{w['offer'].id}/messages", data={"body": "hi"}).status_code == 404
    assert db.session.get(Offer, w["offer"].id).status is O.FORWARDED and count_messages() == 0


def test_an_offer_not_forwarded_is_404_and_the_list_is_empty(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["owner"])
    assert client.get(f"/company/offers/{w['offer'].id}").status_code == 404
    html = page(client, f"/company/jobs/{w['job'].id}/offers")
    assert 'data-testid="no-offers"' in html and "The hub reviews each one" in html
    job_html = page(client, f"/company/jobs/{w['job'].id}")
    assert 'data-testid="forwarded-count">0<' in job_html


def count_messages() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(NegotiationMessage)) or 0)


# The offers side by side -------------------------------------------------------------------


def test_the_job_offers_page_shows_forwarded_offers_with_client_prices(client: FlaskClient, f: Any,
                                                                       w: dict[str, Any]) -> None:
    forward(w)
    hidden = f.offer(w["job"], f.expert(), price_minor=300_000)  # submitted: not forwarded
    uow.commit()
    login(client, w["member"])

    html = page(client, f"/company/jobs/{w['job'].id}/offers")

    assert f'data-testid="offer-{w["offer"].id}"' in html and f'data-testid="offer-{hidden.id}"' not in html
    assert f"Expert {w['expert'].pseudonym}" in html
    assert 'data-testid="client-price">€8,884.10<' in html  # 7,773.01 + 1,111.09
    assert "New on the hub" in html and 'data-testid="certificates">no<' in html
    milestones = re.search(r'data-testid="milestones".*?</table>', html, re.S)
    assert milestones and "€3,553.64" in milestones.group(0)  # 40 % of the client price
    job_html = page(client, f"/company/jobs/{w['job'].id}")
    assert 'data-testid="forwarded-count">1<' in job_html
    assert f'href="/company/jobs/{w["job"].id}/offers"' in job_html


# One offer ---------------------------------------------------------------------------------


def test_the_owner_sees_the_decision_buttons_and_the_member_does_not(client: FlaskClient,
                                                                     w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["owner"])
    html = page(client, f"/company/offers/{w['offer'].id}")
    assert 'data-testid="accept-form"' in html and 'data-testid="reject-form"' in html
    assert "the hub prepares the contract and the NDA for signature".lower() in html.lower()
    assert 'data-testid="hub-note"' in html and "Strong on PA66." in html
    login(client, w["member"])
    html = page(client, f"/company/offers/{w['offer'].id}")
    assert 'data-testid="accept-form"' not in html and 'data-testid="reject-form"' not in html
    assert 'data-testid="negotiate-form"' in html and 'data-testid="owner-only"' in html


def test_a_member_posting_accept_is_refused_and_nothing_changes(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["member"])
    assert client.post(f"/company/offers/{w['offer'].id}/accept", data={"confirm": "y"}).status_code == 403
    assert client.post(f"/company/offers/{w['offer'].id}/reject", data={"reason": "No"}).status_code == 403
    assert db.session.get(Offer, w["offer"].id).status is O.FORWARDED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Contract)) == 0


def test_accept_without_the_confirmation_keeps_the_page(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["owner"])
    resp = client.post(f"/company/offers/{w['offer'].id}/accept", data={})
    assert resp.status_code == 400 and "Tick the box to confirm" in resp.get_data(as_text=True)
    assert db.session.get(Offer, w["offer"].id).status is O.FORWARDED


def test_accept_redirects_to_the_contract_and_awards_the_job(app: Flask, client: FlaskClient,
                                                            w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["owner"])
    resp = client.post(f"/company/offers/{w['offer'].id}/accept", data={"confirm": "y"})
    assert resp.status_code == 302
    contract = db.session.scalars(sa.select(Contract)).one()
    expected = (f"/company/contracts/{contract.id}" if "contracts.company_contract" in app.view_functions
                else f"/company/jobs/{w['job'].id}")
    assert resp.headers["Location"].endswith(expected)
    assert contract.client_price_minor == EXPERT_PRICE + FEE
    db.session.expire_all()
    assert db.session.get(type(w["job"]), w["job"].id).status is JobStatus.AWARDED
    html = page(client, f"/company/offers/{w['offer'].id}")
    assert "You accepted this offer." in html and 'data-testid="accept-form"' not in html
    if "contracts.company_contract" in app.view_functions:
        assert f'href="/company/contracts/{contract.id}" data-testid="contract-link"' in html
    assert 'data-testid="forwarded-count">1<' in page(client, f"/company/jobs/{w['job'].id}")


def test_negotiate_then_the_company_thread(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["member"])
    resp = client.post(f"/company/offers/{w['offer'].id}/negotiate", data={"message": "Start a week earlier?"})
    assert resp.status_code == 302
    assert db.session.get(Offer, w["offer"].id).status is O.IN_NEGOTIATION
    resp = client.post(f"/company/offers/{w['offer'].id}/messages",
                       data={"body": "And the report in German?",
                             "attachment": (io.BytesIO(b"a,b\n1,2\n"), "spec.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    html = page(client, f"/company/offers/{w['offer'].id}")
    assert "Start a week earlier?" in html and "And the report in German?" in html and "spec.csv" in html
    message = db.session.scalars(sa.select(NegotiationMessage).where(NegotiationMessage.body.like("And%"))).one()
    download = client.get(f"/offers/messages/{message.id}/file")
    assert download.status_code == 200 and download.data == b"a,b\n1,2\n"
    assert download.headers["Content-Security-Policy"].startswith("sandbox")


def test_an_empty_message_is_refused_under_the_field(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["member"])
    resp = client.post(f"/company/offers/{w['offer'].id}/messages", data={"body": "  "})
    assert resp.status_code == 400 and "Write a message or attach a file." in resp.get_data(as_text=True)
    assert count_messages() == 0


def test_reject_needs_a_reason_and_then_rejects(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    login(client, w["owner"])
    resp = client.post(f"/company/offers/{w['offer'].id}/reject", data={"reason": ""})
    assert resp.status_code == 400 and db.session.get(Offer, w["offer"].id).status is O.FORWARDED
    resp = client.post(f"/company/offers/{w['offer'].id}/reject", data={"reason": "Too expensive"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/company/jobs/{w['job'].id}/offers")
    assert db.session.get(Offer, w["offer"].id).status is O.REJECTED


def test_what_changed_since_the_previous_forward(client: FlaskClient, f: Any, w: dict[str, Any]) -> None:
    offer = f.offer(w["job"], f.expert(), status=O.REVISED, versions=2)
    f.forward(offer, version_id=offer.versions[0].id, expert_price_minor=420_000, fee_minor=63_000,
              client_price_minor=483_000)
    uow.commit()
    negotiations.forward_offer(offer.id, actor=w["admin"], fee_minor=63_000)
    login(client, w["owner"])
    html = page(client, f"/company/offers/{offer.id}")
    changes = re.search(r'data-testid="changes">(.*?)</p>', html, re.S)
    assert changes and "client price" in changes.group(1) and "solution" in changes.group(1)
    assert "Previous client price: €4,830.00" in html and "€4,930.00" in html


# The expert's thread -----------------------------------------------------------------------


def test_the_expert_page_shows_the_expert_thread_only(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    negotiations.post_message(w["offer"].id, actor=w["member"], side=ThreadSide.COMPANY, body="COMPANY-ONLY-7Q")
    negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.EXPERT, body="Can you start on 3 May?")
    login(client, w["expert"].user)
    html = page(client, f"/offers/{w['offer'].id}")
    assert "Can you start on 3 May?" in html and "COMPANY-ONLY-7Q" not in html
    assert "€8,884.10" not in html and "€1,111.09" not in html  # no client price, no fee
    assert "The hub forwarded your offer to the company" in html
    resp = client.post(f"/offers/{w['offer'].id}/messages", data={"body": "Yes, from 3 May."})
    assert resp.status_code == 302
    assert [m.body for m in negotiations.thread(w["offer"].id, ThreadSide.EXPERT, actor=w["admin"])][-1] == \
        "Yes, from 3 May."
    company_file = negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.COMPANY, body="",
                                             upload=negotiations.uploads.Upload("c.csv", b"x,y\n"))
    assert client.get(f"/offers/messages/{company_file.id}/file").status_code == 404


def test_the_expert_page_in_negotiation_explains_the_relay(client: FlaskClient, w: dict[str, Any]) -> None:
    forward(w)
    negotiations.request_negotiation(w["offer"].id, actor=w["owner"], message="Cheaper?")
    login(client, w["expert"].user)
    html = page(client, f"/offers/{w['offer'].id}")
    assert "The hub relays the company" in html and "answer here and change your offer to send a new version" in html
    assert "Cheaper?" not in html


# Anonymity canary --------------------------------------------------------------------------


def test_company_pages_and_emails_never_carry_the_expert_identity_or_price(client: FlaskClient, f: Any,
                                                                          w: dict[str, Any]) -> None:
    forward(w)
    negotiations.request_negotiation(w["offer"].id, actor=w["member"], message="Can you lower the price?")
    negotiations.post_message(w["offer"].id, actor=w["expert"].user, side=ThreadSide.EXPERT,
                              body=f"{CANARY_NAME} here, mail me at {CANARY_EMAIL}")
    negotiations.post_message(w["offer"].id, actor=w["admin"], side=ThreadSide.COMPANY, body="We asked the expert.")
    offer = db.session.get(Offer, w["offer"].id)
    # The expert revises; the hub forwards the new version: a second negotiation round.
    offer_service.revise_offer(offer.id, actor=w["expert"].user,
                               data=draft(price_minor=EXPERT_PRICE, change_note="Earlier start"))
    negotiations.forward_offer(offer.id, actor=w["admin"], fee_minor=FEE)

    bodies = []
    for user in (w["owner"], w["member"]):
        login(client, user)
        bodies.append(page(client, f"/company/jobs/{w['job'].id}/offers"))
        bodies.append(page(client, f"/company/offers/{offer.id}"))
        bodies.append(page(client, f"/company/jobs/{w['job'].id}"))
        bodies.append(page(client, "/notifications"))
    mails = db.session.scalars(sa.select(EmailMessage).where(
        EmailMessage.to_address.in_([w["owner"].email, w["member"].email]))).all()
    assert len(mails) >= 3  # forwarded, the hub's message, forwarded again
    bodies += [f"{m.subject}\n{m.body_text}\n{m.body_html}" for m in mails]
    for text in bodies:
        for canary in (CANARY_NAME, "Canaryfeather", CANARY_EMAIL, CANARY_EMPLOYER, "7,773.01", "1,111.09",
                       str(EXPERT_PRICE)):
            assert canary not in text
    assert any("€8,884.10" in text for text in bodies)  # the client price is there
