"""The hub's side of negotiation through HTTP: the fee preview computed on the page, forwarding with a
percentage or a fixed fee, declining with a reason, the two threads side by side with attachments, the
forwarded versions with their client prices, the job comparison page, and who may use them."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import JobStatus, NegotiationMessage, Notification, Offer, OfferForward, OfferStatus, ThreadSide
from app.services import negotiations, uow
from tests.conftest import login

O = OfferStatus  # noqa: E741


@pytest.fixture
def w(f: Any) -> dict[str, Any]:
    company = f.company()
    owner = f.company_user(company)
    job = f.job(company, status=JobStatus.PUBLISHED, created_by=owner)
    expert = f.expert(user=f.user(full_name="Anna Schmidt"))
    offer = f.offer(job, expert, milestones=(("Trial", 40), ("Report", 60)))
    uow.commit()
    return {"owner": owner, "job": job, "expert": expert, "offer": offer}


def html_of(client: FlaskClient, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status
    return resp.get_data(as_text=True)


def test_the_offer_page_previews_the_default_fee(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    html = html_of(admin_client, f"/admin/offers/{w['offer'].id}")
    assert 'data-testid="forward-form"' in html and 'data-testid="decline-form"' in html
    assert 'name="fee_percent" type="text" value="15"' in html
    assert 'data-testid="preview-expert">€4,200.00<' in html
    assert 'data-testid="preview-fee">€630.00<' in html
    assert 'data-testid="preview-client">€4,830.00<' in html
    assert "the company sees this" in html and "the expert sees this" in html
    assert "<script>" not in html.split('data-testid="forward-form"')[1].split("</form>")[0]


def test_preview_recomputes_without_saving(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/forward",
                             data={"fee_mode": "fixed", "fee_amount": "500", "action": "preview"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'data-testid="preview-fee">€500.00<' in html and 'data-testid="preview-client">€4,700.00<' in html
    assert 'value="500"' in html  # what was typed is kept
    assert db.session.get(Offer, w["offer"].id).status is O.SUBMITTED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferForward)) == 0


def test_forward_with_a_percentage(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/forward",
                             data={"fee_mode": "percent", "fee_percent": "12.5", "note": "Good fit",
                                   "action": "forward"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Forwarded to the company at a client price of €4,725.00" in html
    fwd = db.session.scalars(sa.select(OfferForward)).one()
    assert (fwd.fee_minor, fwd.fee_basis_points, fwd.note_to_company) == (52_500, 1250, "Good fit")
    table = re.search(r'data-testid="forwards".*?</table>', html, re.S)
    assert table and "€4,725.00" in table.group(0) and "12.5 %" in table.group(0)
    assert 'data-testid="no-decision"' in html
    assert db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == w["owner"].id)).all() == [
        "offer.forwarded_to_company"]


def test_forward_with_a_negative_fee_is_refused_and_keeps_the_input(admin_client: FlaskClient,
                                                                   w: dict[str, Any]) -> None:
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/forward",
                             data={"fee_mode": "percent", "fee_percent": "-3", "action": "forward"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "The fee cannot be negative." in html and 'value="-3"' in html
    assert db.session.get(Offer, w["offer"].id).status is O.SUBMITTED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfferForward)) == 0


def test_forward_on_a_closed_job_is_flashed(admin_client: FlaskClient, f: Any, w: dict[str, Any]) -> None:
    offer = f.offer(f.job(status=JobStatus.CLOSED), f.expert())
    uow.commit()
    resp = admin_client.post(f"/admin/offers/{offer.id}/forward", data={"fee_mode": "percent", "fee_percent": "15",
                                                                         "action": "forward"}, follow_redirects=True)
    assert "no longer open" in resp.get_data(as_text=True)
    assert db.session.get(Offer, offer.id).status is O.SUBMITTED


def test_decline_needs_a_reason(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/decline", data={"reason": ""})
    assert resp.status_code == 400 and db.session.get(Offer, w["offer"].id).status is O.SUBMITTED
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/decline", data={"reason": "Outside the scope"},
                             follow_redirects=True)
    assert "Declined. The expert is told why." in resp.get_data(as_text=True)
    offer = db.session.get(Offer, w["offer"].id)
    assert offer.status is O.DECLINED and offer.status_note == "Outside the scope"


def test_the_two_threads_side_by_side(admin_client: FlaskClient, admin: Any, w: dict[str, Any]) -> None:
    negotiations.forward_offer(w["offer"].id, actor=admin)
    negotiations.post_message(w["offer"].id, actor=w["owner"], side=ThreadSide.COMPANY, body="FROM-COMPANY")
    negotiations.post_message(w["offer"].id, actor=w["expert"].user, side=ThreadSide.EXPERT, body="FROM-EXPERT")

    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/messages/expert",
                             data={"expert-body": "Relaying: can you start earlier?",
                                   "expert-attachment": (io.BytesIO(b"x,y\n1,2\n"), "plan.csv")},
                             content_type="multipart/form-data")
    assert resp.status_code == 302
    html = html_of(admin_client, f"/admin/offers/{w['offer'].id}")
    company = re.search(r'data-testid="thread-company".*?</form>', html, re.S)
    expert = re.search(r'data-testid="thread-expert".*?</form>', html, re.S)
    assert company and expert
    assert "FROM-COMPANY" in company.group(0) and "FROM-EXPERT" not in company.group(0)
    assert "FROM-EXPERT" in expert.group(0) and "Relaying: can you start earlier?" in expert.group(0)
    assert "plan.csv" in expert.group(0)
    message = db.session.scalars(sa.select(NegotiationMessage).where(NegotiationMessage.storage_key.is_not(None))).one()
    assert message.side is ThreadSide.EXPERT
    assert admin_client.get(f"/offers/messages/{message.id}/file").data == b"x,y\n1,2\n"
    kinds = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == w["expert"].user_id)).all()
    assert kinds[-1] == "negotiation.message_to_expert"


def test_an_empty_thread_message_is_refused(admin_client: FlaskClient, w: dict[str, Any]) -> None:
    resp = admin_client.post(f"/admin/offers/{w['offer'].id}/messages/company", data={"company-body": ""})
    assert resp.status_code == 400 and 'data-testid="error-body-company"' in resp.get_data(as_text=True)
    assert admin_client.post(f"/admin/offers/{w['offer'].id}/messages/nope", data={}).status_code == 404


def test_the_job_comparison_page(admin_client: FlaskClient, admin: Any, f: Any, w: dict[str, Any]) -> None:
    other = f.offer(w["job"], f.expert(), price_minor=380_000)
    f.match_run(w["job"], ranked=(w["expert"],))
    uow.commit()
    negotiations.forward_offer(w["offer"].id, actor=admin)

    html = html_of(admin_client, f"/admin/offers/job/{w['job'].id}")

    first = re.search(rf'data-testid="compare-{w["offer"].id}".*?data-testid="(breakdown|no-match)', html, re.S)
    second = re.search(rf'data-testid="compare-{other.id}".*?data-testid="no-match-{other.id}"', html, re.S)
    assert first and second
    assert "€4,200.00" in first.group(0) and "€4,830.00" in first.group(0) and "Anna Schmidt" in first.group(0)
    assert "not forwarded" in second.group(0) and "€3,800.00" in second.group(0)
    assert f'data-testid="breakdown-{w["offer"].id}"' in html
    assert html_of(admin_client, "/admin/offers/job/9999", status=404)


def test_non_staff_cannot_use_the_hub_endpoints(client: FlaskClient, w: dict[str, Any]) -> None:
    login(client, w["owner"])
    assert client.get(f"/admin/offers/{w['offer'].id}").status_code == 403
    assert client.post(f"/admin/offers/{w['offer'].id}/forward",
                       data={"fee_mode": "percent", "fee_percent": "15", "action": "forward"}).status_code == 403
    assert client.get(f"/admin/offers/job/{w['job'].id}").status_code == 403
    assert db.session.get(Offer, w["offer"].id).status is O.SUBMITTED
