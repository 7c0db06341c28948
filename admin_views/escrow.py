"""Escrow (internal word; pages say "funds held by Plasticonnect"): funding of signed contracts.

One page: signed contracts waiting for payment (oldest first) with a "Record a
bank transfer" form each, flagged over-payments with a "Resolve" form, funded
contracts with their ledger transactions and escrow balance, and a ledger health
panel (``check_invariants``). Every button calls a service in app/services/escrow.py.
"""

from __future__ import annotations

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _

from admin_views.base import SecureBaseView, current_actor, form_error_flash, run_decision
from app.extensions import db
from app.models import Contract
from app.services import escrow
from forms.experts import to_minor
from forms.payments import BankTransferForm, ResolveTransferForm


class EscrowView(SecureBaseView):
    """Contracts waiting for funding, flagged transfers, funded contracts and the ledger's health."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        waiting = escrow.contracts_awaiting_funding()
        return self.render(
            "admin/escrow/index.html",
            waiting=[(c, escrow.funding_status(c), BankTransferForm(prefix=f"c{c.id}")) for c in waiting],
            flagged=[(t, ResolveTransferForm(prefix=f"t{t.id}")) for t in escrow.flagged_transfers()],
            funded=escrow.funded_contracts(),
            problems=escrow.ledger_health(),
        )

    @expose("/transfers", methods=("POST",))
    def record_transfer(self) -> ResponseReturnValue:
        """Record a bank transfer for the contract named by the form's ``contract_id``."""
        contract_id = request.form.get("contract_id", type=int) or 0
        contract = db.session.get(Contract, contract_id)
        form = BankTransferForm(prefix=f"c{contract_id}")
        if contract is None:
            return redirect(self.get_url(".index"))
        if not form.validate_on_submit():
            form_error_flash()
            for errors in form.errors.values():
                for error in errors:
                    flash(str(error), "danger")
            return redirect(self.get_url(".index"))
        amount = to_minor(form.amount.data, contract.currency)
        assert amount is not None
        run_decision(
            lambda: escrow.record_bank_transfer(
                contract_id, actor=current_actor(), amount_minor=amount, currency=contract.currency,
                received_on=form.received_on.data, bank_reference=form.bank_reference.data or "",
            ),
            _("The transfer for %(reference)s is recorded.", reference=contract.reference),
        )
        return redirect(self.get_url(".index"))

    @expose("/transfers/resolve", methods=("POST",))
    def resolve_transfer(self) -> ResponseReturnValue:
        """Resolve the over-payment named by the form's ``transfer_id``."""
        transfer_id = request.form.get("transfer_id", type=int) or 0
        form = ResolveTransferForm(prefix=f"t{transfer_id}")
        if not form.validate_on_submit():
            form_error_flash()
            return redirect(self.get_url(".index"))
        run_decision(
            lambda: escrow.resolve_bank_transfer(transfer_id, actor=current_actor(), note=form.note.data or ""),
            _("The over-payment is resolved and the contract is funded."),
        )
        return redirect(self.get_url(".index"))
