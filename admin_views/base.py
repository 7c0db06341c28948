"""Base classes: every back-office view is staff-only and CSRF-protected.

Also the shared helpers of the back office: list formatters (status badges,
dates in the viewer's time zone, JSON shown safely) and ``run_decision``, the
one way an admin button calls a service.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flask import abort, flash, has_app_context, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.form import BaseForm
from flask_admin.model import filters as base_filters
from flask_admin.model import typefmt
from flask_babel import format_date, to_utc
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup

from app.exceptions import DomainError
from app.i18n import STATUS_LABELS, status_label, when
from app.models import User
from app.services import uow

BADGE_COLOURS = {
    "draft": "secondary",
    "pending_verification": "warning",
    "info_requested": "info",
    "approved": "success",
    "rejected": "danger",
    "suspended": "dark",
    "pending": "warning",
    "accepted": "success",
}


def current_actor() -> User:
    """The logged-in staff user, unwrapped from the Flask-Login proxy."""
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


class HubAdminForm(BaseForm, FlaskForm):
    """The base of Flask-Admin's generated forms (create/edit, actions).

    Flask-Admin's own ``SecureForm`` uses a WTForms session token that the global
    ``CSRFProtect`` does not accept (pallets-eco/flask-admin#1861), so every
    built-in admin POST would fail in production. This form carries the same
    Flask-WTF token as the rest of the site instead, checked by ``CSRFProtect``.
    """

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        # Flask-Admin's templates show only ``str`` errors; ours are lazy (translated per request).
        for field in self._fields.values():
            field.errors = [str(e) if isinstance(e, LazyString) else e for e in field.errors]
        return valid


class StaffOnly:
    """Mixin: refuse everyone but active hub admins with two-factor on, on every view and endpoint.

    The login flow already makes admins enrol in TOTP before their first session;
    checking it here too means no path around that reaches the back office.
    """

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_staff and current_user.totp_enabled)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if current_user.is_staff:  # an admin without two-factor authentication
            flash(_("Turn on two-factor authentication to use the back office."), "warning")
            return redirect(url_for("auth.totp_setup"))
        abort(403)


class HubIndexView(StaffOnly, AdminIndexView):
    """The dashboard (the back office's home): every queue, and what happened last."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        from admin_views import queries

        return self.render(
            "admin/dashboard.html",
            queues=queries.queue_stats(),
            events=queries.latest_events(limit=15),
            event_links=queries.event_links,
        )


# Formatters ---------------------------------------------------------------------------


def _when_formatter(view: Any, value: datetime, name: str) -> str:
    return when(value)


def _date_formatter(view: Any, value: date, name: str) -> str:
    return format_date(value)


def _enum_formatter(view: Any, value: enum.Enum, name: str) -> str:
    return status_label(value.value) if isinstance(value.value, str) else str(value.value)


def _dict_formatter(view: Any, value: dict[str, Any], name: str) -> Markup:
    return json_block(value)


# Order matters: Flask-Admin takes the first matching type (datetime before date).
TYPE_FORMATTERS: dict[Any, Callable[..., Any]] = {
    type(None): typefmt.empty_formatter,
    bool: typefmt.bool_formatter,
    list: typefmt.list_formatter,
    dict: _dict_formatter,
    datetime: _when_formatter,
    date: _date_formatter,
    enum.Enum: _enum_formatter,
}


def badge(value: enum.Enum | str | None) -> Markup:
    """A coloured status badge with the translated label."""
    if value is None:
        return Markup("")
    raw = value.value if isinstance(value, enum.Enum) else value
    colour = BADGE_COLOURS.get(str(raw), "secondary")
    return Markup('<span class="badge badge-{}" data-testid="status">{}</span>').format(colour, status_label(str(raw)))


def status_badge(view: Any, context: Any, model: Any, name: str) -> Markup:
    """List/details formatter for a status column."""
    return badge(getattr(model, name))


def details_link(view: Any, context: Any, model: Any, name: str) -> Markup:
    """List formatter: the value links to the row's details page (the case)."""
    return Markup('<a href="{}" data-testid="open-case">{}</a>').format(
        view.get_url(".details_view", id=model.id), getattr(model, name)
    )


def json_block(value: Any) -> Markup:
    """JSON shown as escaped, indented text (never interpreted as HTML)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return Markup('<pre class="mb-0 small json-data">{}</pre>').format(text)


def json_formatter(view: Any, context: Any, model: Any, name: str) -> Markup:
    """List/details formatter for a JSON column."""
    return json_block(getattr(model, name))


def truncate_formatter(limit: int) -> Callable[[Any, Any, Any, str], str]:
    """A formatter that shortens long text in lists (the details page shows all of it)."""

    def fmt(view: Any, context: Any, model: Any, name: str) -> str:
        value = str(getattr(model, name) or "")
        return value if len(value) <= limit else value[: limit - 1] + "…"

    return fmt


# Filters -------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    """A date picked in the admin's time zone, as the aware UTC datetime the columns store."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return to_utc(value).replace(tzinfo=UTC)


class AfterFilter(sqla_filters.DateTimeGreaterFilter):
    def clean(self, value: str) -> datetime:
        return _aware(super().clean(value))


class BeforeFilter(sqla_filters.DateTimeSmallerFilter):
    def clean(self, value: str) -> datetime:
        return _aware(super().clean(value))


class BetweenFilter(sqla_filters.DateTimeBetweenFilter):
    def clean(self, value: str) -> list[datetime]:
        return [_aware(v) for v in super().clean(value)]


def dynamic_options(query: Callable[[], list[tuple[str, str]]]) -> Callable[[], list[tuple[str, str]]]:
    """Filter options read from the database on each list page (empty while the views are built)."""

    def options() -> list[tuple[str, str]]:
        if not has_app_context():
            return []
        return query()

    options.is_dynamic = True  # type: ignore[attr-defined]
    return options


def _enum_member(enum_class: type[enum.Enum] | None, value: Any) -> Any:
    """Our enum columns store values (``"pending_verification"``); accept names too."""
    if enum_class is None or isinstance(value, enum_class):
        return value
    try:
        return enum_class(value)
    except ValueError:
        return enum_class[value]


class _EnumValueMixin:
    enum_class: type[enum.Enum] | None

    def validate(self, value: Any) -> bool:
        try:
            _enum_member(self.enum_class, value)
        except KeyError:
            return False
        return True

    def clean(self, value: Any) -> Any:
        return _enum_member(self.enum_class, value)


class EnumEqualFilter(_EnumValueMixin, sqla_filters.EnumEqualFilter):
    """Flask-Admin looks enum members up by name, but offers their values as options."""


class EnumNotEqualFilter(_EnumValueMixin, sqla_filters.EnumFilterNotEqual):
    """See :class:`EnumEqualFilter`."""


class HubFilterConverter(sqla_filters.FilterConverter):
    """Filters for our aware ``UTCDateTime`` and value-stored enum columns."""

    aware_datetime_filters = (AfterFilter, BeforeFilter, BetweenFilter, sqla_filters.FilterEmpty)
    enum_filters = (EnumEqualFilter, EnumNotEqualFilter, sqla_filters.EnumFilterEmpty)

    @base_filters.convert("UTCDateTime")
    def conv_utc_datetime(self, column: Any, name: str, **kwargs: Any) -> list[Any]:
        return [f(column, name, **kwargs) for f in self.aware_datetime_filters]

    @base_filters.convert("enum")
    def conv_enum(self, column: Any, name: str, options: Any = None, **kwargs: Any) -> list[Any]:
        if not options:
            options = [(value, STATUS_LABELS.get(value, value.replace("_", " "))) for value in column.type.enums]
        return [f(column, name, options, **kwargs) for f in self.enum_filters]


# Views ---------------------------------------------------------------------------------


class SecureModelView(StaffOnly, ModelView):
    """Read-mostly list/details views; workflow columns are never editable."""

    form_base_class = HubAdminForm
    can_delete = False
    can_view_details = True
    can_export = False
    page_size = 50
    can_set_page_size = True
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = TYPE_FORMATTERS
    column_display_pk = True
    filter_converter = HubFilterConverter()

    def _get_filter_groups(self) -> Any:
        # Flask-Admin computes filter options once, at start-up; ours come from the data.
        if any(getattr(getattr(f, "options", None), "is_dynamic", False) for f in self._filters or ()):
            self._refresh_filters_cache()
        return super()._get_filter_groups()


class ReadOnlyModelView(SecureModelView):
    """A list and a details page, nothing else."""

    can_create = False
    can_edit = False
    can_delete = False


class SecureBaseView(StaffOnly, BaseView):
    """A custom back-office page."""


def run_decision(call: Callable[[], object], success: str | None) -> bool:
    """Call one service; flash its success, or the domain's explanation when it refuses.

    Returns whether the service succeeded. On refusal the unit of work is rolled
    back so nothing half-done survives into the next request.
    """
    try:
        call()
    except DomainError as exc:
        uow.rollback()
        flash(str(exc), "danger")
        return False
    if success:
        flash(success, "success")
    return True


def form_error_flash() -> None:
    """The message shown above a decision form that came back with field errors."""
    flash(_("Nothing was changed: please correct the marked field below."), "danger")
