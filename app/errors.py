"""Map exceptions to responses: HTML for browsers, JSON for API clients."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.exceptions import DomainError
from app.services import uow

logger = logging.getLogger(__name__)


def wants_json() -> bool:
    """Whether the client prefers JSON over HTML."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _render(code: int, title: str, message: str) -> ResponseReturnValue:
    if wants_json():
        return jsonify(error=title, message=message), code
    return render_template("errors/error.html", code=code, title=title, message=message), code


def register_error_handlers(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> ResponseReturnValue:
        uow.rollback()
        return _render(exc.status_code, exc.__class__.__name__, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        return _render(code, exc.name, exc.description or "")

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> ResponseReturnValue:
        if app.testing and app.config.get("PROPAGATE_EXCEPTIONS") is not False:
            raise exc  # tests see the real error, not a page
        logger.exception("Unhandled error on %s", request.path)
        uow.rollback()
        return _render(500, "Server error", "Something went wrong on our side. Nothing was changed; please try again.")
