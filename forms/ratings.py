"""Forms of the rating page: the company rates the expert, the expert rates the company (private to the hub).

Shape only (a score 1–5 chosen, feedback length): app/services/ratings.py decides
who may rate, when, that a project is rated once, and refuses contact details in
the published feedback.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

FEEDBACK_MAX = 5000

SCORE_CHOICES: list[SelectChoice] = [
    SelectChoice(1, _l("1 – poor")),
    SelectChoice(2, _l("2 – below expectations")),
    SelectChoice(3, _l("3 – as expected")),
    SelectChoice(4, _l("4 – very good")),
    SelectChoice(5, _l("5 – outstanding")),
]


def _score(label: LazyString, description: LazyString | None = None) -> RadioField:
    return RadioField(
        label,
        coerce=int,
        choices=SCORE_CHOICES,
        validate_choice=True,
        validators=[InputRequired(message=_l("Choose a score from 1 to 5."))],
        description=description or "",
    )


class ExpertRatingForm(FlaskForm):
    """The company's rating of the expert: overall and four sub-scores 1–5, and written feedback."""

    overall = _score(_l("Overall"), _l("All things considered, how was working with the expert?"))
    quality = _score(_l("Quality of the work"))
    communication = _score(_l("Communication"))
    timeliness = _score(_l("Timeliness"))
    expertise = _score(_l("Expertise"))
    feedback = TextAreaField(
        _l("Feedback"),
        validators=[DataRequired(message=_l("Write a few words about the work: other companies read them.")),
                    Length(max=FEEDBACK_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 5, "maxlength": FEEDBACK_MAX},
        description=_l("Shown to other companies on the expert's card as \u201ca company in your industry\u201d, "
                       "never with your company's name. No contact details, please."),
    )


class CompanyRatingForm(FlaskForm):
    """The expert's private rating of the company: overall 1–5 and optional feedback, read only by the hub."""

    overall = _score(_l("Overall"), _l("How was working with this company: briefing, availability, decisions?"))
    feedback = TextAreaField(
        _l("Feedback for the hub (optional)"),
        validators=[Optional(), Length(max=FEEDBACK_MAX, message=_l("At most %(max)d characters."))],
        render_kw={"rows": 4, "maxlength": FEEDBACK_MAX},
        description=_l("Only Plasticonnect Hub reads this; the company never sees it."),
    )
