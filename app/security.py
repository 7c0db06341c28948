"""Web-layer security: default-deny access rules on every route, and response headers.

Every view function carries an access rule set by one of the decorators below;
create_app() refuses to start if a route has none (Flask-Admin views are guarded
by their own ``is_accessible``). The rule is enforced again on every request.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from flask import Flask, Response, abort, g, redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.models import Role

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTR = "_access_rule"


def public(view: F) -> F:
    """Anyone, logged in or not."""
    setattr(view, ACCESS_ATTR, ("public",))
    return view


def login_required(view: F) -> F:
    """Any logged-in user."""
    setattr(view, ACCESS_ATTR, ("login",))
    return view


def roles_required(*roles: Role) -> Callable[[F], F]:
    """A logged-in user with one of ``roles``."""

    def decorate(view: F) -> F:
        setattr(view, ACCESS_ATTR, ("roles", frozenset(roles)))
        return view

    return decorate


def company_owner_required(view: F) -> F:
    """The owner of a company account."""
    setattr(view, ACCESS_ATTR, ("company_owner",))
    return view


def _rule_for(endpoint: str | None, app: Flask) -> tuple[Any, ...] | None:
    if endpoint is None:
        return ("public",)  # no route matched: the 404 handler answers
    if endpoint == "static" or endpoint.endswith(".static"):
        return ("public",)
    if endpoint.split(".", 1)[0] in app.extensions.get("admin_blueprints", ()):
        return ("admin",)  # Flask-Admin checks is_accessible on every view
    view = app.view_functions.get(endpoint)
    return getattr(view, ACCESS_ATTR, None)


def _enforce() -> ResponseReturnValue | None:
    from flask import current_app

    rule = _rule_for(request.endpoint, current_app)
    if rule is None:
        abort(403)  # default deny: a route without a rule is never served
    kind = rule[0]
    if kind in {"public", "admin"}:
        return None
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    if kind == "roles" and current_user.role not in rule[1]:
        abort(403)
    if kind == "company_owner" and not current_user.is_company_owner:
        abort(403)
    return None


def check_every_route_has_access_rule(app: Flask) -> None:
    """Fail at start-up when a route was added without an access rule."""
    missing = sorted(
        rule.endpoint for rule in app.url_map.iter_rules() if _rule_for(rule.endpoint, app) is None
    )
    if missing:
        raise RuntimeError("routes without an access rule: " + ", ".join(missing))


def csp_nonce() -> str:
    """The per-response nonce for the few inline scripts Flask-Admin renders."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def _headers(response: Any) -> Any:
    nonce = g.get("csp_nonce")
    script_src = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    frame_ancestors = g.get("frame_ancestors", "'none'")
    policy = "; ".join(
        [
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'" + "".join(f" {origin}" for origin in g.get("form_action_origins", ())),
            f"frame-ancestors {frame_ancestors}",
        ]
    )
    response.headers.setdefault("Content-Security-Policy", policy)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if frame_ancestors == "'self'" else "DENY")
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static" and (current_user.is_authenticated or not request.endpoint):
        response.headers["Cache-Control"] = "no-store"
    elif request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-cache")
    from flask import current_app

    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


# Served files: no script, no embedding (downloads), or framed by our own pages only (previews).
DOWNLOAD_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "object-src 'self'; plugin-types application/pdf; frame-ancestors 'self'"
)


def allow_form_action_to(origin: str) -> None:
    """Let this page's forms lead to ``origin`` too (the payment provider's hosted checkout, after a redirect)."""
    g.form_action_origins = (*g.get("form_action_origins", ()), origin)


def allow_same_origin_framing() -> None:
    """Let our own pages frame this response (inline PDF preview in the back office)."""
    g.frame_ancestors = "'self'"


def send_inert(data: bytes, name: str, content_type: str, *, safe_types: Collection[str],
               inline: bool = False) -> Response:
    """Serve a stored file so that it stays inert: a type outside ``safe_types`` as a byte stream,
    never sniffed, never cached, never read by another site; ``inline`` (previews) may be framed by
    this site's pages only, under the preview CSP."""
    response = send_file(
        io.BytesIO(data), mimetype=content_type if content_type in safe_types else "application/octet-stream",
        as_attachment=not inline, download_name=name, conditional=False, etag=False, max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    if inline:
        allow_same_origin_framing()
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
    else:
        response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


def init_app(app: Flask) -> None:
    """Install the access check and the headers."""
    app.before_request(_enforce)
    app.after_request(_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def safe_next(target: str | None, default: str) -> str:
    """Follow ``next`` only to a local path (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
