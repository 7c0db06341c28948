"""Accounts, their server-side sessions and their company membership."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import CompanyRole, Role, enum_column
from app.models.mixins import TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.companies import Company
    from app.models.experts import ExpertProfile


class User(TimestampMixin, Model):
    """Anyone who logs in: a company user, an expert or a hub admin."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'company') = (company_id IS NOT NULL AND company_role IS NOT NULL)",
            name="company_fields_iff_company_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, 16), index=True)
    is_superadmin: Mapped[bool] = mapped_column(default=False)
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    company_role: Mapped[CompanyRole | None] = mapped_column(enum_column(CompanyRole, 16))
    locale: Mapped[str] = mapped_column(sa.String(8), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Suspended accounts cannot log in and their live sessions are refused.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # TOTP second factor; the last accepted time step blocks replay of a code.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger())

    company: Mapped[Company | None] = relationship(back_populates="users", foreign_keys=[company_id])
    expert_profile: Mapped[ExpertProfile | None] = relationship(
        back_populates="user", uselist=False, foreign_keys="ExpertProfile.user_id"
    )
    sessions: Mapped[list[UserSession]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Flask-Login protocol ------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.suspended_at is None

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    # Role helpers -----------------------------------------------------------------------
    @property
    def is_staff(self) -> bool:
        """Hub admin (any staff role)."""
        return self.role is Role.ADMIN and self.suspended_at is None

    @property
    def is_company_user(self) -> bool:
        return self.role is Role.COMPANY

    @property
    def is_company_owner(self) -> bool:
        return self.role is Role.COMPANY and self.company_role is CompanyRole.OWNER

    @property
    def is_expert(self) -> bool:
        return self.role is Role.EXPERT

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class UserSession(Model):
    """A server-side login session; the cookie only carries its random id.

    Logout, password change and suspension revoke rows, so a replayed cookie
    finds a revoked session and is refused.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the random token in the cookie; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginAttempt(Model):
    """Failed and successful logins, for throttling per account and per IP."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_email_created", "email", "created_at"),
        sa.Index("ix_login_attempts_ip_created", "ip_address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip_address: Mapped[str] = mapped_column(sa.String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
