"""Factory helpers: build valid rows with sensible defaults; override anything."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher

from app.extensions import db
from app.models import (
    CatalogKind,
    CatalogTerm,
    Company,
    CompanyRole,
    ExpertProfile,
    Role,
    User,
    VerificationStatus,
)

_seq = itertools.count(1)
# Cheap parameters: tests hash many passwords. Production uses argon2id defaults.
_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"  # noqa: S105


def _now() -> datetime:
    return datetime.now(UTC)


def user(**overrides: Any) -> User:
    n = next(_seq)
    values: dict[str, Any] = {
        "email": f"user{n}@example.test",
        "password_hash": _hasher.hash(overrides.pop("password", PASSWORD)),
        "full_name": f"User {n}",
        "role": Role.EXPERT,
        "email_verified_at": _now(),
    }
    values.update(overrides)
    u = User(**values)
    db.session.add(u)
    db.session.flush()
    return u


def admin(**overrides: Any) -> User:
    overrides.setdefault("role", Role.ADMIN)
    overrides.setdefault("full_name", "Hub Admin")
    return user(**overrides)


def company(status: VerificationStatus = VerificationStatus.APPROVED, **overrides: Any) -> Company:
    n = next(_seq)
    values: dict[str, Any] = {
        "name": f"Molder {n} GmbH",
        "legal_name": f"Molder {n} GmbH",
        "registration_number": f"HRB {1000 + n}",
        "vat_id": f"DE{100000000 + n}",
        "country": "DE",
        "address": f"Industriestraße {n}, 70173 Stuttgart",
        "website": f"https://molder{n}.example",
        "contact_person": f"Contact {n}",
        "contact_email": f"contact{n}@molder.example",
        "phone": "+49 711 000000",
        "status": status,
    }
    if status is not VerificationStatus.DRAFT:
        values["submitted_at"] = _now()
    values.update(overrides)
    c = Company(**values)
    db.session.add(c)
    db.session.flush()
    return c


def company_user(company_obj: Company | None = None, *, owner: bool = True, **overrides: Any) -> User:
    company_obj = company_obj or company()
    overrides.setdefault("role", Role.COMPANY)
    overrides.setdefault("company_id", company_obj.id)
    overrides.setdefault("company_role", CompanyRole.OWNER if owner else CompanyRole.MEMBER)
    return user(**overrides)


def expert(status: VerificationStatus = VerificationStatus.APPROVED, **overrides: Any) -> ExpertProfile:
    n = next(_seq)
    owner = overrides.pop("user", None) or user(role=Role.EXPERT, full_name=f"Expert Person {n}")
    values: dict[str, Any] = {
        "user_id": owner.id,
        "pseudonym": f"T{n:03d}",
        "headline": "Injection molding process engineer",
        "summary": "Twenty years of scientific molding.",
        "years_experience": 20,
        "day_rate_minor": 90000,
        "currency": "EUR",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "status": status,
    }
    if status is not VerificationStatus.DRAFT:
        values["submitted_at"] = _now()
    values.update(overrides)
    profile = ExpertProfile(**values)
    db.session.add(profile)
    db.session.flush()
    return profile


def term(kind: CatalogKind = CatalogKind.SKILL, **overrides: Any) -> CatalogTerm:
    n = next(_seq)
    values: dict[str, Any] = {"kind": kind, "slug": f"term-{n}", "name": f"Term {n}"}
    values.update(overrides)
    t = CatalogTerm(**values)
    db.session.add(t)
    db.session.flush()
    return t
