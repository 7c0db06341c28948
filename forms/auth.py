"""Forms of the auth pages: log-in, sign-up, passwords, two-factor and the account page.

They check shape only; app/services/accounts.py decides everything else.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, StopValidation

from app.passwords import MAX_LENGTH, MIN_LENGTH, password_problems

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}  # each in its own language, never translated
NAME_MAX = 120
EMAIL_MAX = 254
COMPANY_NAME_MAX = 160
PASSWORD_HELP = _l(
    "At least 12 characters. A few unrelated words make a strong passphrase that is easy to remember; "
    "no special characters required."
)


class NewPassword:
    """Validator: the rules of app/passwords.py, each problem shown under the field.

    ``email_field`` / ``name_field`` name sibling fields; a form without them (reset,
    change) gets the account's values as ``form.email_value`` / ``form.full_name_value``
    from the view, so the password may not repeat them either.
    """

    def __init__(self, email_field: str | None = "email", name_field: str | None = "full_name") -> None:
        self.email_field = email_field
        self.name_field = name_field

    def _value(self, form: Any, name: str | None) -> str:
        if not name:
            return ""
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "data"):
            return str(field.data or "")
        return str(getattr(form, f"{name}_value", "") or "")

    def __call__(self, form: Any, field: Any) -> None:
        problems = password_problems(
            field.data or "", email=self._value(form, self.email_field), name=self._value(form, self.name_field)
        )
        if problems:
            field.errors.extend(problems)
            raise StopValidation()


def _email_field(label: Any = None) -> EmailField:
    return EmailField(
        label or _l("E-mail address"),
        validators=[
            DataRequired(message=_l("Enter your e-mail address.")),
            Length(max=EMAIL_MAX, message=_l("An e-mail address has at most %(max)d characters.")),
            Email(message=_l("Enter a valid e-mail address, like name@company.com.")),
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


def _name_field() -> StringField:
    return StringField(
        _l("Your name"),
        validators=[
            DataRequired(message=_l("Enter your name.")),
            Length(max=NAME_MAX, message=_l("Keep your name under %(max)d characters.")),
        ],
        render_kw={"autocomplete": "name"},
    )


def _new_password_field(label: Any = None, *, email_field: str | None = "email") -> PasswordField:
    return PasswordField(
        label or _l("Password"),
        validators=[DataRequired(message=_l("Choose a password.")), NewPassword(email_field=email_field)],
        description=PASSWORD_HELP,
        render_kw={"autocomplete": "new-password", "minlength": MIN_LENGTH, "maxlength": MAX_LENGTH},
    )


def _code_field() -> StringField:
    return StringField(
        _l("6-digit code"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from your authenticator app.")),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("The code has 6 digits, like 123456.")),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": r"[0-9 ]*",
                   "maxlength": 7},
    )


def language_choices() -> list[tuple[str, str]]:
    """The configured languages, each named in its own language."""
    return [(code, LANGUAGE_NAMES.get(code, code)) for code in current_app.config["LANGUAGES"]]


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    """Every IANA time zone, sorted, for the account page."""
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n or n == "UTC")
    return [(name, name.replace("_", " ")) for name in names]


class LoginForm(FlaskForm):
    # Not validated as an address: whatever is typed gets the same answer.
    email = StringField(
        _l("E-mail address"),
        validators=[
            DataRequired(message=_l("Enter your e-mail address.")),
            Length(max=EMAIL_MAX, message=_l("An e-mail address has at most %(max)d characters.")),
        ],
        render_kw={"autocomplete": "username", "spellcheck": "false", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(message=_l("Enter your password.")),
            Length(max=1024, message=_l("That is longer than any password we accept.")),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class _SignupForm(FlaskForm):
    full_name = _name_field()
    email = _email_field()
    password = _new_password_field()
    locale = SelectField(_l("Language"), validators=[DataRequired(message=_l("Choose a language."))])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale.choices = language_choices()


class CompanySignupForm(_SignupForm):
    email = _email_field(_l("Work e-mail address"))
    company_name = StringField(
        _l("Company name"),
        validators=[
            DataRequired(message=_l("Enter your company's name.")),
            Length(max=COMPANY_NAME_MAX, message=_l("Keep the company name under %(max)d characters.")),
        ],
        description=_l("You add the legal details and documents after confirming your e-mail address."),
        render_kw={"autocomplete": "organization"},
    )


class ExpertSignupForm(_SignupForm):
    pass


class EmailForm(FlaskForm):
    """One address: "send the link again" and "forgot my password"."""

    email = _email_field()


class ResetPasswordForm(FlaskForm):
    password = _new_password_field(_l("New password"))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(message=_l("Type the new password again.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = _new_password_field(_l("New password"))
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(message=_l("Type the new password again.")),
            EqualTo("new_password", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class TotpCodeForm(FlaskForm):
    code = _code_field()


class DisableTotpForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(message=_l("Enter your password to turn two-factor authentication off."))],
        render_kw={"autocomplete": "current-password"},
    )


class AccountForm(FlaskForm):
    full_name = _name_field()
    locale = SelectField(_l("Language"), validators=[DataRequired(message=_l("Choose a language."))])
    timezone = SelectField(
        _l("Time zone"),
        validators=[DataRequired(message=_l("Choose a time zone."))],
        description=_l("Dates and times are shown in this time zone."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale.choices = language_choices()
        self.timezone.choices = timezone_choices()
