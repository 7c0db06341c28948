"""Settings from the environment, with embedded defaults.

No variable set: SQLite in the instance folder, tasks run in-process, files on
the local disk, e-mail recorded in the outbox that admins read. Setting
``DATABASE_URL``, ``REDIS_URL``, ``MAIL_SERVER`` or ``STORAGE_*`` switches each
part to the real service. ``APP_ENV=production`` refuses to start without a
real secret key and the real services.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("INSTANCE_PATH", ROOT / "instance"))


# Placeholders of the embedded default; ProductionConfig.validate refuses them.
DEMO_HUB_ADDRESS = "Address to be configured (HUB_ADDRESS)"
DEMO_HUB_BANK_IBAN = "DE89 3704 0044 0532 0130 00"
DEMO_HUB_BANK_BIC = "DEMODEFFXXX"

class ConfigError(RuntimeError):
    """The configuration cannot run."""


def parse_bool(value: str | None, default: bool = False) -> bool:
    """Strict boolean parsing: junk raises instead of silently meaning False."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def parse_int(name: str, default: int) -> int:
    """An integer setting; junk raises."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return f"sqlite:///{INSTANCE / 'plasticonnect.db'}"
    # Accept the common "postgres://" spelling and use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _dev_secret_key() -> str:
    """A random key kept in the instance folder, so dev sessions survive restarts."""
    path = INSTANCE / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        INSTANCE.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        path.chmod(0o600)
        return key


class Config:
    APP_ENV = "development"
    SECRET_KEY: str | None = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    # Uploads
    STORAGE_BACKEND = os.environ.get("STORAGE_BACKEND", "local")
    STORAGE_LOCAL_PATH = os.environ.get("STORAGE_LOCAL_PATH", str(INSTANCE / "uploads"))
    MAX_CONTENT_LENGTH = parse_int("MAX_UPLOAD_MB", 25) * 1024 * 1024
    DOCUMENT_MAX_BYTES = parse_int("DOCUMENT_MAX_MB", 10) * 1024 * 1024
    DOCUMENT_MAX_PIXELS = parse_int("DOCUMENT_MAX_PIXELS", 40_000_000)
    MATCH_STORE_TOP = parse_int("MATCH_STORE_TOP", 100)
    MATCH_NOTIFY_TOP = parse_int("MATCH_NOTIFY_TOP", 10)
    # S3-compatible object storage (STORAGE_BACKEND=s3); credentials come from the
    # usual AWS variables, a profile or an instance role.
    STORAGE_S3_BUCKET = os.environ.get("STORAGE_S3_BUCKET", "")
    STORAGE_S3_ENDPOINT_URL = os.environ.get("STORAGE_S3_ENDPOINT_URL", "")
    STORAGE_S3_REGION = os.environ.get("STORAGE_S3_REGION", "")

    # Mail: SMTP when MAIL_SERVER is set, else the in-app outbox.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = parse_int("MAIL_PORT", 25)
    MAIL_USE_TLS = parse_bool(os.environ.get("MAIL_USE_TLS"))
    MAIL_USE_SSL = parse_bool(os.environ.get("MAIL_USE_SSL"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Plasticonnect Hub <hub@plasticonnect.local>")

    # Sessions and security
    SESSION_COOKIE_NAME = "pc_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = parse_bool(os.environ.get("SESSION_COOKIE_SECURE"))
    SESSION_IDLE_MINUTES = parse_int("SESSION_IDLE_MINUTES", 120)
    SESSION_ABSOLUTE_HOURS = parse_int("SESSION_ABSOLUTE_HOURS", 24)
    LOGIN_MAX_FAILURES_PER_ACCOUNT = parse_int("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
    LOGIN_MAX_FAILURES_PER_IP = parse_int("LOGIN_MAX_FAILURES_PER_IP", 20)
    LOGIN_THROTTLE_MINUTES = parse_int("LOGIN_THROTTLE_MINUTES", 15)
    PROXY_FIX_HOPS = parse_int("PROXY_FIX_HOPS", 0)
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or (
        os.environ.get("REDIS_URL") or "memory://"
    )
    RATELIMIT_HEADERS_ENABLED = True

    # Languages
    LANGUAGES = ("en", "de")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "app" / "translations")

    FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION = False
    SOCKETIO_MESSAGE_QUEUE: str | None = os.environ.get("REDIS_URL") or None
    # Other origins allowed to open the project channel's socket (comma-separated); this site always is.
    SOCKETIO_ALLOWED_ORIGINS = tuple(o.strip() for o in os.environ.get("SOCKETIO_ALLOWED_ORIGINS", "").split(",")
                                     if o.strip())

    # Project workspace (issue 6): files, previews, video calls.
    PROJECT_FILE_MAX_MB = parse_int("PROJECT_FILE_MAX_MB", 100)
    CAD_PREVIEW_TIMEOUT_SECONDS = parse_int("CAD_PREVIEW_TIMEOUT_SECONDS", 120)
    CAD_PREVIEW_MEMORY_MB = parse_int("CAD_PREVIEW_MEMORY_MB", 1536)
    # Zoom (Server-to-Server OAuth) when all three are set; otherwise a room link that needs no account.
    ZOOM_ACCOUNT_ID = os.environ.get("ZOOM_ACCOUNT_ID", "")
    ZOOM_CLIENT_ID = os.environ.get("ZOOM_CLIENT_ID", "")
    ZOOM_CLIENT_SECRET = os.environ.get("ZOOM_CLIENT_SECRET", "")
    ZOOM_OAUTH_BASE = os.environ.get("ZOOM_OAUTH_BASE", "https://zoom.us")
    ZOOM_API_BASE = os.environ.get("ZOOM_API_BASE", "https://api.zoom.us/v2")
    ZOOM_HOST_USER = os.environ.get("ZOOM_HOST_USER", "me")
    ZOOM_WEBHOOK_SECRET = os.environ.get("ZOOM_WEBHOOK_SECRET", "")
    VIDEO_LINK_BASE = os.environ.get("VIDEO_LINK_BASE", "https://meet.jit.si")
    VIDEO_ROOM_PREFIX = os.environ.get("VIDEO_ROOM_PREFIX", "PlasticonnectHub")

    # Jobs (issue 3): attachments per job and the quality-control fee.
    JOB_ATTACHMENT_MAX_MB = 100
    JOB_MAX_ATTACHMENTS = 20
    QC_FEE_PERCENT = 15

    # Contracts and the hub's document seal (app/documents, app/integrations/sealing.py).
    # The key and certificate are made once with `flask create-hub-certificate`.
    HUB_LEGAL_NAME = os.environ.get("HUB_LEGAL_NAME", "Plasticonnect Hub")
    HUB_ADDRESS = os.environ.get("HUB_ADDRESS", DEMO_HUB_ADDRESS)
    HUB_SIGNING_KEY_PATH = os.environ.get("HUB_SIGNING_KEY_PATH", str(INSTANCE / "hub-seal-key.pem"))
    HUB_SIGNING_CERT_PATH = os.environ.get("HUB_SIGNING_CERT_PATH", str(INSTANCE / "hub-seal-cert.pem"))

    # Payments (issue 5). Card payments through Stripe when STRIPE_SECRET_KEY is set;
    # without it the pages offer bank transfer only. STRIPE_API_BASE empty = Stripe's own
    # API (tests point it at the local fake in tests/fakes/stripe_server.py).
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
    STRIPE_WEBHOOK_TOLERANCE_SECONDS = parse_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
    # The hub's share of a released payment, in whole percent.
    HUB_FEE_PERCENT = parse_int("HUB_FEE_PERCENT", 15)
    # The hub's bank account shown to companies paying by bank transfer (demo values by default).
    HUB_BANK_ACCOUNT_NAME = os.environ.get("HUB_BANK_ACCOUNT_NAME", "Plasticonnect Hub GmbH")
    # The ISO 13616 documentation example: fine on a laptop, refused in production.
    HUB_BANK_IBAN = os.environ.get("HUB_BANK_IBAN", DEMO_HUB_BANK_IBAN)
    HUB_BANK_BIC = os.environ.get("HUB_BANK_BIC", DEMO_HUB_BANK_BIC)

    @classmethod
    def finalize(cls, config: dict[str, Any]) -> None:
        """Fill in what can only be known at start-up (nothing by default)."""

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> None:
        """Refuse to start with settings that cannot work."""
        if not config.get("SECRET_KEY"):
            raise ConfigError("SECRET_KEY is not set")
        validate_payments(config)


def validate_payments(config: Mapping[str, Any]) -> None:
    """Payment settings every environment needs to be sane."""
    fee = config.get("HUB_FEE_PERCENT", 15)
    if not isinstance(fee, int) or isinstance(fee, bool) or not 0 <= fee <= 100:
        raise ConfigError(f"HUB_FEE_PERCENT must be a whole number from 0 to 100, not {fee!r}")
    tolerance = config.get("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance <= 0:
        raise ConfigError(f"STRIPE_WEBHOOK_TOLERANCE_SECONDS must be a positive whole number, not {tolerance!r}")
    base = str(config.get("STRIPE_API_BASE") or "")
    if base and not base.startswith(("https://", "http://")):
        raise ConfigError(f"STRIPE_API_BASE must be an http(s) URL or empty, not {base!r}")


class DevelopmentConfig(Config):
    @classmethod
    def finalize(cls, config: dict[str, Any]) -> None:
        """Use a random key kept in the instance folder when SECRET_KEY is not set."""
        if not config.get("SECRET_KEY"):
            config["SECRET_KEY"] = _dev_secret_key()


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    # Tests pick their database in tests/conftest.py (in-memory SQLite, or TEST_DATABASE_URL).
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False
    FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION = True
    MAIL_SUPPRESS_SEND = True
    SOCKETIO_MESSAGE_QUEUE = None
    RATELIMIT_STORAGE_URI = "memory://"
    PASSWORD_HASH_PROFILE = "fast"  # noqa: S105  (argon2id with cheap parameters: tests hash thousands of times)
    MAIL_SERVER = ""
    REDIS_URL = ""
    # Tasks run inline right after commit, also against a real Redis (TEST_REDIS_URL);
    # tests/tasks/test_worker.py turns this on to check a real worker process.
    RQ_ASYNC = False
    PUBLIC_BASE_URL = "http://localhost"


class ProductionConfig(Config):
    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-pc_session"
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> None:
        """Production needs a real secret key, a real database and Redis."""
        key = config.get("SECRET_KEY") or ""
        if len(key) < 32 or key in {"dev", "change-me", "secret"}:
            raise ConfigError("SECRET_KEY must be set to a random value of at least 32 characters in production")
        if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
            raise ConfigError("DATABASE_URL must point to PostgreSQL in production")
        if not config.get("REDIS_URL"):
            raise ConfigError("REDIS_URL must be set in production")
        if config.get("PASSWORD_HASH_PROFILE", "strong") != "strong":
            raise ConfigError("PASSWORD_HASH_PROFILE must stay 'strong' in production")
        demo = {"HUB_ADDRESS": DEMO_HUB_ADDRESS, "HUB_BANK_IBAN": DEMO_HUB_BANK_IBAN, "HUB_BANK_BIC": DEMO_HUB_BANK_BIC}
        for name, placeholder in demo.items():
            if not config.get(name) or config.get(name) == placeholder:
                raise ConfigError(f"{name} must be set in production (companies read it on contracts and payments)")
        if config.get("STORAGE_BACKEND") not in {"local", "s3"}:
            raise ConfigError("STORAGE_BACKEND must be 'local' or 's3'")
        if config.get("STORAGE_BACKEND") == "s3" and not config.get("STORAGE_S3_BUCKET"):
            raise ConfigError("STORAGE_S3_BUCKET must be set when STORAGE_BACKEND=s3")
        validate_payments(config)
        if config.get("STRIPE_SECRET_KEY") and not config.get("STRIPE_WEBHOOK_SECRET"):
            raise ConfigError("STRIPE_WEBHOOK_SECRET must be set when card payments are enabled (STRIPE_SECRET_KEY)")
        if config.get("STRIPE_API_BASE") and not str(config["STRIPE_API_BASE"]).startswith("https://"):
            raise ConfigError("STRIPE_API_BASE must be an https:// URL in production (or empty for Stripe's own)")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """The config class named by ``APP_ENV`` (default: development)."""
    name = os.environ.get("APP_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from exc
