"""A live server on a free loopback port and Debian's Chromium driven by Playwright.

The app runs the way a new user runs it: migrations applied to a fresh SQLite
file, the catalog seeded by the CLI, CSRF on, tasks in-process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.config import TestingConfig
from tests.conftest import chromium_path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def _fresh_postgres_database(suffix: str) -> str | None:
    """On the PostgreSQL tier (TEST_DATABASE_URL), an empty database for the migrations to build.

    It is named after this worker's test database (``test_gw1_e2e``...): the next run drops and
    reuses it, so runs leave one scratch database per worker and suffix behind, not one per run.
    """
    if not os.environ.get("TEST_DATABASE_URL"):
        return None
    from urllib.parse import urlparse

    import sqlalchemy as sa

    from tests.conftest import _to_sqlalchemy_url, postgres_url

    url = postgres_url()
    name = f"{urlparse(url).path.lstrip('/') or 'test'}_{suffix}"
    admin = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _to_sqlalchemy_url(urlparse(url)._replace(path=f"/{name}").geturl())


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    database = _fresh_postgres_database("e2e") or f"sqlite:///{tmp_path / 'e2e.db'}"
    app = create_app(
        TestingConfig,
        TESTING=False,
        WTF_CSRF_ENABLED=True,
        SQLALCHEMY_DATABASE_URI=database,
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION=False,
    )
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=["seed-catalog"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(live_app) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


class Shots:
    """Numbered full-page screenshots of every step, kept as CI artifacts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.n = 0

    def __call__(self, page: Any, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(ARTIFACTS / request.node.name)
