"""The upload and remove steps shared by the company's and the expert's document pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from app.exceptions import DomainError, NotFound
from app.models import Document
from app.services import uploads


def received(storage: FileStorage) -> uploads.Upload:
    """The uploaded file as the services take it: the name the client sent and the bytes."""
    return uploads.Upload(filename=storage.filename or "", data=storage.read())


def upload(
    form: Any, add: Callable[[uploads.Upload], Document], render: Callable[[Any], str], back: str
) -> ResponseReturnValue:
    """Validate ``form``, hand its file to the ``add`` service, and answer.

    A refused file is shown under the file field (400) with the rest of the page
    as it was; any other refusal is flashed; nothing already saved is touched.
    """
    if not form.validate():
        return render(form), 400
    try:
        document = add(received(form.file.data))
    except uploads.UploadRejected as exc:
        form.file.errors = [str(exc)]
        return render(form), 400
    except DomainError as exc:
        flash(str(exc), "danger")
        return redirect(url_for(back))
    flash(_("“%(name)s” is uploaded.", name=document.original_name), "success")
    return redirect(url_for(back))


def remove(form: Any, remove_document: Callable[[], Document], back: str) -> ResponseReturnValue:
    """Call the ``remove_document`` service and say what happened (unknown ids stay 404)."""
    if not form.validate():
        abort(400)
    try:
        document = remove_document()
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc), "danger")
    else:
        flash(_("“%(name)s” is removed.", name=document.original_name), "success")
    return redirect(url_for(back))
