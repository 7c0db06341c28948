"""Command-line tasks.

- ``flask seed-catalog``: load the plastics catalog (``app/catalog_data/*.json``), idempotently.
- ``flask seed-demo``: demo accounts for every role and state, printed with their passwords.
- ``flask create-admin --email ... --name ...``: a hub admin (password asked twice, hidden).
- ``flask outbox sweep``: deliver every due outgoing message now (and reconcile the ledger once a day).
- ``flask ledger reconcile [--since YYYY-MM-DD]``: compare the ledger with the payment provider (exit 1 on mismatches).
- ``flask worker``: an RQ worker (with the scheduler) that also sweeps the outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, current_app, url_for
from flask.cli import with_appcontext

from app.extensions import db
from app.models import (
    CatalogKind,
    CatalogTerm,
    Company,
    CompanyRole,
    Document,
    DocumentKind,
    DocumentReview,
    EmployerRelation,
    ExpertEmployer,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertProfile,
    ExpertSkill,
    LanguageProficiency,
    PaymentMethod,
    Role,
    User,
    VerificationStatus,
)
from app.services import audit, uow

logger = logging.getLogger(__name__)
CATALOG_DIR = Path(__file__).resolve().parent / "catalog_data"
SWEEP_INTERVAL_SECONDS = 30


def register_cli(app: Flask) -> None:
    """Attach the commands."""
    app.cli.add_command(seed_catalog_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(outbox_group)
    app.cli.add_command(ledger_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(create_hub_certificate_command)


# Catalog -------------------------------------------------------------------------------


@dataclass
class SeedReport:
    """What a catalog seed did, per kind."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def count(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def total_created(self) -> int:
        return sum(self.created.values())

    @property
    def total_updated(self) -> int:
        return sum(self.updated.values())


def load_catalog_files(directory: Path = CATALOG_DIR) -> list[tuple[CatalogKind, list[dict[str, str]]]]:
    """Read every ``*.json`` catalog file: ``{"kind": ..., "terms": [{"slug", "name", "name_de", "group"}]}``."""
    out: list[tuple[CatalogKind, list[dict[str, str]]]] = []
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        try:
            kind = CatalogKind(doc["kind"])
        except (KeyError, ValueError) as exc:
            raise click.ClickException(f"{path.name}: 'kind' must be one of {[k.value for k in CatalogKind]}") from exc
        terms = doc.get("terms")
        well_formed = isinstance(terms, list) and all(
            isinstance(t, dict) and t.get("slug") and t.get("name") for t in terms
        )
        if not well_formed:
            raise click.ClickException(f"{path.name}: 'terms' must be a list of objects with 'slug' and 'name'")
        out.append((kind, terms))
    return out


def seed_catalog(directory: Path = CATALOG_DIR) -> SeedReport:
    """Create missing terms and update the names of existing ones, by (kind, slug).

    Never deletes or retires anything: terms an admin added or retired stay as they are.
    """
    report = SeedReport()
    for kind, terms in load_catalog_files(directory):
        existing = {t.slug: t for t in db.session.scalars(sa.select(CatalogTerm).where(CatalogTerm.kind == kind))}
        for item in terms:
            values = {
                "name": item["name"],
                "name_de": item.get("name_de", ""),
                "group": item.get("group", ""),
            }
            if "description" in item:
                values["description"] = item["description"]
            term = existing.get(item["slug"])
            if term is None:
                term = CatalogTerm(kind=kind, slug=item["slug"], description="", **values)
                db.session.add(term)
                existing[term.slug] = term
                report.count(report.created, kind.value)
            elif any(getattr(term, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(term, k, v)
                report.count(report.updated, kind.value)
            else:
                report.count(report.unchanged, kind.value)
    if report.total_created or report.total_updated:
        db.session.flush()
        audit.record(
            "catalog.seeded",
            actor=None,
            entity="catalog_terms",
            entity_id=None,
            data={"created": report.created, "updated": report.updated},
        )
    uow.commit()
    return report


@click.command("seed-catalog")
@with_appcontext
def seed_catalog_command() -> None:
    """Load the plastics catalog (industries, job titles, skills, ...); safe to run again."""
    report = seed_catalog()
    kinds = sorted(set(report.created) | set(report.updated) | set(report.unchanged))
    for kind in kinds:
        click.echo(
            f"  {kind:<15} {report.created.get(kind, 0):>3} new, {report.updated.get(kind, 0):>3} updated, "
            f"{report.unchanged.get(kind, 0):>3} unchanged"
        )
    click.echo(f"Catalog ready: {report.total_created} new, {report.total_updated} updated.")


# Admin accounts --------------------------------------------------------------------------


def _normalise_email(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="--email") from exc


def _email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email.lower())) is not None


def create_admin(*, email: str, name: str, password: str, superadmin: bool = False) -> User:
    """Create a verified hub admin (2FA is enrolled at the first login) and audit it."""
    from app.passwords import hash_password

    now = datetime.now(UTC)
    user = User(
        email=email,
        full_name=name,
        password_hash=hash_password(password),
        role=Role.ADMIN,
        is_superadmin=superadmin,
        email_verified_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.created",
        actor=None,
        entity="users",
        entity_id=user.id,
        data={"role": Role.ADMIN.value, "via": "cli", "superadmin": superadmin},
    )
    uow.commit()
    return user


@click.command("create-admin")
@click.option("--email", required=True, help="The admin's e-mail address (the login).")
@click.option("--name", required=True, help="The admin's full name.")
@click.option("--superadmin", is_flag=True, help="May also manage other admins.")
@with_appcontext
def create_admin_command(email: str, name: str, superadmin: bool) -> None:
    """Create a hub admin. The password is asked twice and never echoed."""
    from app.passwords import password_problems

    email = _normalise_email(email)
    name = name.strip()
    if not name:
        raise click.BadParameter("the name must not be empty", param_hint="--name")
    if _email_taken(email):
        raise click.ClickException(f"An account with the e-mail address {email} already exists.")
    for _attempt in range(3):
        password = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
        problems = password_problems(password, email=email, name=name)
        if not problems:
            break
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
    else:
        raise click.ClickException("No acceptable password given; no account was created.")
    user = create_admin(email=email, name=name, password=password, superadmin=superadmin)
    click.echo(f"Admin {user.email} created (id {user.id}). Two-factor authentication is set up at the first login.")


# Demo data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    """One printed row of the demo table."""

    email: str
    password: str
    role: str
    state: str


DEMO_ADMIN = ("hub.admin@plasticonnect.example", "plastics hub back office", "Hanna Hofmann")
DEMO_COMPANY_OWNER = ("anna.weber@moldtech.example", "injection molding demo", "Anna Weber")
DEMO_PENDING_OWNER = ("lars.berg@polyform.example", "blown film demo account", "Lars Berg")
DEMO_EXPERT = ("k.mueller@experts.example", "scientific molding demo", "Klaus Müller")
DEMO_PENDING_EXPERT = ("j.santos@experts.example", "die design demo account", "João Santos")
DEMO_JOB_TITLE = "Sink marks and warpage on a PA66 GF30 sensor housing"
_S, _P, _M, _T = CatalogKind.SKILL, CatalogKind.PROCESS, CatalogKind.MATERIAL, CatalogKind.JOB_TITLE
# More approved experts, so that the demo job's ranking shows every reason at work:
# (e-mail, name, headline, day rate, skills, languages, employers)
DEMO_MORE_EXPERTS: list[tuple[str, str, str, int, list[tuple[CatalogKind, str, ExpertiseLevel]],
                              list[tuple[str, LanguageProficiency]], list[tuple[str, EmployerRelation]]]] = [
    ("s.fischer@experts.example", "Sabine Fischer", "Mould-flow analyst and warpage specialist", 105000,
     [(_T, "mold-flow-cae-analyst", ExpertiseLevel.PRINCIPAL), (_S, "mold-flow-simulation", ExpertiseLevel.PRINCIPAL),
      (_S, "root-cause-analysis", ExpertiseLevel.SENIOR), (_P, "injection-molding", ExpertiseLevel.SENIOR),
      (_M, "pa66", ExpertiseLevel.SENIOR)],
     [("de", LanguageProficiency.NATIVE), ("en", LanguageProficiency.C1)], []),
    ("t.becker@experts.example", "Tobias Becker", "Injection molding process engineer (automotive)", 90000,
     [(_T, "injection-molding-process-engineer", ExpertiseLevel.PRINCIPAL),
      (_S, "scientific-molding", ExpertiseLevel.PRINCIPAL), (_S, "root-cause-analysis", ExpertiseLevel.PRINCIPAL),
      (_P, "injection-molding", ExpertiseLevel.PRINCIPAL), (_M, "pa66", ExpertiseLevel.PRINCIPAL)],
     [("de", LanguageProficiency.NATIVE)], [("MoldTech Präzision GmbH", EmployerRelation.FORMER)]),
    ("j.clarke@experts.example", "James Clarke", "Scientific molding trainer and troubleshooter", 85000,
     [(_T, "injection-molding-process-engineer", ExpertiseLevel.PRINCIPAL),
      (_S, "scientific-molding", ExpertiseLevel.PRINCIPAL), (_S, "root-cause-analysis", ExpertiseLevel.SENIOR),
      (_P, "injection-molding", ExpertiseLevel.SENIOR)],
     [("en", LanguageProficiency.NATIVE)], []),
    ("m.rossi@experts.example", "Marco Rossi", "Senior polymer consultant, glass-filled polyamides", 320000,
     [(_T, "polymer-materials-scientist", ExpertiseLevel.PRINCIPAL), (_S, "root-cause-analysis", ExpertiseLevel.SENIOR),
      (_S, "scientific-molding", ExpertiseLevel.SENIOR), (_P, "injection-molding", ExpertiseLevel.SENIOR),
      (_M, "pa66", ExpertiseLevel.PRINCIPAL)],
     [("de", LanguageProficiency.C1), ("it", LanguageProficiency.NATIVE)], []),
    ("l.novak@experts.example", "Lena Novak", "Process technician, injection molding", 55000,
     [(_T, "process-technician-molding", ExpertiseLevel.SENIOR),
      (_S, "scientific-molding", ExpertiseLevel.INTERMEDIATE),
      (_P, "injection-molding", ExpertiseLevel.SENIOR)],
     [("de", LanguageProficiency.B2), ("cs", LanguageProficiency.NATIVE)], []),
]
# The demo company's running project with the demo expert (``_demo_project``). Days are counted from today.
DEMO_PROJECT_TITLE = "Cycle-time reduction on a PP closure tool"
DEMO_PROJECT_JOB: dict[str, Any] = {
    "category": "problem_solving", "subtype": "process_optimisation", "qc_requested": True,
    "description": DEMO_PROJECT_TITLE + ": our 16-cavity hot-runner tool for a 38 mm PP flip-top closure runs at "
    "14.2 s; the customer's volume needs 11 s without losing the hinge or the ovality tolerance.",
    "scope": "Analyse where the cycle is spent (cooling, hold, mould movements), propose changes to the process "
    "and, if needed, to the core cooling, prove 11 s in a trial run and document the new process window.",
    "part_description": "Flip-top closure, 38 mm, PP homopolymer (MFI 12), 4.1 g, film hinge, 1.1 mm wall.",
    "machine_description": "Engel e-mac 280, 2800 kN, 16-cavity hot runner with pin-point gates (0.8 mm).",
    "data_available": "Process sheet of the current setting, thermal images of the core, 3 months of cycle data.",
    "budget_minor": 900000, "currency": "EUR",
}
DEMO_PROJECT_SKILLS = (("scientific-molding", ExpertiseLevel.SENIOR),
                       ("cooling-time-optimisation", ExpertiseLevel.SENIOR),
                       ("gate-freeze-study", ExpertiseLevel.INTERMEDIATE))
DEMO_PROJECT_SOLUTION = (
    "A scientific-molding study of the closure tool: gate-freeze and cooling-time studies on the machine, "
    "thermal imaging of core and cavity, a revised core cooling layout if the core is the bottleneck, then a "
    "trial run at 11 s with 2,000 parts measured for ovality and hinge function."
)
DEMO_PROJECT_DELIVERABLES = ["Baseline analysis of the current cycle", "Process window at 11 s (setting sheet)",
                             "Trial report with measurements", "Training of two setters (half a day)"]
DEMO_PROJECT_PRICE_MINOR = 720000  # the expert's price; the hub adds its fee
DEMO_PROJECT_DAYS = 35
DEMO_PROJECT_MILESTONES = (("Baseline and cooling analysis", 10, 30), ("Trial run at 11 s", 24, 40),
                           ("Final report and setter training", 35, 30))
# (who writes: company | expert | hub, the text); the hub's note is for the company only.
DEMO_PROJECT_MESSAGES = (
    ("company", "Before the trials: would you keep the pin-point gates at 0.8 mm, or should our toolmaker open "
                "them to 1.0 mm? He has a slot next week."),
    ("expert", "Keep them at 0.8 mm for now. The gate freezes at 2.1 s, well before cooling ends: the cycle is "
               "cooling-limited, so a larger gate would only lengthen the hold. The core is where we gain time."),
    ("expert", "If it is quicker, call me on +49 one seven zero 555 01 23 and we go through the gate together."),
    ("hub", "A note for you only: please keep every exchange with the expert in this channel (phone numbers are "
            "hidden on purpose). I will join tomorrow's call; your payment is held in escrow until you accept "
            "each milestone."),
)
DEMO_PROJECT_PROGRESS = ("Baseline measured on 3 shots: 14.2 s cycle, of which 8.5 s cooling. Thermal images show "
                         "the core 12 K hotter than the cavity behind the gate; next: the cooling-time study.")
DEMO_PROJECT_TASKS = (("Send 20 sample parts from the last batch", "company", 3),
                      ("Measure the core and cavity surface temperatures", "expert", 6))
DEMO_PROJECT_CALL = ("Gate and core cooling review", "Baseline results, gate size, next trial date.")
DEMO_PROJECT_STL = "closure_insert_v1.stl"
DEMO_PROJECT_REPORT = ("Baseline report: closure tool cycle time", [
    "Current cycle: 14.2 s (cooling 8.5 s, hold 2.4 s, mould movements 3.3 s).",
    "Gate freeze measured at 2.1 s: the hold can be shortened to 2.3 s.",
    "Core 12 K hotter than the cavity behind the gate: the core cooling limits the cycle.",
    "Next: cooling-time study, then a trial at 11 s.",
])


def demo_pdf(title: str, lines: Iterable[str]) -> bytes:
    """A small, valid one-page PDF with a title and a few lines of text (demo documents)."""

    def esc(text: str) -> str:
        text = text.encode("latin-1", "replace").decode("latin-1")
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 18 Tf", "72 760 Td", f"({esc(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        ops += ["0 -22 Td", f"({esc(line)}) Tj"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _find_user(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))


def _term(kind: CatalogKind, slug: str) -> CatalogTerm | None:
    return db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.kind == kind, CatalogTerm.slug == slug))


def _demo_user(spec: tuple[str, str, str], role: Role, **extra: Any) -> User:
    from app.passwords import hash_password, password_problems

    email, password, name = spec
    problems = password_problems(password, email=email, name=name)
    if problems:  # a demo password must follow the same rules as everyone's
        raise click.ClickException(f"demo password for {email} is not acceptable: {problems}")
    now = datetime.now(UTC)
    user = User(
        email=email,
        full_name=name,
        password_hash=hash_password(password),
        role=role,
        email_verified_at=now,
        password_changed_at=now,
        **extra,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", actor=None, entity="users", entity_id=user.id, data={"via": "seed-demo"})
    return user


def _demo_document(
    *,
    kind: DocumentKind,
    title: str,
    lines: list[str],
    filename: str,
    uploaded_by: User,
    company: Company | None = None,
    expert: ExpertProfile | None = None,
    reviewed_by: User | None = None,
) -> Document:
    from app.integrations.storage import get_storage
    from app.services.uploads import new_storage_key

    data = demo_pdf(title, lines)
    prefix = f"companies/{company.id}/kyc" if company is not None else f"experts/{expert.id if expert else 0}/docs"
    key = new_storage_key(prefix)
    get_storage().put(key, data, content_type="application/pdf")
    now = datetime.now(UTC)
    document = Document(
        company_id=company.id if company is not None else None,
        expert_id=expert.id if expert is not None else None,
        kind=kind,
        storage_key=key,
        original_name=filename,
        content_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=uploaded_by.id,
        review=DocumentReview.ACCEPTED if reviewed_by is not None else DocumentReview.PENDING,
        reviewed_by_id=reviewed_by.id if reviewed_by is not None else None,
        reviewed_at=now if reviewed_by is not None else None,
    )
    db.session.add(document)
    db.session.flush()
    audit.record("document.seeded", actor=None, entity="documents", entity_id=document.id, data={"via": "seed-demo"})
    return document


def _demo_company(
    owner_spec: tuple[str, str, str],
    *,
    status: VerificationStatus,
    admin: User,
    values: dict[str, Any],
    industry: str,
    document_lines: list[str],
) -> None:
    now = datetime.now(UTC)
    approved = status is VerificationStatus.APPROVED
    company = Company(
        **values,
        industry=_term(CatalogKind.INDUSTRY, industry),
        status=status,
        submitted_at=now - timedelta(days=9 if approved else 2),
        decided_at=now - timedelta(days=7) if approved else None,
        decided_by_id=admin.id if approved else None,
    )
    db.session.add(company)
    db.session.flush()
    audit.record(
        "company.seeded",
        actor=None,
        entity="companies",
        entity_id=company.id,
        to_state=status.value,
        data={"via": "seed-demo"},
    )
    owner = _demo_user(owner_spec, Role.COMPANY, company_id=company.id, company_role=CompanyRole.OWNER)
    _demo_document(
        kind=DocumentKind.REGISTRATION_CERTIFICATE,
        title=f"Certificate of incorporation: {company.legal_name}",
        lines=[*document_lines, "Demo document generated by flask seed-demo."],
        filename="certificate-of-incorporation.pdf",
        uploaded_by=owner,
        company=company,
        reviewed_by=admin if approved else None,
    )


def _demo_expert(
    spec: tuple[str, str, str],
    *,
    status: VerificationStatus,
    admin: User,
    values: dict[str, Any],
    skills: list[tuple[CatalogKind, str, ExpertiseLevel]],
    languages: list[tuple[str, LanguageProficiency]],
    employers: list[tuple[str, EmployerRelation]],
) -> None:
    from app.services.pseudonyms import new_pseudonym

    now = datetime.now(UTC)
    approved = status is VerificationStatus.APPROVED
    user = _demo_user(spec, Role.EXPERT)
    profile = ExpertProfile(
        user_id=user.id,
        pseudonym=new_pseudonym(),
        status=status,
        submitted_at=now - timedelta(days=6 if approved else 1),
        decided_at=now - timedelta(days=5) if approved else None,
        decided_by_id=admin.id if approved else None,
        **values,
    )
    db.session.add(profile)
    db.session.flush()
    for kind, slug, level in skills:
        term = _term(kind, slug)
        if term is not None:
            profile.skills.append(ExpertSkill(term_id=term.id, level=level))
    profile.languages.extend(ExpertLanguage(code=code, proficiency=p) for code, p in languages)
    profile.employers.extend(ExpertEmployer(name=name, relation=r) for name, r in employers)
    db.session.flush()
    audit.record(
        "expert.seeded",
        actor=None,
        entity="expert_profiles",
        entity_id=profile.id,
        to_state=status.value,
        data={"via": "seed-demo"},
    )
    _demo_document(
        kind=DocumentKind.CV,
        title=f"Curriculum vitae: {user.full_name}",
        lines=[values["headline"], f"{values['years_experience']} years of experience."],
        filename="cv.pdf",
        uploaded_by=user,
        expert=profile,
        reviewed_by=admin if approved else None,
    )


def seed_demo() -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; returns every demo account with its state."""
    if db.session.scalar(sa.select(CatalogTerm.id).limit(1)) is None:
        seed_catalog()  # the demo profiles refer to catalog terms
    admin = _find_user(DEMO_ADMIN[0])
    if admin is None:
        admin = _demo_user(DEMO_ADMIN, Role.ADMIN, is_superadmin=True)

    if _find_user(DEMO_COMPANY_OWNER[0]) is None:
        _demo_company(
            DEMO_COMPANY_OWNER,
            status=VerificationStatus.APPROVED,
            admin=admin,
            industry="automotive-transportation",
            values={
                "name": "MoldTech Präzision",
                "legal_name": "MoldTech Präzision GmbH",
                "registration_number": "HRB 734512",
                "vat_id": "DE298765431",
                "country": "DE",
                "address": "Industriestraße 12\n70565 Stuttgart",
                "website": "https://moldtech.example",
                "contact_person": "Anna Weber",
                "contact_email": DEMO_COMPANY_OWNER[0],
                "phone": "+49 711 555 0100",
                "payment_method": PaymentMethod.BANK_TRANSFER,
            },
            document_lines=["MoldTech Präzision GmbH", "Amtsgericht Stuttgart, HRB 734512"],
        )
    if _find_user(DEMO_PENDING_OWNER[0]) is None:
        _demo_company(
            DEMO_PENDING_OWNER,
            status=VerificationStatus.PENDING_VERIFICATION,
            admin=admin,
            industry="packaging",
            values={
                "name": "PolyForm Packaging",
                "legal_name": "PolyForm Packaging AB",
                "registration_number": "556123-4567",
                "vat_id": "SE556123456701",
                "country": "SE",
                "address": "Hamngatan 4\n211 22 Malmö",
                "website": "https://polyform.example",
                "contact_person": "Lars Berg",
                "contact_email": DEMO_PENDING_OWNER[0],
                "phone": "+46 40 555 0199",
                "payment_method": PaymentMethod.INVOICE,
            },
            document_lines=["PolyForm Packaging AB", "Organisation number 556123-4567"],
        )
    if _find_user(DEMO_EXPERT[0]) is None:
        _demo_expert(
            DEMO_EXPERT,
            status=VerificationStatus.APPROVED,
            admin=admin,
            values={
                "headline": "Injection molding process engineer, scientific molding",
                "summary": "Eighteen years in automotive injection molding: process validation, "
                "decoupled molding and root-cause analysis of sink marks, warpage and short shots.",
                "years_experience": 18,
                "day_rate_minor": 95000,
                "currency": "EUR",
                "available_from": date.today(),
                "capacity_days_per_week": 3,
                "country": "DE",
                "timezone": "Europe/Berlin",
            },
            skills=[
                (CatalogKind.JOB_TITLE, "injection-molding-process-engineer", ExpertiseLevel.PRINCIPAL),
                (CatalogKind.SKILL, "scientific-molding", ExpertiseLevel.PRINCIPAL),
                (CatalogKind.SKILL, "decoupled-molding", ExpertiseLevel.SENIOR),
                (CatalogKind.SKILL, "root-cause-analysis", ExpertiseLevel.SENIOR),
            ],
            languages=[("de", LanguageProficiency.NATIVE), ("en", LanguageProficiency.C1)],
            employers=[("Formteile Süd GmbH", EmployerRelation.FORMER)],
        )
    if _find_user(DEMO_PENDING_EXPERT[0]) is None:
        _demo_expert(
            DEMO_PENDING_EXPERT,
            status=VerificationStatus.PENDING_VERIFICATION,
            admin=admin,
            values={
                "headline": "Extrusion process engineer, blown film and die design",
                "summary": "Twelve years of blown and cast film lines; die design and gel troubleshooting.",
                "years_experience": 12,
                "day_rate_minor": 80000,
                "currency": "EUR",
                "available_from": date.today() + timedelta(days=14),
                "capacity_days_per_week": 2,
                "country": "PT",
                "timezone": "Europe/Lisbon",
            },
            skills=[
                (CatalogKind.JOB_TITLE, "extrusion-process-engineer", ExpertiseLevel.SENIOR),
                (CatalogKind.SKILL, "die-design", ExpertiseLevel.SENIOR),
                (CatalogKind.PROCESS, "blown-film-extrusion", ExpertiseLevel.SENIOR),
            ],
            languages=[
                ("pt", LanguageProficiency.NATIVE),
                ("en", LanguageProficiency.B2),
                ("es", LanguageProficiency.B1),
            ],
            employers=[("Filmes Atlântico Lda", EmployerRelation.CURRENT)],
        )
    for email, name, headline, rate, skills, languages, employers in DEMO_MORE_EXPERTS:
        if _find_user(email) is None:
            _demo_expert(
                (email, secrets.token_urlsafe(12) + "-Demo7", name),
                status=VerificationStatus.APPROVED,
                admin=admin,
                values={"headline": headline, "summary": headline + ".", "years_experience": 15,
                        "day_rate_minor": rate, "currency": "EUR", "available_from": date.today(),
                        "capacity_days_per_week": 3, "country": "DE", "timezone": "Europe/Berlin"},
                skills=skills,
                languages=languages,
                employers=employers,
            )
    uow.commit()
    _demo_job(admin)
    _demo_project(admin)
    return demo_accounts()


def _demo_job(admin: User) -> None:
    """A published public job of the demo company, ranked by the matching (once)."""
    from app.models import Job, JobCategory, JobLanguage, JobSkill, JobStatus
    from app.services import jobs

    owner = _find_user(DEMO_COMPANY_OWNER[0])
    if owner is None or owner.company is None:
        return
    if db.session.scalar(sa.select(Job.id).where(Job.company_id == owner.company_id).limit(1)) is not None:
        return
    title, process = _term(_T, "injection-molding-process-engineer"), _term(_P, "injection-molding")
    material, defect = _term(_M, "pa66"), _term(CatalogKind.DEFECT, "injection-molding-sink-marks")
    if title is None or process is None:
        return
    today = date.today()
    job = Job(
        company_id=owner.company_id, created_by_id=owner.id, title_term_id=title.id,
        category=JobCategory.PROBLEM_SOLVING, subtype="root_cause", status=JobStatus.PENDING_REVIEW,
        description=DEMO_JOB_TITLE + ": since the switch to a new resin batch, the 2-cavity tool shows sink "
        "marks above the ribs and 0.4 mm warpage on the long side.",
        scope="Find the root cause, propose a robust process window (scientific molding) and train two setters.",
        process_term_id=process.id, material_term_id=material.id if material else None,
        defect_term_id=defect.id if defect else None,
        part_description="Sensor housing, 2.2 mm wall with 1.6 mm ribs, PA66 GF30, 48 g.",
        machine_description="Arburg 470 A, 1000 kN, hot runner with valve gates.",
        budget_minor=800000, currency="EUR", start_date=today + timedelta(days=10),
        completion_date=today + timedelta(days=40), submitted_at=datetime.now(UTC),
    )
    for slug, level in (("scientific-molding", ExpertiseLevel.SENIOR), ("root-cause-analysis", ExpertiseLevel.SENIOR)):
        term = _term(_S, slug)
        if term is not None:
            job.skills.append(JobSkill(term_id=term.id, level=level))
    job.languages.append(JobLanguage(code="de", min_proficiency=LanguageProficiency.B2))
    db.session.add(job)
    db.session.flush()
    audit.record("job.seeded", actor=None, entity="jobs", entity_id=job.id, to_state=JobStatus.PENDING_REVIEW.value,
                 data={"via": "seed-demo"})
    uow.commit()
    jobs.publish_job(job.id, actor=admin, visibility="public")  # ranks the experts; tells the top matches


def _demo_project(admin: User) -> None:
    """A second job of the demo company that is already a running project with the demo expert (once).

    Every step goes through the real services in the order of the workflow, committing as the views
    do: the owner drafts and submits the job, the hub publishes it to the demo expert only, the expert
    offers three milestones, the hub forwards the offer, the owner accepts it (the contract opens), the
    three parties sign every document, the hub records the bank transfer (the project starts) and the
    workspace fills with messages, progress, tasks, a call and two files.
    Does nothing when the demo company already has a project or this job (a run that stopped half-way).
    """
    from app.models import Job, Project

    owner, expert = _find_user(DEMO_COMPANY_OWNER[0]), _find_user(DEMO_EXPERT[0])
    if owner is None or owner.company_id is None or expert is None or expert.expert_profile is None:
        return
    company_id = owner.company_id
    if db.session.scalar(sa.select(Project.id).where(Project.company_id == company_id).limit(1)) is not None:
        return
    if db.session.scalar(sa.select(Job.id).where(Job.company_id == company_id,
                                                 Job.description.startswith(DEMO_PROJECT_TITLE)).limit(1)):
        return
    job_id = _demo_project_job(owner, admin, expert)
    if job_id is not None:
        project_id = _demo_project_contract(job_id, owner=owner, admin=admin, expert=expert)
        _demo_project_workspace(project_id, owner=owner, admin=admin, expert=expert)


def _demo_project_job(owner: User, admin: User, expert: User) -> int | None:
    """Draft, submit and publish the job (private: the demo expert is invited), and the expert accepts its terms."""
    from app.services import jobs

    title, process = _term(_T, "injection-molding-process-engineer"), _term(_P, "injection-molding")
    material, defect = _term(_M, "pp"), _term(CatalogKind.DEFECT, "cross-process-long-cycle-time")
    if title is None or process is None or owner.company_id is None or expert.expert_profile is None:
        return None
    today = datetime.now(UTC).date()
    job = jobs.create_job(
        owner.company_id, actor=owner, **DEMO_PROJECT_JOB, title_term_id=title.id, process_term_id=process.id,
        material_term_id=material.id if material else None, defect_term_id=defect.id if defect else None,
        start_date=today, completion_date=today + timedelta(days=DEMO_PROJECT_DAYS),
    )
    skills = [(term.id, level) for slug, level in DEMO_PROJECT_SKILLS if (term := _term(_S, slug)) is not None]
    jobs.set_job_skills(job.id, actor=owner, items=skills)
    jobs.set_job_languages(job.id, actor=owner, items=[("de", LanguageProficiency.B2)])
    jobs.submit_job(job.id, actor=owner)
    jobs.publish_job(job.id, actor=admin, visibility="private", invite_expert_ids=[expert.expert_profile.id])
    jobs.accept_job_confidentiality(job.id, actor=expert)
    return job.id


def _demo_project_contract(job_id: int, *, owner: User, admin: User, expert: User) -> int:
    """Offer, forward, accept, sign and fund by bank transfer; returns the project's id."""
    from app.models import SIGNERS, Project, SignerRole
    from app.services import contracts, escrow, negotiations, offers

    today = datetime.now(UTC).date()
    offer = offers.submit_offer(job_id, actor=expert, data=offers.OfferInput(
        solution=DEMO_PROJECT_SOLUTION, price_minor=DEMO_PROJECT_PRICE_MINOR, start_date=today,
        end_date=today + timedelta(days=DEMO_PROJECT_DAYS), deliverables=list(DEMO_PROJECT_DELIVERABLES),
        milestones=[offers.MilestoneInput(title, today + timedelta(days=days), share)
                    for title, days, share in DEMO_PROJECT_MILESTONES],
        accept_clauses=True, clauses_version=offers.CURRENT_CLAUSES.version,
    ))
    negotiations.forward_offer(offer.id, actor=admin)  # the default hub fee
    contract = negotiations.accept_offer(offer.id, actor=owner)  # opens the contract with its documents
    signers = {SignerRole.COMPANY: owner, SignerRole.HUB: admin, SignerRole.EXPERT: expert}
    for document in list(contract.documents):
        for role in SIGNERS[document.kind]:
            who = signers[role]
            contracts.sign_document(document.id, actor=who, typed_name=who.full_name,
                                    document_sha256=document.sha256)
    escrow.record_bank_transfer(contract.id, actor=admin, amount_minor=contract.client_price_minor,
                                currency=contract.currency, received_on=today,
                                bank_reference=f"DEMO-{contract.payment_reference}")
    project_id = db.session.scalar(sa.select(Project.id).where(Project.contract_id == contract.id))
    assert project_id is not None  # the exact amount funds the contract and starts the project
    return project_id


def _demo_project_workspace(project_id: int, *, owner: User, admin: User, expert: User) -> None:
    """Channel messages, milestone 1 at 40 %, two tasks, tomorrow's call, a 3D model and a report."""
    import trimesh

    from app.models import Audience, ProjectMilestone
    from app.services import project_calls, project_files, project_plan, projects
    from app.services.uploads import Upload

    authors = {"company": owner, "expert": expert, "hub": admin}
    project, _side = projects.load_project(project_id, actor=admin)
    for who, text in DEMO_PROJECT_MESSAGES:  # the hub writes to the company only
        projects.post_message(project, authors[who], text,
                              audience=Audience.COMPANY if who == "hub" else Audience.EVERYONE)
        uow.commit()
    first = db.session.scalar(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project_id)
                              .order_by(ProjectMilestone.position).limit(1))
    assert first is not None
    project_plan.start_milestone(first.id, actor=expert)
    uow.commit()
    project_plan.post_progress(project_id, actor=expert, milestone_id=first.id, percent=40,
                               text=DEMO_PROJECT_PROGRESS)
    uow.commit()
    today = datetime.now(UTC).date()
    for title, who, days in DEMO_PROJECT_TASKS:
        project_plan.add_task(project_id, actor=expert, milestone_id=first.id, title=title,
                              assignee_id=authors[who].id, due_date=today + timedelta(days=days))
        uow.commit()
    topic, agenda = DEMO_PROJECT_CALL
    project_calls.schedule_call(project_id, actor=owner, topic=topic, agenda=agenda, duration_minutes=45,
                                starts_at=datetime.combine(today + timedelta(days=1), time(10, 0), tzinfo=UTC))
    uow.commit()
    model = trimesh.creation.box(extents=(40, 30, 10)).export(file_type="stl")
    project_files.upload_file(project_id, actor=expert, upload=Upload(DEMO_PROJECT_STL, bytes(model)),
                              title="Closure insert v1", note="Core insert with the proposed cooling layout.")
    uow.commit()  # the 3D preview is built after the commit (inline without Redis)
    report_title, lines = DEMO_PROJECT_REPORT
    project_files.upload_file(project_id, actor=expert, upload=Upload("baseline_report.pdf",
                                                                      demo_pdf(report_title, lines)),
                              title=report_title)
    uow.commit()


def demo_accounts() -> list[DemoAccount]:
    """The demo accounts as they stand now (state read from the database)."""
    rows: list[DemoAccount] = []
    specs = [
        (DEMO_ADMIN, "hub admin"),
        (DEMO_COMPANY_OWNER, "company owner"),
        (DEMO_PENDING_OWNER, "company owner"),
        (DEMO_EXPERT, "expert"),
        (DEMO_PENDING_EXPERT, "expert"),
    ]
    for (email, password, _name), role in specs:
        user = _find_user(email)
        if user is None:
            continue
        if user.company is not None:
            state = f"{user.company.name}: {user.company.status.value}"
        elif user.expert_profile is not None:
            state = f"Expert {user.expert_profile.pseudonym}: {user.expert_profile.status.value}"
        else:
            state = "2FA set-up at first login" if user.totp_enabled_at is None else "active"
        if user.suspended_at is not None:
            state += " (account suspended)"
        rows.append(DemoAccount(email=email, password=password, role=role, state=state))
    return rows


def _login_url() -> str:
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000")
    try:
        with current_app.test_request_context(base_url=base):
            return url_for("auth.login", _external=True)
    except Exception:  # the login page is not registered (yet): the site itself
        return base


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create demo accounts (admin, companies, experts) once, and print them with their passwords."""
    accounts = seed_demo()
    headers = ("E-mail", "Password", "Role", "State")
    table = [headers] + [(a.email, a.password, a.role, a.state) for a in accounts]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    click.echo(f"\nDemo accounts (log in at {_login_url()}):")
    for n, row in enumerate(table):
        click.echo(("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))).rstrip())
        if n == 0:
            click.echo("  " + "  ".join("-" * w for w in widths))
    click.echo("")


# Outbox and worker -----------------------------------------------------------------------


@click.group("outbox")
def outbox_group() -> None:
    """Deliver outgoing e-mails and other effects."""


@outbox_group.command("sweep")
@with_appcontext
def outbox_sweep() -> None:
    """Deliver every due message now (retries included)."""
    from app.services import deliveries, uow
    from app.tasks.matching import sweep_stale_runs
    from app.tasks.outbox import sweep
    from app.tasks.projects import remind_overdue_milestones
    from app.tasks.reconciliation import reconcile_ledger_if_due
    from app.tasks.refunds import sweep_pending_refunds
    from app.tasks.release import sweep_pending_payouts

    click.echo(f"delivered {sweep()} message(s)")
    ranked = sweep_stale_runs()
    if ranked:
        click.echo(f"ran {ranked} waiting ranking(s)")
    try:
        reminded = remind_overdue_milestones()
    except Exception:
        logger.exception("Overdue milestone reminders failed; the next sweep tries again")
        click.echo("overdue milestone reminders failed (see the log)", err=True)
    else:
        if reminded:
            click.echo(f"reminded about {reminded} overdue milestone(s)")
    try:
        resent = sweep_pending_refunds() + sweep_pending_payouts()
    except Exception:
        uow.rollback()
        logger.exception("Refund and payout sweeps failed; the next sweep tries again")
        click.echo("refund and payout sweeps failed (see the log)", err=True)
    else:
        if resent:
            click.echo(f"sent again {resent} pending refund(s) and payout(s)")
    try:
        waiting = deliveries.remind_pending_reviews()
        uow.commit()
    except Exception:
        uow.rollback()
        logger.exception("Delivery review reminders failed; the next sweep tries again")
        click.echo("delivery review reminders failed (see the log)", err=True)
    else:
        if waiting:
            click.echo(f"reminded companies of {waiting} delivery(ies) waiting for their review")
    try:
        reconciled = reconcile_ledger_if_due()
    except Exception:
        uow.rollback()
        logger.exception("Ledger reconciliation failed; a later sweep tries again")
        click.echo("ledger reconciliation failed (see the log)", err=True)
    else:
        if reconciled is not None:
            verdict = "ok" if reconciled.ok else f"{len(reconciled.mismatches)} mismatch(es)"
            click.echo(f"reconciled the ledger: {verdict}")


def _sweep_forever(app: Flask, interval: float, stop: threading.Event) -> None:
    """Run the outbox sweep every ``interval`` seconds until ``stop`` is set."""
    from app.services import deliveries, uow
    from app.tasks.matching import sweep_stale_runs
    from app.tasks.outbox import sweep
    from app.tasks.projects import remind_overdue_milestones
    from app.tasks.reconciliation import reconcile_ledger_if_due
    from app.tasks.refunds import sweep_pending_refunds
    from app.tasks.release import sweep_pending_payouts

    while not stop.wait(interval):
        try:
            with app.app_context():
                delivered = sweep()
                sweep_stale_runs()
                try:
                    remind_overdue_milestones()
                except Exception:
                    logger.exception("Overdue milestone reminders failed; trying again in %s s", interval)
                try:
                    deliveries.remind_pending_reviews()
                    uow.commit()
                except Exception:
                    uow.rollback()
                    logger.exception("Delivery review reminders failed; trying again in %s s", interval)
                try:
                    sweep_pending_refunds()
                    sweep_pending_payouts()
                except Exception:
                    uow.rollback()
                    logger.exception("Refund and payout sweeps failed; trying again in %s s", interval)
                try:
                    reconcile_ledger_if_due()
                except Exception:
                    uow.rollback()
                    logger.exception("Ledger reconciliation failed; a later sweep tries again")
            if delivered:
                click.echo(f"{datetime.now(UTC):%H:%M:%S} Outbox sweep delivered {delivered} message(s)")
        except Exception:
            logger.exception("Outbox sweep failed; trying again in %s s", interval)


# Ledger -----------------------------------------------------------------------------------


@click.group("ledger")
def ledger_group() -> None:
    """Check the money ledger."""


@ledger_group.command("reconcile")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only check provider objects and ledger transactions created from this day on (UTC).")
@with_appcontext
def ledger_reconcile(since: datetime | None) -> None:
    """Compare the ledger with the payment provider; exit status 1 when anything does not match."""
    from app.tasks.reconciliation import reconcile_ledger

    report = reconcile_ledger(since.replace(tzinfo=UTC) if since is not None else None)
    if report is None:
        click.echo("Card payments are not configured (STRIPE_SECRET_KEY is empty): nothing to reconcile.")
        return
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        click.get_current_context().exit(1)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then stop (no sweeping).")
@click.option(
    "--sweep-interval",
    type=float,
    default=SWEEP_INTERVAL_SECONDS,
    show_default=True,
    help="Seconds between outbox sweeps; 0 turns the sweeper off.",
)
@with_appcontext
def worker_command(burst: bool, sweep_interval: float) -> None:
    """Run background tasks from Redis (queues high, notifications, default, low) with the scheduler."""
    from rq import SimpleWorker

    from app.tasks.queue import QUEUE_NAMES, connection, get_queue

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("REDIS_URL"):
        raise click.ClickException(
            "REDIS_URL is not set. Without Redis the app runs every task in the web process itself, "
            "so no worker is needed; set REDIS_URL (e.g. redis://127.0.0.1:6379/0) to use one."
        )

    class AppContextWorker(SimpleWorker):
        """Runs each task in a fresh app context, so no database session outlives its task."""

        def execute_job(self, job: Any, queue: Any) -> Any:
            with app.app_context():
                return super().execute_job(job, queue)

    conn = connection()
    conn.ping()
    worker = AppContextWorker([get_queue(name) for name in QUEUE_NAMES], connection=conn)
    stop = threading.Event()
    sweeper: threading.Thread | None = None
    if sweep_interval > 0 and not burst:
        sweeper = threading.Thread(
            target=_sweep_forever, args=(app, sweep_interval, stop), name="outbox-sweeper", daemon=True
        )
        sweeper.start()
    sweeping = f"; outbox sweep every {sweep_interval:g} s" if sweeper else ""
    click.echo(f"Worker on queues {', '.join(QUEUE_NAMES)}{sweeping}")
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()


# Hub seal certificate --------------------------------------------------------------------


@click.command("create-hub-certificate")
@click.option("--force", is_flag=True, help="Replace an existing key and certificate.")
@with_appcontext
def create_hub_certificate_command(force: bool) -> None:
    """Create the hub's document-seal key and self-signed certificate (HUB_SIGNING_KEY_PATH/CERT_PATH)."""
    from app.integrations.sealing import SealingError, certificate_fingerprint, ensure_hub_certificate

    key_path = Path(current_app.config["HUB_SIGNING_KEY_PATH"])
    cert_path = Path(current_app.config["HUB_SIGNING_CERT_PATH"])
    existing = [str(path) for path in (key_path, cert_path) if path.exists()]
    if existing and not force:
        raise click.ClickException(
            f"A hub seal key or certificate already exists ({', '.join(existing)}); nothing was changed. "
            "Use --force to replace both: PDFs sealed before then no longer verify as sealed by the hub."
        )
    organisation = str(current_app.config.get("HUB_LEGAL_NAME") or "Plasticonnect Hub")
    try:
        ensure_hub_certificate(
            key_path, cert_path, common_name=f"{organisation} document seal", organisation=organisation, replace=force
        )
    except (OSError, SealingError) as exc:
        raise click.ClickException(f"Could not create the hub certificate: {exc}") from exc
    click.echo(f"Hub seal key:         {key_path} (owner-only)")
    click.echo(f"Hub seal certificate: {cert_path}")
    click.echo(f"SHA-256 fingerprint:  {certificate_fingerprint(cert_path)}")
