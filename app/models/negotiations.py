"""Negotiation through the hub (WORKFLOW.md §5): what the hub forwards to the company, and the two threads.

The company never talks to the expert. Each offer has two separate threads,
``company`` (company ↔ hub) and ``expert`` (hub ↔ expert), that never mix. An
``OfferForward`` records one version the hub forwarded, with the hub fee it
applied: the company sees the client price, the expert never does.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

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


class ProposalDecision(enum.StrEnum):
    OPEN = ""  # waiting for the expert
    CONFIRMED = "confirmed"
    REFUSED = "refused"


class OfferProposal(Model):
    """A revised version the hub proposes on the expert's behalf (WORKFLOW.md §5).

    It becomes a version of the offer only when the expert confirms it: the
    confirmed version is authored by the expert, who accepts the clauses then.
    The proposal itself is never changed after its decision, for the record.
    """

    __tablename__ = "offer_proposals"
    __table_args__ = (
        # At most one proposal per offer waits for the expert.
        sa.Index(
            "uq_offer_proposals_one_open_per_offer",
            "offer_id",
            unique=True,
            sqlite_where=sa.text("decision = ''"),
            postgresql_where=sa.text("decision = ''"),
        ),
        sa.CheckConstraint("price_minor > 0", name="price_positive"),
        sa.CheckConstraint("end_date >= start_date", name="end_after_start"),
        sa.CheckConstraint("decision IN ('', 'confirmed', 'refused')", name="decision_known"),
        sa.CheckConstraint("(decision = '') = (decided_at IS NULL)", name="decided_at_iff_decided"),
        sa.CheckConstraint("(decision = 'confirmed') = (resulting_version_id IS NOT NULL)",
                           name="version_iff_confirmed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id"), index=True)
    based_on_version_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_versions.id"))
    solution: Mapped[str] = mapped_column(sa.Text())
    price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    start_date: Mapped[date]
    end_date: Mapped[date]
    deliverables: Mapped[list[Any]] = mapped_column(sa.JSON(), default=list)
    # [{"title": str, "due_date": "YYYY-MM-DD", "share_percent": int}, ...]
    milestones: Mapped[list[Any]] = mapped_column(sa.JSON(), default=list)
    note: Mapped[str] = mapped_column(sa.Text(), default="")
    proposed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decision: Mapped[str] = mapped_column(sa.String(16), default=ProposalDecision.OPEN.value)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_note: Mapped[str] = mapped_column(sa.Text(), default="")
    resulting_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer_versions.id"))

    offer: Mapped[Offer] = relationship()
    based_on_version: Mapped[OfferVersion] = relationship(foreign_keys=[based_on_version_id])
    resulting_version: Mapped[OfferVersion | None] = relationship(foreign_keys=[resulting_version_id])
    proposed_by: Mapped[User] = relationship()

    @property
    def is_open(self) -> bool:
        return self.decision == ProposalDecision.OPEN.value

    @property
    def milestone_rows(self) -> list[tuple[str, date, int]]:
        """The milestones as (title, due date, share), like an OfferMilestone's."""
        return [(str(m["title"]), date.fromisoformat(str(m["due_date"])), int(m["share_percent"]))
                for m in self.milestones]
