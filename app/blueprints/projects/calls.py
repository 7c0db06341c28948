"""The video calls tab (WORKFLOW.md §7–8, INTEGRATIONS.md §5): upcoming and past calls, scheduling, hosting.

Times are shown in the viewer's time zone (Flask-Babel uses the profile's), with
the UTC time as a tooltip; the schedule form's date and time are read in that
zone too. Join links open in a new tab without a referrer. The hub's "Start as
host" goes through :func:`host`, which fetches a fresh host link from the
provider (audited) and redirects to it: the link is never on a page.
Everything is decided in app/services/project_calls.py.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.blueprints.projects import actor, bp, load, members_only, perform, tabs_context
from app.exceptions import DomainError, PermissionDenied
from app.models.mixins import utcnow
from app.services import project_calls
from forms.projects_calls import DEFAULT_DURATION, CancelCallForm, ScheduleCallForm, StartNowForm

NOW_PREFIX = "now"


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _render(project_id: int, *, schedule_form: ScheduleCallForm | None = None,
            status: int = 200) -> ResponseReturnValue:
    user = actor()
    page = project_calls.calls_page(project_id, actor=user, page=_page())
    return render_template(
        "projects/calls.html", **tabs_context(page.project, page.side, "calls"), page=page,
        schedule_form=schedule_form or ScheduleCallForm(formdata=None), now_form=StartNowForm(formdata=None,
                                                                                              prefix=NOW_PREFIX),
        cancel_form=CancelCallForm(formdata=None), viewer_timezone=user.timezone or "UTC",
    ), status


def _back(project_id: int, anchor: str = "") -> ResponseReturnValue:
    return redirect(url_for("projects.calls", project_id=project_id) + (f"#{anchor}" if anchor else ""))


@bp.get("/<int:project_id>/calls")
@members_only
def calls(project_id: int) -> ResponseReturnValue:
    """Upcoming calls with their join links, past and cancelled calls, and the schedule form."""
    load(project_id)
    return _render(project_id)


@bp.post("/<int:project_id>/calls")
@members_only
def schedule_call(project_id: int) -> ResponseReturnValue:
    """Schedule a call (any member), or start one now: the meeting is created at the provider, then announced."""
    project, _side = load(project_id)
    user = actor()
    now_form = StartNowForm(prefix=NOW_PREFIX)
    form = ScheduleCallForm()
    if request.form.get(now_form.start_now.name):
        if not now_form.validate():
            flash(_("The form had expired; please try again."), "danger")
            return _back(project.id)
        form = ScheduleCallForm(formdata=None)
        topic, starts_at, duration, agenda = _("Call now"), utcnow(), DEFAULT_DURATION, ""
    else:
        if not form.validate():
            return _render(project.id, schedule_form=form, status=422)
        topic, starts_at = form.topic.data or "", form.starts_at(user.timezone)
        duration, agenda = int(form.duration.data or 0), form.agenda.data or ""
    outcome = perform(lambda: project_calls.schedule_call(project.id, actor=user, topic=topic, starts_at=starts_at,
                                                          duration_minutes=duration, agenda=agenda))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _render(project.id, schedule_form=form, status=outcome.status_code)
    call = outcome
    flash(_("The call “%(topic)s” is scheduled; the project's members have been told. The join link is below.",
            topic=call.topic), "success")
    return _back(project.id, f"call-{call.id}")


@bp.get("/calls/<int:call_id>/host")
@members_only
def host(call_id: int) -> ResponseReturnValue:
    """The hub starts the call as its host: a fresh host link from the provider (audited), then a redirect."""
    user = actor()
    call, project, _side = project_calls.load_call(call_id, actor=user)
    outcome = perform(lambda: project_calls.host_link(call_id, actor=user))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _back(project.id, f"call-{call_id}")
    response = redirect(outcome)
    response.headers["Cache-Control"] = "no-store"  # the host link is never kept, not even by the browser
    return response


@bp.post("/calls/<int:call_id>/cancel")
@members_only
def cancel_call(call_id: int) -> ResponseReturnValue:
    """Cancel a call (its creator or the hub), at the provider too; announced in the channel."""
    user = actor()
    call, project, side = project_calls.load_call(call_id, actor=user)
    if not project_calls.can_cancel(user, call, side):
        raise PermissionDenied(_("Only the member who scheduled a call, or the hub, cancels it."))
    if not CancelCallForm().validate():
        flash(_("The form had expired; please try again."), "danger")
        return _back(project.id, f"call-{call_id}")
    outcome = perform(lambda: project_calls.cancel_call(call_id, actor=user))
    if isinstance(outcome, DomainError):
        flash(str(outcome), "danger")
        return _back(project.id, f"call-{call_id}")
    flash(_("The call “%(topic)s” is cancelled.", topic=call.topic), "success")
    return _back(project.id)
