"""Serving stored documents: downloads for their owners and the hub, inline previews for the hub.

Files are never served from a static folder or a public URL. Every response
is an authorised read through app/services/uploads.py (which logs it), with a
safe content type, ``nosniff`` and a sandboxing CSP, so a hostile file cannot
run script in our origin. Anyone who may not see a document gets a 404, the
same as for a document that does not exist.
"""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, send_file
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.models import Document, User
from app.security import DOWNLOAD_CSP, PREVIEW_CSP, allow_same_origin_framing, login_required
from app.services import uploads

bp = Blueprint("files", __name__, url_prefix="/files")

SAFE_TYPES = {t.content_type for t in uploads.FILE_TYPES.values()}


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _send(document: Document, data: bytes, *, attachment: bool) -> Response:
    mimetype = document.content_type if document.content_type in SAFE_TYPES else "application/octet-stream"
    response = send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=attachment,
        download_name=document.original_name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:document_id>")
@login_required
def download(document_id: int) -> ResponseReturnValue:
    """Download a document as an attachment (its company's users, its expert, hub staff)."""
    document, data = uploads.open_document(document_id, actor=_actor())
    response = _send(document, data, attachment=True)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


@bp.get("/<int:document_id>/preview")
@login_required
def preview(document_id: int) -> ResponseReturnValue:
    """Show a PDF/PNG/JPEG inline, for the back office's iframe or img (hub staff only)."""
    document, data = uploads.open_document(document_id, actor=_actor(), inline=True)
    allow_same_origin_framing()
    response = _send(document, data, attachment=False)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response
