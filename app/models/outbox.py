"""Outgoing effects recorded in the same transaction as the change that causes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model
from app.models.mixins import UTCDateTime, utcnow


class OutboxMessage(Model):
    """A side effect to deliver at least once (an e-mail today; pushes and payments later).

    Consumers are idempotent: a delivered message is never delivered again.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (sa.Index("ix_outbox_messages_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text(), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # After too many failures the sweeper stops; an admin sees it in the back office.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
