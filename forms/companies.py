"""Forms of the company pages: profile, documents, submission, members and invitations.

They check shape only (lengths, formats, file presence); app/services/companies.py
decides state and permission and checks file content.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Email, EqualTo, Length, Optional, Regexp, StopValidation

from app.extensions import db
from app.integrations import reference
from app.models import CatalogKind, CatalogTerm, DocumentKind, PaymentMethod
from app.passwords import MAX_LENGTH, password_problems

PAYMENT_LABELS = {
    PaymentMethod.CARD: _l("Card"),
    PaymentMethod.BANK_TRANSFER: _l("Bank transfer"),
    PaymentMethod.INVOICE: _l("Invoice / other"),
}
COMPANY_DOCUMENT_CHOICES = [
    SelectChoice(
        DocumentKind.REGISTRATION_CERTIFICATE.value, _l("Registration certificate (certificate of incorporation)")
    ),
    SelectChoice(DocumentKind.VAT_CERTIFICATE.value, _l("VAT certificate")),
    SelectChoice(DocumentKind.OTHER_LEGAL.value, _l("Other legal document")),
]
PHONE_RE = r"^\+?[0-9 ()./-]{5,40}$"


def locale_code() -> str:
    """The current UI language code (``en``, ``de``)."""
    return str(get_locale() or "en")


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """``(value, label)`` pairs as WTForms select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def country_choices(blank: Any = None) -> list[SelectChoice]:
    """Every country (ISO 3166 alpha-2) named in the current language, with a blank first entry."""
    return options([("", blank or _l("Choose a country…")), *reference.countries(locale_code())])


def industry_choices(current_id: int | None = None) -> list[SelectChoice]:
    """Industries from the catalog (not retired, plus the company's current one if it was retired)."""
    terms = db.session.scalars(
        sa.select(CatalogTerm)
        .where(
            CatalogTerm.kind == CatalogKind.INDUSTRY,
            sa.or_(CatalogTerm.retired_at.is_(None), CatalogTerm.id == (current_id or -1)),
        )
        .order_by(CatalogTerm.name)
    )
    code = locale_code()
    return options([(0, _l("Choose an industry…")), *((t.id, t.label(code)) for t in terms)])


def _coerce_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class CompanyProfileForm(FlaskForm):
    """The company's profile; a draft may be saved incomplete."""

    name = StringField(
        _l("Company name"),
        validators=[DataRequired(message=_l("Enter the company's name.")), Length(max=160)],
        description=_l("The name you trade under."),
    )
    legal_name = StringField(
        _l("Legal name"), validators=[Optional(), Length(max=200)],
        description=_l("Exactly as on the registration certificate, e.g. “Molder GmbH”."),
    )
    registration_number = StringField(
        _l("Registration number"), validators=[Optional(), Length(max=64)],
        description=_l("Commercial register number, e.g. HRB 12345."),
    )
    vat_id = StringField(
        _l("VAT id (optional)"),
        validators=[
            Optional(),
            Length(max=32),
            Regexp(r"^[A-Za-z]{2}[A-Za-z0-9 .-]{2,30}$",
                   message=_l("A VAT id starts with the country code, e.g. DE123456789.")),
        ],
    )
    country = SelectField(_l("Country"), validators=[Optional()], validate_choice=True)
    address = TextAreaField(_l("Registered address"), validators=[Optional(), Length(max=2000)],
                            render_kw={"rows": 3})
    industry_id = SelectField(_l("Industry"), coerce=_coerce_int, validators=[Optional()])
    website = StringField(
        _l("Website (optional)"),
        validators=[Optional(), Length(max=255),
                    URL(require_tld=True, message=_l("Enter a web address, like https://www.example.com."))],
        filters=[lambda v: ("https://" + v) if v and "://" not in v else v],
    )
    contact_person = StringField(_l("Contact person"), validators=[Optional(), Length(max=120)])
    contact_email = EmailField(
        _l("Contact e-mail"),
        validators=[Optional(), Length(max=254),
                    Email(message=_l("Enter a valid e-mail address, like name@company.com."))],
    )
    phone = StringField(
        _l("Phone"),
        validators=[
            Optional(),
            Length(max=40),
            Regexp(PHONE_RE, message=_l("Enter a phone number with digits, spaces and an optional leading +.")),
        ],
        render_kw={"autocomplete": "tel"},
    )
    payment_method = RadioField(
        _l("Preferred payment method"),
        choices=options((m.value, label) for m, label in PAYMENT_LABELS.items()),
        validators=[Optional()],
    )
    show_name_to_experts = BooleanField(_l("Show our company name to experts (otherwise they see only industry "
                                           "and country)"))

    def __init__(self, *args: Any, current_industry_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()
        self.industry_id.choices = industry_choices(current_industry_id)

    def validate_industry_id(self, field: Any) -> None:
        """Only an industry from the list (or none yet)."""
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise StopValidation(str(_l("Choose an industry from the list.")))

    def service_fields(self) -> dict[str, Any]:
        """The values for ``companies.update_company``."""
        return {
            "name": self.name.data or "",
            "legal_name": self.legal_name.data or "",
            "registration_number": self.registration_number.data or "",
            "vat_id": (self.vat_id.data or "").upper().replace(" ", ""),
            "country": self.country.data or "",
            "address": self.address.data or "",
            "industry_id": self.industry_id.data or None,
            "website": self.website.data or "",
            "contact_person": self.contact_person.data or "",
            "contact_email": self.contact_email.data or "",
            "phone": self.phone.data or "",
            "payment_method": PaymentMethod(self.payment_method.data) if self.payment_method.data else None,
            "show_name_to_experts": bool(self.show_name_to_experts.data),
        }


class DocumentUploadForm(FlaskForm):
    """One document at a time, with its kind."""

    kind = SelectField(_l("Document"), choices=COMPANY_DOCUMENT_CHOICES)
    file = FileField(_l("File"), validators=[FileRequired(message=_l("Choose a file to upload."))])


class DocumentRemoveForm(FlaskForm):
    """A button (CSRF only); the document id is in the form's action."""


class SubmitForm(FlaskForm):
    """Submit for verification, with an optional answer to the hub's question."""

    answer = TextAreaField(
        _l("Your answer to the hub (optional)"),
        validators=[Optional(), Length(max=5000)],
        render_kw={"rows": 3},
        description=_l("Tell the hub what you changed or answer its question."),
    )


class InviteForm(FlaskForm):
    """Invite a colleague by e-mail."""

    email = EmailField(
        _l("Colleague's e-mail address"),
        validators=[
            DataRequired(message=_l("Enter your colleague's e-mail address.")),
            Length(max=254),
            Email(message=_l("Enter a valid e-mail address, like name@company.com.")),
        ],
        render_kw={"spellcheck": "false"},
    )


class RevokeForm(FlaskForm):
    """A button (CSRF only)."""


class _NewPassword:
    """The password rules of app/passwords.py, each problem shown under the field."""

    def __call__(self, form: Any, field: Any) -> None:
        problems = password_problems(field.data or "", email=getattr(form, "email_value", ""),
                                     name=form.full_name.data or "")
        if problems:
            field.errors.extend(problems)
            raise StopValidation()


class AcceptInvitationForm(FlaskForm):
    """Set a name and a password to join the company."""

    full_name = StringField(
        _l("Your name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=120)],
        render_kw={"autocomplete": "name"},
    )
    password = PasswordField(
        _l("Choose a password"),
        validators=[DataRequired(message=_l("Choose a password.")), Length(max=MAX_LENGTH), _NewPassword()],
        description=_l("At least 12 characters. A few unrelated words make a strong passphrase."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(message=_l("Repeat the password.")),
                    EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )
