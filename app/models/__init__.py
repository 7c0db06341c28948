"""Every model, re-exported (Alembic autogenerate and ``from app.models import X``)."""

from app.models.audit import AuditEvent
from app.models.catalog import CatalogTerm
from app.models.companies import Company, CompanyInvitation
from app.models.documents import Document
from app.models.enums import (
    CatalogKind,
    CompanyRole,
    DocumentKind,
    DocumentReview,
    EmployerRelation,
    ExpertiseLevel,
    LanguageProficiency,
    PaymentMethod,
    Role,
    VerificationStatus,
)
from app.models.experts import ExpertEmployer, ExpertLanguage, ExpertProfile, ExpertSkill
from app.models.jobs import (
    JOB_SUBTYPES,
    AttachmentKind,
    InvitationKind,
    InvitationStatus,
    Job,
    JobAttachment,
    JobCategory,
    JobClarification,
    JobConfidentialityAcceptance,
    JobInvitation,
    JobLanguage,
    JobSkill,
    JobStatus,
    JobVisibility,
    TrainingDelivery,
)
from app.models.ledger import (
    ImmutableLedgerError,
    LedgerAccount,
    LedgerAccountKind,
    LedgerEntry,
    LedgerReferenceKind,
    LedgerSide,
    LedgerTransaction,
)
from app.models.matching import MatchingWeight, MatchResult, MatchRun, MatchRunStatus, MatchTrigger
from app.models.notifications import EmailMessage, Notification
from app.models.offers import (
    PENDING_OFFER_STATES,
    ImmutableRowError,
    Offer,
    OfferMilestone,
    OfferStatus,
    OfferVersion,
)
from app.models.outbox import OutboxMessage
from app.models.payments import CheckoutPurpose, CheckoutSession, CheckoutSessionState, ProviderEvent
from app.models.tickets import CatalogTicket, CatalogTicketMessage, TicketKind, TicketStatus, catalog_ticket_terms
from app.models.users import LoginAttempt, User, UserSession

__all__ = [
    "AuditEvent",
    "CatalogKind",
    "CatalogTerm",
    "Company",
    "CompanyInvitation",
    "CompanyRole",
    "Document",
    "DocumentKind",
    "DocumentReview",
    "EmailMessage",
    "EmployerRelation",
    "ExpertEmployer",
    "ExpertLanguage",
    "ExpertProfile",
    "ExpertSkill",
    "ExpertiseLevel",
    "LanguageProficiency",
    "LoginAttempt",
    "Notification",
    "OutboxMessage",
    "PaymentMethod",
    "Role",
    "User",
    "UserSession",
    "VerificationStatus",
    # jobs (issue 3)
    "JOB_SUBTYPES",
    "AttachmentKind",
    "Job",
    "JobAttachment",
    "JobCategory",
    "JobClarification",
    "JobConfidentialityAcceptance",
    "JobInvitation",
    "JobLanguage",
    "JobSkill",
    "JobStatus",
    "JobVisibility",
    "TrainingDelivery",
    # catalog tickets (issue 3)
    "CatalogTicket",
    "CatalogTicketMessage",
    "TicketKind",
    "TicketStatus",
    "catalog_ticket_terms",
    # matching, invitations and offers (issue 4)
    "InvitationKind",
    "InvitationStatus",
    "MatchResult",
    "MatchRun",
    "MatchRunStatus",
    "MatchTrigger",
    "MatchingWeight",
    "PENDING_OFFER_STATES",
    "ImmutableRowError",
    "Offer",
    "OfferMilestone",
    "OfferStatus",
    "OfferVersion",
    # ledger and payment events (issue 5)
    "CheckoutPurpose",
    "CheckoutSession",
    "CheckoutSessionState",
    "ImmutableLedgerError",
    "LedgerAccount",
    "LedgerAccountKind",
    "LedgerEntry",
    "LedgerReferenceKind",
    "LedgerSide",
    "LedgerTransaction",
    "ProviderEvent",
]
