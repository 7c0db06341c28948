"""The matching screen of a job and the weights page, through the HTTP layer: the ranking with its
bars, names and exclusions, every run state, inviting from the ranking (allowed and refused),
re-ranking, the weights (saved and refused) and who may use any of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.matching.records import CRITERIA, DEFAULT_WEIGHTS
from app.models import (
    AuditEvent,
    Company,
    EmployerRelation,
    ExpertEmployer,
    ExpertProfile,
    InvitationKind,
    InvitationStatus,
    Job,
    JobInvitation,
    JobStatus,
    MatchingWeight,
    MatchResult,
    MatchRun,
    MatchRunStatus,
    Notification,
    User,
)
from app.services import uow
from tests.admin_views.conftest import flashes, snapshot
from tests.conftest import login

J = JobStatus
CONFLICT_DETAIL = "Declared former employer “Kunststoffwerk Süd” matches the company"


@dataclass
class Ranked:
    company: Company
    job: Job
    experts: list[ExpertProfile]
    conflicted: ExpertProfile
    run: MatchRun


def _expert(f: Any, name: str, pseudonym: str) -> ExpertProfile:
    user = f.user(full_name=name)
    return f.expert(user=user, pseudonym=pseudonym)


def ranked_job(f: Any, status: JobStatus = J.PUBLISHED, **run: Any) -> Ranked:
    """A job ranked by the ``match_run`` factory: three experts, one excluded for a conflict of interest."""
    company = f.company(name="Kunststoffwerk Süd GmbH")
    owner = f.company_user(company, full_name="Olga Owner")
    job = f.job(company, status=status, created_by=owner)
    experts = [
        _expert(f, "Anna Schmidt", "K7Q2"),
        _expert(f, "Bernd Maier", "M4X9"),
        _expert(f, "Carla Rossi", "P2Z8"),
    ]
    conflicted = _expert(f, "Dieter Vogel", "C0N1")
    db.session.add(ExpertEmployer(expert_id=conflicted.id, name="Kunststoffwerk Süd", relation=EmployerRelation.FORMER))
    match = f.match_run(job, ranked=tuple(experts), excluded=((conflicted, "conflict", CONFLICT_DETAIL),), **run)
    uow.commit()
    return Ranked(company, job, experts, conflicted, match)


def screen(client: FlaskClient, job: Job) -> str:
    resp = client.get(f"/admin/matching/{job.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def section(html: str, testid: str) -> str:
    match = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', html, re.S)
    assert match, f"no table {testid}"
    return match.group(0)


def invite(client: FlaskClient, job: Job, expert_ids: list[int], **extra: Any) -> Any:
    return client.post(f"/admin/matching/{job.id}/invite", data={"expert_ids": [str(i) for i in expert_ids], **extra})


def invitations(job: Job) -> list[JobInvitation]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(JobInvitation).where(JobInvitation.job_id == job.id)))


def notifications_of(expert: ExpertProfile) -> list[Notification]:
    return list(db.session.scalars(
        sa.select(Notification).where(Notification.user_id == expert.user_id).order_by(Notification.id)))


# The screen ---------------------------------------------------------------------------------


def test_the_screen_shows_the_job_and_the_completed_run(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)

    html = screen(admin_client, world.job)

    assert 'data-testid="job-title"' in html and str(world.job) in html
    assert "Kunststoffwerk Süd GmbH" in html and "Approved" in html  # the company and its verification
    assert 'data-testid="skills"' in html and world.job.skills[0].term.name in html
    assert "€5,000.00" in html  # the budget
    summary = section(html, "run-summary")
    assert re.search(r'data-testid="run-considered">4<', summary)
    assert "Conflict of interest: 1" in summary
    assert "1.5 ms" in summary
    assert "Skills: 4" in summary and "Job title &amp; expertise: 2" in summary
    assert '<meta http-equiv="refresh"' not in html


def test_the_ranking_shows_names_bars_and_weights(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)

    table = section(screen(admin_client, world.job), "ranking")

    rows = re.findall(r'<tr data-testid="ranked-(\d+)">', table)
    assert rows == [str(e.id) for e in world.experts]  # in rank order
    first = world.experts[0]
    assert "K7Q2" in table and "Anna Schmidt" in table  # the hub sees pseudonym and name
    assert f'href="/admin/experts/details/?id={first.id}"' in table
    # Every criterion has a heading with its weight and a bar per expert; rank 1 scores 0.95 (95 %).
    for criterion in CRITERIA:
        weight = f"{DEFAULT_WEIGHTS[criterion]:g}"
        assert re.search(rf'data-testid="weight-{criterion}">weight {re.escape(weight)}<', table), criterion
    assert table.count('data-testid="bar-skills"') == 3
    assert 'class="score-bar-fill score-bar-19"' in table and "95 %" in table
    assert "style=" not in table  # widths are classes: no inline style
    # Published job: every ranked expert can be ticked.
    assert all(f'data-testid="invite-{e.id}"' in table for e in world.experts)


def test_the_explanation_is_readable(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)
    skill = world.job.skills[0].term
    result = db.session.scalar(sa.select(MatchResult).where(MatchResult.expert_id == world.experts[0].id))
    assert result is not None
    result.details = {
        "matched_terms": [skill.id],
        "missing_terms": [],
        "estimated_price_minor": 360000,
        "days_late": 3,
        "currency_mismatch": False,
        "language_gaps": {"de": {"level": "B1", "required": "C1"}},
        "something_new": 7,
    }
    uow.commit()

    table = section(screen(admin_client, world.job), "ranking")

    assert f"<dt>Has</dt><dd>{skill.name}</dd>" in table  # term ids become names
    assert "<dt>Estimated price</dt><dd>€3,600.00</dd>" in table
    assert "<dt>Days late for the start</dt><dd>3</dd>" in table
    assert "<dt>Language gaps</dt><dd>DE: B1, needs C1</dd>" in table
    assert "<dt>something new</dt><dd>7</dd>" in table  # unknown keys still shown
    assert f'title="Skills: Has: {skill.name}; Missing: —"' in table  # the bar's tooltip


def test_the_conflicted_expert_is_excluded_with_the_reason(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)

    html = screen(admin_client, world.job)

    excluded = section(html, "excluded")
    row = re.search(rf'<tr data-testid="excluded-{world.conflicted.id}">.*?</tr>', excluded, re.S)
    assert row
    assert "C0N1" in row.group(0) and "Dieter Vogel" in row.group(0)
    assert 'data-testid="reason">Conflict of interest<' in row.group(0)
    assert "Declared former employer “Kunststoffwerk Süd” matches the company" in row.group(0)
    assert "90 %" in row.group(0)  # the score they would have had
    assert f"invite-{world.conflicted.id}" not in section(html, "ranking")


def test_invitation_and_offer_columns(admin_client: FlaskClient, f: Any, admin: User) -> None:
    world = ranked_job(f)
    a, b, c = world.experts
    f.job_invitation(world.job, a, invited_by=admin)
    recommended = f.job_invitation(world.job, b)
    recommended.kind = InvitationKind.RECOMMENDED
    declined = f.job_invitation(world.job, c)
    declined.status = InvitationStatus.DECLINED
    declined.decline_reason = "Fully booked until spring"
    offer = f.offer(world.job, b)
    uow.commit()

    table = section(screen(admin_client, world.job), "ranking")

    def row(expert: ExpertProfile) -> str:
        found = re.search(rf'<tr data-testid="ranked-{expert.id}">.*?</tr>', table, re.S)
        assert found
        return found.group(0)

    assert 'data-testid="invitation">Invited<' in row(a) and f"invite-{a.id}" not in row(a)
    assert 'data-testid="invitation">Recommended<' in row(b) and f"invite-{b.id}" in row(b)
    assert "Declined: Fully booked until spring" in row(c) and f"invite-{c.id}" not in row(c)
    assert f'href="/admin/offers/{offer.id}"' in row(b) and "Submitted" in row(b)
    assert re.search(r'data-testid="offer">\s*—\s*<', row(a))


def test_a_job_under_review_shows_the_ranking_without_invitations(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f, J.PENDING_REVIEW)

    html = screen(admin_client, world.job)

    assert 'data-testid="invite-note"' in html
    assert "experts are invited when it is published" in html
    assert 'data-testid="invite-selected"' not in html and 'name="expert_ids"' not in html
    assert "K7Q2" in section(html, "ranking")
    assert 'data-testid="rerank"' in html


@pytest.mark.parametrize("status", [MatchRunStatus.QUEUED, MatchRunStatus.RUNNING])
def test_a_run_in_progress_refreshes_the_page(admin_client: FlaskClient, f: Any, status: MatchRunStatus) -> None:
    company = f.company()
    job = f.job(company, status=J.PUBLISHED)
    f.match_run(job, status=status, started_at=datetime.now(UTC) if status is MatchRunStatus.RUNNING else None)
    uow.commit()

    html = screen(admin_client, job)

    assert '<meta http-equiv="refresh" content="3">' in html
    assert 'data-testid="in-progress"' in html
    expected = "waits for a worker" if status is MatchRunStatus.QUEUED else "being ranked"
    assert expected in html
    assert 'data-testid="ranking"' not in html  # nothing completed yet
    assert "<script>" not in html  # CSP: no inline script


def test_a_run_in_progress_keeps_the_previous_ranking_visible(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)
    f.match_run(world.job, status=MatchRunStatus.QUEUED)
    uow.commit()

    html = screen(admin_client, world.job)

    assert '<meta http-equiv="refresh" content="3">' in html
    assert "the last completed ranking" in html
    assert "K7Q2" in section(html, "ranking")


def test_a_failed_run_shows_the_error(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=J.PUBLISHED)
    f.match_run(job, status=MatchRunStatus.FAILED, error="IndexError: no experts loaded", finished_at=datetime.now(UTC))
    uow.commit()

    html = screen(admin_client, job)

    assert 'data-testid="failed"' in html
    assert re.search(r'data-testid="run-error">IndexError: no experts loaded<', html)
    assert '<meta http-equiv="refresh"' not in html
    assert 'data-testid="rerank"' in html


def test_a_job_never_ranked_has_an_empty_state_with_the_button(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=J.PUBLISHED)
    uow.commit()

    html = screen(admin_client, job)

    assert 'data-testid="never-ranked"' in html
    assert 'data-testid="rerank"' in html
    assert 'data-testid="ranking"' not in html and 'data-testid="excluded"' not in html


def test_unknown_job_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/matching/999999").status_code == 404


# Inviting -------------------------------------------------------------------------------------


def test_inviting_two_experts_creates_two_invitations_and_notifications(
    admin_client: FlaskClient, f: Any, admin: User
) -> None:
    world = ranked_job(f)
    a, b, c = world.experts

    resp = invite(admin_client, world.job, [a.id, b.id], run_id=str(world.run.id))

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/admin/matching/{world.job.id}")
    rows = {i.expert_id: i for i in invitations(world.job)}
    assert set(rows) == {a.id, b.id}
    assert all(i.invited_by_id == admin.id and i.match_run_id == world.run.id for i in rows.values())
    assert all(i.kind is InvitationKind.INVITED for i in rows.values())
    assert [n.kind for n in notifications_of(a)] == ["job.invited"]
    assert [n.kind for n in notifications_of(b)] == ["job.invited"]
    assert notifications_of(c) == []
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "job.expert_invited")).all()
    assert len(events) == 2
    html = admin_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2 expert(s) invited and notified." in flashes(html)
    assert html.count('data-testid="invitation">Invited<') == 2


def test_inviting_a_conflicted_expert_is_refused_and_nothing_is_saved(
    app: Flask, admin_client: FlaskClient, f: Any
) -> None:
    world = ranked_job(f)
    a = world.experts[0]
    before = snapshot(app)

    resp = invite(admin_client, world.job, [a.id, world.conflicted.id])

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    message = " ".join(flashes(html))
    assert "Nobody was invited" in message and "conflict of interest" in message and "C0N1" in message
    assert snapshot(app) == before
    # The selection is kept: the expert the admin ticked is still ticked.
    assert re.search(rf'value="{a.id}" id="invite-{a.id}"\s+checked', html)


def test_inviting_an_already_invited_expert_is_refused(app: Flask, admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)
    a, b, _c = world.experts
    f.job_invitation(world.job, a)
    uow.commit()
    before = snapshot(app)

    resp = invite(admin_client, world.job, [a.id, b.id])

    assert resp.status_code == 400
    assert "K7Q2 is already invited" in " ".join(flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


def test_inviting_nobody_is_refused(app: Flask, admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)
    before = snapshot(app)

    resp = invite(admin_client, world.job, [])

    assert resp.status_code == 400
    assert "Choose at least one expert to invite." in flashes(resp.get_data(as_text=True))
    assert snapshot(app) == before


def test_inviting_to_a_job_under_review_is_refused(app: Flask, admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f, J.PENDING_REVIEW)
    before = snapshot(app)

    resp = invite(admin_client, world.job, [world.experts[0].id])

    assert resp.status_code == 409
    assert "Experts are invited to published jobs (or when publishing)." in flashes(resp.get_data(as_text=True))
    assert snapshot(app) == before


# Re-ranking -----------------------------------------------------------------------------------


def test_rerank_creates_a_run(admin_client: FlaskClient, f: Any, admin: User) -> None:
    world = ranked_job(f)

    resp = admin_client.post(f"/admin/matching/{world.job.id}/rerank")

    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/admin/matching/{world.job.id}")
    db.session.expire_all()
    runs = db.session.scalars(sa.select(MatchRun).where(MatchRun.job_id == world.job.id).order_by(MatchRun.id)).all()
    assert len(runs) == 2
    new = runs[-1]
    assert new.requested_by_id == admin.id and new.trigger.value == "manual"
    # Tasks run inline in tests: the engine may already have finished (or failed, while it is being written).
    assert new.status in (MatchRunStatus.QUEUED, MatchRunStatus.COMPLETED, MatchRunStatus.FAILED)
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "match_run.queued")) is not None
    html = admin_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert any("A new ranking was queued" in m for m in flashes(html))


def test_rerank_of_a_closed_job_is_refused(app: Flask, admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=J.CLOSED)
    uow.commit()
    before = snapshot(app)

    resp = admin_client.post(f"/admin/matching/{job.id}/rerank", follow_redirects=True)

    assert any("not for a closed job" in m for m in flashes(resp.get_data(as_text=True)))
    assert snapshot(app) == before


# Weights ----------------------------------------------------------------------------------------


def weights_form(**changes: str) -> dict[str, str]:
    values = {c: f"{DEFAULT_WEIGHTS[c]:g}" for c in CRITERIA}
    values.update(changes)
    return values


def test_the_weights_page_shows_every_criterion(admin_client: FlaskClient) -> None:
    resp = admin_client.get("/admin/matching/weights/")

    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for criterion in CRITERIA:
        assert re.search(
            rf'<input[^>]*id="{criterion}"[^>]*max="10"[^>]*min="0"[^>]*step="0.5"[^>]*type="number"'
            rf'[^>]*value="{DEFAULT_WEIGHTS[criterion]:g}"',
            html,
        ), criterion
    assert "required skills, processes and materials" in html  # the one-line explanation
    assert "apply to the next ranking" in html and 'href="/admin/matching/"' in html


def test_saving_valid_weights(admin_client: FlaskClient, admin: User) -> None:
    resp = admin_client.post("/admin/matching/weights/", data=weights_form(skills="6.5", text="0"))

    assert resp.status_code == 302
    saved = {w.criterion: w.weight for w in db.session.scalars(sa.select(MatchingWeight))}
    assert saved["skills"] == 6.5 and saved["text"] == 0.0 and saved["title"] == 2.0
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "matching.weights_changed"))
    assert event is not None and event.actor_id == admin.id
    assert event.data["after"]["skills"] == 6.5 and event.data["before"]["skills"] == 4.0
    html = admin_client.get("/admin/matching/weights/").get_data(as_text=True)
    assert any("Weights saved" in m for m in flashes(html))
    assert re.search(r'id="skills"[^>]*value="6.5"', html)


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("skills", "11", "Enter a number between 0 and 10."),
        ("price", "-1", "Enter a number between 0 and 10."),
        ("title", "abc", "Enter a number between 0 and 10."),
        ("languages", "", "Enter a weight (0 turns the criterion off)."),
    ],
)
def test_invalid_weights_are_refused_and_kept(
    app: Flask, admin_client: FlaskClient, field: str, typed: str, message: str
) -> None:
    before = snapshot(app)

    resp = admin_client.post("/admin/matching/weights/", data=weights_form(**{field: typed, "experience": "3.5"}))

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    errors = re.findall(rf'data-testid="error-{field}">([^<]*)<', html)
    assert errors == [message]  # one message, next to the field
    assert re.search(rf'id="{field}"[^>]*value="{re.escape(typed)}"', html)  # what was typed is kept
    assert re.search(r'id="experience"[^>]*value="3.5"', html)  # and the other values too
    assert snapshot(app) == before


def test_all_zero_weights_are_refused(app: Flask, admin_client: FlaskClient) -> None:
    before = snapshot(app)

    resp = admin_client.post("/admin/matching/weights/", data={c: "0" for c in CRITERIA})

    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    errors = re.findall(r'data-testid="error-skills">([^<]*)<', html)
    assert errors == ["At least one criterion needs a weight above 0."]
    assert re.search(r'id="title"[^>]*value="0"', html)
    assert snapshot(app) == before


def test_the_views_are_in_the_jobs_menu(admin_client: FlaskClient) -> None:
    html = admin_client.get("/admin/").get_data(as_text=True)

    assert 'href="/admin/matching/weights/"' in html
    assert 'href="/admin/matching/"' in html
    assert 'href="/admin/offers/"' in html


def test_the_job_review_page_links_to_the_matching_screen(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=J.PENDING_REVIEW)
    uow.commit()

    html = admin_client.get(f"/admin/jobs/details/?id={job.id}").get_data(as_text=True)

    assert re.search(rf'href="/admin/matching/{job.id}" data-testid="matching-link"', html)


def test_the_rankings_list_links_each_run(admin_client: FlaskClient, f: Any) -> None:
    world = ranked_job(f)

    html = admin_client.get("/admin/matching/").get_data(as_text=True)

    assert f'href="/admin/matching/{world.job.id}"' in html and "Completed" in html


# Access ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "company", "expert"])
def test_only_staff_use_the_matching_pages(app: Flask, f: Any, who: str) -> None:
    world = ranked_job(f)
    client = app.test_client()
    if who == "company":
        login(client, f.company_user(world.company))
    elif who == "expert":
        login(client, db.session.get(User, world.experts[0].user_id))
    uow.commit()
    before = snapshot(app)
    job_id = world.job.id
    requests = [
        ("GET", f"/admin/matching/{job_id}"),
        ("GET", "/admin/matching/"),
        ("GET", "/admin/matching/weights/"),
        ("POST", "/admin/matching/weights/"),
        ("POST", f"/admin/matching/{job_id}/invite"),
        ("POST", f"/admin/matching/{job_id}/rerank"),
    ]
    for method, url in requests:
        data = weights_form(skills="9") if "weights" in url else {"expert_ids": [str(world.experts[0].id)]}
        resp = client.open(url, method=method, data=data if method == "POST" else None)
        if who == "anonymous":
            assert resp.status_code in (302, 401), f"{method} {url} -> {resp.status_code}"
            if resp.status_code == 302:
                assert "/login" in resp.headers["Location"]
        else:
            assert resp.status_code == 403, f"{who} {method} {url} -> {resp.status_code}"
    assert snapshot(app) == before


def test_the_screen_runs_a_constant_number_of_queries(app: Flask, f: Any, admin: User) -> None:
    from tests.admin_views.test_offers import count_queries

    counts = []
    for n in (3, 30):
        job = f.job(status=J.PUBLISHED, skills=2)
        experts = [f.expert() for _ in range(n)]
        for e in experts[: n // 3]:
            f.job_invitation(job, e, invited_by=admin)
            f.offer(job, e)
        f.match_run(job, ranked=tuple(experts[1:]), excluded=((experts[0], "language", "Needs DE C1"),))
        uow.commit()
        client = login(app.test_client(), admin)
        client.get(f"/admin/matching/{job.id}")  # warm-up
        db.session.expire_all()
        with count_queries() as q:
            resp = client.get(f"/admin/matching/{job.id}")
        assert resp.status_code == 200
        assert resp.get_data(as_text=True).count('data-testid="bar-skills"') == n - 1
        counts.append(q[0])
    assert counts[0] == counts[1], counts
