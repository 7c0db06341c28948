"""Forms of the expert's offer pages: the offer (new and revised), withdrawing it, declining an invitation.

They check shape only (required, lengths, numbers, dates); app/services/offers.py
is the authority on every rule (price above zero, dates, milestone shares adding
up to 100 %, the clauses) and on state and permission. Its ``FieldErrors`` are
put back under the matching fields with :func:`add_errors`, so the expert sees
each message next to what they typed.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.models import InvitationKind, InvitationStatus, OfferStatus, OfferVersion
from app.services.offers import CURRENT_CLAUSES, MAX_MILESTONES, MAX_SOLUTION, MilestoneInput, OfferInput
from forms.experts import from_minor, to_minor
from forms.jobs import AmountField, PlainDateField

MILESTONE_ROWS = 6

OFFER_STATUS_LABELS = {
    OfferStatus.SUBMITTED: _l("Submitted to the hub"),
    OfferStatus.FORWARDED: _l("Forwarded to the company"),
    OfferStatus.IN_NEGOTIATION: _l("In negotiation"),
    OfferStatus.REVISED: _l("Revised, with the hub"),
    OfferStatus.ACCEPTED: _l("Accepted"),
    OfferStatus.DECLINED: _l("Declined by the hub"),
    OfferStatus.REJECTED: _l("Rejected by the company"),
    OfferStatus.WITHDRAWN: _l("Withdrawn"),
    OfferStatus.NOT_SELECTED: _l("Not selected"),
}
OFFER_STATUS_COLOURS = {
    OfferStatus.SUBMITTED: "info",
    OfferStatus.FORWARDED: "primary",
    OfferStatus.IN_NEGOTIATION: "warning",
    OfferStatus.REVISED: "info",
    OfferStatus.ACCEPTED: "success",
    OfferStatus.DECLINED: "secondary",
    OfferStatus.REJECTED: "secondary",
    OfferStatus.WITHDRAWN: "dark",
    OfferStatus.NOT_SELECTED: "secondary",
}
INVITATION_KIND_LABELS = {
    InvitationKind.INVITED: _l("Invited by the hub"),
    InvitationKind.RECOMMENDED: _l("Recommended to you"),
}
INVITATION_STATUS_LABELS = {
    InvitationStatus.OPEN: _l("Open"),
    InvitationStatus.DECLINED: _l("Declined"),
}
# Which form field shows a service error about each OfferInput field.
SERVICE_FIELDS = {
    "solution": "solution",
    "price_minor": "price",
    "start_date": "start_date",
    "end_date": "end_date",
    "deliverables": "deliverables",
    "milestones": "milestones",
    "accept_clauses": "accept_clauses",
    "change_note": "change_note",
}


class PriceField(AmountField):
    """The offer's price: an amount like ``4500``, ``4,500.50`` or ``4.500,50``."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(_l("Enter the price as a number, like 4500 or 4500.50."))) from None


class MilestoneRow(Form):
    """One milestone: title, due date and share of the price (a row left blank is ignored)."""

    title = StringField(_l("Milestone"), validators=[Optional(), Length(max=200)])
    due_date = PlainDateField(_l("Due date"), validators=[Optional()])
    share_percent = IntegerField(
        _l("Share (%)"),
        validators=[Optional(), NumberRange(min=1, max=100, message=_l("Enter a share from 1 to 100."))],
        render_kw={"inputmode": "numeric", "min": 1, "max": 100},
    )


class OfferForm(FlaskForm):
    """A new offer: solution, price, dates, deliverables, optional milestones and the clauses."""

    solution = TextAreaField(
        _l("Proposed technical solution"),
        validators=[DataRequired(message=_l("Describe the technical solution you propose.")),
                    Length(max=MAX_SOLUTION)],
        render_kw={"rows": 8},
        description=_l("How you would solve the problem or run the training: approach, methods, what you need "
                       "from the company. Do not put your name, e-mail or employer here: the company only sees "
                       "your pseudonym."),
    )
    price = PriceField(
        _l("Your price (fixed)"), places=2, render_kw={"inputmode": "decimal", "autocomplete": "off"},
        validators=[InputRequired(message=_l("Enter your price."))],
    )
    start_date = PlainDateField(_l("Start date"),
                                validators=[InputRequired(message=_l("Enter the start date."))])
    end_date = PlainDateField(_l("End date"), validators=[InputRequired(message=_l("Enter the end date."))])
    deliverables = TextAreaField(
        _l("Deliverables"),
        validators=[DataRequired(message=_l("List at least one deliverable.")), Length(max=20_000)],
        render_kw={"rows": 4},
        description=_l("One deliverable per line, e.g. “Root-cause report” and “Validated process window”."),
    )
    milestones = FieldList(FormField(MilestoneRow), min_entries=MILESTONE_ROWS, max_entries=MAX_MILESTONES)
    clauses_version = HiddenField(default=CURRENT_CLAUSES.version)
    accept_clauses = BooleanField(
        _l("I accept the confidentiality and non-solicitation clauses above."),
        validators=[DataRequired(message=_l("Accept the confidentiality and non-solicitation clauses to send "
                                            "the offer."))],
    )

    @staticmethod
    def initial_data(version: OfferVersion) -> dict[str, Any]:
        """What the form shows to change ``version`` (the clauses must be accepted again)."""
        rows: list[dict[str, Any]] = [
            {"title": m.title, "due_date": m.due_date, "share_percent": m.share_percent} for m in version.milestones
        ]
        rows += [{} for _ in range(max(MILESTONE_ROWS - len(rows), 1 if len(rows) < MAX_MILESTONES else 0))]
        return {
            "solution": version.solution,
            "price": from_minor(version.price_minor, version.currency),
            "start_date": version.start_date,
            "end_date": version.end_date,
            "deliverables": "\n".join(str(d) for d in version.deliverables),
            "milestones": rows,
        }

    def offer_input(self, currency: str) -> OfferInput:
        """What was typed, for ``offers.submit_offer`` / ``offers.revise_offer`` (call after ``validate``)."""
        lines = (self.deliverables.data or "").splitlines()
        return OfferInput(
            solution=self.solution.data or "",
            price_minor=to_minor(self.price.data, currency),
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            deliverables=[line.strip() for line in lines if line.strip()],
            milestones=[
                MilestoneInput(
                    title=(row.form.title.data or "").strip(),
                    due_date=row.form.due_date.data,
                    share_percent=row.form.share_percent.data,
                )
                for row in self.milestones
            ],
            accept_clauses=bool(self.accept_clauses.data),
            clauses_version=self.clauses_version.data or "",
            change_note=self._change_note(),
        )

    def _change_note(self) -> str:
        return ""


class ReviseOfferForm(OfferForm):
    """A new version of an offer: the same fields and a note saying what changed."""

    change_note = TextAreaField(
        _l("What changed"),
        validators=[DataRequired(message=_l("Say briefly what changed in this version.")), Length(max=5000)],
        render_kw={"rows": 2},
        description=_l("A short note for the hub, e.g. “Lower price, one milestone less”."),
    )

    def _change_note(self) -> str:
        return self.change_note.data or ""


def add_errors(form: OfferForm, errors: dict[str, str]) -> list[str]:
    """Put the service's field errors under their fields; return those no field shows."""
    leftover: list[str] = []
    for name, message in errors.items():
        target = getattr(form, SERVICE_FIELDS[name], None) if name in SERVICE_FIELDS else None
        if target is None:
            leftover.append(message)
        else:
            target.errors = [*target.errors, message]
    return leftover


class WithdrawOfferForm(FlaskForm):
    """Withdraw an offer: an optional reason for the hub, and a confirmation."""

    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2},
                           description=_l("Helps the hub; the company is not told who withdrew."))
    confirm = BooleanField(
        _l("Yes, withdraw this offer. This cannot be undone."),
        validators=[DataRequired(message=_l("Tick the box to confirm that you withdraw the offer."))],
    )


class DeclineInvitationForm(FlaskForm):
    """Decline an invitation or a recommendation, with a reason for the hub."""

    reason = TextAreaField(
        _l("Why do you decline?"),
        validators=[DataRequired(message=_l("Tell the hub briefly why you decline; it helps them invite the right "
                                            "experts.")),
                    Length(max=2000)],
        render_kw={"rows": 2},
        description=_l("E.g. “Not available before March” or “Outside my expertise”. Only the hub reads this."),
    )
    next = HiddenField()


class ConfirmProposalForm(FlaskForm):
    """The expert confirms the hub's proposal, accepting the clauses: it becomes their new version."""

    proposal_id = HiddenField()
    clauses_version = HiddenField(default=CURRENT_CLAUSES.version)
    accept_clauses = BooleanField(
        _l("I accept the confidentiality and non-solicitation clauses above."),
        validators=[DataRequired(message=_l("Accept the confidentiality and non-solicitation clauses to send "
                                            "the offer."))],
    )


class RefuseProposalForm(FlaskForm):
    """The expert refuses the hub's proposal, saying why; the offer stays as it is."""

    proposal_id = HiddenField()
    reason = TextAreaField(
        _l("Why do you refuse?"),
        validators=[DataRequired(message=_l("Tell the hub briefly why, so it can relay a better proposal.")),
                    Length(max=5000)],
        render_kw={"rows": 2},
        description=_l("Only the hub reads this. You can also change the offer yourself."),
    )
