"""The QC expert's NDA page: what it shows (no price), signing with errors that keep what was typed, downloads."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ProjectMember, ProjectRole, QcAssignment, QcStatus
from app.services import qc, uow
from tests.conftest import login
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)
from tests.services.test_qc import QC_NAME, World, _assign, _sign, _world


@pytest.fixture
def world(f: Any) -> World:
    return _world(f)


@pytest.fixture
def assignment(world: World) -> QcAssignment:
    return _assign(world, fee=30000)


def _as(app: Any, user: Any) -> Any:
    return login(app.test_client(), user)


def _form(assignment: QcAssignment, **overrides: str) -> dict[str, str]:
    data = {"typed_name": QC_NAME, "consent": "y", "document_sha256": assignment.nda_sha256}
    data.update(overrides)
    return data


def _typed_value(html: str) -> str:
    match = re.search(r'<input[^>]*name="typed_name"[^>]*>', html)
    assert match, "no typed_name field"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def test_the_qc_expert_reads_the_project_without_any_price(app, world, assignment):
    response = _as(app, world.qc_user).get(f"/projects/qc/{assignment.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert world.project.contract.reference in html and str(world.project.job) in html
    assert assignment.nda_sha256 in html and 'data-testid="qc-sign-form"' in html
    assert QC_NAME in html  # the name to type
    assert "300.00" in html  # the QC fee
    for amount in ("4,600.00", "4,000.00", "600.00"):  # client price, expert price, hub fee
        assert amount not in html
    assert "Study" in html and "Report" in html  # milestones, without amounts
    assert f'/projects/qc/{assignment.id}/nda.pdf?inline=1' in html


def test_hub_staff_read_the_page_without_the_form(app, world, assignment):
    html = _as(app, world.staff).get(f"/projects/qc/{assignment.id}").get_data(as_text=True)
    assert 'data-testid="qc-sign-form"' not in html and 'data-testid="expert-signs"' in html


@pytest.mark.parametrize("who", ["owner", "expert", "other"])
def test_the_page_does_not_exist_for_anyone_else(app, world, assignment, who):
    user = {"owner": world.owner, "expert": world.expert, "other": world.other.user}[who]
    client = _as(app, user)
    assert client.get(f"/projects/qc/{assignment.id}").status_code == 404
    assert client.post(f"/projects/qc/{assignment.id}/sign", data=_form(assignment)).status_code == 404
    assert client.get(f"/projects/qc/{assignment.id}/nda.pdf").status_code == 404
    assert _as(app, world.qc_user).get("/projects/qc/999999").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, assignment):
    response = client.get(f"/projects/qc/{assignment.id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_signing_joins_the_project_and_lands_on_its_channel(app, world, assignment):
    client = _as(app, world.qc_user)
    response = client.post(f"/projects/qc/{assignment.id}/sign", data=_form(assignment),
                           headers={"User-Agent": "QCBrowser/2.0"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/projects/{world.project.id}")
    db.session.expire_all()
    signed = db.session.get(QcAssignment, assignment.id)
    assert signed.status is QcStatus.ACTIVE
    assert signed.signer_ip == "127.0.0.1" and signed.signer_user_agent == "QCBrowser/2.0"
    member = db.session.scalar(sa.select(ProjectMember).where(ProjectMember.user_id == world.qc_user.id))
    assert member.role is ProjectRole.QC
    page = client.get(f"/projects/qc/{assignment.id}").get_data(as_text=True)
    assert 'data-testid="qc-sign-form"' not in page and 'data-testid="download-sealed"' in page
    assert 'data-testid="open-project"' in page


@pytest.mark.parametrize(("overrides", "status", "message"), [
    ({"typed_name": "Quinn Otherwise"}, 422, "not the name of your account"),
    ({"document_sha256": "b" * 64}, 422, "changed since you opened it"),
    ({"consent": ""}, 400, "Tick the box"),
])
def test_sign_errors_keep_what_was_typed(app, world, assignment, overrides, status, message):
    data = _form(assignment, **overrides)
    response = _as(app, world.qc_user).post(f"/projects/qc/{assignment.id}/sign", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in html
    assert _typed_value(html) == data["typed_name"]
    db.session.expire_all()
    assert db.session.get(QcAssignment, assignment.id).status is QcStatus.NDA_PENDING


def test_a_missing_name_is_explained(app, world, assignment):
    response = _as(app, world.qc_user).post(f"/projects/qc/{assignment.id}/sign",
                                             data=_form(assignment, typed_name=""))
    assert response.status_code == 400 and "Type your full name to sign." in response.get_data(as_text=True)


def test_there_is_nothing_to_sign_twice(app, world, assignment):
    _sign(world, assignment)
    response = _as(app, world.qc_user).post(f"/projects/qc/{assignment.id}/sign", data=_form(assignment))
    assert response.status_code == 409 and "nothing to sign" in response.get_data(as_text=True)


def test_a_removed_expert_reads_the_reason(app, world, assignment):
    _sign(world, assignment)
    qc.remove_qc(assignment.id, actor=world.staff, reason="The review is complete.")
    uow.commit()
    client = _as(app, world.qc_user)
    html = client.get(f"/projects/qc/{assignment.id}").get_data(as_text=True)
    assert "The review is complete." in html and 'data-testid="open-project"' not in html
    assert client.get(f"/projects/{world.project.id}").status_code == 404


def test_downloads_for_the_qc_expert(app, world, assignment):
    client = _as(app, world.qc_user)
    response = client.get(f"/projects/qc/{assignment.id}/nda.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "attachment" in response.headers["Content-Disposition"]
    assert f"{world.project.contract.reference}-qc-nda.pdf" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    preview = client.get(f"/projects/qc/{assignment.id}/nda.pdf?inline=1")
    assert preview.status_code == 200 and "inline" in preview.headers["Content-Disposition"]
    assert client.get(f"/projects/qc/{assignment.id}/nda.pdf?sealed=1").status_code == 404  # not signed yet
    _sign(world, assignment)
    sealed = client.get(f"/projects/qc/{assignment.id}/nda.pdf?sealed=1")
    assert sealed.status_code == 200 and "qc-nda-sealed.pdf" in sealed.headers["Content-Disposition"]


def test_hub_staff_download_and_the_reads_are_logged(app, world, assignment):
    from tests.services.test_qc import _actions

    assert _as(app, world.staff).get(f"/projects/qc/{assignment.id}/nda.pdf").status_code == 200
    assert "qc_assignment.nda_downloaded" in _actions("qc_assignments", assignment.id)


def test_staff_without_two_factor_are_sent_to_set_it_up(app, f, assignment):
    staff = f.admin(full_name="No Factor")
    uow.commit()
    response = _as(app, staff).get(f"/projects/qc/{assignment.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/two-factor/setup")
