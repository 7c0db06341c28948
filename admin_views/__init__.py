"""The back office: Flask-Admin views, built per app."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin_views.base import HubIndexView
from app.security import csp_nonce


def init_admin(app: Flask) -> Admin:
    """Build a fresh Admin per app (tests create many apps) and register every view."""
    admin = Admin(
        name="Plasticonnect Hub",
        index_view=HubIndexView(name="Dashboard", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(swatch="flatly", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    admin.init_app(app)
    app.extensions["admin_blueprints"] = {view.endpoint for view in admin._views} | {"admin"}
    return admin
