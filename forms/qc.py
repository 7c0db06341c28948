"""Quality-control forms: the QC expert's NDA signature, and the back office's QC and manager decisions.

Shape only: app/services/qc.py decides whether the typed name matches, whether
the expert may review the project, whether the fee fits the hub's fee and who
may manage a project.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp
from wtforms.widgets import TextInput

from forms.jobs import parse_amount

MAX_REASON = 2000

QC_STATUS_LABELS = {
    "nda_pending": _l("Waiting for the NDA signature"),
    "active": _l("Active"),
    "removed": _l("Ended"),
}
QC_STATUS_COLOURS = {"nda_pending": "warning", "active": "success", "removed": "secondary"}


class QcNdaSignForm(FlaskForm):
    """Sign the QC NDA: the typed full name, an unchecked consent box, and the SHA-256 of what was read."""

    typed_name = StringField(
        _l("Type your full name"),
        validators=[
            DataRequired(message=_l("Type your full name to sign.")),
            Length(max=160, message=_l("Keep the name under %(max)d characters.")),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    consent = BooleanField(
        _l("I have read this non-disclosure agreement and sign it electronically"),
        validators=[DataRequired(message=_l("Tick the box to confirm that you read the NDA and sign it."))],
    )
    document_sha256 = HiddenField(
        validators=[
            DataRequired(message=_l("Reload the page and read the NDA again before signing.")),
            Regexp(r"^[0-9a-fA-F]{64}$", message=_l("Reload the page and read the NDA again before signing.")),
        ]
    )


class FeeField(DecimalField):
    """An amount typed as people type it (``450``, ``450.50``, ``1.250,00``), shown as a text input."""

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_amount(str(valuelist[0]))
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter the fee as a number, like 600 or 600.50."))) from None


class AssignQcForm(FlaskForm):
    """Choose the QC expert among the selectable candidates (choices set by the view) and their fee."""

    expert_id = RadioField(
        _l("Expert"),
        coerce=int,
        choices=[],
        validate_choice=True,
        validators=[InputRequired(message=_l("Choose one of the experts in the list."))],
    )
    fee = FeeField(
        _l("QC fee"),
        validators=[
            InputRequired(message=_l("Enter the QC fee (0 when the review is unpaid).")),
            NumberRange(min=Decimal(0), message=_l("The fee cannot be negative.")),
        ],
        description=_l("Paid to the QC expert out of the hub's fee when the funds are released; at most the hub's "
                       "fee on this contract."),
    )


class RemoveQcForm(FlaskForm):
    """End a QC assignment; the expert reads the reason."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason: the quality-control expert reads it.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 2},
        description=_l("Sent to the quality-control expert by notification and e-mail. Their access to the project "
                       "ends at once."),
    )


class SetManagerForm(FlaskForm):
    """Choose the hub admin who manages the project (choices set by the view: staff with two-factor)."""

    manager_id = SelectField(
        _l("Project manager"),
        coerce=int,
        choices=[],
        validators=[InputRequired(message=_l("Choose a hub admin."))],
        description=_l("Only active hub admins with two-factor authentication can manage a project."),
    )
