"""Expert profiles: what the matching and the verification read."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import (
    EmployerRelation,
    ExpertiseLevel,
    LanguageProficiency,
    VerificationStatus,
    enum_column,
)
from app.models.mixins import TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from app.models.catalog import CatalogTerm
    from app.models.documents import Document
    from app.models.users import User


class ExpertProfile(TimestampMixin, Model):
    """An expert's profile. Companies only ever see ``pseudonym``."""

    __tablename__ = "expert_profiles"
    __table_args__ = (
        sa.CheckConstraint("day_rate_minor IS NULL OR day_rate_minor > 0", name="day_rate_positive"),
        sa.CheckConstraint("years_experience >= 0 AND years_experience <= 70", name="years_range"),
        sa.CheckConstraint("capacity_days_per_week >= 0 AND capacity_days_per_week <= 7", name="capacity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    pseudonym: Mapped[str] = mapped_column(sa.String(16), unique=True)
    headline: Mapped[str] = mapped_column(sa.String(160), default="")
    summary: Mapped[str] = mapped_column(sa.Text(), default="")
    years_experience: Mapped[int] = mapped_column(default=0)
    day_rate_minor: Mapped[int | None] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    available_from: Mapped[date | None]
    capacity_days_per_week: Mapped[int] = mapped_column(default=5)
    country: Mapped[str] = mapped_column(sa.String(2), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")

    status: Mapped[VerificationStatus] = mapped_column(
        enum_column(VerificationStatus), default=VerificationStatus.DRAFT, index=True
    )
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    # Where the expert is paid: a connected payment-provider account, or a bank account.
    payout_account_id: Mapped[str] = mapped_column(sa.String(64), default="")  # "acct_..."
    payout_account_name: Mapped[str] = mapped_column(sa.String(140), default="")
    payout_iban: Mapped[str] = mapped_column(sa.String(34), default="")
    version: Mapped[int] = mapped_column(default=1)

    user: Mapped[User] = relationship(back_populates="expert_profile", foreign_keys=[user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    skills: Mapped[list[ExpertSkill]] = relationship(
        back_populates="expert", cascade="all, delete-orphan"
    )
    languages: Mapped[list[ExpertLanguage]] = relationship(
        back_populates="expert", cascade="all, delete-orphan"
    )
    employers: Mapped[list[ExpertEmployer]] = relationship(
        back_populates="expert", cascade="all, delete-orphan"
    )
    documents: Mapped[list[Document]] = relationship(
        back_populates="expert", order_by="Document.created_at"
    )

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return f"Expert {self.pseudonym}"


class ExpertSkill(Model):
    """A catalog term (job title, skill, process, material) with the expert's level."""

    __tablename__ = "expert_skills"
    __table_args__ = (sa.UniqueConstraint("expert_id", "term_id", name="uq_expert_skills_expert_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id", ondelete="CASCADE"), index=True)
    term_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_terms.id"), index=True)
    level: Mapped[ExpertiseLevel] = mapped_column(enum_column(ExpertiseLevel, 16))

    expert: Mapped[ExpertProfile] = relationship(back_populates="skills")
    term: Mapped[CatalogTerm] = relationship()


class ExpertLanguage(Model):
    """A language (ISO 639-1) with CEFR proficiency."""

    __tablename__ = "expert_languages"
    __table_args__ = (sa.UniqueConstraint("expert_id", "code", name="uq_expert_languages_expert_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(8))
    proficiency: Mapped[LanguageProficiency] = mapped_column(enum_column(LanguageProficiency, 8))

    expert: Mapped[ExpertProfile] = relationship(back_populates="languages")


class ExpertEmployer(Model):
    """A declared employer or relation, for conflict-of-interest checks."""

    __tablename__ = "expert_employers"

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    relation: Mapped[EmployerRelation] = mapped_column(enum_column(EmployerRelation, 16))

    expert: Mapped[ExpertProfile] = relationship(back_populates="employers")
