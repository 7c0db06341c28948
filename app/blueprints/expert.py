"""The expert's pages: status, profile, skills, languages, employers, documents and submission.

Each view parses a form, calls one service in app/services/experts.py and
either redirects with a message or re-renders the form with its errors (400),
keeping what was typed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app.blueprints import documents as documents_flow
from app.exceptions import DomainError
from app.integrations import reference
from app.models import DocumentKind, ExpertProfile, Role, User
from app.security import roles_required
from app.services import experts, uploads
from forms.companies import DocumentRemoveForm
from forms.experts import (
    BLANK_ROWS,
    LEVEL_LABELS,
    PROFICIENCY_LABELS,
    RELATION_LABELS,
    EmployersForm,
    ExpertDocumentForm,
    ExpertProfileForm,
    ExpertSubmitForm,
    LanguagesForm,
    SkillsForm,
    from_minor,
)

bp = Blueprint("expert", __name__, url_prefix="/expert")


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


@bp.app_template_global()
def language_label(code: str) -> str:
    """An ISO 639-1 code shown as the language's name in the reader's language."""
    return reference.language_name(code, str(get_locale() or "en"))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over the upload limit: say the limit instead of a bare 413."""
    message = _("The file is too large; the limit is %(limit)s. Nothing was saved.",
                limit=uploads.human_size(uploads.document_max_bytes()))
    if request.endpoint == "expert.documents" and current_user.is_authenticated and _actor().expert_profile:
        form = ExpertDocumentForm(formdata=None)
        form.file.errors = [message]
        return _render_documents(form), 413
    limit = uploads.human_size(int(current_app.config.get("MAX_CONTENT_LENGTH") or 0))
    return render_template("errors/error.html", code=413, title=_("Too large"),
                           message=_("The request is larger than %(limit)s. Nothing was saved.", limit=limit)), 413


def _page(template: str, status: int = 200, **ctx: Any) -> ResponseReturnValue:
    expert = _expert()
    return render_template(template, expert=expert, refusal=experts.edit_refusal(expert), **ctx), status


@bp.get("/")
@roles_required(Role.EXPERT)
def home() -> ResponseReturnValue:
    """Where the profile stands: status, checklist, the hub's question, and the submit button."""
    expert = _expert()
    return _page(
        "expert/home.html",
        checklist=experts.checklist(expert),
        missing=experts.missing_for_submit(expert),
        can_submit=expert.status in experts.EDITABLE_STATES,
        submit_form=ExpertSubmitForm(formdata=None),
        level_labels=LEVEL_LABELS,
        proficiency_labels=PROFICIENCY_LABELS,
    )


@bp.route("/profile", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def profile() -> ResponseReturnValue:
    """Edit the profile; a draft may be saved incomplete. After approval only availability changes."""
    actor, expert = _actor(), _expert()
    form = ExpertProfileForm(obj=expert)
    if request.method == "GET":
        form.day_rate.data = from_minor(expert.day_rate_minor, expert.currency)
        form.timezone.data = expert.timezone or "UTC"
        return _page("expert/profile.html", form=form)
    if not form.validate():
        return _page("expert/profile.html", 400, form=form)
    fields = form.service_fields()
    if expert.status not in experts.EDITABLE_STATES:
        # Only availability can change now (the other inputs are disabled and not sent).
        fields = {k: v for k, v in fields.items() if k in experts.AVAILABILITY_FIELDS}
    try:
        experts.update_expert(expert.id, actor=actor, **fields)
    except DomainError as exc:
        flash(str(exc), "danger")
        return _page("expert/profile.html", 400, form=form)
    flash(_("Your profile is saved."), "success")
    return redirect(url_for("expert.home"))


def _rows_with_blanks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows + [{} for _ in range(BLANK_ROWS)]


@bp.route("/skills", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def skills() -> ResponseReturnValue:
    """Job titles, skills, processes and materials from the catalog, each with a level."""
    actor, expert = _actor(), _expert()
    terms = experts.skill_terms()
    terms += [s.term for s in expert.skills if s.term.is_retired]  # keep what the expert already has
    if request.method == "GET":
        form = SkillsForm(data={"rows": _rows_with_blanks(
            [{"term_id": s.term_id, "level": s.level.value} for s in expert.skills])})
        form.set_terms(terms)
        return _page("expert/skills.html", form=form)
    form = SkillsForm()
    form.set_terms(terms)
    if not form.validate():
        return _page("expert/skills.html", 400, form=form)
    try:
        experts.set_expert_skills(expert.id, actor=actor, items=form.items())
    except DomainError as exc:
        flash(str(exc), "danger")
        return _page("expert/skills.html", 400, form=form)
    flash(_("Your job titles and skills are saved."), "success")
    return redirect(url_for("expert.skills"))


@bp.route("/languages", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def languages() -> ResponseReturnValue:
    """Languages with CEFR proficiency (A1–C2) or native."""
    actor, expert = _actor(), _expert()
    if request.method == "GET":
        form = LanguagesForm(data={"rows": _rows_with_blanks(
            [{"code": lang.code, "proficiency": lang.proficiency.value} for lang in expert.languages])})
        form.set_languages()
        return _page("expert/languages.html", form=form)
    form = LanguagesForm()
    form.set_languages()
    if not form.validate():
        return _page("expert/languages.html", 400, form=form)
    try:
        experts.set_expert_languages(expert.id, actor=actor, items=form.items())
    except DomainError as exc:
        flash(str(exc), "danger")
        return _page("expert/languages.html", 400, form=form)
    flash(_("Your languages are saved."), "success")
    return redirect(url_for("expert.languages"))


@bp.route("/employers", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def employers() -> ResponseReturnValue:
    """Declared current and former employers and relations, for conflict-of-interest checks."""
    actor, expert = _actor(), _expert()
    if request.method == "GET":
        form = EmployersForm(data={"rows": _rows_with_blanks(
            [{"name": e.name, "relation": e.relation.value} for e in expert.employers])})
        return _page("expert/employers.html", form=form, relation_labels=RELATION_LABELS)
    form = EmployersForm()
    if not form.validate():
        return _page("expert/employers.html", 400, form=form, relation_labels=RELATION_LABELS)
    try:
        experts.set_expert_employers(expert.id, actor=actor, items=form.items())
    except DomainError as exc:
        flash(str(exc), "danger")
        return _page("expert/employers.html", 400, form=form, relation_labels=RELATION_LABELS)
    flash(_("Your declared employers are saved."), "success")
    return redirect(url_for("expert.employers"))


def _render_documents(form: ExpertDocumentForm) -> str:
    expert = _expert()
    return render_template(
        "expert/documents.html",
        expert=expert,
        form=form,
        remove_form=DocumentRemoveForm(formdata=None),
        documents=experts.active_documents(expert),
        refusal=experts.edit_refusal(expert),
        pdf_hint=uploads.upload_hint(uploads.PDF_ONLY),
        identity_hint=uploads.upload_hint(uploads.LEGAL_TYPES),
        accept=uploads.accept_attribute(uploads.LEGAL_TYPES),
    )


@bp.route("/documents", methods=["GET", "POST"])
@roles_required(Role.EXPERT)
def documents() -> ResponseReturnValue:
    """CV, certificates and identity document: list and upload."""
    actor, expert = _actor(), _expert()
    form = ExpertDocumentForm()
    if request.method == "POST":
        return documents_flow.upload(
            form,
            lambda upload: experts.add_expert_document(
                expert.id, actor=actor, kind=DocumentKind(form.kind.data), upload=upload
            ),
            _render_documents,
            "expert.documents",
        )
    return _render_documents(form)


@bp.post("/documents/<int:document_id>/remove")
@roles_required(Role.EXPERT)
def remove_document(document_id: int) -> ResponseReturnValue:
    """Remove a document from the profile (kept on record for the hub)."""
    return documents_flow.remove(
        DocumentRemoveForm(),
        lambda: experts.remove_expert_document(document_id, actor=_actor()),
        "expert.documents",
    )


@bp.post("/submit")
@roles_required(Role.EXPERT)
def submit() -> ResponseReturnValue:
    """Submit (or resubmit) the profile for verification."""
    form = ExpertSubmitForm()
    if not form.validate():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(url_for("expert.home"))
    try:
        experts.submit_expert(_expert().id, actor=_actor(), answer=form.answer.data or "")
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("expert.home"))
    flash(_("Thank you. Your profile is submitted; the hub will review it and let you know."), "success")
    return redirect(url_for("expert.home"))
