"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from app.extensions import db
from tests.conftest import _to_sqlalchemy_url, make_app, postgres_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
ENUM_CHECKS = {
    ("companies", "ck_companies_verificationstatus"),
    ("companies", "ck_companies_paymentmethod"),
    ("users", "ck_users_role"),
    ("documents", "ck_documents_documentkind"),
    ("catalog_terms", "ck_catalog_terms_catalogkind"),
}


def _schema_diff(app: Flask) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def _user_tables(app: Flask) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def _check_round_trip(app: Flask) -> None:
    with app.app_context():
        flask_migrate.upgrade()
        assert _user_tables(app) == set(db.metadata.tables)
        assert _schema_diff(app) == [], "the models and the migrations differ: run scripts/new_migration.sh"
        # The enum columns reject values outside the enum in the database itself.
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    'INSERT INTO catalog_terms (kind, slug, name, name_de, "group", description, created_at,'
                    " updated_at) VALUES ('bogus', 's', 'n', '', '', '', :t, :t)"
                ),
                {"t": "2026-01-01 00:00:00+00:00"},
            )
        flask_migrate.downgrade(revision="base")
        assert _user_tables(app) == set()


def test_single_head() -> None:
    config = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; merge them with `flask db merge`"


def test_revisions_import_no_application_code() -> None:
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        assert "from app" not in text and "import app" not in text, f"{path.name} imports application code"


def test_sqlite_upgrade_matches_models_and_downgrades(tmp_path: Path, storage_dir: str) -> None:
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'migrate.db'}")
    _check_round_trip(app)
    with app.app_context():
        flask_migrate.upgrade()
        ddl = "\n".join(
            row[0] for row in db.session.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table'"))
        )
        for _table, name in ENUM_CHECKS:
            assert f"CONSTRAINT {name} CHECK" in ddl
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    admin_url = sa.make_url(_to_sqlalchemy_url(postgres_url())).set(database="postgres")
    name = f"pc_migrations_{secrets.token_hex(4)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_matches_models_and_downgrades(pg_database: str, storage_dir: str) -> None:
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=pg_database)
    _check_round_trip(app)
    with app.app_context():
        flask_migrate.upgrade()
        rows = db.session.execute(
            sa.text(
                "SELECT rel.relname, con.conname FROM pg_constraint con"
                " JOIN pg_class rel ON rel.oid = con.conrelid WHERE con.contype = 'c'"
            )
        ).all()
        assert ENUM_CHECKS <= {(r[0], r[1]) for r in rows}
        fks = {fk["name"] for fk in sa.inspect(db.engine).get_foreign_keys("companies")}
        assert "fk_companies_decided_by_id_users" in fks
        db.session.remove()
        db.engine.dispose()
