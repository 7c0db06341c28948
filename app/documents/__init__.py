"""The hub's legal documents: versioned templates, their input data and the PDF renderers.

A pure library: no database, no Flask. The workflow builds the plain input
dataclasses from the accepted offer, renders the PDF, stores it with its
SHA-256 and seals the final version with :mod:`app.integrations.sealing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.documents.render import (
    format_money,
    render_completion_certificate,
    render_contract,
    render_nda,
    render_receipt,
    render_subcontract,
    sha256_hex,
)
from app.documents.templates import (
    CURRENT_VERSIONS,
    HELD_FUNDS_EXPLANATION,
    TEMPLATES,
    CompletionCertificate,
    ContractData,
    DocumentTemplate,
    Milestone,
    Party,
    PaymentMethod,
    ReceiptData,
    SignatureRecord,
    TemplateKind,
    UnknownTemplate,
    current_template,
    get_template,
    template_versions,
)


def hub_party(config: Mapping[str, Any]) -> Party:
    """The hub as a party, from ``HUB_LEGAL_NAME`` and ``HUB_ADDRESS`` (e.g. ``current_app.config``)."""
    return Party(name=str(config["HUB_LEGAL_NAME"]), address=str(config.get("HUB_ADDRESS") or ""))


__all__ = [
    "CURRENT_VERSIONS",
    "HELD_FUNDS_EXPLANATION",
    "TEMPLATES",
    "CompletionCertificate",
    "ContractData",
    "DocumentTemplate",
    "Milestone",
    "Party",
    "PaymentMethod",
    "ReceiptData",
    "SignatureRecord",
    "TemplateKind",
    "UnknownTemplate",
    "current_template",
    "format_money",
    "get_template",
    "hub_party",
    "render_completion_certificate",
    "render_contract",
    "render_nda",
    "render_receipt",
    "render_subcontract",
    "sha256_hex",
    "template_versions",
]
