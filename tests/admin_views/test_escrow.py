"""The back office's Escrow page: waiting contracts, recording and resolving transfers, funded ledger, health."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import BankTransfer, ContractStatus
from app.services import uow
from tests.admin_views.conftest import flashes
from tests.conftest import login
from tests.services.test_escrow import PRICE, funded_txns, record, reload, signed


def page(client) -> str:
    resp = client.get("/admin/escrow/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_waiting_contracts_oldest_first_with_health_panel(app, admin_client, f):
    first, second = signed(f), signed(f)
    html = page(admin_client)
    assert "All invariants hold." in html
    order = [int(i) for i in re.findall(r'data-testid="waiting-(\d+)"', html)]
    assert order == [first.id, second.id]
    assert first.payment_reference in html and "4,600.00" in html
    assert 'data-testid="no-funded"' in html


def test_record_a_transfer_in_local_format_funds_and_shows_the_ledger(app, admin_client, admin, f):
    contract = signed(f)
    resp = admin_client.post("/admin/escrow/transfers", data={"contract_id": contract.id,
        f"c{contract.id}-amount": "4.600,00", f"c{contract.id}-received_on": "2026-12-01",
        f"c{contract.id}-bank_reference": "SEPA 77"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert any("is recorded" in m for m in flashes(html)), flashes(html)
    contract = reload(contract)
    assert contract.status is ContractStatus.FUNDED
    transfer = db.session.scalars(sa.select(BankTransfer)).one()
    assert (transfer.amount_minor, transfer.recorded_by_id) == (PRICE, admin.id)
    assert f'data-testid="funded-{contract.id}"' in html and f"escrow.funded:contract:{contract.id}" in html
    assert "bank_clearing" in html and "All invariants hold." in html
    assert 'data-testid="no-waiting"' in html


def test_over_payment_is_listed_and_resolved_from_the_page(app, admin_client, admin, f):
    contract = signed(f)
    transfer = record(contract, admin, 470000)
    html = page(admin_client)
    assert f'data-testid="flagged-{transfer.id}"' in html and "100.00 too much" in html
    resp = admin_client.post("/admin/escrow/transfers/resolve",
                             data={"transfer_id": transfer.id, f"t{transfer.id}-note": ""}, follow_redirects=True)
    assert reload(contract).status is ContractStatus.SIGNED
    resp = admin_client.post("/admin/escrow/transfers/resolve",
                             data={"transfer_id": transfer.id, f"t{transfer.id}-note": "Excess returned by SEPA"},
                             follow_redirects=True)
    assert any("resolved" in m for m in flashes(resp.get_data(as_text=True)))
    assert reload(contract).status is ContractStatus.FUNDED and len(funded_txns()) == 1


def test_a_refused_transfer_is_explained(app, admin_client, admin, f):
    contract = signed(f)
    record(contract, admin, PRICE)
    resp = admin_client.post("/admin/escrow/transfers", data={"contract_id": contract.id,
        f"c{contract.id}-amount": "10", f"c{contract.id}-received_on": "2026-12-01",
        f"c{contract.id}-bank_reference": "late"}, follow_redirects=True)
    assert any("already paid" in m for m in flashes(resp.get_data(as_text=True)))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BankTransfer)) == 1


def test_only_staff_with_two_factor_see_it(app, client, f):
    contract = signed(f)
    login(client, contract.company.users[0])
    assert client.get("/admin/escrow/").status_code == 403
    assert client.post("/admin/escrow/transfers", data={"contract_id": contract.id}).status_code == 403
    uow.commit()
