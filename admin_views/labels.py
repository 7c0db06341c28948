"""Translated labels for enum values the back office shows (roles, catalog kinds).

Lists, details pages and filter menus show these instead of the stored values
(``company``, ``job_title``); filters still send the stored value.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from flask_admin.model.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from admin_views.base import HubFilterConverter
from app.models import CatalogKind, CompanyRole, Role

ROLE_LABELS: Mapping[str, LazyString] = {
    Role.COMPANY.value: _l("Company user"),
    Role.EXPERT.value: _l("Expert"),
    Role.ADMIN.value: _l("Hub admin"),
}

COMPANY_ROLE_LABELS: Mapping[str, LazyString] = {
    CompanyRole.OWNER.value: _l("Owner"),
    CompanyRole.MEMBER.value: _l("Member"),
}

CATALOG_KIND_LABELS: Mapping[str, LazyString] = {
    CatalogKind.INDUSTRY.value: _l("Industry"),
    CatalogKind.JOB_TITLE.value: _l("Job title"),
    CatalogKind.SKILL.value: _l("Skill"),
    CatalogKind.PROCESS.value: _l("Process"),
    CatalogKind.MATERIAL.value: _l("Material"),
    CatalogKind.DEFECT.value: _l("Defect"),
    CatalogKind.TRAINING_TOPIC.value: _l("Training topic"),
    CatalogKind.STANDARD.value: _l("Standard"),
}


def label(labels: Mapping[str, LazyString], value: enum.Enum | str | None) -> str:
    """The translated label of a stored value; empty for none, the value itself if unknown."""
    if value is None:
        return ""
    raw = str(value.value) if isinstance(value, enum.Enum) else value
    return str(labels.get(raw, raw.replace("_", " ")))


def label_formatter(labels: Mapping[str, LazyString]) -> Callable[[Any, Any, Any, str], str]:
    """A list/details column formatter that shows the column's value as its translated label."""

    def fmt(view: Any, context: Any, model: Any, name: str) -> str:
        return label(labels, getattr(model, name))

    return fmt


def label_options(labels: Mapping[str, LazyString]) -> list[tuple[str, LazyString]]:
    """Filter menu options: stored value, translated label (translated when the page is drawn)."""
    return list(labels.items())


def enum_filters(column: Any, name: LazyString, labels: Mapping[str, LazyString]) -> list[BaseFilter]:
    """The equals / not equal / empty filters of an enum column, offering translated labels."""
    return [flt(column, name, label_options(labels)) for flt in HubFilterConverter.enum_filters]


def role_label(value: enum.Enum | str | None) -> str:
    """A user's role, translated (templates: ``role_label(user.role)``)."""
    return label(ROLE_LABELS, value)


def company_role_label(value: enum.Enum | str | None) -> str:
    """A company user's role in the company, translated."""
    return label(COMPANY_ROLE_LABELS, value)


def catalog_kind_label(value: enum.Enum | str | None) -> str:
    """A catalog term's kind, translated."""
    return label(CATALOG_KIND_LABELS, value)
