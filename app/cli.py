"""Command-line tasks: ``flask seed-catalog``, ``flask seed-demo``, ``flask create-admin``, ..."""

from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach the commands."""

    @app.cli.group("outbox")
    def outbox_group() -> None:
        """Deliver outgoing e-mails and other effects."""

    @outbox_group.command("sweep")
    def outbox_sweep() -> None:
        """Deliver every due message now (retries included)."""
        from app.tasks.outbox import sweep

        click.echo(f"delivered {sweep()} message(s)")
