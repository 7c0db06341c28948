"""The plan tab over HTTP: the page per role, the milestone buttons, progress and task forms (errors keep input)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from app.extensions import db
from app.i18n import money
from app.models import (
    MilestoneStatus,
    ProgressUpdate,
    Project,
    ProjectMilestone,
    ProjectTask,
    TaskStatus,
    User,
)
from app.services import project_plan, projects, uow
from app.services.projects import Side
from tests.conftest import login


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User
    study: ProjectMilestone
    report: ProjectMilestone

    @property
    def url(self) -> str:
        return f"/projects/{self.project.id}/plan"


@pytest.fixture
def scene(f: Any) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    study, report = db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id == project.id)
                                       .order_by(ProjectMilestone.position)).all()
    uow.commit()
    return Scene(project, company[0], company[1], expert, hub, study, report)


def _as(app: Any, user: User) -> Any:
    return login(app.test_client(), user)


def _page(client: Any, scene: Scene) -> str:
    response = client.get(scene.url)
    assert response.status_code == 200, response.status_code
    return unescape(response.get_data(as_text=True))


def _task(scene: Scene, **kw: Any) -> ProjectTask:
    values: dict[str, Any] = {"milestone_id": scene.study.id, "title": "Send 20 sample parts",
                              "assignee_id": scene.owner.id, "due_date": None}
    values.update(kw)
    task = project_plan.add_task(scene.project.id, actor=values.pop("actor", scene.expert), **values)
    uow.commit()
    return task


def _milestone(milestone_id: int) -> ProjectMilestone:
    db.session.expire_all()
    milestone = db.session.get(ProjectMilestone, milestone_id)
    assert milestone is not None
    return milestone


# The page per role --------------------------------------------------------------------------


def test_the_company_reads_the_plan_with_its_prices(app: Any, scene: Scene) -> None:
    html = _page(_as(app, scene.owner), scene)
    currency = scene.project.contract.currency
    assert money(scene.study.amount_minor, currency) in html and money(scene.report.amount_minor, currency) in html
    assert 'data-testid="timeline"' in html and 'data-testid="tab-plan"' in html
    assert 'data-testid="next-due"' in html and "Study" in html
    assert 'data-testid="overall-progress">0 %' in html
    assert 'data-testid="progress-form"' not in html and 'data-testid="start-' not in html
    assert 'data-testid="add-task-' not in html
    assert scene.expert.full_name not in html  # anonymity
    assert f"Expert {scene.project.contract.expert.pseudonym}" in html


def test_the_expert_sees_shares_not_prices(app: Any, scene: Scene) -> None:
    html = _page(_as(app, scene.expert), scene)
    contract = scene.project.contract
    for amount in (scene.study.amount_minor, scene.report.amount_minor, contract.client_price_minor,
                   contract.fee_minor):
        assert money(amount, contract.currency) not in html
    assert 'data-testid="amount-' not in html
    assert "40 % of the project" in html and "60 % of the project" in html
    assert f'data-testid="start-{scene.study.id}"' in html and f'data-testid="complete-{scene.study.id}"' in html
    assert 'data-testid="progress-form"' in html and f'data-testid="add-task-{scene.study.id}"' in html
    assert 'data-testid="reopen-' not in html


def test_outsiders_get_404_and_visitors_log_in(app: Any, scene: Scene, f: Any) -> None:
    outsider = f.company_user()
    uow.commit()
    client = _as(app, outsider)
    assert client.get(scene.url).status_code == 404
    assert client.post(f"/projects/milestones/{scene.study.id}/start").status_code == 404
    assert client.post(f"/projects/{scene.project.id}/progress", data={}).status_code == 404
    assert client.get("/projects/999999/plan").status_code == 404
    assert app.test_client().get(scene.url).status_code == 302


# Milestone buttons --------------------------------------------------------------------------


def test_the_expert_starts_and_completes_the_hub_reopens(app: Any, scene: Scene) -> None:
    expert = _as(app, scene.expert)
    response = expert.post(f"/projects/milestones/{scene.study.id}/start")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{scene.url}#milestone-{scene.study.id}")
    assert _milestone(scene.study.id).status is MilestoneStatus.IN_PROGRESS
    assert expert.post(f"/projects/milestones/{scene.study.id}/complete").status_code == 302
    assert _milestone(scene.study.id).status is MilestoneStatus.DONE
    assert expert.post(f"/projects/milestones/{scene.study.id}/reopen").status_code == 403

    hub = _as(app, scene.hub)
    assert f'data-testid="reopen-{scene.study.id}"' in _page(hub, scene)
    assert hub.post(f"/projects/milestones/{scene.study.id}/reopen").status_code == 302
    assert _milestone(scene.study.id).status is MilestoneStatus.IN_PROGRESS


def test_a_refused_change_is_flashed(app: Any, scene: Scene) -> None:
    project_plan.complete_milestone(scene.study.id, actor=scene.expert)
    uow.commit()
    client = _as(app, scene.expert)
    response = client.post(f"/projects/milestones/{scene.study.id}/complete", follow_redirects=True)
    assert response.status_code == 200
    assert "This milestone is done; it cannot become done." in unescape(response.get_data(as_text=True))


def test_company_users_cannot_press_the_buttons(app: Any, scene: Scene) -> None:
    client = _as(app, scene.owner)
    for action in ("start", "complete", "reopen"):
        assert client.post(f"/projects/milestones/{scene.study.id}/{action}").status_code == 403
    assert _milestone(scene.study.id).status is MilestoneStatus.PLANNED


# Progress -----------------------------------------------------------------------------------


def test_progress_form_errors_keep_what_was_typed(app: Any, scene: Scene) -> None:
    client = _as(app, scene.expert)
    response = client.post(f"/projects/{scene.project.id}/progress", data={
        "progress-milestone_id": str(scene.report.id), "progress-percent": "150",
        "progress-text": "Gate study finished, moving on."})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Enter a whole percent between 0 and 100." in html
    assert "Gate study finished, moving on." in html and 'value="150"' in html
    assert re.search(rf'<option selected value="{scene.report.id}">|<option value="{scene.report.id}" selected', html)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProgressUpdate)) == 0


def test_progress_is_posted_and_shown(app: Any, scene: Scene) -> None:
    client = _as(app, scene.expert)
    response = client.post(f"/projects/{scene.project.id}/progress", data={
        "progress-milestone_id": str(scene.study.id), "progress-percent": "40",
        "progress-text": "Mould flow analysis done."})
    assert response.status_code == 302
    assert _milestone(scene.study.id).progress_percent == 40
    html = _page(_as(app, scene.owner), scene)
    assert f'data-testid="latest-progress-{scene.study.id}"' in html and "Mould flow analysis done." in html
    assert 'data-testid="overall-progress">16 %' in html  # 40 % of a 40 % share


def test_a_company_user_cannot_post_progress(app: Any, scene: Scene) -> None:
    response = _as(app, scene.owner).post(f"/projects/{scene.project.id}/progress", data={
        "progress-milestone_id": str(scene.study.id), "progress-percent": "40", "progress-text": "Done!"})
    assert response.status_code == 403


# Tasks --------------------------------------------------------------------------------------


def test_add_task_errors_keep_what_was_typed(app: Any, scene: Scene) -> None:
    client = _as(app, scene.expert)
    prefix = f"add{scene.study.id}"
    due = (date.today() + timedelta(days=4)).isoformat()
    response = client.post(f"/projects/milestones/{scene.study.id}/tasks", data={
        f"{prefix}-title": "", f"{prefix}-assignee": str(scene.colleague.id), f"{prefix}-due_date": due})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "Give the task a title." in html and f'value="{due}"' in html
    assert re.search(rf'<option selected value="{scene.colleague.id}">|<option value="{scene.colleague.id}" selected',
                     html)
    assert f'<details open data-testid="add-task-{scene.study.id}"' in html

    past = client.post(f"/projects/milestones/{scene.study.id}/tasks", data={
        f"{prefix}-title": "Measure shrinkage", f"{prefix}-due_date": "2001-01-01"})
    assert past.status_code == 422
    assert "is in the past" in unescape(past.get_data(as_text=True))
    assert "Measure shrinkage" in unescape(past.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProjectTask)) == 0


def test_tasks_are_added_moved_and_edited(app: Any, scene: Scene) -> None:
    expert = _as(app, scene.expert)
    prefix = f"add{scene.study.id}"
    response = expert.post(f"/projects/milestones/{scene.study.id}/tasks", data={
        f"{prefix}-title": "Send 20 sample parts", f"{prefix}-assignee": str(scene.owner.id)})
    assert response.status_code == 302
    task = db.session.scalar(sa.select(ProjectTask))
    assert task is not None and task.assignee_id == scene.owner.id

    owner = _as(app, scene.owner)
    html = _page(owner, scene)
    assert f'data-testid="task-{task.id}-doing"' in html and f'data-testid="edit-task-{task.id}"' not in html
    assert owner.post(f"/projects/tasks/{task.id}/status", data={"status": "doing"}).status_code == 302
    assert _as(app, scene.colleague).post(f"/projects/tasks/{task.id}/status",
                                          data={"status": "done"}).status_code == 403
    assert owner.post(f"/projects/tasks/{task.id}/status", data={"status": "done"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(ProjectTask, task.id).status is TaskStatus.DONE

    edit = f"edit{task.id}"
    version = db.session.get(ProjectTask, task.id).version
    response = expert.post(f"/projects/tasks/{task.id}", data={
        f"{edit}-title": "Send 30 sample parts", f"{edit}-assignee": str(scene.colleague.id),
        f"{edit}-due_date": "", f"{edit}-version": str(version)})
    assert response.status_code == 302
    db.session.expire_all()
    edited = db.session.get(ProjectTask, task.id)
    assert (edited.title, edited.assignee_id) == ("Send 30 sample parts", scene.colleague.id)
    assert owner.post(f"/projects/tasks/{task.id}", data={f"{edit}-title": "Mine"}).status_code == 403
    add_url = f"/projects/milestones/{scene.study.id}/tasks"
    assert owner.post(add_url, data={f"{prefix}-title": "Mine"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(ProjectTask, task.id).title == "Send 30 sample parts"


def test_a_stale_edit_is_refused_with_the_input_kept(app: Any, scene: Scene) -> None:
    task = _task(scene)
    seen = task.version
    project_plan.set_task_status(task.id, actor=scene.owner, status=TaskStatus.DOING)
    uow.commit()
    edit = f"edit{task.id}"
    response = _as(app, scene.expert).post(f"/projects/tasks/{task.id}", data={
        f"{edit}-title": "Renamed meanwhile", f"{edit}-assignee": "", f"{edit}-version": str(seen)})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 409
    assert "Someone else changed this task" in html and "Renamed meanwhile" in html
    assert f'<details class="mt-1" open data-testid="edit-task-{task.id}"' in html
    db.session.expire_all()
    assert db.session.get(ProjectTask, task.id).title == "Send 20 sample parts"


def test_overdue_milestones_and_tasks_are_highlighted(app: Any, scene: Scene) -> None:
    _task(scene, due_date=scene.study.due_date)
    with freeze_time(datetime.combine(scene.study.due_date + timedelta(days=2), time(9), tzinfo=UTC)):
        html = _page(_as(app, scene.owner), scene)
    assert 'data-testid="overdue"' in html and "1 milestone is overdue:" in html
    assert f'data-testid="overdue-{scene.study.id}"' in html and f'data-testid="overdue-{scene.report.id}"' not in html
    assert "2 days late" in html
    assert "list-group-item list-group-item-danger" in html
