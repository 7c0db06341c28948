"""A Flask app with only the database and Flask-Migrate: what autogenerate needs.

``scripts/new_migration.sh`` uses it so that a revision can be generated from the
models alone, whatever state the rest of the application is in.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from app.extensions import db, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_migration_app() -> Flask:
    """The models' metadata bound to ``DATABASE_URL`` (SQLite by default)."""
    from app import models as _models  # noqa: F401  (register every table)

    application = Flask(__name__)
    application.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite://")
    db.init_app(application)
    migrate.init_app(application, db, directory=str(ROOT / "migrations"))
    return application


app = create_migration_app()
