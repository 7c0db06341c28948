"""The company's pages: status, profile, legal documents, submission, members and invitations.

Each view parses a form, calls one service in app/services/companies.py and
either redirects with a message or re-renders the form with its errors (400),
keeping what was typed. Owners change things; members read.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app import policies
from app.blueprints import documents as documents_flow
from app.exceptions import DomainError, NotFound
from app.integrations import reference
from app.login import log_in
from app.models import Company, DocumentKind, Role, User
from app.security import company_owner_required, public, roles_required
from app.services import companies, uploads
from forms.companies import (
    PAYMENT_LABELS,
    AcceptInvitationForm,
    CompanyProfileForm,
    DocumentRemoveForm,
    DocumentUploadForm,
    InviteForm,
    RevokeForm,
    SubmitForm,
)

bp = Blueprint("company", __name__, url_prefix="/company")


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _company() -> Company:
    company = _actor().company
    if company is None:
        abort(404)
    return company


@bp.app_template_global()
def country_label(code: str) -> str:
    """A country code shown as its name in the reader's language."""
    return reference.country_name(code, str(get_locale() or "en"))


@bp.app_template_global()
def document_kind_label(kind: DocumentKind) -> str:
    """A document kind shown to people."""
    return companies.document_label(kind)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over the upload limit: say the limit instead of a bare 413."""
    limit = uploads.human_size(int(current_app.config.get("MAX_CONTENT_LENGTH") or 0))
    message = _("The file is too large; the limit is %(limit)s. Nothing was saved.",
                limit=uploads.human_size(uploads.document_max_bytes()))
    if request.endpoint == "company.documents" and current_user.is_authenticated and _actor().company:
        form = DocumentUploadForm(formdata=None)
        form.file.errors = [message]
        return _render_documents(form), 413
    return render_template("errors/error.html", code=413, title=_("Too large"),
                           message=_("The request is larger than %(limit)s. Nothing was saved.", limit=limit)), 413


@bp.get("/")
@roles_required(Role.COMPANY)
def home() -> ResponseReturnValue:
    """Where the company stands: status, checklist, the hub's question, and the submit button."""
    actor, company = _actor(), _company()
    missing = companies.missing_for_submit(company)
    can_submit = policies.can_submit_company(actor, company) and company.status in companies.EDITABLE_STATES
    return render_template(
        "company/home.html",
        company=company,
        checklist=companies.checklist(company),
        missing=missing,
        can_edit=policies.can_edit_company(actor, company),
        can_submit=can_submit,
        submit_form=SubmitForm(formdata=None),
        documents=companies.active_documents(company),
        payment_labels=PAYMENT_LABELS,
    )


@bp.route("/profile", methods=["GET", "POST"])
@company_owner_required
def profile() -> ResponseReturnValue:
    """Edit the company's profile; a draft may be saved incomplete and finished later."""
    actor, company = _actor(), _company()
    form = CompanyProfileForm(obj=company, current_industry_id=company.industry_id)
    if request.method == "GET":
        form.industry_id.data = company.industry_id or 0
        form.payment_method.data = company.payment_method.value if company.payment_method else None
    refusal = companies.edit_refusal(company)
    if request.method == "POST":
        if not form.validate():
            return render_template("company/profile.html", form=form, company=company, refusal=refusal), 400
        try:
            companies.update_company(company.id, actor=actor, **form.service_fields())
        except DomainError as exc:
            flash(str(exc), "danger")
            return render_template("company/profile.html", form=form, company=company, refusal=refusal), 400
        flash(_("Your company profile is saved."), "success")
        return redirect(url_for("company.home"))
    return render_template("company/profile.html", form=form, company=company, refusal=refusal)


def _render_documents(form: DocumentUploadForm) -> str:
    actor, company = _actor(), _company()
    return render_template(
        "company/documents.html",
        company=company,
        form=form,
        remove_form=DocumentRemoveForm(formdata=None),
        documents=companies.active_documents(company),
        can_edit=policies.can_edit_company(actor, company),
        refusal=companies.edit_refusal(company),
        upload_hint=uploads.upload_hint(uploads.LEGAL_TYPES),
        accept=uploads.accept_attribute(uploads.LEGAL_TYPES),
        required_kinds=companies.REQUIRED_COMPANY_DOCUMENTS,
    )


@bp.route("/documents", methods=["GET", "POST"])
@roles_required(Role.COMPANY)
def documents() -> ResponseReturnValue:
    """The company's legal documents: list (everyone of the company), upload (owners)."""
    actor, company = _actor(), _company()
    form = DocumentUploadForm()
    if request.method == "POST":
        return documents_flow.upload(
            form,
            lambda upload: companies.add_company_document(
                company.id, actor=actor, kind=DocumentKind(form.kind.data), upload=upload
            ),
            _render_documents,
            "company.documents",
        )
    return _render_documents(form)


@bp.post("/documents/<int:document_id>/remove")
@roles_required(Role.COMPANY)
def remove_document(document_id: int) -> ResponseReturnValue:
    """Remove a document from the company's profile (kept on record for the hub)."""
    return documents_flow.remove(
        DocumentRemoveForm(),
        lambda: companies.remove_document(document_id, actor=_actor()),
        "company.documents",
    )


@bp.post("/submit")
@company_owner_required
def submit() -> ResponseReturnValue:
    """Submit (or resubmit) the company for verification."""
    form = SubmitForm()
    if not form.validate():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(url_for("company.home"))
    try:
        companies.submit_company(_company().id, actor=_actor(), answer=form.answer.data or "")
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("company.home"))
    flash(_("Thank you. Your company is submitted; the hub will review it and let you know."), "success")
    return redirect(url_for("company.home"))


@bp.route("/members", methods=["GET", "POST"])
@company_owner_required
def members() -> ResponseReturnValue:
    """The company's users and open invitations; invite a colleague."""
    actor, company = _actor(), _company()
    form = InviteForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                invitation = companies.invite_member(company.id, actor=actor, email=form.email.data or "")
            except DomainError as exc:
                form.email.errors = [str(exc)]
                status = 400
            else:
                flash(_("An invitation was sent to %(email)s. The link works for %(days)d days.",
                        email=invitation.email, days=companies.INVITATION_DAYS), "success")
                return redirect(url_for("company.members"))
        else:
            status = 400
    return render_template(
        "company/members.html",
        company=company,
        form=form,
        revoke_form=RevokeForm(formdata=None),
        members=companies.members(company),
        invitations=companies.open_invitations(company),
    ), status


@bp.post("/invitations/<int:invitation_id>/revoke")
@company_owner_required
def revoke_invitation(invitation_id: int) -> ResponseReturnValue:
    """Revoke an open invitation."""
    form = RevokeForm()
    if not form.validate():
        abort(400)
    try:
        invitation = companies.revoke_invitation(invitation_id, actor=_actor())
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("The invitation for %(email)s is revoked.", email=invitation.email), "success")
    return redirect(url_for("company.members"))


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str) -> ResponseReturnValue:
    """Join a company from an e-mailed invitation: set a name and a password."""
    invitation = companies.find_invitation(token)
    if invitation is None:
        return render_template("company/invitation_invalid.html"), 404
    if current_user.is_authenticated:
        return render_template("company/accept_invitation.html", invitation=invitation, form=None,
                               logged_in_as=_actor())
    form = AcceptInvitationForm()
    form.email_value = invitation.email
    if request.method == "POST":
        if form.validate():
            try:
                user = companies.accept_invitation(
                    token,
                    full_name=form.full_name.data or "",
                    password=form.password.data or "",
                    locale=str(get_locale() or "en"),
                )
            except NotFound:
                return render_template("company/invitation_invalid.html"), 404
            except DomainError as exc:
                form.password.errors = [str(exc)]
            else:
                log_in(user)
                flash(_("Welcome to %(company)s on Plasticonnect Hub.", company=invitation.company.name), "success")
                return redirect(url_for("company.home"))
        return render_template("company/accept_invitation.html", invitation=invitation, form=form), 400
    return render_template("company/accept_invitation.html", invitation=invitation, form=form)


@bp.after_request
def _no_store(response: Response) -> Response:
    """Invitation pages carry a secret link: never cache them."""
    if request.endpoint == "company.accept_invitation":
        response.headers["Cache-Control"] = "no-store"
    return response
