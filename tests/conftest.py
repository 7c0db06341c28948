"""Test tiers and fixtures.

- Default: in-memory SQLite, tasks in-process, no services: runs anywhere.
- ``TEST_DATABASE_URL`` (PostgreSQL) and ``TEST_REDIS_URL``: the same suite against
  the real services; tables are truncated after each test.
- Tests marked ``postgres``, ``redis`` or ``browser`` need that service; on a machine
  without it they are skipped with the reason, and with ``REQUIRE_SERVICES=1`` (CI)
  the skip becomes a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import TestingConfig
from app.extensions import db
from app.models import User
from tests import factories

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def service_unavailable(reason: str) -> None:
    """Skip with the reason, or fail when CI requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def postgres_url() -> str:
    """A PostgreSQL URL for tests that need one (this worker's own database), or skip/fail."""
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_PG
    if not url.startswith("postgres"):
        url = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_PG
    if not _reachable(url, 5432):
        service_unavailable(f"PostgreSQL is not reachable at {url}")
    return _per_worker_database(url)


def redis_url() -> str:
    """A Redis URL for tests that need one (this worker's own database number), or skip/fail."""
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS
    if not _reachable(url, 6379):
        service_unavailable(f"Redis is not reachable at {url}")
    return _per_worker_redis(url)


def chromium_path() -> str:
    """Debian's Chromium for browser tests, or skip/fail."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(path).exists():
        service_unavailable(f"Chromium is not installed at {path} (apt-get install -y chromium)")
    return path


def _to_sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


_SCHEMA_READY: set[str] = set()


@pytest.fixture
def storage_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="pc-uploads-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _worker_index() -> int:
    """0 without pytest-xdist, else the worker's number (gw0 -> 0, gw1 -> 1, ...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def _per_worker_database(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (test_gw1, ...)."""
    index = _worker_index()
    if index == 0:
        return url
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_gw{index}"
    engine = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return parsed._replace(path=f"/{name}").geturl()


def _per_worker_redis(url: str) -> str:
    """Under pytest-xdist each worker uses its own Redis database number (15, 14, ...)."""
    parsed = urlparse(url)
    base = int(parsed.path.lstrip("/") or 0)
    return parsed._replace(path=f"/{max(0, base - _worker_index())}").geturl()


def make_app(storage_dir: str, **overrides: Any) -> Flask:
    """An app on the tier chosen by the environment (SQLite by default)."""
    seal_dir = Path(tempfile.gettempdir()) / f"pc-test-seal-{os.getpid()}"  # one hub seal per test process
    settings: dict[str, Any] = {
        "STORAGE_LOCAL_PATH": storage_dir,
        "HUB_SIGNING_KEY_PATH": str(seal_dir / "hub-seal-key.pem"),
        "HUB_SIGNING_CERT_PATH": str(seal_dir / "hub-seal-cert.pem"),
    }
    db_url = os.environ.get("TEST_DATABASE_URL")
    if db_url:
        settings["SQLALCHEMY_DATABASE_URI"] = _to_sqlalchemy_url(_per_worker_database(db_url))
    if os.environ.get("TEST_REDIS_URL"):
        settings["REDIS_URL"] = _per_worker_redis(os.environ["TEST_REDIS_URL"])
    settings.update(overrides)
    if str(settings.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        # No wait for the WAL flush at each commit: a test database need not survive a crash.
        settings.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            "pool_pre_ping": True, "connect_args": {"options": "-c synchronous_commit=off"}})
    return create_app(TestingConfig, **settings)


def _create_schema(application: Flask) -> None:
    uri = application.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        db.create_all()
    elif uri not in _SCHEMA_READY:
        # Start from an empty schema: a database left by another checkout may hold tables
        # (and trigger functions) these models do not know, which drop_all() could not drop.
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        db.create_all()
        _SCHEMA_READY.add(uri)


def _clear_tables(application: Flask) -> None:
    """Empty every table (ids restart at 1), fast enough to run after each test."""
    tables = list(reversed(db.metadata.sorted_tables))
    if application.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with db.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for table in tables:
                conn.execute(table.delete())
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    else:
        # A test leaves a few rows in a few tables. TRUNCATE costs a new file per table (about
        # 0.4 s a test): probe which tables have rows in one query, DELETE from those with foreign
        # keys and triggers off for this transaction (the ledger's no-DELETE trigger included; the
        # test role is a superuser), and restart every id sequence (a rolled-back insert advances one).
        probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
        sequences = ", ".join(f"setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false)"
                              for t in tables if "id" in t.c and t.c.id.primary_key and t.c.id.autoincrement)
        with db.engine.begin() as conn:
            filled = [row[0] for row in conn.execute(sa.text(probe))]
            if filled:
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                conn.execute(sa.text("; ".join(f'DELETE FROM "{name}"' for name in filled)))
            if sequences:
                conn.execute(sa.text(f"SELECT {sequences}"))


def compile_translations() -> None:
    """Compile the .po catalogs when the .mo is missing or older (a bare `pytest` on a fresh clone)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parent.parent / "app" / "translations"
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalog = read_po(src)
            tmp = mo.with_suffix(f".mo.{os.getpid()}")
            with tmp.open("wb") as dst:
                write_mo(dst, catalog)
            tmp.replace(mo)  # atomic: parallel workers never read half a file


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for the whole run (building one costs ~0.3 s and its templates compile once)."""
    compile_translations()
    application = make_app(str(tmp_path_factory.mktemp("uploads")))
    with application.app_context():
        _create_schema(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def app(shared_app: Flask, storage_dir: str) -> Iterator[Flask]:
    """The shared app with an empty database, its own upload folder and pristine config."""
    from app.extensions import limiter

    saved_config = dict(shared_app.config)
    saved_extensions = dict(shared_app.extensions)
    shared_app.config["STORAGE_LOCAL_PATH"] = storage_dir
    with shared_app.app_context():
        limiter.reset()
        if shared_app.config.get("REDIS_URL"):
            from app.tasks.queue import connection

            connection().flushdb()
        try:
            yield shared_app
        finally:
            db.session.remove()
            _clear_tables(shared_app)
    shared_app.config.clear()
    shared_app.config.update(saved_config)
    shared_app.extensions.clear()
    shared_app.extensions.update(saved_extensions)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, user: User) -> FlaskClient:
    """Log ``user`` in on ``client`` through a real server-side session (2FA already passed)."""
    from app.login import SESSION_KEY
    from app.services import sessions

    token = sessions.open_session(user, ip="127.0.0.1", user_agent="pytest")
    with client.session_transaction() as sess:
        sess.clear()
        sess[SESSION_KEY] = token
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True
    return client


@pytest.fixture
def f(app: Flask) -> Any:
    """The factories, bound to the app's database."""
    return factories


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """With REQUIRE_SERVICES=1 (CI) a skipped test is a failed test, whatever the reason."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped while REQUIRE_SERVICES=1 (CI): {reason}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``) the browser tests share one worker, one after the other:
    each starts a live server and a Chromium, and two at a time on two cores only slow each other down."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.xdist_group("browser"))
