"""The disputes tab over HTTP: the page per side, "Open a dispute" (errors keep what was typed), the decision shown."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Dispute, DisputeDecision, DisputeStatus, ProjectStatus, User
from app.services import disputes, uow
from app.services.release import ReleaseParts
from tests.conftest import login
from tests.services.test_disputes import Scene, add_delivery, add_qc, make_scene, open_one, reload


@pytest.fixture
def scene(f: Any) -> Scene:
    return make_scene(f)


def _as(app: Any, user: User) -> Any:
    return login(app.test_client(), user)


def _url(s: Scene) -> str:
    return f"/projects/{s.project.id}/disputes"


def _page(client: Any, s: Scene, status: int = 200) -> str:
    response = client.get(_url(s))
    assert response.status_code == status, response.status_code
    return text(response)


def text(response: Any) -> str:
    """The page without tags between words (whitespace collapsed), for reading sentences."""
    html = unescape(response.get_data(as_text=True))
    return html + "\n" + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_company_sees_an_empty_state_and_the_form(app, scene):
    html = _page(_as(app, scene.owner), scene)
    assert 'data-testid="no-disputes"' in html and 'data-testid="open-dispute-form"' in html
    assert "The project as a whole" in html and 'data-testid="no-refunds"' in html


def test_every_member_reads_the_page_and_outsiders_get_404(app, f, scene):
    qc = add_qc(scene.project)
    assert 'data-testid="open-dispute-form"' in _page(_as(app, scene.expert), scene)
    qc_html = _page(_as(app, qc.expert.user), scene)
    assert 'data-testid="open-dispute-form"' not in qc_html and "Only the company and the expert" in qc_html
    hub_html = _page(_as(app, scene.hub), scene)
    assert 'data-testid="hub-panel"' in hub_html and 'data-testid="open-dispute-form"' not in hub_html
    stranger = f.company_user(f.company())
    uow.commit()
    _page(_as(app, stranger), scene, status=404)
    assert app.test_client().get(_url(scene)).status_code in (302, 401)


def test_opening_a_dispute_on_a_delivery_freezes_the_release(app, scene):
    delivery = add_delivery(scene.project, scene.expert)
    client = _as(app, scene.owner)
    html = _page(client, scene)
    assert f'<option selected value="{delivery.id}">Delivery 1</option>' in html
    response = client.post(_url(scene), data={"delivery_id": str(delivery.id),
                                              "reason": "Chapter 3 of the report is missing."})
    assert response.status_code == 302 and response.headers["Location"].endswith(_url(scene))
    [dispute] = db.session.scalars(sa.select(Dispute)).all()
    assert dispute.delivery_id == delivery.id and dispute.opened_by_id == scene.owner.id
    assert reload(scene.project).status is ProjectStatus.DISPUTED

    html = _page(client, scene)
    assert "The dispute is open." in html and "Open: the release is frozen" in html
    assert "About delivery 1" in html and "Chapter 3 of the report is missing." in html
    assert f"Opened by {scene.owner.full_name} (you)" in html
    assert 'data-testid="open-dispute-form"' not in html and "already open" in html
    # The expert reads who opened it; the company reads the expert by pseudonym only.
    assert f"Opened by {scene.owner.full_name}" in _page(_as(app, scene.expert), scene)


def test_a_second_dispute_is_refused_with_the_reason(app, scene):
    open_one(scene)
    response = _as(app, scene.expert).post(_url(scene), data={"delivery_id": "0", "reason": "Me too"})
    assert response.status_code == 409
    assert "already open" in unescape(response.get_data(as_text=True))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Dispute)) == 1


@pytest.mark.parametrize("reason, message", [("", "Explain what the dispute is about"),
                                             ("y" * 5001, "under 5000 characters")])
def test_a_bad_reason_is_shown_next_to_the_field_and_keeps_the_choice(app, scene, reason, message):
    delivery = add_delivery(scene.project, scene.expert)
    response = _as(app, scene.owner).post(_url(scene), data={"delivery_id": "0", "reason": reason})
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert message in html and 'data-testid="form-errors"' in html
    assert '<option selected value="0">The project as a whole</option>' in html
    assert f'<option value="{delivery.id}">Delivery 1</option>' in html
    if reason:
        assert reason in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Dispute)) == 0


def test_the_hub_cannot_open_one_over_http(app, scene):
    response = _as(app, scene.hub).post(_url(scene), data={"delivery_id": "0", "reason": "Hub"})
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Dispute)) == 0


def test_a_stranger_posting_gets_404(app, f, scene):
    stranger = f.expert().user
    uow.commit()
    response = _as(app, stranger).post(_url(scene), data={"delivery_id": "0", "reason": "x"})
    assert response.status_code == 404


def test_each_side_reads_the_decision_in_its_own_figures(app, scene):
    dispute = open_one(scene, by=scene.expert, reason="The company changed the brief.")
    disputes.decide_dispute(dispute.id, actor=scene.hub, decision=DisputeDecision.SPLIT,
                            reason="The first half was delivered as agreed.",
                            release=ReleaseParts(expert_minor=150000, qc_minor=0, hub_minor=30000),
                            refund_minor=280000)
    uow.commit()
    assert reload(dispute).status is DisputeStatus.DECIDED

    company = _page(_as(app, scene.owner), scene)
    assert "Decision of Plasticonnect Hub: Split" in company
    assert "Released: €1,800.00 · Refunded to the company: €2,800.00" in company
    assert "The first half was delivered as agreed." in company
    assert f"Opened by Expert {scene.project.contract.expert.pseudonym}" in company
    assert scene.expert.full_name not in company  # anonymity: never the expert's real name
    assert 'data-testid="refund-' in company and "€2,800.00" in company
    assert "This project is closed" in company and 'data-testid="open-dispute-form"' not in company

    expert = _page(_as(app, scene.expert), scene)
    assert "Paid to you for this project: €1,500.00" in expert
    assert "€1,800.00" not in expert and 'data-testid="refunds"' not in expert  # no fee, no refunds
