"""On PostgreSQL, 32 simultaneous confirmations of one funding make ONE ledger transaction and ONE project.

Each round: a signed contract paid on the fake hosted page; then 32 threads, aligned by a
Barrier, each with its own app context and session: 16 redeliver the same webhook, 8 deliver
other events about the same paid session, 8 admins record the matching bank transfer.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from app.exceptions import DomainError
from app.extensions import db
from app.models import (
    BankTransfer,
    Contract,
    ContractStatus,
    LedgerTransaction,
    Project,
    ProjectMember,
    ProviderEvent,
    User,
)
from app.services import escrow, ledger, uow
from tests import factories
from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_escrow import (
    CANCEL,
    PRICE,
    SUCCESS,
    completed_event,
    configure_card_payments,
    event_body,
    pay_on_hosted_page,
)

pytestmark = pytest.mark.postgres
ROUNDS = 20
CONTENDERS = 32
REDELIVERIES, OTHER_EVENTS = 16, 8  # the rest are admins


def _count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _own_database(url: str) -> str:
    """A database of this test's own (``<name>_escrow_races``): other runs truncating theirs cannot deadlock it."""
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_escrow_races"
    engine = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return parsed._replace(path=f"/{name}").geturl()


def test_concurrent_confirmations_fund_exactly_once(storage_dir):
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(_own_database(postgres_url())),
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": CONTENDERS + 4, "max_overflow": 0, "pool_timeout": 30})
    started = time.monotonic()
    winners: dict[str, int] = {}
    try:
        with FakeStripe() as fake:
            received = configure_card_payments(app, fake)
            with app.app_context():
                _create_schema(app)
            for _ in range(ROUNDS):
                with app.app_context():
                    _clear_tables(app)
                    fake.reset()  # ids restart each round: so do the provider's idempotency keys
                    received.clear()
                    contract = factories.signed_contract(client_price_minor=PRICE)
                    admins = [factories.admin() for _ in range(CONTENDERS - REDELIVERIES - OTHER_EVENTS)]
                    uow.commit()
                    owner = contract.company.users[0]
                    url = escrow.start_card_checkout(contract.id, actor=owner, success_url=SUCCESS, cancel_url=CANCEL)
                    body, signature = pay_on_hosted_page(fake, url)
                    session_id = url.rsplit("/", 1)[1]
                    others = [event_body(completed_event(fake, session_id)) for _ in range(OTHER_EVENTS)]
                    contract_id, admin_ids = contract.id, [a.id for a in admins]
                    db.session.remove()

                barrier = threading.Barrier(CONTENDERS)
                outcomes: list[str] = []
                lock = threading.Lock()

                def run(call: Any, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes,
                        lock: threading.Lock = lock) -> None:
                    with app.app_context():
                        try:
                            barrier.wait()
                            outcome = str(call())
                        except DomainError as exc:
                            outcome = f"refused: {exc}"
                        except Exception as exc:  # noqa: BLE001 - the assertion names it
                            outcome = f"ERROR {type(exc).__name__}: {exc}"
                        finally:
                            db.session.remove()
                        with lock:
                            outcomes.append(outcome)

                def admin_records(admin_id: int, contract_id: int = contract_id) -> Any:
                    actor = db.session.get(User, admin_id)
                    assert actor is not None
                    escrow.record_bank_transfer(contract_id, actor=actor, amount_minor=PRICE, currency="EUR",
                                                received_on=date(2026, 12, 1), bank_reference=f"SEPA {admin_id}")
                    return "recorded"

                calls: list[Any] = [lambda b=body: escrow.handle_provider_event(b, fake.sign(b))] * REDELIVERIES
                calls += [lambda b=b: escrow.handle_provider_event(b, fake.sign(b)) for b in others]
                calls += [lambda a=a: admin_records(a) for a in admin_ids]
                threads = [threading.Thread(target=run, args=(c,)) for c in calls]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=60)

                assert len(outcomes) == CONTENDERS, outcomes
                assert not [o for o in outcomes if o.startswith("ERROR")], outcomes
                funded = [o for o in outcomes if o in ("applied: funded", "recorded")]
                assert len(funded) == 1, outcomes
                winners[funded[0]] = winners.get(funded[0], 0) + 1
                allowed = {"applied: funded", "recorded", "duplicate", "already applied",
                           "rejected: contract already funded", "refused: This contract is already paid."}
                assert set(outcomes) <= allowed, set(outcomes) - allowed
                with app.app_context():
                    contract = db.session.get(Contract, contract_id)
                    assert contract is not None and contract.status is ContractStatus.FUNDED
                    assert _count(LedgerTransaction, LedgerTransaction.kind == escrow.FUNDED_KIND) == 1
                    assert _count(Project) == 1
                    assert _count(ProjectMember, ProjectMember.role == "expert") == 1
                    assert _count(BankTransfer) == (1 if funded[0] == "recorded" else 0)
                    assert _count(ProviderEvent) == 1 + OTHER_EVENTS
                    assert ledger.check_invariants(db.session) == []
                    db.session.remove()
    finally:
        with app.app_context():
            db.session.remove()
            _clear_tables(app)
            db.engine.dispose()
    elapsed = time.monotonic() - started
    print(f"\n{ROUNDS} rounds x {CONTENDERS} contenders in {elapsed:.1f}s; winners {winners}")
