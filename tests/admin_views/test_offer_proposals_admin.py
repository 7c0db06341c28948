"""The hub proposes a revised version to the expert from the offer page: the form pre-filled from the
current version, local price formats, errors next to their fields, the open proposal and its fate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import JobStatus, Offer, OfferProposal, OfferStatus
from app.services import negotiations, uow
from app.services.offers import CURRENT_CLAUSES
from tests.conftest import login

O = OfferStatus  # noqa: E741


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    company = f.company()
    owner = f.company_user(company)
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert = f.expert()
    offer = f.offer(job, expert, status=O.IN_NEGOTIATION, milestones=(("Trial", 40), ("Report", 60)))
    f.forward(offer)
    uow.commit()
    return {"owner": owner, "job": job, "expert": expert, "offer": offer}


def form_data(offer: Offer, **overrides: str) -> dict[str, str]:
    v = offer.current_version
    assert v is not None
    data = {
        "solution": v.solution,
        "price": "3.950,50",
        "start_date": (v.start_date - timedelta(days=3)).isoformat(),
        "end_date": v.end_date.isoformat(),
        "deliverables": "Report\nProcess window\nTraining",
        "note": "The company asks for a training session.",
    }
    for i, m in enumerate(v.milestones):
        data[f"milestones-{i}-title"] = m.title
        data[f"milestones-{i}-due_date"] = m.due_date.isoformat()
        data[f"milestones-{i}-share_percent"] = str(m.share_percent)
    data.update(overrides)
    return data


def test_the_form_starts_from_the_current_version(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    html = admin_client.get(f"/admin/offers/{w['offer'].id}").get_data(as_text=True)
    form = html.split('data-testid="propose-form"')[1].split("</form>")[0]
    assert "Scientific molding study, version 1." in form
    assert 'name="price" type="text" value="4200.00"' in form or 'value="4200.00"' in form
    assert "Report\nProcess window</textarea>" in form
    assert 'name="milestones-0-title" type="text" value="Trial"' in form


def test_proposing_shows_the_open_proposal(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    offer = w["offer"]
    resp = admin_client.post(f"/admin/offers/{offer.id}/propose", data=form_data(offer), follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Proposal sent to the expert" in html
    proposal = db.session.scalars(sa.select(OfferProposal)).one()
    assert (proposal.price_minor, proposal.deliverables) == (395_050, ["Report", "Process window", "Training"])
    assert f'data-testid="proposal-{proposal.id}"' in html and "waiting for the expert" in html
    assert "Would change: price, start date, deliverables" in html
    assert 'data-testid="propose-form"' not in html and 'data-testid="no-propose"' in html
    assert db.session.get(Offer, offer.id).status is O.IN_NEGOTIATION


def test_the_fate_of_a_proposal_is_shown(admin_client: FlaskClient, w: dict[str, Any], admin: Any) -> None:
    offer = w["offer"]
    admin_client.post(f"/admin/offers/{offer.id}/propose", data=form_data(offer))
    proposal = db.session.scalars(sa.select(OfferProposal)).one()
    negotiations.refuse_proposal(proposal.id, actor=w["expert"].user, reason="Not before March.")
    html = admin_client.get(f"/admin/offers/{offer.id}").get_data(as_text=True)
    assert "refused by the expert" in html and "Reason: Not before March." in html
    assert 'data-testid="propose-form"' in html  # the hub may propose again
    admin_client.post(f"/admin/offers/{offer.id}/propose", data=form_data(offer, note="Second try"))
    second = db.session.scalars(sa.select(OfferProposal).where(OfferProposal.decision == "")).one()
    negotiations.confirm_proposal(second.id, actor=w["expert"].user, accept_clauses=True,
                                  clauses_version=CURRENT_CLAUSES.version)
    html = admin_client.get(f"/admin/offers/{offer.id}").get_data(as_text=True)
    assert "confirmed by the expert" in html and "version 2." in html


def test_bad_input_is_shown_next_to_the_fields(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    offer = w["offer"]
    resp = admin_client.post(f"/admin/offers/{offer.id}/propose",
                             data=form_data(offer, price="vier", note=""))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'data-testid="error-price"' in html and 'data-testid="error-note"' in html
    assert 'value="Trial"' in html  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferProposal)) == 0


def test_service_rules_come_back_under_the_fields(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    offer = w["offer"]
    resp = admin_client.post(f"/admin/offers/{offer.id}/propose",
                             data=form_data(offer, **{"milestones-1-share_percent": "50"}))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'data-testid="error-milestones"' in html and "not 100" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferProposal)) == 0


def test_no_proposal_outside_negotiation(admin_client: FlaskClient, f: Any, w: dict[str, Any]) -> None:
    offer = f.offer(w["job"], f.expert())
    uow.commit()
    html = admin_client.get(f"/admin/offers/{offer.id}").get_data(as_text=True)
    assert 'data-testid="propose-form"' not in html
    resp = admin_client.post(f"/admin/offers/{offer.id}/propose", data=form_data(offer), follow_redirects=True)
    assert "Only an offer in negotiation can be revised" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferProposal)) == 0


def test_the_expert_cannot_post_the_hub_form(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    resp = client.post(f"/admin/offers/{w['offer'].id}/propose", data=form_data(w["offer"]))
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferProposal)) == 0
