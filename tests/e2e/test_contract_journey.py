"""Issue 5 in a real browser: the hub forwards two offers, the company negotiates one through the hub,
the expert revises, the company accepts the revised version, the three parties sign, and the company
pays by card on the payment provider's hosted checkout (a local fake of the provider, spoken to by the
real stripe library) until the project is funded. A second journey pays by bank transfer, which an
admin records in the back office.

Screenshots of every step land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.config import TestingConfig
from app.extensions import db
from app.models import (
    Contract,
    ContractStatus,
    JobConfidentialityAcceptance,
    JobStatus,
    LedgerTransaction,
    Offer,
    OfferStatus,
    Project,
    ProjectRole,
    User,
)
from app.services import ledger, offers
from tests import factories
from tests.e2e.conftest import LiveServer, _fresh_postgres_database
from tests.e2e.test_job_posting_journey import Watch, _log_in
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.browser

OWNER = ("greta.lang@lang-formenbau.example", "mould trials on thursday mornings", "Greta Lang")
ADMIN = ("contracts@plasticonnect.example", "two signatures and a seal", "Paul Pruefer")
EXPERT1 = ("nora.vogt@experts.example", "holding pressure is my passion", "Nora Vogt")
EXPERT2 = ("ivan.petrov@experts.example", "cooling time before everything", "Ivan Petrov")
COMPANY = "Lang Formenbau GmbH"
ASK = "Could the study start one week earlier, and is 6,500 EUR possible?"
RELAY = "The company asks for a start one week earlier and a price around 6,500 EUR."


@pytest.fixture
def fake_provider() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def card_app(tmp_path: Path, fake_provider: FakeStripe) -> Iterator[Flask]:
    """The app as a new user runs it (migrations, seeded catalog, CSRF on), with card payments configured."""
    from flask_migrate import upgrade

    database = _fresh_postgres_database("e2e_pay") or f"sqlite:///{tmp_path / 'e2e.db'}"
    app = create_app(
        TestingConfig,
        TESTING=False,
        WTF_CSRF_ENABLED=True,
        SQLALCHEMY_DATABASE_URI=database,
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION=False,
        STRIPE_SECRET_KEY=fake_provider.api_key,
        STRIPE_WEBHOOK_SECRET=fake_provider.webhook_secret,
        STRIPE_API_BASE=fake_provider.base_url,
        HUB_SIGNING_KEY_PATH=str(tmp_path / "seal-key.pem"),
        HUB_SIGNING_CERT_PATH=str(tmp_path / "seal-cert.pem"),
    )
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=["seed-catalog"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _offer_input(price_minor: int, start_in: int) -> offers.OfferInput:
    start = datetime.now(UTC).date() + timedelta(days=start_in)
    return offers.OfferInput(
        solution="Viscosity and gate-freeze studies, then a DOE on holding pressure.", price_minor=price_minor,
        start_date=start, end_date=start + timedelta(days=20), deliverables=["Study report", "Process window"],
        milestones=[offers.MilestoneInput("Studies", start + timedelta(days=7), 40),
                    offers.MilestoneInput("Report", start + timedelta(days=20), 60)],
        accept_clauses=True, clauses_version=offers.CURRENT_CLAUSES.version)


def _scene(app: Flask) -> dict[str, int]:
    """A company with a published job and two experts who sent offers (through the real services)."""
    with app.app_context():
        company = factories.company(name=COMPANY, legal_name=COMPANY)
        owner = factories.company_user(company, owner=True, email=OWNER[0], password=OWNER[1], full_name=OWNER[2])
        job = factories.job(company, status=JobStatus.PUBLISHED, created_by=owner, budget_minor=900000)
        ids = {"job": job.id, "company": company.id}
        for key, (email, password, name), price in (("e1", EXPERT1, 720000), ("e2", EXPERT2, 810000)):
            expert = factories.expert(user=factories.user(email=email, password=password, full_name=name),
                                      pseudonym=f"E-{key.upper()}")
            db.session.add(JobConfidentialityAcceptance(job_id=job.id, expert_id=expert.id, terms_version="2025-01"))
            db.session.commit()
            offer = offers.submit_offer(job.id, actor=db.session.get(User, expert.user_id),
                                        data=_offer_input(price, 12))
            ids[key] = offer.id
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", ADMIN[0], "--name", ADMIN[2]],
                                          input=f"{ADMIN[1]}\n{ADMIN[1]}\n")
    assert result.exit_code == 0, result.output
    return ids


def _admin(watch: Watch, browser: Any, base: str) -> Any:
    page = watch.page(browser)
    _log_in(page, base, ADMIN[0], ADMIN[1])
    page.wait_for_selector("[data-testid=totp-secret]")
    secret = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("[data-testid=totp-confirm]")
    page.wait_for_url(re.compile(r".*/admin/?.*"))
    return page


def _sign(page: Any, form_testid: str, name: str) -> None:
    form = page.locator(f"[data-testid={form_testid}]")
    form.locator("input[name$=typed_name]").fill(name)
    form.locator("input[type=checkbox][name$=consent]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_negotiate_accept_sign_and_pay_by_card(card_app, browser, shots, fake_provider):
    ids = _scene(card_app)
    watch = Watch()
    with LiveServer(card_app) as server:
        base = server.url
        fake_provider.webhook_url = f"{base}/webhooks/stripe"

        # 1. The hub forwards both offers to the company with its default fee (15 %).
        admin = _admin(watch, browser, base)
        admin.goto(base + "/admin/offers/")
        shots(admin, "admin-offers-queue")
        for key, client_price in (("e1", "8,280.00"), ("e2", "9,315.00")):  # 7,200 and 8,100 + 15 %
            admin.goto(f"{base}/admin/offers/{ids[key]}")
            admin.wait_for_selector("[data-testid=forward-form]")
            admin.click("[data-testid=forward]")
            admin.wait_for_selector("[data-testid=forwards]")
            assert client_price in admin.inner_text("[data-testid=forwards]")
            shots(admin, f"admin-forwarded-{key}")

        # 2. The company compares the two offers (pseudonyms, client prices) and asks to negotiate one.
        company = watch.page(browser)
        _log_in(company, base, OWNER[0], OWNER[1])
        company.goto(f"{base}/company/jobs/{ids['job']}/offers")
        listing = company.inner_text("[data-testid=offers]")
        assert "E-E1" in listing and "E-E2" in listing
        assert "8,280.00" in listing and "9,315.00" in listing
        assert "7,200.00" not in listing and EXPERT1[2] not in listing
        shots(company, "company-compares-offers")
        company.click(f"[data-testid=open-{ids['e1']}]")
        company.wait_for_selector("[data-testid=negotiate-form]")
        company.fill("[data-testid=negotiate-form] textarea", ASK)
        company.click("[data-testid=negotiate-offer]")
        company.wait_for_load_state()
        assert ASK in company.inner_text("[data-testid=thread]")
        shots(company, "company-asks-to-negotiate")

        # 3. The hub relays the question to the expert in the separate hub ↔ expert thread.
        admin.goto(f"{base}/admin/offers/{ids['e1']}")
        assert ASK in admin.inner_text("[data-testid=thread-company]")
        admin.fill("[data-testid=message-form-expert] textarea", RELAY)
        admin.click("[data-testid=send-expert]")
        admin.wait_for_load_state()
        assert RELAY in admin.inner_text("[data-testid=thread-expert]")
        assert RELAY not in admin.inner_text("[data-testid=thread-company]")
        shots(admin, "admin-relays")

        # 4. The expert reads it (never the company's own words) and sends a revised version.
        expert = watch.page(browser)
        _log_in(expert, base, EXPERT1[0], EXPERT1[1])
        expert.goto(f"{base}/offers/{ids['e1']}")
        thread = expert.inner_text("[data-testid=thread]")
        assert RELAY in thread and ASK not in thread
        assert "8,280.00" not in expert.inner_text("main")  # never the client price
        shots(expert, "expert-reads-the-hub")
        expert.click("[data-testid=change-offer]")
        expert.wait_for_selector("[data-testid=offer-form]")
        expert.fill("#change_note", "Start one week earlier; price lowered as asked.")
        expert.fill("#price", "5.650,00")
        start = datetime.now(UTC).date() + timedelta(days=6)
        expert.fill("#start_date", start.isoformat())
        expert.fill("#milestones-0-due_date", (start + timedelta(days=7)).isoformat())
        expert.check("#accept_clauses")
        shots(expert, "expert-revises")
        expert.click("[data-testid=send-offer]")
        expert.wait_for_url(re.compile(rf".*/offers/{ids['e1']}$"))
        assert "revised" in expert.inner_text("[data-testid=offer-status]").lower()

        # 5. The hub forwards the revised version; the company sees what changed and accepts it.
        admin.goto(f"{base}/admin/offers/{ids['e1']}")
        admin.click("[data-testid=forward]")
        admin.wait_for_selector("[data-testid=forwards]")
        company.goto(f"{base}/company/offers/{ids['e1']}")
        assert "6,497.50" in company.inner_text("[data-testid=client-price]")  # 5,650 + 15 %
        assert "price" in company.inner_text("[data-testid=changes]").lower()
        shots(company, "company-sees-the-revision")
        company.check("[data-testid=accept-form] input[type=checkbox]")
        company.click("[data-testid=accept-offer]")
        company.wait_for_url(re.compile(r".*/company/contracts/\d+$"))
        contract_id = int(re.search(r"/company/contracts/(\d+)$", company.url).group(1))
        shots(company, "company-contract-to-sign")

        # 6. The three parties sign: the company (contract, NDA), the expert (subcontract, NDA), the hub (all).
        _sign(company, "sign-form-contract", OWNER[2])
        _sign(company, "sign-form-nda", OWNER[2])
        assert company.locator("[data-testid=sign-form-contract]").count() == 0
        shots(company, "company-signed")
        expert.goto(f"{base}/contracts/{contract_id}")
        assert "6,497.50" not in expert.inner_text("main")
        _sign(expert, "sign-form-subcontract", EXPERT1[2])
        _sign(expert, "sign-form-nda", EXPERT1[2])
        shots(expert, "expert-signed")
        admin.goto(f"{base}/admin/contracts/{contract_id}")
        for kind in ("contract", "subcontract", "nda"):
            _sign(admin, f"form-sign-{kind}", ADMIN[2])
        assert "signed" in admin.inner_text("[data-testid=status]").lower()
        shots(admin, "admin-signed-and-sealed")

        # 7. The company pays by card on the provider's hosted checkout; the webhook funds the contract.
        company.goto(f"{base}/company/contracts/{contract_id}")
        assert company.locator("[data-testid=download-sealed]").count() >= 2
        company.click("[data-testid=pay]")
        company.wait_for_selector("[data-testid=held-funds]")
        assert "held by Plasticonnect" in company.inner_text("[data-testid=held-funds]")
        shots(company, "company-pay-page")
        company.click("[data-testid=pay-by-card] button[type=submit]")
        company.wait_for_url(re.compile(re.escape(fake_provider.base_url) + r"/pay/.*"))
        shots(company, "provider-hosted-checkout")
        company.get_by_role("button", name=re.compile("Pay", re.I)).click()
        company.wait_for_url(re.compile(rf".*/company/contracts/{contract_id}/paid.*"))
        company.reload()
        assert "funded" in company.inner_text("[data-testid=payment-status]").lower()
        shots(company, "company-paid")

    with card_app.app_context():
        contract = db.session.get(Contract, contract_id)
        assert contract.status is ContractStatus.FUNDED and contract.client_price_minor == 649750
        assert db.session.get(Offer, ids["e2"]).status is OfferStatus.NOT_SELECTED
        project = db.session.scalar(sa.select(Project).where(Project.contract_id == contract_id))
        assert project is not None
        roles = {m.role for m in project.members}
        assert roles == {ProjectRole.COMPANY, ProjectRole.EXPERT, ProjectRole.MANAGER}
        assert project.manager_id == db.session.scalar(sa.select(User.id).where(User.email == ADMIN[0]))
        funded = db.session.scalars(sa.select(LedgerTransaction).where(LedgerTransaction.kind == "escrow.funded"))
        assert len(funded.all()) == 1
        assert ledger.check_invariants(db.session) == []
    assert watch.errors == [], watch.errors


def test_pay_by_bank_transfer_confirmed_by_the_hub(card_app, browser, shots):
    with card_app.app_context():
        contract = factories.signed_contract(client_price_minor=460000, fee_minor=60000)
        owner = contract.company.users[0]
        owner.email, owner.full_name = OWNER[0], OWNER[2]
        owner.password_hash = factories._hasher.hash(OWNER[1])
        db.session.commit()
        contract_id, reference = contract.id, contract.payment_reference
    result = card_app.test_cli_runner().invoke(args=["create-admin", "--email", ADMIN[0], "--name", ADMIN[2]],
                                               input=f"{ADMIN[1]}\n{ADMIN[1]}\n")
    assert result.exit_code == 0, result.output
    watch = Watch()
    with LiveServer(card_app) as server:
        base = server.url
        company = watch.page(browser)
        _log_in(company, base, OWNER[0], OWNER[1])
        company.goto(f"{base}/company/contracts/{contract_id}/pay")
        assert reference in company.inner_text("[data-testid=reference]")
        assert "4,600.00" in company.inner_text("[data-testid=amount]")
        shots(company, "company-bank-instructions")

        admin = _admin(watch, browser, base)
        admin.goto(base + "/admin/escrow/")
        row = admin.locator(f"[data-testid=waiting-{contract_id}]")
        row.locator("input[name$=amount]").fill("4.600,00")
        row.locator("input[name$=received_on]").fill(datetime.now(UTC).date().isoformat())
        row.locator("input[name$=bank_reference]").fill(reference)
        shots(admin, "admin-records-transfer")
        row.locator("button[type=submit]").click()
        admin.wait_for_load_state()
        assert admin.locator(f"[data-testid=funded-{contract_id}]").count() == 1
        assert "hold" in admin.inner_text("[data-testid=ledger-health]").lower()
        shots(admin, "admin-escrow-funded")

        company.goto(f"{base}/company/contracts/{contract_id}/pay")
        assert "the funds are held by plasticonnect" in company.inner_text("[data-testid=payment-status]").lower()
        with company.expect_download() as info:
            company.click("[data-testid=receipt-link]")
        assert open(info.value.path(), "rb").read(5) == b"%PDF-"
        shots(company, "company-funded")

    with card_app.app_context():
        assert db.session.get(Contract, contract_id).status is ContractStatus.FUNDED
        assert ledger.check_invariants(db.session) == []
    assert watch.errors == [], watch.errors
