"""Offers (WORKFLOW.md §4): an expert's proposal for a job, kept as immutable versions.

The offer row carries the status; every change of solution, price, dates,
deliverables or milestones is a new ``OfferVersion`` (never updated or deleted).
Offers reach the hub first; the company only ever sees what the hub forwards.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.experts import ExpertProfile
    from app.models.jobs import Job
    from app.models.users import User


class OfferStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    FORWARDED = "forwarded"
    IN_NEGOTIATION = "in_negotiation"
    REVISED = "revised"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    NOT_SELECTED = "not_selected"


# An expert has at most one offer in these states per job.
PENDING_OFFER_STATES = (
    OfferStatus.SUBMITTED,
    OfferStatus.FORWARDED,
    OfferStatus.IN_NEGOTIATION,
    OfferStatus.REVISED,
)
_PENDING_SQL = "status IN ('submitted', 'forwarded', 'in_negotiation', 'revised')"


class Offer(TimestampMixin, Model):
    """An expert's offer on a job; ``current_version`` is what the hub reviews."""

    __tablename__ = "offers"
    __table_args__ = (
        sa.Index(
            "uq_offers_one_pending_per_expert",
            "job_id",
            "expert_id",
            unique=True,
            sqlite_where=sa.text(_PENDING_SQL),
            postgresql_where=sa.text(_PENDING_SQL),
        ),
        sa.CheckConstraint("(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_at_iff_withdrawn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    status: Mapped[OfferStatus] = mapped_column(enum_column(OfferStatus), default=OfferStatus.SUBMITTED, index=True)
    current_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("offer_versions.id", use_alter=True, name="fk_offers_current_version_id_offer_versions")
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    job: Mapped[Job] = relationship()
    expert: Mapped[ExpertProfile] = relationship()
    versions: Mapped[list[OfferVersion]] = relationship(
        back_populates="offer", order_by="OfferVersion.number", foreign_keys="OfferVersion.offer_id"
    )
    current_version: Mapped[OfferVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_OFFER_STATES

    def __repr__(self) -> str:
        return f"<Offer {self.id} {self.status}>"


class OfferVersion(Model):
    """One immutable version of an offer: what the expert proposed at that moment."""

    __tablename__ = "offer_versions"
    __table_args__ = (
        sa.UniqueConstraint("offer_id", "number", name="uq_offer_versions_offer_number"),
        sa.CheckConstraint("price_minor > 0", name="price_positive"),
        sa.CheckConstraint("end_date >= start_date", name="end_after_start"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id"), index=True)
    number: Mapped[int]
    solution: Mapped[str] = mapped_column(sa.Text())
    price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    start_date: Mapped[date]
    end_date: Mapped[date]
    deliverables: Mapped[list[Any]] = mapped_column(sa.JSON(), default=list)
    change_note: Mapped[str] = mapped_column(sa.Text(), default="")
    terms_version: Mapped[str] = mapped_column(sa.String(32))
    terms_accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    terms_ip: Mapped[str | None] = mapped_column(sa.String(45))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    offer: Mapped[Offer] = relationship(back_populates="versions", foreign_keys=[offer_id])
    created_by: Mapped[User] = relationship()
    milestones: Mapped[list[OfferMilestone]] = relationship(
        back_populates="version", order_by="OfferMilestone.position"
    )


class OfferMilestone(Model):
    """A milestone of an offer version: title, due date and share of the price (whole percent)."""

    __tablename__ = "offer_milestones"
    __table_args__ = (
        sa.CheckConstraint("share_percent > 0 AND share_percent <= 100", name="share_range"),
        sa.UniqueConstraint("version_id", "position", name="uq_offer_milestones_version_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_versions.id"), index=True)
    position: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    due_date: Mapped[date]
    share_percent: Mapped[int]

    version: Mapped[OfferVersion] = relationship(back_populates="milestones")


class ImmutableRowError(RuntimeError):
    """An offer version or milestone was about to be changed or deleted."""


@event.listens_for(Session, "before_flush")
def _versions_are_immutable(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, OfferVersion | OfferMilestone) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise ImmutableRowError(f"{type(obj).__name__} {obj.id} is immutable; add a new version instead")
