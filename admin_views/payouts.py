"""Payouts in the back office (WORKFLOW.md §10): releases that did not happen, and money owed to experts.

One page. At the top, accepted projects whose release has not happened yet, each
with a "Release now" button (app/services/release.py ``release_escrow``; a second
click finds the project completed and changes nothing). Below, the payouts in
lists: bank transfers the hub must make (with a "Mark as paid" form taking the
bank's reference), failed provider transfers (with "Retry"), provider transfers
in progress (a stuck one can be re-queued with "Retry"), sent payouts and all,
paginated. The hub sees each expert's pseudonym and real name, the connected
account, the account holder and the IBAN. Every button calls app/services/payouts.py
or release.py; nothing here writes a status.

Registered in admin_views/__init__.py with endpoint ``admin_payouts`` and url
``payouts``, so notification links read /admin/payouts/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from admin_views.base import SecureBaseView, current_actor, form_error_flash
from app.exceptions import DomainError
from app.extensions import db
from app.models import Payout, PayoutMethod, PayoutStatus, Project
from app.services import payouts, release, uow
from app.services.payouts import PayoutFilter
from forms.earnings import PAYOUT_METHOD_LABELS, PAYOUT_ROLE_LABELS, ConfirmForm, MarkPaidForm, format_iban

PER_PAGE = 25
FILTER_LABELS = {
    PayoutFilter.PENDING_BANK: _l("Bank transfers to make"),
    PayoutFilter.FAILED: _l("Failed"),
    PayoutFilter.PENDING_PROVIDER: _l("Provider transfers in progress"),
    PayoutFilter.SENT: _l("Sent"),
    PayoutFilter.ALL: _l("All"),
}
STATUS_LABELS = {"pending": _l("Pending"), "sent": _l("Sent"), "failed": _l("Failed")}
STATUS_COLOURS = {"pending": "warning", "sent": "success", "failed": "danger"}
LABELS: dict[str, Any] = {
    "filter_labels": FILTER_LABELS,
    "payout_status_labels": STATUS_LABELS,
    "payout_status_colours": STATUS_COLOURS,
    "payout_method_labels": PAYOUT_METHOD_LABELS,
    "payout_role_labels": PAYOUT_ROLE_LABELS,
}


@dataclass(frozen=True)
class AwaitingRelease:
    """An accepted project whose release has not happened: what is held, and whether a dispute freezes it."""

    project: Project
    held_minor: int
    disputed: bool


def _show() -> PayoutFilter:
    raw = request.args.get("show", "")
    return PayoutFilter(raw) if raw in {f.value for f in PayoutFilter} else PayoutFilter.PENDING_BANK


class PayoutsView(SecureBaseView):
    """Releases waiting, bank payouts to confirm, failed transfers to retry, and the payout history."""

    def _page(self, *, bound: dict[int, MarkPaidForm] | None = None, status: int = 200) -> ResponseReturnValue:
        show = _show()
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        pagination = db.paginate(payouts.payouts_query(show), page=page, per_page=PER_PAGE, error_out=False)
        items: list[Payout] = list(pagination.items)
        bound = bound or {}
        mark_forms = {
            p.id: bound.get(p.id) or MarkPaidForm(formdata=None, prefix=f"p{p.id}")
            for p in items if p.method is PayoutMethod.BANK and p.status is not PayoutStatus.SENT
        }
        awaiting = [AwaitingRelease(p, release.held_minor(p), release.open_dispute(p) is not None)
                    for p in release.awaiting_release()]
        html = self.render(
            "admin/payouts/index.html",
            show=show.value,
            filters=list(PayoutFilter),
            counts={f.value: n for f, n in payouts.payout_counts().items()},
            pagination=pagination,
            items=items,
            mark_forms=mark_forms,
            confirm_form=ConfirmForm(formdata=None),
            awaiting=awaiting,
            format_iban=format_iban,
            max_attempts=payouts.MAX_ATTEMPTS,
            **LABELS,
        )
        return html, status

    def _back(self) -> ResponseReturnValue:
        show = _show()
        return redirect(self.get_url(".index", show=show.value) if request.args.get("show") else
                        self.get_url(".index"))

    def _decide(self, call: Any, success: str, *, bound: dict[int, MarkPaidForm] | None = None) -> ResponseReturnValue:
        """Call one service and commit; on refusal the page comes back with the explanation."""
        try:
            call()
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._page(bound=bound, status=exc.status_code)
        flash(success, "success")
        return self._back()

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """Accepted projects waiting for their release, then one list of payouts (``?show=``, ``?page=``)."""
        return self._page()

    @expose("/<int:payout_id>/paid", methods=("POST",))
    def mark_paid(self, payout_id: int) -> ResponseReturnValue:
        """Confirm a bank payout with the reference of the transfer the hub made."""
        form = MarkPaidForm(prefix=f"p{payout_id}")
        if not form.validate():
            form_error_flash()
            return self._page(bound={payout_id: form}, status=400)
        reference = form.reference.data or ""
        return self._decide(
            lambda: payouts.mark_bank_payout_sent(payout_id, actor=current_actor(), reference=reference),
            _("The payout is marked as paid; the expert is told."), bound={payout_id: form},
        )

    @expose("/<int:payout_id>/retry", methods=("POST",))
    def retry(self, payout_id: int) -> ResponseReturnValue:
        """Send a failed (or stuck) provider payout again, with the same idempotency key."""
        if not ConfirmForm().validate():
            form_error_flash()
            return self._page(status=400)
        return self._decide(lambda: payouts.retry_payout(payout_id, actor=current_actor()),
                            _("The payout is queued again."))

    @expose("/projects/<int:project_id>/release", methods=("POST",))
    def release_now(self, project_id: int) -> ResponseReturnValue:
        """Release an accepted project's held funds now (nothing happens if it was released meanwhile)."""
        if not ConfirmForm().validate():
            form_error_flash()
            return self._page(status=400)
        try:
            txn = release.release_escrow(project_id, actor=current_actor())
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._page(status=exc.status_code)
        if txn is None:
            flash(_("This project was already released; nothing was changed."), "info")
        else:
            flash(_("The funds held are released; the payouts follow."), "success")
        return self._back()
