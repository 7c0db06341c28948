"""Projects in the back office (WORKFLOW.md §7–9): every project, and one project's members, QC and manager.

The list filters by status (active, completed, cancelled) and searches the
contract reference, the company and the job title; each row shows the progress
over the milestones, the overdue milestones, the quality-control state and the
last activity in the channel, with a link to the workspace. The project page
lists the members (the hub sees the expert's real name), the QC panel (the
candidates from the job's ranking with an "Assign" form, the current QC expert
with a "Remove" form) and the "Set project manager" form. Every button calls
app/services/qc.py; nothing here writes a status.

Registered in admin_views/__init__.py with endpoint ``admin_projects`` (the
members' blueprint is ``projects``) and url ``projects``, so notification links
read /admin/projects/<id>.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice

from admin_views.base import SecureBaseView, current_actor, form_error_flash
from app.exceptions import DomainError, NotFound
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogTerm,
    Company,
    Contract,
    ExpertProfile,
    Job,
    MilestoneStatus,
    Project,
    ProjectMember,
    ProjectMessage,
    ProjectMilestone,
    ProjectRole,
    ProjectStatus,
    QcAssignment,
    QcStatus,
    User,
)
from app.models.mixins import utcnow
from app.services import projects, qc, uow
from forms.experts import from_minor, to_minor
from forms.qc import QC_STATUS_COLOURS, QC_STATUS_LABELS, AssignQcForm, RemoveQcForm, SetManagerForm

PER_PAGE = 20
PROJECT_STATUS_LABELS = {
    "active": _l("Active"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
}
PROJECT_STATUS_COLOURS = {"active": "success", "completed": "info", "cancelled": "secondary"}
ROLE_LABELS = {
    "company": _l("Company"),
    "expert": _l("Expert"),
    "qc": _l("Quality control"),
    "manager": _l("Project manager"),
}
LABELS: dict[str, Any] = {
    "project_status_labels": PROJECT_STATUS_LABELS,
    "project_status_colours": PROJECT_STATUS_COLOURS,
    "qc_status_labels": QC_STATUS_LABELS,
    "qc_status_colours": QC_STATUS_COLOURS,
    "member_role_labels": ROLE_LABELS,
}


@dataclass(frozen=True)
class ProjectRow:
    """One line of the projects list."""

    project: Project
    manager: User | None
    progress: int
    milestones_done: int
    milestones_total: int
    overdue: int
    qc: QcAssignment | None  # the open assignment, else the latest ended one
    last_activity: datetime | None


def _search_query(status: ProjectStatus | None, text: str) -> sa.Select[Project]:
    query = (
        sa.select(Project)
        .join(Contract, Contract.id == Project.contract_id)
        .join(Company, Company.id == Project.company_id)
        .join(Job, Job.id == Project.job_id)
        .outerjoin(CatalogTerm, CatalogTerm.id == Job.title_term_id)
        .options(joinedload(Project.contract).joinedload(Contract.company),
                 joinedload(Project.contract).joinedload(Contract.expert).joinedload(ExpertProfile.user),
                 joinedload(Project.job).joinedload(Job.title_term))
        .order_by(Project.id.desc())
    )
    if status is not None:
        query = query.where(Project.status == status)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(*(
            sa.func.lower(column).like(pattern, escape="\\")
            for column in (Contract.reference, Company.name, Company.legal_name, CatalogTerm.name)
        )))
    return query


def _rows(page_projects: list[Project]) -> list[ProjectRow]:
    """The list's figures for a page of projects, in a fixed number of queries."""
    ids = [p.id for p in page_projects]
    if not ids:
        return []
    milestones: dict[int, list[ProjectMilestone]] = {}
    for m in db.session.scalars(sa.select(ProjectMilestone).where(ProjectMilestone.project_id.in_(ids))
                                .order_by(ProjectMilestone.position)):
        milestones.setdefault(m.project_id, []).append(m)
    last: dict[int, datetime] = {pid: at for pid, at in db.session.execute(
        sa.select(ProjectMessage.project_id, sa.func.max(ProjectMessage.created_at))
        .where(ProjectMessage.project_id.in_(ids)).group_by(ProjectMessage.project_id)
    )}
    assignments: dict[int, QcAssignment] = {}
    for a in db.session.scalars(sa.select(QcAssignment).options(joinedload(QcAssignment.expert))
                                .where(QcAssignment.project_id.in_(ids)).order_by(QcAssignment.id)):
        held = assignments.get(a.project_id)
        if held is None or held.status is QcStatus.REMOVED or a.status is not QcStatus.REMOVED:
            assignments[a.project_id] = a
    manager_ids = {p.manager_id for p in page_projects if p.manager_id is not None}
    managers = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(manager_ids)))} \
        if manager_ids else {}
    today = utcnow().date()
    rows = []
    for p in page_projects:
        ms = milestones.get(p.id, [])
        rows.append(ProjectRow(
            project=p,
            manager=managers.get(p.manager_id) if p.manager_id is not None else None,
            progress=projects.progress_percent(ms),
            milestones_done=sum(1 for m in ms if m.status is MilestoneStatus.DONE),
            milestones_total=len(ms),
            overdue=sum(1 for m in ms if m.status is not MilestoneStatus.DONE and m.due_date < today),
            qc=assignments.get(p.id),
            last_activity=last.get(p.id),
        ))
    return rows


@dataclass(frozen=True)
class MemberLine:
    """A member as the hub sees them: the expert by pseudonym and real name."""

    role: ProjectRole
    user: User
    pseudonym: str
    added_at: datetime
    removed_at: datetime | None


def _members(project: Project) -> list[MemberLine]:
    rows = db.session.execute(
        sa.select(ProjectMember, User, ExpertProfile.pseudonym)
        .join(User, User.id == ProjectMember.user_id)
        .outerjoin(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(ProjectMember.project_id == project.id)
        .order_by(ProjectMember.removed_at.is_not(None), ProjectMember.id)
    ).all()
    return [MemberLine(m.role, u, pseudonym or "", m.added_at, m.removed_at) for m, u, pseudonym in rows]


class ProjectsView(SecureBaseView):
    """The projects list and one project's members, quality control and manager."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """Every project, newest first; ``?status=`` filters, ``?q=`` searches reference, company and job."""
        raw = request.args.get("status", "")
        status = ProjectStatus(raw) if raw in {s.value for s in ProjectStatus} else None
        text = (request.args.get("q") or "").strip()[:100]
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        pagination = db.paginate(_search_query(status, text), page=page, per_page=PER_PAGE, error_out=False)
        args = {k: v for k, v in (("status", status.value if status else ""), ("q", text)) if v}
        workspace = "projects.channel" in current_app.view_functions
        return self.render("admin/projects/list.html", pagination=pagination, rows=_rows(list(pagination.items)),
                           status=status.value if status else "", statuses=list(ProjectStatus), q=text,
                           pager_args=args, workspace=workspace, **LABELS)

    def _load(self, project_id: int) -> Project:
        try:
            project, _side = projects.load_project(project_id, actor=current_actor())
        except NotFound:
            abort(404)
        return project

    def _assign_form(self, project: Project, candidates: list[qc.QcCandidate], *,
                     bound: AssignQcForm | None = None) -> AssignQcForm:
        form = bound or AssignQcForm(formdata=None, prefix="assign")
        form.expert_id.choices = [SelectChoice(c.expert.id, c.pseudonym) for c in candidates if c.selectable]
        if bound is None:
            form.fee.data = from_minor(qc.default_qc_fee(project), project.contract.currency)
        return form

    def _manager_form(self, project: Project, *, bound: SetManagerForm | None = None) -> SetManagerForm:
        form = bound or SetManagerForm(formdata=None, prefix="manager")
        form.manager_id.choices = [SelectChoice(u.id, f"{u.full_name} <{u.email}>") for u in qc.manager_choices()]
        if bound is None and project.manager_id is not None:
            form.manager_id.data = project.manager_id
        return form

    def render_project(self, project: Project, *, bound: dict[str, Any] | None = None,
                       status: int = 200) -> ResponseReturnValue:
        bound = bound or {}
        actor = current_actor()
        job = project.job
        assignments = list(db.session.scalars(
            sa.select(QcAssignment).options(joinedload(QcAssignment.expert).joinedload(ExpertProfile.user))
            .where(QcAssignment.project_id == project.id).order_by(QcAssignment.id.desc())))
        current = next((a for a in assignments if a.status is not QcStatus.REMOVED), None)
        candidates: list[qc.QcCandidate] = []
        ranking = None
        if job.qc_requested and current is None:
            candidates = qc.qc_candidates(project.id, actor=actor)
            ranking = qc.latest_ranking(project)
        remove_forms = {a.id: (bound.get(f"remove-{a.id}") or RemoveQcForm(formdata=None, prefix=f"remove{a.id}"))
                        for a in assignments if a.status is not QcStatus.REMOVED}
        manager = db.session.get(User, project.manager_id) if project.manager_id is not None else None
        ids = [a.id for a in assignments]
        history = list(db.session.scalars(
            sa.select(AuditEvent).options(joinedload(AuditEvent.actor)).where(sa.or_(
                sa.and_(AuditEvent.entity == "projects", AuditEvent.entity_id == project.id),
                sa.and_(AuditEvent.entity == "qc_assignments", AuditEvent.entity_id.in_(ids)),
            )).order_by(AuditEvent.id.desc()).limit(100)
        ))
        [row] = _rows([project])
        html = self.render(
            "admin/projects/details.html",
            project=project,
            row=row,
            job=job,
            contract=project.contract,
            members=_members(project),
            manager=manager,
            current=current,
            past=[a for a in assignments if a is not current],
            candidates=candidates,
            ranking=ranking,
            assign_form=self._assign_form(project, candidates, bound=bound.get("assign")),
            remove_forms=remove_forms,
            manager_form=self._manager_form(project, bound=bound.get("manager")),
            default_fee=qc.default_qc_fee(project),
            qc_percent=int(current_app.config.get("QC_FEE_PERCENT", 15)),
            workspace_url=url_for("projects.channel", project_id=project.id)
            if "projects.channel" in current_app.view_functions else None,
            matching_url=url_for("matching.details_view", job_id=job.id),
            history=history,
            **LABELS,
        )
        return html, status

    @expose("/<int:project_id>")
    def details_view(self, project_id: int) -> ResponseReturnValue:
        """One project: members, the QC panel, the manager, the history."""
        return self.render_project(self._load(project_id))

    def _decide(self, project_id: int, call: Callable[[], object], *, key: str, form: Any,
                success: str) -> ResponseReturnValue:
        """Call one service and commit; on refusal show the page again with what was typed."""
        try:
            call()
            uow.commit()
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_project(self._load(project_id), bound={key: form}, status=exc.status_code)
        flash(success, "success")
        return redirect(self.get_url(".details_view", project_id=project_id))

    @expose("/<int:project_id>/qc", methods=("POST",))
    def assign_qc(self, project_id: int) -> ResponseReturnValue:
        """Assign the QC expert chosen among the candidates, with their fee; the NDA is sent to them."""
        project = self._load(project_id)
        candidates = qc.qc_candidates(project.id, actor=current_actor()) if project.job.qc_requested else []
        form = self._assign_form(project, candidates, bound=AssignQcForm(prefix="assign"))
        if not form.validate():
            form_error_flash()
            return self.render_project(project, bound={"assign": form}, status=400)
        fee = to_minor(form.fee.data, project.contract.currency) or 0
        expert_id = int(form.expert_id.data)
        return self._decide(
            project_id,
            lambda: qc.assign_qc(project_id, actor=current_actor(), expert_id=expert_id, fee_minor=fee),
            key="assign", form=form,
            success=_("The NDA is sent to the expert; they join the project once they have signed it."),
        )

    @expose("/<int:project_id>/qc/<int:assignment_id>/remove", methods=("POST",))
    def remove_qc(self, project_id: int, assignment_id: int) -> ResponseReturnValue:
        """End the QC assignment with a reason (the expert's access ends at once)."""
        project = self._load(project_id)
        assignment = db.session.get(QcAssignment, assignment_id)
        if assignment is None or assignment.project_id != project.id:
            abort(404)
        form = RemoveQcForm(prefix=f"remove{assignment_id}")
        if not form.validate():
            form_error_flash()
            return self.render_project(project, bound={f"remove-{assignment_id}": form}, status=400)
        return self._decide(
            project_id,
            lambda: qc.remove_qc(assignment_id, actor=current_actor(), reason=form.reason.data or ""),
            key=f"remove-{assignment_id}", form=form,
            success=_("The quality-control assignment has ended; the expert was told why."),
        )

    @expose("/<int:project_id>/manager", methods=("POST",))
    def set_manager(self, project_id: int) -> ResponseReturnValue:
        """Make another hub admin (with two-factor authentication) the project's manager."""
        project = self._load(project_id)
        form = self._manager_form(project, bound=SetManagerForm(prefix="manager"))
        if not form.validate():
            form_error_flash()
            return self.render_project(project, bound={"manager": form}, status=400)
        manager_id = int(form.manager_id.data)
        return self._decide(
            project_id,
            lambda: qc.set_manager(project_id, actor=current_actor(), manager_id=manager_id),
            key="manager", form=form, success=_("The project manager is changed."),
        )
