"""Companies of the plastics industry, their documents and member invitations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import PaymentMethod, VerificationStatus, enum_column
from app.models.mixins import TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from app.models.catalog import CatalogTerm
    from app.models.documents import Document
    from app.models.users import User


class Company(TimestampMixin, Model):
    """A customer company. Only ``approved`` companies post jobs."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    legal_name: Mapped[str] = mapped_column(sa.String(200), default="")
    registration_number: Mapped[str] = mapped_column(sa.String(64), default="")
    vat_id: Mapped[str] = mapped_column(sa.String(32), default="")
    country: Mapped[str] = mapped_column(sa.String(2), default="")
    address: Mapped[str] = mapped_column(sa.Text(), default="")
    industry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("catalog_terms.id"))
    website: Mapped[str] = mapped_column(sa.String(255), default="")
    contact_person: Mapped[str] = mapped_column(sa.String(120), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    payment_method: Mapped[PaymentMethod | None] = mapped_column(enum_column(PaymentMethod, 16))
    show_name_to_experts: Mapped[bool] = mapped_column(default=False)

    status: Mapped[VerificationStatus] = mapped_column(
        enum_column(VerificationStatus), default=VerificationStatus.DRAFT, index=True
    )
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # use_alter: companies <-> users is a cycle; migrations add this FK once both tables exist.
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", use_alter=True))
    # The admin's last question (info_requested) or reason (rejected, suspended).
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    industry: Mapped[CatalogTerm | None] = relationship()
    users: Mapped[list[User]] = relationship(back_populates="company", foreign_keys="User.company_id")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    documents: Mapped[list[Document]] = relationship(
        back_populates="company", order_by="Document.created_at", foreign_keys="Document.company_id"
    )

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Company {self.id} {self.status}>"


class CompanyInvitation(TimestampMixin, Model):
    """An owner's invitation of a colleague; accepted by following the e-mailed link."""

    __tablename__ = "company_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    company: Mapped[Company] = relationship()
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id])
