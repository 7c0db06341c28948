"""Versioned document templates and the plain data they are filled with.

A template is identified by ``(kind, version)``. Its wording is fixed: a new
wording is a new version added next to the old ones, which stay renderable
(a signed contract must render the same in ten years). Texts are English and
deliberately not marked for translation: the signed version is the legal text.

Clause texts may use ``$placeholders`` (``string.Template``) and the inline
markup of reportlab paragraphs (``<b>``, ``<i>``). Values are escaped by the
renderer before they are put in, so user input never becomes markup.

The inputs are plain frozen dataclasses, never ORM objects. Anonymity is part
of their shape: a company-facing document knows the expert only by a
pseudonym (``ContractData.expert_pseudonym``), and a ``ContractData`` carries
one price only: the client price for the company contract, the expert price
for the subcontract. The hub's fee has no field at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

HUB_NAME = "Plasticonnect Hub"
VERSION_2026_12 = "2026-12"

PaymentMethod = Literal["card", "bank_transfer"]
Block = Literal["scope", "deliverables", "milestones", "confidentiality", "non_solicitation"]

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_VERSION_RE = re.compile(r"^\d{4}-\d{2}(?:\.\d+)?$")


class TemplateKind(StrEnum):
    CONTRACT = "contract"
    SUBCONTRACT = "subcontract"
    NDA = "nda"
    RECEIPT = "receipt"
    COMPLETION_CERTIFICATE = "completion-certificate"


class UnknownTemplate(LookupError):
    """No template of this kind has this version."""


# Inputs ------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")


@dataclass(frozen=True)
class Party:
    """A party as printed in a document.

    For a company: its legal name, address, registration number and VAT ID.
    For the expert in a company-facing document: only the pseudonym
    (:meth:`expert_pseudonym`), with no address or numbers. For the expert in
    the hub↔expert subcontract: the real name and address.
    """

    name: str
    address: str = ""
    registration_number: str = ""
    vat_id: str = ""
    pseudonymous: bool = False

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a party needs a name")
        if self.pseudonymous and (self.address or self.registration_number or self.vat_id):
            raise ValueError("a pseudonymous party carries no address, registration number or VAT ID")

    @classmethod
    def expert_pseudonym(cls, pseudonym: str) -> Party:
        """The expert as a company sees them: ``Expert K7Q2`` and nothing else."""
        code = pseudonym.strip()
        if not code:
            raise ValueError("the pseudonym must not be empty")
        return cls(name=expert_display_name(code), pseudonymous=True)


def expert_display_name(pseudonym: str) -> str:
    """``K7Q2`` → ``Expert K7Q2`` (an already prefixed value is kept)."""
    code = pseudonym.strip()
    return code if code.startswith("Expert ") else f"Expert {code}"


@dataclass(frozen=True)
class Milestone:
    """One payment milestone; ``amount_minor`` is in the document's currency (the price it belongs to)."""

    title: str
    due_date: date
    share_percent: int
    amount_minor: int

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("a milestone needs a title")
        if not _is_int(self.share_percent) or not 0 < self.share_percent <= 100:
            raise ValueError("share_percent must be a whole number from 1 to 100")
        if not _is_int(self.amount_minor) or self.amount_minor < 0:
            raise ValueError("amount_minor must be a non-negative whole number of minor units")


@dataclass(frozen=True)
class ContractData:
    """What fills a company contract (company ↔ hub) or a subcontract (hub ↔ expert).

    ``counterparty`` is the company in the contract and the expert (real
    identity) in the subcontract; the hub is always the other party.
    ``price_minor`` is the CLIENT price in the company contract and the EXPERT
    price in the subcontract; build one instance per document. Milestone
    amounts belong to that same price and must add up to it.
    ``issued_at`` is the document date and the PDF creation date (rendering is
    deterministic, so it must come from stored data, not the clock).
    """

    reference: str
    job_title: str
    scope: str
    deliverables: Sequence[str]
    milestones: Sequence[Milestone]
    start_date: date
    end_date: date
    price_minor: int
    currency: str
    confidentiality_text: str
    non_solicitation_text: str
    clauses_version: str
    offer_version: int
    hub: Party
    counterparty: Party
    expert_pseudonym: str
    issued_at: datetime
    template_version: str = VERSION_2026_12

    def __post_init__(self) -> None:
        object.__setattr__(self, "deliverables", tuple(self.deliverables))
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if not self.reference.strip() or not self.job_title.strip():
            raise ValueError("reference and job_title must not be empty")
        if not _is_int(self.price_minor) or self.price_minor < 0:
            raise ValueError("price_minor must be a non-negative whole number of minor units")
        if not _CURRENCY_RE.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, not {self.currency!r}")
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if not _is_int(self.offer_version) or self.offer_version < 1:
            raise ValueError("offer_version must be a positive whole number")
        if not self.expert_pseudonym.strip():
            raise ValueError("expert_pseudonym must not be empty")
        if self.counterparty.pseudonymous:
            raise ValueError("the counterparty signs with its real identity")
        _require_aware("issued_at", self.issued_at)
        if self.milestones:
            if sum(m.share_percent for m in self.milestones) != 100:
                raise ValueError("milestone shares must add up to 100 percent")
            if sum(m.amount_minor for m in self.milestones) != self.price_minor:
                raise ValueError("milestone amounts must add up to the price")


HELD_FUNDS_EXPLANATION = (
    "The funds are held by Plasticonnect until you accept the work. For each milestone, "
    "Plasticonnect Hub releases the corresponding share only after you have accepted the "
    "deliverables on the platform. If the contract ends before the work is accepted, the "
    "amount held is settled according to the contract. The payment provider is not an escrow "
    "agent: Plasticonnect Hub's own ledger records which amounts are held, released or refunded."
)


@dataclass(frozen=True)
class ReceiptData:
    """A receipt for the company's upfront payment of the client price."""

    payment_reference: str
    contract_reference: str
    amount_minor: int
    currency: str
    method: PaymentMethod
    paid_at: datetime
    payer: Party
    hub: Party
    job_title: str = ""
    explanation: str = HELD_FUNDS_EXPLANATION
    template_version: str = VERSION_2026_12

    def __post_init__(self) -> None:
        if not _is_int(self.amount_minor) or self.amount_minor < 0:
            raise ValueError("amount_minor must be a non-negative whole number of minor units")
        if not _CURRENCY_RE.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, not {self.currency!r}")
        if self.method not in ("card", "bank_transfer"):
            raise ValueError(f"method must be 'card' or 'bank_transfer', not {self.method!r}")
        _require_aware("paid_at", self.paid_at)


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _require_sha256(name: str, value: str) -> None:
    if not _SHA256_RE.fullmatch(value):
        raise ValueError(f"{name} must be a lower-case hex SHA-256 digest")


@dataclass(frozen=True)
class SignatureRecord:
    """One click-wrap signature as listed in the certificate of completion.

    ``display_name`` is what the reader of this copy may see (``Expert K7Q2``
    in company-facing copies). With ``withhold_identity`` the typed name, IP
    address and user agent are not printed (they would identify a
    pseudonymous expert); the hub keeps them in its records.
    """

    role: str
    display_name: str
    typed_name: str
    signed_at: datetime
    ip: str
    user_agent: str
    document_sha256: str
    withhold_identity: bool = False

    def __post_init__(self) -> None:
        _require_aware("signed_at", self.signed_at)
        _require_sha256("document_sha256", self.document_sha256)


@dataclass(frozen=True)
class CompletionCertificate:
    """The certificate-of-completion page: who signed which exact bytes, and when the hub sealed them.

    ``document_sha256`` is the fingerprint of the final signed PDF the
    certificate is about; ``sealed_at`` is when the hub seals it.
    """

    document_title: str
    document_reference: str
    document_sha256: str
    signers: Sequence[SignatureRecord]
    sealed_at: datetime
    template_version: str = VERSION_2026_12

    def __post_init__(self) -> None:
        object.__setattr__(self, "signers", tuple(self.signers))
        _require_sha256("document_sha256", self.document_sha256)
        _require_aware("sealed_at", self.sealed_at)
        if not self.signers:
            raise ValueError("a certificate of completion lists at least one signature")


# Templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clause:
    """A numbered clause: its paragraphs (numbered n.1, n.2...), then an optional block of data."""

    heading: str
    paragraphs: tuple[str, ...]
    block: Block | None = None


@dataclass(frozen=True)
class DocumentTemplate:
    kind: TemplateKind
    version: str
    title: str
    preamble: tuple[str, ...] = ()
    clauses: tuple[Clause, ...] = ()
    closing: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _VERSION_RE.fullmatch(self.version):
            raise ValueError(f"template versions look like 2026-12, not {self.version!r}")

    @property
    def label(self) -> str:
        """``contract 2026-12``: how the footer names the template."""
        return f"{self.kind.value} {self.version}"


_SIGNATURE_AND_EVIDENCE = Clause(
    "Electronic signature and evidence",
    (
        "The parties sign this document electronically on the Plasticonnect Hub platform by typing their "
        "names. For each signature the Hub records the signer, the time (UTC), the IP address, the user "
        "agent, the typed name and the SHA-256 fingerprint of the exact document signed, and lists them "
        "in a certificate of completion.",
        "Once all parties have signed, the Hub seals the final document with its electronic seal. Any "
        "change made to a sealed document afterwards can be detected on the Hub's verification page.",
    ),
)

_SEVERABILITY = (
    "Should a provision of this document be or become invalid, the remaining provisions stay in force. "
    "The parties will replace the invalid provision by a valid one that comes as close as possible to "
    "its purpose."
)
_GOVERNING_LAW = (
    "This document is governed by the law of the country in which the Hub has its registered office, "
    "excluding the UN Convention on Contracts for the International Sale of Goods. Where the law allows "
    "this to be agreed, the courts at the Hub's registered office have exclusive jurisdiction."
)

CONTRACT_2026_12 = DocumentTemplate(
    kind=TemplateKind.CONTRACT,
    version=VERSION_2026_12,
    title="Service Contract",
    preamble=(
        "This service contract is made between the Client and the Hub named above. It covers the job "
        "“$job_title” and is based on offer version $offer_version, which the Client accepted on the "
        "Plasticonnect Hub platform.",
    ),
    clauses=(
        Clause(
            "Subject matter",
            (
                "The Hub undertakes to provide the Client with the services described in clause 2 (the "
                "“Services”). The Hub performs the Services through an independent expert whom it has "
                "selected and vetted, referred to in this contract as <b>$expert</b> (the “Expert”).",
                "The Hub is the Client's only contracting party for the Services. The Expert is not a party "
                "to this contract, and the Client has no direct claims against the Expert.",
                "The Hub keeps the Expert's identity confidential. The Client knows the Expert only by this "
                "pseudonym, and all communication with the Expert, including meetings and the exchange of "
                "files, runs through the Hub's platform.",
            ),
        ),
        Clause(
            "Scope of the Services",
            (
                "The Services consist of the technical solution set out below, as described in the accepted "
                "offer version $offer_version, and include the deliverables listed after it.",
            ),
            block="scope",
        ),
        Clause(
            "Deliverables",
            ("The Hub delivers the following results to the Client:",),
            block="deliverables",
        ),
        Clause(
            "Timeline and milestones",
            (
                "The Services start on $start_date and are to be completed by $end_date.",
                "Where milestones are agreed, the Services are delivered, accepted and released for payment "
                "milestone by milestone as set out below.",
            ),
            block="milestones",
        ),
        Clause(
            "Price and payment",
            (
                "The total price for the Services is <b>$price</b>. Value added tax is added at the "
                "statutory rate where it applies.",
                "The Client pays the total price in advance, either by card through the Hub's payment "
                "provider or by bank transfer quoting the payment reference given by the Hub. Work starts "
                "once the payment has been received.",
                "The funds are held by Plasticonnect until the Client accepts the work. The Hub releases the "
                "share of each milestone only after the Client has accepted the corresponding deliverables "
                "under clause 6. The payment provider is not an escrow agent; the Hub's own ledger records "
                "which amounts are held, released or refunded.",
            ),
        ),
        Clause(
            "Delivery and acceptance",
            (
                "The results are delivered through the Hub's platform. The Client reviews each delivery "
                "within ten (10) working days and either accepts it or requests corrections, giving its "
                "reasons on the platform.",
                "Corrections requested with reasons that fall within the agreed scope are made without extra "
                "charge. Work outside the agreed scope requires a new offer version.",
                "If the Client neither accepts a delivery nor requests corrections within the review period, "
                "the Hub reminds the Client. If the Client still does not respond within five (5) further "
                "working days, the delivery counts as accepted.",
            ),
        ),
        Clause(
            "Confidentiality",
            (
                "The parties keep confidential all information exchanged in connection with this contract. "
                "The following confidentiality clause (version $clauses_version) applies in addition to the "
                "non-disclosure agreement signed together with this contract:",
            ),
            block="confidentiality",
        ),
        Clause(
            "Non-solicitation",
            ("The following non-solicitation clause (version $clauses_version) applies:",),
            block="non_solicitation",
        ),
        Clause(
            "Rights in the results",
            (
                "Upon full payment of the price, the Client receives the exclusive, transferable right, "
                "unlimited in time and place, to use the deliverables for any purpose. Until then, the "
                "Client may use them only to review them.",
                "Know-how, methods and tools that existed before the project or were developed independently "
                "of it remain with their owner. The Client receives a non-exclusive right to use them to the "
                "extent needed to use the deliverables.",
            ),
        ),
        Clause(
            "Liability",
            (
                "The Hub is liable without limitation for intent and gross negligence and for injury to life, "
                "body or health. Otherwise the Hub's liability for each damaging event is limited to the total "
                "price under this contract, and the Hub is not liable for indirect or consequential loss, lost "
                "profit or lost production.",
                "The Client remains responsible for the decisions it takes on the basis of the Services, in "
                "particular for releasing tools, processes and products into production.",
            ),
        ),
        Clause(
            "Cancellation and termination",
            (
                "Until the price has been paid, either party may cancel this contract on the Hub's platform "
                "without cost.",
                "After payment, the contract may be terminated only for good cause. Amounts for accepted "
                "deliverables remain due; amounts held for work not yet accepted are settled by the Hub "
                "according to the work done.",
            ),
        ),
        _SIGNATURE_AND_EVIDENCE,
        Clause(
            "Final provisions",
            (
                "This contract, the accepted offer version and the non-disclosure agreement form the entire "
                "agreement on the Services. Changes are made as a new offer version accepted on the Hub's "
                "platform, or in a document signed by both parties.",
                _SEVERABILITY,
                _GOVERNING_LAW,
            ),
        ),
    ),
    closing="Signed electronically on the Plasticonnect Hub platform; see the certificate of completion.",
)

SUBCONTRACT_2026_12 = DocumentTemplate(
    kind=TemplateKind.SUBCONTRACT,
    version=VERSION_2026_12,
    title="Subcontract for Expert Services",
    preamble=(
        "This subcontract is made between the Hub and the Expert named above. The Hub has contracted with "
        "one of its clients (the “Client”) for the job “$job_title” and engages the Expert to perform that "
        "work on the basis of the Expert's offer version $offer_version.",
    ),
    clauses=(
        Clause(
            "Engagement",
            (
                "The Hub engages the Expert as an independent contractor to perform the services described in "
                "clause 2 (the “Services”) for the Client. The Expert is not the Hub's employee and organises "
                "the work freely within the agreed scope and timeline.",
                "The Expert contracts only with the Hub. The Expert has no contract with the Client and "
                "invoices only the Hub.",
            ),
        ),
        Clause(
            "Scope of the Services",
            (
                "The Services consist of the technical solution set out below, as described in the Expert's "
                "offer version $offer_version, and include the deliverables listed after it.",
            ),
            block="scope",
        ),
        Clause(
            "Deliverables",
            ("The Expert delivers the following results:",),
            block="deliverables",
        ),
        Clause(
            "Timeline and milestones",
            (
                "The Services start on $start_date and are to be completed by $end_date.",
                "Where milestones are agreed, the Services are delivered, accepted and paid milestone by "
                "milestone as set out below.",
            ),
            block="milestones",
        ),
        Clause(
            "Remuneration",
            (
                "For the Services, the Hub pays the Expert <b>$price</b>. Where the Expert is liable for "
                "value added tax, it is added at the statutory rate on a valid invoice.",
                "The Hub pays each milestone amount within fourteen (14) days after the Client has accepted "
                "the corresponding deliverables, or after they count as accepted. The Hub holds the Client's "
                "funds for the project; the Expert's claims are against the Hub only.",
            ),
        ),
        Clause(
            "Pseudonym and communication",
            (
                "The Hub presents the Expert to the Client only under the pseudonym <b>$expert</b>. The Expert "
                "shall not disclose to the Client, directly or indirectly, their name, contact details, "
                "employer or any other information that identifies them.",
                "All communication with the Client, including meetings and the exchange of files, takes place "
                "through the Hub's platform.",
            ),
        ),
        Clause(
            "Delivery and acceptance",
            (
                "The Expert delivers the results through the Hub's platform and makes the corrections that "
                "the Client requests with reasons within the agreed scope without extra charge. Work outside "
                "the agreed scope requires a new offer version.",
            ),
        ),
        Clause(
            "Confidentiality",
            (
                "The Expert keeps confidential all information received in connection with the Services. The "
                "following confidentiality clause (version $clauses_version), which the Expert accepted with "
                "the offer, applies in addition to the non-disclosure agreement:",
            ),
            block="confidentiality",
        ),
        Clause(
            "Non-solicitation",
            (
                "The following non-solicitation clause (version $clauses_version), which the Expert accepted "
                "with the offer, applies:",
            ),
            block="non_solicitation",
        ),
        Clause(
            "Rights in the results",
            (
                "Effective upon payment of the remuneration, the Expert grants the Hub, with the right to pass "
                "it on to the Client, the exclusive, transferable right, unlimited in time and place, to use "
                "the deliverables for any purpose.",
                "Know-how, methods and tools that the Expert had before the project remain with the Expert; "
                "the Hub and the Client receive a non-exclusive right to use them to the extent needed to use "
                "the deliverables.",
                "The Expert warrants that the deliverables do not infringe the rights of third parties and that "
                "no obligation towards a current or former employer prevents the Expert from performing the "
                "Services.",
            ),
        ),
        Clause(
            "Conflicts of interest",
            (
                "The Expert confirms having declared to the Hub every current or former employment and every "
                "relation with the Client, its competitors or its suppliers that could cause a conflict of "
                "interest, and shall declare without delay any such relation that arises during the project.",
            ),
        ),
        Clause(
            "Liability",
            (
                "The Expert performs the Services with the care of a diligent professional. The Expert is "
                "liable without limitation for intent and gross negligence and for injury to life, body or "
                "health; otherwise the Expert's liability for each damaging event is limited to the "
                "remuneration under this subcontract.",
            ),
        ),
        Clause(
            "Cancellation and termination",
            (
                "If the Client's contract is cancelled before the Client has paid, this subcontract ends at "
                "the same time without cost to either party.",
                "After that, this subcontract may be terminated only for good cause. Deliverables accepted by "
                "the Client are paid.",
            ),
        ),
        _SIGNATURE_AND_EVIDENCE,
        Clause(
            "Final provisions",
            (
                "This subcontract, the Expert's accepted offer version and the non-disclosure agreement form "
                "the entire agreement on the Services. Changes are made as a new offer version accepted on the "
                "Hub's platform, or in a document signed by both parties.",
                _SEVERABILITY,
                _GOVERNING_LAW,
            ),
        ),
    ),
    closing="Signed electronically on the Plasticonnect Hub platform; see the certificate of completion.",
)

NDA_2026_12 = DocumentTemplate(
    kind=TemplateKind.NDA,
    version=VERSION_2026_12,
    title="Non-Disclosure Agreement",
    preamble=(
        "This non-disclosure agreement is made between the parties named above in connection with the job "
        "“$job_title” (reference $reference), for which Plasticonnect Hub acts as the contracting "
        "intermediary (the “Job”).",
    ),
    clauses=(
        Clause(
            "Confidential information",
            (
                "“Confidential Information” means all information that a party (the “Discloser”) makes "
                "available to another party (the “Recipient”) in connection with the Job, in any form, "
                "including drawings, CAD data, process parameters, material data, samples, prices and "
                "business information, as well as the identity of any party that takes part under a "
                "pseudonym.",
            ),
        ),
        Clause(
            "Obligations",
            (
                "The Recipient shall (a) use Confidential Information only for the Job; (b) not disclose it "
                "to third parties, except to its employees and professional advisers who need to know it "
                "and are bound by equivalent obligations of confidentiality; and (c) protect it with at "
                "least the care it applies to its own confidential information, and no less than reasonable "
                "care.",
            ),
        ),
        Clause(
            "Exceptions",
            (
                "These obligations do not apply to information that the Recipient can show (a) was publicly "
                "known, or became publicly known through no fault of the Recipient; (b) was already lawfully "
                "known to the Recipient; (c) was lawfully received from a third party without a duty of "
                "confidentiality; or (d) was developed independently of the Confidential Information.",
                "Disclosure required by law, a court or an authority is permitted. Where the law allows, the "
                "Recipient informs the Discloser beforehand.",
            ),
        ),
        Clause(
            "Return and deletion",
            (
                "At the Discloser's request, and in any case at the end of the Job, the Recipient returns or "
                "deletes the Confidential Information. Copies that must be kept by law or that are held in "
                "routine back-ups may be kept and remain confidential.",
            ),
        ),
        Clause(
            "No rights granted",
            (
                "Disclosure grants no licence or other right in the Confidential Information, except the "
                "right to use it for the Job. No party is obliged to disclose any particular information.",
            ),
        ),
        Clause(
            "The Hub as intermediary",
            (
                "The Hub may pass Confidential Information between the parties for the Job. The Hub keeps "
                "the identity and contact details of a party taking part under a pseudonym confidential and "
                "discloses them to no other party.",
            ),
        ),
        Clause(
            "Term",
            (
                "This agreement applies from the first disclosure and ends five (5) years after the end of "
                "the Job. The obligations for trade secrets continue for as long as the information remains "
                "a trade secret.",
            ),
        ),
        _SIGNATURE_AND_EVIDENCE,
        Clause("Final provisions", (_SEVERABILITY, _GOVERNING_LAW)),
    ),
    closing="Signed electronically on the Plasticonnect Hub platform; see the certificate of completion.",
)

RECEIPT_2026_12 = DocumentTemplate(
    kind=TemplateKind.RECEIPT,
    version=VERSION_2026_12,
    title="Payment Receipt",
    preamble=("Plasticonnect Hub confirms that it has received the payment below for contract $contract_reference.",),
    notes=("This receipt confirms a payment received; it is not a tax invoice.",),
)

COMPLETION_CERTIFICATE_2026_12 = DocumentTemplate(
    kind=TemplateKind.COMPLETION_CERTIFICATE,
    version=VERSION_2026_12,
    title="Certificate of Completion",
    preamble=(
        "This certificate lists the electronic signatures given on the Plasticonnect Hub platform for the "
        "document below. Each signer signed by typing their name; the SHA-256 fingerprint identifies the "
        "exact PDF file each signer was shown and signed.",
        "Plasticonnect Hub then sealed the final document with its electronic seal. Whether a copy is the "
        "sealed, unchanged document can be checked on the Hub's verification page.",
    ),
    notes=(
        "Details that would identify a party taking part under a pseudonym are withheld in this copy; "
        "Plasticonnect Hub keeps them in its records.",
    ),
)

TEMPLATES: dict[tuple[TemplateKind, str], DocumentTemplate] = {
    (t.kind, t.version): t
    for t in (CONTRACT_2026_12, SUBCONTRACT_2026_12, NDA_2026_12, RECEIPT_2026_12, COMPLETION_CERTIFICATE_2026_12)
}

# The version new documents use. Old versions stay in TEMPLATES for documents already issued.
CURRENT_VERSIONS: dict[TemplateKind, str] = {kind: VERSION_2026_12 for kind in TemplateKind}


def get_template(kind: TemplateKind | str, version: str) -> DocumentTemplate:
    """The template of ``kind`` in ``version``.

    :raises UnknownTemplate: no such kind or version.
    """
    try:
        return TEMPLATES[(TemplateKind(kind), version)]
    except (KeyError, ValueError) as exc:
        raise UnknownTemplate(f"no {kind} template version {version!r}") from exc


def current_template(kind: TemplateKind | str) -> DocumentTemplate:
    """The template new documents of ``kind`` are made from."""
    return get_template(kind, CURRENT_VERSIONS[TemplateKind(kind)])


def template_versions(kind: TemplateKind | str) -> list[str]:
    """Every version of ``kind``, oldest first."""
    return sorted(version for (k, version) in TEMPLATES if k == TemplateKind(kind))


# Quality control (issue 6) -------------------------------------------------------------------
#
# The NDA between the hub and a project's quality-control expert. It has its own registry so
# that the templates above (and the versions listed for them) stay exactly as they are.


@dataclass(frozen=True)
class QcNdaData:
    """What fills the quality-control NDA: the project by job title and contract reference, the expert by pseudonym.

    No price of any kind: the QC expert never learns the client price, and the
    QC fee is agreed with the hub outside this document. ``issued_at`` is when
    the hub assigned the expert (rendering is deterministic).
    """

    reference: str
    job_title: str
    hub: Party
    expert_pseudonym: str
    issued_at: datetime
    template_version: str = VERSION_2026_12

    def __post_init__(self) -> None:
        if not self.reference.strip() or not self.job_title.strip():
            raise ValueError("reference and job_title must not be empty")
        if not self.expert_pseudonym.strip():
            raise ValueError("expert_pseudonym must not be empty")
        if self.hub.pseudonymous:
            raise ValueError("the hub signs with its real identity")
        _require_aware("issued_at", self.issued_at)


QC_NDA_KIND = "qc-nda"  # how the footer names the template (the kind is not a TemplateKind)

QC_NDA_2026_12 = DocumentTemplate(
    kind=TemplateKind.NDA,
    version=VERSION_2026_12,
    title="Non-Disclosure Agreement for Quality Control",
    preamble=(
        "This non-disclosure agreement is made between the Hub and the Expert named above. The Hub has contracted "
        "with one of its clients (the “Client”) for the job “$job_title” (contract reference $reference) and engages "
        "the Expert as an independent quality-control reviewer of the work done on it (the “Project”).",
    ),
    clauses=(
        Clause(
            "Purpose",
            (
                "The Expert reviews the deliverables of the Project for the Hub and reports to the Hub through the "
                "Hub's platform. For this purpose the Expert takes part in the Project's private channel, under the "
                "pseudonym <b>$expert</b>, as the Hub's quality-control expert.",
                "The Expert acts for the Hub only. The Expert has no contract with the Client or with the expert who "
                "performs the Project, and gives them no instructions.",
            ),
        ),
        Clause(
            "Confidential information",
            (
                "“Confidential Information” means all information that the Expert receives in connection with the "
                "Project, in any form, including drawings, CAD data, process parameters, material data, samples, "
                "deliverables, messages and files of the Project's channel, the Client's business information, and "
                "the identity of anyone who takes part in the Project under a pseudonym.",
            ),
        ),
        Clause(
            "Obligations",
            (
                "The Expert shall (a) use Confidential Information only for the review of the Project; (b) not "
                "disclose it to anyone; (c) not copy it beyond what the review needs; and (d) protect it with at "
                "least reasonable care, and no less care than the Expert applies to their own confidential "
                "information.",
                "The Expert shall not contact the Client, its staff or the Project's expert outside the Hub's "
                "platform, nor offer them services directly, during the Project and for twenty-four (24) months "
                "after it.",
            ),
        ),
        Clause(
            "Exceptions",
            (
                "These obligations do not apply to information that the Expert can show (a) was publicly known, or "
                "became publicly known through no fault of the Expert; (b) was already lawfully known to the Expert; "
                "(c) was lawfully received from a third party without a duty of confidentiality; or (d) was developed "
                "independently of the Confidential Information.",
                "Disclosure required by law, a court or an authority is permitted. Where the law allows, the Expert "
                "informs the Hub beforehand.",
            ),
        ),
        Clause(
            "Pseudonym",
            (
                "The Hub presents the Expert to the Client and to the Project's expert only as <b>$expert</b>. The "
                "Expert shall not disclose to them, directly or indirectly, their name, contact details, employer or "
                "any other information that identifies them. The Hub keeps the Expert's identity confidential.",
            ),
        ),
        Clause(
            "Conflicts of interest",
            (
                "The Expert confirms having declared to the Hub every current or former employment and every "
                "relation with the Client, its competitors or its suppliers that could cause a conflict of interest, "
                "and shall declare without delay any such relation that arises during the Project.",
            ),
        ),
        Clause(
            "End of the assignment",
            (
                "The Hub may end the quality-control assignment at any time; the Expert's access to the Project ends "
                "at the same time. At the end of the assignment, and in any case at the end of the Project, the "
                "Expert returns or deletes the Confidential Information. Copies that must be kept by law or that are "
                "held in routine back-ups may be kept and remain confidential.",
            ),
        ),
        Clause(
            "Term",
            (
                "This agreement applies from the Expert's signature and ends five (5) years after the end of the "
                "Project. The obligations for trade secrets continue for as long as the information remains a trade "
                "secret.",
            ),
        ),
        Clause(
            "Electronic signature and seal",
            (
                "The Expert signs this document electronically on the Plasticonnect Hub platform by typing their "
                "name. The Hub records the signer, the time (UTC), the IP address, the user agent, the typed name and "
                "the SHA-256 fingerprint of the exact document signed.",
                "The Hub then seals the signed document with its electronic seal, which stands for the Hub's "
                "signature. Any change made to the sealed document afterwards can be detected.",
            ),
        ),
        Clause("Final provisions", (_SEVERABILITY, _GOVERNING_LAW)),
    ),
    closing="Signed electronically by the Expert on the Plasticonnect Hub platform and sealed by the Hub.",
)

QC_NDA_TEMPLATES: dict[str, DocumentTemplate] = {QC_NDA_2026_12.version: QC_NDA_2026_12}
QC_NDA_CURRENT_VERSION = VERSION_2026_12


def get_qc_nda_template(version: str) -> DocumentTemplate:
    """The quality-control NDA in ``version``.

    :raises UnknownTemplate: no such version.
    """
    try:
        return QC_NDA_TEMPLATES[version]
    except KeyError as exc:
        raise UnknownTemplate(f"no quality-control NDA template version {version!r}") from exc
