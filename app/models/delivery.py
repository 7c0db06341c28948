"""Delivery, approval, release, payouts, disputes and ratings (WORKFLOW.md §9–10).

    delivery: submitted -(qc requested)-> qc_review -qc_approve-> hub_review
              submitted -(no qc)-> hub_review -verify_and_forward-> forwarded -approve-> approved
              qc_review -qc_request_changes-> changes_requested
              hub_review -return_to_expert-> changes_requested
              forwarded -request_revision-> revision_requested
    (after changes_requested / revision_requested the expert submits a NEW delivery: nothing is overwritten)

    payout:   pending -send-> sent (provider transfer or bank transfer confirmed by an admin); pending -fail-> failed
    dispute:  open -decide-> decided
    refund:   pending -send-> sent

Money moves only through the ledger (app/models/ledger.py): ``escrow.released``
on final acceptance (expert payable + QC payable + hub fee = what was held),
``escrow.refunded`` on a refund decision, ``payout.sent`` and ``refund.sent``
when the money leaves the hub. Each row here records the business event and
the idempotency key of its ledger transaction.
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
    from app.models.contracts import Project
    from app.models.experts import ExpertProfile
    from app.models.users import User


class DeliveryStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    QC_REVIEW = "qc_review"
    HUB_REVIEW = "hub_review"
    CHANGES_REQUESTED = "changes_requested"  # by the QC expert or the hub, before the company saw it
    FORWARDED = "forwarded"  # the hub verified it and forwarded it to the company
    APPROVED = "approved"  # the company's final acceptance
    REVISION_REQUESTED = "revision_requested"  # by the company


OPEN_DELIVERY_STATES = frozenset({DeliveryStatus.SUBMITTED, DeliveryStatus.QC_REVIEW, DeliveryStatus.HUB_REVIEW,
                                  DeliveryStatus.FORWARDED})


class Delivery(Model):
    """One submitted version of the expert's work: files, notes and a checklist against the offer's deliverables."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.UniqueConstraint("project_id", "number", name="uq_deliveries_project_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    number: Mapped[int]  # 1, 2, ... per project
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, 24), default=DeliveryStatus.SUBMITTED)
    notes: Mapped[str] = mapped_column(sa.Text(), default="")
    # [{"deliverable": "...", "done": true, "comment": "..."}] against the accepted offer's deliverables
    checklist: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON(), default=list)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The hub's verification and the company's answer.
    hub_comment: Mapped[str] = mapped_column(sa.Text(), default="")
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    company_comment: Mapped[str] = mapped_column(sa.Text(), default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Final acceptance: the SHA-256 of every delivered file, and the acceptance certificate.
    accepted_hashes: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON(), default=list)
    certificate_storage_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    certificate_sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id])
    files: Mapped[list[DeliveryFile]] = relationship(back_populates="delivery", order_by="DeliveryFile.id")
    qc_reviews: Mapped[list[QcReview]] = relationship(back_populates="delivery", order_by="QcReview.id")

    __mapper_args__ = {"version_id_col": version}


class DeliveryFile(Model):
    """A file of a delivery (immutable)."""

    __tablename__ = "delivery_files"
    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    file_type: Mapped[str] = mapped_column(sa.String(16))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    metadata_removed: Mapped[str] = mapped_column(sa.Text(), default="")

    delivery: Mapped[Delivery] = relationship(back_populates="files")


class QcVerdict(enum.StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"


class QcReview(Model):
    """The QC expert's review of a delivery: a rubric scored 1–5, comments and a verdict."""

    __tablename__ = "qc_reviews"
    __table_args__ = (
        sa.CheckConstraint("completeness BETWEEN 1 AND 5 AND correctness BETWEEN 1 AND 5 AND clarity BETWEEN 1 AND 5",
                           name="scores_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    completeness: Mapped[int]
    correctness: Mapped[int]
    clarity: Mapped[int]
    comments: Mapped[str] = mapped_column(sa.Text())
    verdict: Mapped[QcVerdict] = mapped_column(enum_column(QcVerdict, 24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="qc_reviews")


class PayoutRole(enum.StrEnum):
    EXPERT = "expert"
    QC = "qc"


class PayoutMethod(enum.StrEnum):
    PROVIDER = "provider"  # a transfer to the expert's connected payment-provider account
    BANK = "bank"  # a bank transfer the hub makes, confirmed by an admin with its reference


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Payout(Model):
    """Money released to an expert leaving the hub: one per project and role, exactly once."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "role", name="uq_payouts_project_role"),
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    role: Mapped[PayoutRole] = mapped_column(enum_column(PayoutRole, 16))
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    method: Mapped[PayoutMethod] = mapped_column(enum_column(PayoutMethod, 16))
    status: Mapped[PayoutStatus] = mapped_column(enum_column(PayoutStatus, 16), default=PayoutStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(sa.String(80), unique=True)  # also the provider's key
    provider_transfer_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    bank_reference: Mapped[str] = mapped_column(sa.String(140), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()
    expert: Mapped[ExpertProfile] = relationship()

    __mapper_args__ = {"version_id_col": version}


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"


class DisputeDecision(enum.StrEnum):
    RELEASE = "release"  # everything to the expert side, as on acceptance
    REFUND = "refund"  # everything back to the company
    SPLIT = "split"  # part released, part refunded: the parts add up to what is held


class Dispute(Model):
    """A dispute on a delivery, opened by the company or the expert; release is frozen until the hub decides."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deliveries.id"))
    opened_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    opened_side: Mapped[str] = mapped_column(sa.String(16))  # company | expert
    reason: Mapped[str] = mapped_column(sa.Text())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[DisputeStatus] = mapped_column(enum_column(DisputeStatus, 16), default=DisputeStatus.OPEN)
    decision: Mapped[DisputeDecision | None] = mapped_column(enum_column(DisputeDecision, 16))
    released_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)  # to the expert side (with fees)
    refunded_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)  # back to the company
    decision_reason: Mapped[str] = mapped_column(sa.Text(), default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()

    __mapper_args__ = {"version_id_col": version}


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Refund(Model):
    """Money owed back to a company leaving the hub (card refund through the provider, or a bank transfer)."""

    __tablename__ = "refunds"
    __table_args__ = (sa.CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    method: Mapped[PayoutMethod] = mapped_column(enum_column(PayoutMethod, 16))
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, 16), default=RefundStatus.PENDING)
    reason: Mapped[str] = mapped_column(sa.Text(), default="")  # cancellation / dispute decision
    idempotency_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    provider_refund_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    bank_reference: Mapped[str] = mapped_column(sa.String(140), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(sa.Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    project: Mapped[Project] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Rating(Model):
    """The company's rating of the expert after acceptance (shown on the expert's pseudonymous card)."""

    __tablename__ = "ratings"
    __table_args__ = (
        sa.UniqueConstraint("project_id", name="uq_ratings_project"),
        sa.CheckConstraint(
            "overall BETWEEN 1 AND 5 AND quality BETWEEN 1 AND 5 AND communication BETWEEN 1 AND 5 "
            "AND timeliness BETWEEN 1 AND 5 AND expertise BETWEEN 1 AND 5", name="scores_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"))
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    rated_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    overall: Mapped[int]
    quality: Mapped[int]
    communication: Mapped[int]
    timeliness: Mapped[int]
    expertise: Mapped[int]
    feedback: Mapped[str] = mapped_column(sa.Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CompanyRating(Model):
    """The expert's private rating of the company, for the hub only."""

    __tablename__ = "company_ratings"
    __table_args__ = (
        sa.UniqueConstraint("project_id", name="uq_company_ratings_project"),
        sa.CheckConstraint("overall BETWEEN 1 AND 5", name="overall_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"))
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    rated_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    overall: Mapped[int]
    feedback: Mapped[str] = mapped_column(sa.Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
