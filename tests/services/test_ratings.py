"""Ratings: the company rates the expert once, the expert rates the company privately; cards, summaries, pending."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.exceptions import NotFound, PermissionDenied
from app.extensions import db
from app.models import (
    AuditEvent,
    CatalogKind,
    CompanyRating,
    ExpertProfile,
    Notification,
    OfferStatus,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
    Rating,
    User,
)
from app.services import projects, ratings, uow
from app.services.projects import Side
from app.services.ratings import RatingRefused
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from tests import factories
from tests.conftest import _clear_tables, _create_schema, _to_sqlalchemy_url, make_app, postgres_url

P = ProjectStatus
GOOD = {"overall": 5, "quality": 4, "communication": 5, "timeliness": 3, "expertise": 5}
FEEDBACK = "Found the root cause of the short shots in two weeks; clear report, a usable process window."


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User


def finish(project: Project, hub: User, *, to: ProjectStatus = P.COMPLETED) -> None:
    """Move a project on as the release engineer's code will: active -> accepted (-> completed)."""
    path = {P.ACCEPTED: [P.ACCEPTED], P.COMPLETED: [P.ACCEPTED, P.COMPLETED], P.DISPUTED: [P.DISPUTED],
            P.CANCELLED: [P.CANCELLED], P.ACTIVE: []}[to]
    for target in path:
        transition(project, PROJECT_WORKFLOW, target, actor=hub)
    db.session.flush()


def scene_of(project: Project) -> Scene:
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    return Scene(project, company[0], company[1] if len(company) > 1 else company[0], expert, hub)


@pytest.fixture
def scene(f: Any) -> Scene:
    s = scene_of(f.project(members=2))
    finish(s.project, s.hub)
    uow.commit()
    return s


def project_for(f: Any, expert: ExpertProfile, *, industry: str | None = None, members: int = 1) -> Project:
    """Another funded project of ``expert`` for a new company (optionally in ``industry``)."""
    company = f.company(industry_id=f.term(CatalogKind.INDUSTRY, name=industry).id if industry else None)
    job = f.job(company)
    for i in range(members):
        f.company_user(company, owner=i == 0)
    offer = f.offer(job, expert, status=OfferStatus.ACCEPTED, milestones=(("Study", 100),))
    staff = f.admin(totp_enabled_at=datetime.now(UTC))
    return f.project(f.signed_contract(offer, actor=staff), manager=staff)


def rate(s: Scene, **kw: Any) -> Rating:
    values: dict[str, Any] = dict(GOOD, feedback=FEEDBACK)
    values.update(kw)
    rating = ratings.rate_expert(s.project.id, actor=values.pop("actor", s.owner), **values)
    uow.commit()
    return rating


def count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# The company rates the expert ------------------------------------------------------------------


def test_the_company_rates_the_expert_and_the_expert_is_told(scene: Scene) -> None:
    rating = rate(scene)

    stored = db.session.get(Rating, rating.id)
    assert stored is not None
    scores = (stored.overall, stored.quality, stored.communication, stored.timeliness, stored.expertise)
    assert scores == (5, 4, 5, 3, 5)
    assert stored.feedback == FEEDBACK and stored.rated_by_id == scene.owner.id
    assert stored.expert_id == scene.project.expert_id and stored.company_id == scene.project.company_id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "rating.created"))
    assert event is not None and event.entity_id == rating.id and event.actor_id == scene.owner.id
    assert event.data["project_id"] == scene.project.id and event.data["overall"] == 5
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "rating.received"))
    assert note is not None and note.user_id == scene.expert.id
    assert note.params == {"project": projects.project_label(scene.project), "overall": 5}
    assert note.link == f"/projects/{scene.project.id}/rating"


def test_an_accepted_project_can_be_rated_before_the_release(f: Any) -> None:
    s = scene_of(f.project())
    finish(s.project, s.hub, to=P.ACCEPTED)
    uow.commit()
    assert rate(s).project_id == s.project.id


def test_a_project_is_rated_once_even_by_a_colleague(scene: Scene) -> None:
    rate(scene)
    with pytest.raises(RatingRefused, match="already rated the expert on this project"):
        ratings.rate_expert(scene.project.id, actor=scene.colleague, **GOOD, feedback="Again")
    uow.rollback()
    assert count(Rating) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "rating.received")) == 1


@pytest.mark.parametrize(("status", "message"), [
    (P.ACTIVE, "Ratings open once the company has accepted the delivery"),
    (P.DISPUTED, "in dispute"),
    (P.CANCELLED, "cancelled before the work was delivered"),
])
def test_only_an_accepted_or_completed_project_is_rated(f: Any, status: ProjectStatus, message: str) -> None:
    s = scene_of(f.project())
    finish(s.project, s.hub, to=status)
    uow.commit()
    with pytest.raises(RatingRefused, match=message):
        ratings.rate_expert(s.project.id, actor=s.owner, **GOOD, feedback=FEEDBACK)
    with pytest.raises(RatingRefused, match=message):
        ratings.rate_company(s.project.id, actor=s.expert, overall=4, feedback="")
    uow.rollback()
    assert count(Rating) == count(CompanyRating) == 0


def test_only_the_company_rates_the_expert(scene: Scene, f: Any) -> None:
    for who in (scene.expert, scene.hub):
        with pytest.raises(PermissionDenied):
            ratings.rate_expert(scene.project.id, actor=who, **GOOD, feedback=FEEDBACK)
    stranger = f.company_user()
    with pytest.raises(NotFound):
        ratings.rate_expert(scene.project.id, actor=stranger, **GOOD, feedback=FEEDBACK)
    with pytest.raises(NotFound):
        ratings.rate_expert(999_999, actor=scene.owner, **GOOD, feedback=FEEDBACK)
    uow.rollback()
    assert count(Rating) == 0


@pytest.mark.parametrize(("name", "value"), [("overall", 0), ("quality", 6), ("timeliness", True),
                                             ("expertise", "5"), ("communication", -1)])
def test_each_score_is_one_to_five(scene: Scene, name: str, value: Any) -> None:
    with pytest.raises(RatingRefused, match="a score from 1 to 5") as exc:
        ratings.rate_expert(scene.project.id, actor=scene.owner, **(GOOD | {name: value}), feedback=FEEDBACK)
    assert exc.value.field == name
    uow.rollback()
    assert count(Rating) == 0


@pytest.mark.parametrize(("feedback", "message"), [
    ("   ", "Write a few words"),
    ("x" * 5001, "at most 5000 characters; this one has 5001"),
    ("Great. Write to jane.doe@example.com for more", "cannot contain contact details. Remove: “jane.doe@example.com”"),
    ("Call me on +49 711 1234567", "“\\+49 711 1234567”"),
])
def test_feedback_is_required_bounded_and_free_of_contact_details(scene: Scene, feedback: str, message: str) -> None:
    with pytest.raises(RatingRefused, match=message) as exc:
        ratings.rate_expert(scene.project.id, actor=scene.owner, **GOOD, feedback=feedback)
    assert exc.value.field == "feedback"
    uow.rollback()
    assert count(Rating) == 0
    assert db.session.scalar(sa.select(Notification.id).where(Notification.kind == "rating.received")) is None


def test_feedback_at_the_limit_is_kept_as_typed(scene: Scene) -> None:
    text = "Cycle time down from 42 s to 35 s, scrap 0,8 %.\r\n" + "y" * (5000 - 49)
    rating = rate(scene, feedback=text)
    assert rating.feedback == text.replace("\r\n", "\n") and len(rating.feedback) == 4999


# The expert rates the company ------------------------------------------------------------------


def test_the_expert_rates_the_company_privately_and_once(scene: Scene) -> None:
    before = count(Notification)
    rating = ratings.rate_company(scene.project.id, actor=scene.expert, overall=3,
                                  feedback="Slow answers; write to me at t@example.com")
    uow.commit()
    stored = db.session.get(CompanyRating, rating.id)
    assert stored is not None and stored.overall == 3 and stored.company_id == scene.project.company_id
    assert stored.feedback.endswith("t@example.com")  # private to the hub: stored as written
    assert count(Notification) == before  # nobody is told, the company least of all
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "company_rating.created"))
    assert event is not None and event.entity_id == rating.id and event.data["overall"] == 3
    with pytest.raises(RatingRefused, match="already rated the company"):
        ratings.rate_company(scene.project.id, actor=scene.expert, overall=5, feedback="")
    uow.rollback()
    assert count(CompanyRating) == 1


def test_only_the_project_expert_rates_the_company(scene: Scene, f: Any) -> None:
    qc_expert = f.expert()
    db.session.add(ProjectMember(project_id=scene.project.id, user_id=qc_expert.user_id, role=ProjectRole.QC))
    uow.commit()
    for who in (scene.owner, scene.hub, qc_expert.user):
        with pytest.raises(PermissionDenied, match="Only the project's expert"):
            ratings.rate_company(scene.project.id, actor=who, overall=4, feedback="")
    with pytest.raises(RatingRefused, match="a score from 1 to 5"):
        ratings.rate_company(scene.project.id, actor=scene.expert, overall=9, feedback="")
    with pytest.raises(RatingRefused, match="at most 5000"):
        ratings.rate_company(scene.project.id, actor=scene.expert, overall=4, feedback="z" * 5001)
    uow.rollback()
    assert count(CompanyRating) == 0


# Reading: summary, card, track record ----------------------------------------------------------


def test_summary_and_card_keep_the_rating_company_anonymous(f: Any) -> None:
    expert = f.expert()
    assert ratings.expert_rating_summary(expert.id) == (None, 0)
    first = scene_of(project_for(f, expert, industry="Automotive"))
    second = scene_of(project_for(f, expert))
    for s in (first, second):
        finish(s.project, s.hub)
    uow.commit()
    rate(first, overall=5, feedback="Excellent study.")
    rate(second, overall=4, quality=2, communication=3, timeliness=4, expertise=5, feedback="Good, a bit slow.")

    assert ratings.expert_rating_summary(expert.id) == (4.5, 2)
    cards = ratings.ratings_for_expert(expert.id, limit=5)
    assert [c.feedback for c in cards] == ["Good, a bit slow.", "Excellent study."]  # newest first
    assert cards[1].company_label == "A company in Automotive"
    assert cards[0].company_label == "A company on Plasticonnect Hub"  # no industry declared
    assert cards[0].scores == {"quality": 2, "communication": 3, "timeliness": 4, "expertise": 5}
    names = {first.project.contract.company.name, second.project.contract.company.name}
    assert not any(name in repr(card) for card in cards for name in names)
    assert len(ratings.ratings_for_expert(expert.id, limit=1)) == 1

    track = ratings.track_record(expert.id)
    assert track.count == 2 and track.average == 4.5 and track.completed_projects == 2
    assert track.headline() == "4.5 / 5 (2 ratings)"
    assert track.sub_scores() == [("Quality of the work", "3.0"), ("Communication", "4.0"),
                                  ("Timeliness", "3.5"), ("Expertise", "5.0")]
    with force_locale("de"):
        assert ratings.track_record(expert.id).headline().startswith("4,5 / 5")
    assert ratings.track_record_of(expert.pseudonym) == track
    assert ratings.track_record_of("nobody") == ratings.TrackRecord()


def test_track_record_of_a_new_expert_and_of_one_rating(scene: Scene) -> None:
    track = ratings.track_record(scene.project.expert_id)
    assert track.count == 0 and track.average is None and track.headline() == "" and track.sub_scores() == []
    assert track.completed_projects == 1 and track.recent == []
    rate(scene)
    assert ratings.track_record(scene.project.expert_id).headline() == "5.0 / 5 (1 rating)"


# Pending ratings and the page model -------------------------------------------------------------


def test_pending_ratings_list_the_projects_still_to_rate(f: Any, scene: Scene) -> None:
    active = scene_of(f.project())
    uow.commit()
    pending = ratings.pending_ratings(scene.owner)
    assert [p.project.id for p in pending] == [scene.project.id]
    expert = db.session.get(ExpertProfile, scene.project.expert_id)
    assert expert is not None and pending[0].pseudonym == expert.pseudonym
    assert [p.project.id for p in ratings.pending_ratings(scene.colleague)] == [scene.project.id]
    assert ratings.pending_ratings(active.owner) == []  # still active
    assert ratings.pending_ratings(scene.hub) == [] and ratings.pending_ratings(scene.expert) == []
    rate(scene, actor=scene.colleague)
    assert ratings.pending_ratings(scene.owner) == []


def test_the_rating_page_shows_each_side_what_is_theirs(scene: Scene, f: Any) -> None:
    company_page = ratings.rating_page(scene.project.id, actor=scene.owner)
    assert company_page.can_rate_expert and not company_page.can_rate_company and company_page.rating is None
    rate(scene)
    ratings.rate_company(scene.project.id, actor=scene.expert, overall=4, feedback="Clear briefing.")
    uow.commit()

    company_page = ratings.rating_page(scene.project.id, actor=scene.colleague)
    assert company_page.rating is not None and company_page.company_rating is None  # private to the hub
    assert not company_page.can_rate_expert and company_page.rated_by == scene.owner.full_name
    expert_page = ratings.rating_page(scene.project.id, actor=scene.expert)
    assert expert_page.rating is not None and expert_page.company_rating is not None
    assert not expert_page.can_rate_company
    hub_page = ratings.rating_page(scene.project.id, actor=scene.hub)
    assert hub_page.side is Side.HUB and hub_page.rating is not None and hub_page.company_rating is not None
    assert not (hub_page.can_rate_expert or hub_page.can_rate_company)

    qc_expert = f.expert()
    db.session.add(ProjectMember(project_id=scene.project.id, user_id=qc_expert.user_id, role=ProjectRole.QC))
    uow.commit()
    qc_page = ratings.rating_page(scene.project.id, actor=qc_expert.user)
    assert qc_page.is_qc and qc_page.rating is None and qc_page.company_rating is None
    with pytest.raises(NotFound):
        ratings.rating_page(scene.project.id, actor=f.company_user())


# Races (PostgreSQL) ----------------------------------------------------------------------------

RACERS = 8


def _own_database(url: str) -> str:
    """A database of this test's own: other runs truncating theirs cannot deadlock it."""
    parsed = urlparse(url)
    name = f"{parsed.path.lstrip('/') or 'test'}_rating_races"
    engine = sa.create_engine(_to_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return parsed._replace(path=f"/{name}").geturl()


@pytest.mark.postgres
def test_colleagues_rating_at_the_same_time_make_one_rating(storage_dir: str) -> None:
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(_own_database(postgres_url())),
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": RACERS + 2, "max_overflow": 0, "pool_timeout": 30})
    try:
        with app.app_context():
            _create_schema(app)
            project = factories.project(members=RACERS)
            finish(project, projects.member_users(project, side=Side.HUB)[0])
            project_id = project.id
            raters = [u.id for u in projects.member_users(project, side=Side.COMPANY)]
            uow.commit()
        assert len(raters) >= RACERS  # the job's author is one of the company's users too
        barrier = threading.Barrier(len(raters), timeout=30)
        outcomes: list[str] = []
        lock = threading.Lock()

        def race(user_id: int) -> None:
            with app.app_context():
                user = db.session.get(User, user_id)
                assert user is not None
                barrier.wait()
                try:
                    ratings.rate_expert(project_id, actor=user, **GOOD, feedback=f"From {user_id}")
                    uow.commit()
                    result = "rated"
                except RatingRefused as exc:
                    uow.rollback()
                    result = "refused" if "already rated" in str(exc) else str(exc)
                finally:
                    db.session.remove()
                with lock:
                    outcomes.append(result)

        threads = [threading.Thread(target=race, args=(uid,)) for uid in raters]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["rated"] + ["refused"] * (len(raters) - 1)
        with app.app_context():
            assert count(Rating) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                     .where(Notification.kind == "rating.received")) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                     .where(AuditEvent.action == "rating.created")) == 1
    finally:
        with app.app_context():
            db.session.remove()
            _clear_tables(app)
            db.engine.dispose()
