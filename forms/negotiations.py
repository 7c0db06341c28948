"""Forms of negotiation through the hub: forwarding with the fee, declining, the threads, the company's decision,
and the revised version the hub proposes to the expert.

They check shape only (required, length, number format, file present); the
services in app/services/negotiations.py decide the fee rules, the state and
who may do what.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DecimalField, FieldList, FormField, RadioField, SelectChoice, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import TextInput

from app.models import OfferVersion
from app.services.offers import MAX_MILESTONES, MAX_SOLUTION, MilestoneInput, OfferInput
from forms.experts import to_minor
from forms.jobs import AmountField, PlainDateField
from forms.offers import MILESTONE_ROWS, MilestoneRow, OfferForm, PriceField

MAX_MESSAGE = 10_000
MAX_REASON = 5_000
FEE_PERCENT = "percent"
FEE_FIXED = "fixed"


class ForwardOfferForm(FlaskForm):
    """The hub forwards the current version with its fee: a percentage of the expert's price or a fixed amount."""

    fee_mode = RadioField(
        _l("Hub fee"),
        choices=[SelectChoice(FEE_PERCENT, _l("A percentage of the expert's price")),
                 SelectChoice(FEE_FIXED, _l("A fixed amount"))],
        default=FEE_PERCENT,
        validators=[InputRequired(message=_l("Choose how the fee is set."))],
    )
    fee_percent = DecimalField(
        _l("Fee (%)"),
        places=None,
        widget=TextInput(),
        validators=[Optional()],
        description=_l("Rounded half up to the cent."),
    )
    fee_amount = AmountField(_l("Fixed fee"), validators=[Optional()])
    note = TextAreaField(
        _l("Note to the company (optional)"),
        validators=[Optional(), Length(max=MAX_REASON, message=_l("Keep the note under %(max)d characters."))],
        render_kw={"rows": 2},
        description=_l("Shown to the company with the offer. Never name the expert."),
    )

    def fee_choice(self) -> tuple[Decimal | None, Decimal | None]:
        """(percentage, fixed amount as a decimal): one of them set, by the chosen mode."""
        if self.fee_mode.data == FEE_FIXED:
            return None, self.fee_amount.data if self.fee_amount.data is not None else Decimal(0)
        return self.fee_percent.data, None


class DeclineOfferForm(FlaskForm):
    """The hub does not forward the offer; the expert reads the reason."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give the expert a reason: they read it and can learn from it.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 3},
        description=_l("Sent to the expert by notification and e-mail."),
    )


class ThreadMessageForm(FlaskForm):
    """A message in one of the offer's threads, with an optional file."""

    body = TextAreaField(
        _l("Message"),
        validators=[Optional(), Length(max=MAX_MESSAGE, message=_l("Keep the message under %(max)d characters."))],
        render_kw={"rows": 3},
    )
    attachment = FileField(_l("Attach a file (optional)"))


class RejectOfferForm(FlaskForm):
    """The company does not take the offer."""

    reason = TextAreaField(
        _l("Why not?"),
        validators=[
            DataRequired(message=_l("Tell the hub briefly why; it helps them find a better offer for you.")),
            Length(max=MAX_REASON, message=_l("Keep the reason under %(max)d characters.")),
        ],
        render_kw={"rows": 2},
        description=_l("Read by the hub only; the expert is told without your words."),
    )


class NegotiateForm(FlaskForm):
    """The company asks the hub for changes."""

    message = TextAreaField(
        _l("What would you like changed?"),
        validators=[
            DataRequired(message=_l("Say what you would like changed, so the hub can ask the expert.")),
            Length(max=MAX_MESSAGE, message=_l("Keep the message under %(max)d characters.")),
        ],
        render_kw={"rows": 3},
        description=_l("The hub discusses it with the expert and forwards a new version."),
    )


class AcceptOfferForm(FlaskForm):
    """The owner accepts the forwarded version, after confirming."""

    confirm = BooleanField(
        _l("I accept this offer at the client price shown, on behalf of my company."),
        validators=[DataRequired(message=_l("Tick the box to confirm the acceptance."))],
    )


class ProposeRevisionForm(FlaskForm):
    """The hub proposes a revised version on the expert's behalf; it starts from the current version.

    The same fields as the expert's offer form, without the clauses (the expert
    accepts them on confirming), and a note telling the expert why.
    """

    solution = TextAreaField(
        _l("Technical solution"),
        validators=[DataRequired(message=_l("Describe the technical solution you propose.")),
                    Length(max=MAX_SOLUTION)],
        render_kw={"rows": 6},
    )
    price = PriceField(
        _l("Expert price (fixed)"), places=2, render_kw={"inputmode": "decimal", "autocomplete": "off"},
        validators=[InputRequired(message=_l("Enter the expert's price."))],
        description=_l("The expert's price, without the hub fee: e.g. 4500, 4,500.50 or 4.500,50."),
    )
    start_date = PlainDateField(_l("Start date"), validators=[InputRequired(message=_l("Enter the start date."))])
    end_date = PlainDateField(_l("End date"), validators=[InputRequired(message=_l("Enter the end date."))])
    deliverables = TextAreaField(
        _l("Deliverables"),
        validators=[DataRequired(message=_l("List at least one deliverable.")), Length(max=20_000)],
        render_kw={"rows": 3},
        description=_l("One deliverable per line."),
    )
    milestones = FieldList(FormField(MilestoneRow), min_entries=MILESTONE_ROWS, max_entries=MAX_MILESTONES)
    note = TextAreaField(
        _l("Note to the expert"),
        validators=[DataRequired(message=_l("Say briefly what changed in this version.")),
                    Length(max=MAX_REASON, message=_l("Keep the note under %(max)d characters."))],
        render_kw={"rows": 2},
        description=_l("What changes and why, e.g. “The company asks for a start one week earlier”. The expert "
                       "reads it; never show the client price, the fee or the company's name."),
    )

    @staticmethod
    def initial_data(version: OfferVersion) -> dict[str, Any]:
        """What the form shows first: the current version (the note is left for the admin)."""
        return OfferForm.initial_data(version)

    def offer_input(self, currency: str) -> OfferInput:
        """What was typed, for ``negotiations.propose_revision`` (call after ``validate``)."""
        lines = (self.deliverables.data or "").splitlines()
        return OfferInput(
            solution=self.solution.data or "",
            price_minor=to_minor(self.price.data, currency),
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            deliverables=[line.strip() for line in lines if line.strip()],
            milestones=[
                MilestoneInput(title=(row.form.title.data or "").strip(), due_date=row.form.due_date.data,
                               share_percent=row.form.share_percent.data)
                for row in self.milestones
            ],
        )

    def add_errors(self, errors: dict[str, str]) -> list[str]:
        """Put the service's field errors under their fields; return those no field shows."""
        fields = {"price_minor": "price", "accept_clauses": ""}
        leftover: list[str] = []
        for name, message in errors.items():
            target = getattr(self, fields.get(name, name), None) if fields.get(name, name) else None
            if target is None:
                leftover.append(message)
            else:
                target.errors = [*target.errors, message]
        return leftover
