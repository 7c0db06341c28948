"""Forms of the video calls tab: schedule a call, start one now, cancel one.

Shape only (required, lengths, a date and a time, minutes): app/services/project_calls.py
decides who may schedule or cancel, refuses a time in the past and talks to the provider.
The date and time are the viewer's local time (their profile's time zone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from forms.jobs import PlainDateField

TOPIC_MAX = 200
AGENDA_MAX = 1500
MIN_DURATION = 5
MAX_DURATION = 300
DEFAULT_DURATION = 45


def zone(name: str | None) -> ZoneInfo:
    """The named time zone, or UTC when the name is empty or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


class ScheduleCallForm(FlaskForm):
    """A call at a date and time (in the viewer's time zone), its length, topic and agenda."""

    topic = StringField(
        _l("Topic"),
        validators=[DataRequired(message=_l("Give the call a topic.")),
                    Length(max=TOPIC_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"maxlength": TOPIC_MAX, "placeholder": _l("For example “Review of the process window”")},
    )
    date = PlainDateField(_l("Date"), validators=[InputRequired(message=_l("Choose the day of the call."))])
    time = TimeField(
        _l("Time"), format=["%H:%M", "%H:%M:%S"],
        validators=[InputRequired(message=_l("Choose the time of the call."))],
        invalid_value_message=_l("Enter a time like 14:30."),
    )
    duration = IntegerField(
        _l("Duration (minutes)"), default=DEFAULT_DURATION,
        validators=[InputRequired(message=_l("Enter how long the call lasts, in minutes.")),
                    NumberRange(min=MIN_DURATION, max=MAX_DURATION,
                                message=_l("Between %(min)d and %(max)d minutes."))],
        render_kw={"min": MIN_DURATION, "max": MAX_DURATION, "step": 5},
    )
    agenda = TextAreaField(
        _l("Agenda (optional)"),
        validators=[Optional(), Length(max=AGENDA_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 3, "maxlength": AGENDA_MAX},
        description=_l("Shown in the meeting invitation. Contact details are hidden."),
    )

    def starts_at(self, timezone: str | None) -> datetime:
        """The chosen date and time in ``timezone``, as an aware UTC datetime."""
        if self.date.data is None or self.time.data is None:
            raise ValueError("validate the form first")
        local = datetime.combine(self.date.data, self.time.data).replace(tzinfo=zone(timezone))
        return local.astimezone(UTC)


class StartNowForm(FlaskForm):
    """The "start a call now" button: a call starting at once, for 45 minutes."""

    start_now = HiddenField(default="1")


class CancelCallForm(FlaskForm):
    """Cancel a call: a button (the CSRF token only)."""
