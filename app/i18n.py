"""Language and time zone selection: the user's preference, then the browser's."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from babel.numbers import format_currency
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user


def select_locale() -> str:
    """The user's saved language, the language picked this session, or the browser's."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # services run by jobs, the CLI and tests: no browser to ask
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return str(current_user.locale)
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str | None:
    """The user's time zone; UTC for visitors."""
    if current_user and current_user.is_authenticated:
        return str(current_user.timezone or "UTC")
    return "UTC"


def money(amount_minor: int | None, currency: str) -> str:
    """Integer minor units shown in the current locale (``1234500, "EUR"`` -> ``€12,345.00``)."""
    if amount_minor is None:
        return ""
    return format_currency(amount_minor / 100, currency, locale=str(get_locale() or "en"))


def when(value: datetime | None, fmt: str = "medium") -> str:
    """A UTC datetime shown in the viewer's time zone."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


STATUS_LABELS = {
    "draft": _l("Draft"),
    "pending_verification": _l("Pending verification"),
    "info_requested": _l("Information requested"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "suspended": _l("Suspended"),
    "pending": _l("Pending review"),
    "accepted": _l("Accepted"),
}


def status_label(status: StrEnum | str) -> str:
    """A status shown to people, in their language."""
    value = status.value if isinstance(status, StrEnum) else status
    return str(STATUS_LABELS.get(value, value.replace("_", " ")))


def init_app(app: Flask) -> None:
    """Template helpers."""
    app.jinja_env.globals["status_label"] = status_label
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["LANGUAGES"] = app.config["LANGUAGES"]
    app.jinja_env.globals["valid_timezone"] = _valid_timezone


def _valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        return False
    return True
