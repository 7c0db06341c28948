"""The back office's Payouts page (admin_views/payouts.py): releases waiting, bank payouts, failed transfers.

Staff only; "Release now" releases once; "Mark as paid" needs the bank reference (kept when
refused); "Retry" re-sends a failed provider payout through the real gateway to FakeStripe;
the lists filter and paginate, and show the expert's pseudonym, real name and bank details.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Dispute, LedgerTransaction, Payout, PayoutStatus, Project, ProjectStatus
from app.services import payouts, uow
from tests.admin_views.conftest import flashes
from tests.blueprints.test_earnings import shared_app  # noqa: F401  (the app with the release views)
from tests.conftest import login
from tests.services.test_payouts import (  # noqa: F401  (fixtures)
    TRANSFERS,
    fake,
    provider_project,
    run_send,
    stripe_server,
    the_payout,
)
from tests.services.test_release import (
    accepted_project,
    assert_ledger_sound,
    company_users,
    count,
    released,
    reload,
    staff_of,
)

URL = "/admin/payouts/"


def staff_client(client: FlaskClient, project: Project) -> FlaskClient:
    return login(client, staff_of(project))


def html_of(client: FlaskClient, url: str = URL, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status
    return resp.get_data(as_text=True)


def payout_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="payout-(\d+)"', html)]


# Access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "company", "expert", "admin_without_2fa"])
def test_only_staff_with_two_factor_open_the_page(client, f, who):
    project = accepted_project(f)
    users = {"company": company_users(project)[0], "expert": project.contract.expert.user,
             "admin_without_2fa": f.admin()}
    uow.commit()
    if who != "anonymous":
        login(client, users[who])
    resp = client.get(URL)
    assert resp.status_code in (302, 403)
    if who in ("anonymous", "admin_without_2fa"):
        assert resp.status_code == 302
    post = client.post(f"{URL}projects/{project.id}/release")
    assert post.status_code in (302, 401, 403)
    assert reload(project).status is ProjectStatus.ACCEPTED


# Release now -----------------------------------------------------------------------------------


def test_release_now_releases_once(client, f):
    project = accepted_project(f)
    staff_client(client, project)
    html = html_of(client)
    assert f'data-testid="awaiting-{project.id}"' in html and "€4,600.00" in html

    resp = client.post(f"{URL}projects/{project.id}/release", follow_redirects=True)
    assert any("released" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(project).status is ProjectStatus.COMPLETED
    html = resp.get_data(as_text=True)
    assert 'data-testid="no-awaiting"' in html
    assert len(payout_ids(html)) == 1  # the bank transfer to make

    again = client.post(f"{URL}projects/{project.id}/release", follow_redirects=True)
    assert any("already released" in m for m in flashes(again.get_data(as_text=True)))
    assert count(LedgerTransaction, LedgerTransaction.kind == "escrow.released") == 1
    assert_ledger_sound()


def test_a_disputed_acceptance_cannot_be_released_from_the_page(client, f):
    project = accepted_project(f)
    db.session.add(Dispute(project_id=project.id, opened_by_id=company_users(project)[0].id,
                           opened_side="company", reason="Missing chapter"))
    uow.commit()
    staff_client(client, project)
    html = html_of(client)
    assert 'data-testid="disputed"' in html and 'data-testid="release-now"' not in html
    resp = client.post(f"{URL}projects/{project.id}/release")
    assert resp.status_code == 409
    assert any("dispute" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(project).status is ProjectStatus.ACCEPTED and count(Payout) == 0


# Bank payouts ----------------------------------------------------------------------------------


def test_the_bank_list_shows_who_to_pay_and_mark_as_paid_needs_the_reference(client, f):
    project = accepted_project(f)
    expert = project.contract.expert
    expert.payout_account_name, expert.payout_iban = "Eva Expert", "DE89370400440532013000"
    uow.commit()
    released(project)
    payout = the_payout()
    staff_client(client, project)
    html = html_of(client)
    row = html[html.index(f'data-testid="payout-{payout.id}"'):]
    row = row[: row.index("</tr>")]
    assert f"Expert {expert.pseudonym}" in row and expert.user.full_name in row
    assert "Eva Expert" in row and "DE89 3704 0044 0532 0130 00" in row and "€4,000.00" in row

    resp = client.post(f"{URL}{payout.id}/paid", data={f"p{payout.id}-reference": "  "})
    assert resp.status_code == 400
    assert "Enter the reference of the bank transfer." in resp.get_data(as_text=True)
    assert the_payout().status is PayoutStatus.PENDING

    resp = client.post(f"{URL}{payout.id}/paid?show=pending_bank",
                       data={f"p{payout.id}-reference": "SEPA-2026-1201"}, follow_redirects=True)
    assert any("marked as paid" in m for m in flashes(resp.get_data(as_text=True)))
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and payout.bank_reference == "SEPA-2026-1201"
    assert payout.confirmed_by_id == project.manager_id
    assert 'data-testid="no-payouts"' in resp.get_data(as_text=True)  # back on the bank list, now empty
    sent = html_of(client, URL + "?show=sent")
    assert payout_ids(sent) == [payout.id] and "SEPA-2026-1201" in sent

    again = client.post(f"{URL}{payout.id}/paid", data={f"p{payout.id}-reference": "SEPA-2"})
    assert again.status_code == 422 and any("already" in m for m in flashes(again.get_data(as_text=True)))
    assert_ledger_sound()


# Failed provider payouts -----------------------------------------------------------------------


def test_a_failed_provider_payout_is_retried_from_the_page(client, f, fake):  # noqa: F811
    project = provider_project(f)
    fake.fail_next(500, path=TRANSFERS, times=payouts.MAX_ATTEMPTS)
    released(project)
    for _ in range(payouts.MAX_ATTEMPTS - 1):
        run_send(the_payout().id)
    payout = the_payout()
    assert payout.status is PayoutStatus.FAILED
    staff_client(client, project)
    html = html_of(client, URL + "?show=failed")
    assert payout_ids(html) == [payout.id] and f'data-testid="retry-{payout.id}"' in html
    assert 'data-testid="last-error"' in html and project.contract.expert.payout_account_id in html
    assert payout_ids(html_of(client)) == []  # not a bank transfer to make

    resp = client.post(f"{URL}{payout.id}/retry?show=failed", follow_redirects=True)
    assert any("queued again" in m for m in flashes(resp.get_data(as_text=True)))
    payout = the_payout()
    assert payout.status is PayoutStatus.SENT and len(fake.transfers) == 1
    assert_ledger_sound()


def test_retrying_a_bank_payout_is_refused_with_the_reason(client, f):
    project = accepted_project(f)
    released(project)
    payout = the_payout()
    staff_client(client, project)
    resp = client.post(f"{URL}{payout.id}/retry")
    assert resp.status_code == 422
    assert any("bank payout" in m for m in flashes(resp.get_data(as_text=True)))


# Lists -----------------------------------------------------------------------------------------


def test_filters_count_and_paginate(client, f):
    first = accepted_project(f, qc_fee=1000)
    released(first)
    for _ in range(12):
        project = accepted_project(f, qc_fee=1000, members=1)
        released(project)
    staff_client(client, first)
    html = html_of(client)
    assert 'data-testid="filter-pending_bank"' in html and "26 in this list." in html
    ids = payout_ids(html)
    assert len(ids) == 25 and "page=2" in html
    oldest_first = list(db.session.scalars(sa.select(Payout.id).order_by(Payout.created_at, Payout.id)))
    assert ids == oldest_first[:25]
    assert payout_ids(html_of(client, URL + "?show=pending_bank&page=2")) == oldest_first[25:]
    assert 'data-testid="no-payouts"' in html_of(client, URL + "?show=failed")
    assert payout_ids(html_of(client, URL + "?show=bogus")) == ids  # an unknown filter is the default list


def test_the_page_shows_each_filter(client, f: Any):
    project = accepted_project(f)
    staff_client(client, project)
    html = html_of(client)
    for name in ("pending_bank", "failed", "pending_provider", "sent", "all"):
        assert f'data-testid="filter-{name}"' in html
    assert 'data-testid="no-payouts"' in html
