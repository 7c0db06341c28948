"""The identity canary scan (RELIABILITY.md §3.10) over the flow so far (steps 1–4).

Unique marker strings are planted in every identifying field of two experts
(name, e-mail, declared employers, the metadata of their CV) who are ranked,
invited or recommended, accept the confidentiality terms and send offers. Then
every GET route of the app is crawled as the company's owner and as a member,
every e-mail sent to the company's users is read, and every file they can
download is opened: no marker may appear anywhere.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    AttachmentKind,
    EmailMessage,
    EmployerRelation,
    ExpertEmployer,
    ExpertiseLevel,
    ExpertProfile,
    ExpertSkill,
    JobAttachment,
    JobStatus,
    User,
)
from app.services import jobs, matching, offers
from tests.conftest import login


def _canary(label: str) -> str:
    return f"cnry{label}{secrets.token_hex(4)}"


def _identity(f: Any, tag: str, canaries: list[str]) -> Any:
    name = _canary(f"name{tag}")
    email_local = _canary(f"mail{tag}")
    employer = _canary(f"employer{tag}")
    canaries += [name, email_local, employer]
    user = f.user(full_name=f"Dr {name}", email=f"{email_local}@experts.example")
    expert = f.expert(user=user, pseudonym=f"K7Q{tag}")
    db.session.add(ExpertEmployer(expert_id=expert.id, name=f"{employer} Spritzguss AG",
                                  relation=EmployerRelation.FORMER))
    author = _canary(f"pdfauthor{tag}")
    canaries.append(author)
    f.document(expert, data=f.pdf_bytes(metadata={"/Author": author}), name=f"cv-{name}.pdf")
    return expert


def _offer_input() -> offers.OfferInput:
    start = datetime.now(UTC).date() + timedelta(days=14)
    return offers.OfferInput(
        solution="A design of experiments on holding pressure and mould temperature.",
        price_minor=480000, start_date=start, end_date=start + timedelta(days=21),
        deliverables=["DOE plan", "Final report"],
        milestones=[offers.MilestoneInput("DOE plan", start + timedelta(days=5), 30),
                    offers.MilestoneInput("Report", start + timedelta(days=21), 70)],
        accept_clauses=True, clauses_version=offers.CURRENT_CLAUSES.version,
    )


def _build(f: Any, *, with_contract: bool = False, qc_requested: bool = False) -> tuple[dict[str, Any], list[str]]:
    canaries: list[str] = []
    company = f.company(name="Formteile Weber GmbH")
    owner = f.company_user(company, owner=True)
    member = f.company_user(company, owner=False)
    admin = f.admin(totp_enabled_at=datetime.now(UTC))
    job = f.job(company, status=JobStatus.PENDING_REVIEW, created_by=owner, skills=2, qc_requested=qc_requested)
    data = f.pdf_bytes()
    from app.integrations.storage import get_storage

    get_storage().put("anon-job-file", data, content_type="application/pdf")
    attachment = JobAttachment(job_id=job.id, kind=AttachmentKind.PDF, storage_key="anon-job-file",
                               original_name="drawing.pdf", content_type="application/pdf", size_bytes=len(data),
                               sha256="0" * 64, uploaded_by_id=owner.id)
    db.session.add(attachment)
    experts = [_identity(f, tag, canaries) for tag in ("A", "B")]
    for e in experts:
        for s in job.skills:
            db.session.add(ExpertSkill(expert_id=e.id, term_id=s.term_id, level=ExpertiseLevel.PRINCIPAL))
    db.session.commit()

    jobs.publish_job(job.id, actor=admin, visibility="public")  # ranks and recommends both
    matching.invite_experts(job.id, actor=admin, expert_ids=[experts[0].id])
    made = []
    for e in experts:
        actor = db.session.get(User, e.user_id)
        jobs.accept_job_confidentiality(job.id, actor=actor)
        made.append(offers.submit_offer(job.id, actor=actor, data=_offer_input()).id)
    ids = {"job_id": job.id, "attachment_id": attachment.id, "owner": owner.id, "member": member.id,
           "company_id": company.id, "offer_id": made[0], "expert_ids": [e.id for e in experts]}
    if with_contract:
        ids.update(_negotiate_sign_and_fund(made, owner=owner, admin=admin, experts=experts, canaries=canaries))
    return ids, canaries


def _step_with_author(author: str, organization: str) -> bytes:
    """A STEP file whose header names its author and organization, as CAD systems write them."""
    from pathlib import Path

    data = (Path(__file__).parent / "fixtures" / "cad" / "block_40x30x10_hole.step").read_bytes()
    return re.sub(rb"FILE_NAME\((.*?)\);", lambda m: (
        b"FILE_NAME('C:/Users/" + author.encode() + b"/part.step','2026-01-01T00:00:00',('" + author.encode()
        + b"'),('" + organization.encode() + b"'),'CAD 1.0','CAD','');"), data, count=1, flags=re.S)


def _work_in_the_workspace(ids: dict[str, Any], *, admin: Any, experts: list[Any],
                           canaries: list[str]) -> dict[str, Any]:
    """Steps 7–8 through the real services: the expert and a QC expert work in the project's workspace."""
    from app.models import Project, ProjectFileVersion, ProjectMilestone, ProjectTask, VideoCall
    from app.services import project_calls, project_files, project_plan, projects, qc, uow
    from app.services.uploads import Upload

    expert_user = db.session.get(User, experts[0].user_id)
    qc_user = db.session.get(User, experts[1].user_id)
    project = db.session.scalar(sa.select(Project).where(Project.contract_id == ids["contract_id"]))
    name, mail, employer = canaries[0], canaries[1], canaries[2]
    projects.post_message(project, expert_user, f"Write to {mail}@experts.example or call +49 170 555 0123.")
    projects.post_message(project, expert_user, f"My colleague at {mail} dot com can help too.")
    uow.commit()
    project_files.upload_file(project.id, actor=expert_user, title="Insert geometry",
                              upload=Upload("insert.step", _step_with_author(name, f"{employer} Spritzguss AG")))
    project_files.upload_file(project.id, actor=expert_user, title="Interim report",
                              upload=Upload("report.pdf", _pdf_with_author(name)))
    uow.commit()
    milestone = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                   .order_by(ProjectMilestone.position)).first()
    assert milestone is not None
    project_plan.post_progress(project.id, actor=expert_user, milestone_id=milestone.id, percent=40,
                               text=f"DOE done; details from {mail}@experts.example")
    project_plan.add_task(project.id, actor=expert_user, milestone_id=milestone.id, title="Send 20 sample parts",
                          assignee_id=ids["owner"], due_date=None)
    uow.commit()
    project_calls.schedule_call(project.id, actor=expert_user, topic="Review of the DOE",
                                starts_at=datetime.now(UTC) + timedelta(days=1), duration_minutes=45,
                                agenda=f"Questions to {mail}@experts.example")
    uow.commit()
    assignment = qc.assign_qc(project.id, actor=admin, expert_id=experts[1].id, fee_minor=0)
    uow.commit()
    qc.sign_qc_nda(assignment.id, actor=qc_user, typed_name=qc_user.full_name, document_sha256=assignment.nda_sha256,
                   ip="192.0.2.7", user_agent="test")
    uow.commit()
    projects.post_message(project, qc_user, "Quality control here: I will review the deliverables.")
    uow.commit()
    version = db.session.scalar(sa.select(ProjectFileVersion).order_by(ProjectFileVersion.id))
    assert version is not None
    return {
        "project_id": project.id, "version_id": version.id, "file_id": version.file_id,
        "milestone_id": milestone.id,
        "task_id": db.session.scalar(sa.select(ProjectTask.id).where(ProjectTask.project_id == project.id)),
        "call_id": db.session.scalar(sa.select(VideoCall.id).where(VideoCall.project_id == project.id)),
        "expert_price": ids["expert_price"],
    }


def _pdf_with_author(author: str) -> bytes:
    from tests import factories

    return factories.pdf_bytes(metadata={"/Author": author, "/Creator": author})


def _negotiate_sign_and_fund(made: list[int], *, owner: Any, admin: Any, experts: list[Any],
                             canaries: list[str]) -> dict[str, Any]:
    """Steps 5–6 through the real services: forward, negotiate, revise, accept, sign, fund by bank transfer."""
    from app.models import ContractDocumentKind, NegotiationMessage, ThreadSide
    from app.services import contracts, escrow, negotiations

    for offer_id in made:
        negotiations.forward_offer(offer_id, actor=admin)
    negotiations.request_negotiation(made[0], actor=owner, message="Could the study start a week earlier?")
    expert_user = db.session.get(User, experts[0].user_id)
    negotiations.post_message(made[0], actor=admin, side=ThreadSide.EXPERT, body="Earlier start, please.")
    negotiations.post_message(made[0], actor=expert_user, side=ThreadSide.EXPERT,
                              body=f"Sure, write to me directly: {canaries[1]}@experts.example")
    revised = _offer_input()
    offers.revise_offer(made[0], actor=expert_user, data=offers.OfferInput(
        **{**revised.__dict__, "price_minor": 450000, "change_note": "Earlier start."}))
    negotiations.forward_offer(made[0], actor=admin)
    contract = negotiations.accept_offer(made[0], actor=owner)
    signers = {"company": owner, "hub": admin, "expert": expert_user}
    for document in list(contract.documents):
        from app.models import SIGNERS

        for role in SIGNERS[document.kind]:
            who = signers[role.value]
            contracts.sign_document(document.id, actor=who, typed_name=who.full_name,
                                    document_sha256=document.sha256)
    escrow.record_bank_transfer(contract.id, actor=admin, amount_minor=contract.client_price_minor,
                                currency=contract.currency, received_on=datetime.now(UTC).date(),
                                bank_reference=contract.payment_reference)
    docs = {d.kind: d.id for d in contract.documents}
    message = db.session.scalar(sa.select(NegotiationMessage.id).where(NegotiationMessage.side == ThreadSide.COMPANY))
    return {"contract_id": contract.id, "document_id_contract": docs[ContractDocumentKind.CONTRACT],
            "negotiation_message_id": message, "expert_price": "4,500.00"}


def _readable(response: Any) -> bytes:
    """The body, plus for a PDF its extracted text and metadata (streams are compressed)."""
    data = response.get_data()
    if data.startswith(b"%PDF"):
        import io

        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
        data += ("\n" + text + "\n" + str(dict(reader.metadata or {}))).encode()
    return data


def _crawl(app: Any, client: Any, ids: dict[str, Any]) -> dict[str, bytes]:
    """GET every route that needs no argument or only ids of the company's own objects."""
    from app.models import Document, JobInvitation, Notification, Offer

    values: dict[str, Any] = {
        "job_id": ids["job_id"],
        "attachment_id": ids["attachment_id"],
        "obj_id": ids["company_id"],
        "document_id": db.session.scalar(sa.select(Document.id).order_by(Document.id)) or 1,
        "notification_id": db.session.scalar(sa.select(Notification.id).order_by(Notification.id)) or 1,
        "offer_id": ids.get("offer_id") or db.session.scalar(sa.select(Offer.id).order_by(Offer.id)) or 1,
        "contract_id": ids.get("contract_id", 1),
        "message_id": ids.get("negotiation_message_id", 1),
        "invitation_id": db.session.scalar(sa.select(JobInvitation.id).order_by(JobInvitation.id)) or 1,
        "ticket_id": 1,
        "user_id": ids["member"],
        "session_id": 1,
        "term_id": 1,
        "token": "x",
        "filename": "css/hub.css",
        **{k: ids[k] for k in ("project_id", "file_id", "version_id", "milestone_id", "task_id", "call_id")
           if k in ids},
    }
    seen: dict[str, bytes] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint.startswith(("admin", "static")) \
                or any(a not in values for a in rule.arguments):
            continue
        args = {a: values[a] for a in rule.arguments}
        if rule.endpoint.startswith("contracts.") and "document_id" in rule.arguments:
            args["document_id"] = ids.get("document_id_contract", 1)
        url = rule.build(args, append_unknown=False)[1]
        urls = [url] + ([f"{url}?which={w}" for w in ("sealed", "certificate")]
                        if url.endswith("/download") and rule.endpoint.startswith("contracts.") else [])
        for one in urls[1:]:
            extra = client.get(one)
            seen[f"GET {one} -> {extra.status_code}"] = _readable(extra)
        response = client.get(url)
        body = _readable(response) + b"\n" + str(dict(response.headers)).encode()
        seen[f"GET {url} -> {response.status_code}"] = body
        if response.status_code in (301, 302) and response.headers.get("Location", "").startswith("/"):
            follow = client.get(response.headers["Location"])
            seen[f"GET {response.headers['Location']} (followed)"] = follow.get_data()
    return seen


@pytest.mark.parametrize(("with_contract", "with_workspace"), [(False, False), (True, False), (True, True)],
                         ids=["offers", "negotiated-signed-funded", "project-workspace"])
def test_no_identifying_detail_of_an_expert_reaches_the_company(app, f, with_contract, with_workspace):
    ids, canaries = _build(f, with_contract=with_contract, qc_requested=with_workspace)
    seen: dict[str, bytes] = {}
    if with_workspace:  # the company's live connection is open while the expert and a QC expert work
        from app.extensions import socketio
        from app.models import Project

        http = login(app.test_client(), db.session.get(User, ids["owner"]))
        project_id = db.session.scalar(sa.select(Project.id).where(Project.contract_id == ids["contract_id"]))
        sio = socketio.test_client(app, flask_test_client=http)
        assert sio.emit("join", {"project_id": project_id}, callback=True)["ok"] is True
        admin = db.session.scalar(sa.select(User).where(User.role == "admin"))
        experts = [db.session.get(ExpertProfile, i) for i in ids["expert_ids"]]
        ids.update(_work_in_the_workspace(ids, admin=admin, experts=experts, canaries=canaries))
        events = sio.get_received()
        assert sum(e["name"] == "message" for e in events) >= 5, events
        seen["socket events to the company"] = repr(events).encode()
        sio.disconnect()
        hub_page = login(app.test_client(), admin).get(f"/projects/{project_id}").get_data(as_text=True)
        assert f"{canaries[1]}@experts.example" in hub_page  # the hub reads the original: masking stopped it
    assert len(canaries) == 8
    pattern = re.compile("|".join(map(re.escape, canaries)).encode())
    for who in ("owner", "member"):
        client = app.test_client()
        login(client, db.session.get(User, ids[who]))
        for key, body in _crawl(app, client, ids).items():
            seen[f"{who}: {key}"] = body
    company_addresses = db.session.scalars(
        sa.select(User.email).where(User.company_id == ids["company_id"])
    ).all()
    mails = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address.in_(company_addresses))).all()
    for mail in mails:
        seen[f"e-mail to {mail.to_address}: {mail.subject}"] = (mail.subject + mail.body_text + mail.body_html).encode()

    assert len(seen) > 30, sorted(seen)  # the crawl really covered the company's pages
    if with_contract:  # ... including the contract, its sealed copy and certificate, the receipt
        assert any("/company/contracts/" in k and "which=sealed -> 200" in k for k in seen), sorted(seen)
        assert any("receipt.pdf -> 200" in k for k in seen), sorted(seen)
        assert any(f"/company/offers/{ids['offer_id']} -> 200" in k for k in seen), sorted(seen)
        price = ids["expert_price"].encode()
        leaks = [k for k, body in seen.items() if price in body]
        assert leaks == [], f"the expert's price reached the company: {leaks}"
    if with_workspace:  # ... and the workspace: channel, files and their downloads, plan, calls
        for path in (f"/projects/{ids['project_id']}", f"/projects/{ids['project_id']}/files",
                     f"/projects/{ids['project_id']}/plan", f"/projects/{ids['project_id']}/calls",
                     f"/projects/files/versions/{ids['version_id']}/download"):
            assert any(f"{path} -> 200" in k for k in seen), (path, sorted(seen))
    assert any("/company/jobs/" in key and "-> 200" in key for key in seen)
    assert mails, "the company got e-mails along the flow (publication)"
    hits = {key: sorted({m.decode() for m in pattern.findall(body)}) for key, body in seen.items()
            if pattern.search(body)}
    assert hits == {}, f"expert identity reached the company: {hits}"


def test_the_canaries_are_really_planted(app, f):
    """The scan above would find the markers: they are in pages the hub sees."""
    ids, canaries = _build(f)
    admin = db.session.scalar(sa.select(User).where(User.role == "admin"))
    client = login(app.test_client(), admin)
    page = client.get(f"/admin/matching/{ids['job_id']}").get_data(as_text=True)
    assert canaries[0] in page  # the hub sees the expert's name on the ranking
