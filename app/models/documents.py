"""Uploaded documents: company legal papers, expert CVs, certificates and IDs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import DocumentKind, DocumentReview, enum_column
from app.models.mixins import TimestampMixin, UTCDateTime

if TYPE_CHECKING:
    from app.models.companies import Company
    from app.models.experts import ExpertProfile
    from app.models.users import User


class Document(TimestampMixin, Model):
    """A stored file under a random key; the original name is kept as metadata only."""

    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint(
            "(company_id IS NULL) <> (expert_id IS NULL)", name="exactly_one_owner"
        ),
        sa.CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    expert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind))
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger())
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    review: Mapped[DocumentReview] = mapped_column(
        enum_column(DocumentReview, 16), default=DocumentReview.PENDING
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str] = mapped_column(sa.Text(), default="")
    # A removed document keeps its row (history), but is no longer shown or counted.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    company: Mapped[Company | None] = relationship(back_populates="documents")
    expert: Mapped[ExpertProfile | None] = relationship(back_populates="documents")
    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    @property
    def is_previewable(self) -> bool:
        return self.content_type in {"application/pdf", "image/png", "image/jpeg"}

    def __repr__(self) -> str:
        return f"<Document {self.id} {self.kind}>"
