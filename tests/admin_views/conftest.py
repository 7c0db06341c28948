"""Back-office test helpers: an admin logged in, and cases waiting in the queues."""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import (
    Company,
    Document,
    DocumentKind,
    DocumentReview,
    ExpertProfile,
    User,
    VerificationStatus,
)
from app.services import uow
from tests.conftest import login

_seq = itertools.count(1)


def make_document(
    owner: Company | ExpertProfile,
    *,
    uploaded_by: User,
    kind: DocumentKind | None = None,
    content_type: str = "application/pdf",
    original_name: str | None = None,
    review: DocumentReview = DocumentReview.PENDING,
) -> Document:
    """A document row (the stored bytes are not needed by the back-office pages)."""
    n = next(_seq)
    is_company = isinstance(owner, Company)
    kind = kind or (DocumentKind.REGISTRATION_CERTIFICATE if is_company else DocumentKind.CV)
    doc = Document(
        company_id=owner.id if is_company else None,
        expert_id=None if is_company else owner.id,
        kind=kind,
        storage_key=f"test/{n:08d}",
        original_name=original_name or f"document-{n}.pdf",
        content_type=content_type,
        size_bytes=1024 + n,
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        uploaded_by_id=uploaded_by.id,
        review=review,
    )
    db.session.add(doc)
    db.session.flush()
    return doc


@dataclass
class CompanyCase:
    company: Company
    owner: User
    document: Document


@dataclass
class ExpertCase:
    expert: ExpertProfile
    user: User
    document: Document


@pytest.fixture
def admin(f: Any) -> User:
    user = f.admin(email="hub-admin@example.test", totp_enabled_at=datetime.now(UTC))
    uow.commit()
    return user


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    return login(client, admin)


def company_case(
    f: Any, status: VerificationStatus = VerificationStatus.PENDING_VERIFICATION, **kw: Any
) -> CompanyCase:
    company = f.company(status=status, **kw)
    owner = f.company_user(company, full_name="Olga Owner", locale="en")
    document = make_document(company, uploaded_by=owner)
    uow.commit()
    return CompanyCase(company, owner, document)


def expert_case(f: Any, status: VerificationStatus = VerificationStatus.PENDING_VERIFICATION, **kw: Any) -> ExpertCase:
    expert = f.expert(status=status, **kw)
    user = db.session.get(User, expert.user_id)
    assert user is not None
    document = make_document(expert, uploaded_by=user)
    uow.commit()
    return ExpertCase(expert, user, document)


@pytest.fixture
def pending_company(f: Any) -> CompanyCase:
    return company_case(f)


@pytest.fixture
def pending_expert(f: Any) -> ExpertCase:
    return expert_case(f)


def reload(obj: Any) -> Any:
    """Read an object again from the database (the test shares the app's session)."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sessions excepted: reading a page may touch one)."""
    tables = [t for t in db.metadata.sorted_tables if t.name not in {"user_sessions", "login_attempts"}]
    db.session.expire_all()
    return {
        t.name: [tuple(r) for r in db.session.execute(sa.select(t).order_by(*t.primary_key.columns))] for t in tables
    }


def flashes(html: str) -> list[str]:
    """The text of the flash messages on a back-office page."""
    found = re.findall(
        r'<div class="alert alert-[a-z]+ alert-dismissable">\s*<button[^>]*>&times;</button>\s*(.*?)\s*</div>',
        html,
        re.S,
    )
    return [re.sub(r"\s+", " ", m).strip() for m in found]


def list_table(html: str) -> str:
    """Only the rows of a Flask-Admin list page (filter options elsewhere on the page repeat values)."""
    match = re.search(r'<table class="table[^"]*model-list">.*?</table>', html, re.S)
    return match.group(0) if match else ""


def filter_index(client: FlaskClient, endpoint: str) -> dict[tuple[str, str], int]:
    """Flask-Admin's filter numbers of a view, by (column label, operation): ``?flt0_<n>=value``."""
    client.get(f"/admin/{endpoint}/")  # builds the options that come from the data
    admin = client.application.extensions["admin"][0]
    view = next(v for v in admin._views if v.url.rstrip("/").endswith("/" + endpoint))
    return {(str(flt.name), str(flt.operation())): i for i, flt in enumerate(view._filters)}
