"""Blueprint registration."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint (each module defines its own ``bp``)."""
    from app.blueprints import auth, company, expert, files, health, portal

    for module in (health, auth, portal, company, expert, files):
        app.register_blueprint(module.bp)
