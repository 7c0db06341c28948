"""The command-line tasks: seed-catalog, seed-demo, create-admin, outbox sweep."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from app.cli import (
    CATALOG_DIR,
    DEMO_ADMIN,
    DEMO_COMPANY_OWNER,
    DEMO_EXPERT,
    DEMO_JOB_TITLE,
    DEMO_PROJECT_STL,
    DEMO_PROJECT_TITLE,
    demo_pdf,
    seed_catalog,
    seed_demo,
)
from app.extensions import db
from app.integrations.storage import get_storage
from app.models import (
    AuditEvent,
    CatalogKind,
    CatalogTerm,
    Company,
    Document,
    ExpertProfile,
    Role,
    User,
    VerificationStatus,
)
from app.passwords import password_problems, verify_password
from app.services import audit, uow
from tests.conftest import login

MINIMUM = {
    CatalogKind.INDUSTRY: 12,
    CatalogKind.JOB_TITLE: 20,
    CatalogKind.SKILL: 25,
    CatalogKind.PROCESS: 25,
    CatalogKind.MATERIAL: 40,
    CatalogKind.DEFECT: 50,
    CatalogKind.TRAINING_TOPIC: 20,
    CatalogKind.STANDARD: 30,
}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _counts() -> Counter[CatalogKind]:
    return Counter(db.session.scalars(sa.select(CatalogTerm.kind)))


# Catalog -----------------------------------------------------------------------------------


def test_catalog_files_are_well_formed():
    for path in CATALOG_DIR.glob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        CatalogKind(doc["kind"])
        slugs = [t["slug"] for t in doc["terms"]]
        assert len(slugs) == len(set(slugs)), f"duplicate slug in {path.name}"
        for term in doc["terms"]:
            assert SLUG.fullmatch(term["slug"]) and len(term["slug"]) <= 80, term
            assert term["name"].strip() and len(term["name"]) <= 160, term
            assert term["name_de"].strip() and len(term["name_de"]) <= 160, term


def test_seed_catalog_loads_every_kind(app):
    report = seed_catalog()

    counts = _counts()
    for kind, minimum in MINIMUM.items():
        assert counts[kind] >= minimum, kind
    assert report.total_created == sum(counts.values())
    pe_hd = db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.slug == "pe-hd"))
    assert pe_hd is not None and pe_hd.kind is CatalogKind.MATERIAL
    assert pe_hd.name.startswith("PE-HD") and "density" in pe_hd.name
    assert pe_hd.label("de").startswith("PE-HD – Polyethylen")
    defects = db.session.scalars(sa.select(CatalogTerm).where(CatalogTerm.kind == CatalogKind.DEFECT)).all()
    assert {d.group for d in defects} >= {"injection-molding", "extrusion", "blow-molding", "thermoforming"}
    assert audit.verify_chain().ok


def test_seed_catalog_again_changes_nothing_and_never_deletes(app, f):
    seed_catalog()
    own = f.term(CatalogKind.SKILL, slug="our-own-skill", name="Our own skill")
    retired = db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.slug == "scientific-molding"))
    retired.retired_at = datetime.now(UTC)
    renamed = db.session.scalar(sa.select(CatalogTerm).where(CatalogTerm.slug == "packaging"))
    renamed.name = "Old name"
    uow.commit()
    before = _counts()
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    report = seed_catalog()

    assert report.total_created == 0
    assert report.updated == {"industry": 1}
    assert _counts() == before
    assert db.session.get(CatalogTerm, own.id) is not None
    db.session.expire_all()
    assert renamed.name == "Packaging (rigid, flexible)"
    assert retired.retired_at is not None  # an admin's retirement stands
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events + 1

    assert seed_catalog().total_updated == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events + 1


def test_seed_catalog_command(app):
    result = app.test_cli_runner().invoke(args=["seed-catalog"])
    assert result.exit_code == 0, result.output
    assert "material" in result.output
    assert "Catalog ready:" in result.output


# Demo data ---------------------------------------------------------------------------------


def test_seed_demo_creates_every_role_and_state_once(app):
    seed_catalog()
    first = seed_demo()
    second = seed_demo()

    assert first == second
    assert len(first) == 5  # the printed accounts; five more approved experts fill the demo job's ranking
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 10
    admin = db.session.scalar(sa.select(User).where(User.email == DEMO_ADMIN[0]))
    assert admin is not None and admin.role is Role.ADMIN
    companies = {c.name: c for c in db.session.scalars(sa.select(Company))}
    assert {c.status for c in companies.values()} == {
        VerificationStatus.APPROVED,
        VerificationStatus.PENDING_VERIFICATION,
    }
    experts = db.session.scalars(sa.select(ExpertProfile)).all()
    assert {e.status for e in experts} == {VerificationStatus.APPROVED, VerificationStatus.PENDING_VERIFICATION}
    for expert in experts:
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4,5}", expert.pseudonym)
        assert expert.skills and expert.languages
    for account in first:
        user = db.session.scalar(sa.select(User).where(User.email == account.email))
        assert user is not None and user.email_verified_at is not None
        assert verify_password(user.password_hash, account.password)
        assert password_problems(account.password, email=user.email, name=user.full_name) == []

    approved = next(c for c in companies.values() if c.status is VerificationStatus.APPROVED)
    assert approved.decided_by_id == admin.id
    # The demo company's published job was ranked: the conflicted and the non-German experts are excluded.
    from app.models import Job, JobStatus, MatchResult, MatchRun, MatchRunStatus

    (job,) = db.session.scalars(sa.select(Job).where(Job.company_id == approved.id,
                                                     Job.description.startswith(DEMO_JOB_TITLE))).all()
    assert job.status is JobStatus.PUBLISHED
    (run,) = db.session.scalars(sa.select(MatchRun).where(MatchRun.job_id == job.id)).all()
    assert run.status is MatchRunStatus.COMPLETED and run.excluded_counts == {"conflict": 1, "language": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchResult)
                             .where(MatchResult.run_id == run.id, MatchResult.rank.is_not(None))) == 4
    (document,) = db.session.scalars(sa.select(Document).where(Document.company_id == approved.id)).all()
    blob = get_storage().get(document.storage_key)
    assert len(blob) == document.size_bytes and document.content_type == "application/pdf"
    assert "Certificate of incorporation" in PdfReader(io.BytesIO(blob)).pages[0].extract_text()
    assert audit.verify_chain().ok


def test_seed_demo_starts_one_running_project_of_the_demo_company(app):
    from app.models import (
        Audience,
        ContractStatus,
        Job,
        JobStatus,
        JobVisibility,
        MessageKind,
        MilestoneStatus,
        PreviewStatus,
        ProgressUpdate,
        Project,
        ProjectFile,
        ProjectFileVersion,
        ProjectMessage,
        ProjectMilestone,
        ProjectRole,
        ProjectStatus,
        ProjectTask,
        VideoCall,
    )
    from app.services import projects

    seed_demo()
    seed_demo()  # the second run adds nothing

    def one(model: type, *where: object) -> object:
        (row,) = db.session.scalars(sa.select(model).where(*where)).all()
        return row

    owner = one(User, User.email == DEMO_COMPANY_OWNER[0])
    expert = one(User, User.email == DEMO_EXPERT[0])
    admin = one(User, User.email == DEMO_ADMIN[0])
    project = one(Project, Project.company_id == owner.company_id)
    assert project.status is ProjectStatus.ACTIVE
    assert project.expert_id == expert.expert_profile.id and project.manager_id == admin.id
    assert project.contract.status is ContractStatus.FUNDED and project.contract.funded_at is not None
    job = project.job
    assert job.description.startswith(DEMO_PROJECT_TITLE) and job.qc_requested
    assert job.status is JobStatus.AWARDED and job.visibility is JobVisibility.PRIVATE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)
                             .where(Job.company_id == owner.company_id)) == 2
    roles = {m.user_id: m.role for m in project.members}
    assert roles[owner.id] is ProjectRole.COMPANY and roles[expert.id] is ProjectRole.EXPERT
    assert roles[admin.id] is ProjectRole.MANAGER

    milestones = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                    .order_by(ProjectMilestone.position)).all()
    assert [m.share_percent for m in milestones] == [30, 40, 30]
    assert sum(m.amount_minor for m in milestones) == project.contract.client_price_minor
    assert milestones[0].status is MilestoneStatus.IN_PROGRESS and milestones[0].progress_percent == 40
    assert {m.status for m in milestones[1:]} == {MilestoneStatus.PLANNED}
    progress = one(ProgressUpdate, ProgressUpdate.project_id == project.id)
    assert progress.percent == 40 and progress.author_id == expert.id and progress.milestone_id == milestones[0].id
    tasks = db.session.scalars(sa.select(ProjectTask).where(ProjectTask.project_id == project.id)).all()
    assert len(tasks) == 2
    assert {t.title: t.assignee_id for t in tasks}["Send 20 sample parts from the last batch"] == owner.id
    call = one(VideoCall, VideoCall.project_id == project.id)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert call.starts_at.replace(tzinfo=UTC) == datetime.combine(tomorrow, time(10, 0), tzinfo=UTC)
    assert call.join_url.startswith("http")
    versions = {v.original_name: v for v in db.session.scalars(
        sa.select(ProjectFileVersion).join(ProjectFile).where(ProjectFile.project_id == project.id))}
    assert set(versions) == {DEMO_PROJECT_STL, "baseline_report.pdf"}
    stl = versions[DEMO_PROJECT_STL]
    assert stl.preview_status is PreviewStatus.READY and stl.preview_key
    assert get_storage().get(stl.preview_key)[:4] == b"glTF"
    report = versions["baseline_report.pdf"]
    assert report.file_type == "pdf" and report.uploaded_by_id == expert.id and stl.uploaded_by_id == expert.id

    messages = db.session.scalars(sa.select(ProjectMessage).where(ProjectMessage.project_id == project.id)).all()
    (masked,) = [m for m in messages if m.body_masked is not None]
    assert "+49 one seven zero 555 01 23" in masked.body and "555" not in masked.body_masked
    assert masked.author_id == expert.id
    assert {m.kind for m in messages} >= {MessageKind.TEXT, MessageKind.SYSTEM, MessageKind.PROGRESS,
                                          MessageKind.CALL, MessageKind.FILE}
    (note,) = [m for m in messages if m.audience is Audience.COMPANY]
    assert note.author_id == admin.id

    company_reads = projects.history(project.id, actor=owner, limit=200).messages
    company_text = " ".join(f"{m.author} {m.text}" for m in company_reads)
    assert expert.full_name not in company_text and expert.full_name.split()[-1] not in company_text
    assert f"Expert {expert.expert_profile.pseudonym}" in company_text
    assert "555 01 23" not in company_text and any(m.masked for m in company_reads)
    assert note.id in {m.id for m in company_reads}
    assert note.id not in {m.id for m in projects.history(project.id, actor=expert, limit=200).messages}
    hub_reads = projects.history(project.id, actor=admin, limit=200).messages
    assert any("+49 one seven zero 555 01 23" in m.text and m.masked_for_others for m in hub_reads)
    assert audit.verify_chain().ok

    client = login(app.test_client(), owner)  # the tour of the README: every tab opens for the company
    for tab in ("", "/files", "/plan", "/calls"):
        page = client.get(f"/projects/{project.id}{tab}")
        assert page.status_code == 200, tab
        assert expert.full_name.split()[-1] not in page.get_data(as_text=True), tab
    channel = json.dumps(client.get(f"/projects/{project.id}/messages.json").get_json(), ensure_ascii=False)
    assert "Expert " in channel and "Müller" not in channel and "555 01 23" not in channel


def test_seed_demo_command_prints_the_accounts(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_ADMIN[0] in result.output and DEMO_ADMIN[1] in result.output
    assert "pending_verification" in result.output and "approved" in result.output
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0 and again.output == result.output


def test_demo_pdf_is_readable():
    reader = PdfReader(io.BytesIO(demo_pdf("Title (1)", ["Größe: 10 mm", "back\\slash"])))
    text = reader.pages[0].extract_text()
    assert "Title (1)" in text and "Größe: 10 mm" in text


# create-admin ------------------------------------------------------------------------------


def test_create_admin_asks_twice_and_creates_a_verified_admin(app):
    password = "quiet extruder on night shift"
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "Ops@Hub.Example", "--name", "Olga Ops"],
        input=f"{password}\n{password}\n",
    )

    assert result.exit_code == 0, result.output
    assert password not in result.output  # hidden input
    user = db.session.scalar(sa.select(User).where(User.email == "ops@hub.example"))
    assert user is not None and user.role is Role.ADMIN and user.email_verified_at is not None
    assert verify_password(user.password_hash, password)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.created"))
    assert event is not None and event.entity_id == user.id


def test_create_admin_refuses_weak_passwords(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "ops@hub.example", "--name", "Olga Ops"],
        input="password\npassword\nshort\nshort\n123456789012\n123456789012\n",
    )
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert "No acceptable password" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_create_admin_refuses_a_taken_email_and_a_bad_one(app, f):
    f.user(email="taken@hub.example")
    runner = app.test_cli_runner()
    taken = runner.invoke(args=["create-admin", "--email", "TAKEN@hub.example", "--name", "X"], input="")
    assert taken.exit_code == 1 and "already exists" in taken.output
    bad = runner.invoke(args=["create-admin", "--email", "not-an-address", "--name", "X"], input="")
    assert bad.exit_code == 2 and "--email" in bad.output


def test_create_admin_wants_the_same_password_twice(app):
    password = "quiet extruder on night shift"
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "ops@hub.example", "--name", "Olga Ops"],
        input=f"{password}\nother passphrase entirely\n{password}\n{password}\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


# outbox ------------------------------------------------------------------------------------


def test_outbox_sweep_command(app):
    result = app.test_cli_runner().invoke(args=["outbox", "sweep"])
    assert result.exit_code == 0
    assert "delivered 0 message(s)" in result.output


# create-hub-certificate --------------------------------------------------------------------


def test_create_hub_certificate_creates_refuses_to_overwrite_and_replaces_with_force(app, tmp_path):
    import os
    import stat

    from app.integrations.sealing import certificate_fingerprint

    key_path, cert_path = tmp_path / "seal" / "key.pem", tmp_path / "seal" / "cert.pem"
    app.config.update(HUB_SIGNING_KEY_PATH=str(key_path), HUB_SIGNING_CERT_PATH=str(cert_path))
    runner = app.test_cli_runner()

    created = runner.invoke(args=["create-hub-certificate"])
    assert created.exit_code == 0, created.output
    assert key_path.is_file() and cert_path.is_file()
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    fingerprint = certificate_fingerprint(cert_path)
    assert str(key_path) in created.output and str(cert_path) in created.output
    assert fingerprint in created.output

    before = key_path.read_bytes(), cert_path.read_bytes()
    refused = runner.invoke(args=["create-hub-certificate"])
    assert refused.exit_code == 1
    assert "already exists" in refused.output and "--force" in refused.output
    assert (key_path.read_bytes(), cert_path.read_bytes()) == before

    forced = runner.invoke(args=["create-hub-certificate", "--force"])
    assert forced.exit_code == 0, forced.output
    assert key_path.read_bytes() != before[0]
    assert certificate_fingerprint(cert_path) != fingerprint
    assert certificate_fingerprint(cert_path) in forced.output


def test_create_hub_certificate_defaults_to_the_instance_folder(app):
    from app.config import INSTANCE, Config

    # The default settings (the tests' app points them at a temporary folder instead).
    assert Config.HUB_SIGNING_KEY_PATH.startswith(str(INSTANCE))
    assert Config.HUB_SIGNING_CERT_PATH.startswith(str(INSTANCE))
    assert not app.config["HUB_SIGNING_KEY_PATH"].startswith(str(INSTANCE))
    assert app.config["HUB_LEGAL_NAME"] and app.config["HUB_ADDRESS"]
