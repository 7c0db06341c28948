"""Blueprint registration."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint (each module defines its own ``bp``)."""
    from app.blueprints import auth, board, company, company_jobs, expert, files, health, offers, portal, tickets

    for module in (health, auth, portal, company, company_jobs, tickets, expert, board, offers, files):
        app.register_blueprint(module.bp)
