"""Status and role enums shared by several models."""

from __future__ import annotations

import enum

import sqlalchemy as sa


class VerificationStatus(enum.StrEnum):
    DRAFT = "draft"
    PENDING_VERIFICATION = "pending_verification"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Role(enum.StrEnum):
    COMPANY = "company"
    EXPERT = "expert"
    ADMIN = "admin"


class CompanyRole(enum.StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    INVOICE = "invoice"


class DocumentKind(enum.StrEnum):
    # company legal documents
    REGISTRATION_CERTIFICATE = "registration_certificate"
    VAT_CERTIFICATE = "vat_certificate"
    OTHER_LEGAL = "other_legal"
    # expert documents
    CV = "cv"
    CERTIFICATE = "certificate"
    IDENTITY = "identity"


class DocumentReview(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ExpertiseLevel(enum.StrEnum):
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"
    PRINCIPAL = "principal"


class LanguageProficiency(enum.StrEnum):
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    NATIVE = "native"


class CatalogKind(enum.StrEnum):
    INDUSTRY = "industry"
    JOB_TITLE = "job_title"
    SKILL = "skill"
    PROCESS = "process"
    MATERIAL = "material"
    DEFECT = "defect"
    TRAINING_TOPIC = "training_topic"
    STANDARD = "standard"


class EmployerRelation(enum.StrEnum):
    CURRENT = "current"
    FORMER = "former"
    COMPETITOR = "competitor"
    SUPPLIER = "supplier"


def enum_column(enum_cls: type[enum.StrEnum], length: int = 32) -> sa.Enum:
    """A portable enum column storing the lowercase value, with a CHECK constraint."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        name=enum_cls.__name__.lower(),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
