"""Ranking runs, weights and invitations from a ranking (app/services/matching.py), end to end with the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.exceptions import InvalidTransition, NotFound, PermissionDenied
from app.extensions import db
from app.matching import cache
from app.models import (
    AuditEvent,
    EmployerRelation,
    ExpertEmployer,
    ExpertiseLevel,
    ExpertLanguage,
    ExpertSkill,
    InvitationKind,
    InvitationStatus,
    JobInvitation,
    JobLanguage,
    JobStatus,
    LanguageProficiency,
    MatchingWeight,
    MatchResult,
    MatchRun,
    MatchRunStatus,
    MatchTrigger,
    Notification,
    VerificationStatus,
)
from app.services import jobs, matching
from app.services.jobs import FieldErrors
from app.tasks import matching as matching_tasks


@pytest.fixture(autouse=True)
def _fresh_index():
    cache.clear()
    yield
    cache.clear()


def _expert(f, skill_ids, *, level=ExpertiseLevel.SENIOR, languages=(("de", LanguageProficiency.C1),),
            employers=(), **overrides):
    e = f.expert(**overrides)
    for term_id in skill_ids:
        db.session.add(ExpertSkill(expert_id=e.id, term_id=term_id, level=level))
    for code, proficiency in languages:
        db.session.add(ExpertLanguage(expert_id=e.id, code=code, proficiency=proficiency))
    for name, relation in employers:
        db.session.add(ExpertEmployer(expert_id=e.id, name=name, relation=relation))
    db.session.flush()
    return e


@pytest.fixture
def scene(f):
    """A job needing two skills and German, a strong match, a weaker one, a conflicted and a non-German expert."""
    company = f.company(name="Kunststofftechnik Keller GmbH", legal_name="Kunststofftechnik Keller GmbH")
    owner = f.company_user(company)
    job = f.job(company, status=JobStatus.PENDING_REVIEW, created_by=owner, skills=2)
    db.session.add(JobLanguage(job_id=job.id, code="de", min_proficiency=LanguageProficiency.B2))
    required = [s.term_id for s in job.skills] + [job.process_term_id, job.material_term_id]
    strong = _expert(f, [*required, job.title_term_id], pseudonym="STRONG")
    weak = _expert(f, required[:1], level=ExpertiseLevel.JUNIOR, pseudonym="WEAK")
    conflicted = _expert(f, [*required, job.title_term_id], pseudonym="CONFL",
                         employers=(("Keller GmbH", EmployerRelation.FORMER),))
    no_german = _expert(f, [*required, job.title_term_id], pseudonym="NODE",
                        languages=(("en", LanguageProficiency.C2),))
    draft = _expert(f, required, pseudonym="DRAFT", status=VerificationStatus.DRAFT)
    admin = f.admin()
    db.session.commit()
    return {"job": job, "strong": strong, "weak": weak, "conflicted": conflicted, "no_german": no_german,
            "draft": draft, "admin": admin, "owner": owner}


def _latest_run(job_id):
    return db.session.scalar(sa.select(MatchRun).where(MatchRun.job_id == job_id).order_by(MatchRun.id.desc()))


def _results(run):
    return list(db.session.scalars(sa.select(MatchResult).where(MatchResult.run_id == run.id)))


def test_publishing_a_public_job_ranks_and_tells_the_top_matches(scene):
    job, admin = scene["job"], scene["admin"]

    jobs.publish_job(job.id, actor=admin, visibility="public")

    run = _latest_run(job.id)
    assert run.status is MatchRunStatus.COMPLETED and run.trigger is MatchTrigger.PUBLISH
    assert run.considered == 4  # approved experts only: the draft profile is never considered
    assert run.excluded_counts == {"conflict": 1, "language": 1}
    ranked = sorted((r for r in _results(run) if r.rank is not None), key=lambda r: r.rank)
    assert [r.expert_id for r in ranked] == [scene["strong"].id, scene["weak"].id]
    assert ranked[0].score > ranked[1].score
    assert set(ranked[0].breakdown) == {"title", "skills", "experience", "languages", "price", "availability", "text"}
    assert ranked[0].breakdown["skills"] == pytest.approx(1.0)
    excluded = {r.expert_id: r for r in _results(run) if r.rank is None}
    assert excluded[scene["conflicted"].id].exclusion_reason == "conflict"
    assert "Keller GmbH" in excluded[scene["conflicted"].id].exclusion_detail
    assert excluded[scene["no_german"].id].exclusion_reason == "language"
    # Both ranked experts were told; the excluded ones were not.
    recommended = db.session.scalars(sa.select(JobInvitation).where(JobInvitation.job_id == job.id)).all()
    assert {i.expert_id for i in recommended} == {scene["strong"].id, scene["weak"].id}
    assert {i.kind for i in recommended} == {InvitationKind.RECOMMENDED}
    assert run.notified_count == 2
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "job.recommended")).all()
    assert set(told) == {scene["strong"].user_id, scene["weak"].user_id}
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity == "match_runs")).all()
    assert actions == ["match_run.queued", "match_run.running", "match_run.completed"]


def test_a_private_job_is_ranked_but_nobody_is_told(scene):
    job, admin = scene["job"], scene["admin"]
    jobs.publish_job(job.id, actor=admin, visibility="private", invite_expert_ids=[scene["weak"].id])

    run = _latest_run(job.id)
    assert run.status is MatchRunStatus.COMPLETED
    assert run.notified_count == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "job.recommended")) == 0


def test_re_rank_uses_the_current_weights_and_keeps_old_runs(scene):
    job, admin = scene["job"], scene["admin"]
    first = matching.queue_ranking(job.id, actor=admin)
    matching.set_matching_weights(actor=admin, weights={"skills": 0, "text": 3})

    second = matching.queue_ranking(job.id, actor=admin)

    assert first.id != second.id
    db.session.expire_all()
    assert db.session.get(MatchRun, first.id).weights["skills"] == 4.0
    assert db.session.get(MatchRun, second.id).weights["skills"] == 0.0
    assert db.session.get(MatchRun, second.id).status is MatchRunStatus.COMPLETED
    ranked = [r for r in _results(db.session.get(MatchRun, second.id)) if r.rank is not None]
    assert all("skills" not in r.breakdown or r.breakdown["skills"] >= 0 for r in ranked)


def test_only_staff_rank_and_only_rankable_jobs(scene, f):
    job = scene["job"]
    with pytest.raises(PermissionDenied):
        matching.queue_ranking(job.id, actor=scene["owner"])
    with pytest.raises(PermissionDenied):
        matching.queue_ranking(job.id, actor=scene["strong"].user)
    with pytest.raises(NotFound):
        matching.queue_ranking(999_999, actor=scene["admin"])
    draft = f.job(status=JobStatus.DRAFT)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        matching.queue_ranking(draft.id, actor=scene["admin"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchRun)) == 0


def test_a_run_is_started_once(scene):
    job, admin = scene["job"], scene["admin"]
    run = matching.queue_ranking(job.id, actor=admin)  # ran inline: completed
    assert matching.start_run(run.id) is None
    assert matching_tasks.rank_job(run.id) is False  # a second delivery of the task does nothing
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchResult)
                             .where(MatchResult.run_id == run.id)) == 2 + 2


def test_complete_needs_a_running_run(scene):
    from app.matching import Ranking

    run = MatchRun(job_id=scene["job"].id, trigger=MatchTrigger.MANUAL, weights={}, status=MatchRunStatus.QUEUED)
    db.session.add(run)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        matching.complete_run(run.id, Ranking(ranked=[], excluded=[], excluded_counts={}, considered=0,
                                              elapsed_ms=0.0))


def test_a_failed_run_is_recorded_and_the_hub_told(scene):
    run = MatchRun(job_id=scene["job"].id, trigger=MatchTrigger.MANUAL, weights={}, status=MatchRunStatus.QUEUED)
    db.session.add(run)
    db.session.commit()

    matching.fail_run(run.id, "MemoryError: index too large")

    db.session.expire_all()
    run = db.session.get(MatchRun, run.id)
    assert run.status is MatchRunStatus.FAILED and run.error == "MemoryError: index too large"
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == scene["admin"].id)) \
        == "match.failed"
    assert matching.fail_run(run.id, "again") is None


def test_the_sweeper_runs_a_run_whose_enqueue_was_lost(scene):
    run = MatchRun(job_id=scene["job"].id, trigger=MatchTrigger.MANUAL, weights=matching.current_weights(),
                   status=MatchRunStatus.QUEUED, created_at=datetime.now(UTC) - timedelta(minutes=5))
    fresh = MatchRun(job_id=scene["job"].id, trigger=MatchTrigger.MANUAL, weights={}, status=MatchRunStatus.QUEUED)
    db.session.add_all([run, fresh])
    db.session.commit()

    assert matching_tasks.sweep_stale_runs() == 1

    db.session.expire_all()
    assert db.session.get(MatchRun, run.id).status is MatchRunStatus.COMPLETED
    assert db.session.get(MatchRun, fresh.id).status is MatchRunStatus.QUEUED


def test_the_index_follows_profile_changes(scene):
    job, admin = scene["job"], scene["admin"]
    matching.queue_ranking(job.id, actor=admin)
    newcomer = _expert_with_all_skills(scene)

    matching.queue_ranking(job.id, actor=admin)

    ranked = [r.expert_id for r in _results(_latest_run(job.id)) if r.rank is not None]
    assert newcomer.id in ranked


def _expert_with_all_skills(scene):
    from tests import factories

    job = scene["job"]
    required = [s.term_id for s in job.skills] + [job.process_term_id, job.material_term_id, job.title_term_id]
    e = _expert(factories, required, pseudonym="NEWBIE")
    db.session.commit()
    return e


# Weights -----------------------------------------------------------------------------------


def test_weights_are_saved_and_audited(scene):
    admin = scene["admin"]
    saved = matching.set_matching_weights(actor=admin, weights={"price": 3.5, "text": "0"})

    assert saved["price"] == 3.5 and saved["text"] == 0.0 and saved["skills"] == 4.0
    assert matching.current_weights() == saved
    assert db.session.get(MatchingWeight, "price").updated_by_id == admin.id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "matching.weights_changed"))
    assert event.data["before"]["price"] == 2.0 and event.data["after"]["price"] == 3.5


@pytest.mark.parametrize(("weights", "field"), [
    ({"price": 11}, "price"),
    ({"price": -1}, "price"),
    ({"price": "abc"}, "price"),
    ({"nonsense": 1}, "nonsense"),
    ({c: 0 for c in ("title", "skills", "experience", "languages", "price", "availability", "text")}, "skills"),
])
def test_bad_weights_are_refused_and_nothing_saved(scene, weights, field):
    with pytest.raises(FieldErrors) as info:
        matching.set_matching_weights(actor=scene["admin"], weights=weights)
    assert field in info.value.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MatchingWeight)) == 0


def test_only_staff_change_weights(scene):
    with pytest.raises(PermissionDenied):
        matching.set_matching_weights(actor=scene["strong"].user, weights={"price": 1})


# Invitations from the ranking ----------------------------------------------------------------


@pytest.fixture
def published(scene):
    jobs.publish_job(scene["job"].id, actor=scene["admin"], visibility="private",
                     invite_expert_ids=[scene["weak"].id])
    return scene


def test_invite_experts_from_the_ranking(published, f):
    job, admin = published["job"], published["admin"]
    other = _expert(f, [], pseudonym="OTHER")
    db.session.commit()
    run = _latest_run(job.id)

    created = matching.invite_experts(job.id, actor=admin, expert_ids=[published["strong"].id, other.id],
                                      run_id=run.id)

    assert {i.expert_id for i in created} == {published["strong"].id, other.id}
    assert all(i.kind is InvitationKind.INVITED and i.status is InvitationStatus.OPEN for i in created)
    assert all(i.match_run_id == run.id and i.invited_by_id == admin.id for i in created)
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "job.invited")).all()
    assert published["strong"].user_id in told and other.user_id in told
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "job.expert_invited")) == 3  # one at publication


def test_a_recommendation_becomes_an_invitation(scene):
    job, admin = scene["job"], scene["admin"]
    jobs.publish_job(job.id, actor=admin, visibility="public")  # strong and weak are recommended

    (invitation,) = matching.invite_experts(job.id, actor=admin, expert_ids=[scene["strong"].id])

    assert invitation.kind is InvitationKind.INVITED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobInvitation)) == 2


@pytest.mark.parametrize(("who", "message"), [
    ("conflicted", "conflict of interest"),
    ("weak", "already invited"),
    ("draft", "not a verified"),
])
def test_invitations_are_refused_with_the_reason_and_nobody_invited(published, who, message):
    job, admin = published["job"], published["admin"]
    before = db.session.scalar(sa.select(sa.func.count()).select_from(JobInvitation))

    with pytest.raises(FieldErrors) as info:
        matching.invite_experts(job.id, actor=admin, expert_ids=[published["strong"].id, published[who].id])

    assert message in info.value.errors["expert_ids"]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobInvitation)) == before


def test_invitations_need_a_published_job_and_staff(scene):
    with pytest.raises(InvalidTransition):
        matching.invite_experts(scene["job"].id, actor=scene["admin"], expert_ids=[scene["strong"].id])
    with pytest.raises(PermissionDenied):
        matching.invite_experts(scene["job"].id, actor=scene["owner"], expert_ids=[scene["strong"].id])
    jobs.publish_job(scene["job"].id, actor=scene["admin"], visibility="public")
    with pytest.raises(FieldErrors) as info:
        matching.invite_experts(scene["job"].id, actor=scene["admin"], expert_ids=[])
    assert "Choose at least one expert" in info.value.errors["expert_ids"]


def test_ranking_page_is_staff_only_and_complete(published):
    job = published["job"]
    page = matching.ranking_page(job.id, actor=published["admin"])

    assert page.completed is not None and page.latest is not None
    assert [r.expert_id for r in page.ranked] == [published["strong"].id, published["weak"].id]
    assert {r.exclusion_reason for r in page.excluded} == {"conflict", "language"}
    assert published["weak"].id in page.invitations
    with pytest.raises(PermissionDenied):
        matching.ranking_page(job.id, actor=published["owner"])
    with pytest.raises(NotFound):
        matching.ranking_page(999_999, actor=published["admin"])


def test_conflict_with_names_the_relation(scene):
    detail = matching.conflict_with(scene["conflicted"], scene["job"])
    assert "former" in detail and "Keller GmbH" in detail
    assert matching.conflict_with(scene["strong"], scene["job"]) == ""

