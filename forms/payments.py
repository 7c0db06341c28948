"""Forms of the funding pages: the company's card button, the back office's bank-transfer forms."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from forms.jobs import AmountField, PlainDateField


class PayByCardForm(FlaskForm):
    """A button (CSRF only): go to the provider's hosted payment page."""

    submit = SubmitField(_l("Pay by card"))


class BankTransferForm(FlaskForm):
    """A bank transfer that arrived, as the hub's bank shows it (amount in the contract currency)."""

    amount = AmountField(_l("Amount received"), places=2,
                         validators=[InputRequired(), NumberRange(min=Decimal("0.01"))])
    received_on = PlainDateField(_l("Received on"), validators=[InputRequired()])
    bank_reference = StringField(_l("Bank reference"), validators=[InputRequired(), Length(max=140)])
    submit = SubmitField(_l("Record the transfer"))


class ResolveTransferForm(FlaskForm):
    """How the excess of an over-payment goes back to the company."""

    note = TextAreaField(_l("How the excess is returned"), validators=[InputRequired(), Length(max=2000)])
    submit = SubmitField(_l("Resolve"))
