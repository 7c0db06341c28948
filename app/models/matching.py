"""Matching (WORKFLOW.md §4): ranking runs of a job, their per-expert results, and the criterion weights.

A run is queued when a job is published or when the hub asks; a background task
scores every approved expert and stores the top of the ranking with a breakdown
per criterion, plus the experts excluded by a hard filter and why.
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
    from app.models.experts import ExpertProfile
    from app.models.jobs import Job
    from app.models.users import User


class MatchRunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class MatchTrigger(enum.StrEnum):
    PUBLISH = "publish"
    MANUAL = "manual"


class MatchRun(Model):
    """One ranking of the experts for a job, with the weights it used."""

    __tablename__ = "match_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    status: Mapped[MatchRunStatus] = mapped_column(enum_column(MatchRunStatus, 16), default=MatchRunStatus.QUEUED)
    trigger: Mapped[MatchTrigger] = mapped_column(enum_column(MatchTrigger, 16))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    weights: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    considered: Mapped[int] = mapped_column(default=0)
    excluded_counts: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    elapsed_ms: Mapped[float | None]
    index_fingerprint: Mapped[str] = mapped_column(sa.String(64), default="")
    notified_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    job: Mapped[Job] = relationship()
    requested_by: Mapped[User | None] = relationship()
    results: Mapped[list[MatchResult]] = relationship(
        back_populates="run", order_by="MatchResult.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<MatchRun {self.id} job={self.job_id} {self.status}>"


class MatchResult(Model):
    """One expert in a run: ranked (``rank`` set) or excluded by a hard filter (``exclusion_reason``)."""

    __tablename__ = "match_results"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "expert_id", name="uq_match_results_run_expert"),
        sa.CheckConstraint("(rank IS NULL) = (exclusion_reason != '')", name="ranked_xor_excluded"),
        sa.Index("ix_match_results_run_rank", "run_id", "rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("match_runs.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    rank: Mapped[int | None]
    score: Mapped[float] = mapped_column(sa.Float(), default=0.0)
    breakdown: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), default=dict)
    exclusion_reason: Mapped[str] = mapped_column(sa.String(16), default="")
    exclusion_detail: Mapped[str] = mapped_column(sa.Text(), default="")

    run: Mapped[MatchRun] = relationship(back_populates="results")
    expert: Mapped[ExpertProfile] = relationship()

    @property
    def excluded(self) -> bool:
        return self.rank is None


class MatchingWeight(Model):
    """The weight of one matching criterion, tuned by the hub in the back office."""

    __tablename__ = "matching_weights"

    criterion: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(sa.Float())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
