"""Build the 3D preview (GLB) of an uploaded CAD file version in the background.

The upload sets ``preview_status = PENDING`` on a version whose ``file_type`` is in
``previews.CAD_PREVIEW_TYPES`` and, after its commit, calls :func:`enqueue_preview`.
The task converts the stored file in a limited subprocess (app/services/previews.py),
stores the GLB (``model/gltf-binary``, in metres) under ``projects/<id>/previews/<hex>``
and records READY with ``preview_key``, or FAILED with a message that can be shown to
the project's members. Open project pages hear about it through the Socket.IO event
``file_preview`` ``{"version_id", "file_id", "status"}`` in the room ``project:<id>``.

Settings (optional): ``CAD_PREVIEW_TIMEOUT_SECONDS`` and ``CAD_PREVIEW_MEMORY_MB`` (app/config.py).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from app.extensions import db
from app.integrations.storage import BlobNotFound, StorageError, get_storage
from app.models.projects import PreviewStatus, ProjectFile, ProjectFileVersion
from app.services import previews, uow
from app.services.uploads import new_storage_key
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)
PREVIEW_EVENT = "file_preview"


@with_app_context
def build_preview(version_id: int) -> bool:
    """Convert one PENDING version and record the result; True when a preview was stored.

    Safe to run twice or concurrently: a version that is no longer PENDING is left alone,
    and the result is written with a compare-and-set on ``preview_status``, so the loser
    of a race deletes its blob and changes nothing. A storage outage raises (the version
    stays PENDING and the job can be retried); any other error is recorded as FAILED.
    """
    version = db.session.get(ProjectFileVersion, version_id)
    if version is None or version.preview_status is not PreviewStatus.PENDING:
        return False
    storage_key, file_type = version.storage_key, version.file_type
    project_id = db.session.scalar(sa.select(ProjectFile.project_id).where(ProjectFile.id == version.file_id))
    uow.rollback()  # end the read transaction: no connection stays "idle in transaction" during the conversion
    try:
        data = get_storage().get(storage_key)
        preview = previews.convert_to_glb(
            data,
            file_type,
            timeout_s=float(current_app.config.get("CAD_PREVIEW_TIMEOUT_SECONDS", previews.DEFAULT_TIMEOUT_S)),
            memory_mb=int(current_app.config.get("CAD_PREVIEW_MEMORY_MB", previews.DEFAULT_MEMORY_MB)),
        )
    except previews.PreviewFailed as exc:
        return _record_failure(version_id, str(exc))
    except BlobNotFound:
        logger.error("File version %s has no blob at %s", version_id, storage_key)
        return _record_failure(version_id, _("No 3D preview could be built: the file is no longer available."))
    except StorageError:
        raise  # transient: stays PENDING, the job is retried
    except Exception:  # a bug or the OS refusing a process: record it rather than leave "pending" forever
        logger.exception("Preview of file version %s failed unexpectedly", version_id)
        return _record_failure(version_id, _("No 3D preview could be built just now. Download the file to view it."))
    logger.info("Preview of file version %s: %d triangles, %.1f x %.1f x %.1f mm, %d bytes in %.2f s",
                version_id, preview.triangles, *preview.size_mm, len(preview.glb), preview.seconds)
    key = new_storage_key(f"projects/{project_id}/previews")
    storage = get_storage()
    storage.put(key, preview.glb, content_type=previews.GLB_CONTENT_TYPE)
    try:
        won = _finish(version_id, PreviewStatus.READY, preview_key=key, preview_error="")
    except BaseException:
        _delete_quietly(key)
        raise
    if not won:
        _delete_quietly(key)
        return False
    _announce(version_id)
    return True


def _record_failure(version_id: int, message: str) -> bool:
    logger.info("No preview for file version %s: %s", version_id, message)
    if _finish(version_id, PreviewStatus.FAILED, preview_key=None, preview_error=message):
        _announce(version_id)
    return False


def _finish(version_id: int, status: PreviewStatus, *, preview_key: str | None, preview_error: str) -> bool:
    """Set the result only if the version is still PENDING, and commit; False if someone else finished first."""
    result = db.session.execute(
        sa.update(ProjectFileVersion)
        .where(ProjectFileVersion.id == version_id, ProjectFileVersion.preview_status == PreviewStatus.PENDING)
        .values(preview_status=status, preview_key=preview_key, preview_error=preview_error)
        .execution_options(synchronize_session="fetch")
    )
    if getattr(result, "rowcount", 0) != 1:
        uow.rollback()
        return False
    uow.commit()
    return True


def _delete_quietly(key: str) -> None:
    try:
        get_storage().delete(key)
    except StorageError:
        logger.warning("Could not delete the unused preview blob %s", key, exc_info=True)


def _announce(version_id: int) -> None:
    """Tell the project's open pages that this version's preview changed (best effort, after the commit)."""
    try:
        from app.extensions import socketio

        version = db.session.get(ProjectFileVersion, version_id)
        if version is None:
            return
        project_id = version.file.project_id
        from app.services.projects import Side, room

        for side in Side:
            socketio.emit(
                PREVIEW_EVENT,
                {"project_id": project_id, "version_id": version.id, "file_id": version.file_id,
                 "status": version.preview_status.value},
                to=room(project_id, side),
            )
    except Exception:
        logger.warning("Could not announce the preview of file version %s", version_id, exc_info=True)


def enqueue_preview(version_id: int) -> None:
    """Queue :func:`build_preview` (call it after the commit that set PENDING, e.g. with ``uow.after_commit``)."""
    from app.tasks.queue import enqueue_quietly

    enqueue_quietly(build_preview, version_id, queue_name="low")
