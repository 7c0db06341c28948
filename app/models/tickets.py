"""Catalog tickets (WORKFLOW.md §2–3): a company asks the hub for a missing catalog term.

    open -start-> in_progress -resolve-> resolved | -decline-> declined

A ticket may come from a draft job; resolving it may add catalog terms (kept in
``catalog_ticket_terms``); company and hub talk in the ticket's message thread.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.catalog import CatalogTerm
    from app.models.companies import Company
    from app.models.jobs import Job
    from app.models.users import User


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    DECLINED = "declined"


class TicketKind(enum.StrEnum):
    """What the company could not find."""

    JOB_TITLE = "job_title"
    SKILL = "skill"
    PROCESS = "process"
    MATERIAL = "material"
    JOB_TYPE = "job_type"
    OTHER = "other"


catalog_ticket_terms = sa.Table(
    "catalog_ticket_terms",
    Model.metadata,
    sa.Column("ticket_id", sa.ForeignKey("catalog_tickets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("term_id", sa.ForeignKey("catalog_terms.id"), primary_key=True),
)


class CatalogTicket(TimestampMixin, Model):
    """A request for a catalog term that does not exist yet."""

    __tablename__ = "catalog_tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    opened_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[TicketKind] = mapped_column(enum_column(TicketKind, 16))
    term: Mapped[str] = mapped_column(sa.String(160))
    reason: Mapped[str] = mapped_column(sa.Text(), default="")
    status: Mapped[TicketStatus] = mapped_column(enum_column(TicketStatus, 16), default=TicketStatus.OPEN, index=True)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The hub's resolution note (resolved) or reason (declined), shown to the company.
    resolution_note: Mapped[str] = mapped_column(sa.Text(), default="")

    company: Mapped[Company] = relationship()
    job: Mapped[Job | None] = relationship()
    opened_by: Mapped[User] = relationship(foreign_keys=[opened_by_id])
    handled_by: Mapped[User | None] = relationship(foreign_keys=[handled_by_id])
    terms: Mapped[list[CatalogTerm]] = relationship(secondary=catalog_ticket_terms, order_by="CatalogTerm.id")
    messages: Mapped[list[CatalogTicketMessage]] = relationship(
        back_populates="ticket", order_by="CatalogTicketMessage.id", cascade="all, delete-orphan"
    )

    @property
    def is_closed(self) -> bool:
        return self.status in (TicketStatus.RESOLVED, TicketStatus.DECLINED)

    def __str__(self) -> str:
        return f"#{self.id} {self.term}"

    def __repr__(self) -> str:
        return f"<CatalogTicket {self.id} {self.status}>"


class CatalogTicketMessage(Model):
    """One message of a ticket's thread, from the company or from the hub."""

    __tablename__ = "catalog_ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("catalog_tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(sa.Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[CatalogTicket] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()
