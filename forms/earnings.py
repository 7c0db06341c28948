"""Forms of the earnings and payout pages: the expert's payout settings, the back office's payout decisions.

Shape only: app/services/payouts.py decides who may change what and stays the
authority on the account id and the IBAN (the same checks run there again).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.services.payouts import iban_is_valid, normalize_iban

MAX_REFERENCE = 140

PAYOUT_STATUS_LABELS = {"pending": _l("On its way"), "sent": _l("Paid"), "failed": _l("Delayed")}
PAYOUT_STATUS_COLOURS = {"pending": "warning", "sent": "success", "failed": "danger"}
PAYOUT_METHOD_LABELS = {"provider": _l("Payment account"), "bank": _l("Bank transfer")}
PAYOUT_ROLE_LABELS = {"expert": _l("Expert"), "qc": _l("Quality control")}


def format_iban(iban: str) -> str:
    """``DE89370400440532013000`` → ``DE89 3704 0044 0532 0130 00`` (groups of four, as printed by banks)."""
    compact = normalize_iban(iban)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class PayoutSettingsForm(FlaskForm):
    """Where the expert is paid: a connected payment-provider account, or a bank account (holder + IBAN)."""

    account_id = StringField(
        _l("Connected payment account"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=64, message=_l("Keep it under %(max)d characters.")),
            Regexp(r"^acct_[A-Za-z0-9]+$",
                   message=_l("A connected account id starts with acct_ followed by letters and digits.")),
        ],
        description=_l("The id of your account at our payment provider (acct_…). Payouts then arrive "
                       "automatically."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    account_name = StringField(
        _l("Account holder"),
        filters=[_strip],
        validators=[Length(max=MAX_REFERENCE, message=_l("Keep it under %(max)d characters."))],
        render_kw={"autocomplete": "name"},
    )
    iban = StringField(
        _l("IBAN"),
        filters=[_strip],
        validators=[Length(max=42, message=_l("An IBAN has at most 34 letters and digits."))],
        description=_l("Spaces are fine. Without a connected account, the hub pays you by bank transfer."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Save payout details"))

    def validate_iban(self, field: Field) -> None:
        """The IBAN's shape and its mod-97 check digits (ISO 13616)."""
        if field.data and not iban_is_valid(normalize_iban(field.data)):
            raise ValidationError(_l("This IBAN is not valid: check it for a typing error (its check digits do "
                                     "not match)."))

    def validate_account_name(self, field: Field) -> None:
        """An IBAN needs the name of the account holder."""
        if self.iban.data and not (field.data or "").strip():
            raise ValidationError(_l("Enter the name of the account holder."))

    def validate(self, extra_validators: Any = None) -> bool:
        """Also: at least one way to be paid."""
        valid: bool = super().validate(extra_validators)
        if valid and not self.account_id.data and not self.iban.data:
            self.account_id.errors = [str(_l("Enter your connected payment account, or the account holder and "
                                             "the IBAN below."))]
            return False
        return valid


class MarkPaidForm(FlaskForm):
    """The back office confirms a bank payout with the reference of the transfer it made."""

    reference = StringField(
        _l("Bank reference"),
        filters=[_strip],
        validators=[DataRequired(message=_l("Enter the reference of the bank transfer.")),
                    Length(max=MAX_REFERENCE, message=_l("Keep it under %(max)d characters."))],
    )
    submit = SubmitField(_l("Mark as paid"))


class ConfirmForm(FlaskForm):
    """A button (CSRF only): retry a payout, release a project now."""

    submit = SubmitField(_l("Confirm"))
