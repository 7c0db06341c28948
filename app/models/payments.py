"""Payment-provider records: received webhook events and hosted checkout sessions.

``ProviderEvent`` makes webhook redelivery harmless: the (provider, event id)
pair is unique, so a duplicate delivery finds the row and has no second effect.

``CheckoutSession`` has no status column on purpose: its life is told by
timestamps (``paid_at``, ``expired_at``), set once each, so no workflow table is
needed and the one-status-writer rule of STYLE.md §3.3 holds. ``state`` derives
``open`` / ``paid`` / ``expired`` from them; the database allows at most one of
the two to be set.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.users import User


class ProviderEvent(Model):
    """One webhook event as the provider sent it, stored before it is processed."""

    __tablename__ = "provider_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "event_id", name="uq_provider_events_provider_event_id"),
        sa.Index("ix_provider_events_unprocessed", "processed_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16), default="stripe")
    event_id: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(128), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    # What processing did: "applied", "ignored: unknown type", "rejected: amount mismatch", ...
    result: Mapped[str] = mapped_column(sa.String(255), default="")

    def __repr__(self) -> str:
        return f"<ProviderEvent {self.provider}:{self.event_id} {self.type}>"


class CheckoutPurpose(enum.StrEnum):
    CONTRACT_FUNDING = "contract_funding"


class CheckoutSessionState(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"


class CheckoutSession(Model):
    """A hosted checkout page opened at the provider for one payment to the hub."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        sa.CheckConstraint("length(currency) = 3 AND upper(currency) = currency", name="currency_code"),
        sa.CheckConstraint("paid_at IS NULL OR expired_at IS NULL", name="paid_or_expired"),
        sa.CheckConstraint("payment_intent IS NULL OR paid_at IS NOT NULL", name="payment_intent_when_paid"),
        sa.Index("ix_checkout_sessions_purpose_reference", "purpose", "reference_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16), default="stripe")
    provider_session_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    # The key the session was created with (deterministic: a retry reuses the session).
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    purpose: Mapped[CheckoutPurpose] = mapped_column(enum_column(CheckoutPurpose))
    reference_id: Mapped[int] = mapped_column(sa.BigInteger())  # e.g. contracts.id for contract_funding
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    url: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_intent: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_by: Mapped[User | None] = relationship()

    @property
    def state(self) -> CheckoutSessionState:
        """``open`` until paid or expired (derived from the timestamps)."""
        if self.paid_at is not None:
            return CheckoutSessionState.PAID
        if self.expired_at is not None:
            return CheckoutSessionState.EXPIRED
        return CheckoutSessionState.OPEN

    def __repr__(self) -> str:
        return f"<CheckoutSession {self.provider_session_id} {self.purpose}:{self.reference_id} {self.state}>"
