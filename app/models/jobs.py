"""Jobs posted by approved companies (WORKFLOW.md §2–3): the job, its requirements,
attachments, clarification thread, confidentiality acceptances and invitations."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import ExpertiseLevel, LanguageProficiency, enum_column
from app.models.mixins import TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.catalog import CatalogTerm
    from app.models.companies import Company
    from app.models.experts import ExpertProfile
    from app.models.users import User


class JobStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    CLARIFICATION_REQUESTED = "clarification_requested"
    PUBLISHED = "published"
    AWARDED = "awarded"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class JobCategory(enum.StrEnum):
    TRAINING = "training"
    PROBLEM_SOLVING = "problem_solving"


class JobVisibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class TrainingDelivery(enum.StrEnum):
    ON_SITE = "on_site"
    REMOTE = "remote"


class InvitationKind(enum.StrEnum):
    INVITED = "invited"  # by the hub: a private job becomes visible to the expert
    RECOMMENDED = "recommended"  # a top match of a public job, told about it


class InvitationStatus(enum.StrEnum):
    OPEN = "open"
    DECLINED = "declined"


class AttachmentKind(enum.StrEnum):
    CAD = "cad"
    PDF = "pdf"
    IMAGE = "image"
    SPREADSHEET = "spreadsheet"


# The sub-types offered per category (short codes; labels live in the service/forms).
JOB_SUBTYPES: dict[JobCategory, tuple[str, ...]] = {
    JobCategory.TRAINING: ("workshop", "course", "coaching", "audit"),
    JobCategory.PROBLEM_SOLVING: (
        "root_cause",
        "process_optimisation",
        "tool_design",
        "material_selection",
        "failure_analysis",
    ),
}
PAYMENT_UPFRONT_ESCROW = "upfront_escrow"


class Job(TimestampMixin, Model):
    """A job a company posts; reviewed by the hub before experts see it."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint("budget_minor IS NULL OR budget_minor > 0", name="budget_positive"),
        sa.CheckConstraint(
            "start_date IS NULL OR completion_date IS NULL OR completion_date >= start_date",
            name="completion_after_start",
        ),
        sa.CheckConstraint("headcount IS NULL OR headcount > 0", name="headcount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title_term_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_terms.id"), index=True)
    category: Mapped[JobCategory] = mapped_column(enum_column(JobCategory, 20), index=True)
    subtype: Mapped[str] = mapped_column(sa.String(40), default="")
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    scope: Mapped[str] = mapped_column(sa.Text(), default="")
    # Training
    audience: Mapped[str] = mapped_column(sa.String(200), default="")
    headcount: Mapped[int | None]
    delivery: Mapped[TrainingDelivery | None] = mapped_column(enum_column(TrainingDelivery, 16))
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    training_language: Mapped[str] = mapped_column(sa.String(8), default="")
    # Problem solving
    process_term_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_terms.id"), index=True)
    material_term_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_terms.id"), index=True)
    defect_term_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_terms.id"))
    machine_description: Mapped[str] = mapped_column(sa.Text(), default="")
    part_description: Mapped[str] = mapped_column(sa.Text(), default="")
    data_available: Mapped[str] = mapped_column(sa.Text(), default="")
    # Money and dates
    budget_minor: Mapped[int | None] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    payment_terms: Mapped[str] = mapped_column(sa.String(32), default=PAYMENT_UPFRONT_ESCROW)
    start_date: Mapped[date | None]
    completion_date: Mapped[date | None]
    qc_requested: Mapped[bool] = mapped_column(default=False)
    show_company_name: Mapped[bool] = mapped_column(default=False)

    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.DRAFT, index=True)
    visibility: Mapped[JobVisibility | None] = mapped_column(enum_column(JobVisibility, 16), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # The hub's reason (rejected), or the owner's reason (cancelled, closed).
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    company: Mapped[Company] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    title_term: Mapped[CatalogTerm | None] = relationship(foreign_keys=[title_term_id])
    process_term: Mapped[CatalogTerm | None] = relationship(foreign_keys=[process_term_id])
    material_term: Mapped[CatalogTerm | None] = relationship(foreign_keys=[material_term_id])
    defect_term: Mapped[CatalogTerm | None] = relationship(foreign_keys=[defect_term_id])
    skills: Mapped[list[JobSkill]] = relationship(back_populates="job", cascade="all, delete-orphan")
    languages: Mapped[list[JobLanguage]] = relationship(back_populates="job", cascade="all, delete-orphan")
    attachments: Mapped[list[JobAttachment]] = relationship(
        back_populates="job", order_by="JobAttachment.id"
    )
    clarifications: Mapped[list[JobClarification]] = relationship(
        back_populates="job", order_by="JobClarification.id"
    )
    invitations: Mapped[list[JobInvitation]] = relationship(back_populates="job", order_by="JobInvitation.id")

    __mapper_args__ = {"version_id_col": version}

    @property
    def active_attachments(self) -> list[JobAttachment]:
        return [a for a in self.attachments if a.removed_at is None]

    @property
    def open_clarification(self) -> JobClarification | None:
        """The latest question not yet answered."""
        for item in reversed(self.clarifications):
            if item.answered_at is None:
                return item
        return None

    def __str__(self) -> str:
        return self.title_term.name if self.title_term is not None else f"Job {self.id}"

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status}>"


class JobSkill(Model):
    """A required catalog term (skill, process or material) with the level needed."""

    __tablename__ = "job_skills"
    __table_args__ = (sa.UniqueConstraint("job_id", "term_id", name="uq_job_skills_job_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    term_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_terms.id"), index=True)
    level: Mapped[ExpertiseLevel] = mapped_column(enum_column(ExpertiseLevel, 16))

    job: Mapped[Job] = relationship(back_populates="skills")
    term: Mapped[CatalogTerm] = relationship()


class JobLanguage(Model):
    """A language (ISO 639-1) the expert must speak, with the minimum CEFR level."""

    __tablename__ = "job_languages"
    __table_args__ = (sa.UniqueConstraint("job_id", "code", name="uq_job_languages_job_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(8))
    min_proficiency: Mapped[LanguageProficiency] = mapped_column(enum_column(LanguageProficiency, 8))

    job: Mapped[Job] = relationship(back_populates="languages")


class JobAttachment(Model):
    """A supporting file (CAD, PDF, image, spreadsheet) stored under a random key."""

    __tablename__ = "job_attachments"
    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(enum_column(AttachmentKind, 16))
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id])

    @property
    def is_previewable(self) -> bool:
        return self.content_type in {"application/pdf", "image/png", "image/jpeg"}


class JobClarification(Model):
    """One question of the hub and the company's answer; the thread is kept after publication."""

    __tablename__ = "job_clarifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    question: Mapped[str] = mapped_column(sa.Text())
    asked_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answer: Mapped[str] = mapped_column(sa.Text(), default="")
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    job: Mapped[Job] = relationship(back_populates="clarifications")
    asked_by: Mapped[User] = relationship(foreign_keys=[asked_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])


class JobConfidentialityAcceptance(Model):
    """An expert accepted the job's confidentiality terms (before opening its files)."""

    __tablename__ = "job_confidentiality_acceptances"
    __table_args__ = (sa.UniqueConstraint("job_id", "expert_id", name="uq_job_confidentiality_job_expert"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))
    terms_version: Mapped[str] = mapped_column(sa.String(32))

    job: Mapped[Job] = relationship()
    expert: Mapped[ExpertProfile] = relationship()


class JobInvitation(Model):
    """The hub invited an expert to a job (private jobs: only invited experts see it),
    or told a top match about a public job. The expert may decline with a reason."""

    __tablename__ = "job_invitations"
    __table_args__ = (sa.UniqueConstraint("job_id", "expert_id", name="uq_job_invitations_job_expert"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[InvitationKind] = mapped_column(
        enum_column(InvitationKind, 16), default=InvitationKind.INVITED, server_default="invited"
    )
    status: Mapped[InvitationStatus] = mapped_column(
        enum_column(InvitationStatus, 16), default=InvitationStatus.OPEN, index=True, server_default="open"
    )
    match_run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("match_runs.id"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decline_reason: Mapped[str] = mapped_column(sa.Text(), default="", server_default="")

    job: Mapped[Job] = relationship(back_populates="invitations")
    expert: Mapped[ExpertProfile] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])
