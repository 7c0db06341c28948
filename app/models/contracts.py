"""Contracts (WORKFLOW.md §6): the documents generated on acceptance, their signatures, and the project.

    contract: awaiting_signatures -sign (each party)-> signed -fund-> funded
              awaiting_signatures | signed -cancel-> cancelled

Three PDF documents per contract: the contract (company ↔ hub, client price),
the subcontract (hub ↔ expert, expert price) and the NDA (company, hub and
expert; the expert by pseudonym). Each signature records the SHA-256 of the
exact PDF signed; once every party has signed, the hub seals each document.
Funded starts the project, with its members.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model
from app.models.enums import enum_column
from app.models.mixins import TimestampMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.companies import Company
    from app.models.experts import ExpertProfile
    from app.models.jobs import Job
    from app.models.negotiations import OfferForward
    from app.models.offers import Offer, OfferVersion
    from app.models.users import User


class ContractStatus(enum.StrEnum):
    AWAITING_SIGNATURES = "awaiting_signatures"
    SIGNED = "signed"
    FUNDED = "funded"
    CANCELLED = "cancelled"


class FundingMethod(enum.StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"


class Contract(TimestampMixin, Model):
    """The agreement born from an accepted offer version: prices, parties, documents, funding."""

    __tablename__ = "contracts"
    __table_args__ = (
        sa.CheckConstraint("client_price_minor = expert_price_minor + fee_minor", name="prices_add_up"),
        sa.CheckConstraint("expert_price_minor > 0 AND fee_minor >= 0", name="prices_positive"),
        sa.CheckConstraint("(status = 'funded') = (funded_at IS NOT NULL)", name="funded_at_iff_funded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(32), unique=True)  # "PC-2026-0042"
    # The bank-transfer reference the company quotes (unique, hard to mistype).
    payment_reference: Mapped[str] = mapped_column(sa.String(32), unique=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offers.id"), unique=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_versions.id"))
    forward_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_forwards.id"))
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    client_price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    expert_price_minor: Mapped[int] = mapped_column(sa.BigInteger())
    fee_minor: Mapped[int] = mapped_column(sa.BigInteger())
    start_date: Mapped[date]
    end_date: Mapped[date]
    status: Mapped[ContractStatus] = mapped_column(
        enum_column(ContractStatus), default=ContractStatus.AWAITING_SIGNATURES, index=True
    )
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    funding_method: Mapped[FundingMethod | None] = mapped_column(enum_column(FundingMethod, 16))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    job: Mapped[Job] = relationship()
    offer: Mapped[Offer] = relationship()
    offer_version: Mapped[OfferVersion] = relationship(foreign_keys=[version_id])
    forward: Mapped[OfferForward] = relationship()
    company: Mapped[Company] = relationship()
    expert: Mapped[ExpertProfile] = relationship()
    documents: Mapped[list[ContractDocument]] = relationship(
        back_populates="contract", order_by="ContractDocument.id"
    )

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Contract {self.reference} {self.status}>"


class ContractDocumentKind(enum.StrEnum):
    CONTRACT = "contract"  # company ↔ hub
    SUBCONTRACT = "subcontract"  # hub ↔ expert
    NDA = "nda"  # company, hub, expert


class SignerRole(enum.StrEnum):
    COMPANY = "company"
    HUB = "hub"
    EXPERT = "expert"


# Who signs which document.
SIGNERS: dict[ContractDocumentKind, tuple[SignerRole, ...]] = {
    ContractDocumentKind.CONTRACT: (SignerRole.COMPANY, SignerRole.HUB),
    ContractDocumentKind.SUBCONTRACT: (SignerRole.HUB, SignerRole.EXPERT),
    ContractDocumentKind.NDA: (SignerRole.COMPANY, SignerRole.HUB, SignerRole.EXPERT),
}


class ContractDocument(Model):
    """One generated PDF of a contract; ``sha256`` is what the signers sign, the sealed copy is the final one."""

    __tablename__ = "contract_documents"
    __table_args__ = (sa.UniqueConstraint("contract_id", "kind", name="uq_contract_documents_contract_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), index=True)
    kind: Mapped[ContractDocumentKind] = mapped_column(enum_column(ContractDocumentKind, 16))
    template_version: Mapped[str] = mapped_column(sa.String(32))
    storage_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sealed_storage_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    sealed_sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    certificate_storage_key: Mapped[str | None] = mapped_column(sa.String(128), unique=True)

    contract: Mapped[Contract] = relationship(back_populates="documents")
    signatures: Mapped[list[Signature]] = relationship(back_populates="document", order_by="Signature.id")


class Signature(Model):
    """A click-wrap signature: who, when, from where, the typed name and the hash of the exact PDF."""

    __tablename__ = "signatures"
    __table_args__ = (sa.UniqueConstraint("document_id", "role", name="uq_signatures_document_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("contract_documents.id"), index=True)
    role: Mapped[SignerRole] = mapped_column(enum_column(SignerRole, 16))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    typed_name: Mapped[str] = mapped_column(sa.String(160))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str] = mapped_column(sa.String(255), default="")
    document_sha256: Mapped[str] = mapped_column(sa.String(64))

    document: Mapped[ContractDocument] = relationship(back_populates="signatures")
    user: Mapped[User] = relationship()


class BankTransfer(Model):
    """A bank transfer the hub received for a contract, recorded by an admin.

    An amount different from the client price is flagged (``discrepancy_minor``)
    and does not fund the contract until an admin resolves it.
    """

    __tablename__ = "bank_transfers"
    __table_args__ = (sa.CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(sa.BigInteger())
    currency: Mapped[str] = mapped_column(sa.String(3))
    received_on: Mapped[date]
    bank_reference: Mapped[str] = mapped_column(sa.String(140))
    discrepancy_minor: Mapped[int] = mapped_column(sa.BigInteger(), default=0)  # received − expected
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution_note: Mapped[str] = mapped_column(sa.Text(), default="")

    contract: Mapped[Contract] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    ACCEPTED = "accepted"  # the company approved a delivery; the escrow is being released
    DISPUTED = "disputed"  # release frozen until the hub decides
    COMPLETED = "completed"  # released (in full or in part)
    CANCELLED = "cancelled"  # refunded in full


class ProjectRole(enum.StrEnum):
    COMPANY = "company"
    EXPERT = "expert"
    QC = "qc"
    MANAGER = "manager"  # the hub's project manager


class Project(TimestampMixin, Model):
    """The work of a funded contract; its members share the private project channel."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), unique=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id"), index=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[ProjectStatus] = mapped_column(enum_column(ProjectStatus, 16), default=ProjectStatus.ACTIVE)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_note: Mapped[str] = mapped_column(sa.Text(), default="")
    version: Mapped[int] = mapped_column(default=1)

    contract: Mapped[Contract] = relationship()
    job: Mapped[Job] = relationship()
    members: Mapped[list[ProjectMember]] = relationship(back_populates="project", order_by="ProjectMember.id")

    __mapper_args__ = {"version_id_col": version}


class ProjectMember(Model):
    """A person on a project: the company's users, the expert, a QC expert, the hub's project manager."""

    __tablename__ = "project_members"
    __table_args__ = (sa.UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    role: Mapped[ProjectRole] = mapped_column(enum_column(ProjectRole, 16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a QC expert who left keeps the row

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship()
