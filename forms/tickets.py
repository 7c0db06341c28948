"""Forms of catalog tickets: the company's ticket and reply, and the hub's decisions.

They check shape only (required, lengths); app/services/tickets.py decides state
and permission and checks the new catalog terms.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.models import CatalogKind, TicketKind, TicketStatus

MAX_TERM = 160
MAX_TEXT = 5000
NEW_TERM_ROWS = 3

KIND_LABELS: dict[str, LazyString] = {
    TicketKind.JOB_TITLE.value: _l("Job title"),
    TicketKind.SKILL.value: _l("Skill"),
    TicketKind.PROCESS.value: _l("Process"),
    TicketKind.MATERIAL.value: _l("Material"),
    TicketKind.JOB_TYPE.value: _l("Type of job"),
    TicketKind.OTHER.value: _l("Something else"),
}
STATUS_LABELS: dict[str, LazyString] = {
    TicketStatus.OPEN.value: _l("Open"),
    TicketStatus.IN_PROGRESS.value: _l("In progress"),
    TicketStatus.RESOLVED.value: _l("Resolved"),
    TicketStatus.DECLINED.value: _l("Declined"),
}
STATUS_COLOURS = {"open": "warning", "in_progress": "info", "resolved": "success", "declined": "danger"}
# Catalog kinds a ticket may add (an industry or standard is not asked for from a job draft, but admins may add them).
TERM_KIND_LABELS: dict[str, LazyString] = {
    CatalogKind.JOB_TITLE.value: _l("Job title"),
    CatalogKind.SKILL.value: _l("Skill"),
    CatalogKind.PROCESS.value: _l("Process"),
    CatalogKind.MATERIAL.value: _l("Material"),
    CatalogKind.DEFECT.value: _l("Defect or problem type"),
    CatalogKind.TRAINING_TOPIC.value: _l("Training topic"),
    CatalogKind.STANDARD.value: _l("Standard or regulation"),
    CatalogKind.INDUSTRY.value: _l("Industry"),
}
# The catalog kind that usually answers a ticket of each kind (preselected in the resolve form).
SUGGESTED_TERM_KIND: dict[TicketKind, CatalogKind] = {
    TicketKind.JOB_TITLE: CatalogKind.JOB_TITLE,
    TicketKind.SKILL: CatalogKind.SKILL,
    TicketKind.PROCESS: CatalogKind.PROCESS,
    TicketKind.MATERIAL: CatalogKind.MATERIAL,
}


def kind_label(kind: TicketKind | str) -> str:
    """What a ticket asks for, in the reader's language."""
    value = kind.value if isinstance(kind, TicketKind) else kind
    return str(KIND_LABELS.get(value, value.replace("_", " ")))


def ticket_status_label(status: TicketStatus | str) -> str:
    """A ticket's status, in the reader's language."""
    value = status.value if isinstance(status, TicketStatus) else status
    return str(STATUS_LABELS.get(value, value.replace("_", " ")))


class TicketForm(FlaskForm):
    """Open a ticket: what is missing, the term wanted, why."""

    kind = SelectField(
        _l("What is missing?"),
        choices=[SelectChoice(value, label) for value, label in KIND_LABELS.items()],
        validators=[DataRequired(message=_l("Choose what is missing."))],
    )
    term = StringField(
        _l("The term you are looking for"),
        validators=[
            DataRequired(message=_l("Say which term you are looking for.")),
            Length(max=MAX_TERM, message=_l("Keep it under %(max)d characters.")),
        ],
        description=_l("For example “Gas-assisted injection molding” or “Tooling engineer”."),
    )
    reason = TextAreaField(
        _l("Why do you need it?"),
        validators=[
            DataRequired(message=_l("Say why you need it, so the hub can add the right term.")),
            Length(max=MAX_TEXT, message=_l("Keep it under %(max)d characters.")),
        ],
        description=_l("What the job is about and why the existing entries do not fit."),
    )
    job_id = HiddenField()


class MessageForm(FlaskForm):
    """A message in a ticket's thread (company or hub)."""

    body = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(message=_l("Write a message first.")),
            Length(max=MAX_TEXT, message=_l("Keep it under %(max)d characters.")),
        ],
    )


class StartForm(FlaskForm):
    """Take the ticket on (CSRF only)."""


class NewTermForm(Form):
    """One catalog term to create; a row with no name is ignored."""

    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice("", "—"), *(SelectChoice(v, label) for v, label in TERM_KIND_LABELS.items())],
        validators=[Optional()],
    )
    name = StringField(_l("English name"), validators=[Optional(), Length(max=MAX_TERM)])
    name_de = StringField(_l("German name"), validators=[Optional(), Length(max=MAX_TERM)])

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        if (self.name.data or "").strip() and not self.kind.data:
            self.kind.errors = [*self.kind.errors, _l("Choose the kind of the new term.")]
            ok = False
        return ok


class ResolveForm(FlaskForm):
    """Resolve: up to three new catalog terms and a note for the company."""

    new_terms = FieldList(FormField(NewTermForm), min_entries=NEW_TERM_ROWS, max_entries=NEW_TERM_ROWS)
    note = TextAreaField(
        _l("Note to the company"),
        validators=[Optional(), Length(max=MAX_TEXT, message=_l("Keep it under %(max)d characters."))],
        description=_l("Shown on the ticket and sent by e-mail. Required when no term is added."),
    )

    def term_rows(self) -> list[tuple[str, str, str]]:
        """The filled rows as ``(kind, name, name_de)``; blank rows are left out."""
        rows = []
        for entry in self.new_terms:
            name = (entry.form.name.data or "").strip()
            if name:
                rows.append((entry.form.kind.data or "", name, (entry.form.name_de.data or "").strip()))
        return rows

    def row_index(self, service_index: int) -> int:
        """The form row of the ``service_index``-th filled row (for placing a service error)."""
        filled = [i for i, entry in enumerate(self.new_terms) if (entry.form.name.data or "").strip()]
        return filled[service_index] if service_index < len(filled) else 0


class DeclineForm(FlaskForm):
    """Decline: the company reads the reason."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason: the company reads it and needs to know how to go on.")),
            Length(max=MAX_TEXT, message=_l("Keep it under %(max)d characters.")),
        ],
        description=_l("Sent to the company by notification and e-mail."),
    )
