"""The back office's projects: the list (filters, search, pages), one project, and its QC and manager forms."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Project,
    ProjectMember,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
)
from app.models.mixins import utcnow
from app.services import uow
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from tests.admin_views.conftest import flashes, snapshot
from tests.conftest import login
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)
from tests.services.test_qc import QC_NAME, World, _assign, _sign, _world


@pytest.fixture
def world(f: Any) -> World:
    return _world(f)


def _row(html: str, project: Project) -> str:
    start = html.index(f'data-testid="project-{project.id}"')
    return html[start: html.index("</tr>", start)]


def _references(html: str) -> set[str]:
    return set(re.findall(r'data-testid="open-project">([^<]+)<', html))


# The list -----------------------------------------------------------------------------------------


def test_the_list_shows_each_projects_figures(admin_client, world):
    project = world.project
    first = db.session.scalar(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                              .order_by(ProjectMilestone.position))
    first.due_date = utcnow().date() - timedelta(days=2)
    uow.commit()

    html = admin_client.get("/admin/projects/").get_data(as_text=True)

    row = _row(html, project)
    assert project.contract.reference in row and str(project.job) in row
    assert project.contract.company.name in row and project.contract.expert.pseudonym in row
    assert project.contract.expert.user.full_name not in row  # the list shows pseudonyms
    assert world.staff.full_name in row  # the manager
    assert "0 of 2 done" in row and '<span class="badge badge-danger">1</span>' in row
    assert "Requested, no expert yet" in row
    assert f'href="/projects/{project.id}"' in row and "Open workspace" in row


def test_the_list_shows_the_qc_state(admin_client, world):
    _assign(world)
    row = _row(admin_client.get("/admin/projects/").get_data(as_text=True), world.project)
    assert "Waiting for the NDA signature" in row and "Q7QC" in row


def test_filters_by_status(admin_client, f, world):
    cancelled = f.project()
    transition(cancelled, PROJECT_WORKFLOW, ProjectStatus.CANCELLED, actor=None)
    uow.commit()
    both = {world.project.contract.reference, cancelled.contract.reference}
    assert _references(admin_client.get("/admin/projects/").get_data(as_text=True)) == both
    assert _references(admin_client.get("/admin/projects/?status=active").get_data(as_text=True)) == {
        world.project.contract.reference}
    assert _references(admin_client.get("/admin/projects/?status=cancelled").get_data(as_text=True)) == {
        cancelled.contract.reference}
    html = admin_client.get("/admin/projects/?status=completed").get_data(as_text=True)
    assert 'data-testid="no-projects"' in html and "No project matches." in html
    assert _references(admin_client.get("/admin/projects/?status=bogus").get_data(as_text=True)) == both


def test_search_by_reference_company_and_job(admin_client, f, world):
    other = f.project()
    uow.commit()
    mine = world.project
    for text in (mine.contract.reference.lower(), mine.contract.company.name.upper(), str(mine.job)):
        html = admin_client.get("/admin/projects/", query_string={"q": text}).get_data(as_text=True)
        assert _references(html) == {mine.contract.reference}, text
        assert f'value="{text}"' in html  # the search box keeps what was typed
    html = admin_client.get("/admin/projects/", query_string={"q": "100%_nothing"}).get_data(as_text=True)
    assert _references(html) == set()
    assert other.contract.reference in admin_client.get("/admin/projects/").get_data(as_text=True)


def test_the_list_has_pages_of_twenty(admin_client, f):
    made = [f.project() for _ in range(21)]
    uow.commit()
    first = admin_client.get("/admin/projects/").get_data(as_text=True)
    second = admin_client.get("/admin/projects/?page=2").get_data(as_text=True)
    assert len(_references(first)) == 20 and len(_references(second)) == 1
    assert _references(second) == {made[0].contract.reference}  # newest first
    assert "21 in total." in first and "/admin/projects/?page=2" in first


def test_an_empty_list_explains_when_projects_appear(admin_client):
    html = admin_client.get("/admin/projects/").get_data(as_text=True)
    assert "a project starts when a contract is funded" in html


def test_only_staff_see_projects(app, world):
    for user in (world.owner, world.expert):
        assert login(app.test_client(), user).get("/admin/projects/").status_code == 403


# One project ---------------------------------------------------------------------------------------


def test_the_project_page_shows_members_and_the_candidates(admin_client, world):
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    contract = world.project.contract
    members = html[html.index('data-testid="members"'):html.index('data-testid="manager-panel"')]
    assert world.owner.full_name in members and world.member.full_name in members
    assert f"Expert {contract.expert.pseudonym} — {contract.expert.user.full_name}" in members
    assert world.staff.full_name in members
    panel = html[html.index('data-testid="qc-panel"'):]
    assert 'data-testid="form-assign-qc"' in panel
    own = panel[panel.index(f'data-testid="candidate-{contract.expert.pseudonym}"'):]
    assert "the project&#39;s own expert" in own[:own.index("</tr>")]
    assert f'value="{world.candidate.id}"' in panel and QC_NAME in panel
    assert 'name="assign-fee"' in panel and 'value="300.00"' in panel  # 15 % of €4,000, at most half the €600 fee
    assert f'href="/projects/{world.project.id}"' in html


def test_without_a_ranking_the_hub_is_told_to_run_it(admin_client, f):
    w = _world(f, ranked=False)
    html = admin_client.get(f"/admin/projects/{w.project.id}").get_data(as_text=True)
    assert 'data-testid="qc-no-ranking"' in html and f"/admin/matching/{w.project.job_id}" in html
    assert 'data-testid="form-assign-qc"' not in html


def test_when_qc_was_not_requested_there_is_no_assign_form(admin_client, f):
    w = _world(f, qc_requested=False)
    html = admin_client.get(f"/admin/projects/{w.project.id}").get_data(as_text=True)
    assert 'data-testid="qc-not-requested"' in html and 'data-testid="form-assign-qc"' not in html


def test_an_unknown_project_is_404(admin_client):
    assert admin_client.get("/admin/projects/999999").status_code == 404


# The QC forms ---------------------------------------------------------------------------------------


def test_assign_from_the_page(admin_client, world):
    response = admin_client.post(f"/admin/projects/{world.project.id}/qc",
                                 data={"assign-expert_id": str(world.candidate.id), "assign-fee": "450,50"})
    assert response.status_code == 302
    assignment = db.session.scalar(sa.select(QcAssignment))
    assert assignment.expert_id == world.candidate.id and assignment.fee_minor == 45050
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert "The NDA is sent to the expert" in " ".join(flashes(html))
    assert 'data-testid="qc-status"' in html and "Waiting for the NDA signature" in html
    assert 'data-testid="form-remove-qc"' in html and 'data-testid="form-assign-qc"' not in html


def test_assign_without_an_expert_keeps_the_fee(app, admin_client, world):
    before = snapshot(app)
    response = admin_client.post(f"/admin/projects/{world.project.id}/qc", data={"assign-fee": "123.45"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of the experts in the list." in html and 'value="123.45"' in html
    assert snapshot(app) == before


def test_a_fee_above_the_hubs_fee_is_refused_and_kept(app, admin_client, world):
    before = snapshot(app)
    response = admin_client.post(f"/admin/projects/{world.project.id}/qc",
                                 data={"assign-expert_id": str(world.candidate.id), "assign-fee": "700"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "paid out of the hub&#39;s fee" in html and 'value="700"' in html
    assert re.search(rf'value="{world.candidate.id}"\s+checked', html)
    assert snapshot(app) == before


def test_an_unselectable_expert_is_not_a_choice(admin_client, world):
    response = admin_client.post(f"/admin/projects/{world.project.id}/qc",
                                 data={"assign-expert_id": str(world.project.expert_id), "assign-fee": "100"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcAssignment)) == 0


def test_remove_from_the_page(admin_client, world):
    assignment = _assign(world)
    _sign(world, assignment)
    url = f"/admin/projects/{world.project.id}/qc/{assignment.id}/remove"
    empty = admin_client.post(url, data={f"remove{assignment.id}-reason": " "})
    assert empty.status_code == 400 and "Give a reason" in empty.get_data(as_text=True)
    response = admin_client.post(url, data={f"remove{assignment.id}-reason": "The review is complete."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(QcAssignment, assignment.id).status is QcStatus.REMOVED
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert 'data-testid="qc-past"' in html and "The review is complete." in html
    assert 'data-testid="form-assign-qc"' in html  # another expert can be chosen now
    assert admin_client.post(f"/admin/projects/{world.project.id}/qc/999999/remove",
                             data={"remove999999-reason": "x"}).status_code == 404


def test_the_active_qc_is_listed_as_a_member_with_the_signature_trail(admin_client, world):
    assignment = _assign(world)
    _sign(world, assignment)
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert 'data-testid="member-qc"' in html and f"Expert Q7QC — {QC_NAME}" in html
    panel = html[html.index('data-testid="qc-panel"'):]
    assert "203.0.113.7" in panel and "QCBrowser/1.0" in panel and 'data-testid="qc-nda-sealed"' in panel
    assert "qc_assignment.active" in html  # the history


# The manager ----------------------------------------------------------------------------------------


def test_set_manager_from_the_page(admin_client, admin, world):
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert f'<option selected value="{world.staff.id}">' in html or \
        re.search(rf'<option[^>]*value="{world.staff.id}"[^>]*selected', html)
    response = admin_client.post(f"/admin/projects/{world.project.id}/manager",
                                 data={"manager-manager_id": str(admin.id)})
    assert response.status_code == 302
    db.session.expire_all()
    project = db.session.get(Project, world.project.id)
    assert project.manager_id == admin.id
    row = db.session.scalar(sa.select(ProjectMember).where(ProjectMember.project_id == project.id,
                                                           ProjectMember.user_id == admin.id))
    assert row.role is ProjectRole.MANAGER and row.removed_at is None
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert "The project manager is changed." in " ".join(flashes(html)) and "project.manager_changed" in html


def test_set_manager_refuses_staff_without_two_factor(app, admin_client, f, world):
    no_2fa = f.admin(full_name="No Factor", email="no-factor@example.test")
    uow.commit()
    html = admin_client.get(f"/admin/projects/{world.project.id}").get_data(as_text=True)
    assert "no-factor@example.test" not in html  # not offered
    before = snapshot(app)
    response = admin_client.post(f"/admin/projects/{world.project.id}/manager",
                                 data={"manager-manager_id": str(no_2fa.id)})
    assert response.status_code == 400 and snapshot(app) == before
    same = admin_client.post(f"/admin/projects/{world.project.id}/manager",
                             data={"manager-manager_id": str(world.staff.id)})
    assert same.status_code == 422 and "already manages this project" in same.get_data(as_text=True)
