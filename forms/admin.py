"""Back-office forms: the small decision forms behind every button.

They check shape only (required, length); the services decide whether the
decision is allowed in the current state.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, Optional

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
