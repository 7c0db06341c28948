"""Negotiation through the hub (WORKFLOW.md §5): what the hub forwards to the company, and the two threads.

The company never talks to the expert. Each offer has two separate threads,
``company`` (company ↔ hub) and ``expert`` (hub ↔ expert), that never mix. An
``OfferForward`` records one version the hub forwarded, with the hub fee it
applied: the company sees the client price, the expert never does.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.offers import Offer, OfferVersion
    from app.models.users import User


class OfferForward(Model):
    """One offer version forwarded by the hub to the company, with the client price it carries."""

    __tablename__ = "offer_forwards"
    __table_args__ = (
        sa.UniqueConstraint("offer_id", "version_id", name="uq_offer_forwards_offer_version"),
        sa.CheckConstraint("fee_minor >= 0", name="fee_not_negative"),
        sa.CheckConstraint("client_price_minor > 0", name="client_price_positive"),
        sa.CheckConstraint("client_price_minor = expert_price_minor + fee_minor", name="client_price_adds_up"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id"), index=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_versions.id"))
    expert_price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger())
    # How the fee was set: a percentage in basis points (1500 = 15 %), or None for a fixed amount.
    fee_basis_points: Mapped[int | None]
    client_price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    note_to_company: Mapped[str] = mapped_column(sa.Text(), default="")
    forwarded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    forwarded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    offer: Mapped[Offer] = relationship()
    version: Mapped[OfferVersion] = relationship()
    forwarded_by: Mapped[User] = relationship()


class ThreadSide(enum.StrEnum):
    COMPANY = "company"  # the company's users and the hub
    EXPERT = "expert"  # the expert and the hub


class NegotiationMessage(Model):
    """A message in one of an offer's two threads, with an optional attachment."""

    __tablename__ = "negotiation_messages"
    __table_args__ = (
        sa.Index("ix_negotiation_messages_offer_side", "offer_id", "side", "id"),
        sa.CheckConstraint("(storage_key IS NULL) = (attachment_name IS NULL)", name="attachment_complete"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id"))
    side: Mapped[ThreadSide] = mapped_column(enum_column(ThreadSide, 16))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    storage_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    attachment_name: Mapped[str | None] = mapped_column(sa.String(255))
    attachment_type: Mapped[str | None] = mapped_column(sa.String(100))
    attachment_size: Mapped[int | None] = mapped_column(sa.BigInteger())
    attachment_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    offer: Mapped[Offer] = relationship()
    author: Mapped[User] = relationship()
