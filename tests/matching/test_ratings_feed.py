"""Ratings and completed projects feed the matching: the loader's track record, the fingerprint, the ranking."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.matching import cache
from app.matching.index import ExpertIndex
from app.matching.loader import fingerprint, job_query, load_expert_records
from app.matching.records import ExpertRecord, JobQuery, Ranking
from app.matching.reference import rank_reference
from app.models import ExpertProfile, ExpertSkill, Job, JobCategory, OfferStatus, Project, ProjectStatus, User
from app.services import projects, ratings, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW

TODAY = date(2026, 1, 1)
FIVE = {"overall": 5, "quality": 5, "communication": 5, "timeliness": 5, "expertise": 5}


def project_for(f: Any, expert: ExpertProfile, *, category: JobCategory = JobCategory.PROBLEM_SOLVING,
                expert_price_minor: int = 400_000, currency: str = "EUR") -> Project:
    """A funded project of ``expert`` for a new company, with a job of ``category``."""
    company = f.company()
    job = f.job(company, category=category, currency=currency)
    f.company_user(company)
    offer = f.offer(job, expert, status=OfferStatus.ACCEPTED, milestones=(("Study", 100),))
    staff = f.admin(totp_enabled_at=datetime.now(UTC))
    contract = f.signed_contract(offer, client_price_minor=expert_price_minor + 60_000, fee_minor=60_000,
                                 currency=currency, actor=staff)
    return f.project(contract, manager=staff)


def hub_of(project: Project) -> User:
    (hub,) = projects.member_users(project, side=Side.HUB)
    return hub


def complete(project: Project) -> None:
    """Active -> accepted -> completed, as the release will do it."""
    hub = hub_of(project)
    for target in (ProjectStatus.ACCEPTED, ProjectStatus.COMPLETED):
        transition(project, PROJECT_WORKFLOW, target, actor=hub)
    db.session.flush()


def accept(project: Project) -> None:
    transition(project, PROJECT_WORKFLOW, ProjectStatus.ACCEPTED, actor=hub_of(project))
    db.session.flush()


def rate(project: Project, **scores: int) -> None:
    (owner, *_rest) = projects.member_users(project, side=Side.COMPANY)
    ratings.rate_expert(project.id, actor=owner, **(FIVE | scores), feedback="Solid work, on time.")
    uow.commit()


def twin_experts(f: Any, job: Job) -> tuple[ExpertProfile, ExpertProfile]:
    """Two experts identical in everything the profile says (same skills, rate, years, text)."""
    twins = []
    for _ in range(2):
        expert = f.expert()
        for skill in job.skills:
            db.session.add(ExpertSkill(expert_id=expert.id, term_id=skill.term_id, level="senior"))
        twins.append(expert)
    db.session.flush()
    return twins[0], twins[1]


def by_id(records: list[ExpertRecord]) -> dict[int, ExpertRecord]:
    return {r.expert_id: r for r in records}


def agree(records: list[ExpertRecord], query: JobQuery) -> Ranking:
    """The vectorised index and the plain-Python reference give the same ranking and scores."""
    ours = ExpertIndex.build(records).rank(query, top_n=50, today=TODAY)
    ref = rank_reference(records, query, top_n=50, today=TODAY)
    assert [r.expert_id for r in ours.ranked] == [r.expert_id for r in ref.ranked]
    for a, b in zip(ours.ranked, ref.ranked, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-9)
        assert a.breakdown == pytest.approx(b.breakdown, abs=1e-9)
        assert a.details == b.details
    return ours


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


# The loader ------------------------------------------------------------------------------------


def test_the_loader_reads_the_track_record_from_completed_projects_and_ratings(f: Any) -> None:
    expert, newcomer = f.expert(), f.expert()
    done = project_for(f, expert, expert_price_minor=400_000)
    done_too = project_for(f, expert, category=JobCategory.TRAINING, expert_price_minor=300_000)
    other_currency = project_for(f, expert, expert_price_minor=900_000, currency="USD")
    accepted_only = project_for(f, expert)
    for p in (done, done_too, other_currency):
        complete(p)
    accept(accepted_only)
    uow.commit()
    rate(done, overall=5)
    rate(accepted_only, overall=3)  # a rating counts once the company accepted; the project is not completed yet

    records = by_id(load_expert_records(db.session))
    r = records[expert.id]
    assert r.completed_by_category == {"problem_solving": 2, "training": 1}
    jobs = [db.session.get(Job, p.job_id) for p in (done, done_too, other_currency)]
    expected_terms: dict[int, int] = {}
    for job in jobs:
        assert job is not None
        for term_id in (job.process_term_id, job.material_term_id):
            expected_terms[term_id] = expected_terms.get(term_id, 0) + 1
    assert r.completed_terms == expected_terms
    assert r.rating == 4.0 and r.rating_count == 2
    assert r.typical_price_minor == 350_000  # median of the EUR projects; the USD one is not comparable
    fresh = records[newcomer.id]
    assert (fresh.completed_by_category, fresh.completed_terms, fresh.rating, fresh.rating_count,
            fresh.typical_price_minor) == ({}, {}, None, 0, None)


def test_the_loader_query_count_does_not_grow_with_experts_or_projects(f: Any) -> None:
    first = f.expert()
    complete(project_for(f, first))
    uow.commit()
    with counted_queries() as few:
        load_expert_records(db.session)
    for _ in range(4):
        expert = f.expert()
        p = project_for(f, expert)
        complete(p)
        uow.commit()
        rate(p)
    with counted_queries() as many:
        records = load_expert_records(db.session)
    assert len(records) == 5 and sum(r.rating_count for r in records) == 4
    assert len(many) == len(few) == 7


# The fingerprint -------------------------------------------------------------------------------


def test_the_fingerprint_changes_with_a_completed_project_and_a_rating(f: Any) -> None:
    cache.clear()
    expert = f.expert()
    project = project_for(f, expert)
    uow.commit()
    first = cache.get_index(db.session)
    fp = fingerprint(db.session)

    accept(project)
    uow.commit()
    assert fingerprint(db.session) == fp  # accepted is not yet part of the track record
    transition(project, PROJECT_WORKFLOW, ProjectStatus.COMPLETED, actor=hub_of(project))
    uow.commit()
    completed_fp = fingerprint(db.session)
    assert completed_fp != fp
    second = cache.get_index(db.session)
    assert second is not first

    rate(project)
    assert fingerprint(db.session) != completed_fp
    third = cache.get_index(db.session)
    assert third is not second and third.fingerprint == fingerprint(db.session)
    row = [int(i) for i in third.expert_ids].index(expert.id)
    assert third.rating_count[row] == 1 and third.rating[row] == 5.0
    cache.clear()


# The ranking -----------------------------------------------------------------------------------


def test_a_completed_project_and_a_five_star_rating_rank_an_expert_above_its_twin(f: Any) -> None:
    job = f.job(budget_minor=None)  # no budget: the price criterion is the same for both
    newcomer, proven = twin_experts(f, job)  # the proven expert has the higher id: a tie would favour the newcomer
    history = project_for(f, proven)
    complete(history)
    uow.commit()
    rate(history)

    records = load_expert_records(db.session)
    query = job_query(job)
    ranking = agree(records, query)

    assert [r.expert_id for r in ranking.ranked] == [proven.id, newcomer.id]
    top, second = ranking.ranked
    assert top.score > second.score
    assert top.breakdown["experience"] > second.breakdown["experience"]
    assert {k: v for k, v in top.breakdown.items() if k != "experience"} == pytest.approx(
        {k: v for k, v in second.breakdown.items() if k != "experience"})
    # 0.4·(1 − e^(−1/3)) for one project in the category + 0.2·(rating part 0.625 − 0.5)
    assert top.breakdown["experience"] - second.breakdown["experience"] == pytest.approx(
        0.4 * (1 - math.exp(-1 / 3)) + 0.2 * 0.125)


def test_a_project_with_the_job_s_process_term_counts_as_similar(f: Any) -> None:
    history_job_expert = f.expert()
    history = project_for(f, history_job_expert, category=JobCategory.TRAINING)
    complete(history)
    uow.commit()
    past_job = db.session.get(Job, history.job_id)
    assert past_job is not None
    other = f.expert()
    job = f.job(budget_minor=None, process_term_id=past_job.process_term_id)  # a problem-solving job

    ranking = agree(load_expert_records(db.session), job_query(job))

    got = {r.expert_id: r for r in ranking.ranked}
    assert got[history_job_expert.id].breakdown["experience"] > got[other.id].breakdown["experience"]
