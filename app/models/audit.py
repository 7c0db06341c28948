"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.mixins import UTCDateTime, utcnow
from app.models.users import User


class AuditEvent(Model):
    """One thing that happened: who did what to which object, from which state to which.

    ``hash`` covers this row's content and the previous row's hash, so editing or
    deleting any row breaks the chain from there on (``services.audit.verify_chain``).
    """

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    entity: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[int | None]
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str | None] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    actor: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action}>"
