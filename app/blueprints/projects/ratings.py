"""The rating tab (WORKFLOW.md §10): the company rates the expert, the expert rates the company.

``/projects/<id>/rating`` shows each reader what is theirs: the company's users
the rating form (overall and four sub-scores, feedback) or the rating their
company gave; the expert the rating received and the private form to rate the
company (read only by the hub); the hub both ratings, read-only. The form works
without JavaScript; what the form or the service refuses is shown again with
what was typed (422). Everything is decided in app/services/ratings.py.

Two template helpers for pages outside the workspace: ``expert_track_record``
(the expert's card: average, sub-scores, completed projects, latest feedback)
and ``pending_expert_ratings`` (the company home's "Rate your expert" list).
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.exceptions import DomainError, PermissionDenied
from app.models import ProjectRole, Role, User
from app.services import projects
from app.services import ratings as rating_service
from forms.ratings import CompanyRatingForm, ExpertRatingForm

EXPERT_PREFIX = "expert"
COMPANY_PREFIX = "company"
TAB = "rating"


def _render(project_id: int, *, expert_form: ExpertRatingForm | None = None,
            company_form: CompanyRatingForm | None = None, status: int = 200) -> ResponseReturnValue:
    page = rating_service.rating_page(project_id, actor=actor())
    if page.can_rate_expert and expert_form is None:
        expert_form = ExpertRatingForm(formdata=None, prefix=EXPERT_PREFIX)
    if page.can_rate_company and company_form is None:
        company_form = CompanyRatingForm(formdata=None, prefix=COMPANY_PREFIX)
    return render_template(
        "projects/rating.html", **tabs_context(page.project, page.side, TAB), page=page,
        expert_form=expert_form if page.can_rate_expert else None,
        company_form=company_form if page.can_rate_company else None,
        score_labels=rating_service.score_labels(), sub_scores=rating_service.SUB_SCORES,
    ), status


def _refused(form: ExpertRatingForm | CompanyRatingForm, exc: DomainError) -> None:
    """Put the service's message next to the field it concerns, else above the form."""
    name = getattr(exc, "field", None)
    target = form._fields.get(name) if name else None
    if target is not None:
        target.errors = [*target.errors, str(exc)]
    else:
        flash(str(exc), "danger")


@bp.route("/<int:project_id>/rating", methods=("GET", "POST"))
@members_only
def rate(project_id: int) -> ResponseReturnValue:
    """The rating page; POST: the company's rating of the expert, or the expert's rating of the company."""
    user: User = actor()
    project, _side = load(project_id)
    if request.method == "GET":
        return _render(project.id)
    role = projects.role_of(user, project)
    if role is ProjectRole.COMPANY:
        return _rate_expert(project.id, user)
    if role is ProjectRole.EXPERT:
        return _rate_company(project.id, user)
    raise PermissionDenied(_("Only the company and the project's expert give ratings; the hub reads them."))


def _rate_expert(project_id: int, user: User) -> ResponseReturnValue:
    form = ExpertRatingForm(prefix=EXPERT_PREFIX)
    if not form.validate():
        return _render(project_id, expert_form=form, status=422)
    outcome = perform(lambda: rating_service.rate_expert(
        project_id, actor=user, overall=int(form.overall.data or 0), quality=int(form.quality.data or 0),
        communication=int(form.communication.data or 0), timeliness=int(form.timeliness.data or 0),
        expertise=int(form.expertise.data or 0), feedback=form.feedback.data or "",
    ))
    if isinstance(outcome, DomainError):
        _refused(form, outcome)
        return _render(project_id, expert_form=form, status=outcome.status_code)
    flash(_("Thank you: your rating is saved. It helps other companies choose, and the hub match experts."),
          "success")
    return redirect(url_for("projects.rate", project_id=project_id))


def _rate_company(project_id: int, user: User) -> ResponseReturnValue:
    form = CompanyRatingForm(prefix=COMPANY_PREFIX)
    if not form.validate():
        return _render(project_id, company_form=form, status=422)
    outcome = perform(lambda: rating_service.rate_company(project_id, actor=user, overall=int(form.overall.data or 0),
                                                          feedback=form.feedback.data or ""))
    if isinstance(outcome, DomainError):
        _refused(form, outcome)
        return _render(project_id, company_form=form, status=outcome.status_code)
    flash(_("Thank you: your rating of the company is saved. Only the hub reads it."), "success")
    return redirect(url_for("projects.rate", project_id=project_id))


# Template helpers ---------------------------------------------------------------------------


@bp.app_template_global()
def expert_track_record(pseudonym: str) -> rating_service.TrackRecord:
    """The expert's track record by pseudonym (the one name every card shows), once per request."""
    cache: dict[str, rating_service.TrackRecord] = g.setdefault("expert_track_records", {})
    if pseudonym not in cache:
        cache[pseudonym] = rating_service.track_record_of(pseudonym)
    return cache[pseudonym]


@bp.app_template_global()
def pending_expert_ratings() -> list[rating_service.PendingRating]:
    """For the company home: the projects the logged-in company user may still rate."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    if not isinstance(user, User) or user.role is not Role.COMPANY:
        return []
    if "pending_expert_ratings" not in g:
        g.pending_expert_ratings = rating_service.pending_ratings(user)
    return list(g.pending_expert_ratings)
