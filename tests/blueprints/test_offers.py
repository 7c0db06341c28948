"""The expert's invitations and offers through HTTP: who may open which page, the offer form
(new and revised) keeping what was typed, withdrawing, declining invitations, and the offer
panel on the board's job page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    InvitationKind,
    InvitationStatus,
    JobConfidentialityAcceptance,
    JobInvitation,
    JobStatus,
    Offer,
    OfferStatus,
    OfferVersion,
    VerificationStatus,
)
from app.services import offers as offer_service
from tests import factories
from tests.conftest import login

O = OfferStatus  # noqa: E741
J = JobStatus
START = datetime.now(UTC).date() + timedelta(days=5)
END = START + timedelta(days=30)


def published(**overrides: Any) -> Any:
    return factories.job(status=J.PUBLISHED, **overrides)


def accept_terms(job: Any, expert: Any) -> None:
    db.session.add(JobConfidentialityAcceptance(job_id=job.id, expert_id=expert.id, terms_version="2025-01"))
    db.session.flush()


def ready(client: Any) -> tuple[Any, Any]:
    """A published job and a logged-in expert who accepted its terms."""
    job = published()
    expert = factories.expert()
    accept_terms(job, expert)
    db.session.commit()
    login(client, expert.user)
    return job, expert


def form_data(**overrides: Any) -> dict[str, str]:
    """What a browser sends for a valid offer (two milestones)."""
    data = {
        "solution": "Scientific molding study: DOE on holding pressure.",
        "price": "4.500,50",
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "deliverables": "Root-cause report\r\n\r\nValidated process window\r\n",
        "milestones-0-title": "DOE plan",
        "milestones-0-due_date": (START + timedelta(days=5)).isoformat(),
        "milestones-0-share_percent": "30",
        "milestones-1-title": "Final report",
        "milestones-1-due_date": END.isoformat(),
        "milestones-1-share_percent": "70",
        "clauses_version": offer_service.CURRENT_CLAUSES.version,
        "accept_clauses": "y",
    }
    for n in range(2, 6):
        data.update({f"milestones-{n}-title": "", f"milestones-{n}-due_date": "", f"milestones-{n}-share_percent": ""})
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def page(client: Any, url: str) -> tuple[int, str]:
    response = client.get(url)
    return response.status_code, response.get_data(as_text=True)


def count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def flashed(client: Any, response: Any) -> str:
    """Follow a redirect and return the page (with its flashed messages)."""
    assert response.status_code == 302, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


def urls(job: Any, offer: Any, invitation: Any) -> tuple[list[str], list[tuple[str, dict[str, str]]]]:
    gets = ["/invitations", f"/jobs/{job.id}/offer", "/offers", f"/offers/{offer.id}", f"/offers/{offer.id}/revise"]
    posts = [
        (f"/invitations/{invitation.id}/decline", {"reason": "No"}),
        (f"/jobs/{job.id}/offer", form_data()),
        (f"/offers/{offer.id}/revise", form_data(change_note="x")),
        (f"/offers/{offer.id}/withdraw", {"confirm": "y"}),
    ]
    return gets, posts


# Access -------------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_login_and_refused(client):
    job = published()
    offer = factories.offer(job)
    invitation = factories.job_invitation(job, offer.expert)
    db.session.commit()
    gets, posts = urls(job, offer, invitation)
    for url in gets:
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    for url, data in posts:
        assert client.post(url, data=data).status_code == 401, url
    assert offer.status is O.SUBMITTED and count(OfferVersion) == 1
    assert invitation.status is InvitationStatus.OPEN


def test_company_users_and_admins_are_refused(client):
    job = published()
    offer = factories.offer(job)
    invitation = factories.job_invitation(job, offer.expert)
    owner = job.company.users[0]
    admin = factories.admin()
    db.session.commit()
    gets, posts = urls(job, offer, invitation)
    for user in (owner, admin):
        login(client, user)
        for url in gets:
            assert client.get(url).status_code == 403, (user.role, url)
        for url, data in posts:
            assert client.post(url, data=data).status_code == 403, (user.role, url)
    db.session.expire_all()
    assert count(Offer) == 1 and count(OfferVersion) == 1
    assert db.session.get(JobInvitation, invitation.id).status is InvitationStatus.OPEN


def test_another_experts_offer_and_invitation_are_not_found(client):
    job = published()
    offer = factories.offer(job, milestones=(("Secret plan", 100),))
    invitation = factories.job_invitation(job, offer.expert)
    intruder = factories.expert()
    accept_terms(job, intruder)
    db.session.commit()
    login(client, intruder.user)
    for url in (f"/offers/{offer.id}", f"/offers/{offer.id}/revise", "/offers/999999"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/offers/{offer.id}/revise", data=form_data(change_note="x")).status_code == 404
    assert client.post(f"/offers/{offer.id}/withdraw", data={"confirm": "y"}).status_code == 404
    assert client.post(f"/invitations/{invitation.id}/decline", data={"reason": "Mine now"}).status_code == 404
    _code, html = page(client, "/offers")
    assert "Secret plan" not in html and 'data-testid="no-offers"' in html
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status is O.SUBMITTED and count(OfferVersion) == 1
    assert db.session.get(JobInvitation, invitation.id).status is InvitationStatus.OPEN


def test_unverified_experts_cannot_open_the_offer_form(client):
    job = published()
    expert = factories.expert(VerificationStatus.PENDING_VERIFICATION)
    accept_terms(job, expert)
    db.session.commit()
    login(client, expert.user)
    assert client.get(f"/jobs/{job.id}/offer").status_code == 404
    assert client.post(f"/jobs/{job.id}/offer", data=form_data()).status_code == 404
    assert count(Offer) == 0
    code, html = page(client, "/offers")
    assert code == 200 and 'data-testid="no-offers"' in html


# Invitations --------------------------------------------------------------------------------------


def test_invitations_empty_state(client):
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/invitations")
    assert code == 200
    assert 'data-testid="no-invitations"' in html
    assert "You have no invitations yet" in html


def test_invitations_list_open_first_with_kind_status_reason_and_offer(client):
    expert = factories.expert()
    declined_job, open_job, offered_job, closed_job = (published(), published(), published(),
                                                        factories.job(status=J.CLOSED))
    declined = factories.job_invitation(declined_job, expert)
    declined.kind = InvitationKind.RECOMMENDED
    declined.status = InvitationStatus.DECLINED  # test set-up: declining is covered below
    declined.decline_reason = "Fully booked until June"
    declined.responded_at = datetime.now(UTC)
    opened = factories.job_invitation(open_job, expert)
    opened.created_at = datetime.now(UTC) - timedelta(days=9)
    offered = factories.job_invitation(offered_job, expert)
    offer = factories.offer(offered_job, expert)
    factories.job_invitation(closed_job, expert)
    factories.job_invitation(published(), factories.expert())  # someone else's
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/invitations")
    assert code == 200
    ids = [int(n) for n in re.findall(r'data-testid="invitation" data-invitation-id="(\d+)"', html)]
    assert len(ids) == 4
    assert ids[-1] == declined.id  # open ones first
    assert ids.index(offered.id) < ids.index(opened.id)  # newest first among the open ones
    assert "Recommended to you" in html and "Invited by the hub" in html
    assert "Fully booked until June" in html
    assert f'href="/jobs/{open_job.id}"' in html
    assert f'href="/offers/{offer.id}"' in html
    assert f'href="/jobs/{closed_job.id}"' not in html and 'data-testid="job-closed"' in html
    assert f'data-testid="decline-form-{opened.id}"' in html
    assert f'data-testid="decline-form-{offered.id}"' not in html  # a pending offer: withdraw instead
    assert f'data-testid="decline-form-{declined.id}"' not in html


def test_invitations_are_paginated(client):
    expert = factories.expert()
    for _ in range(21):
        factories.job_invitation(published(skills=0), expert)
    db.session.commit()
    login(client, expert.user)
    _code, first = page(client, "/invitations")
    _code, second = page(client, "/invitations?page=2")
    assert first.count('data-testid="invitation"') == 20
    assert second.count('data-testid="invitation"') == 1
    assert 'href="/invitations?page=2"' in first


def test_decline_an_invitation(client):
    job = published()
    expert = factories.expert()
    admin = factories.admin()
    invitation = factories.job_invitation(job, expert, invited_by=admin)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/invitations/{invitation.id}/decline",
                           data={"reason": "Outside my expertise", "next": "/invitations"})
    assert response.headers["Location"] == "/invitations"
    html = flashed(client, response)
    assert "You declined" in html and "Outside my expertise" in html
    db.session.expire_all()
    invitation = db.session.get(JobInvitation, invitation.id)
    assert invitation.status is InvitationStatus.DECLINED and invitation.decline_reason == "Outside my expertise"


def test_decline_from_the_job_page_returns_there_and_never_to_another_site(client):
    job, other_job = published(), published()
    expert = factories.expert()
    invitation = factories.job_invitation(job, expert)
    second = factories.job_invitation(other_job, expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/invitations/{invitation.id}/decline",
                           data={"reason": "No time", "next": f"/jobs/{job.id}"})
    assert response.headers["Location"] == f"/jobs/{job.id}"
    response = client.post(f"/invitations/{second.id}/decline",
                           data={"reason": "No time", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/invitations"


def test_decline_without_a_reason_keeps_the_page_and_the_typed_text(client):
    expert = factories.expert()
    invitation = factories.job_invitation(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/invitations/{invitation.id}/decline", data={"reason": "   "})
    assert response.status_code == 400
    assert "why you decline" in response.get_data(as_text=True)
    too_long = "Too busy this spring. " * 100
    response = client.post(f"/invitations/{invitation.id}/decline", data={"reason": too_long})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert too_long.strip() in html
    assert 'data-testid="error-reason"' in html
    db.session.expire_all()
    assert db.session.get(JobInvitation, invitation.id).status is InvitationStatus.OPEN


def test_decline_with_a_pending_offer_or_twice_is_refused_with_a_message(client):
    job = published()
    expert = factories.expert()
    invitation = factories.job_invitation(job, expert)
    offer = factories.offer(job, expert)
    db.session.commit()
    login(client, expert.user)
    html = flashed(client, client.post(f"/invitations/{invitation.id}/decline", data={"reason": "Changed my mind"}))
    assert "withdraw the offer instead" in html
    db.session.expire_all()
    assert db.session.get(JobInvitation, invitation.id).status is InvitationStatus.OPEN
    client.post(f"/offers/{offer.id}/withdraw", data={"confirm": "y"})
    client.post(f"/invitations/{invitation.id}/decline", data={"reason": "Changed my mind"})
    html = flashed(client, client.post(f"/invitations/{invitation.id}/decline", data={"reason": "Again"}))
    assert "cannot become declined" in html
    db.session.expire_all()
    assert db.session.get(JobInvitation, invitation.id).decline_reason == "Changed my mind"


# The offer form -----------------------------------------------------------------------------------


def test_offer_form_shows_the_clauses_currency_budget_and_milestone_rows(client):
    job, _expert = ready(client)
    code, html = page(client, f"/jobs/{job.id}/offer")
    assert code == 200
    assert str(offer_service.CURRENT_CLAUSES.confidentiality) in html
    assert str(offer_service.CURRENT_CLAUSES.non_solicitation)[:60] in html
    assert f'name="clauses_version" type="hidden" value="{offer_service.CURRENT_CLAUSES.version}"' in html
    assert "€5,000.00" in html and 'data-testid="currency">EUR<' in html
    assert "One deliverable per line" in html
    assert "must add up to 100 %" in html
    assert html.count("<tr data-milestone-row>") == 6
    assert 'name="accept_clauses"' in html


@pytest.mark.parametrize(("setup", "message"), [
    ("no_terms", "Accept the job&#39;s confidentiality terms first."),
    ("pending", "You already have an offer on this job"),
    ("declined", "You declined the invitation to this job."),
])
def test_offer_form_refusals_redirect_to_the_job_page(client, setup, message):
    job = published()
    expert = factories.expert()
    if setup != "no_terms":
        accept_terms(job, expert)
    if setup == "pending":
        factories.offer(job, expert)
    if setup == "declined":
        invitation = factories.job_invitation(job, expert)
        invitation.status = InvitationStatus.DECLINED
        invitation.decline_reason = "No"
    db.session.commit()
    login(client, expert.user)
    response = client.get(f"/jobs/{job.id}/offer")
    assert response.headers["Location"] == f"/jobs/{job.id}"
    assert message in flashed(client, response)
    response = client.post(f"/jobs/{job.id}/offer", data=form_data())
    assert response.status_code == 302
    assert count(Offer) == (1 if setup == "pending" else 0)


def test_offer_form_on_a_hidden_or_closed_job_is_not_found(client):
    job, expert = ready(client)
    private = published(visibility="private")
    closed = factories.job(status=J.CLOSED)
    accept_terms(private, expert)
    accept_terms(closed, expert)
    db.session.commit()
    for target in (private, closed):
        assert client.get(f"/jobs/{target.id}/offer").status_code == 404
        assert client.post(f"/jobs/{target.id}/offer", data=form_data()).status_code == 404
    assert client.get("/jobs/999999/offer").status_code == 404
    assert count(Offer) == 0


def test_send_an_offer(client):
    job, expert = ready(client)
    admin = factories.admin()
    db.session.commit()
    response = client.post(f"/jobs/{job.id}/offer", data=form_data())
    offer = db.session.scalar(sa.select(Offer))
    assert offer is not None and offer.expert_id == expert.id and offer.status is O.SUBMITTED
    assert response.headers["Location"] == f"/offers/{offer.id}"
    version = offer.current_version
    assert version.price_minor == 450_050  # "4.500,50" read as 4500.50
    assert version.deliverables == ["Root-cause report", "Validated process window"]
    assert [(m.title, m.share_percent) for m in version.milestones] == [("DOE plan", 30), ("Final report", 70)]
    assert version.terms_version == offer_service.CURRENT_CLAUSES.version
    html = flashed(client, response)
    assert "Your offer is sent to the hub" in html
    assert "€4,500.50" in html
    assert admin.id in set(db.session.scalars(sa.text("SELECT user_id FROM notifications")))


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"price": "0"}, "price", "The price must be greater than zero."),
    ({"price": "four thousand"}, "price", "Enter the price as a number"),
    ({"price": ""}, "price", "Enter your price."),
    ({"end_date": (START - timedelta(days=1)).isoformat()}, "end_date", "on or after the start date"),
    ({"start_date": "31.02.2030"}, "start_date", "Enter a valid date"),
    ({"accept_clauses": None}, "accept_clauses", "Accept the confidentiality and non-solicitation clauses"),
    ({"deliverables": " \r\n "}, "deliverables", "List at least one deliverable."),
])
def test_bad_offer_input_is_shown_next_to_the_field_and_keeps_everything_typed(client, overrides, field, message):
    job, _expert = ready(client)
    data = form_data(**overrides)
    response = client.post(f"/jobs/{job.id}/offer", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    if field == "accept_clauses":  # a checkbox: its message follows it
        error = re.search(r'name="accept_clauses"[^>]*>.*?<div class="invalid-feedback d-block">([^<]*)<', html, re.S)
    else:
        error = re.search(rf'data-testid="error-{field}">([^<]*)<', html)
    assert error is not None and message in error.group(1)
    assert "Scientific molding study: DOE on holding pressure." in html
    assert 'value="DOE plan"' in html and 'value="Final report"' in html
    assert 'value="70"' in html
    if field != "price":
        assert 'value="4.500,50"' in html or 'value="4500.50"' in html
    assert count(Offer) == 0 and count(OfferVersion) == 0


def test_milestone_errors_from_the_service_are_shown_above_the_rows(client):
    job, _expert = ready(client)
    response = client.post(f"/jobs/{job.id}/offer", data=form_data(**{"milestones-1-share_percent": "60"}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'data-testid="error-milestones">[^<]*the shares add up to 90 %, not 100 %', html)
    assert 'value="60"' in html
    response = client.post(f"/jobs/{job.id}/offer",
                           data=form_data(**{"milestones-1-due_date": (END + timedelta(days=3)).isoformat()}))
    assert response.status_code == 400
    assert "must be due between the start and the end date" in response.get_data(as_text=True)
    assert count(Offer) == 0


def test_a_bad_milestone_share_is_shown_on_its_row(client):
    job, _expert = ready(client)
    response = client.post(f"/jobs/{job.id}/offer", data=form_data(**{"milestones-0-share_percent": "130"}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-milestone-row">Enter a share from 1 to 100.' in html
    assert 'value="130"' in html
    assert count(Offer) == 0


def test_changed_clauses_must_be_accepted_again(client):
    job, _expert = ready(client)
    response = client.post(f"/jobs/{job.id}/offer", data=form_data(clauses_version="2001-01"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The clauses have changed since you opened the form" in html
    assert f'value="{offer_service.CURRENT_CLAUSES.version}"' in html and 'value="2001-01"' not in html
    assert not re.search(r'<input[^>]*checked[^>]*name="accept_clauses"', html)
    assert count(Offer) == 0


# The expert's offers ------------------------------------------------------------------------------


def test_offers_empty_state(client):
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/offers")
    assert code == 200 and "You have not made any offers yet" in html


def test_offers_list_newest_first_with_status_price_and_versions(client):
    expert = factories.expert()
    old = factories.offer(published(), expert, status=O.WITHDRAWN, submitted_at=datetime.now(UTC) - timedelta(days=4))
    new = factories.offer(published(), expert, versions=3, price_minor=100_000)
    factories.offer(published(), factories.expert())
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, "/offers")
    assert code == 200
    ids = [int(n) for n in re.findall(r'data-testid="offer-row" data-offer-id="(\d+)"', html)]
    assert ids == [new.id, old.id]
    assert "€1,200.00" in html  # the current (third) version's price
    assert 'data-testid="version-count">3<' in html
    assert "Submitted to the hub" in html and "Withdrawn" in html


def test_offers_are_paginated(client):
    expert = factories.expert()
    for _ in range(21):
        factories.offer(published(skills=0), expert)
    db.session.commit()
    login(client, expert.user)
    _code, first = page(client, "/offers")
    _code, second = page(client, "/offers?page=2")
    assert first.count('data-testid="offer-row"') == 20 and second.count('data-testid="offer-row"') == 1


def test_offer_page_shows_status_current_version_and_history(client):
    job = published()
    expert = factories.expert()
    offer = factories.offer(job, expert, versions=2, milestones=(("DOE plan", 40), ("Report", 60)))
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, f"/offers/{offer.id}")
    assert code == 200
    assert "The hub is reviewing your offer" in html and "never sees your identity" in html
    assert "Scientific molding study, version 2." in html
    assert "€4,300.00" in html and "€4,200.00" in html
    assert "DOE plan" in html and "60 %" in html
    assert "Change 2" in html  # the change note
    assert re.search(r'data-testid="changes">Changed: solution, price<', html)
    assert "version 2026-12" in html
    assert f'href="/offers/{offer.id}/revise"' in html
    assert 'data-testid="withdraw-form"' in html
    assert html.count('data-testid="version"') == 2


@pytest.mark.parametrize(("status", "change", "withdraw"), [
    (O.SUBMITTED, True, True), (O.FORWARDED, False, True), (O.IN_NEGOTIATION, True, True),
    (O.REVISED, False, True), (O.ACCEPTED, False, False), (O.WITHDRAWN, False, False),
    (O.DECLINED, False, False),
])
def test_offer_page_buttons_follow_the_status(client, status, change, withdraw):
    expert = factories.expert()
    offer = factories.offer(published(), expert, status=status)
    db.session.commit()
    login(client, expert.user)
    _code, html = page(client, f"/offers/{offer.id}")
    assert ('data-testid="change-offer"' in html) is change
    assert ('data-testid="withdraw-form"' in html) is withdraw


# Revising ---------------------------------------------------------------------------------------------


def test_revise_form_starts_from_the_current_version(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert, milestones=(("DOE plan", 100),))
    db.session.commit()
    login(client, expert.user)
    code, html = page(client, f"/offers/{offer.id}/revise")
    assert code == 200
    assert "Scientific molding study, version 1." in html
    assert 'value="4200.00"' in html
    assert "Report\nProcess window" in html
    assert 'value="DOE plan"' in html
    assert 'name="change_note"' in html
    assert "version 2" in html


def test_revise_an_offer(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/offers/{offer.id}/revise",
                           data=form_data(price="3900", change_note="Lower price, same scope"))
    assert response.headers["Location"] == f"/offers/{offer.id}"
    html = flashed(client, response)
    assert "The new version of your offer is sent to the hub." in html
    assert "Lower price, same scope" in html
    db.session.expire_all()
    offer = db.session.get(Offer, offer.id)
    assert [v.number for v in offer.versions] == [1, 2]
    assert offer.current_version.price_minor == 390_000
    assert offer.versions[0].price_minor == 420_000


def test_revise_without_a_change_note_keeps_what_was_typed(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/offers/{offer.id}/revise", data=form_data(price="3.900,00", change_note=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-change_note">Say briefly what changed in this version.' in html
    assert 'value="3.900,00"' in html or 'value="3900.00"' in html
    assert "Scientific molding study: DOE on holding pressure." in html
    assert count(OfferVersion) == 1


def test_revise_with_bad_input_from_the_service_keeps_what_was_typed(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/offers/{offer.id}/revise",
                           data=form_data(price="0", change_note="Free of charge?"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="error-price">The price must be greater than zero.' in html
    assert "Free of charge?" in html
    assert count(OfferVersion) == 1


@pytest.mark.parametrize("status", [O.FORWARDED, O.WITHDRAWN, O.ACCEPTED])
def test_revise_a_forwarded_or_decided_offer_is_refused(client, status):
    expert = factories.expert()
    offer = factories.offer(published(), expert, status=status)
    db.session.commit()
    login(client, expert.user)
    response = client.get(f"/offers/{offer.id}/revise")
    assert response.headers["Location"] == f"/offers/{offer.id}"
    assert "This offer cannot be changed now." in flashed(client, response)
    assert client.post(f"/offers/{offer.id}/revise", data=form_data(change_note="x")).status_code == 302
    assert count(OfferVersion) == 1


# Withdrawing ------------------------------------------------------------------------------------------


def test_withdraw_needs_a_confirmation_and_keeps_the_reason(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/offers/{offer.id}/withdraw", data={"reason": "Booked on another project"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Tick the box to confirm" in html and "Booked on another project" in html
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status is O.SUBMITTED


def test_withdraw_an_offer_and_twice_is_refused(client):
    expert = factories.expert()
    offer = factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    response = client.post(f"/offers/{offer.id}/withdraw", data={"reason": "Booked elsewhere", "confirm": "y"})
    assert response.headers["Location"] == f"/offers/{offer.id}"
    html = flashed(client, response)
    assert "Your offer is withdrawn" in html and "You withdrew this offer" in html and "Booked elsewhere" in html
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status is O.WITHDRAWN
    html = flashed(client, client.post(f"/offers/{offer.id}/withdraw", data={"confirm": "y"}))
    assert "cannot become withdrawn" in html


# The board's job page, navigation and home -------------------------------------------------------------


def test_job_page_asks_for_the_terms_before_an_offer(client):
    job = published()
    expert = factories.expert()
    db.session.commit()
    login(client, expert.user)
    _code, html = page(client, f"/jobs/{job.id}")
    assert 'data-testid="offer-locked"' in html and "Accept the confidentiality terms of this job" in html
    assert 'data-testid="make-offer"' not in html


def test_job_page_offers_to_make_an_offer_once_the_terms_are_accepted(client):
    job, _expert = ready(client)
    _code, html = page(client, f"/jobs/{job.id}")
    assert f'href="/jobs/{job.id}/offer" data-testid="make-offer"' in html


def test_job_page_links_the_pending_offer_instead(client):
    job, expert = ready(client)
    offer = factories.offer(job, expert, status=O.FORWARDED)
    db.session.commit()
    _code, html = page(client, f"/jobs/{job.id}")
    assert 'data-testid="make-offer"' not in html
    assert f'href="/offers/{offer.id}" data-testid="view-offer"' in html
    assert "Forwarded to the company" in html


def test_job_page_shows_the_decline_form_for_an_open_invitation(client):
    job, expert = ready(client)
    invitation = factories.job_invitation(job, expert)
    db.session.commit()
    _code, html = page(client, f"/jobs/{job.id}")
    assert f'action="/invitations/{invitation.id}/decline"' in html
    assert f'name="next" type="hidden" value="/jobs/{job.id}"' in html
    assert 'data-testid="make-offer"' in html


def test_nav_counts_open_invitations_and_home_summarises(client):
    expert = factories.expert()
    for _ in range(2):
        factories.job_invitation(published(), expert)
    factories.job_invitation(factories.job(status=J.CLOSED), expert)  # no longer open for offers
    factories.offer(published(), expert)
    db.session.commit()
    login(client, expert.user)
    _code, html = page(client, "/offers")
    assert re.search(r'data-testid="open-invitations-count"[^>]*>2<', html)
    assert 'href="/invitations" data-testid="nav-invitations"' in html
    _code, home = page(client, "/expert/")
    assert "2 open invitations" in home and "1 offer waiting for a decision" in home
