"""In-app notifications (the bell) and the record of every e-mail sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.mixins import UTCDateTime, utcnow
from app.models.users import User


class Notification(Model):
    """Something that concerns a user. Rendered in the user's language when shown."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    link: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class EmailMessage(Model):
    """Every e-mail the hub sent or would send.

    In the embedded default nothing leaves the machine: this table is the mail
    outbox that admins read in the back office. With SMTP settings the same row
    records what was handed to the server. ``outbox_message_id`` is unique, so a
    message is never sent twice even when its delivery task runs twice.
    """

    __tablename__ = "email_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outbox_messages.id"), unique=True
    )
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body_text: Mapped[str] = mapped_column(sa.Text())
    body_html: Mapped[str] = mapped_column(sa.Text())
    transport: Mapped[str] = mapped_column(sa.String(16))  # "outbox" or "smtp"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
