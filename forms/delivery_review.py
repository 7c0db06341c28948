"""Forms of the delivery checking: the QC expert's rubric, and the hub's "forward" and "return" decisions.

Shape only (scores 1–5, required comments, lengths): app/services/delivery_review.py
decides who may review or decide, and whether the delivery is waiting for it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.models import QcVerdict

MAX_COMMENT = 5000

SCORE_CHOICES = [
    SelectChoice(1, _l("1 — poor")),
    SelectChoice(2, _l("2 — weak")),
    SelectChoice(3, _l("3 — acceptable")),
    SelectChoice(4, _l("4 — good")),
    SelectChoice(5, _l("5 — excellent")),
]
VERDICT_LABELS: dict[str, LazyString] = {
    QcVerdict.APPROVE.value: _l("Approve: ready for the hub's check"),
    QcVerdict.REQUEST_CHANGES.value: _l("Request changes: back to the expert"),
}
# How a verdict is shown once given (the radio buttons use VERDICT_LABELS).
VERDICT_SHORT_LABELS: dict[str, LazyString] = {
    QcVerdict.APPROVE.value: _l("Approved"),
    QcVerdict.REQUEST_CHANGES.value: _l("Changes requested"),
}
VERDICT_COLOURS = {"approve": "success", "request_changes": "warning"}
DELIVERY_STATUS_LABELS: dict[str, LazyString] = {
    "submitted": _l("Submitted"),
    "qc_review": _l("In quality control"),
    "hub_review": _l("Waiting for the hub's check"),
    "changes_requested": _l("Changes requested"),
    "forwarded": _l("Forwarded to the company"),
    "approved": _l("Approved by the company"),
    "revision_requested": _l("Revision requested by the company"),
}
DELIVERY_STATUS_COLOURS = {
    "submitted": "secondary", "qc_review": "info", "hub_review": "warning", "changes_requested": "danger",
    "forwarded": "primary", "approved": "success", "revision_requested": "danger",
}
RUBRIC: dict[str, LazyString] = {
    "completeness": _l("Every deliverable of the offer is there, as the checklist says."),
    "correctness": _l("The work is technically right: calculations, materials, tolerances, conclusions."),
    "clarity": _l("The company can understand and use it without asking: structure, drawings, explanations."),
}


def _score(label: LazyString, what: LazyString) -> RadioField:
    return RadioField(label, coerce=int, choices=SCORE_CHOICES, validate_choice=True,
                      validators=[InputRequired(message=_l("Score %(what)s from 1 to 5.", what=what))])


class QcReviewForm(FlaskForm):
    """The QC rubric: three scores from 1 to 5, the comments the expert reads, and the verdict."""

    completeness = _score(_l("Completeness"), _l("completeness"))
    correctness = _score(_l("Correctness"), _l("correctness"))
    clarity = _score(_l("Clarity"), _l("clarity"))
    comments = TextAreaField(
        _l("Comments for the expert"),
        validators=[DataRequired(message=_l("Write your comments: the expert reads them with your verdict.")),
                    Length(max=MAX_COMMENT, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 8, "maxlength": MAX_COMMENT},
        description=_l("The expert reads these as \u201cQuality control\u201d, without your name or pseudonym. The "
                       "company does not see them."),
    )
    verdict = RadioField(
        _l("Verdict"),
        choices=[SelectChoice(value, label) for value, label in VERDICT_LABELS.items()],
        validate_choice=True,
        validators=[InputRequired(message=_l("Choose a verdict: approve, or request changes."))],
    )


class ForwardForm(FlaskForm):
    """Verify the delivery and forward it to the company, with an optional note for the company."""

    comment = TextAreaField(
        _l("Note for the company (optional)"),
        validators=[Optional(), Length(max=MAX_COMMENT, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 3, "maxlength": MAX_COMMENT},
        description=_l("Shown to the company with the delivery."),
    )


class ReturnForm(FlaskForm):
    """Return the delivery to the expert; the comment says what to change."""

    comment = TextAreaField(
        _l("What should the expert change?"),
        validators=[DataRequired(message=_l("Say what the expert should change: they read your comment.")),
                    Length(max=MAX_COMMENT, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 3, "maxlength": MAX_COMMENT},
        description=_l("Sent to the expert, who submits a new delivery. The company is not told."),
    )
