"""Back-office forms: the small decision forms behind every button.

They check shape only (required, length); the services decide whether the
decision is allowed in the current state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    Field,
    FloatField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError
from wtforms.widgets import HiddenInput, NumberInput

MAX_TEXT = 2000


class ConfirmForm(FlaskForm):
    """A button with nothing to type (reinstate, retire, restore, verify, retry): CSRF only."""


class NoteForm(FlaskForm):
    """An optional internal note recorded with the decision (approve, reinstate, accept)."""

    note = TextAreaField(
        _l("Note (optional)"),
        validators=[Optional(), Length(max=MAX_TEXT, message=_l("Keep the note under %(max)d characters."))],
        description=_l("Recorded in the audit log; not shown to the applicant."),
    )


class ReasonForm(FlaskForm):
    """A decision that the affected person must be able to understand (reject, suspend)."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason: the applicant reads it and needs to know what to fix.")),
            Length(max=MAX_TEXT, message=_l("Keep the reason under %(max)d characters.")),
        ],
        description=_l("Sent to the applicant by notification and e-mail."),
    )


class QuestionForm(FlaskForm):
    """Request more information: the question is shown on the applicant's status page."""

    question = TextAreaField(
        _l("Question"),
        validators=[
            DataRequired(message=_l("Write the question the applicant should answer.")),
            Length(max=MAX_TEXT, message=_l("Keep the question under %(max)d characters.")),
        ],
        description=_l("Shown on the applicant's status page and sent by e-mail."),
    )


class DocumentRejectForm(FlaskForm):
    """Reject one document; the uploader is told why."""

    note = TextAreaField(
        _l("Why is this document not accepted?"),
        validators=[
            DataRequired(message=_l("Say why the document is not accepted, so it can be replaced.")),
            Length(max=MAX_TEXT, message=_l("Keep the reason under %(max)d characters.")),
        ],
    )


# Job review (issue 3) -----------------------------------------------------------------


class JobQuestionForm(FlaskForm):
    """Ask the company a question about a job under review; the job waits for its answer."""

    question = TextAreaField(
        _l("Question to the company"),
        validators=[
            DataRequired(message=_l("Write the question the company should answer.")),
            Length(max=MAX_TEXT, message=_l("Keep the question under %(max)d characters.")),
        ],
        description=_l("Shown on the company's job page and sent by notification; the answer sends the job back here."),
    )


class JobRejectForm(FlaskForm):
    """Reject a job under review: the company reads the reason."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give a reason: the company reads it and needs to understand the decision.")),
            Length(max=MAX_TEXT, message=_l("Keep the reason under %(max)d characters.")),
        ],
        description=_l("Sent to the company. A rejected job cannot be resubmitted."),
    )


class JobEndForm(FlaskForm):
    """Close or cancel a job; the optional reason is sent to the company."""

    reason = TextAreaField(
        _l("Reason (optional)"),
        validators=[Optional(), Length(max=MAX_TEXT, message=_l("Keep the reason under %(max)d characters."))],
        description=_l("Sent to the company with the notification."),
    )


VISIBILITY_CHOICES = [
    SelectChoice("public", _l("Public: every verified expert sees it on the job board")),
    SelectChoice("private", _l("Private: only the experts invited below see it")),
]


class PublishJobForm(FlaskForm):
    """Publish a reviewed job, public or private; a private job needs invited experts.

    The expert choices are the approved experts, set by the view.
    """

    visibility = RadioField(
        _l("Visibility"),
        choices=VISIBILITY_CHOICES,
        default="public",
        validators=[DataRequired(message=_l("Choose public or private."))],
    )
    invite_expert_ids = SelectMultipleField(
        _l("Experts to invite"),
        coerce=int,
        choices=[],
        validate_choice=True,
        description=_l("Required for a private job; optional for a public one. Only verified experts are listed."),
    )

    def validate_invite_expert_ids(self, field: SelectMultipleField) -> None:
        if self.visibility.data == "private" and not field.data:
            raise ValidationError(_l("A private job needs at least one invited expert."))


class InviteExpertForm(FlaskForm):
    """Invite one more verified expert to a published job."""

    expert_id = SelectField(
        _l("Expert"),
        coerce=int,
        choices=[],
        validators=[DataRequired(message=_l("Choose the expert to invite."))],
        description=_l("The expert is notified and can then see the job."),
    )


# Matching and offers (issue 4) ----------------------------------------------------------------

MAX_WEIGHT = 10.0
WEIGHT_MESSAGE = _l("Enter a number between 0 and 10.")


class WeightField(FloatField):
    """A criterion's weight: 0–10, a comma accepted as the decimal mark, what was typed kept on error."""

    widget = NumberInput(step="0.5", min=0, max=int(MAX_WEIGHT))

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else f"{self.data:g}"

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        raw = str(valuelist[0]).strip().replace(",", ".")
        if not raw:
            self.data = None
            return
        try:
            self.data = float(raw)
        except ValueError as exc:
            self.data = None
            raise ValueError(str(WEIGHT_MESSAGE)) from exc


def _weight_in_range(form: FlaskForm, field: Field) -> None:
    if field.process_errors:  # "abc": already explained by the field
        raise StopValidation()
    if field.data is None:
        raise StopValidation(str(_l("Enter a weight (0 turns the criterion off).")))
    if not math.isfinite(field.data) or not 0 <= field.data <= MAX_WEIGHT:
        raise StopValidation(str(WEIGHT_MESSAGE))


class MatchingWeightsForm(FlaskForm):
    """The weight of every matching criterion; build it with :func:`matching_weights_form`."""


def matching_weights_form(
    criteria: Sequence[tuple[str, Any, Any]], *, bound: bool, data: dict[str, float] | None = None
) -> MatchingWeightsForm:
    """A weights form with one field per ``(name, label, description)`` criterion, in that order.

    ``bound`` forms read the POSTed values; unbound ones show ``data``. The criteria come
    from the view (the matching engine owns them; forms never import it).
    """

    class Form(MatchingWeightsForm):
        pass

    for name, text, description in criteria:
        setattr(Form, name, WeightField(text, validators=[_weight_in_range], description=description))
    if bound:
        return Form(data=data)
    return Form(formdata=None, data=data)


class InviteFromRankingForm(FlaskForm):
    """Invite the experts ticked in a job's ranking; the service checks who may be invited."""

    expert_ids = SelectMultipleField(_l("Experts to invite"), coerce=int, choices=[], validate_choice=False)
    run_id = IntegerField(widget=HiddenInput(), validators=[Optional()])
