"""The parties' contract pages (WORKFLOW.md §6), and the public seal verification.

The company's users read the contract and the NDA (the expert by pseudonym,
the client price); the expert reads the subcontract and the NDA (the expert
price, never the client price or the fee). Each party signs its documents by
typing its name, ticking the consent box and posting the SHA-256 of the
version it read; app/services/contracts.py decides everything. A contract or
document of someone else "does not exist" (404). Downloads are served as
attachments with a sandboxing CSP; the inline preview is framed by our own
page only. ``/verify`` lets anyone check whether a PDF is a sealed document of
the hub, unchanged.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app import policies
from app.exceptions import DomainError, NotFound, PermissionDenied
from app.extensions import db, limiter
from app.models import Contract, ContractDocument, ContractStatus, Project, Role, User
from app.security import public, roles_required, send_inert
from app.services import contracts, uow
from forms.contracts import (
    CONTRACT_STATUS_COLOURS,
    CONTRACT_STATUS_LABELS,
    DOCUMENT_KIND_LABELS,
    SIGNER_ROLE_LABELS,
    VERIFY_MAX_BYTES,
    SignForm,
    VerifyForm,
)

bp = Blueprint("contracts", __name__)

VERIFY_ENDPOINT = "contracts.verify"
FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and the CSRF token around the file
LABELS: dict[str, Any] = {
    "contract_status_labels": CONTRACT_STATUS_LABELS,
    "contract_status_colours": CONTRACT_STATUS_COLOURS,
    "document_kind_labels": DOCUMENT_KIND_LABELS,
    "signer_role_labels": SIGNER_ROLE_LABELS,
}


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _contract(contract_id: int) -> Contract:
    try:
        return contracts.load_contract(contract_id, actor=_actor())
    except NotFound:
        abort(404)


def _document(document_id: int) -> ContractDocument:
    """A document the actor may read; anything else is 404."""
    document = db.session.get(ContractDocument, document_id)
    if document is None or not policies.can_view_contract_document(_actor(), document):
        abort(404)
    return document


def _sign_form(document: ContractDocument, *, bound: bool = False) -> SignForm:
    form = SignForm(prefix=f"d{document.id}", formdata=None if not bound else request.form)
    if not bound:
        form.document_sha256.data = document.sha256
    return form


def _render(contract: Contract, template: str, *, bound: dict[int, SignForm] | None = None,
            status: int = 200) -> ResponseReturnValue:
    page = contracts.contract_page(contract, actor=_actor())
    forms = {d.document.id: (bound or {}).get(d.document.id) or _sign_form(d.document)
             for d in page.documents if d.can_sign}
    pay_url = None
    if (page.reader_is_company and contract.status is ContractStatus.SIGNED
            and "payments.pay" in current_app.view_functions):
        pay_url = url_for("payments.pay", contract_id=contract.id)
    project_url = None
    if contract.status is ContractStatus.FUNDED and "projects.channel" in current_app.view_functions:
        project_id = db.session.scalar(sa.select(Project.id).where(Project.contract_id == contract.id))
        if project_id is not None:
            project_url = url_for("projects.channel", project_id=project_id)
    return render_template(template, page=page, contract=contract, forms=forms, pay_url=pay_url,
                           project_url=project_url, **LABELS), status


def _sign(document_id: int, *, template: str, endpoint: str) -> ResponseReturnValue:
    """Validate the signature form, call the service; on refusal show the page again with what was typed."""
    document = _document(document_id)
    contract_id = document.contract_id
    if contracts.signer_role(_actor(), document.contract) is None:  # members read; only owners sign
        raise PermissionDenied(_("Only an owner of the company signs the company's documents."))
    form = _sign_form(document, bound=True)
    if not form.validate():
        return _render(document.contract, template, bound={document.id: form}, status=400)
    try:
        contracts.sign_document(
            document.id, actor=_actor(), typed_name=form.typed_name.data or "",
            document_sha256=form.document_sha256.data or "", user_agent=request.headers.get("User-Agent", ""),
        )
    except NotFound:
        abort(404)
    except DomainError as exc:
        uow.rollback()
        flash(str(exc), "danger")
        document = _document(document_id)
        return _render(document.contract, template, bound={document.id: form}, status=exc.status_code)
    contract = db.session.get(Contract, contract_id)
    if contract is not None and contract.status is ContractStatus.SIGNED:
        flash(_("Thank you. Every party has signed; Plasticonnect Hub sealed the documents. You can download the "
                "sealed copies and their certificates of completion below."), "success")
    else:
        flash(_("Thank you, your signature is recorded. We let you know as soon as the other parties have "
                "signed."), "success")
    return redirect(url_for(endpoint, contract_id=contract_id))


def _send(document_id: int, which: str, *, inline: bool = False) -> ResponseReturnValue:
    _document(document_id)
    if which not in contracts.FILE_KINDS:
        abort(404)
    try:
        name, data = contracts.open_contract_file(document_id, actor=_actor(), which=which, inline=inline)
    except NotFound:
        abort(404)
    return send_inert(data, name, "application/pdf", safe_types={"application/pdf"}, inline=inline)


# The company ----------------------------------------------------------------------------


@bp.get("/company/contracts")
@roles_required(Role.COMPANY)
def company_index() -> ResponseReturnValue:
    """The company's contracts, newest first, with their status."""
    actor = _actor()
    return render_template("company/contracts/index.html", contracts=contracts.contracts_for(actor),
                           company=actor.company, **LABELS)


@bp.get("/company/contracts/<int:contract_id>")
@roles_required(Role.COMPANY)
def company_contract(contract_id: int) -> ResponseReturnValue:
    """The contract and the NDA: read, sign (owners), then download the sealed copies; what happens next."""
    return _render(_contract(contract_id), "company/contracts/detail.html")


@bp.post("/company/contracts/documents/<int:document_id>/sign")
@roles_required(Role.COMPANY)
def company_sign(document_id: int) -> ResponseReturnValue:
    """Sign the contract or the NDA for the company (owners only)."""
    return _sign(document_id, template="company/contracts/detail.html", endpoint="contracts.company_contract")


@bp.get("/company/contracts/documents/<int:document_id>/download")
@roles_required(Role.COMPANY)
def company_download(document_id: int) -> ResponseReturnValue:
    """Download the original, the sealed copy or the certificate of completion (``?which=``; logged)."""
    return _send(document_id, request.args.get("which", "original"))


@bp.get("/company/contracts/documents/<int:document_id>/preview")
@roles_required(Role.COMPANY)
def company_preview(document_id: int) -> ResponseReturnValue:
    """The document inline, for the preview frame of the contract page (logged)."""
    return _send(document_id, "original", inline=True)


# The expert -----------------------------------------------------------------------------


@bp.get("/contracts")
@roles_required(Role.EXPERT)
def expert_index() -> ResponseReturnValue:
    """The expert's subcontracts, newest first, with their status."""
    actor = _actor()
    return render_template("expert/contracts/index.html", contracts=contracts.contracts_for(actor),
                           expert=actor.expert_profile, **LABELS)


@bp.get("/contracts/<int:contract_id>")
@roles_required(Role.EXPERT)
def expert_contract(contract_id: int) -> ResponseReturnValue:
    """The subcontract and the NDA: read, sign, then download the sealed copies; what happens next."""
    return _render(_contract(contract_id), "expert/contracts/detail.html")


@bp.post("/contracts/documents/<int:document_id>/sign")
@roles_required(Role.EXPERT)
def expert_sign(document_id: int) -> ResponseReturnValue:
    """Sign the subcontract or the NDA as the expert."""
    return _sign(document_id, template="expert/contracts/detail.html", endpoint="contracts.expert_contract")


@bp.get("/contracts/documents/<int:document_id>/download")
@roles_required(Role.EXPERT)
def expert_download(document_id: int) -> ResponseReturnValue:
    """Download the original, the sealed copy or the certificate of completion (``?which=``; logged)."""
    return _send(document_id, request.args.get("which", "original"))


@bp.get("/contracts/documents/<int:document_id>/preview")
@roles_required(Role.EXPERT)
def expert_preview(document_id: int) -> ResponseReturnValue:
    """The document inline, for the preview frame of the contract page (logged)."""
    return _send(document_id, "original", inline=True)


# Public verification --------------------------------------------------------------------


def _verify_limit() -> str:
    return str(current_app.config.get("VERIFY_RATE_LIMIT", "30 per hour"))


def _limited_message() -> str:
    return _("You checked too many files in a short time. Wait a while, then try again.")


def _too_large_message() -> str:
    return _("The file is too large; the limit is 25 MB.")


def _allow_large_pdf() -> None:
    """The app-wide body limit leaves no room for a 25 MB PDF plus the form around it on this route."""
    if request.endpoint == VERIFY_ENDPOINT:
        request.max_content_length = VERIFY_MAX_BYTES + FORM_OVERHEAD


@bp.record_once
def _install_upload_limit(state: Any) -> None:
    """Run before every other hook: CSRF protection reads the form (and so the body) in its own hook."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, _allow_large_pdf)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A PDF over the limit: say so on the page instead of a bare 413."""
    form = VerifyForm(formdata=None)
    form.file.errors = [_too_large_message()]
    return render_template("contracts/verify.html", form=form, result=None), 413


@bp.route("/verify", methods=["GET", "POST"])
@public
@limiter.limit(_verify_limit, methods=["POST"], error_message=_limited_message)
def verify() -> ResponseReturnValue:
    """Upload a PDF: is it a document Plasticonnect Hub sealed, and unchanged since?"""
    form = VerifyForm()
    result = None
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 400
        else:
            data = form.file.data.read(VERIFY_MAX_BYTES + 1)
            if len(data) > VERIFY_MAX_BYTES:
                form.file.errors = [_too_large_message()]
                status = 413
            else:
                try:
                    result = contracts.verify_upload(data)
                except DomainError as exc:
                    flash(str(exc), "danger")
                    status = 503
    return render_template("contracts/verify.html", form=form, result=result), status
