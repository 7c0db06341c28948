"""Contract forms: the click-wrap signature, cancelling a contract, and the public verification upload.

Shape only: the services decide whether the typed name matches the signer,
whether the document is the one signed and whether the contract may change.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp

VERIFY_MAX_BYTES = 25 * 1024 * 1024

CONTRACT_STATUS_LABELS = {
    "awaiting_signatures": _l("Awaiting signatures"),
    "signed": _l("Signed, awaiting payment"),
    "funded": _l("Funded"),
    "cancelled": _l("Cancelled"),
}
CONTRACT_STATUS_COLOURS = {
    "awaiting_signatures": "warning",
    "signed": "info",
    "funded": "success",
    "cancelled": "secondary",
}
DOCUMENT_KIND_LABELS = {
    "contract": _l("Contract (your company and Plasticonnect Hub)"),
    "subcontract": _l("Subcontract (you and Plasticonnect Hub)"),
    "nda": _l("Non-disclosure agreement"),
}
ADMIN_DOCUMENT_KIND_LABELS = {
    "contract": _l("Contract (company ↔ hub, client price)"),
    "subcontract": _l("Subcontract (hub ↔ expert, expert price)"),
    "nda": _l("NDA (company, hub, expert by pseudonym)"),
}
SIGNER_ROLE_LABELS = {
    "company": _l("Company"),
    "hub": _l("Plasticonnect Hub"),
    "expert": _l("Expert"),
}


class SignForm(FlaskForm):
    """Sign one document: the typed full name, an unchecked consent box, and the SHA-256 of what was read."""

    typed_name = StringField(
        _l("Type your full name"),
        validators=[
            DataRequired(message=_l("Type your full name to sign.")),
            Length(max=160, message=_l("Keep the name under %(max)d characters.")),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    consent = BooleanField(
        _l("I have read this document and sign it electronically"),
        validators=[DataRequired(message=_l("Tick the box to confirm that you read the document and sign it."))],
    )
    document_sha256 = HiddenField(
        validators=[
            DataRequired(message=_l("Reload the page and read the document again before signing.")),
            Regexp(r"^[0-9a-fA-F]{64}$", message=_l("Reload the page and read the document again before signing.")),
        ]
    )


class CancelContractForm(FlaskForm):
    """Cancel a contract (back office): the reason goes to the company and the expert."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason: the company and the expert read it.")),
            Length(max=2000, message=_l("Keep the reason under %(max)d characters.")),
        ],
        description=_l("Sent to the company's users and the expert by notification and e-mail."),
        render_kw={"rows": 2},
    )


class VerifyForm(FlaskForm):
    """Upload a PDF to check its seal."""

    file = FileField(_l("PDF to check"), validators=[FileRequired(message=_l("Choose a PDF file to check."))],
                     render_kw={"accept": "application/pdf,.pdf"})
