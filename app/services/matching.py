"""Step 4: ranking experts for a job, the weights of the criteria, and invitations from a ranking.

    match run: queued -start-> running -complete-> completed | -fail-> failed

A run is queued by :func:`queue_ranking` (the hub, or :func:`app.services.jobs.publish_job`
through :func:`queue_ranking_for_publish`). A background task (``app.tasks.matching.rank_job``)
then calls :func:`start_run`, scores every approved expert with the in-memory index
(``app.matching``), and stores the result with :func:`complete_run` (or :func:`fail_run`).
Each of these is one unit of work. The hub owns the conflict-of-interest check: experts
excluded by a hard filter are stored with the reason and shown to the admin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload, selectinload

from app import policies
from app.exceptions import InvalidTransition, NotFound, PermissionDenied
from app.extensions import db
from app.matching import CRITERIA, DEFAULT_WEIGHTS, Ranking
from app.matching import conflicts as conflict_rules
from app.models import (
    ExpertProfile,
    InvitationKind,
    InvitationStatus,
    Job,
    JobInvitation,
    JobSkill,
    JobStatus,
    JobVisibility,
    MatchingWeight,
    MatchResult,
    MatchRun,
    MatchRunStatus,
    MatchTrigger,
    User,
    VerificationStatus,
)
from app.services import audit, notifications, uow
from app.services.jobs import EXPERT_JOB_PATH, FieldErrors
from app.services.transitions import transition
from app.workflows.matching import MATCH_RUN_WORKFLOW

logger = logging.getLogger(__name__)
R = MatchRunStatus
RANKABLE_STATES = frozenset({JobStatus.PENDING_REVIEW, JobStatus.CLARIFICATION_REQUESTED, JobStatus.PUBLISHED})
MAX_WEIGHT = 10.0
ADMIN_MATCHING_PATH = "/admin/matching/{id}"


def store_top() -> int:
    """How many ranked experts a run keeps (MATCH_STORE_TOP)."""
    return int(current_app.config.get("MATCH_STORE_TOP", 100))


def notify_top() -> int:
    """How many top matches of a public job are told about it at publication (MATCH_NOTIFY_TOP)."""
    return int(current_app.config.get("MATCH_NOTIFY_TOP", 10))


# Weights --------------------------------------------------------------------------------


def current_weights() -> dict[str, float]:
    """The weight of every criterion: the hub's setting, else the default."""
    saved = {w.criterion: w.weight for w in db.session.scalars(sa.select(MatchingWeight))}
    return {c: float(saved.get(c, DEFAULT_WEIGHTS[c])) for c in CRITERIA}


def set_matching_weights(*, actor: User, weights: dict[str, float]) -> dict[str, float]:
    """Change the weights of the criteria (0 turns a criterion off); later rankings use them.

    Audited as ``matching.weights_changed`` with the old and new values.

    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises FieldErrors: unknown criterion, a weight outside 0–10, or every weight 0.
    """
    if not policies.is_staff(actor):
        raise PermissionDenied(_("Only the hub changes the matching weights."))
    errors: dict[str, str] = {}
    clean: dict[str, float] = {}
    for name, value in weights.items():
        if name not in CRITERIA:
            errors[name] = _("Unknown criterion.")
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors[name] = _("Enter a number between 0 and 10.")
            continue
        if not 0 <= number <= MAX_WEIGHT or number != number:
            errors[name] = _("Enter a number between 0 and 10.")
            continue
        clean[name] = round(number, 2)
    before = current_weights()
    after = {**before, **clean}
    if not errors and not any(after.values()):
        errors["skills"] = _("At least one criterion needs a weight above 0.")
    if errors:
        raise FieldErrors(errors)
    rows = {w.criterion: w for w in db.session.scalars(sa.select(MatchingWeight).with_for_update())}
    for name, value in after.items():
        row = rows.get(name)
        if row is None:
            db.session.add(MatchingWeight(criterion=name, weight=value, updated_by_id=actor.id))
        elif row.weight != value:
            row.weight = value
            row.updated_by_id = actor.id
    audit.record("matching.weights_changed", actor=actor, entity="matching_weights", entity_id=None,
                 data={"before": before, "after": after})
    uow.commit()
    return after


# Queueing and running -----------------------------------------------------------------------


def _new_run(job: Job, trigger: MatchTrigger, actor: User | None) -> MatchRun:
    run = MatchRun(job_id=job.id, trigger=trigger, requested_by_id=actor.id if actor else None,
                   weights=current_weights(), status=R.QUEUED, created_at=datetime.now(UTC))
    db.session.add(run)
    db.session.flush()
    audit.record("match_run.queued", actor=actor, entity="match_runs", entity_id=run.id,
                 to_state=R.QUEUED.value, data={"job_id": job.id, "trigger": trigger.value})
    from app.tasks import matching as matching_tasks
    from app.tasks import queue

    uow.after_commit(queue.enqueue_quietly, matching_tasks.rank_job, run.id, queue_name="default")
    return run


def queue_ranking_for_publish(job: Job, *, actor: User) -> MatchRun:
    """Queue the ranking of a job being published, in the caller's transaction (never commits)."""
    return _new_run(job, MatchTrigger.PUBLISH, actor)


def queue_ranking(job_id: int, *, actor: User) -> MatchRun:
    """Rank the experts for a job again (the hub's "Re-rank"), with the current weights.

    A new run is queued; the previous rankings stay for the record.

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is a draft, awarded, closed, rejected or cancelled.
    """
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(_("This job does not exist."))
    if not policies.can_rank_job(actor, job):
        raise PermissionDenied(_("Only the hub ranks experts."))
    if job.status not in RANKABLE_STATES:
        raise InvalidTransition("job", job.status, job.status,
                                _("Experts are ranked for jobs under review or published, not for a %(status)s job.",
                                  status=job.status.value.replace("_", " ")))
    waiting = db.session.scalar(
        sa.select(MatchRun.id).where(MatchRun.job_id == job.id, MatchRun.status.in_([R.QUEUED, R.RUNNING]))
    )
    if waiting is not None:
        raise InvalidTransition("match_run", R.QUEUED, R.QUEUED,
                                _("A ranking of this job is already waiting or running; it will show here when done."))
    run = _new_run(job, MatchTrigger.MANUAL, actor)
    uow.commit()
    return run


def start_run(run_id: int) -> MatchRun | None:
    """Mark a queued run as running (the task's first step); None if another worker took it.

    QUEUED -> RUNNING, by the system.
    """
    run = db.session.get(MatchRun, run_id, with_for_update=True)
    if run is None or run.status is not R.QUEUED:
        uow.rollback()
        return None
    transition(run, MATCH_RUN_WORKFLOW, R.RUNNING, actor=None)
    run.started_at = datetime.now(UTC)
    uow.commit()
    return run


def compute_ranking(run: MatchRun) -> tuple[Ranking, str]:
    """Score every approved expert for the run's job (read-only); returns the ranking and the index fingerprint."""
    from app.matching.cache import get_index
    from app.matching.loader import job_query
    from app.tasks.queue import connection

    job = db.session.scalar(
        sa.select(Job)
        .options(selectinload(Job.skills), selectinload(Job.languages), joinedload(Job.company),
                 joinedload(Job.title_term), selectinload(Job.skills).joinedload(JobSkill.term))
        .where(Job.id == run.job_id)
    )
    assert job is not None
    redis = connection() if current_app.config.get("REDIS_URL") else None
    index = get_index(db.session, redis=redis)
    weights = {c: float(run.weights.get(c, DEFAULT_WEIGHTS[c])) for c in CRITERIA}
    ranking = index.rank(job_query(job), weights, top_n=store_top(), today=datetime.now(UTC).date())
    return ranking, index.fingerprint


def complete_run(run_id: int, ranking: Ranking, *, fingerprint: str = "") -> MatchRun:
    """Store a run's ranking and exclusions; at publication of a public job, tell the top matches.

    RUNNING -> COMPLETED, by the system. The top MATCH_NOTIFY_TOP experts of a public
    job published by this run, not yet invited, get a recommendation and a notification.

    :raises NotFound: no such run.
    :raises InvalidTransition: the run is not running.
    """
    run = db.session.get(MatchRun, run_id, with_for_update=True)
    if run is None:
        raise NotFound(_("This ranking does not exist."))
    excluded_counts = {reason: int(n) for reason, n in ranking.excluded_counts.items() if n}
    transition(run, MATCH_RUN_WORKFLOW, R.COMPLETED, actor=None, considered=ranking.considered,
               excluded=excluded_counts)
    run.finished_at = datetime.now(UTC)
    run.considered = ranking.considered
    run.excluded_counts = excluded_counts
    run.elapsed_ms = round(float(ranking.elapsed_ms), 3)
    run.index_fingerprint = fingerprint[:64]
    rows: list[dict[str, Any]] = [
        {"run_id": run.id, "job_id": run.job_id, "expert_id": r.expert_id, "rank": r.rank, "score": float(r.score),
         "breakdown": {k: round(float(v), 4) for k, v in r.breakdown.items()}, "details": r.details,
         "exclusion_reason": "", "exclusion_detail": ""}
        for r in ranking.ranked
    ]
    ranked_ids = {r.expert_id for r in ranking.ranked}
    rows += [
        {"run_id": run.id, "job_id": run.job_id, "expert_id": e.expert_id, "rank": None, "score": float(e.score),
         "breakdown": {}, "details": {}, "exclusion_reason": e.reason, "exclusion_detail": e.detail}
        for e in ranking.excluded
        if e.expert_id not in ranked_ids
    ]
    if rows:
        db.session.execute(sa.insert(MatchResult), rows)
    job = run.job
    if run.trigger is MatchTrigger.PUBLISH and job.status is JobStatus.PUBLISHED \
            and job.visibility is JobVisibility.PUBLIC:
        run.notified_count = _recommend_top(job, run, ranking)
    uow.commit()
    return run


def _recommend_top(job: Job, run: MatchRun, ranking: Ranking) -> int:
    already = {i.expert_id for i in job.invitations}
    wanted = [r.expert_id for r in ranking.ranked if r.expert_id not in already][: notify_top()]
    if not wanted:
        return 0
    experts = db.session.scalars(
        sa.select(ExpertProfile).options(joinedload(ExpertProfile.user)).where(ExpertProfile.id.in_(wanted))
    ).all()
    by_id = {e.id: e for e in experts}
    count = 0
    for expert_id in wanted:
        expert = by_id.get(expert_id)
        if expert is None or not _invitable(expert):
            continue
        invitation = JobInvitation(job_id=job.id, expert_id=expert.id, kind=InvitationKind.RECOMMENDED,
                                   match_run_id=run.id, created_at=datetime.now(UTC))
        db.session.add(invitation)
        db.session.flush()
        audit.record("job.expert_recommended", actor=None, entity="job_invitations", entity_id=invitation.id,
                     data={"job_id": job.id, "expert_id": expert.id, "run_id": run.id})
        notifications.notify(expert.user, "job.recommended", link=EXPERT_JOB_PATH.format(id=job.id), job=str(job))
        count += 1
    return count


def fail_run(run_id: int, error: str) -> MatchRun | None:
    """Record that a run failed and tell the hub; None when the run is already finished.

    QUEUED | RUNNING -> FAILED, by the system.
    """
    run = db.session.get(MatchRun, run_id, with_for_update=True)
    if run is None or run.status not in (R.QUEUED, R.RUNNING):
        uow.rollback()
        return None
    message = (error or "unknown error").strip()[:2000]
    transition(run, MATCH_RUN_WORKFLOW, R.FAILED, actor=None, error=message)
    run.finished_at = datetime.now(UTC)
    run.error = message
    notifications.notify_staff("match.failed", link=ADMIN_MATCHING_PATH.format(id=run.job_id), job=str(run.job),
                               error=message)
    uow.commit()
    return run


def stale_queued_run_ids(*, older_than_seconds: int = 120, limit: int = 50) -> list[int]:
    """Queued runs that no worker picked up (a lost enqueue); the sweeper runs them again."""
    cutoff = datetime.now(UTC).timestamp() - older_than_seconds
    return list(db.session.scalars(
        sa.select(MatchRun.id)
        .where(MatchRun.status == R.QUEUED, MatchRun.created_at <= datetime.fromtimestamp(cutoff, UTC))
        .order_by(MatchRun.id)
        .limit(limit)
    ))


# Invitations from the ranking ------------------------------------------------------------------


def _invitable(expert: ExpertProfile) -> bool:
    return expert.status is VerificationStatus.APPROVED and expert.user is not None \
        and expert.user.suspended_at is None


def still_invitable(invitation: JobInvitation | None) -> bool:
    """Whether an expert's standing on a job allows an invitation (none yet, or only recommended)."""
    return invitation is None or (
        invitation.kind is not InvitationKind.INVITED and invitation.status is not InvitationStatus.DECLINED
    )


def conflict_with(expert: ExpertProfile, job: Job) -> str:
    """The declared relation that makes ``expert`` conflicted for ``job``'s company ("" when none)."""
    names = (job.company.name, job.company.legal_name)
    found = conflict_rules.find_conflict(((e.name, e.relation.value) for e in expert.employers), names)
    return found or ""


def invite_experts(
    job_id: int, *, actor: User, expert_ids: list[int], run_id: int | None = None
) -> list[JobInvitation]:
    """Invite experts to a published job from its ranking; each is notified.

    No state change; each invitation is audited as ``job.expert_invited``. A
    recommended expert becomes invited. Conflicted, unverified, suspended or
    already invited experts are refused with the reason, and nobody is invited.

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    :raises InvalidTransition: the job is not published.
    :raises FieldErrors: no expert chosen, or one of them cannot be invited.
    """
    job = db.session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(_("This job does not exist."))
    if not policies.can_rank_job(actor, job):
        raise PermissionDenied(_("Only the hub invites experts."))
    if job.status is not JobStatus.PUBLISHED:
        raise InvalidTransition("job", job.status, JobStatus.PUBLISHED,
                                _("Experts are invited to published jobs (or when publishing)."))
    ids = list(dict.fromkeys(int(i) for i in expert_ids))
    if not ids:
        raise FieldErrors({"expert_ids": _("Choose at least one expert to invite.")})
    experts = {e.id: e for e in db.session.scalars(
        sa.select(ExpertProfile).options(joinedload(ExpertProfile.user), selectinload(ExpertProfile.employers))
        .where(ExpertProfile.id.in_(ids))
    )}
    existing = {i.expert_id: i for i in job.invitations}
    problems: list[str] = []
    for expert_id in ids:
        expert = experts.get(expert_id)
        if expert is None or not _invitable(expert):
            problems.append(_("expert %(id)d is not a verified, active expert", id=expert_id))
            continue
        conflict = conflict_with(expert, job)
        if conflict:
            problems.append(_("%(expert)s has a conflict of interest (%(conflict)s)", expert=str(expert),
                              conflict=conflict))
        invitation = existing.get(expert_id)
        if invitation is not None and invitation.kind is InvitationKind.INVITED:
            problems.append(_("%(expert)s is already invited", expert=str(expert)))
        elif invitation is not None and invitation.status is InvitationStatus.DECLINED:
            problems.append(_("%(expert)s already declined this job", expert=str(expert)))
    if problems:
        raise FieldErrors({"expert_ids": _("Nobody was invited: %(problems)s.", problems="; ".join(problems))})
    created: list[JobInvitation] = []
    for expert_id in ids:
        expert = experts[expert_id]
        invitation = existing.get(expert_id)
        if invitation is None:
            invitation = JobInvitation(job_id=job.id, expert_id=expert.id, invited_by_id=actor.id,
                                       match_run_id=run_id, created_at=datetime.now(UTC))
            db.session.add(invitation)
        else:  # a recommendation becomes an invitation
            invitation.kind = InvitationKind.INVITED
            invitation.invited_by_id = actor.id
        db.session.flush()
        audit.record("job.expert_invited", actor=actor, entity="job_invitations", entity_id=invitation.id,
                     data={"job_id": job.id, "expert_id": expert.id, "run_id": run_id})
        notifications.notify(expert.user, "job.invited", link=EXPERT_JOB_PATH.format(id=job.id), job=str(job))
        created.append(invitation)
    job.updated_at = datetime.now(UTC)
    uow.commit()
    return created


# Queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingPage:
    """What the matching screen shows: the latest run (finished or not) and the last completed one."""

    job: Job
    latest: MatchRun | None
    completed: MatchRun | None
    ranked: list[MatchResult]
    excluded: list[MatchResult]
    invitations: dict[int, JobInvitation]
    offers: dict[int, Any]
    weights: dict[str, float]


def ranking_page(job_id: int, *, actor: User, limit: int = 50) -> RankingPage:
    """The job's ranking for the hub: top ``limit`` ranked and every stored exclusion, in a fixed number of queries.

    :raises NotFound: no such job.
    :raises PermissionDenied: ``actor`` is not hub staff.
    """
    from app.models import Offer

    job = db.session.scalar(
        sa.select(Job).options(joinedload(Job.company), joinedload(Job.title_term),
                               selectinload(Job.invitations)).where(Job.id == job_id)
    )
    if job is None:
        raise NotFound(_("This job does not exist."))
    if not policies.can_view_ranking(actor, job):
        raise PermissionDenied(_("Only the hub sees rankings."))
    latest = db.session.scalar(sa.select(MatchRun).where(MatchRun.job_id == job.id).order_by(MatchRun.id.desc()))
    completed = latest if latest is not None and latest.status is R.COMPLETED else db.session.scalar(
        sa.select(MatchRun).where(MatchRun.job_id == job.id, MatchRun.status == R.COMPLETED)
        .order_by(MatchRun.id.desc())
    )
    ranked: list[MatchResult] = []
    excluded: list[MatchResult] = []
    if completed is not None:
        options = joinedload(MatchResult.expert).joinedload(ExpertProfile.user)
        ranked = list(db.session.scalars(
            sa.select(MatchResult).options(options)
            .where(MatchResult.run_id == completed.id, MatchResult.rank.is_not(None))
            .order_by(MatchResult.rank).limit(limit)
        ))
        excluded = list(db.session.scalars(
            sa.select(MatchResult).options(options)
            .where(MatchResult.run_id == completed.id, MatchResult.rank.is_(None))
            .order_by(MatchResult.exclusion_reason, MatchResult.score.desc(), MatchResult.expert_id)
        ))
    offers = {o.expert_id: o for o in db.session.scalars(
        sa.select(Offer).where(Offer.job_id == job.id).order_by(Offer.id)
    )}
    return RankingPage(
        job=job,
        latest=latest,
        completed=completed,
        ranked=ranked,
        excluded=excluded,
        invitations={i.expert_id: i for i in job.invitations},
        offers=offers,
        weights=dict(completed.weights) if completed is not None else current_weights(),
    )
