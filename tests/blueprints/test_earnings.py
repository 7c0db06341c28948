"""The expert's earnings page and payout settings, and the company's final invoice (app/blueprints/earnings.py).

Who may open each page; the totals and history; settings validation that explains and keeps what
was typed; the invoice only once completed, only for the company, never naming the expert or
showing the expert price or the fee.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from app.extensions import db
from app.models import ExpertProfile, OfferStatus, Role
from app.services import payouts, uow
from tests.conftest import _create_schema, login, make_app
from tests.services.test_release import accept, accepted_project, company_users, released, reload, staff_of


def register_release_views(application: Flask) -> None:
    """Register the earnings blueprint and the payouts back-office view on an app that lacks them.

    app/blueprints/__init__.py and admin_views/__init__.py register both; until they do, the tests
    build their own app with them (a no-op once registered).
    """
    from admin_views.payouts import PayoutsView
    from app.blueprints import earnings

    if "earnings" not in application.blueprints:
        application.register_blueprint(earnings.bp)
    if "admin_payouts" not in application.blueprints:
        admin = application.extensions["admin"][0]
        admin.add_view(PayoutsView(name="Payouts", endpoint="admin_payouts", url="payouts"))
        application.extensions["admin_blueprints"] = set(application.extensions["admin_blueprints"]) | {
            "admin_payouts"}


@pytest.fixture(scope="module")
def shared_app(shared_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The session's app when it has the release views, else an app of this module's own with them."""
    if "earnings" in shared_app.blueprints and "admin_payouts" in shared_app.blueprints:
        yield shared_app
        return
    application = make_app(str(tmp_path_factory.mktemp("uploads")))
    register_release_views(application)
    with application.app_context():
        _create_schema(application)
    yield application
    with application.app_context():
        db.engine.dispose()


def page(client: FlaskClient, url: str = "/expert/earnings", status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages).split())


# Who may open what ---------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [("expert", 200), ("company", 403), ("admin", 403),
                                               ("anonymous", 302)])
def test_only_experts_open_the_earnings_page(client, f, who, expected):
    expert = f.expert()
    users = {"expert": expert.user, "company": f.company_user(), "admin": f.admin()}
    uow.commit()
    if who != "anonymous":
        login(client, users[who])
    resp = client.get("/expert/earnings")
    assert resp.status_code == expected
    post = client.post("/expert/earnings/settings", data={"account_id": "acct_X1"})
    assert post.status_code == {"expert": 302, "anonymous": 401}.get(who, 403)
    if who != "expert":
        assert reload(expert).payout_account_id == ""


def test_an_expert_account_without_a_profile_gets_404(client, f):
    user = f.user(role=Role.EXPERT)
    uow.commit()
    login(client, user)
    assert client.get("/expert/earnings").status_code == 404


# The page ------------------------------------------------------------------------------------


def test_empty_state_and_the_navigation_link(client, f):
    expert = f.expert()
    uow.commit()
    login(client, expert.user)
    html = page(client)
    assert 'data-testid="no-earnings"' in html and 'data-testid="nav-earnings"' in html
    assert "No payout details yet" in html
    assert 'data-testid="nav-earnings"' in page(client, "/expert/")


def test_totals_and_history_show_only_the_experts_own_payouts(client, f):
    project = accepted_project(f)
    released(project)
    other = accepted_project(f)
    released(other)
    expert = project.contract.expert
    payout = db.session.scalars(payouts.payouts_query(payouts.PayoutFilter.ALL)).all()
    own = next(p for p in payout if p.project_id == project.id)
    theirs = next(p for p in payout if p.project_id == other.id)
    login(client, expert.user)

    html = page(client)
    assert 'data-testid="totals-EUR"' in html and "€4,000.00" in html
    assert f'data-testid="payout-{own.id}"' in html and f'data-testid="payout-{theirs.id}"' not in html
    assert "On its way" in html and "Bank transfer" in html
    assert project.contract.reference in html and other.contract.reference not in html

    payouts.mark_bank_payout_sent(own.id, actor=staff_of(project), reference="SEPA-2026-77")
    uow.commit()
    html = page(client)
    assert "Paid" in html and "SEPA-2026-77" in html
    assert html.count("€4,000.00") >= 2  # released and paid


def test_history_is_paginated(client, f):
    first = accepted_project(f)
    expert = first.contract.expert
    released(first)
    for _ in range(20):
        project = f.project(f.signed_contract(f.offer(expert_obj=expert, status=OfferStatus.ACCEPTED),
                                              actor=staff_of(first)))
        uow.commit()
        accept(project)
        released(project)
    login(client, expert.user)
    html = page(client)
    assert len(re.findall(r'data-testid="payout-\d+"', html)) == 20 and "page=2" in html
    assert len(re.findall(r'data-testid="payout-\d+"', page(client, "/expert/earnings?page=2"))) == 1


# Settings ------------------------------------------------------------------------------------


def _settings(client: FlaskClient, **data: str) -> Any:
    return client.post("/expert/earnings/settings", data=data)


def test_a_bad_iban_is_refused_with_a_clear_message_keeping_what_was_typed(client, f):
    expert = f.expert()
    uow.commit()
    login(client, expert.user)
    resp = _settings(client, account_id="", account_name="Eva Expert", iban="DE89 3704 0044 0532 0130 01")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "This IBAN is not valid" in html and 'data-testid="error-iban"' in html
    assert 'value="DE89 3704 0044 0532 0130 01"' in html and 'value="Eva Expert"' in html
    assert 'data-testid="form-errors"' in html
    assert reload(expert).payout_iban == ""


@pytest.mark.parametrize(("data", "message", "field"), [
    ({"account_id": "acct-123", "account_name": "", "iban": ""}, "starts with acct_", "account_id"),
    ({"account_id": "", "account_name": "", "iban": ""}, "Enter your connected payment account", "account_id"),
    ({"account_id": "", "account_name": "", "iban": "DE89370400440532013000"}, "account holder", "account_name"),
])
def test_other_settings_errors_say_what_to_fix(client, f, data, message, field):
    expert = f.expert()
    uow.commit()
    login(client, expert.user)
    resp = _settings(client, **data)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and f'data-testid="error-{field}"' in html
    expert = reload(expert)
    assert (expert.payout_account_id, expert.payout_iban) == ("", "")


def test_valid_settings_are_saved_and_shown(client, f):
    expert = f.expert()
    uow.commit()
    login(client, expert.user)
    resp = _settings(client, account_id="", account_name="Eva  Expert", iban="de89 3704 0044 0532 0130 00")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/expert/earnings")
    expert = reload(expert)
    assert (expert.payout_account_name, expert.payout_iban) == ("Eva Expert", "DE89370400440532013000")
    html = page(client)
    assert "Your payout details are saved." in html
    assert "DE89 3704 0044 0532 0130 00" in html and "by bank transfer to Eva Expert" in html

    assert _settings(client, account_id="acct_1Abc", account_name="", iban="").status_code == 302
    expert = reload(expert)
    assert (expert.payout_account_id, expert.payout_iban) == ("acct_1Abc", "")
    # Without a configured payment provider, the page says payouts come by bank transfer.
    assert "until payments through the provider are available" in page(client)


# The final invoice -----------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [("owner", 200), ("member", 200), ("other_company", 404),
                                               ("expert", 403), ("admin", 403), ("anonymous", 302)])
def test_who_may_download_the_invoice(client, f, who, expected):
    project = accepted_project(f, members=2)
    released(project)
    owner, member = company_users(project)[:2]
    users = {"owner": owner, "member": member, "other_company": f.company_user(),
             "expert": project.contract.expert.user, "admin": staff_of(project)}
    uow.commit()
    if who != "anonymous":
        login(client, users[who])
    resp = client.get(f"/company/projects/{project.id}/invoice.pdf")
    assert resp.status_code == expected
    if expected == 200:
        assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF")
        assert f"invoice-{project.contract.reference}.pdf" in resp.headers["Content-Disposition"]
        assert resp.headers["Content-Security-Policy"].startswith("sandbox")


def test_no_invoice_before_the_release(client, f):
    project = accepted_project(f)
    login(client, company_users(project)[0])
    assert client.get(f"/company/projects/{project.id}/invoice.pdf").status_code == 404
    assert client.get("/company/projects/999999/invoice.pdf").status_code == 404


def test_the_invoice_names_the_hub_the_company_and_the_expert_by_pseudonym_only(client, f):
    project = accepted_project(f, qc_fee=30000)
    released(project)
    contract = project.contract
    expert: ExpertProfile = contract.expert
    login(client, company_users(project)[0])
    data = client.get(f"/company/projects/{project.id}/invoice.pdf").data
    text = pdf_text(data)
    assert "Final invoice" in text and f"INV-{contract.reference}" in text
    assert f"Expert {expert.pseudonym}" in text and str(contract.job) in text
    assert "Plasticonnect Hub" in text and contract.company.legal_name in text
    assert text.count("€4,600.00") >= 3  # client price, paid and held, released
    assert expert.user.full_name not in text and expert.user.email not in text
    for hidden in ("€4,000.00", "€600.00", "€300.00"):  # the expert price, the fee, the QC fee
        assert hidden not in text
    reader = PdfReader(io.BytesIO(data))
    assert expert.user.full_name not in str(reader.metadata)
    # Deterministic: the same invoice again is byte for byte the same.
    assert client.get(f"/company/projects/{project.id}/invoice.pdf").data == data

