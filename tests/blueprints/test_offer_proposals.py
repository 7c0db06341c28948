"""The expert's side of a revised version the hub proposes: the proposal next to the current version with
what would change (never the client price or the fee), confirming with the clauses, refusing with a
reason, and who may answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import JobStatus, Offer, OfferProposal, OfferStatus, OfferVersion
from app.services import negotiations, uow
from app.services.offers import CURRENT_CLAUSES, MilestoneInput, OfferInput
from tests.conftest import login

O = OfferStatus  # noqa: E741


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    company = f.company(name="Secret Molder GmbH")
    owner = f.company_user(company)
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert = f.expert()
    offer = f.offer(job, expert, status=O.IN_NEGOTIATION, milestones=(("Trial", 40), ("Report", 60)))
    f.forward(offer, fee_minor=77_700)
    admin = f.admin()
    uow.commit()
    v = offer.current_version
    data = OfferInput(solution=v.solution, price_minor=390_000, start_date=v.start_date,
                      end_date=v.end_date + timedelta(days=5), deliverables=list(v.deliverables),
                      milestones=[MilestoneInput(m.title, m.due_date, m.share_percent) for m in v.milestones])
    proposal = negotiations.propose_revision(offer.id, actor=admin, data=replace(data),
                                             note="The company asks for a lower price.")
    return {"owner": owner, "expert": expert, "offer": offer, "admin": admin, "proposal": proposal}


def page(client: FlaskClient, offer: Offer, status: int = 200) -> str:
    resp = client.get(f"/offers/{offer.id}")
    assert resp.status_code == status
    return resp.get_data(as_text=True)


def confirm_data(w: dict[str, Any], **overrides: str) -> dict[str, str]:
    data = {"confirm-proposal_id": str(w["proposal"].id), "confirm-clauses_version": CURRENT_CLAUSES.version,
            "confirm-accept_clauses": "y"}
    data.update(overrides)
    return data


def test_the_expert_sees_the_proposal_and_what_would_change(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    html = page(client, w["offer"])
    card = html.split('data-testid="proposal"')[1].split('data-testid="current-version"')[0]
    assert "The company asks for a lower price." in card
    assert "What would change: price, end date" in card
    assert "€3,900.00" in card and "now €4,200.00" in card
    assert 'data-testid="confirm-proposal-form"' in card and 'data-testid="refuse-proposal-form"' in card
    assert 'data-testid="clauses-text"' in card
    # Never the client price, the fee or the company's name.
    assert "€4,977.00" not in html and "€777.00" not in html and "Secret Molder" not in html


def test_confirming_makes_the_new_version(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    resp = client.post(f"/offers/{w['offer'].id}/proposal/confirm", data=confirm_data(w), follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "You confirmed the hub&#39;s proposal" in html
    db.session.expire_all()
    offer = db.session.get(Offer, w["offer"].id)
    assert offer.status is O.REVISED
    version = db.session.get(OfferVersion, offer.current_version_id)
    assert (version.number, version.created_by_id, version.price_minor) == (2, w["expert"].user_id, 390_000)
    assert 'data-testid="proposal"' not in html
    assert "Proposed by the hub: The company asks for a lower price." in html


def test_confirming_without_the_clauses_keeps_the_page(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    data = confirm_data(w)
    del data["confirm-accept_clauses"]
    resp = client.post(f"/offers/{w['offer'].id}/proposal/confirm", data=data)
    assert resp.status_code == 400
    assert "Accept the confidentiality and non-solicitation clauses" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Offer, w["offer"].id).status is O.IN_NEGOTIATION
    assert db.session.get(OfferProposal, w["proposal"].id).is_open


def test_refusing_with_a_reason(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    resp = client.post(f"/offers/{w['offer'].id}/proposal/refuse", data={
        "refuse-proposal_id": str(w["proposal"].id), "refuse-reason": ""})
    assert resp.status_code == 400 and "Tell the hub briefly why" in resp.get_data(as_text=True)
    resp = client.post(f"/offers/{w['offer'].id}/proposal/refuse", data={
        "refuse-proposal_id": str(w["proposal"].id), "refuse-reason": "My costs did not change."},
        follow_redirects=True)
    assert "You refused the hub&#39;s proposal" in resp.get_data(as_text=True)
    db.session.expire_all()
    proposal = db.session.get(OfferProposal, w["proposal"].id)
    assert (proposal.decision, proposal.decided_note) == ("refused", "My costs did not change.")
    assert db.session.get(Offer, w["offer"].id).status is O.IN_NEGOTIATION


def test_a_stale_page_answers_nothing(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["expert"].user)
    client.post(f"/offers/{w['offer'].id}/proposal/confirm", data=confirm_data(w))
    resp = client.post(f"/offers/{w['offer'].id}/proposal/confirm", data=confirm_data(w), follow_redirects=True)
    assert "This proposal is no longer open" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferVersion)) == 2


def test_another_expert_gets_404(client: FlaskClient, f: Any, w: dict[str, Any]) -> None:
    other = f.expert()
    uow.commit()
    login(client, other.user)
    assert client.get(f"/offers/{w['offer'].id}").status_code == 404
    assert client.post(f"/offers/{w['offer'].id}/proposal/confirm", data=confirm_data(w)).status_code == 404
    assert client.post(f"/offers/{w['offer'].id}/proposal/refuse", data={
        "refuse-proposal_id": str(w["proposal"].id), "refuse-reason": "no"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(OfferProposal, w["proposal"].id).is_open
