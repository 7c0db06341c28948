from app.extensions import db
from app.models import AuditEvent
from app.services import audit, uow


def test_health_reports_database(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json["checks"]["database"]["ok"] is True


def test_audit_chain_detects_tampering(app, f):
    actor = f.admin()
    for i in range(3):
        audit.record("test.event", actor=actor, entity="users", entity_id=actor.id, data={"i": i})
    uow.commit()
    assert audit.verify_chain().ok
    event = db.session.get(AuditEvent, 2)
    event.data = {"i": 99}
    uow.commit()
    report = audit.verify_chain()
    assert not report.ok and report.broken_at == 2
