"""The rating tab over HTTP (each side sees what is theirs; errors keep what was typed), and the ratings on the
expert's card (the company's offer pages, the expert's home, the hub's expert details) and the company home."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    CatalogKind,
    CompanyRating,
    ExpertProfile,
    JobStatus,
    OfferStatus,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
    Rating,
    User,
)
from app.services import negotiations, projects, ratings, uow
from app.services.projects import Side
from app.services.transitions import transition
from app.workflows.contracts import PROJECT_WORKFLOW
from tests.conftest import login

FEEDBACK = "Root cause found in two weeks; the process window works on the line."
PRIVATE = "Briefing was thin; decisions took long."


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User
    profile: ExpertProfile

    @property
    def url(self) -> str:
        return f"/projects/{self.project.id}/rating"


def _complete(project: Project, hub: User) -> None:
    for target in (ProjectStatus.ACCEPTED, ProjectStatus.COMPLETED):
        transition(project, PROJECT_WORKFLOW, target, actor=hub)
    db.session.flush()


def _scene(project: Project) -> Scene:
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    profile = db.session.get(ExpertProfile, project.expert_id)
    assert profile is not None
    return Scene(project, company[0], company[-1], expert, hub, profile)


@pytest.fixture
def scene(f: Any) -> Scene:
    s = _scene(f.project(members=2))
    _complete(s.project, s.hub)
    uow.commit()
    return s


def _as(app: Any, user: User) -> Any:
    return login(app.test_client(), user)


def _get(client: Any, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.status_code
    return unescape(response.get_data(as_text=True))


def _form(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"expert-overall": "5", "expert-quality": "4", "expert-communication": "5",
                            "expert-timeliness": "3", "expert-expertise": "5", "expert-feedback": FEEDBACK}
    data.update(kw)
    return {k: v for k, v in data.items() if v is not None}


def _rate(s: Scene, **scores: int) -> Rating:
    values = {"overall": 5, "quality": 4, "communication": 5, "timeliness": 3, "expertise": 5} | scores
    rating = ratings.rate_expert(s.project.id, actor=s.owner, feedback=FEEDBACK, **values)
    uow.commit()
    return rating


# The company rates the expert ------------------------------------------------------------------


def test_the_company_sees_the_form_and_rates_once(app: Any, scene: Scene) -> None:
    client = _as(app, scene.owner)
    html = _get(client, scene.url)
    assert 'data-testid="expert-rating-form"' in html and f"Rate Expert {scene.profile.pseudonym}" in html
    assert 'data-testid="company-rating-card"' not in html  # the expert's rating of the company is the hub's
    assert scene.expert.full_name not in html

    response = client.post(scene.url, data=_form())
    assert response.status_code == 302 and response.headers["Location"].endswith(scene.url)
    rating = db.session.scalar(sa.select(Rating).where(Rating.project_id == scene.project.id))
    assert rating is not None and (rating.overall, rating.timeliness) == (5, 3) and rating.feedback == FEEDBACK

    html = _get(client, scene.url)
    assert "Thank you: your rating is saved" in html
    assert 'data-testid="expert-rating-form"' not in html
    assert re.search(r'data-testid="expert-rating-overall">5 / 5<', html)
    assert re.search(r'data-testid="expert-rating-timeliness">3 / 5<', html)
    assert FEEDBACK in html and f"Rated by {scene.owner.full_name}" in html

    colleague = _as(app, scene.colleague)
    response = colleague.post(scene.url, data=_form(**{"expert-feedback": "Second opinion"}))
    assert response.status_code == 422
    assert "already rated the expert on this project" in unescape(response.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 1


def test_a_refused_form_keeps_what_was_typed(app: Any, scene: Scene) -> None:
    client = _as(app, scene.owner)
    response = client.post(scene.url, data=_form(**{"expert-quality": None, "expert-feedback": "   "}))
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert 'data-testid="error-expert-quality"' in html and "Choose a score from 1 to 5." in html
    assert 'data-testid="error-expert-feedback"' in html
    assert re.search(r'<input[^>]*checked[^>]*name="expert-overall"[^>]*value="5"|'
                     r'<input[^>]*name="expert-overall"[^>]*value="5"[^>]*checked', html)

    typed = "Great work — mail me at jane.doe@example.com"
    response = client.post(scene.url, data=_form(**{"expert-feedback": typed}))
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    error = re.search(r'data-testid="error-expert-feedback">([^<]*)<', html)
    assert error and "cannot contain contact details" in error.group(1) and "jane.doe@example.com" in error.group(1)
    assert typed in html  # kept in the textarea
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


def test_an_active_project_cannot_be_rated_yet(app: Any, f: Any) -> None:
    s = _scene(f.project())
    uow.commit()
    client = _as(app, s.owner)
    html = _get(client, s.url)
    assert 'data-testid="not-rateable"' in html and 'data-testid="expert-rating-form"' not in html
    response = client.post(s.url, data=_form())
    assert response.status_code == 422
    assert "Ratings open once the company has accepted the delivery" in unescape(response.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


# The expert and the hub ------------------------------------------------------------------------


def test_the_expert_reads_the_rating_and_rates_the_company_privately(app: Any, scene: Scene) -> None:
    client = _as(app, scene.expert)
    html = _get(client, scene.url)
    assert 'data-testid="no-expert-rating"' in html and 'data-testid="company-rating-form"' in html
    _rate(scene)
    html = _get(client, scene.url)
    assert FEEDBACK in html and "The company's rating of your work" in html

    response = client.post(scene.url, data={"company-feedback": PRIVATE})
    assert response.status_code == 422
    assert 'data-testid="error-company-overall"' in unescape(response.get_data(as_text=True))
    assert PRIVATE in unescape(response.get_data(as_text=True))

    response = client.post(scene.url, data={"company-overall": "2", "company-feedback": PRIVATE})
    assert response.status_code == 302
    stored = db.session.scalar(sa.select(CompanyRating).where(CompanyRating.project_id == scene.project.id))
    assert stored is not None and stored.overall == 2 and stored.feedback == PRIVATE
    html = _get(client, scene.url)
    assert re.search(r'data-testid="company-rating-overall">2 / 5<', html) and PRIVATE in html
    assert 'data-testid="company-rating-form"' not in html

    company_html = _get(_as(app, scene.owner), scene.url)
    assert PRIVATE not in company_html and 'data-testid="company-rating-card"' not in company_html


def test_the_hub_reads_both_ratings_and_rates_nobody(app: Any, scene: Scene) -> None:
    client = _as(app, scene.hub)
    html = _get(client, scene.url)
    assert 'data-testid="no-expert-rating"' in html and 'data-testid="no-company-rating"' in html
    assert "<form" not in html.split('data-testid="expert-rating-card"')[1]
    _rate(scene)
    ratings.rate_company(scene.project.id, actor=scene.expert, overall=4, feedback=PRIVATE)
    uow.commit()
    html = _get(client, scene.url)
    assert FEEDBACK in html and PRIVATE in html
    assert 'data-testid="expert-rating-form"' not in html and 'data-testid="company-rating-form"' not in html
    assert client.post(scene.url, data=_form()).status_code == 403


def test_the_qc_expert_and_strangers(app: Any, f: Any, scene: Scene) -> None:
    qc_expert = f.expert()
    db.session.add(ProjectMember(project_id=scene.project.id, user_id=qc_expert.user_id, role=ProjectRole.QC))
    uow.commit()
    _rate(scene)
    qc_client = _as(app, qc_expert.user)
    html = _get(qc_client, scene.url)
    assert 'data-testid="qc-no-ratings"' in html and FEEDBACK not in html
    assert qc_client.post(scene.url, data={"company-overall": "4"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CompanyRating)) == 0

    stranger = _as(app, f.company_user())
    assert stranger.get(scene.url).status_code == 404
    assert stranger.post(scene.url, data=_form()).status_code == 404
    assert _as(app, f.expert().user).get(scene.url).status_code == 404
    anonymous = app.test_client().get(scene.url)
    assert anonymous.status_code in (302, 401)
    assert _as(app, scene.owner).get("/projects/999999/rating").status_code == 404


# Ratings elsewhere: the company home, the expert's card ----------------------------------------


def test_the_company_home_lists_the_experts_to_rate(app: Any, scene: Scene) -> None:
    client = _as(app, scene.owner)
    html = _get(client, "/company/")
    assert 'data-testid="rate-your-expert"' in html
    assert f'href="/projects/{scene.project.id}/rating"' in html
    assert f"Expert {scene.profile.pseudonym}" in html
    _rate(scene)
    assert 'data-testid="rate-your-expert"' not in _get(client, "/company/")


def test_the_rating_shows_on_the_expert_card_for_other_companies(app: Any, f: Any, scene: Scene) -> None:
    industry = f.term(CatalogKind.INDUSTRY, name="Automotive supplier")
    scene.project.contract.company.industry_id = industry.id
    uow.commit()
    _rate(scene, overall=5, quality=4)

    other = f.company()
    buyer = f.company_user(other)
    job = f.job(other, status=JobStatus.PUBLISHED, created_by=buyer)
    offer = f.offer(job, scene.profile, status=OfferStatus.SUBMITTED)
    negotiations.forward_offer(offer.id, actor=f.admin(), fee_minor=50_000, note="")
    uow.commit()
    client = _as(app, buyer)
    for url in (f"/company/jobs/{job.id}/offers", f"/company/offers/{offer.id}"):
        html = _get(client, url)
        track = re.search(r'data-testid="track-record">(.*?)</dd>', html, re.S)
        assert track, url
        text = track.group(1)
        assert "5.0 / 5 (1 rating)" in text and "1 project completed" in text
        assert "Quality of the work 4.0" in text and "Timeliness 3.0" in text
        assert FEEDBACK in text and "A company in Automotive supplier" in text
        assert scene.project.contract.company.name not in html and scene.owner.full_name not in html


def test_a_new_expert_is_still_new_on_the_hub(app: Any, f: Any) -> None:
    other = f.company()
    buyer = f.company_user(other)
    job = f.job(other, status=JobStatus.PUBLISHED, created_by=buyer)
    offer = f.offer(job, f.expert(), status=OfferStatus.SUBMITTED)
    negotiations.forward_offer(offer.id, actor=f.admin(), fee_minor=50_000, note="")
    uow.commit()
    html = _get(_as(app, buyer), f"/company/offers/{offer.id}")
    track = re.search(r'data-testid="track-record">(.*?)</dd>', html, re.S)
    assert track and "New on the hub" in track.group(1) and "/ 5" not in track.group(1)


def test_the_expert_home_and_the_hub_expert_page_show_the_track_record(app: Any, f: Any, scene: Scene) -> None:
    expert_client = _as(app, scene.expert)
    html = _get(expert_client, "/expert/")
    assert 'data-testid="no-ratings"' in html and "1 project completed" in html
    _rate(scene, overall=4)
    html = _get(expert_client, "/expert/")
    assert re.search(r'data-testid="rating-average">4.0 / 5 \(1 rating\)<', html)
    assert FEEDBACK in html and scene.project.contract.company.name not in html.split('data-testid="my-ratings"')[1]

    admin = f.admin(totp_enabled_at=datetime.now(UTC))
    uow.commit()
    html = _get(_as(app, admin), f"/admin/experts/details/?id={scene.profile.id}")
    line = re.search(r'data-testid="expert-track-record">(.*?)</p>', html, re.S)
    assert line and "1 project completed" in line.group(1) and "4.0 / 5 (1 rating)" in line.group(1)
    assert "Communication 5.0" in line.group(1)
