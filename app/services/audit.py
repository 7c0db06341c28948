"""The hash-chained audit log: append, and verify."""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, User
from app.models.mixins import utcnow

GENESIS = "0" * 64
# Set by the web layer for the duration of a request, so services need no request.
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
_CHAIN_LOCK_KEY = 0x706C6173  # any constant; serialises appends on PostgreSQL


def record(
    action: str,
    *,
    actor: User | None,
    entity: str,
    entity_id: int | None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (never commits)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    prev = db.session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        created_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        entity=entity,
        entity_id=entity_id,
        from_state=from_state,
        to_state=to_state,
        data=_jsonable(data or {}),
        ip_address=client_ip.get(),
        prev_hash=prev or GENESIS,
    )
    event.hash = compute_hash(event)
    db.session.add(event)
    db.session.flush()
    return event


def compute_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and this event's content."""
    body = {
        "prev": event.prev_hash,
        "at": _iso(event.created_at),
        "actor": event.actor_id,
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "from": event.from_state,
        "to": event.to_state,
        "data": event.data,
        "ip": event.ip_address,
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a chain verification."""

    checked: int
    broken_at: int | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the whole log in id order and recompute every link."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch_size)
        ).all()
        if not rows:
            return ChainReport(checked=checked, broken_at=None)
        for event in rows:
            if event.prev_hash != prev:
                return ChainReport(checked, event.id, "its link to the previous event does not match")
            if compute_hash(event) != event.hash:
                return ChainReport(checked, event.id, "its content was changed after it was written")
            prev = event.hash
            checked += 1
            last_id = event.id
        db.session.expunge_all()


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))
