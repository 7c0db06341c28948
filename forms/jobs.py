"""Forms of the company's job pages: start a job, the whole job form, files, submit, answer, cancel.

They check shape only (numbers, dates, lengths, catalog ids offered on the page);
app/services/jobs.py is the authority on every value and on state and permission.
Skills and languages are rows of a ``FieldList``; rows left blank are ignored, so
the page always offers several empty ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import TextInput

from app.extensions import db
from app.integrations import reference
from app.models import (
    JOB_SUBTYPES,
    CatalogKind,
    CatalogTerm,
    ExpertiseLevel,
    Job,
    JobCategory,
    JobStatus,
    LanguageProficiency,
    TrainingDelivery,
)
from forms.companies import locale_code, options
from forms.experts import LEVEL_LABELS, PROFICIENCY_LABELS, from_minor, to_minor

SKILL_BLANK_ROWS = 8
LANGUAGE_BLANK_ROWS = 4

CATEGORY_LABELS = {
    JobCategory.TRAINING: _l("Training"),
    JobCategory.PROBLEM_SOLVING: _l("Problem Solving"),
}
SUBTYPE_LABELS = {
    "workshop": _l("Workshop"),
    "course": _l("Course"),
    "coaching": _l("Coaching"),
    "audit": _l("Audit"),
    "root_cause": _l("Root-cause analysis"),
    "process_optimisation": _l("Process optimisation"),
    "tool_design": _l("Tool / mould design"),
    "material_selection": _l("Material selection"),
    "failure_analysis": _l("Failure analysis"),
}
DELIVERY_LABELS = {
    TrainingDelivery.ON_SITE: _l("On site"),
    TrainingDelivery.REMOTE: _l("Remote"),
}
JOB_STATUS_LABELS = {
    JobStatus.DRAFT: _l("Draft"),
    JobStatus.PENDING_REVIEW: _l("Under review"),
    JobStatus.CLARIFICATION_REQUESTED: _l("Question from the hub"),
    JobStatus.PUBLISHED: _l("Published"),
    JobStatus.AWARDED: _l("Awarded"),
    JobStatus.CLOSED: _l("Closed"),
    JobStatus.REJECTED: _l("Rejected"),
    JobStatus.CANCELLED: _l("Cancelled"),
}
SKILL_KIND_LABELS = {
    CatalogKind.SKILL: _l("Skills"),
    CatalogKind.PROCESS: _l("Processes"),
    CatalogKind.MATERIAL: _l("Materials"),
}
SKILL_KINDS = (CatalogKind.SKILL, CatalogKind.PROCESS, CatalogKind.MATERIAL)
PICKED_KINDS = (CatalogKind.JOB_TITLE, CatalogKind.PROCESS, CatalogKind.MATERIAL, CatalogKind.DEFECT, CatalogKind.SKILL)


def subtype_label(code: str) -> str:
    """A job's sub-type shown to people."""
    return str(SUBTYPE_LABELS.get(code, code.replace("_", " ")))


def _coerce_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


_GROUPED_THOUSANDS_EN = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_GROUPED_THOUSANDS_DE = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d{1,2}$")


def parse_amount(text: str) -> Decimal:
    """An amount as people type it: ``4500``, ``4500.50``, ``4,500.50``, ``4.500,50``, ``4500,50``.

    :raises ValueError: not a number.
    """
    raw = re.sub(r"[\s_'\u00a0\u202f]", "", text or "")
    if _GROUPED_THOUSANDS_EN.match(raw):
        raw = raw.replace(",", "")
    elif _GROUPED_THOUSANDS_DE.match(raw):
        raw = raw.replace(".", "").replace(",", ".")
    elif _DECIMAL_COMMA.match(raw):
        raw = raw.replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(raw) from None
    if not value.is_finite():
        raise ValueError(raw)
    return value


class AmountField(DecimalField):
    """A decimal amount that accepts thousands separators and a decimal comma.

    Rendered as a text input (with a decimal keypad on phones): a number input
    would make browsers refuse "4.500,50" before the server could read it.
    """

    widget = TextInput()

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_amount(str(valuelist[0]))
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter the budget as a number, like 4500 or 4500.50."))) from None


class PlainDateField(DateField):
    """A date input whose parse error names the expected format."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(_l("Enter a valid date (YYYY-MM-DD)."))) from None


def category_choices() -> list[SelectChoice]:
    """Training or Problem Solving."""
    return options((c.value, label) for c, label in CATEGORY_LABELS.items())


def subtype_choices() -> list[SelectChoice]:
    """Every sub-type, grouped by category (the service refuses a sub-type of the other category)."""
    choices = [SelectChoice("", _l("Choose the type of job…"))]
    for category, codes in JOB_SUBTYPES.items():
        group = str(CATEGORY_LABELS[category])
        choices += [SelectChoice(code, subtype_label(code), optgroup=group) for code in codes]
    return choices


def language_choices(blank: Any = None) -> list[SelectChoice]:
    """ISO 639-1 languages named in the current language, with a blank first entry."""
    return options([("", blank or _l("—")), *reference.languages(locale_code())])


def offered_terms(job: Job | None) -> dict[CatalogKind, list[CatalogTerm]]:
    """Catalog terms the job form offers, per kind: those not retired, plus any the job already uses."""
    keep: set[int] = set()
    if job is not None:
        keep = {i for i in (job.title_term_id, job.process_term_id, job.material_term_id, job.defect_term_id) if i}
        keep |= {s.term_id for s in job.skills}
    query = (
        sa.select(CatalogTerm)
        .where(CatalogTerm.kind.in_(PICKED_KINDS),
               sa.or_(CatalogTerm.retired_at.is_(None), CatalogTerm.id.in_(keep or {-1})))
        .order_by(CatalogTerm.kind, CatalogTerm.group, CatalogTerm.name)
    )
    grouped: dict[CatalogKind, list[CatalogTerm]] = {kind: [] for kind in PICKED_KINDS}
    for term in db.session.scalars(query):
        grouped[term.kind].append(term)
    return grouped


def _term_choices(terms: Iterable[CatalogTerm], blank: Any, *, by_group: bool = False) -> list[SelectChoice]:
    code = locale_code()
    choices = [SelectChoice(0, blank)]
    for term in terms:
        label = term.label(code) + (" " + str(_l("(no longer offered)")) if term.is_retired else "")
        choices.append(SelectChoice(term.id, label, optgroup=(term.group or None) if by_group else None))
    return choices


class NewJobForm(FlaskForm):
    """Start a job: the category first; everything else is filled in on the job form."""

    category = RadioField(
        _l("What do you need?"),
        choices=[
            SelectChoice(JobCategory.PROBLEM_SOLVING.value,
                         _l("Problem Solving: an expert finds the cause of a problem and fixes it")),
            SelectChoice(JobCategory.TRAINING.value, _l("Training: an expert trains your team")),
        ],
        validators=[DataRequired(message=_l("Choose Training or Problem Solving."))],
    )


class SkillRow(Form):
    """A required skill, process or material with the level needed (blank term: unused row)."""

    term_id = SelectField(_l("Skill, process or material"), coerce=_coerce_int, validate_choice=False)
    level = SelectField(_l("Level needed"), choices=options((lv.value, label) for lv, label in LEVEL_LABELS.items()),
                        default=ExpertiseLevel.SENIOR.value)


class LanguageRow(Form):
    """A language the expert must speak with the minimum level (blank language: unused row)."""

    code = SelectField(_l("Language"), validate_choice=False)
    proficiency = SelectField(
        _l("Minimum level"), choices=options((p.value, label) for p, label in PROFICIENCY_LABELS.items()),
        default=LanguageProficiency.B2.value,
    )


class JobForm(FlaskForm):
    """The whole job; a draft may be saved incomplete and finished later."""

    title_term_id = SelectField(_l("Job title"), coerce=_coerce_int, validate_choice=False,
                                description=_l("The role you are looking for, from the catalog."))
    category = SelectField(_l("Category"), choices=category_choices)
    subtype = SelectField(_l("Type of job"), choices=subtype_choices,
                          description=_l("Pick a type of the category chosen above."))
    description = TextAreaField(
        _l("Description"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 5},
        description=_l("What is happening, what you have tried, what the expert should know."),
    )
    scope = TextAreaField(
        _l("Scope"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 4},
        description=_l("What the expert delivers: e.g. a root-cause report and a validated process window."),
    )
    # Training
    audience = StringField(_l("Audience"), validators=[Optional(), Length(max=200)],
                           description=_l("Who is trained, e.g. “setters and shift leaders”."))
    headcount = IntegerField(
        _l("Number of participants"),
        validators=[Optional(), NumberRange(min=1, max=10_000,
                                            message=_l("Enter a whole number of participants from 1 to 10,000."))],
    )
    delivery = SelectField(
        _l("On site or remote"),
        choices=options([("", _l("Choose…")), *((d.value, label) for d, label in DELIVERY_LABELS.items())]),
    )
    location = StringField(_l("Location (on site)"), validators=[Optional(), Length(max=200)])
    training_language = SelectField(_l("Training language"), validate_choice=False)
    # Problem solving
    process_term_id = SelectField(_l("Process"), coerce=_coerce_int, validate_choice=False)
    material_term_id = SelectField(_l("Material"), coerce=_coerce_int, validate_choice=False)
    defect_term_id = SelectField(_l("Defect or problem type"), coerce=_coerce_int, validate_choice=False)
    machine_description = TextAreaField(
        _l("Machine"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2},
        description=_l("Make, clamping force, screw diameter, mould, peripherals."),
    )
    part_description = TextAreaField(
        _l("Part"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2},
        description=_l("What the part is, wall thickness, weight, cavities."),
    )
    data_available = TextAreaField(
        _l("Data available"), validators=[Optional(), Length(max=10_000)], render_kw={"rows": 2},
        description=_l("Process sheets, measurements, photos, CAD; attach files on the job page."),
    )
    # Money and dates
    budget = AmountField(
        _l("Budget (fixed price)"), places=2, render_kw={"inputmode": "decimal", "autocomplete": "off"},
        validators=[Optional(), NumberRange(min=Decimal("0.01"), message=_l("Enter a budget greater than zero."))],
        description=_l("Paid 100% upfront into escrow, released to the expert when you accept the work."),
    )
    currency = SelectField(_l("Currency"), choices=lambda: options((c, c) for c in reference.CURRENCIES),
                           default="EUR")
    start_date = PlainDateField(_l("Start date"), validators=[Optional()])
    completion_date = PlainDateField(_l("Completion date"), validators=[Optional()])
    qc_requested = BooleanField(_l("Quality control: a second expert reviews the deliverables"))
    show_company_name = BooleanField(_l("Show our company name to experts (otherwise they see industry and "
                                        "country only)"))
    skills = FieldList(FormField(SkillRow), min_entries=1, max_entries=80)
    languages = FieldList(FormField(LanguageRow), min_entries=1, max_entries=40)

    def set_choices(self, terms: dict[CatalogKind, list[CatalogTerm]]) -> None:
        """Fill the catalog selects; ``terms`` comes from ``offered_terms``."""
        self.title_term_id.choices = _term_choices(terms[CatalogKind.JOB_TITLE], _l("Choose a job title…"))
        self.process_term_id.choices = _term_choices(terms[CatalogKind.PROCESS], _l("Choose a process…"),
                                                     by_group=True)
        self.material_term_id.choices = _term_choices(terms[CatalogKind.MATERIAL], _l("Choose a material…"),
                                                      by_group=True)
        self.defect_term_id.choices = _term_choices(terms[CatalogKind.DEFECT], _l("Choose a defect or problem…"),
                                                    by_group=True)
        self.training_language.choices = language_choices(_l("Choose a language…"))
        code = locale_code()
        skill_choices = [SelectChoice(0, _l("—"))] + [
            SelectChoice(t.id, t.label(code), optgroup=str(SKILL_KIND_LABELS[kind]))
            for kind in SKILL_KINDS for t in terms[kind]
        ]
        self._offered = {kind: {t.id for t in items} for kind, items in terms.items()}
        self._skill_ids = {t.id for kind in SKILL_KINDS for t in terms[kind]}
        for row in self.skills:
            row.form.term_id.choices = skill_choices
        languages = language_choices()
        for row in self.languages:
            row.form.code.choices = languages

    def set_current(self, job: Job) -> None:
        """Remember the saved dates: a date already saved may stay even once it has passed."""
        self._saved_dates = {"start_date": job.start_date, "completion_date": job.completion_date}

    def _check_date(self, field: Any) -> None:
        saved = getattr(self, "_saved_dates", {}).get(field.name)
        if field.data is not None and field.data < datetime.now(UTC).date() and field.data != saved:
            raise ValidationError(str(_l("The date %(date)s is in the past; choose today or a later date.",
                                         date=field.data.isoformat())))

    def validate_start_date(self, field: Any) -> None:
        """Not in the past."""
        self._check_date(field)

    def validate_completion_date(self, field: Any) -> None:
        """Not in the past, and not before the start."""
        self._check_date(field)
        start = self.start_date.data
        if field.data is not None and start is not None and field.data < start:
            raise ValidationError(str(_l("The completion date must be on or after the start date.")))

    def _check_term(self, field: Any, kind: CatalogKind) -> None:
        if field.data and field.data not in getattr(self, "_offered", {}).get(kind, set()):
            raise ValidationError(str(_l("Choose an entry from the list.")))

    def validate_title_term_id(self, field: Any) -> None:
        """A job title from the catalog."""
        self._check_term(field, CatalogKind.JOB_TITLE)

    def validate_process_term_id(self, field: Any) -> None:
        """A process from the catalog."""
        self._check_term(field, CatalogKind.PROCESS)

    def validate_material_term_id(self, field: Any) -> None:
        """A material from the catalog."""
        self._check_term(field, CatalogKind.MATERIAL)

    def validate_defect_term_id(self, field: Any) -> None:
        """A defect or problem type from the catalog."""
        self._check_term(field, CatalogKind.DEFECT)

    def validate_training_language(self, field: Any) -> None:
        """A language from the list (or none yet)."""
        if field.data and field.data not in reference.language_codes():
            raise ValidationError(str(_l("Choose a language from the list.")))

    def validate_skills(self, field: Any) -> None:
        """Known skills, each once."""
        seen: set[int] = set()
        for row in field:
            term_id = row.form.term_id.data
            if not term_id:
                continue
            if term_id not in getattr(self, "_skill_ids", set()):
                raise ValidationError(str(_l("Choose skills, processes and materials from the list.")))
            if term_id in seen:
                raise ValidationError(str(_l("Each skill can be listed only once.")))
            seen.add(term_id)

    def validate_languages(self, field: Any) -> None:
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

    @staticmethod
    def initial_data(job: Job) -> dict[str, Any]:
        """What the form shows for ``job`` (with empty rows to add skills and languages)."""
        return {
            "title_term_id": job.title_term_id or 0,
            "category": job.category.value,
            "subtype": job.subtype,
            "description": job.description,
            "scope": job.scope,
            "audience": job.audience,
            "headcount": job.headcount,
            "delivery": job.delivery.value if job.delivery else "",
            "location": job.location,
            "training_language": job.training_language,
            "process_term_id": job.process_term_id or 0,
            "material_term_id": job.material_term_id or 0,
            "defect_term_id": job.defect_term_id or 0,
            "machine_description": job.machine_description,
            "part_description": job.part_description,
            "data_available": job.data_available,
            "budget": from_minor(job.budget_minor, job.currency),
            "currency": job.currency or "EUR",
            "start_date": job.start_date,
            "completion_date": job.completion_date,
            "qc_requested": job.qc_requested,
            "show_company_name": job.show_company_name,
            "skills": [{"term_id": s.term_id, "level": s.level.value} for s in job.skills]
            + [{} for _ in range(SKILL_BLANK_ROWS)],
            "languages": [{"code": lang.code, "proficiency": lang.min_proficiency.value} for lang in job.languages]
            + [{} for _ in range(LANGUAGE_BLANK_ROWS)],
        }

    def service_fields(self) -> dict[str, Any]:
        """The values for ``jobs.update_job``."""
        currency = self.currency.data or "EUR"
        return {
            "title_term_id": self.title_term_id.data or None,
            "category": self.category.data or "",
            "subtype": self.subtype.data or "",
            "description": self.description.data or "",
            "scope": self.scope.data or "",
            "audience": self.audience.data or "",
            "headcount": self.headcount.data,
            "delivery": self.delivery.data or None,
            "location": self.location.data or "",
            "training_language": self.training_language.data or "",
            "process_term_id": self.process_term_id.data or None,
            "material_term_id": self.material_term_id.data or None,
            "defect_term_id": self.defect_term_id.data or None,
            "machine_description": self.machine_description.data or "",
            "part_description": self.part_description.data or "",
            "data_available": self.data_available.data or "",
            "budget_minor": to_minor(self.budget.data, currency),
            "currency": currency,
            "start_date": self.start_date.data,
            "completion_date": self.completion_date.data,
            "qc_requested": bool(self.qc_requested.data),
            "show_company_name": bool(self.show_company_name.data),
        }

    def skill_items(self) -> list[tuple[int, ExpertiseLevel]]:
        """The filled skill rows, for ``jobs.set_job_skills``."""
        return [(row.form.term_id.data, ExpertiseLevel(row.form.level.data)) for row in self.skills
                if row.form.term_id.data]

    def language_items(self) -> list[tuple[str, LanguageProficiency]]:
        """The filled language rows, for ``jobs.set_job_languages``."""
        return [(row.form.code.data, LanguageProficiency(row.form.proficiency.data)) for row in self.languages
                if row.form.code.data]

    def field_for(self, name: str) -> Any:
        """The form field that shows a service error about ``name`` (``budget_minor`` -> ``budget``)."""
        name = {"budget_minor": "budget", "payment_terms": "budget"}.get(name, name)
        target = getattr(self, name, None)
        return target if hasattr(target, "errors") else None


def add_errors(form: JobForm, errors: dict[str, str]) -> list[str]:
    """Put the service's field errors under their fields; return those no field shows."""
    leftover: list[str] = []
    for name, message in errors.items():
        target = form.field_for(name)
        if target is None:
            leftover.append(message)
        else:
            target.errors = [*target.errors, message]
    return leftover


def same_rows(current: Sequence[tuple[Any, Any]], wanted: Sequence[tuple[Any, Any]]) -> bool:
    """Whether two lists of (id, level) pairs are the same set."""
    return {(a, str(b)) for a, b in current} == {(a, str(b)) for a, b in wanted}


class AttachmentForm(FlaskForm):
    """One supporting file at a time."""

    file = FileField(_l("File"), validators=[FileRequired(message=_l("Choose a file to upload."))])


class ButtonForm(FlaskForm):
    """A button (CSRF only): submit, remove a file."""


class AnswerForm(FlaskForm):
    """The company's answer to the hub's question."""

    answer = TextAreaField(
        _l("Your answer"),
        validators=[DataRequired(message=_l("Write your answer to the hub's question.")), Length(max=5000)],
        render_kw={"rows": 4},
        description=_l("Change the job first if needed; sending the answer returns the job to the hub's review."),
    )


class CancelForm(FlaskForm):
    """Withdraw a job, with an optional reason."""

    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=5000)], render_kw={"rows": 2})
