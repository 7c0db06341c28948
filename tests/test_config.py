"""Configuration from the environment: strict parsing, production refusals, the health endpoint."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.config import (
    CONFIGS,
    Config,
    ConfigError,
    ProductionConfig,
    _database_url,
    config_from_env,
    parse_bool,
    parse_int,
)
from app.extensions import db
from tests.conftest import make_app, redis_url
from tests.tasks.conftest import free_port

GOOD_KEY = "3f9c1e7a5b2d48c6a0e1f7b9d3c5a8e2f4b6d8a0c2e4f6a8"
PG = "postgresql+psycopg://hub:pw@db.internal:5432/hub"
REDIS = "redis://cache.internal:6379/0"


def production(**overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "SECRET_KEY": GOOD_KEY, "SQLALCHEMY_DATABASE_URI": PG, "REDIS_URL": REDIS,
        "HUB_ADDRESS": "Plasticonnect Hub GmbH, Industriestraße 1, 70173 Stuttgart",
        "HUB_BANK_IBAN": "DE02 1203 0000 0000 2020 51", "HUB_BANK_BIC": "BYLADEM1001",
    }
    settings.update(overrides)
    return create_app(ProductionConfig, **settings)


# Production refuses to start with settings that cannot be right -------------------------


def test_production_starts_with_a_real_key_database_and_redis():
    app = production()
    assert app.config["APP_ENV"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"].startswith("__Host-")


@pytest.mark.parametrize("key", [None, ""])
def test_production_refuses_a_missing_secret_key(key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        production(SECRET_KEY=key)


@pytest.mark.parametrize("key", ["dev", "secret", "change-me", "short-key-1234", "x" * 31])
def test_production_refuses_a_short_or_default_secret_key(key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        production(SECRET_KEY=key)


@pytest.mark.parametrize("name", ["HUB_ADDRESS", "HUB_BANK_IBAN", "HUB_BANK_BIC"])
def test_production_refuses_the_demo_address_and_bank_details(name):
    from app import config

    with pytest.raises(ConfigError, match=name):
        production(**{name: getattr(config, f"DEMO_{name}")})
    with pytest.raises(ConfigError, match=name):
        production(**{name: ""})


def test_production_refuses_sqlite():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        production(SQLALCHEMY_DATABASE_URI="sqlite:////tmp/hub.db")


@pytest.mark.parametrize("url", [None, ""])
def test_production_refuses_to_run_without_redis(url):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        production(REDIS_URL=url)


def test_every_config_needs_a_secret_key_after_finalize():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(Config, SECRET_KEY=None, SQLALCHEMY_DATABASE_URI="sqlite://")


# Parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", " yes ", "On"])
def test_parse_bool_true(raw):
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off"])
def test_parse_bool_false(raw):
    assert parse_bool(raw, default=True) is False


@pytest.mark.parametrize("raw", [None, ""])
def test_parse_bool_empty_means_default(raw):
    assert parse_bool(raw) is False
    assert parse_bool(raw, default=True) is True


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y e s", "enabled"])
def test_parse_bool_refuses_junk(raw):
    with pytest.raises(ConfigError, match="not a boolean"):
        parse_bool(raw)


def test_parse_int(monkeypatch):
    monkeypatch.setenv("PC_TEST_NUMBER", "42")
    assert parse_int("PC_TEST_NUMBER", 7) == 42
    monkeypatch.setenv("PC_TEST_NUMBER", "")
    assert parse_int("PC_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("PC_TEST_NUMBER", "forty")
    with pytest.raises(ConfigError, match="PC_TEST_NUMBER must be a whole number"):
        parse_int("PC_TEST_NUMBER", 7)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://hub:pw@db:5432/hub", "postgresql+psycopg://hub:pw@db:5432/hub"),
        ("postgresql://hub@db/hub?sslmode=require", "postgresql+psycopg://hub@db/hub?sslmode=require"),
        ("postgresql+psycopg://hub@db/hub", "postgresql+psycopg://hub@db/hub"),
        ("sqlite:////srv/hub/hub.db", "sqlite:////srv/hub/hub.db"),
    ],
)
def test_database_url_normalisation(monkeypatch, raw, expected):
    monkeypatch.setenv("DATABASE_URL", raw)
    assert _database_url() == expected


def test_database_url_defaults_to_sqlite_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = _database_url()
    assert url.startswith("sqlite:///") and url.endswith("plasticonnect.db")


def test_app_env_selects_the_config(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    assert config_from_env() is ProductionConfig
    monkeypatch.delenv("APP_ENV")
    assert config_from_env() is CONFIGS["development"]
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(ConfigError, match="APP_ENV must be one of"):
        config_from_env()


def test_readme_documents_every_environment_variable():
    root = Path(__file__).resolve().parent.parent
    source = (root / "app" / "config.py").read_text()
    names = set(re.findall(r'(?:os\.environ\.get\(|os\.environ\[|parse_int\()"([A-Z][A-Z0-9_]+)"', source))
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MAIL_SERVER"} <= names
    readme = (root / "README.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README.md's configuration table lacks {missing}"


# Health endpoint -------------------------------------------------------------------------


def _health_app(storage_dir: str, redis: str) -> Iterator[Flask]:
    app = make_app(storage_dir, REDIS_URL=redis)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_health_without_redis_checks_only_the_database(storage_dir):
    for app in _health_app(storage_dir, ""):
        resp = app.test_client().get("/healthz")
        assert resp.status_code == 200
        assert set(resp.json["checks"]) == {"database"}


@pytest.mark.redis
def test_health_reports_redis_when_configured(storage_dir):
    for app in _health_app(storage_dir, redis_url()):
        resp = app.test_client().get("/healthz")
        assert resp.status_code == 200
        assert resp.json["status"] == "ok"
        assert resp.json["checks"]["redis"]["ok"] is True
        assert resp.json["checks"]["database"]["ok"] is True


def test_health_is_503_when_redis_is_down(storage_dir):
    for app in _health_app(storage_dir, f"redis://127.0.0.1:{free_port()}/0"):
        resp = app.test_client().get("/healthz")
        assert resp.status_code == 503
        assert resp.json["status"] == "unavailable"
        assert resp.json["checks"]["redis"]["ok"] is False
        assert resp.json["checks"]["redis"]["error"]
        assert resp.json["checks"]["database"]["ok"] is True
        assert resp.headers["Content-Type"].startswith("application/json")
