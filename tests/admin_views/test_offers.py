"""The offers queue and the offer page in the back office, through the HTTP layer: what waits and
in which order, the "all offers" tab, a constant number of SQL statements per page, every version
of an offer with what changed, the expert's match breakdown, the dashboard card and who may see it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from app.extensions import db
from app.models import ExpertProfile, Job, JobStatus, Offer, OfferStatus, User
from app.services import uow
from tests.admin_views.conftest import snapshot
from tests.conftest import login

O = OfferStatus  # noqa: E741


@contextlib.contextmanager
def count_queries() -> Iterator[list[int]]:
    """How many SQL statements run inside the block (PERFORMANCE.md §4.2)."""
    n = [0]

    def _count(*args: Any) -> None:
        n[0] += 1

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield n
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def make_offer(f: Any, job: Job | None = None, *, days_ago: int = 0, name: str = "", **kw: Any) -> Offer:
    expert = f.expert(user=f.user(full_name=name)) if name else f.expert()
    offer = f.offer(job, expert, submitted_at=datetime.now(UTC) - timedelta(days=days_ago), **kw)
    return offer


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-testid="offer-(\d+)">', html)]


def queue(client: FlaskClient, query: str = "") -> str:
    resp = client.get("/admin/offers/" + query)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


# The queue ----------------------------------------------------------------------------------


def test_the_queue_lists_waiting_offers_oldest_first(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    newer = make_offer(f, job, days_ago=1, name="Anna Schmidt", price_minor=420000)
    oldest = make_offer(f, job, days_ago=5, name="Bernd Maier", status=O.REVISED, versions=3)
    withdrawn = make_offer(f, job, days_ago=9, status=O.WITHDRAWN)
    forwarded = make_offer(f, job, days_ago=8, status=O.FORWARDED)
    uow.commit()

    html = queue(admin_client)

    assert rows(html) == [oldest.id, newer.id]
    assert withdrawn.id not in rows(html) and forwarded.id not in rows(html)
    row = re.search(rf'<tr data-testid="offer-{oldest.id}">.*?</tr>', html, re.S)
    assert row
    text = row.group(0)
    assert f'href="/admin/jobs/details/?id={job.id}"' in text and str(job) in text
    assert oldest.expert.pseudonym in text and "Bernd Maier" in text
    assert 'data-testid="price">€4,400.00<' in text  # the current (third) version's price
    assert 'data-testid="versions">3<' in text
    assert "Revised" in text
    assert re.search(r'data-testid="waiting">5 days<', text)
    assert f'href="/admin/offers/{oldest.id}"' in text


def test_the_all_tab_shows_every_status(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    waiting = make_offer(f, job, days_ago=1)
    withdrawn = make_offer(f, job, days_ago=9, status=O.WITHDRAWN)
    uow.commit()

    html = queue(admin_client, "?show=all")

    assert rows(html) == [withdrawn.id, waiting.id]
    assert "Withdrawn" in html
    assert 'class="nav-link active" href="/admin/offers/?show=all"' in html


def test_the_queue_has_an_empty_state(admin_client: FlaskClient, f: Any) -> None:
    make_offer(f, status=O.WITHDRAWN)
    uow.commit()

    html = queue(admin_client)

    assert 'data-testid="no-offers"' in html and "No offer is waiting for the hub." in html
    assert rows(html) == []


def test_the_queue_is_paginated(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    offers = [make_offer(f, job, days_ago=60 - i) for i in range(52)]
    uow.commit()

    first, second = queue(admin_client), queue(admin_client, "?page=2")

    assert rows(first) == [o.id for o in offers[:50]]
    assert rows(second) == [o.id for o in offers[50:]]
    assert 'href="/admin/offers/?page=2"' in first


def _seed(f: Any, n: int) -> None:
    for i in range(n):
        job = f.job(status=JobStatus.PUBLISHED)
        make_offer(f, job, days_ago=i % 7, versions=1 + i % 3, milestones=(("Report", 100),))
    uow.commit()


@pytest.mark.parametrize("query", ["", "?show=all"])
def test_the_queue_runs_a_constant_number_of_queries(app: Flask, f: Any, admin: User, query: str) -> None:
    counts = []
    for n in (3, 30):
        _seed(f, n if not counts else n - 3)
        client = login(app.test_client(), admin)
        client.get("/admin/offers/" + query)  # warm-up (session refresh on the first request)
        db.session.expire_all()
        with count_queries() as q:
            resp = client.get("/admin/offers/" + query)
        assert resp.status_code == 200
        assert len(rows(resp.get_data(as_text=True))) == n
        counts.append(q[0])
    assert counts[0] == counts[1], counts
    assert counts[0] <= 8, counts


# The offer page ---------------------------------------------------------------------------------


def offer_page(client: FlaskClient, offer: Offer) -> str:
    resp = client.get(f"/admin/offers/{offer.id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_the_offer_page_shows_every_version_and_what_changed(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    offer = make_offer(f, job, name="Anna Schmidt", versions=3, milestones=(("Trial", 40), ("Report", 60)))
    uow.commit()

    html = offer_page(admin_client, offer)

    assert "Anna Schmidt" in html and offer.expert.pseudonym in html
    assert f'href="/admin/experts/details/?id={offer.expert_id}"' in html
    assert f'href="/admin/matching/{job.id}" data-testid="matching-link"' in html
    assert f'href="/admin/jobs/details/?id={job.id}"' in html
    # The current version in full.
    assert 'data-testid="solution">Scientific molding study, version 3.<' in html
    assert "€4,400.00" in html
    assert "<li>Report</li>" in html and "<li>Process window</li>" in html
    milestones = re.search(r'<table[^>]*data-testid="milestones".*?</table>', html, re.S)
    assert milestones and "Trial" in milestones.group(0) and "40 %" in milestones.group(0)
    assert "€1,760.00" in milestones.group(0)  # 40 % of €4,400.00
    assert "Version 2026-12, accepted" in html
    # Every version, newest first, with what changed.
    versions = re.search(r'<table[^>]*data-testid="versions".*?</table>', html, re.S)
    assert versions
    order = re.findall(r'data-testid="version-(\d)"', versions.group(0))
    assert order == ["3", "2", "1"]
    assert versions.group(0).count("solution, price") == 2
    assert "Note: Change 3" in versions.group(0) and "first version" in versions.group(0)
    assert 'data-testid="forward-form"' in html  # a submitted offer can be forwarded from its page


def test_the_offer_page_shows_the_match_breakdown(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    other = f.expert()
    offer = make_offer(f, job)
    expert = db.session.get(ExpertProfile, offer.expert_id)
    f.match_run(job, ranked=(other, expert))
    uow.commit()

    html = offer_page(admin_client, offer)

    table = re.search(r'<table[^>]*data-testid="breakdown".*?</table>', html, re.S)
    assert table
    assert 'data-testid="match-rank">2<' in table.group(0)
    assert table.group(0).count('class="score-bar-fill score-bar-18"') == 8  # 0.9 total + 7 criteria
    assert "Skills" in table.group(0) and "weight 4" in table.group(0)


def test_the_offer_page_without_a_ranking(admin_client: FlaskClient, f: Any) -> None:
    offer = make_offer(f)
    uow.commit()

    html = offer_page(admin_client, offer)

    assert 'data-testid="no-match"' in html


def test_unknown_offer_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/offers/999999").status_code == 404


# The dashboard ------------------------------------------------------------------------------------


def test_the_dashboard_counts_offers_to_review(admin_client: FlaskClient, f: Any) -> None:
    job = f.job(status=JobStatus.PUBLISHED)
    make_offer(f, job, days_ago=3)
    make_offer(f, job, days_ago=1, status=O.REVISED)
    make_offer(f, job, days_ago=10, status=O.WITHDRAWN)
    uow.commit()

    html = admin_client.get("/admin/").get_data(as_text=True)

    card = re.search(r'data-testid="queue-offers".*?card-footer.*?</a>', html, re.S)
    assert card
    assert "Offers to review" in card.group(0)
    assert 'data-testid="queue-count">2<' in card.group(0)
    assert "oldest waiting 3 days" in card.group(0)
    assert 'href="/admin/offers/"' in card.group(0)


# Access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "company", "expert"])
def test_only_staff_see_offers(app: Flask, f: Any, who: str) -> None:
    offer = make_offer(f)
    client = app.test_client()
    if who == "company":
        login(client, f.company_user())
    elif who == "expert":  # even the expert who made the offer
        login(client, db.session.get(User, db.session.get(ExpertProfile, offer.expert_id).user_id))
    uow.commit()
    before = snapshot(app)

    for url in ("/admin/offers/", "/admin/offers/?show=all", f"/admin/offers/{offer.id}"):
        resp = client.get(url)
        if who == "anonymous":
            assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
        else:
            assert resp.status_code == 403, f"{who} {url} -> {resp.status_code}"
    assert snapshot(app) == before
