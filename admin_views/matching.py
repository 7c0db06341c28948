"""Matching (WORKFLOW.md §4): a job's ranking with its reasons, invitations from it, and the weights.

The matching screen of a job (``/admin/matching/<job_id>``, where notifications
link) shows the job, the state of its latest ranking run, the ranked experts
with a bar per criterion, the experts excluded by a hard filter with the reason,
and the invitations and offers each expert already has. The hub sees real names
here; companies never see this page. Every button calls one service in
``app.services.matching``; nothing here writes a status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import abort, flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_babel import gettext as _

from admin_views import queries
from admin_views.base import SecureBaseView, current_actor, form_error_flash, run_decision
from admin_views.jobs import VISIBILITY_LABELS, job_badge
from admin_views.labels import (
    CRITERION_HELP,
    CRITERION_LABELS,
    MATCH_DETAIL_LABELS,
    MATCH_TRIGGER_LABELS,
    criterion_label,
    exclusion_label,
    label,
    match_run_badge,
    offer_badge,
)
from app.exceptions import DomainError, NotFound
from app.i18n import money
from app.matching.records import CRITERIA
from app.models import InvitationKind, InvitationStatus, JobInvitation, JobStatus, MatchResult, MatchRunStatus
from app.services import matching, uow
from app.services.jobs import FieldErrors
from forms.admin import ConfirmForm, InviteFromRankingForm, MatchingWeightsForm, matching_weights_form
from forms.experts import LEVEL_LABELS

# Which keys of a result's explanation belong to which criterion (the bar's tooltip).
CRITERION_DETAILS: Mapping[str, tuple[str, ...]] = {
    "title": ("title_level",),
    "skills": ("matched_terms", "missing_terms", "below_level_terms"),
    "languages": ("language_gaps",),
    "price": ("estimated_price_minor", "effort_days", "currency_mismatch"),
    "availability": ("days_late",),
}
BAR_STEPS = 20  # bars are drawn in 5 % steps (CSS classes, no inline style)


def bar_class(value: Any) -> str:
    """The CSS class that draws a 0..1 value as a bar (``score-bar-0`` … ``score-bar-20``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if number != number:  # NaN
        number = 0.0
    return f"score-bar-{round(min(max(number, 0.0), 1.0) * BAR_STEPS)}"


def percent(value: Any) -> str:
    """A 0..1 value as a whole percentage ("73 %")."""
    try:
        return f"{round(float(value) * 100)} %"
    except (TypeError, ValueError):
        return "—"


def detail_term_ids(results: Iterable[MatchResult]) -> set[int]:
    """Every catalog term id the explanations name (keys ending in ``_terms``)."""
    ids: set[int] = set()
    for result in results:
        for key, value in (result.details or {}).items():
            if key.endswith("_terms") and isinstance(value, list):
                ids.update(int(v) for v in value if isinstance(v, int | str) and str(v).isdigit())
    return ids


class DetailFormatter:
    """Turns a ranking's explanation (free-form JSON from the engine) into readable lines."""

    def __init__(self, terms: Mapping[int, str], currency: str) -> None:
        self.terms = terms
        self.currency = currency

    def value(self, key: str, value: Any) -> str:
        """One explanation value, as text."""
        if value is None or value == [] or value == {}:
            return "—"
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if key.endswith("_minor") and isinstance(value, int | float):
            return money(round(value), self.currency)
        if key.endswith("_terms") and isinstance(value, list):
            return ", ".join(self.terms.get(int(v), f"#{v}") if str(v).isdigit() else str(v) for v in value)
        if key == "title_level" and isinstance(value, int):
            return self._level(value)
        if key == "language_gaps" and isinstance(value, dict):
            return "; ".join(self._gap(code, gap) for code, gap in sorted(value.items()))
        if isinstance(value, dict):
            return "; ".join(f"{k}: {self.value(str(k), v)}" for k, v in sorted(value.items()))
        if isinstance(value, list):
            return ", ".join(self.value(key, v) for v in value)
        if isinstance(value, float):
            return f"{value:g}"
        return str(value)

    def _level(self, value: int) -> str:
        levels = list(LEVEL_LABELS.values())
        if value <= 0:
            return _("none")
        return str(levels[value - 1]) if value <= len(levels) else str(value)

    def _gap(self, code: str, gap: Any) -> str:
        if isinstance(gap, dict):
            return _(
                "%(code)s: %(level)s, needs %(required)s",
                code=code.upper(),
                level=gap.get("level") or _("none"),
                required=gap.get("required") or "?",
            )
        return f"{code.upper()}: {gap}"

    def lines(self, details: Mapping[str, Any] | None, keys: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(label, value) pairs of ``details``, all keys or only ``keys``, in a stable order."""
        details = details or {}
        wanted = list(keys) if keys is not None else sorted(details, key=self._order)
        return [(label(MATCH_DETAIL_LABELS, key), self.value(key, details[key])) for key in wanted if key in details]

    def tooltip(self, criterion: str, details: Mapping[str, Any] | None) -> str:
        """The bar's title: the parts of the explanation about this criterion."""
        pairs = self.lines(details, CRITERION_DETAILS.get(criterion, ()))
        return "; ".join(f"{name}: {value}" for name, value in pairs)

    @staticmethod
    def _order(key: str) -> tuple[int, str]:
        known = list(MATCH_DETAIL_LABELS)
        return (known.index(key) if key in known else len(known), key)


def invitation_state(invitation: JobInvitation | None) -> str:
    """How the expert stands with the job: invited, recommended, declined (with the reason), or nothing."""
    if invitation is None:
        return ""
    if invitation.status is InvitationStatus.DECLINED:
        if invitation.decline_reason:
            return _("Declined: %(reason)s", reason=invitation.decline_reason)
        return _("Declined")
    if invitation.kind is InvitationKind.RECOMMENDED:
        return _("Recommended")
    return _("Invited")


def invitable(result: MatchResult, invitation: JobInvitation | None) -> bool:
    """Whether the screen offers a checkbox (the service has the last word)."""
    if not matching.still_invitable(invitation):
        return False
    user = result.expert.user
    return user is not None and user.suspended_at is None


def _weight_criteria() -> list[tuple[str, Any, Any]]:
    return [(c, CRITERION_LABELS.get(c, c), CRITERION_HELP.get(c, "")) for c in CRITERIA]


class MatchingView(SecureBaseView):
    """Rankings: the latest runs of every job, and the matching screen of one job."""

    @expose("/")
    def index(self) -> ResponseReturnValue:
        """The newest ranking runs, each linking to its job's matching screen."""
        return self.render(
            "admin/matching/index.html",
            runs=queries.recent_runs(),
            match_run_badge=match_run_badge,
            trigger_label=lambda v: label(MATCH_TRIGGER_LABELS, v),
        )

    @expose("/<int:job_id>")
    def details_view(self, job_id: int) -> ResponseReturnValue:
        """The matching screen of a job (the link in notifications)."""
        return self.render_screen(job_id)

    def render_screen(
        self, job_id: int, *, form: InviteFromRankingForm | None = None, status: int = 200
    ) -> ResponseReturnValue:
        try:
            page = matching.ranking_page(job_id, actor=current_actor())
        except NotFound:
            abort(404)
        job = page.job
        results = [*page.ranked, *page.excluded]
        details = DetailFormatter(queries.term_names(detail_term_ids(page.ranked)), job.currency)
        weights = {c: float(page.weights.get(c, 0) or 0) for c in CRITERIA}
        shown = [c for c in CRITERIA if weights[c] > 0] or list(CRITERIA)
        latest = page.latest
        in_progress = latest is not None and latest.status in (MatchRunStatus.QUEUED, MatchRunStatus.RUNNING)
        can_invite = job.status is JobStatus.PUBLISHED
        form = form or InviteFromRankingForm(formdata=None, run_id=page.completed.id if page.completed else None)
        selected = set(form.expert_ids.data or [])
        html = self.render(
            "admin/matching/job.html",
            page=page,
            job=job,
            skills=queries.job_skills(job.id),
            results=results,
            latest=latest,
            completed=page.completed,
            in_progress=in_progress,
            failed=latest is not None and latest.status is MatchRunStatus.FAILED,
            can_invite=can_invite,
            can_rank=job.status in matching.RANKABLE_STATES,
            criteria=shown,
            weights=weights,
            details=details,
            form=form,
            selected=selected,
            confirm=ConfirmForm(formdata=None),
            invitation_state=invitation_state,
            invitable=lambda r: can_invite and invitable(r, page.invitations.get(r.expert_id)),
            bar_class=bar_class,
            percent=percent,
            job_badge=job_badge,
            offer_badge=offer_badge,
            match_run_badge=match_run_badge,
            criterion_label=criterion_label,
            criterion_help=lambda c: label(CRITERION_HELP, c),
            exclusion_label=exclusion_label,
            trigger_label=lambda v: label(MATCH_TRIGGER_LABELS, v),
            visibility_label=lambda v: label(VISIBILITY_LABELS, v),
            level_labels=LEVEL_LABELS,
        )
        return html, status

    @expose("/<int:job_id>/invite", methods=("POST",))
    def invite(self, job_id: int) -> ResponseReturnValue:
        """Invite the ticked experts (``app.services.matching.invite_experts``)."""
        form = InviteFromRankingForm()
        if not form.validate():
            form_error_flash()
            for errors in form.errors.values():
                for message in errors:
                    flash(str(message), "danger")
            return self.render_screen(job_id, form=form, status=400)
        ids = list(form.expert_ids.data or [])
        try:
            created = matching.invite_experts(job_id, actor=current_actor(), expert_ids=ids, run_id=form.run_id.data)
        except FieldErrors as exc:
            uow.rollback()
            for message in exc.errors.values():
                flash(message, "danger")
            return self.render_screen(job_id, form=form, status=400)
        except NotFound:
            uow.rollback()
            abort(404)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self.render_screen(job_id, form=form, status=409)
        flash(_("%(n)d expert(s) invited and notified.", n=len(created)), "success")
        return redirect(self.get_url(".details_view", job_id=job_id))

    @expose("/<int:job_id>/rerank", methods=("POST",))
    def rerank(self, job_id: int) -> ResponseReturnValue:
        """Queue a new ranking with the current weights (``app.services.matching.queue_ranking``)."""
        if not ConfirmForm().validate():
            abort(400)
        run_decision(
            lambda: matching.queue_ranking(job_id, actor=current_actor()),
            _("A new ranking was queued with the current weights; this page refreshes until it is done."),
        )
        return redirect(self.get_url(".details_view", job_id=job_id))


class MatchingWeightsView(SecureBaseView):
    """The weight of each matching criterion (``app.services.matching.set_matching_weights``)."""

    @expose("/", methods=("GET", "POST"))
    def index(self) -> ResponseReturnValue:
        """Show the weights; on POST, save them through the service (field errors next to the fields)."""
        criteria = _weight_criteria()
        if request.method == "GET":
            form = matching_weights_form(criteria, bound=False, data=matching.current_weights())
            return self._render(form)
        form = matching_weights_form(criteria, bound=True)
        if not form.validate():
            form_error_flash()
            return self._render(form, status=400)
        values = {name: form[name].data for name, _label, _help in criteria}
        try:
            matching.set_matching_weights(actor=current_actor(), weights=values)
        except FieldErrors as exc:
            uow.rollback()
            for name, message in exc.errors.items():
                if name in form:
                    form[name].errors = [*list(form[name].errors), message]
                else:
                    flash(message, "danger")
            form_error_flash()
            return self._render(form, status=400)
        except DomainError as exc:
            uow.rollback()
            flash(str(exc), "danger")
            return self._render(form, status=403)
        flash(_("Weights saved. They apply to the next ranking of each job."), "success")
        return redirect(self.get_url(".index"))

    def _render(self, form: MatchingWeightsForm, *, status: int = 200) -> ResponseReturnValue:
        return self.render("admin/matching/weights.html", form=form), status
