"""The plastics catalog: reference terms of every kind, by stable slug."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model
from app.models.enums import CatalogKind, enum_column
from app.models.mixins import TimestampMixin, UTCDateTime


class CatalogTerm(TimestampMixin, Model):
    """One term (an industry, a skill, a material, ...). Retired terms stay on old records."""

    __tablename__ = "catalog_terms"
    __table_args__ = (sa.UniqueConstraint("kind", "slug", name="uq_catalog_terms_kind_slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[CatalogKind] = mapped_column(enum_column(CatalogKind), index=True)
    slug: Mapped[str] = mapped_column(sa.String(80))
    name: Mapped[str] = mapped_column(sa.String(160))
    name_de: Mapped[str] = mapped_column(sa.String(160), default="")
    # Grouping inside a kind (a defect's process, a material's family).
    group: Mapped[str] = mapped_column(sa.String(80), default="")
    description: Mapped[str] = mapped_column(sa.Text(), default="")
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def label(self, locale: str = "en") -> str:
        """The name in ``locale`` when there is one."""
        return self.name_de if locale == "de" and self.name_de else self.name

    def __str__(self) -> str:
        return self.name
