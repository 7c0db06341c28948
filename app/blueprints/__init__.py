"""Blueprint registration."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint (each module defines its own ``bp``)."""
    from app.blueprints import (
        auth,
        board,
        company,
        company_jobs,
        company_offers,
        contracts,
        earnings,
        expert,
        files,
        health,
        offers,
        payments,
        portal,
        projects,
        tickets,
        webhooks,
    )

    for module in (health, auth, portal, company, company_jobs, company_offers, tickets, expert, board, offers, files,
                   payments, webhooks, contracts, projects, earnings):
        app.register_blueprint(module.bp)
