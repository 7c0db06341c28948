"""The files tab (WORKFLOW.md §7–8): a project's documents and their versions, uploads, downloads, previews.

Every page and file is read through app/services/project_files.py, which decides
who may see it, logs each read and masks what one side typed for the other.
Files are served with ``nosniff``, a sandboxing CSP and ``no-store``; images and
PDFs may also be shown inline, framed by our own preview page only. A file of a
project someone is not on "does not exist" (404).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app.blueprints import documents as documents_flow
from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.exceptions import DomainError, NotFound
from app.models import Project
from app.security import send_inert
from app.services import previews, project_files, projects, uow, uploads
from app.services.project_files import Which
from forms.projects_files import FileUploadForm, VersionUploadForm

UPLOAD_ENDPOINTS = ("projects.upload", "projects.upload_version")
FORM_OVERHEAD = 1024 * 1024  # multipart boundaries, the title, the note and the CSRF token around the file
SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()} | {previews.GLB_CONTENT_TYPE}
PENDING_REFRESH_SECONDS = 5


# Uploads larger than the app-wide limit -----------------------------------------------------


def _allow_large_project_files() -> None:
    """Project files may be larger than MAX_CONTENT_LENGTH: raise the limit for the two upload routes."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = project_files.max_bytes() + FORM_OVERHEAD


@bp.record_once
def _install_upload_limit(state: Any) -> None:
    """Run before every other hook: CSRF protection reads the form (and so the body) in its own hook."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, _allow_large_project_files)


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A request over the upload limit: say the limit on the files page instead of a bare 413.

    Registered on the shared ``projects`` blueprint: other workspace routes get the generic message.
    """
    if request.endpoint in UPLOAD_ENDPOINTS and current_user.is_authenticated:
        message = _("The file is too large; the limit is %(limit)s per file. Nothing was saved.",
                    limit=uploads.human_size(project_files.max_bytes()))
        args = request.view_args or {}
        try:
            if "file_id" in args:
                file_id = int(args["file_id"])
                project, side = project_files.load_file(file_id, actor=actor())
                version_form = VersionUploadForm(formdata=None, prefix=_prefix(file_id))
                version_form.file.errors = [message]
                return _render(project, side, version_forms={file_id: version_form}, status=413)
            project, side = projects.load_project(int(args["project_id"]), actor=actor())
        except (NotFound, KeyError, ValueError):
            pass
        else:
            form = FileUploadForm(formdata=None)
            form.file.errors = [message]
            return _render(project, side, upload_form=form, status=413)
    limit = uploads.human_size(int(current_app.config.get("MAX_CONTENT_LENGTH") or 0))
    return render_template("errors/error.html", code=413, title=_("Too large"),
                           message=_("The request is larger than %(limit)s. Nothing was saved.", limit=limit)), 413


# Pages --------------------------------------------------------------------------------------


def _prefix(file_id: int) -> str:
    return f"v{file_id}"


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _render(project: Project, side: projects.Side, *, upload_form: FileUploadForm | None = None,
            version_forms: dict[int, VersionUploadForm] | None = None, status: int = 200) -> ResponseReturnValue:
    listing = project_files.files_page(project.id, actor=actor(), page=_page())
    forms = dict(version_forms or {})
    for file in listing:
        forms.setdefault(file.id, VersionUploadForm(formdata=None, prefix=_prefix(file.id)))
    return render_template(
        "projects/files.html", **tabs_context(project, side, "files"), listing=listing,
        upload_form=upload_form or FileUploadForm(formdata=None), version_forms=forms,
        upload_hint=project_files.upload_hint(), accept=project_files.accept_attribute(),
    ), status


@bp.get("/<int:project_id>/files")
@members_only
def files(project_id: int) -> ResponseReturnValue:
    """The project's files: each document's current version, its history, downloads and upload forms."""
    project, side = load(project_id)
    return _render(project, side)


@bp.post("/<int:project_id>/files")
@members_only
def upload(project_id: int) -> ResponseReturnValue:
    """Share a new document on the project (version 1)."""
    project, side = load(project_id)
    form = FileUploadForm()
    if not form.validate():
        return _render(project, side, upload_form=form, status=422)
    outcome = perform(lambda: project_files.upload_file(
        project.id, actor=actor(), upload=documents_flow.received(form.file.data),
        title=form.title.data or "", note=form.note.data or "",
    ))
    if isinstance(outcome, DomainError):
        _show_refusal(outcome, form.file)
        return _render(project, side, upload_form=form, status=outcome.status_code)
    version = outcome
    flash(_("“%(name)s” is shared with the project (version %(n)d).", name=version.original_name,
            n=version.number), "success")
    return redirect(url_for("projects.files", project_id=project.id) + f"#file-{version.file_id}")


@bp.post("/files/<int:file_id>/versions")
@members_only
def upload_version(file_id: int) -> ResponseReturnValue:
    """Upload a new version of a document; the earlier versions stay downloadable."""
    project, side = project_files.load_file(file_id, actor=actor())
    form = VersionUploadForm(prefix=_prefix(file_id))
    if not form.validate():
        return _render(project, side, version_forms={file_id: form}, status=422)
    outcome = perform(lambda: project_files.upload_version(
        file_id, actor=actor(), upload=documents_flow.received(form.file.data), note=form.note.data or "",
    ))
    if isinstance(outcome, DomainError):
        _show_refusal(outcome, form.file)
        return _render(project, side, version_forms={file_id: form}, status=outcome.status_code)
    version = outcome
    flash(_("Version %(n)d of “%(name)s” is shared with the project.", n=version.number,
            name=version.original_name), "success")
    return redirect(url_for("projects.files", project_id=project.id, page=_page()) + f"#file-{file_id}")


def _show_refusal(exc: DomainError, field: Any) -> None:
    """Flash why an upload was refused and show it under the file field too (the title and note are kept)."""
    flash(str(exc), "danger")
    field.errors = [str(exc)]


@bp.get("/files/versions/<int:version_id>")
@members_only
def preview(version_id: int) -> ResponseReturnValue:
    """One version's preview: the image, the PDF, or the CAD model in the 3D viewer; always downloadable."""
    page = project_files.version_page(version_id, actor=actor())
    return render_template(
        "projects/file_preview.html", **tabs_context(page.project, page.side, "files"), file=page.file,
        version=page.version, refresh_seconds=PENDING_REFRESH_SECONDS,
    )


# Files --------------------------------------------------------------------------------------


def _send(version_id: int, which: Which) -> Response:
    """Read through the service (which logs it) and serve with headers that keep the file inert."""
    try:
        name, content_type, data = project_files.open_version(version_id, actor=actor(), which=which)
        uow.commit()
    except DomainError:
        uow.rollback()
        raise
    return send_inert(data, name, content_type, safe_types=SAFE_TYPES, inline=which == "inline")


@bp.get("/files/versions/<int:version_id>/download")
@members_only
def download(version_id: int) -> ResponseReturnValue:
    """Download a version as an attachment (every download is logged)."""
    return _send(version_id, "original")


@bp.get("/files/versions/<int:version_id>/inline")
@members_only
def inline(version_id: int) -> ResponseReturnValue:
    """An image or PDF version shown inline, for the preview page's <img> or <iframe> (logged)."""
    return _send(version_id, "inline")


@bp.get("/files/versions/<int:version_id>/model.glb")
@members_only
def model(version_id: int) -> ResponseReturnValue:
    """The GLB of a CAD version's 3D preview, for the viewer; 404 until the preview is ready (logged)."""
    return _send(version_id, "preview_model")
