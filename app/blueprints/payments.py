"""The company's payment pages: pay a signed contract by card or bank transfer, then the receipt.

The funds are held by Plasticonnect until the company accepts the work (the word
"escrow" is internal). Card payment redirects to the provider's hosted page (no
provider script on our pages); its webhook funds the contract. A contract of
another company is "not found" (404).
"""

from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app import policies
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.integrations.stripe_gateway import checkout_origin, get_gateway
from app.models import Contract, Role, User
from app.security import allow_form_action_to, roles_required
from app.services import escrow
from forms.payments import PayByCardForm

bp = Blueprint("payments", __name__, url_prefix="/company/contracts")


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None or not policies.can_pay_contract(_actor(), contract):
        abort(404)
    return contract


@bp.get("/<int:contract_id>/pay")
@roles_required(Role.COMPANY)
def pay(contract_id: int) -> ResponseReturnValue:
    """The amount, how the funds are held, and the two ways to pay (card only when configured)."""
    contract = _contract(contract_id)
    gateway = get_gateway()
    if gateway is not None:
        # The card form redirects to the provider's hosted page: CSP form-action must allow it.
        allow_form_action_to(checkout_origin(current_app.config))
    return render_template(
        "company/payments/pay.html",
        contract=contract,
        status=escrow.funding_status(contract),
        instructions=escrow.bank_instructions(contract),
        card_available=gateway is not None,
        form=PayByCardForm(),
    )


@bp.post("/<int:contract_id>/pay/card")
@roles_required(Role.COMPANY)
def pay_by_card(contract_id: int) -> ResponseReturnValue:
    """Open the provider's hosted payment page and send the company there."""
    contract = _contract(contract_id)
    form = PayByCardForm()
    if not form.validate_on_submit():
        abort(400)
    success = url_for("payments.paid", contract_id=contract.id, _external=True) + "?session_id={CHECKOUT_SESSION_ID}"
    cancel = url_for("payments.pay", contract_id=contract.id, _external=True)
    try:
        url = escrow.start_card_checkout(contract.id, actor=_actor(), success_url=success, cancel_url=cancel)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("payments.pay", contract_id=contract.id))
    return redirect(url, code=303)


@bp.get("/<int:contract_id>/paid")
@roles_required(Role.COMPANY)
def paid(contract_id: int) -> ResponseReturnValue:
    """Back from the hosted page: "being confirmed" until the webhook arrives, then "funded"."""
    contract = _contract(contract_id)
    return render_template("company/payments/paid.html", contract=contract, status=escrow.funding_status(contract))


@bp.get("/<int:contract_id>/receipt.pdf")
@roles_required(Role.COMPANY)
def receipt(contract_id: int) -> ResponseReturnValue:
    """The receipt PDF, once the contract is funded."""
    contract = _contract(contract_id)
    try:
        contract, pdf = escrow.receipt_pdf(contract.id, actor=_actor())
    except NotFound:
        abort(404)
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                     download_name=f"receipt-{contract.reference}.pdf")
