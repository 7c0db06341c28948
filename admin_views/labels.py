"""Translated labels for enum values the back office shows (roles, catalog kinds, matching, offers).

Lists, details pages and filter menus show these instead of the stored values
(``company``, ``job_title``); filters still send the stored value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_admin.model.filters import BaseFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup

from admin_views.base import HubFilterConverter
from app.models import CatalogKind, CompanyRole, MatchRunStatus, MatchTrigger, OfferStatus, Role

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


# Matching and offers (issue 4) ----------------------------------------------------------------

#: The criteria of the ranking, as the hub reads them (keys: ``app.matching.records.CRITERIA``).
CRITERION_LABELS: Mapping[str, LazyString] = {
    "title": _l("Job title & expertise"),
    "skills": _l("Skills"),
    "experience": _l("Experience"),
    "languages": _l("Languages"),
    "price": _l("Price vs budget"),
    "availability": _l("Availability"),
    "text": _l("Profile text"),
}

#: One line per criterion on the weights page.
CRITERION_HELP: Mapping[str, LazyString] = {
    "title": _l("How well the expert's job titles and expertise level fit the job's title."),
    "skills": _l("How many of the required skills, processes and materials the expert has, at the level needed."),
    "experience": _l("Years of experience, completed similar projects on the hub and the ratings received."),
    "languages": _l("Whether the expert speaks the job's languages at the minimum level."),
    "price": _l("The expert's estimated price (day rate or typical price) against the job's budget."),
    "availability": _l("Whether the expert is available from the job's start date, with enough capacity."),
    "text": _l("How close the expert's profile text is to the job's description and scope."),
}

#: Why an expert was left out of a ranking (``MatchResult.exclusion_reason``).
EXCLUSION_LABELS: Mapping[str, LazyString] = {
    "conflict": _l("Conflict of interest"),
    "language": _l("Lacks a required language"),
    "suspended": _l("Suspended"),
}

MATCH_RUN_STATUS_LABELS: Mapping[str, LazyString] = {
    MatchRunStatus.QUEUED.value: _l("Queued"),
    MatchRunStatus.RUNNING.value: _l("Running"),
    MatchRunStatus.COMPLETED.value: _l("Completed"),
    MatchRunStatus.FAILED.value: _l("Failed"),
}
MATCH_RUN_STATUS_COLOURS: Mapping[str, str] = {
    MatchRunStatus.QUEUED.value: "secondary",
    MatchRunStatus.RUNNING.value: "info",
    MatchRunStatus.COMPLETED.value: "success",
    MatchRunStatus.FAILED.value: "danger",
}
MATCH_TRIGGER_LABELS: Mapping[str, LazyString] = {
    MatchTrigger.PUBLISH.value: _l("at publication"),
    MatchTrigger.MANUAL.value: _l("by the hub"),
}

OFFER_STATUS_LABELS: Mapping[str, LazyString] = {
    OfferStatus.SUBMITTED.value: _l("Submitted"),
    OfferStatus.FORWARDED.value: _l("Forwarded to the company"),
    OfferStatus.IN_NEGOTIATION.value: _l("In negotiation"),
    OfferStatus.REVISED.value: _l("Revised"),
    OfferStatus.ACCEPTED.value: _l("Accepted"),
    OfferStatus.DECLINED.value: _l("Declined by the hub"),
    OfferStatus.REJECTED.value: _l("Rejected by the company"),
    OfferStatus.WITHDRAWN.value: _l("Withdrawn"),
    OfferStatus.NOT_SELECTED.value: _l("Not selected"),
}
OFFER_STATUS_COLOURS: Mapping[str, str] = {
    OfferStatus.SUBMITTED.value: "warning",
    OfferStatus.FORWARDED.value: "info",
    OfferStatus.IN_NEGOTIATION.value: "info",
    OfferStatus.REVISED.value: "warning",
    OfferStatus.ACCEPTED.value: "success",
    OfferStatus.DECLINED.value: "danger",
    OfferStatus.REJECTED.value: "danger",
    OfferStatus.WITHDRAWN.value: "light",
    OfferStatus.NOT_SELECTED.value: "secondary",
}

#: Keys of a ranking's explanation (``MatchResult.details``); unknown keys are shown as they are named.
MATCH_DETAIL_LABELS: Mapping[str, LazyString] = {
    "matched_terms": _l("Has"),
    "missing_terms": _l("Missing"),
    "below_level_terms": _l("Below the level needed"),
    "title_level": _l("Level in the job title"),
    "estimated_price_minor": _l("Estimated price"),
    "effort_days": _l("Effort assumed (days)"),
    "currency_mismatch": _l("Quotes in another currency"),
    "days_late": _l("Days late for the start"),
    "language_gaps": _l("Language gaps"),
}


def coloured_badge(
    labels: Mapping[str, LazyString], colours: Mapping[str, str], value: enum.Enum | str | None
) -> Markup:
    """A Bootstrap badge with the translated label of a stored value."""
    if value is None:
        return Markup("")
    raw = str(value.value) if isinstance(value, enum.Enum) else value
    return Markup('<span class="badge badge-{}" data-testid="status">{}</span>').format(
        colours.get(raw, "secondary"), label(labels, raw)
    )


def offer_badge(value: enum.Enum | str | None) -> Markup:
    """An offer's status as a coloured badge (templates: ``offer_badge(offer.status)``)."""
    return coloured_badge(OFFER_STATUS_LABELS, OFFER_STATUS_COLOURS, value)


def match_run_badge(value: enum.Enum | str | None) -> Markup:
    """A ranking run's status as a coloured badge."""
    return coloured_badge(MATCH_RUN_STATUS_LABELS, MATCH_RUN_STATUS_COLOURS, value)


def criterion_label(value: str) -> str:
    """A matching criterion, translated."""
    return label(CRITERION_LABELS, value)


def exclusion_label(value: str) -> str:
    """Why an expert was excluded from a ranking, translated."""
    return label(EXCLUSION_LABELS, value)


# The matching engine writes its exclusion details in English (it runs without a request);
# the back office shows them in the reader's language.
_CONFLICT_RE = re.compile(
    r"^Declared (current employer|former employer|competitor relation|supplier relation) “(.+?)” matches the company"
    r"(?: “(.+)”)?$"
)
_LANGUAGE_RE = re.compile(r"^Does not speak the required language\(s\): (.+)$")
_RELATION_LABELS = {
    "current employer": _l("current employer"),
    "former employer": _l("former employer"),
    "competitor relation": _l("competitor relation"),
    "supplier relation": _l("supplier relation"),
}


def exclusion_text(detail: str) -> str:
    """An exclusion detail of a ranking in the reader's language (unknown wording is shown as stored)."""
    if not detail:
        return ""
    if match := _CONFLICT_RE.match(detail):
        relation, employer, company = match.groups()
        if company:
            return _("Declared %(relation)s “%(employer)s” matches the company “%(company)s”",
                     relation=_RELATION_LABELS[relation], employer=employer, company=company)
        return _("Declared %(relation)s “%(employer)s” matches the company", relation=_RELATION_LABELS[relation],
                 employer=employer)
    if match := _LANGUAGE_RE.match(detail):
        languages = match.group(1).replace("(at least", "(" + _("at least"))
        return _("Does not speak the required language(s): %(languages)s", languages=languages)
    if detail == "The expert's profile or account is suspended":
        return _("The expert's profile or account is suspended")
    return detail
