"""The company's payment pages and who may see them: owner, member, another company, the expert, anonymous."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Contract, ContractStatus
from app.services import escrow, uow
from tests.conftest import login
from tests.services.test_escrow import (  # noqa: F401  (fixtures)
    PRICE,
    configure_card_payments,
    fake,
    record,
    reload,
    signed,
    stripe_server,
)


def people(f: Any, contract: Contract) -> dict[str, Any]:
    return {
        "owner": contract.company.users[0],
        "member": f.company_user(contract.company, owner=False),
        "other_company": f.company_user(),
        "expert": contract.expert.user,
    }


ROUTES = ["pay", "paid", "receipt.pdf"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("member", 200), ("other_company", 404),
                                               ("expert", 403), ("anonymous", 302)])
def test_who_may_open_each_page(app, client: FlaskClient, f, route, who, expected):
    contract = signed(f)
    users = people(f, contract)
    if route == "receipt.pdf":
        record(contract, f.admin(), PRICE)
    uow.commit()
    if who != "anonymous":
        login(client, users[who])
    resp = client.get(f"/company/contracts/{contract.id}/{route}")
    assert resp.status_code == expected
    if expected == 302:
        assert "/login" in resp.headers["Location"]
    if expected == 200 and route == "receipt.pdf":
        assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")


def test_pay_page_without_card_offers_bank_transfer_with_the_reference(app, client, f):
    contract = signed(f)
    login(client, contract.company.users[0])
    html = client.get(f"/company/contracts/{contract.id}/pay").get_data(as_text=True)
    assert "held by Plasticonnect until you accept the work" in html
    assert "4,600.00" in html and contract.payment_reference in html
    assert app.config["HUB_BANK_IBAN"] in html and "exactly" in html
    assert 'data-testid="pay-by-card"' not in html and "Waiting for your payment" in html
    assert "<script src=\"https://js.stripe" not in html and "escrow" not in html.lower()


def test_pay_by_card_redirects_to_the_hosted_page_and_the_webhook_funds(app, client, f, fake):  # noqa: F811
    contract = signed(f)
    login(client, contract.company.users[0])
    html = client.get(f"/company/contracts/{contract.id}/pay").get_data(as_text=True)
    assert 'data-testid="pay-by-card"' in html
    resp = client.post(f"/company/contracts/{contract.id}/pay/card")
    assert resp.status_code == 303 and resp.headers["Location"].startswith(fake.base_url + "/pay/")
    paid = requests.post(resp.headers["Location"], allow_redirects=False, timeout=5)
    back = paid.headers["Location"]
    assert back.startswith(f"http://localhost/company/contracts/{contract.id}/paid?session_id=cs_test_")
    assert "being confirmed" in client.get(back).get_data(as_text=True)
    body, headers = fake.received[-1]
    assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": headers["Stripe-Signature"]},
                       content_type="application/json").status_code == 200
    html = client.get(back).get_data(as_text=True)
    assert "the contract is funded; the project starts" in html and "receipt.pdf" in html
    assert reload(contract).status is ContractStatus.FUNDED


def test_paying_twice_by_card_is_refused_with_a_message(app, client, f, fake):  # noqa: F811
    contract = signed(f)
    record(contract, f.admin(), PRICE)
    login(client, contract.company.users[0])
    resp = client.post(f"/company/contracts/{contract.id}/pay/card", follow_redirects=True)
    assert "already paid" in resp.get_data(as_text=True)
    assert fake.request_log() == []


def test_other_company_cannot_post_the_card_button(app, client, f, fake):  # noqa: F811
    contract = signed(f)
    login(client, f.company_user())
    assert client.post(f"/company/contracts/{contract.id}/pay/card").status_code == 404
    assert fake.request_log() == []


def test_status_explains_an_under_payment(app, client, f):
    contract = signed(f)
    record(contract, f.admin(), 400000)
    login(client, contract.company.users[0])
    html = client.get(f"/company/contracts/{contract.id}/pay").get_data(as_text=True)
    assert "waiting for €600.00 more" in html


def test_receipt_before_funding_is_404(app, client, f):
    contract = signed(f)
    login(client, contract.company.users[0])
    assert client.get(f"/company/contracts/{contract.id}/receipt.pdf").status_code == 404
    db.session.expire_all()
    assert escrow.funding_status(reload(contract)).state == "waiting"
