"""Forms of the expert job board: the filters (a GET form) and the confidentiality acceptance.

The filter form checks shape only and turns what is valid into
``app.services.jobs.JobFilters``; an invalid filter is shown with its message
and ignored, the others still apply.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, Form, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.integrations import reference
from app.models import AttachmentKind, CatalogKind, CatalogTerm, JobCategory, TrainingDelivery
from app.services.jobs import JobFilters
from forms.companies import locale_code, options
from forms.experts import to_minor

CATEGORY_LABELS = {
    JobCategory.TRAINING: _l("Training"),
    JobCategory.PROBLEM_SOLVING: _l("Problem solving"),
}
SUBTYPE_LABELS = {
    "workshop": _l("Workshop"),
    "course": _l("Course"),
    "coaching": _l("Coaching"),
    "audit": _l("Audit"),
    "root_cause": _l("Root-cause analysis"),
    "process_optimisation": _l("Process optimisation"),
    "tool_design": _l("Tool design"),
    "material_selection": _l("Material selection"),
    "failure_analysis": _l("Failure analysis"),
}
DELIVERY_LABELS = {
    TrainingDelivery.ON_SITE: _l("On site"),
    TrainingDelivery.REMOTE: _l("Remote"),
}
ATTACHMENT_KIND_LABELS = {
    AttachmentKind.CAD: _l("CAD"),
    AttachmentKind.PDF: _l("PDF"),
    AttachmentKind.IMAGE: _l("Image"),
    AttachmentKind.SPREADSHEET: _l("Spreadsheet"),
}
# Budgets are filtered as amounts with two decimals (the board mixes currencies).
BUDGET_PRECISION_CURRENCY = "EUR"
FILTER_FIELDS = ("q", "category", "process_id", "material_id", "skill_id", "language", "budget_min", "budget_max")


def _coerce_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class BoardFilterForm(Form):
    """The job board's filters, read from the query string (no CSRF: it changes nothing)."""

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)],
                    description=_l("Words from the job title, description or scope."))
    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    process_id = SelectField(_l("Process"), coerce=_coerce_int, validate_choice=False, default=0)
    material_id = SelectField(_l("Material"), coerce=_coerce_int, validate_choice=False, default=0)
    skill_id = SelectField(_l("Skill"), coerce=_coerce_int, validate_choice=False, default=0)
    language = SelectField(_l("Language"), validators=[Optional()], validate_choice=False)
    budget_min = DecimalField(
        _l("Budget from"), places=2,
        validators=[Optional(), NumberRange(min=Decimal("0"), max=Decimal("100000000"),
                                            message=_l("Enter a budget of 0 or more."))],
    )
    budget_max = DecimalField(
        _l("Budget up to"), places=2,
        validators=[Optional(), NumberRange(min=Decimal("0"), max=Decimal("100000000"),
                                            message=_l("Enter a budget of 0 or more."))],
    )

    def set_choices(self, terms: list[CatalogTerm]) -> None:
        """Fill the selects: categories, catalog terms (not retired) by kind, and languages."""
        code = locale_code()
        self.category.choices = options([("", _l("All categories")),
                                         *((c.value, label) for c, label in CATEGORY_LABELS.items())])
        by_kind: dict[CatalogKind, list[SelectChoice]] = {
            CatalogKind.PROCESS: [SelectChoice(0, _l("Any process"))],
            CatalogKind.MATERIAL: [SelectChoice(0, _l("Any material"))],
            CatalogKind.SKILL: [SelectChoice(0, _l("Any skill"))],
        }
        for term in terms:
            if term.kind in by_kind:
                by_kind[term.kind].append(SelectChoice(term.id, term.label(code)))
        self.process_id.choices = by_kind[CatalogKind.PROCESS]
        self.material_id.choices = by_kind[CatalogKind.MATERIAL]
        self.skill_id.choices = by_kind[CatalogKind.SKILL]
        self.language.choices = options([("", _l("Any language")), *reference.languages(code)])

    @staticmethod
    def _check_term(field: Any, message: str) -> None:
        if field.data in (None, 0):
            return
        if field.data not in {choice.value for choice in field.choices or []}:
            field.data = 0
            raise ValidationError(message)

    def validate_category(self, field: Any) -> None:
        """A known category or none."""
        if field.data and field.data not in {c.value for c in JobCategory}:
            field.data = ""
            raise ValidationError(str(_l("Choose a category from the list.")))

    def validate_process_id(self, field: Any) -> None:
        """A process from the catalog."""
        self._check_term(field, str(_l("Choose a process from the list.")))

    def validate_material_id(self, field: Any) -> None:
        """A material from the catalog."""
        self._check_term(field, str(_l("Choose a material from the list.")))

    def validate_skill_id(self, field: Any) -> None:
        """A skill from the catalog."""
        self._check_term(field, str(_l("Choose a skill from the list.")))

    def validate_language(self, field: Any) -> None:
        """A known ISO 639-1 language or none."""
        if field.data and field.data not in reference.language_codes():
            field.data = ""
            raise ValidationError(str(_l("Choose a language from the list.")))

    def validate_budget_max(self, field: Any) -> None:
        """Not below the minimum."""
        low = self.budget_min.data
        if field.data is not None and isinstance(low, Decimal) and field.data < low:
            raise ValidationError(str(_l("The maximum budget must not be below the minimum.")))

    def _valid(self, name: str) -> Any:
        field = self[name]
        return None if field.errors else field.data

    def filters(self) -> JobFilters:
        """The valid filters (call after ``validate``; fields with errors are ignored)."""
        category = self._valid("category")
        low, high = self._valid("budget_min"), self._valid("budget_max")
        return JobFilters(
            category=JobCategory(category) if category else None,
            process_id=self._valid("process_id") or None,
            material_id=self._valid("material_id") or None,
            skill_id=self._valid("skill_id") or None,
            language=self._valid("language") or None,
            budget_min=to_minor(low, BUDGET_PRECISION_CURRENCY) if isinstance(low, Decimal) else None,
            budget_max=to_minor(high, BUDGET_PRECISION_CURRENCY) if isinstance(high, Decimal) else None,
            text=(self._valid("q") or "").strip(),
        )

    def active_args(self) -> dict[str, str]:
        """The filters as typed, for links that keep them (the pager)."""
        args: dict[str, str] = {}
        for name in FILTER_FIELDS:
            raw = self[name].raw_data
            if raw and raw[0] not in ("", "0"):
                args[name] = str(raw[0])
        return args


class AcceptTermsForm(FlaskForm):
    """The expert accepts the job's confidentiality terms before opening its files."""

    accept = BooleanField(
        _l("I accept the confidentiality terms above for this job."),
        validators=[DataRequired(message=_l("Tick the box to accept the confidentiality terms."))],
    )
