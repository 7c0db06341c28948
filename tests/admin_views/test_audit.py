"""The audit log view: read-only, newest first, JSON shown safely, and the chain check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, User
from app.services import audit, uow
from tests.admin_views.conftest import filter_index, flashes, list_table, snapshot


def record_events(actor: User, n: int = 3) -> list[AuditEvent]:
    events = [
        audit.record(f"test.step{i}", actor=actor, entity="companies", entity_id=i, data={"i": i}) for i in range(n)
    ]
    uow.commit()
    return events


def test_verify_chain_reports_an_intact_chain(admin_client: FlaskClient, admin: User) -> None:
    record_events(admin, 4)

    resp = admin_client.post("/admin/audit/verify", follow_redirects=True)

    assert resp.status_code == 200
    assert flashes(resp.get_data(as_text=True)) == ["The audit chain is intact: 4 events checked."]


def test_verify_chain_finds_a_tampered_event(admin_client: FlaskClient, admin: User) -> None:
    events = record_events(admin, 4)
    # Someone edits an event behind the application's back.
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == events[2].id).values(data={"i": 99}))
    db.session.commit()

    resp = admin_client.post("/admin/audit/verify", follow_redirects=True)

    messages = flashes(resp.get_data(as_text=True))
    assert messages == [
        f"The audit chain is broken at event #{events[2].id}: its content was changed after it was written. "
        "2 events before it are intact."
    ]


def test_verify_chain_finds_a_deleted_event(admin_client: FlaskClient, admin: User) -> None:
    events = record_events(admin, 3)
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[1].id))
    db.session.commit()

    messages = flashes(admin_client.post("/admin/audit/verify", follow_redirects=True).get_data(as_text=True))

    assert len(messages) == 1
    assert f"broken at event #{events[2].id}: its link to the previous event does not match" in messages[0]


def test_audit_log_is_newest_first_and_shows_json_safely(admin_client: FlaskClient, admin: User) -> None:
    audit.record("test.old", actor=admin, entity="companies", entity_id=1)
    audit.record(
        "test.xss",
        actor=None,
        entity="companies",
        entity_id=2,
        data={"answer": "<script>alert(1)</script>", "city": "Düsseldorf"},
    )
    uow.commit()

    html = admin_client.get("/admin/audit/").get_data(as_text=True)

    assert html.index("test.xss") < html.index("test.old")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Düsseldorf" in html
    assert 'data-testid="verify-chain"' in html


def test_audit_details_show_the_hashes(admin_client: FlaskClient, admin: User) -> None:
    event = record_events(admin, 1)[0]
    html = admin_client.get(f"/admin/audit/details/?id={event.id}").get_data(as_text=True)
    assert event.hash[:12] in html and "test.step0" in html


def test_audit_log_cannot_be_written_through_the_admin(admin_client: FlaskClient, admin: User, app: Flask) -> None:
    event = record_events(admin, 1)[0]
    before = snapshot(app)

    create = admin_client.post("/admin/audit/new/", data={"action": "forged", "entity": "x"})
    edit = admin_client.post(f"/admin/audit/edit/?id={event.id}", data={"action": "forged"})
    delete = admin_client.post("/admin/audit/delete/", data={"id": str(event.id)})

    assert {create.status_code, edit.status_code, delete.status_code} == {302}
    assert snapshot(app) == before


def test_audit_filters_by_action_and_actor(admin_client: FlaskClient, admin: User, f: Any) -> None:
    other = f.admin(email="other-admin@example.test")
    audit.record("test.mine", actor=admin, entity="companies", entity_id=1)
    audit.record("test.theirs", actor=other, entity="users", entity_id=2)
    uow.commit()
    index = filter_index(admin_client, "audit")

    def rows(url: str) -> str:
        return list_table(admin_client.get(url).get_data(as_text=True))

    html = rows(f"/admin/audit/?flt0_{index[('Action', 'equals')]}=test.mine")
    assert "test.mine" in html and "test.theirs" not in html

    actor_filter = next(i for (name, op), i in index.items() if "mail" in name.lower() and op == "equals")
    html = rows(f"/admin/audit/?flt0_{actor_filter}=other-admin@example.test")
    assert "test.theirs" in html and "test.mine" not in html

    html = rows(f"/admin/audit/?flt0_{index[('Entity', 'equals')]}=users")
    assert "test.theirs" in html and "test.mine" not in html
