"""Forms of the expert pages: profile, skills, languages, employers and documents.

They check shape only; app/services/experts.py decides state and permission.
Lists (skills, languages, employers) are rows of a ``FieldList``: empty rows are
ignored, so the page can always offer a few blank ones.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from app.integrations import reference
from app.models import CatalogKind, CatalogTerm, DocumentKind, EmployerRelation, ExpertiseLevel, LanguageProficiency
from forms.companies import country_choices, locale_code, options

LEVEL_LABELS = {
    ExpertiseLevel.JUNIOR: _l("Junior"),
    ExpertiseLevel.INTERMEDIATE: _l("Intermediate"),
    ExpertiseLevel.SENIOR: _l("Senior"),
    ExpertiseLevel.PRINCIPAL: _l("Principal / recognised authority"),
}
PROFICIENCY_LABELS = {
    LanguageProficiency.A1: _l("A1 – beginner"),
    LanguageProficiency.A2: _l("A2 – elementary"),
    LanguageProficiency.B1: _l("B1 – intermediate"),
    LanguageProficiency.B2: _l("B2 – upper intermediate"),
    LanguageProficiency.C1: _l("C1 – advanced"),
    LanguageProficiency.C2: _l("C2 – proficient"),
    LanguageProficiency.NATIVE: _l("Native"),
}
RELATION_LABELS = {
    EmployerRelation.CURRENT: _l("Current employer"),
    EmployerRelation.FORMER: _l("Former employer"),
    EmployerRelation.COMPETITOR: _l("Competitor of a client (declared relation)"),
    EmployerRelation.SUPPLIER: _l("Supplier or customer relation"),
}
KIND_LABELS = {
    CatalogKind.JOB_TITLE: _l("Job titles"),
    CatalogKind.SKILL: _l("Skills"),
    CatalogKind.PROCESS: _l("Processes"),
    CatalogKind.MATERIAL: _l("Materials"),
}
EXPERT_DOCUMENT_CHOICES = [
    SelectChoice(DocumentKind.CV.value, _l("CV (PDF)")),
    SelectChoice(DocumentKind.CERTIFICATE.value, _l("Certificate (PDF)")),
    SelectChoice(DocumentKind.IDENTITY.value, _l("Identity document (PDF, PNG or JPEG)")),
]
BLANK_ROWS = 3


def _coerce_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def timezone_choices() -> list[SelectChoice]:
    """Every IANA time zone, labelled with spaces instead of underscores."""
    return options((z, z.replace("_", " ")) for z in reference.timezones())


def currency_choices() -> list[SelectChoice]:
    """The currencies offered for day rates."""
    return options((c, c) for c in reference.CURRENCIES)


def to_minor(amount: Decimal | None, currency: str) -> int | None:
    """A decimal amount in integer minor units (``Decimal("850.5"), "EUR"`` -> ``85050``)."""
    if amount is None:
        return None
    digits = reference.currency_precision(currency or "EUR")
    return int((amount * (10**digits)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor(amount: int | None, currency: str) -> Decimal | None:
    """Integer minor units as a decimal amount."""
    if amount is None:
        return None
    return Decimal(amount) / (10 ** reference.currency_precision(currency or "EUR"))


class ExpertProfileForm(FlaskForm):
    """The expert's own profile; a draft may be saved incomplete."""

    headline = StringField(
        _l("Headline"), validators=[Optional(), Length(max=160)],
        description=_l("One line companies read first, e.g. “Injection molding process engineer, medical parts”. "
                       "Do not put your name or employer here: companies only see your pseudonym."),
    )
    summary = TextAreaField(
        _l("Summary"), validators=[Optional(), Length(max=5000)], render_kw={"rows": 6},
        description=_l("Your experience, the problems you solve, industries and typical results."),
    )
    years_experience = IntegerField(
        _l("Years of experience"),
        validators=[Optional(), NumberRange(min=0, max=70, message=_l("Enter a number of years from 0 to 70."))],
    )
    day_rate = DecimalField(
        _l("Day rate"), places=2,
        validators=[Optional(), NumberRange(min=Decimal("1"), max=Decimal("100000"),
                                            message=_l("Enter a day rate between 1 and 100,000."))],
        description=_l("What you charge per 8-hour day, before the hub's fee."),
    )
    currency = SelectField(_l("Currency"), choices=currency_choices, default="EUR")
    available_from = DateField(_l("Available from"), validators=[Optional()],
                               description=_l("Leave empty if you are available now."))
    capacity_days_per_week = IntegerField(
        _l("Capacity (days per week)"), default=5,
        validators=[Optional(), NumberRange(min=0, max=7, message=_l("Enter 0 to 7 days per week."))],
    )
    country = SelectField(_l("Country"), validators=[Optional()])
    timezone = SelectField(_l("Time zone"), choices=timezone_choices, default="UTC")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()

    def service_fields(self) -> dict[str, Any]:
        """The values for ``experts.update_expert``."""
        currency = self.currency.data or "EUR"
        return {
            "headline": self.headline.data or "",
            "summary": self.summary.data or "",
            "years_experience": self.years_experience.data or 0,
            "day_rate_minor": to_minor(self.day_rate.data, currency),
            "currency": currency,
            "available_from": self.available_from.data,
            "capacity_days_per_week": 5 if self.capacity_days_per_week.data is None
            else self.capacity_days_per_week.data,
            "country": self.country.data or "",
            "timezone": self.timezone.data or "UTC",
        }


class SkillRow(Form):
    """One catalog term with a level (a blank term means an unused row)."""

    term_id = SelectField(_l("Job title or skill"), coerce=_coerce_int, validate_choice=False)
    level = SelectField(_l("Level"), choices=options((lv.value, label) for lv, label in LEVEL_LABELS.items()),
                        default=ExpertiseLevel.SENIOR.value)


class SkillsForm(FlaskForm):
    """The expert's job titles, skills, processes and materials."""

    rows = FieldList(FormField(SkillRow), min_entries=1, max_entries=60)

    def set_terms(self, terms: list[CatalogTerm]) -> None:
        """Fill every row's select with the catalog, grouped by kind."""
        code = locale_code()
        choices = [SelectChoice(0, _l("—"))] + [
            SelectChoice(term.id, term.label(code), optgroup=str(KIND_LABELS.get(term.kind, term.kind.value)))
            for term in terms
        ]
        self._term_ids = {t.id for t in terms}
        for row in self.rows:
            row.form.term_id.choices = choices

    def validate_rows(self, field: Any) -> None:
        """Known terms, each once."""
        seen: set[int] = set()
        for row in field:
            term_id = row.form.term_id.data
            if not term_id:
                continue
            if term_id not in getattr(self, "_term_ids", set()):
                raise ValidationError(str(_l("Choose job titles and skills from the list.")))
            if term_id in seen:
                raise ValidationError(str(_l("Each job title or skill can be listed only once.")))
            seen.add(term_id)

    def items(self) -> list[tuple[int, ExpertiseLevel]]:
        """The filled rows, for ``experts.set_expert_skills``."""
        return [(row.form.term_id.data, ExpertiseLevel(row.form.level.data)) for row in self.rows
                if row.form.term_id.data]


class LanguageRow(Form):
    """One language with a proficiency (a blank language means an unused row)."""

    code = SelectField(_l("Language"), validate_choice=False)
    proficiency = SelectField(
        _l("Proficiency"), choices=options((p.value, label) for p, label in PROFICIENCY_LABELS.items()),
        default=LanguageProficiency.B2.value,
    )


class LanguagesForm(FlaskForm):
    """The expert's languages."""

    rows = FieldList(FormField(LanguageRow), min_entries=1, max_entries=40)

    def set_languages(self) -> None:
        """Fill every row's select with the ISO 639-1 languages in the current language."""
        choices = options([("", _l("—")), *reference.languages(locale_code())])
        for row in self.rows:
            row.form.code.choices = choices

    def validate_rows(self, field: Any) -> None:
        """Known languages, each once."""
        seen: set[str] = set()
        for row in field:
            code = row.form.code.data
            if not code:
                continue
            if code not in reference.language_codes():
                raise ValidationError(str(_l("Choose languages from the list.")))
            if code in seen:
                raise ValidationError(str(_l("Each language can be listed only once.")))
            seen.add(code)

    def items(self) -> list[tuple[str, LanguageProficiency]]:
        """The filled rows, for ``experts.set_expert_languages``."""
        return [(row.form.code.data, LanguageProficiency(row.form.proficiency.data)) for row in self.rows
                if row.form.code.data]


class EmployerRow(Form):
    """One employer or declared relation (a blank name means an unused row)."""

    name = StringField(_l("Company"), validators=[Optional(), Length(max=160)])
    relation = SelectField(_l("Relation"), choices=options((r.value, label) for r, label in RELATION_LABELS.items()),
                           default=EmployerRelation.FORMER.value)


class EmployersForm(FlaskForm):
    """Declared employers and relations, for conflict-of-interest checks."""

    rows = FieldList(FormField(EmployerRow), min_entries=1, max_entries=40)

    def items(self) -> list[tuple[str, EmployerRelation]]:
        """The filled rows, for ``experts.set_expert_employers``."""
        return [((row.form.name.data or "").strip(), EmployerRelation(row.form.relation.data)) for row in self.rows
                if (row.form.name.data or "").strip()]


class ExpertDocumentForm(FlaskForm):
    """One document at a time, with its kind."""

    kind = SelectField(_l("Document"), choices=EXPERT_DOCUMENT_CHOICES)
    file = FileField(_l("File"), validators=[FileRequired(message=_l("Choose a file to upload."))])


class ExpertSubmitForm(FlaskForm):
    """Submit for verification, with an optional answer to the hub's question."""

    answer = TextAreaField(
        _l("Your answer to the hub (optional)"),
        validators=[Optional(), Length(max=5000)],
        render_kw={"rows": 3},
        description=_l("Tell the hub what you changed or answer its question."),
    )

