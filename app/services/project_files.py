"""The files of a project workspace (WORKFLOW.md §7–8): documents with numbered versions.

Any member of the project (the company's users, the expert or the QC expert, the
hub) shares files while the project is active. A file passes the same content and
size checks as a job attachment (app/services/uploads.py, ``PROJECT_FILE_MAX_MB``);
when the company or the expert uploads it, the author and organisation that CAD
and office files carry in their headers are then removed
(app/services/file_metadata.py), so the other side cannot learn who made it. The
stored bytes are the stripped ones; what was removed is kept for the hub.

Every version stays downloadable. CAD models (STL, STEP, IGES) get a 3D preview
built in the background (app/tasks/previews.py); images and PDFs are previewed
from the file itself. Every read — download, inline preview, 3D model — is in the
audit log. Someone who is not on the project learns nothing: the file "does not
exist". Titles, notes and names typed by one side are shown with contact details
masked to the other side, as in the channel.

The functions never commit: the caller commits with ``uow.commit()``. A stored
blob whose transaction is rolled back is deleted again, so no file is left behind
that no row points to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session, SessionTransaction

from app.exceptions import NotFound, ValidationFailed
from app.extensions import db
from app.integrations.storage import BlobNotFound, StorageError, get_storage
from app.models import MessageKind, PreviewStatus, Project, ProjectFile, ProjectFileVersion, User
from app.models.mixins import utcnow
from app.pagination import Pager, clamp
from app.services import audit, file_metadata, masking, notifications, previews, projects, uow, uploads
from app.services.projects import Side
from app.services.uploads import CleanFile, Upload

logger = logging.getLogger(__name__)

Which = Literal["original", "preview_model", "inline"]
WHICH: frozenset[str] = frozenset({"original", "preview_model", "inline"})
IMAGE_TYPES = frozenset({"png", "jpeg"})
INLINE_TYPES = IMAGE_TYPES | {"pdf"}  # shown from the file itself, in an <img> or an <iframe>
TITLE_MAX = 200
NOTE_MAX = 2000
FILES_PER_PAGE = 20
_AUTHOR_SIDES = {"company": Side.COMPANY, "expert": Side.EXPERT, "qc": Side.EXPERT, "hub": Side.HUB}


def _not_found() -> NotFound:
    return NotFound(_("This file does not exist or you are not a member of its project."))


# Limits and hints ---------------------------------------------------------------------------


def max_bytes() -> int:
    """The size limit of one project file (PROJECT_FILE_MAX_MB, default 200 MB)."""
    return int(current_app.config.get("PROJECT_FILE_MAX_MB", 200)) * 1024 * 1024


def upload_hint() -> str:
    """The sentence under the file field: accepted types, the limit, what happens to metadata."""
    return _("STEP, IGES, STL, DXF, DWG, PDF, PNG, JPEG, XLSX or CSV, up to %(limit)s each. The content is checked; "
             "author and company names are removed from the files the company and the expert share.",
             limit=uploads.human_size(max_bytes()))


def accept_attribute() -> str:
    """The ``accept`` attribute of the file inputs."""
    return uploads.accept_attribute(uploads.JOB_TYPES)


# Uploads ------------------------------------------------------------------------------------


def _clean_title(title: str, fallback: str) -> str:
    title = " ".join((title or "").split())
    if len(title) > TITLE_MAX:
        raise ValidationFailed(_("A title can have at most %(n)d characters; this one has %(m)d.",
                                 n=TITLE_MAX, m=len(title)))
    return title or fallback[:TITLE_MAX]


def _clean_note(note: str) -> str:
    note = (note or "").replace("\r\n", "\n").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(_("A note can have at most %(n)d characters; this one has %(m)d.",
                                 n=NOTE_MAX, m=len(note)))
    return note


def _checked(upload: Upload, side: Side) -> tuple[CleanFile, str]:
    """The file checked and cleaned as a job attachment, then stripped of its author when not the hub's."""
    clean = uploads.check_job_file(upload, max_bytes=max_bytes())
    if side is Side.HUB:
        return clean, ""
    stripped = file_metadata.strip_metadata(clean.data, clean.file_type.code)
    if stripped.data != clean.data:
        clean = dataclasses.replace(clean, data=stripped.data, sha256=hashlib.sha256(stripped.data).hexdigest())
    return clean, ", ".join(stripped.removed)


def _preview_status(file_type: str) -> PreviewStatus:
    if file_type in previews.CAD_PREVIEW_TYPES:
        return PreviewStatus.PENDING
    if file_type in INLINE_TYPES:
        return PreviewStatus.READY  # previewed from the original itself
    return PreviewStatus.NONE


def _new_version(file: ProjectFile, number: int, clean: CleanFile, *, key: str, actor: User, note: str,
                 removed: str) -> ProjectFileVersion:
    version = ProjectFileVersion(
        file_id=file.id, number=number, storage_key=key, original_name=clean.name, file_type=clean.file_type.code,
        content_type=clean.content_type, size_bytes=clean.size, sha256=clean.sha256, note=note,
        metadata_removed=removed, uploaded_by_id=actor.id, uploaded_at=utcnow(),
        preview_status=_preview_status(clean.file_type.code), preview_key=None, preview_error="",
    )
    db.session.add(version)
    db.session.flush()
    return version


def upload_file(project_id: int, *, actor: User, upload: Upload, title: str = "", note: str = "") -> ProjectFileVersion:
    """Share a new document on the project: its version 1.

    Who: any member of the project (company, expert or QC expert, hub), while the project is active.
    Effects: the blob is stored (stripped of author metadata when the company or the expert
    uploads it), a FILE message is posted to the channel, the other sides' members are notified
    (``project.file_shared``), ``project_file.uploaded`` is audited; a CAD model's 3D preview is
    queued after the commit. The caller commits.

    :raises NotFound: no such project, or ``actor`` is not on it.
    :raises ValidationFailed: the project is closed, or the title or note is too long.
    :raises uploads.UploadRejected: the file itself is refused (the message says why).
    """
    project, side = projects.load_project(project_id, actor=actor)
    projects.require_writable(project)
    note = _clean_note(note)
    title = _clean_title(title, uploads.sanitize_filename(upload.filename))
    clean, removed = _checked(upload, side)
    with uploads.stored(clean, prefix=f"projects/{project.id}/files") as key:
        now = utcnow()
        file = ProjectFile(project_id=project.id, title=title, created_by_id=actor.id, created_at=now,
                           updated_at=now, version_count=1)
        db.session.add(file)
        db.session.flush()
        version = _new_version(file, 1, clean, key=key, actor=actor, note=note, removed=removed)
        _record(project, file, version, actor=actor, side=side, action="project_file.uploaded")
    delete_if_rolled_back(key)
    return version


def upload_version(file_id: int, *, actor: User, upload: Upload, note: str = "") -> ProjectFileVersion:
    """Upload version n+1 of a project file; the earlier versions stay downloadable.

    Who: any member of the file's project, while the project is active.
    Effects: as :func:`upload_file`, audited as ``project_file.version_uploaded``. The caller commits.

    :raises NotFound: no such file, or ``actor`` is not on its project.
    :raises ValidationFailed: the project is closed, or the note is too long.
    :raises uploads.UploadRejected: the file itself is refused (the message says why).
    """
    project, side = load_file(file_id, actor=actor)
    projects.require_writable(project)
    note = _clean_note(note)
    clean, removed = _checked(upload, side)  # before the lock: checking a large file takes a while
    with uploads.stored(clean, prefix=f"projects/{project.id}/files") as key:
        file = db.session.get(ProjectFile, file_id, with_for_update=True, populate_existing=True)
        if file is None:
            raise _not_found()
        file.version_count += 1
        file.updated_at = utcnow()
        version = _new_version(file, file.version_count, clean, key=key, actor=actor, note=note, removed=removed)
        _record(project, file, version, actor=actor, side=side, action="project_file.version_uploaded")
    delete_if_rolled_back(key)
    return version


def _record(project: Project, file: ProjectFile, version: ProjectFileVersion, *, actor: User, side: Side,
            action: str) -> None:
    """Audit the upload, announce it in the channel, notify the other sides, queue the 3D preview."""
    audit.record(action, actor=actor, entity="project_files", entity_id=file.id, data={
        "project_id": project.id, "version_id": version.id, "number": version.number, "sha256": version.sha256,
        "size": version.size_bytes, "file_type": version.file_type, "side": side.value,
        "metadata_removed": version.metadata_removed,
    })
    if side is not Side.HUB:
        findings = sum(len(masking.mask_contacts(text).findings) for text in (file.title, version.note,
                                                                              version.original_name) if text)
        if findings:
            audit.record("project_file.masked", actor=actor, entity="project_files", entity_id=file.id,
                         data={"project_id": project.id, "version_id": version.id, "findings": findings})
    shown = _masked(file.title) if side is not Side.HUB else file.title
    projects.system_message(project, "file_shared", kind=MessageKind.FILE, file_version_id=version.id,
                            name=shown, number=version.number)
    link = f"/projects/{project.id}/files#file-{file.id}"
    for other in Side:
        if other is side:
            continue
        for user in projects.member_users(project, side=other):
            if user.id != actor.id:
                notifications.notify(user, "project.file_shared", link=link, project=projects.project_label(project),
                                     name=file.title if other is Side.HUB else shown, number=version.number)
    if version.preview_status is PreviewStatus.PENDING:
        from app.tasks import queue
        from app.tasks.previews import build_preview

        uow.after_commit(queue.enqueue_quietly, build_preview, version.id, queue_name="low")


# A blob stored for a transaction that is then rolled back is deleted again.

_NEW_BLOBS = "project_files.new_blobs"


def delete_if_rolled_back(key: str) -> None:
    """Delete the stored blob ``key`` if the current transaction rolls back (uploads written before commit)."""
    db.session.info.setdefault(_NEW_BLOBS, []).append(key)


@sa.event.listens_for(Session, "after_commit")
def _keep_new_blobs(session: Session) -> None:
    session.info.pop(_NEW_BLOBS, None)


@sa.event.listens_for(Session, "after_soft_rollback")
def _delete_new_blobs(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is not None:
        return
    for key in session.info.pop(_NEW_BLOBS, []):
        try:
            get_storage().delete(key)
        except StorageError:
            logger.warning("Could not delete blob %s of a rolled-back upload", key, exc_info=True)


# Reading ------------------------------------------------------------------------------------


def _masked(text: str) -> str:
    if not text:
        return text
    result = masking.mask_contacts(text)
    return result.text if result.changed else text


def _shown(text: str, author: Side | None, reader: Side) -> str:
    """What ``reader`` sees of a text typed by ``author``: contact details masked across the parties."""
    if reader is Side.HUB or author is None or author is Side.HUB or author is reader:
        return text
    return _masked(text)


def _shown_name(name: str, author: Side | None, reader: Side) -> str:
    """A file name as ``reader`` sees it: the stem masked like any text, the extension kept."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    shown = _shown(stem, author, reader)
    return name if shown == stem else uploads.sanitize_filename(f"{shown}{dot}{ext}")


@dataclass(frozen=True)
class VersionView:
    """One version as a member reads it."""

    id: int
    file_id: int
    number: int
    name: str  # the file name (masked for the other side)
    file_type: str
    type_label: str
    size_bytes: int
    size: str  # human-readable
    sha256: str
    note: str
    metadata_removed: str  # what was stripped; only the hub reads it ("" for the others)
    uploaded_by: str  # the side's label: "Expert T001", "Plasticonnect Hub · Ann", a company user's name
    uploaded_by_side: str  # company | expert | qc | hub
    uploaded_at: datetime
    mine: bool
    preview_status: str  # none | pending | ready | failed
    preview_error: str

    @property
    def is_image(self) -> bool:
        return self.file_type in IMAGE_TYPES

    @property
    def is_pdf(self) -> bool:
        return self.file_type == "pdf"

    @property
    def is_cad(self) -> bool:
        return self.file_type in previews.CAD_PREVIEW_TYPES

    @property
    def has_preview_page(self) -> bool:
        return self.file_type in INLINE_TYPES or self.is_cad


@dataclass(frozen=True)
class FileView:
    """A document with its versions, newest first."""

    id: int
    title: str
    versions: list[VersionView]
    created_by: str
    updated_at: datetime

    @property
    def current(self) -> VersionView:
        return self.versions[0]

    @property
    def version_count(self) -> int:
        return len(self.versions)


@dataclass(frozen=True)
class FilesPage(Pager):
    """A page of the project's files, newest activity first; iterates over the files."""

    files: list[FileView] = field(default_factory=list)

    def __iter__(self) -> Iterator[FileView]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _views(project: Project, side: Side, reader: User, files: Sequence[ProjectFile]) -> list[FileView]:
    if not files:
        return []
    versions: dict[int, list[ProjectFileVersion]] = {}
    for v in db.session.scalars(sa.select(ProjectFileVersion).where(
            ProjectFileVersion.file_id.in_([f.id for f in files]))
            .order_by(ProjectFileVersion.file_id, ProjectFileVersion.number.desc())):
        versions.setdefault(v.file_id, []).append(v)
    authors = {v.uploaded_by_id for vs in versions.values() for v in vs} | {f.created_by_id for f in files}
    labels = projects.author_labels(project, authors)
    hub = side is Side.HUB

    def label(user_id: int) -> tuple[str, str, Side | None]:
        text, author_side = labels.get(user_id, (_("Former member"), "platform"))
        return text, author_side, _AUTHOR_SIDES.get(author_side)

    out = []
    for f in files:
        rows = []
        for v in versions.get(f.id, []):
            who, who_side, author = label(v.uploaded_by_id)
            file_type = uploads.FILE_TYPES.get(v.file_type)
            rows.append(VersionView(
                id=v.id, file_id=f.id, number=v.number,
                name=_shown_name(v.original_name, author, side),
                file_type=v.file_type, type_label=file_type.label if file_type else v.file_type.upper(),
                size_bytes=v.size_bytes, size=uploads.human_size(v.size_bytes), sha256=v.sha256,
                note=_shown(v.note, author, side), metadata_removed=v.metadata_removed if hub else "",
                uploaded_by=who, uploaded_by_side=who_side, uploaded_at=v.uploaded_at,
                mine=v.uploaded_by_id == reader.id,
                preview_status=v.preview_status.value, preview_error=v.preview_error,
            ))
        if not rows:
            continue  # a file is created with its first version; none would be a half-written row
        creator, _creator_side, creator_author = label(f.created_by_id)
        out.append(FileView(id=f.id, title=_shown(f.title, creator_author, side), versions=rows, created_by=creator,
                            updated_at=f.updated_at))
    return out


def files_page(project_id: int, *, actor: User, page: int = 1, per_page: int = FILES_PER_PAGE) -> FilesPage:
    """The project's files with all their versions, as ``actor`` reads them (most recently changed first).

    Uploaders appear by their side's label: an expert by pseudonym, the hub as the hub, company users
    by name. Only the hub reads what metadata was removed.

    :raises NotFound: no such project, or ``actor`` is not on it.
    """
    project, side = projects.load_project(project_id, actor=actor)
    total = db.session.scalar(sa.select(sa.func.count(ProjectFile.id)).where(ProjectFile.project_id == project.id)) or 0
    page = clamp(page, per_page, total)
    files = list(db.session.scalars(
        sa.select(ProjectFile).where(ProjectFile.project_id == project.id)
        .order_by(ProjectFile.updated_at.desc(), ProjectFile.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ))
    return FilesPage(files=_views(project, side, actor, files), total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class VersionPage:
    """One version with its document and project, for the preview page."""

    project: Project
    side: Side
    file: FileView
    version: VersionView


def load_file(file_id: int, *, actor: User) -> tuple[Project, Side]:
    """The project of a file and the actor's side on it.

    :raises NotFound: no such file, or ``actor`` is not on its project.
    """
    file = db.session.get(ProjectFile, file_id)
    if file is None:
        raise _not_found()
    try:
        return projects.load_project(file.project_id, actor=actor)
    except NotFound:
        raise _not_found() from None


def _load_version(version_id: int, actor: User) -> tuple[ProjectFileVersion, Project, Side]:
    version = db.session.get(ProjectFileVersion, version_id)
    if version is None:
        raise _not_found()
    try:
        project, side = projects.load_project(version.file.project_id, actor=actor)
    except NotFound:
        raise _not_found() from None
    return version, project, side


def version_page(version_id: int, *, actor: User) -> VersionPage:
    """One version and its document as ``actor`` reads them (the preview page).

    :raises NotFound: no such version, or ``actor`` is not on its project.
    """
    version, project, side = _load_version(version_id, actor)
    (file,) = _views(project, side, actor, [version.file])
    current = next(v for v in file.versions if v.id == version.id)
    return VersionPage(project=project, side=side, file=file, version=current)


def open_version(version_id: int, *, actor: User, which: Which) -> tuple[str, str, bytes]:
    """Read a version for ``actor``: ``(download name, content type, bytes)``; every read is audited.

    ``which``: ``original`` (the stored file), ``inline`` (the same, for images and PDFs shown on the
    preview page) or ``preview_model`` (the GLB of a CAD model, once its preview is READY).
    Who: any member of the project, also after it closed.
    Effects: ``project_file.downloaded`` (version, which, side) is audited. The caller commits.

    :raises NotFound: no such version or preview, ``actor`` is not on its project, or the blob is gone.
    """
    if which not in WHICH:
        raise _not_found()
    version, project, side = _load_version(version_id, actor)
    if which == "inline" and version.file_type not in INLINE_TYPES:
        raise NotFound(_("This file type cannot be shown in the page; download it instead."))
    if which == "preview_model":
        if version.preview_status is not PreviewStatus.READY or not version.preview_key:
            raise NotFound(_("The 3D preview of this file is not ready."))
        key, content_type = version.preview_key, previews.GLB_CONTENT_TYPE
    else:
        key, content_type = version.storage_key, version.content_type
    try:
        data = get_storage().get(key)
    except BlobNotFound as exc:
        logger.error("File version %s has no blob at %s", version.id, key)
        raise NotFound(_("This file is no longer available. Please contact the hub.")) from exc
    labels = projects.author_labels(project, [version.uploaded_by_id])
    author = _AUTHOR_SIDES.get(labels.get(version.uploaded_by_id, ("", "platform"))[1])
    name = _shown_name(version.original_name, author, side)
    if which == "preview_model":
        stem = name.rpartition(".")[0] or name
        name = f"{stem}.glb"
    audit.record("project_file.downloaded", actor=actor, entity="project_file_versions", entity_id=version.id,
                 data={"project_id": project.id, "file_id": version.file_id, "version_id": version.id,
                       "number": version.number, "which": which, "side": side.value, "sha256": version.sha256})
    return name, content_type, data
