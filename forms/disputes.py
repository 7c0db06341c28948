"""Dispute, cancellation and refund forms: the workspace's "Open a dispute", and the back office's decisions.

Shape only (required, lengths, amounts that are numbers, a split's four
amounts present): app/services/disputes.py and app/services/refunds.py decide
who may act, whether the project can still be disputed or cancelled, and whether
a split adds up to what is held.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation

from app.models import DisputeDecision
from forms.jobs import AmountField

MAX_REASON = 5000
MAX_REFERENCE = 140

DECISION_LABELS = {
    DisputeDecision.RELEASE.value: _l("Release: everything to the expert side, as on acceptance"),
    DisputeDecision.REFUND.value: _l("Refund: everything held back to the company"),
    DisputeDecision.SPLIT.value: _l("Split: the amounts below"),
}
DECISION_NAMES = {
    DisputeDecision.RELEASE.value: _l("Release"),
    DisputeDecision.REFUND.value: _l("Refund"),
    DisputeDecision.SPLIT.value: _l("Split"),
}


class OpenDisputeForm(FlaskForm):
    """What the dispute is about, and (optionally) which delivery; choices are set by the view."""

    delivery_id = SelectField(
        _l("About"),
        coerce=int,
        choices=[],
        validate_choice=True,
        validators=[InputRequired(message=_l("Choose what the dispute is about."))],
    )
    reason = TextAreaField(
        _l("What is the dispute about?"),
        validators=[
            DataRequired(message=_l("Explain what the dispute is about: Plasticonnect Hub reads it to decide.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 5, "maxlength": MAX_REASON},
        description=_l("Plasticonnect Hub and the other party read it. The release of the held funds is frozen until "
                       "the hub decides."),
    )


class MoneyField(AmountField):
    """An amount in major units (``1250``, ``1.250,50``); empty is None."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(_l("Enter the amount as a number, like 1250 or 1250.50."))) from None


def split_amount(form: Any, field: Field) -> None:
    """A split needs every amount (0 allowed, never negative); the other decisions ignore them."""
    if field.errors:  # not a number: that message says it all
        raise StopValidation()
    if field.data is None:
        if form.decision.data == DisputeDecision.SPLIT.value:
            raise StopValidation(str(_l("A split needs this amount (0 when nothing goes there).")))
        raise StopValidation()
    if field.data < 0:
        raise StopValidation(str(_l("An amount cannot be negative.")))


def _amount(label: Any) -> MoneyField:
    return MoneyField(label, places=2, validators=[split_amount])


class DecideDisputeForm(FlaskForm):
    """The hub's decision: release, refund or split (four amounts), and the reason both parties read."""

    decision = RadioField(
        _l("Decision"),
        choices=[SelectChoice(value, label) for value, label in DECISION_LABELS.items()],
        validators=[InputRequired(message=_l("Choose release, refund or split."))],
    )
    expert_amount = _amount(_l("To the expert"))
    qc_amount = _amount(_l("To the quality-control expert"))
    hub_amount = _amount(_l("Hub fee"))
    refund_amount = _amount(_l("Refund to the company"))
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give the reason for the decision: both parties read it.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 4},
        description=_l("Sent to the company and the expert with the decision, and kept with the dispute."),
    )


class CancelProjectForm(FlaskForm):
    """Cancel a project before the work starts (everything held is refunded): the reason the members read."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give the reason for the cancellation: the company and the expert read it.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 2},
    )


class MarkRefundedForm(FlaskForm):
    """The bank reference of a refund transfer the hub made."""

    bank_reference = StringField(
        _l("Bank reference"),
        validators=[
            DataRequired(message=_l("Enter the bank reference of the refund transfer.")),
            Length(max=MAX_REFERENCE, message=_l("Keep the bank reference under %(max)d characters.")),
        ],
    )
