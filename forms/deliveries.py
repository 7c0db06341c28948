"""Forms of the delivery tab: the expert's delivery, the company's approval or revision request.

Shape only (answers given, lengths, the confirmation ticked): app/services/deliveries.py
checks the files, the checklist against the offer's deliverables, who may do what and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, FieldList, Form, FormField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional, ValidationError

from app.models import DeliveryStatus

NOTES_MAX = 5000
CHECK_COMMENT_MAX = 1000
COMMENT_MAX = 5000
DONE = "done"
NOT_DONE = "not_done"

STATUS_LABELS: dict[str, LazyString] = {
    DeliveryStatus.SUBMITTED.value: _l("Submitted"),
    DeliveryStatus.QC_REVIEW.value: _l("In quality control"),
    DeliveryStatus.HUB_REVIEW.value: _l("Being verified by the hub"),
    DeliveryStatus.CHANGES_REQUESTED.value: _l("Changes requested"),
    DeliveryStatus.FORWARDED.value: _l("With the company"),
    DeliveryStatus.APPROVED.value: _l("Approved"),
    DeliveryStatus.REVISION_REQUESTED.value: _l("Revision requested"),
}
# The company never sees the steps before the hub forwarded a delivery.
COMPANY_STATUS_LABELS: dict[str, LazyString] = {
    **STATUS_LABELS,
    DeliveryStatus.FORWARDED.value: _l("Waiting for your review"),
}
STATUS_COLOURS = {
    "submitted": "secondary", "qc_review": "info", "hub_review": "info", "changes_requested": "warning",
    "forwarded": "primary", "approved": "success", "revision_requested": "warning",
}
VERDICT_LABELS: dict[str, LazyString] = {
    "approve": _l("Approved"),
    "request_changes": _l("Changes requested"),
}


class ChecklistRowForm(Form):
    """One deliverable of the offer: done or not, and a comment (required when not done)."""

    done = RadioField(
        _l("Status"), choices=[SelectChoice(DONE, _l("Done")), SelectChoice(NOT_DONE, _l("Not done"))],
        validate_choice=False,
        validators=[InputRequired(message=_l("Say whether this deliverable is done.")),
                    AnyOf([DONE, NOT_DONE], message=_l("Say whether this deliverable is done."))],
    )
    comment = TextAreaField(
        _l("Comment"),
        validators=[Length(max=CHECK_COMMENT_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 2, "maxlength": CHECK_COMMENT_MAX},
    )

    def validate_comment(self, field: Any) -> None:
        """A deliverable that is not done needs a word on what is missing."""
        if self.done.data == NOT_DONE and not (field.data or "").strip():
            raise ValidationError(_l("Say what is missing and when it follows."))


class SubmitDeliveryForm(FlaskForm):
    """The expert's delivery: files, notes, and one checklist row per deliverable of the offer."""

    files = MultipleFileField(_l("Files"))
    notes = TextAreaField(
        _l("Notes for the hub and the company"),
        validators=[Optional(), Length(max=NOTES_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 5, "maxlength": NOTES_MAX},
        description=_l("What you deliver, how to use it, anything open. Contact details are hidden from the company."),
    )
    checklist = FieldList(FormField(ChecklistRowForm), min_entries=0)

    def set_rows(self, count: int) -> None:
        """One checklist row per deliverable (rows missing from what was posted are added empty)."""
        while len(self.checklist.entries) < count:
            self.checklist.append_entry()
        while len(self.checklist.entries) > count:
            self.checklist.pop_entry()

    def chosen_files(self) -> list[FileStorage]:
        """The files chosen (a browser sends one empty part when none is)."""
        data: Sequence[Any] = self.files.data or []
        return [f for f in data if isinstance(f, FileStorage) and f.filename]

    def checklist_data(self, deliverables: Sequence[str]) -> list[dict[str, Any]]:
        """The checklist as the service takes it, row ``i`` being deliverable ``i``."""
        return [{"deliverable": name, "done": row.form.done.data == DONE, "comment": row.form.comment.data or ""}
                for name, row in zip(deliverables, self.checklist.entries, strict=False)]


class ApproveDeliveryForm(FlaskForm):
    """The company's final acceptance, confirmed with a tick."""

    confirm = BooleanField(
        _l("I accept this delivery as final; the held funds will be released to the expert"),
        validators=[DataRequired(message=_l("Tick the box to confirm that you accept the delivery as final."))],
    )


class RevisionForm(FlaskForm):
    """The company asks for a revision: what should change."""

    comment = TextAreaField(
        _l("What should change"),
        validators=[DataRequired(message=_l("Say what the expert should change.")),
                    Length(max=COMMENT_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 4, "maxlength": COMMENT_MAX},
        description=_l("The expert reads this with Plasticonnect Hub, then delivers a new version."),
    )
