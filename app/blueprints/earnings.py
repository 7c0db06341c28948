"""The expert's earnings and payout settings, and the company's final invoice (WORKFLOW.md §10).

- ``GET /expert/earnings``: what was released to the expert, paid out and still on its way (per
  currency), the payout history (status, method, reference, date) and the payout settings form;
- ``POST /expert/earnings/settings``: save a connected payment-provider account, or the account
  holder and IBAN (a form with errors is shown again, keeping what was typed);
- ``GET /company/projects/<id>/invoice.pdf``: the final invoice of a completed project, for the
  company's users on it.

Every decision is in app/services/payouts.py and app/services/release.py; each view parses,
calls one service, commits, and redirects or renders.
"""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app.exceptions import DomainError, NotFound
from app.models import ExpertProfile, Role, User
from app.security import DOWNLOAD_CSP, roles_required
from app.services import payouts, release, uow
from forms.earnings import (
    PAYOUT_METHOD_LABELS,
    PAYOUT_ROLE_LABELS,
    PAYOUT_STATUS_COLOURS,
    PAYOUT_STATUS_LABELS,
    PayoutSettingsForm,
    format_iban,
)

bp = Blueprint("earnings", __name__)

PER_PAGE = 20


@bp.app_template_global()
def earnings_url() -> str:
    """The earnings page (the expert navigation shows the link once this blueprint is registered)."""
    return url_for("earnings.index")


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _expert() -> ExpertProfile:
    profile = _actor().expert_profile
    if profile is None:
        abort(404)
    return profile


def _settings_form(expert: ExpertProfile) -> PayoutSettingsForm:
    return PayoutSettingsForm(formdata=None, data={
        "account_id": expert.payout_account_id,
        "account_name": expert.payout_account_name,
        "iban": format_iban(expert.payout_iban) if expert.payout_iban else "",
    })


def _render(expert: ExpertProfile, form: PayoutSettingsForm, status: int = 200) -> ResponseReturnValue:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    earnings = payouts.earnings_for(expert, page=page, per_page=PER_PAGE)
    return render_template(
        "expert/earnings.html", expert=expert, earnings=earnings, form=form,
        provider_ready=payouts.provider_ready(expert),
        iban_display=format_iban(expert.payout_iban) if expert.payout_iban else "",
        status_labels=PAYOUT_STATUS_LABELS, status_colours=PAYOUT_STATUS_COLOURS,
        method_labels=PAYOUT_METHOD_LABELS, role_labels=PAYOUT_ROLE_LABELS,
    ), status


@bp.get("/expert/earnings")
@roles_required(Role.EXPERT)
def index() -> ResponseReturnValue:
    """Totals per currency, the payout history and the payout settings."""
    expert = _expert()
    return _render(expert, _settings_form(expert))


@bp.post("/expert/earnings/settings")
@roles_required(Role.EXPERT)
def settings() -> ResponseReturnValue:
    """Save the payout details; on errors the page comes back (400) with what was typed."""
    expert = _expert()
    form = PayoutSettingsForm()
    if not form.validate():
        return _render(expert, form, 400)
    try:
        payouts.set_payout_details(expert.id, actor=_actor(), account_id=form.account_id.data or "",
                                   account_name=form.account_name.data or "", iban=form.iban.data or "")
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        flash(str(exc), "danger")
        return _render(expert, form, 400)
    flash(_("Your payout details are saved."), "success")
    return redirect(url_for("earnings.index"))


@bp.get("/company/projects/<int:project_id>/invoice.pdf")
@roles_required(Role.COMPANY)
def invoice(project_id: int) -> ResponseReturnValue:
    """The final invoice PDF of a completed project (404 for anyone else, or before the release)."""
    try:
        name, pdf = release.invoice_pdf(project_id, actor=_actor())
    except NotFound:
        abort(404)
    response: Response = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                                   download_name=name, conditional=False, etag=False, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["Cache-Control"] = "no-store"
    return response
