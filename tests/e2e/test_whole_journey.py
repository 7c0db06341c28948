"""Issue 7 "The whole journey" in a real browser, from an empty database to the rating, with a canary scan.

Four people: a company owner, a hub admin (created with ``create-admin``, two-factor enrolled at the
first login), an expert and a quality-control expert (both sign up through the UI and are approved in
the back office). Only the UI is used wherever one exists; the one outside party is the payment
provider (a local fake, whose hosted checkout page the company's browser uses). The ten steps:
sign-up and verification; a job with a STEP file and quality control; review and publication;
matching and invitation; the offer; negotiation through the hub; acceptance, contract and NDA
signatures, card payment; the workspace (channel, a call, progress, the QC expert and the QC NDA);
deliveries through QC, the hub and the company (a revision, then approval and the acceptance
certificate); release, payouts to connected accounts through the provider, and the rating.

The canary scan: unique markers are planted in every identifying field of the two experts (full
name, e-mail local part, declared employer, the CV's PDF author, the author and organisation in the
STEP headers of the files they upload). Everything the company's browser received is recorded (every
document and XHR/fetch body, every download with the text and metadata of PDFs, the WebSocket frames
and the long-polling answers), and so are the e-mails sent to the company: no marker may appear. The
hub's browser is recorded the same way, and the markers must show up there (the scan is live).

Screenshots of every step land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from app import create_app
from app.config import TestingConfig
from app.extensions import db
from app.models import (
    Company,
    Contract,
    Delivery,
    DeliveryStatus,
    EmailMessage,
    ExpertProfile,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutStatus,
    Project,
    ProjectStatus,
    Rating,
    User,
)
from app.services import ledger, release
from tests import factories
from tests.e2e.conftest import LiveServer, Shots, _fresh_postgres_database
from tests.e2e.test_contract_journey import _sign
from tests.e2e.test_job_posting_journey import Watch, _log_in
from tests.e2e.test_project_channel import BLOCK_WEBSOCKETS, LIVE, _message, _send
from tests.e2e.test_signup_to_approval import _mail_link
from tests.fakes.stripe_server import FakeStripe

pytestmark = pytest.mark.browser

# What the HARs keep: web requests only (the browser's PDF viewer requests never finish, and would keep
# the context from closing).
HTTP = re.compile(r"^https?://")
STEP_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cad" / "block_40x30x10_hole.step"

COMPANY = "Rheinform Kunststofftechnik GmbH"
OWNER = ("lena.hoffmann@rheinform.example", "the second cavity fills last", "Lena Hoffmann")
ADMIN = ("journey@plasticonnect.example", "the hub stands in the middle", "Hanna Hubner")

# Unique canary markers, one per identifying field of each expert (compared case-insensitively).
EXPERT_MARKS = {
    "first name": "Orvexa",
    "last name": "Vexnamora",
    "e-mail local part": "vexmailqa",
    "declared employer": "Vexemplon",
    "CV PDF author": "Vexcvauthor",
    "STEP author": "Vexstepauthor",
    "STEP organisation": "Vexsteporg",
}
QC_MARKS = {
    "first name": "Quilvane",
    "last name": "Quorlanthe",
    "e-mail local part": "quormailqa",
    "declared employer": "Quoremplon",
    "CV PDF author": "Quorcvauthor",
    "STEP author": "Quorstepauthor",
    "STEP organisation": "Quorsteporg",
}
EXPERT = (f"{EXPERT_MARKS['e-mail local part']}@experts.example", "holding pressure first, always",
          f"{EXPERT_MARKS['first name']} {EXPERT_MARKS['last name']}")
QC_EXPERT = (f"{QC_MARKS['e-mail local part']}@experts.example", "a second pair of eyes on every study",
             f"{QC_MARKS['first name']} {QC_MARKS['last name']}")
# The markers the hub must see somewhere (the files' metadata is stripped before anyone reads it).
HUB_SEES = ("first name", "last name", "e-mail local part", "declared employer")

JOB_TITLE = "Injection molding process engineer"
SKILL = "Scientific (systematic) molding"
ASK = "Could the study start three days earlier?"
RELAY = "The company asks whether the study could start three days earlier."
REVISION = "Please add the holding-pressure curve for cavity 2 to the report."
FEEDBACK = "Clear method, fast answers, and the cycle time came down by 1.8 s."


@pytest.fixture
def fake_provider() -> Iterator[FakeStripe]:
    fake = FakeStripe().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def journey_app(tmp_path: Path, fake_provider: FakeStripe) -> Iterator[Flask]:
    """The app as a new user runs it (migrations, only the catalog seeded, CSRF on), card payments configured."""
    from flask_migrate import upgrade

    database = _fresh_postgres_database("e2e_whole") or f"sqlite:///{tmp_path / 'e2e.db'}"
    app = create_app(
        TestingConfig,
        TESTING=False,
        WTF_CSRF_ENABLED=True,
        SQLALCHEMY_DATABASE_URI=database,
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION=False,
        STRIPE_SECRET_KEY=fake_provider.api_key,
        STRIPE_WEBHOOK_SECRET=fake_provider.webhook_secret,
        STRIPE_API_BASE=fake_provider.base_url,
        HUB_SIGNING_KEY_PATH=str(tmp_path / "seal-key.pem"),
        HUB_SIGNING_CERT_PATH=str(tmp_path / "seal-cert.pem"),
    )
    with app.app_context():
        upgrade()
    result = app.test_cli_runner().invoke(args=["seed-catalog"])
    assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# The canary recorder ---------------------------------------------------------------------------


@dataclass
class Received:
    """One thing a browser received: where from, and its text (PDFs: extracted text and metadata)."""

    kind: str  # page | xhr | download | frame | poll | e-mail
    source: str
    text: str


def _pdf_text(data: bytes) -> str:
    """The text of every page and the document information and XMP metadata of a PDF."""
    reader = PdfReader(io.BytesIO(data))
    parts = [page.extract_text() or "" for page in reader.pages]
    if reader.metadata:
        parts += [f"{key}={value}" for key, value in reader.metadata.items()]
    xmp = reader.xmp_metadata
    if xmp is not None:
        parts.append(xmp.stream.get_data().decode("utf-8", "replace"))
    return "\n".join(parts)


def _as_text(data: bytes) -> str:
    """Bytes as searchable text: PDFs through pypdf (plus the raw bytes), anything else decoded."""
    text = data.decode("utf-8", "replace")
    if data.startswith(b"%PDF-"):
        text += "\n" + _pdf_text(data)
    return text


@dataclass
class Recorder:
    """Everything one person's browser contexts received, kept for the canary scan.

    Each context records a HAR with the bodies embedded: Playwright keeps every response as it
    arrives (pages, redirects' targets, JSON answers, long-polls), whatever the page does next,
    which reading bodies from event handlers cannot promise. WebSocket frames are recorded as they
    arrive. Downloads go through :meth:`download`, which keeps the file's bytes; :meth:`close`
    checks that no download of the context escaped it.
    """

    name: str
    folder: Path
    items: list[Received] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    def page(self, browser: Any, watch: Watch | None = None, *, block_websockets: bool = False) -> Any:
        """A page in a new recorded context (with ``watch``, its errors count as the test's errors)."""
        har = self.folder / f"{self.name}-{len(self.contexts)}.har"
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                      record_har_path=str(har), record_har_content="embed",
                                      record_har_url_filter=HTTP)
        if block_websockets:
            context.add_init_script(BLOCK_WEBSOCKETS)  # what a proxy that refuses WebSocket upgrades does
        context.on("page", self._page)
        self.contexts.append((context, har))
        page = context.new_page()
        if watch is not None:
            errors = watch.errors
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", watch._console)
            page.on("response", watch._response)
        return page

    def _page(self, page: Any) -> None:
        page.on("websocket", self._websocket)
        page.on("download", self._download)

    def _download(self, download: Any) -> None:
        self.downloads.append(download.url)  # every download must also be taken in by :meth:`download`

    def download(self, page: Any, target: Any) -> bytes:
        """Click ``target`` (a selector or locator) on ``page``, wait for the download and keep its bytes."""
        with page.expect_download() as info:
            (page.locator(target) if isinstance(target, str) else target).click()
        data = Path(info.value.path()).read_bytes()
        self.items.append(Received("download", f"{info.value.url} ({info.value.suggested_filename})",
                                   _as_text(data)))
        return data

    def _websocket(self, ws: Any) -> None:
        def received(payload: str | bytes) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            self.items.append(Received("frame", ws.url, data.decode("utf-8", "replace")))

        ws.on("framereceived", received)

    def close(self) -> None:
        """Close the contexts (which writes the HARs) and take in every response body."""
        assert len(self.downloads) == self.count("download"), self.downloads
        kept = {item.source for item in self.items}
        for context, har in self.contexts:
            context.close()
            for entry in json.loads(har.read_text())["log"]["entries"]:
                url, content = entry["request"]["url"], entry["response"]["content"]
                if "/static/" in url or not content.get("text") or f"{entry['request']['method']} {url}" in kept:
                    continue
                body = content["text"]
                data = base64.b64decode(body) if content.get("encoding") == "base64" else body.encode()
                kind = {"document": "page", "xhr": "xhr", "fetch": "xhr"}.get(entry.get("_resourceType", ""), "other")
                if "/socket.io/" in url:
                    kind = "poll"
                self.items.append(Received(kind, f"{entry['request']['method']} {url}", _as_text(data)))

    def count(self, kind: str) -> int:
        return sum(1 for item in self.items if item.kind == kind)

    def kinds_with(self, text: str) -> set[str]:
        """The kinds of the items that contain ``text`` (the positive controls of the scan)."""
        return {item.kind for item in self.items if text.lower() in item.text.lower()}

    def hits(self, markers: dict[str, str]) -> list[str]:
        """Every (marker, source) found: the field, the kind of item, where it came from and the context."""
        found = []
        for item in self.items:
            low = item.text.lower()
            for what, marker in markers.items():
                at = low.find(marker.lower())
                if at >= 0:
                    context = item.text[max(0, at - 80): at + len(marker) + 80].replace("\n", " ")
                    found.append(f"{what} ({marker}) in {item.kind} {item.source}: …{context}…")
        return found


# Steps --------------------------------------------------------------------------------------------


@dataclass
class Journey:
    """The live app, the browser and what every step shares (screenshots, errors, the company's recorder)."""

    app: Flask
    base: str
    browser: Any
    shots: Shots
    watch: Watch
    tmp: Path
    seen: Recorder  # what the company's browsers received
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    timings: list[tuple[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def page(self, recorder: Recorder | None = None) -> Any:
        """A person's browser page; a recorded one when ``recorder`` is given."""
        if recorder is not None:
            return recorder.page(self.browser, self.watch)
        return self.watch.page(self.browser)

    def lap(self, name: str) -> None:
        self.timings.append((name, round(time.monotonic() - self.started, 1)))

    def db_id(self, statement: Any) -> int:
        with self.app.app_context():
            value = db.session.scalar(statement)
        assert value is not None, statement
        return int(value)


def _expert_id(email: str) -> Any:
    """The query of the expert profile id of the user with ``email``."""
    return sa.select(ExpertProfile.id).join(User, ExpertProfile.user_id == User.id).where(User.email == email)


def _verify_email(j: Journey, page: Any, email: str) -> None:
    link = _mail_link(j.app, email, r"https?://\S+/verify-email/\S+")
    page.goto(j.base + link[link.index("/verify-email/"):])
    page.click("[data-testid=verify-submit]")
    page.wait_for_load_state()


def _company_signs_up(j: Journey, page: Any) -> None:
    """Step 1: the company owner signs up, confirms the e-mail, fills the profile, uploads a document, submits."""
    page.goto(j.base + "/")
    page.click("[data-testid=signup-company]")
    page.fill("#full_name", OWNER[2])
    page.fill("#email", OWNER[0])
    page.fill("#password", OWNER[1])
    if page.locator("#confirm").count():
        page.fill("#confirm", OWNER[1])
    page.fill("#company_name", COMPANY)
    j.shots(page, "company-signup")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    _verify_email(j, page, OWNER[0])
    _log_in(page, j.base, OWNER[0], OWNER[1])
    page.goto(j.base + "/company/profile")
    page.fill("#legal_name", COMPANY)
    page.fill("#registration_number", "HRB 41207")
    page.fill("#vat_id", "DE318765410")
    page.select_option("#country", "DE")
    page.fill("#address", "Hafenstraße 8\n47119 Duisburg")
    page.select_option("#industry_id", index=1)
    page.fill("#contact_person", OWNER[2])
    page.fill("#contact_email", OWNER[0])
    page.fill("#phone", "+49 203 445566")
    page.check("input[name=payment_method][value=card]")
    page.click("[data-testid=save-profile]")
    page.wait_for_load_state()
    assert not page.locator(".invalid-feedback").count(), page.inner_text("main")
    certificate = j.tmp / "Handelsregisterauszug.pdf"
    certificate.write_bytes(factories.pdf_bytes())
    page.goto(j.base + "/company/documents")
    page.select_option("#kind", "registration_certificate")
    page.set_input_files("#file", str(certificate))
    page.click("[data-testid=upload]")
    page.wait_for_load_state()
    page.goto(j.base + "/company/")
    page.click("[data-testid=submit]")
    page.wait_for_load_state()
    assert "pending" in page.inner_text("[data-testid=status]").lower()
    j.shots(page, "company-submitted")


def _expert_signs_up(j: Journey, page: Any, person: tuple[str, str, str], marks: dict[str, str],
                     slug: str) -> None:
    """Step 1: an expert signs up, confirms the e-mail, builds the profile, uploads the CV, submits."""
    email, password, name = person
    page.goto(j.base + "/signup/expert")
    page.fill("#full_name", name)
    page.fill("#email", email)
    page.fill("#password", password)
    if page.locator("#confirm").count():
        page.fill("#confirm", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    _verify_email(j, page, email)
    _log_in(page, j.base, email, password)
    page.goto(j.base + "/expert/profile")
    page.fill("#headline", "Injection molding process engineer, 15 years in closures and housings")
    page.fill("#summary", "Scientific molding, DOE and cycle-time studies on multi-cavity tools.")
    page.fill("#years_experience", "15")
    page.fill("#day_rate", "900")
    page.select_option("#currency", "EUR")
    page.select_option("#country", "DE")
    page.select_option("#timezone", "Europe/Berlin")
    page.click("[data-testid=save-profile]")
    page.wait_for_load_state()
    assert not page.locator(".invalid-feedback").count(), page.inner_text("main")
    page.goto(j.base + "/expert/skills")
    page.select_option("#rows-0-term_id", label=JOB_TITLE)
    page.select_option("#rows-0-level", "principal")
    page.select_option("#rows-1-term_id", label=SKILL)
    page.select_option("#rows-1-level", "principal")
    page.click("[data-testid=save-skills]")
    page.wait_for_load_state()
    page.goto(j.base + "/expert/languages")
    page.select_option("#rows-0-code", "en")
    page.select_option("#rows-0-proficiency", "native")
    page.select_option("#rows-1-code", "de")
    page.select_option("#rows-1-proficiency", "C1")
    page.click("[data-testid=save-languages]")
    page.wait_for_load_state()
    page.goto(j.base + "/expert/employers")
    page.fill("#rows-0-name", f"{marks['declared employer']} Spritzguss AG")
    page.select_option("#rows-0-relation", "former")
    page.click("[data-testid=save-employers]")
    page.wait_for_load_state()
    cv = j.tmp / f"cv-{slug}.pdf"
    cv.write_bytes(factories.pdf_bytes(metadata={"/Author": marks["CV PDF author"], "/Title": "CV"}))
    page.goto(j.base + "/expert/documents")
    page.select_option("#kind", "cv")
    page.set_input_files("#file", str(cv))
    page.click("[data-testid=upload]")
    page.wait_for_load_state()
    page.goto(j.base + "/expert/")
    page.click("[data-testid=submit]")
    page.wait_for_load_state()
    assert "under review" in page.inner_text("[data-testid=status-explained]"), page.inner_text("main")
    j.shots(page, f"{slug}-submitted")


def _admin_logs_in(j: Journey, page: Any) -> None:
    """The hub admin's first login: two-factor authentication is enrolled before anything else."""
    _log_in(page, j.base, ADMIN[0], ADMIN[1])
    page.wait_for_selector("[data-testid=totp-secret]")
    secret = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    j.shots(page, "admin-enrols-2fa")
    page.click("[data-testid=totp-confirm]")
    page.wait_for_url(re.compile(r".*/admin/?.*"))


def _admin_approves(j: Journey, admin: Any) -> None:
    """Step 1: the hub approves the company and both experts in the verification queues."""
    admin.goto(j.base + "/admin/companies/")
    admin.get_by_role("link", name=COMPANY).first.click()
    admin.wait_for_selector("[data-testid=document]")
    admin.click("[data-testid=approve]")
    admin.wait_for_load_state()
    assert "approved" in admin.inner_text("[data-testid=case-title]").lower()
    j.shots(admin, "admin-company-approved")
    for person, slug in ((EXPERT, "expert"), (QC_EXPERT, "qc-expert")):
        expert_id = j.db_id(_expert_id(person[0]))
        admin.goto(f"{j.base}/admin/experts/details/?id={expert_id}")
        admin.wait_for_selector("[data-testid=document]")
        admin.click("[data-testid=approve]")
        admin.wait_for_load_state()
        assert "approved" in admin.inner_text("[data-testid=case-title]").lower()
        j.shots(admin, f"admin-{slug}-approved")


def _company_posts_job(j: Journey, page: Any) -> int:
    """Step 2: a Problem Solving job with a STEP model and quality control requested, submitted for review."""
    page.goto(j.base + "/company/jobs")
    page.click("[data-testid=post-job]")
    page.wait_for_selector("[data-testid=new-job-form]")
    page.check("input[name=category][value=problem_solving]")
    page.click("[data-testid=start-job]")
    page.wait_for_selector("[data-testid=job-form]")
    job_id = int(re.search(r"/company/jobs/(\d+)/edit", page.url).group(1))
    page.select_option("#title_term_id", label=JOB_TITLE)
    page.select_option("#subtype", "root_cause")
    page.fill("#description", "The 8-cavity PP closure tool runs at 9.4 s; the target is 7.5 s without flash.")
    page.fill("#scope", "A cycle-time study on the machine and a validated process window.")
    page.select_option("#process_term_id", index=1)
    page.select_option("#material_term_id", index=1)
    page.select_option("#defect_term_id", index=1)
    page.fill("#part_description", "PP closure, 38 mm, 2.4 g, 8 cavities, hot runner.")
    page.fill("#data_available", "Process sheets, the STEP model of the closure.")
    page.select_option("#skills-0-term_id", label=SKILL)
    page.select_option("#skills-0-level", "senior")
    page.select_option("#languages-0-code", "en")
    page.fill("#budget", "9000.00")
    page.select_option("#currency", "EUR")
    page.fill("#start_date", (j.today + timedelta(days=3)).isoformat())
    page.fill("#completion_date", (j.today + timedelta(days=40)).isoformat())
    page.check("#qc_requested")
    j.shots(page, "company-job-form")
    page.click("[data-testid=save-job]")
    page.wait_for_url(re.compile(rf".*/company/jobs/{job_id}$"))
    page.set_input_files("[data-testid=upload-form] input[type=file]", str(STEP_FIXTURE))
    page.click("[data-testid=upload]")
    page.wait_for_load_state()
    assert STEP_FIXTURE.name in page.inner_text("[data-testid=attachments]")
    page.wait_for_selector("[data-testid=checklist-complete]")
    assert "requested" in page.inner_text("[data-testid=qc]").lower()
    page.click("[data-testid=submit-job]")
    page.wait_for_load_state()
    assert "review" in page.inner_text(f"[data-testid=job-status-{job_id}]").lower()
    j.shots(page, "company-job-submitted")
    return job_id


def _admin_publishes_and_invites(j: Journey, admin: Any, job_id: int, expert_id: int, qc_id: int) -> None:
    """Steps 3–4: the hub reviews and publishes the job; the ranking lists both experts; it invites the expert."""
    admin.goto(f"{j.base}/admin/jobs/{job_id}")
    admin.wait_for_selector("[data-testid=form-publish]")
    assert STEP_FIXTURE.name in admin.inner_text("#attachments")
    admin.check("input[name=publish-visibility][value=public]")
    j.shots(admin, "admin-job-review")
    admin.click("[data-testid=publish]")
    admin.wait_for_load_state()
    assert "published" in admin.inner_text("[data-testid=job-title]").lower()
    admin.click("[data-testid=matching-link]")
    admin.wait_for_selector("[data-testid=ranking]")
    for ranked in (expert_id, qc_id):
        assert admin.locator(f"[data-testid=ranked-{ranked}]").count() == 1, admin.inner_text("main")
    admin.check(f"[data-testid=invite-{expert_id}]")
    j.shots(admin, "admin-matching")
    admin.click("[data-testid=invite-selected]")
    admin.wait_for_load_state()
    assert "invited" in admin.inner_text("body").lower()


def _expert_offers(j: Journey, expert: Any, job_id: int) -> int:
    """Step 4: the expert opens the invitation, accepts the confidentiality terms and sends an offer."""
    expert.goto(j.base + "/invitations")
    expert.locator("[data-testid=invitation] [data-testid=job-link]").first.click()
    expert.wait_for_url(re.compile(rf".*/jobs/{job_id}$"))
    assert COMPANY not in expert.inner_text("main")
    expert.check("[data-testid=accept-terms-form] input[type=checkbox]")
    expert.click("[data-testid=accept-terms]")
    expert.wait_for_selector("[data-testid=terms-accepted]")
    j.shots(expert, "expert-job")
    expert.click("[data-testid=make-offer]")
    expert.wait_for_selector("[data-testid=offer-form]")
    start, end = j.today + timedelta(days=7), j.today + timedelta(days=35)
    expert.fill("#solution", "Gate-freeze and cooling studies on the machine, then a DOE on cooling time.")
    expert.fill("#price", "6.000,00")
    expert.fill("#start_date", start.isoformat())
    expert.fill("#end_date", end.isoformat())
    expert.fill("#deliverables", "Study report\nValidated process window")
    expert.fill("#milestones-0-title", "Studies on the machine")
    expert.fill("#milestones-0-due_date", (start + timedelta(days=10)).isoformat())
    expert.fill("#milestones-0-share_percent", "40")
    expert.get_by_role("button", name="Add another milestone").click()
    expert.fill("#milestones-1-title", "Report and process window")
    expert.fill("#milestones-1-due_date", end.isoformat())
    expert.fill("#milestones-1-share_percent", "60")
    expert.check("#accept_clauses")
    j.shots(expert, "expert-offer-form")
    expert.click("[data-testid=send-offer]")
    expert.wait_for_url(re.compile(r".*/offers/\d+$"))
    assert "submitted" in expert.inner_text("[data-testid=offer-status]").lower()
    return int(re.search(r"/offers/(\d+)$", expert.url).group(1))


def _negotiate_and_accept(j: Journey, admin: Any, company: Any, expert: Any, offer_id: int) -> int:
    """Steps 5–6: forwarded by the hub, one question relayed, a revised version forwarded, accepted."""
    admin.goto(f"{j.base}/admin/offers/{offer_id}")
    admin.click("[data-testid=forward]")
    admin.wait_for_selector("[data-testid=forwards]")
    assert "6,900.00" in admin.inner_text("[data-testid=forwards]")  # 6,000 + the hub's 15 %
    j.shots(admin, "admin-forwards-offer")
    company.goto(f"{j.base}/company/offers/{offer_id}")
    assert "6,900.00" in company.inner_text("[data-testid=client-price]")
    company.fill("[data-testid=negotiate-form] textarea", ASK)
    company.click("[data-testid=negotiate-offer]")
    company.wait_for_load_state()
    j.shots(company, "company-asks-the-hub")
    admin.goto(f"{j.base}/admin/offers/{offer_id}")
    assert ASK in admin.inner_text("[data-testid=thread-company]")
    admin.fill("[data-testid=message-form-expert] textarea", RELAY)
    admin.click("[data-testid=send-expert]")
    admin.wait_for_load_state()
    expert.goto(f"{j.base}/offers/{offer_id}")
    thread = expert.inner_text("[data-testid=thread]")
    assert RELAY in thread and ASK not in thread
    expert.click("[data-testid=change-offer]")
    expert.wait_for_selector("[data-testid=offer-form]")
    start = j.today + timedelta(days=4)
    expert.fill("#change_note", "Start three days earlier, as asked.")
    expert.fill("#start_date", start.isoformat())
    expert.check("#accept_clauses")
    j.shots(expert, "expert-revises-offer")
    expert.click("[data-testid=send-offer]")
    expert.wait_for_url(re.compile(rf".*/offers/{offer_id}$"))
    admin.goto(f"{j.base}/admin/offers/{offer_id}")
    admin.click("[data-testid=forward]")
    admin.wait_for_selector("[data-testid=forwards]")
    company.goto(f"{j.base}/company/offers/{offer_id}")
    assert "start" in company.inner_text("[data-testid=changes]").lower()
    j.shots(company, "company-sees-revision")
    company.check("[data-testid=accept-form] input[type=checkbox]")
    company.click("[data-testid=accept-offer]")
    company.wait_for_url(re.compile(r".*/company/contracts/\d+$"))
    return int(re.search(r"/company/contracts/(\d+)$", company.url).group(1))


def _sign_and_pay(j: Journey, admin: Any, company: Any, expert: Any, contract_id: int,
                  provider: FakeStripe) -> None:
    """Step 6: contract, subcontract and NDA signed by the three parties; the company pays by card."""
    _sign(company, "sign-form-contract", OWNER[2])
    _sign(company, "sign-form-nda", OWNER[2])
    j.shots(company, "company-signed")
    expert.goto(f"{j.base}/contracts/{contract_id}")
    _sign(expert, "sign-form-subcontract", EXPERT[2])
    _sign(expert, "sign-form-nda", EXPERT[2])
    j.shots(expert, "expert-signed")
    admin.goto(f"{j.base}/admin/contracts/{contract_id}")
    for kind in ("contract", "subcontract", "nda"):
        _sign(admin, f"form-sign-{kind}", ADMIN[2])
    assert "signed" in admin.inner_text("[data-testid=status]").lower()
    j.shots(admin, "admin-signed-and-sealed")
    company.goto(f"{j.base}/company/contracts/{contract_id}")
    sealed = company.locator("[data-testid=download-sealed]").all()
    assert len(sealed) >= 2  # the contract and the NDA
    for link in sealed:
        j.seen.download(company, link)
    company.click("[data-testid=pay]")
    company.wait_for_selector("[data-testid=held-funds]")
    company.click("[data-testid=pay-by-card] button[type=submit]")
    company.wait_for_url(re.compile(re.escape(provider.base_url) + r"/pay/.*"))
    j.shots(company, "provider-hosted-checkout")
    company.get_by_role("button", name=re.compile("Pay", re.I)).click()
    company.wait_for_url(re.compile(rf".*/company/contracts/{contract_id}/paid.*"))
    company.reload()
    assert "funded" in company.inner_text("[data-testid=payment-status]").lower()
    j.seen.download(company, "[data-testid=receipt-link]")
    j.shots(company, "company-paid")


def _marked_step(marks: dict[str, str], name: str) -> bytes:
    """The STEP fixture with the uploader's name and employer in its FILE_NAME header (author, organisation)."""
    text = STEP_FIXTURE.read_text()
    text = re.sub(r"FILE_NAME\([^;]*\);",
                  f"FILE_NAME('{name}','2025-06-01T09:00:00',('{marks['STEP author']}'),"
                  f"('{marks['STEP organisation']}'),'CADsystem 9','CADsystem 9','');", text, count=1)
    assert marks["STEP author"] in text
    return text.encode()


def _listeners(j: Journey, company: Any, recorder: Recorder, project_id: int) -> tuple[Any, Any]:
    """Two more company pages left open on the channel until the end: one over WebSocket, one over long-polling."""
    channel = f"{j.base}/projects/{project_id}"
    live = company.context.new_page()
    live.on("pageerror", lambda exc: j.watch.errors.append(str(exc)))
    live.goto(channel)
    live.wait_for_selector(LIVE)
    polling = recorder.page(j.browser, block_websockets=True)
    polling.on("pageerror", lambda exc: j.watch.errors.append(str(exc)))
    _log_in(polling, j.base, OWNER[0], OWNER[1])
    polling.goto(channel)
    polling.wait_for_selector(LIVE, timeout=15000)
    return live, polling


def _workspace(j: Journey, company: Any, expert: Any, project_id: int, recorder: Recorder) -> tuple[Any, Any]:
    """Step 7: the channel live between the company and the expert, a call started now, a progress update."""
    company.goto(j.base + "/")
    company.click("[data-testid=nav-projects-top]")
    company.wait_for_selector(f"[data-testid=project-{project_id}]")
    company.click(f"[data-testid=project-{project_id}]")
    company.wait_for_url(re.compile(rf".*/projects/{project_id}$"))
    company.wait_for_selector(LIVE)
    listeners = _listeners(j, company, recorder, project_id)
    expert.goto(f"{j.base}/projects/{project_id}")
    expert.wait_for_selector(LIVE)
    hello = "Welcome on board! The tool is on machine 14; sample parts are ready."
    _send(company, hello)
    _message(expert, hello)
    answer = "Thank you. I start with the gate-freeze study on Monday."
    _send(expert, answer)
    for page in (company, *listeners):
        _message(page, answer)
    j.shots(company, "company-channel-live")
    j.shots(listeners[1], "company-channel-over-long-polling")
    company.goto(f"{j.base}/projects/{project_id}/calls")
    company.click("[data-testid=start-now]")
    company.wait_for_selector("[data-testid^=join-]")
    j.shots(company, "company-call-started")
    expert.goto(f"{j.base}/projects/{project_id}/calls")
    assert expert.locator("[data-testid^=join-]").count() == 1
    expert.goto(f"{j.base}/projects/{project_id}/plan")
    form = expert.locator("[data-testid=progress-form]")
    form.locator("select[name$=milestone_id]").select_option(index=0)
    form.locator("input[name$=percent]").fill("60")
    form.locator("textarea[name$=text]").fill("Gate-freeze study done on all 8 cavities; cooling study next.")
    form.locator("[data-testid=post-progress]").click()
    expert.wait_for_load_state()
    j.shots(expert, "expert-progress")
    company.goto(f"{j.base}/projects/{project_id}/plan")
    assert "Gate-freeze study done" in company.inner_text("main")
    j.shots(company, "company-plan")
    return listeners


def _quality_control_joins(j: Journey, admin: Any, qc: Any, company: Any, project_id: int, qc_id: int) -> None:
    """Step 7: the hub assigns the QC expert from the ranking; they sign the QC NDA and share an annotated model."""
    admin.goto(f"{j.base}/admin/projects/{project_id}")
    admin.wait_for_selector("[data-testid=form-assign-qc]")
    admin.check(f"input[name=assign-expert_id][value='{qc_id}']")
    admin.fill("#assign-fee", "400.00")
    j.shots(admin, "admin-assigns-qc")
    admin.click("[data-testid=assign-qc]")
    admin.wait_for_load_state()
    assert "nda" in admin.inner_text("[data-testid=qc-status]").lower()
    qc.click("[data-testid=bell]")
    qc.wait_for_selector("[data-testid=notifications]")
    qc.locator("[data-testid=notifications] li", has_text="Quality control for project").first.locator(
        "button[type=submit]").click()
    qc.wait_for_selector("[data-testid=qc-sign-form]")
    j.shots(qc, "qc-nda")
    qc.fill("[data-testid=qc-sign-form] input[name$=typed_name]", QC_EXPERT[2])
    qc.check("[data-testid=qc-sign-form] input[type=checkbox][name$=consent]")
    qc.click("[data-testid=qc-sign]")
    qc.wait_for_url(re.compile(rf".*/projects/{project_id}$"))
    qc.goto(f"{j.base}/projects/{project_id}/files")
    annotated = j.tmp / "closure-annotated.step"
    annotated.write_bytes(_marked_step(QC_MARKS, "C:/Users/quilvane/closure-annotated.step"))
    qc.set_input_files("[data-testid=upload-form] input[type=file]", str(annotated))
    qc.click("[data-testid=upload-form] [data-testid=upload]")
    qc.wait_for_load_state()
    assert "closure-annotated.step" in qc.inner_text("[data-testid=files]")
    j.shots(qc, "qc-shares-a-file")
    company.goto(f"{j.base}/projects/{project_id}/files")
    for link in company.locator("[data-testid^=download-]").all():
        j.seen.download(company, link)
    j.shots(company, "company-files")
    with company.expect_response(lambda r: r.url.endswith("/model.glb")) as model:
        company.click("a[data-testid^=preview-]")
    assert model.value.ok
    # The viewer streams the model, which the HAR may keep without its body, and the browser may drop
    # it once read: fetch it again in the company's context (same session cookie) and keep it here.
    again = company.context.request.get(model.value.url)
    assert again.ok, again.status
    j.seen.items.append(Received("xhr", f"GET {model.value.url}", _as_text(again.body())))
    company.wait_for_selector("[data-testid=viewer]")
    j.shots(company, "company-3d-preview")


def _payout_accounts(j: Journey, expert: Any, qc: Any) -> None:
    """Step 10, ahead: both experts connect their payment-provider accounts on the earnings page."""
    for page, account, slug in ((expert, "acct_1JourneyExpert00", "expert"), (qc, "acct_1JourneyQcExpert0", "qc")):
        page.goto(j.base + "/expert/earnings")
        page.fill("[data-testid=payout-settings] input[name$=account_id]", account)
        page.click("[data-testid=save-payout-details]")
        page.wait_for_load_state()
        assert not page.locator(".invalid-feedback").count(), page.inner_text("main")
        j.shots(page, f"{slug}-payout-account")


def _deliver(j: Journey, expert: Any, project_id: int, version: int) -> int:
    """Step 9: the expert delivers a STEP file (their name in its header) with notes and the checklist."""
    expert.goto(f"{j.base}/projects/{project_id}/delivery")
    expert.wait_for_selector("[data-testid=submit-form]")
    model = j.tmp / f"closure-optimised-v{version}.step"
    model.write_bytes(_marked_step(EXPERT_MARKS, f"D:/work/orvexa/closure-optimised-v{version}.step"))
    expert.set_input_files("[data-testid=submit-form] input[type=file]", str(model))
    expert.fill("[data-testid=submit-form] textarea[name=notes]", f"Version {version}: the study report and "
                "the process window, with the optimised cooling layout as a STEP model.")
    for row in expert.locator("[data-testid^=check-row-]").all():
        row.locator("input[type=radio][value=done]").check()
    j.shots(expert, f"expert-delivery-{version}")
    expert.click("[data-testid=submit-form] [data-testid=submit]")
    expert.wait_for_load_state()
    assert expert.locator("[data-testid=refusal]").count() == 0, expert.inner_text("main")
    return j.db_id(sa.select(sa.func.max(Delivery.id)).where(Delivery.project_id == project_id))


def _qc_approves(j: Journey, qc: Any, project_id: int, delivery_id: int, version: int) -> None:
    """Step 9: the QC expert scores the delivery and approves it."""
    qc.goto(f"{j.base}/projects/{project_id}/delivery")
    qc.click(f"[data-testid=qc-review-{delivery_id}]")
    qc.wait_for_selector("[data-testid=qc-form]")
    for name in ("completeness", "correctness", "clarity"):
        qc.check(f"[data-testid=qc-form] input[name={name}][value='5']")
    qc.fill("[data-testid=qc-form] textarea[name=comments]", "Method sound, figures consistent with the data.")
    qc.check("[data-testid=qc-form] input[name=verdict][value=approve]")
    j.shots(qc, f"qc-review-{version}")
    qc.click("[data-testid=qc-submit]")
    qc.wait_for_load_state()
    assert qc.locator("[data-testid=qc-form]").count() == 0, qc.inner_text("main")


def _hub_forwards(j: Journey, admin: Any, delivery_id: int, version: int) -> None:
    """Step 9: the hub checks the delivery in Back office → Delivery checking and forwards it."""
    admin.goto(j.base + "/admin/deliveries/")
    admin.click(f"[data-testid=delivery-{delivery_id}] [data-testid=open-delivery]")
    admin.wait_for_selector("[data-testid=form-forward]")
    admin.fill("[data-testid=form-forward] textarea", f"Checked by the hub: version {version} is complete.")
    j.shots(admin, f"admin-checks-delivery-{version}")
    admin.click("[data-testid=form-forward] [data-testid=forward]")
    admin.wait_for_load_state()
    assert "forwarded" in admin.inner_text("[data-testid=decisions]").lower()


def _company_reviews(j: Journey, company: Any, project_id: int, delivery_id: int, *, approve: bool) -> None:
    """Step 9: the company downloads the forwarded delivery, then asks for a revision or approves it."""
    company.goto(f"{j.base}/projects/{project_id}/delivery")
    company.wait_for_selector("[data-testid=decision]")
    for link in company.locator(f"[data-testid=files-{delivery_id}] [data-testid^=download-]").all():
        j.seen.download(company, link)
    if not approve:
        company.fill("[data-testid=revision-form] textarea", REVISION)
        j.shots(company, "company-asks-for-revision")
        company.click("[data-testid=request-revision]")
        company.wait_for_load_state()
        assert company.locator("[data-testid=awaiting-new-version]").count() == 1, company.inner_text("main")
        return
    company.check("[data-testid=approve-form] input[type=checkbox]")
    j.shots(company, "company-approves")
    company.click("[data-testid=approve]")
    company.wait_for_selector(f"[data-testid=certificate-{delivery_id}]")
    certificate = j.seen.download(company, f"[data-testid=certificate-{delivery_id}]")
    assert certificate.startswith(b"%PDF-")
    assert "accept" in _pdf_text(certificate).lower()
    j.shots(company, "company-approved-certificate")


def _release_and_payouts(j: Journey, admin: Any, expert: Any, qc: Any, project_id: int) -> None:
    """Step 10: the embedded queue released the funds on approval and sent both transfers to the provider."""
    admin.goto(j.base + "/admin/payouts/")
    assert admin.locator("[data-testid=no-awaiting]").count() == 1, admin.inner_text("main")
    admin.goto(j.base + "/admin/payouts/?show=sent")
    rows = admin.locator("[data-testid=payouts] [data-testid^=payout-]")
    assert rows.count() == 2, admin.inner_text("main")
    j.shots(admin, "admin-payouts-sent")
    for page, slug in ((expert, "expert"), (qc, "qc")):
        page.goto(j.base + "/expert/earnings")
        assert "paid" in page.inner_text("[data-testid=payouts] [data-testid=status]").lower()
        j.shots(page, f"{slug}-earnings")


def _company_rates(j: Journey, company: Any, project_id: int) -> None:
    """Step 10: the company rates the expert (overall and four sub-scores, written feedback)."""
    company.goto(f"{j.base}/projects/{project_id}/rating")
    form = company.locator("[data-testid=expert-rating-form]")
    for name, score in (("overall", 5), ("quality", 5), ("communication", 4), ("timeliness", 5), ("expertise", 5)):
        form.locator(f"input[name=expert-{name}][value='{score}']").check()
    form.locator("textarea").fill(FEEDBACK)
    j.shots(company, "company-rates")
    form.locator("[data-testid=submit-expert-rating]").click()
    company.wait_for_load_state()
    company.wait_for_selector("[data-testid=expert-rating-card] [data-testid=rated-by]")
    assert FEEDBACK in company.inner_text("[data-testid=expert-rating-card]")
    j.shots(company, "company-rated")


def _company_emails(app: Flask) -> list[Received]:
    """Every e-mail sent to the company's users (the embedded outbox keeps them)."""
    with app.app_context():
        company_id = db.session.scalar(sa.select(Company.id).where(Company.name == COMPANY))
        addresses = set(db.session.scalars(sa.select(User.email).where(User.company_id == company_id)))
        addresses.add(OWNER[0])
        mails = db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address.in_(addresses))).all()
        return [Received("e-mail", f"{m.to_address}: {m.subject}", f"{m.subject}\n{m.body_text}\n{m.body_html}")
                for m in mails]


def test_the_whole_journey_with_a_canary_scan(journey_app, browser, shots, fake_provider, tmp_path):
    result = journey_app.test_cli_runner().invoke(args=["create-admin", "--email", ADMIN[0], "--name", ADMIN[2]],
                                                  input=f"{ADMIN[1]}\n{ADMIN[1]}\n")
    assert result.exit_code == 0, result.output
    company_seen, hub_seen = Recorder("company", tmp_path), Recorder("hub", tmp_path)
    with LiveServer(journey_app) as server:
        fake_provider.webhook_url = f"{server.url}/webhooks/stripe"
        j = Journey(journey_app, server.url, browser, shots, Watch(), tmp_path, company_seen)
        company, admin, expert, qc = j.page(company_seen), j.page(hub_seen), j.page(), j.page()

        # 1. Sign-up and verification: the company and both experts through the UI, approved by the hub.
        _company_signs_up(j, company)
        _expert_signs_up(j, expert, EXPERT, EXPERT_MARKS, "expert")
        _expert_signs_up(j, qc, QC_EXPERT, QC_MARKS, "qc-expert")
        _admin_logs_in(j, admin)
        _admin_approves(j, admin)
        j.lap("1 sign-up and verification")
        expert_id = j.db_id(_expert_id(EXPERT[0]))
        qc_id = j.db_id(_expert_id(QC_EXPERT[0]))

        # 2–4. The job with a STEP file and QC, the hub's review and publication, the ranking, the invitation.
        job_id = _company_posts_job(j, company)
        _admin_publishes_and_invites(j, admin, job_id, expert_id, qc_id)
        offer_id = _expert_offers(j, expert, job_id)
        j.lap("2-4 job, publication, matching, offer")

        # 5–6. Negotiation through the hub, acceptance, signatures, the card payment on the hosted checkout.
        contract_id = _negotiate_and_accept(j, admin, company, expert, offer_id)
        _sign_and_pay(j, admin, company, expert, contract_id, fake_provider)
        project_id = j.db_id(sa.select(Project.id).where(Project.contract_id == contract_id))
        j.lap("5-6 negotiation, contract, payment")

        # 7–8. The workspace; the QC expert joins.
        listeners = _workspace(j, company, expert, project_id, company_seen)
        _quality_control_joins(j, admin, qc, company, project_id, qc_id)
        _payout_accounts(j, expert, qc)
        j.lap("7-8 workspace and QC")

        # 9. Delivery 1 through QC and the hub; the company asks for a revision; delivery 2 is approved.
        first = _deliver(j, expert, project_id, 1)
        _qc_approves(j, qc, project_id, first, 1)
        _hub_forwards(j, admin, first, 1)
        _company_reviews(j, company, project_id, first, approve=False)
        second = _deliver(j, expert, project_id, 2)
        _qc_approves(j, qc, project_id, second, 2)
        _hub_forwards(j, admin, second, 2)
        _company_reviews(j, company, project_id, second, approve=True)
        j.lap("9 deliveries")

        # 10. Release, payouts through the provider, the rating.
        _release_and_payouts(j, admin, expert, qc, project_id)
        _company_rates(j, company, project_id)
        admin.goto(f"{j.base}/admin/projects/{project_id}")
        j.shots(admin, "admin-project-completed")
        for page in listeners:
            page.reload()
            page.wait_for_selector("[data-testid=messages]")
        j.shots(listeners[1], "company-channel-at-the-end")
        company_seen.close()
        hub_seen.close()
        j.lap("10 release, payouts, rating")

    # The money: one funding, one release, one payout.sent per role; the escrow empty; one transfer per payout.
    with journey_app.app_context():
        contract = db.session.get(Contract, contract_id)
        project = db.session.get(Project, project_id)
        assert project.status is ProjectStatus.COMPLETED and project.released_at is not None
        kinds = [t.kind for t in db.session.scalars(sa.select(LedgerTransaction).order_by(LedgerTransaction.id))]
        assert kinds.count("escrow.funded") == 1, kinds
        assert len([k for k in kinds if k.startswith("escrow.released")]) == 1, kinds
        assert kinds.count("payout.sent") == 2, kinds
        assert not [k for k in kinds if k.startswith("escrow.refunded")], kinds
        assert ledger.check_invariants(db.session) == []
        assert release.held_minor(project) == 0
        payouts = db.session.scalars(sa.select(Payout).where(Payout.project_id == project_id)).all()
        assert sorted(p.role.value for p in payouts) == ["expert", "qc"]
        assert all(p.status is PayoutStatus.SENT and p.method is PayoutMethod.PROVIDER for p in payouts)
        by_role = {p.role.value: p.amount_minor for p in payouts}
        assert by_role == {"expert": contract.expert_price_minor, "qc": 40000}
        deliveries = db.session.scalars(sa.select(Delivery).where(Delivery.project_id == project_id)
                                        .order_by(Delivery.number)).all()
        assert [d.status for d in deliveries] == [DeliveryStatus.REVISION_REQUESTED, DeliveryStatus.APPROVED]
        rating = db.session.scalar(sa.select(Rating).where(Rating.project_id == project_id))
        assert rating is not None and rating.overall == 5
        references = {p.provider_transfer_id for p in payouts}
    transfers = fake_provider.transfers.values()
    assert len(transfers) == len(payouts) == 2
    assert {t["id"] for t in transfers} == references
    assert sorted(t["destination"] for t in transfers) == ["acct_1JourneyExpert00", "acct_1JourneyQcExpert0"]

    # The canary scan: nothing of either expert's identity reached the company.
    emails = _company_emails(journey_app)
    company_seen.items += emails
    markers = {f"expert {k}": v for k, v in EXPERT_MARKS.items()} | {f"QC expert {k}": v for k, v in QC_MARKS.items()}
    leaks = company_seen.hits(markers)
    figures = {kind: company_seen.count(kind)
               for kind in ("page", "xhr", "other", "download", "frame", "poll", "e-mail")}
    print(f"canary scan of the company's side: {figures}; hub pages: {hub_seen.count('page')}; "
          f"screenshots: {shots.n}; timings: {j.timings}")
    assert leaks == [], "\n".join(leaks)
    assert figures["page"] >= 40 and figures["download"] >= 6 and figures["e-mail"] >= 5
    assert figures["frame"] > 0 and figures["poll"] > 0
    # Positive controls: the same scan finds what the company may see, in each kind of item.
    with journey_app.app_context():
        pseudonym = db.session.scalar(sa.select(ExpertProfile.pseudonym).where(ExpertProfile.id == expert_id))
    assert {"page", "e-mail", "download"} <= company_seen.kinds_with(f"Expert {pseudonym}")
    assert {"frame", "poll"} <= company_seen.kinds_with("gate-freeze study on Monday")
    assert "download" in company_seen.kinds_with("FILE_NAME(")  # the STEP files, their header blanked
    seen_by_hub = "\n".join(hub_seen.hits(markers))
    for prefix, marks in (("expert", EXPERT_MARKS), ("QC expert", QC_MARKS)):
        for what in HUB_SEES:
            assert f"{prefix} {what} ({marks[what]})" in seen_by_hub, (prefix, what)
    assert shots.n >= 20
    assert j.watch.errors == [], j.watch.errors
