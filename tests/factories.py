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


# Files and documents (added by the onboarding helper) ---------------------------------------


def pdf_bytes(pages: int = 1, metadata: dict[str, str] | None = None, *, script: str | None = None) -> bytes:
    """A small valid PDF; ``metadata`` goes into /Info, ``script`` into an /OpenAction."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if metadata:
        writer.add_metadata(metadata)
    if script:
        writer._root_object[NameObject("/OpenAction")] = DictionaryObject(
            {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject(script)}
        )
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (40, 30), **save_params: Any) -> bytes:
    """A small valid PNG or JPEG; ``save_params`` go to Pillow (``exif=``, ``pnginfo=``, ``comment=``)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt, **save_params)
    return buf.getvalue()


def document(
    owner: Company | ExpertProfile,
    *,
    kind: Any = None,
    data: bytes | None = None,
    name: str = "certificate.pdf",
    content_type: str = "application/pdf",
    uploaded_by: User | None = None,
    **overrides: Any,
) -> Any:
    """A stored document (blob in the app's storage + row) for a company or an expert."""
    import hashlib
    import uuid

    from app.integrations.storage import get_storage
    from app.models import Document, DocumentKind

    data = data if data is not None else pdf_bytes()
    is_company = isinstance(owner, Company)
    kind = kind or (DocumentKind.REGISTRATION_CERTIFICATE if is_company else DocumentKind.CV)
    prefix = f"companies/{owner.id}/kyc" if is_company else f"experts/{owner.id}/docs"
    key = f"{prefix}/{uuid.uuid4().hex}"
    get_storage().put(key, data, content_type=content_type)
    if uploaded_by is None:
        uploaded_by = owner.users[0] if is_company and owner.users else (owner.user if not is_company else admin())
    values: dict[str, Any] = {
        "company_id": owner.id if is_company else None,
        "expert_id": None if is_company else owner.id,
        "kind": kind,
        "storage_key": key,
        "original_name": name,
        "content_type": content_type,
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "uploaded_by_id": uploaded_by.id,
    }
    values.update(overrides)
    doc = Document(**values)
    db.session.add(doc)
    db.session.flush()
    return doc


# Jobs (issue 3) ------------------------------------------------------------------------------


def job(company_obj: Company | None = None, *, status: Any = None, created_by: User | None = None,
        skills: int = 1, **overrides: Any) -> Any:
    """A complete Problem Solving job (draft unless ``status``); ``skills`` required skill rows."""
    from datetime import timedelta

    from app.models import ExpertiseLevel, Job, JobCategory, JobSkill, JobStatus, JobVisibility

    company_obj = company_obj or company()
    author = created_by or (company_obj.users[0] if company_obj.users else company_user(company_obj))
    today = _now().date()
    status = status or JobStatus.DRAFT
    values: dict[str, Any] = {
        "company_id": company_obj.id,
        "created_by_id": author.id,
        "title_term_id": term(CatalogKind.JOB_TITLE).id,
        "category": JobCategory.PROBLEM_SOLVING,
        "subtype": "root_cause",
        "description": "Short shots on a PA66 GF30 housing.",
        "scope": "Find the root cause and propose a process window.",
        "process_term_id": term(CatalogKind.PROCESS).id,
        "material_term_id": term(CatalogKind.MATERIAL).id,
        "part_description": "Housing, 2 mm wall",
        "budget_minor": 500000,
        "currency": "EUR",
        "start_date": today + timedelta(days=7),
        "completion_date": today + timedelta(days=30),
        "status": status,
    }
    if status is not JobStatus.DRAFT:
        values["submitted_at"] = _now()
    if status in {JobStatus.PUBLISHED, JobStatus.AWARDED, JobStatus.CLOSED}:
        values["visibility"] = JobVisibility(overrides.pop("visibility", None) or "public")
        values["published_at"] = _now()
    values.update(overrides)
    if "visibility" in values and isinstance(values["visibility"], str):
        values["visibility"] = JobVisibility(values["visibility"])
    j = Job(**values)
    for _ in range(skills):
        j.skills.append(JobSkill(term_id=term(CatalogKind.SKILL).id, level=ExpertiseLevel.SENIOR))
    db.session.add(j)
    db.session.flush()
    return j


def job_invitation(job_obj: Any, expert_obj: ExpertProfile, *, invited_by: User | None = None) -> Any:
    from app.models import JobInvitation

    inv = JobInvitation(job_id=job_obj.id, expert_id=expert_obj.id, invited_by_id=(invited_by or admin()).id)
    db.session.add(inv)
    db.session.flush()
    return inv


def step_bytes() -> bytes:
    """A minimal valid STEP (AP214) file."""
    return (
        b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('part'),'2;1');\nFILE_NAME('part.step','2025-01-01',(''),(''),"
        b"'','','');\nFILE_SCHEMA(('AUTOMOTIVE_DESIGN'));\nENDSEC;\nDATA;\n#1=CARTESIAN_POINT('',(0.,0.,0.));\n"
        b"ENDSEC;\nEND-ISO-10303-21;\n"
    )


def ticket(company_obj: Company | None = None, *, opened_by: User | None = None, job: Any = None,
           status: Any = None, **overrides: Any) -> Any:
    """A catalog ticket (open unless ``status``) asking for a skill, optionally from a draft ``job``."""
    from app.models import CatalogTicket, TicketKind, TicketStatus

    company_obj = company_obj or company()
    author = opened_by or (company_obj.users[0] if company_obj.users else company_user(company_obj))
    values: dict[str, Any] = {
        "company_id": company_obj.id,
        "job_id": job.id if job is not None else None,
        "opened_by_id": author.id,
        "kind": TicketKind.SKILL,
        "term": "Gas-assisted injection molding",
        "reason": "Our part has thick ribs.",
        "status": status or TicketStatus.OPEN,
    }
    values.update(overrides)
    t = CatalogTicket(**values)
    db.session.add(t)
    db.session.flush()
    return t


# Matching, invitations and offers (issue 4) ----------------------------------------------------


def offer(job_obj: Any = None, expert_obj: ExpertProfile | None = None, *, status: Any = None,
          price_minor: int = 420000, versions: int = 1, milestones: tuple[tuple[str, int], ...] = (),
          **overrides: Any) -> Any:
    """An offer (submitted unless ``status``) with ``versions`` versions; ``milestones`` = ((title, share), ...)."""
    from datetime import timedelta

    from app.models import JobStatus, Offer, OfferMilestone, OfferStatus, OfferVersion

    job_obj = job_obj or job(status=JobStatus.PUBLISHED)
    expert_obj = expert_obj or expert()
    status = status or OfferStatus.SUBMITTED
    values: dict[str, Any] = {"job_id": job_obj.id, "expert_id": expert_obj.id, "status": status,
                              "submitted_at": _now()}
    if status is OfferStatus.WITHDRAWN:
        values["withdrawn_at"] = _now()
    values.update(overrides)
    o = Offer(**values)
    db.session.add(o)
    db.session.flush()
    start = _now().date() + timedelta(days=10)
    last = None
    for n in range(1, versions + 1):
        v = OfferVersion(
            offer_id=o.id, number=n, solution=f"Scientific molding study, version {n}.",
            price_minor=price_minor + (n - 1) * 10000, currency=job_obj.currency, start_date=start,
            end_date=start + timedelta(days=20), deliverables=["Report", "Process window"],
            terms_version="2026-12", terms_accepted_at=_now(), created_by_id=expert_obj.user_id,
            change_note="" if n == 1 else f"Change {n}",
            milestones=[OfferMilestone(position=i, title=t, due_date=start + timedelta(days=5 * i), share_percent=s)
                        for i, (t, s) in enumerate(milestones, start=1)],
        )
        db.session.add(v)
        db.session.flush()
        last = v
    o.current_version_id = last.id if last is not None else None
    db.session.flush()
    return o


def match_run(job_obj: Any, *, ranked: tuple[Any, ...] = (), excluded: tuple[tuple[Any, str, str], ...] = (),
              status: Any = None, **overrides: Any) -> Any:
    """A completed ranking run of ``job_obj``.

    ``ranked``: experts in rank order; ``excluded``: ((expert, reason, detail), ...).
    """
    from app.matching.records import CRITERIA, DEFAULT_WEIGHTS
    from app.models import MatchResult, MatchRun, MatchRunStatus, MatchTrigger

    status = status or MatchRunStatus.COMPLETED
    values: dict[str, Any] = {
        "job_id": job_obj.id, "status": status, "trigger": MatchTrigger.MANUAL, "weights": dict(DEFAULT_WEIGHTS),
        "considered": len(ranked) + len(excluded), "excluded_counts": {},
    }
    if status is MatchRunStatus.COMPLETED:
        values.update(started_at=_now(), finished_at=_now(), elapsed_ms=1.5)
    values.update(overrides)
    run = MatchRun(**values)
    db.session.add(run)
    db.session.flush()
    for rank, e in enumerate(ranked, start=1):
        score = round(1.0 - rank * 0.05, 4)
        db.session.add(MatchResult(run_id=run.id, job_id=job_obj.id, expert_id=e.id, rank=rank, score=score,
                                   breakdown={c: score for c in CRITERIA}, details={}))
    counts: dict[str, int] = {}
    for e, reason, detail in excluded:
        counts[reason] = counts.get(reason, 0) + 1
        db.session.add(MatchResult(run_id=run.id, job_id=job_obj.id, expert_id=e.id, rank=None, score=0.9,
                                   exclusion_reason=reason, exclusion_detail=detail))
    run.excluded_counts = counts
    db.session.flush()
    return run


# Negotiation (issue 5) ---------------------------------------------------------------------------


def forward(offer_obj: Any, *, fee_minor: int | None = None, forwarded_by: User | None = None,
            note: str = "", **overrides: Any) -> Any:
    """An OfferForward of the offer's current version (fee: 15 % unless ``fee_minor``); the status is the caller's."""
    from app.models import OfferForward, OfferVersion

    version = db.session.get(OfferVersion, offer_obj.current_version_id)
    fee = fee_minor if fee_minor is not None else (version.price_minor * 15 + 50) // 100
    values: dict[str, Any] = {
        "offer_id": offer_obj.id, "version_id": version.id, "expert_price_minor": version.price_minor,
        "fee_minor": fee, "fee_basis_points": None if fee_minor is not None else 1500,
        "client_price_minor": version.price_minor + fee, "currency": version.currency, "note_to_company": note,
        "forwarded_by_id": (forwarded_by or admin()).id, "forwarded_at": _now(),
    }
    values.update(overrides)
    fwd = OfferForward(**values)
    db.session.add(fwd)
    db.session.flush()
    return fwd


# Funding (issue 5) ---------------------------------------------------------------------------


def signed_contract(offer_obj: Any = None, *, client_price_minor: int = 460000, fee_minor: int = 60000,
                    currency: str = "EUR", actor: User | None = None) -> Any:
    """A SIGNED contract: offer → OfferForward → ``open_contract`` → SIGNED via ``transition()``."""
    from app.models import ContractStatus, OfferForward
    from app.services.contracts import open_contract
    from app.services.transitions import transition
    from app.workflows.contracts import CONTRACT_WORKFLOW

    staff = actor or admin()
    offer_obj = offer_obj or offer(price_minor=client_price_minor - fee_minor)
    version = offer_obj.current_version
    fwd = OfferForward(offer_id=offer_obj.id, version_id=version.id, expert_price_minor=client_price_minor - fee_minor,
                       fee_minor=fee_minor, fee_basis_points=None, client_price_minor=client_price_minor,
                       currency=currency, forwarded_by_id=staff.id)
    db.session.add(fwd)
    db.session.flush()
    contract = open_contract(offer_obj, fwd, actor=staff)
    transition(contract, CONTRACT_WORKFLOW, ContractStatus.SIGNED, actor=staff)
    contract.signed_at = _now()
    db.session.flush()
    return contract


# Contracts (step 6) ------------------------------------------------------------------------


def contract(job_obj: Any = None, expert_obj: ExpertProfile | None = None, *, expert_price_minor: int = 400000,
             fee_minor: int = 60000, milestones: tuple[tuple[str, int], ...] = (("Study", 40), ("Report", 60)),
             actor: User | None = None) -> Any:
    """A contract awaiting signatures: an accepted offer, the hub's forward of it, then ``open_contract``.

    The job's company gets an owner when it has no user yet (the owner signs as the company).
    """
    from app.models import JobStatus, OfferForward, OfferStatus
    from app.services.contracts import open_contract

    job_obj = job_obj or job(status=JobStatus.PUBLISHED)
    if not job_obj.company.users:
        company_user(job_obj.company)
    o = offer(job_obj, expert_obj, status=OfferStatus.ACCEPTED, price_minor=expert_price_minor,
              milestones=milestones)
    hub = actor or admin()
    fwd = OfferForward(offer_id=o.id, version_id=o.current_version_id, expert_price_minor=expert_price_minor,
                       fee_minor=fee_minor, fee_basis_points=None,
                       client_price_minor=expert_price_minor + fee_minor, currency=job_obj.currency,
                       forwarded_by_id=hub.id)
    db.session.add(fwd)
    db.session.flush()
    c = open_contract(o, fwd, actor=hub)
    db.session.flush()
    return c


# Projects (steps 7–8) ------------------------------------------------------------------------


def project(contract_obj: Any = None, *, manager: User | None = None, members: int = 1,
            milestones: tuple[tuple[str, int], ...] = (("Study", 40), ("Report", 60))) -> Any:
    """A funded contract's project, started as funding starts it (members, milestones, welcome message).

    ``members`` company users (the first an owner) are on it with the expert and the hub manager.
    """
    from app.models import FundingMethod, OfferStatus
    from app.services.escrow import _fund

    staff = manager or admin(totp_enabled_at=_now())
    if contract_obj is None:
        j = job()
        for i in range(members):
            company_user(j.company, owner=i == 0)
        o = offer(j, status=OfferStatus.ACCEPTED, milestones=milestones)
        contract_obj = signed_contract(o, actor=staff)
    p = _fund(contract_obj, FundingMethod.BANK_TRANSFER, actor=staff, manager=staff, external_ref=None)
    db.session.flush()
    return p
