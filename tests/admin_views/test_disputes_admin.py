"""Disputes, cancellations and refunds in the back office: the queue, the case, the decision form, the buttons."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import DisputeDecision, DisputeStatus, ProjectStatus, Refund, RefundStatus
from app.services import disputes, uow
from tests.conftest import _clear_tables, _create_schema, login, make_app
from tests.fakes.stripe_server import FakeStripe
from tests.services.test_disputes import (
    HELD,
    Scene,
    _start_work,
    add_delivery,
    assert_ledger_sound,
    escrow_of,
    make_scene,
    open_one,
    reload,
)
from tests.services.test_escrow import configure_card_payments
from tests.services.test_refunds import card_scene


# The view is registered by admin_views/__init__.py (endpoint "admin_disputes", url "disputes"); until it is,
# these tests register it on an app of their own, exactly as that line will.
@pytest.fixture(scope="module")
def disputes_app(shared_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    if "admin_disputes.index" in shared_app.view_functions:
        yield shared_app
        return
    from admin_views.disputes import DisputesView

    application = make_app(str(tmp_path_factory.mktemp("disputes-uploads")))
    application.extensions["admin"][0].add_view(
        DisputesView(name=_l("Disputes"), endpoint="admin_disputes", url="disputes"))
    application.extensions["admin_blueprints"] = set(application.extensions["admin_blueprints"]) | {"admin_disputes"}
    with application.app_context():
        _create_schema(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def app(disputes_app: Flask, storage_dir: str) -> Iterator[Flask]:
    """The app with the disputes view, an empty database and pristine config (as conftest's ``app``)."""
    from app.extensions import limiter

    saved_config, saved_extensions = dict(disputes_app.config), dict(disputes_app.extensions)
    disputes_app.config["STORAGE_LOCAL_PATH"] = storage_dir
    with disputes_app.app_context():
        limiter.reset()
        try:
            yield disputes_app
        finally:
            db.session.remove()
            _clear_tables(disputes_app)
    disputes_app.config.clear()
    disputes_app.config.update(saved_config)
    disputes_app.extensions.clear()
    disputes_app.extensions.update(saved_extensions)


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake(app: Flask, stripe_server: FakeStripe) -> Iterator[FakeStripe]:
    configure_card_payments(app, stripe_server)
    yield stripe_server
    stripe_server.reset()
    stripe_server.webhook_sink = None


@pytest.fixture
def scene(f: Any) -> Scene:
    return make_scene(f)


def hub_client(app: Flask, s: Scene) -> FlaskClient:
    return login(app.test_client(), s.hub)


def text(response: Any) -> str:
    html = unescape(response.get_data(as_text=True))
    return html + "\n" + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def get(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return text(response)


def field_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def test_only_staff_with_two_factor_reach_the_pages(app, f, scene):
    dispute = open_one(scene)
    urls = ["/admin/disputes/", f"/admin/disputes/{dispute.id}", "/admin/disputes/cancellations",
            "/admin/disputes/refunds"]
    anonymous = app.test_client()
    for url in urls:
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert login(app.test_client(), scene.owner).get(url).status_code == 403
        assert login(app.test_client(), scene.expert).get(url).status_code == 403
    no_2fa = f.admin()
    uow.commit()
    assert login(app.test_client(), no_2fa).get(urls[0]).status_code == 302
    posts = [f"/admin/disputes/{dispute.id}/decide", f"/admin/disputes/cancellations/{scene.project.id}"]
    for url in posts:
        assert login(app.test_client(), scene.owner).post(url, data={"decide-reason": "x"}).status_code == 403
    assert reload(dispute).status is DisputeStatus.OPEN


def test_open_disputes_come_first_with_their_waiting_time(app, f, scene):
    first = open_one(scene)
    disputes.decide_dispute(first.id, actor=scene.hub, decision=DisputeDecision.REFUND, reason="Refund it")
    uow.commit()
    other = make_scene(f)
    waiting_one = open_one(other, by=other.expert, reason="No answers for weeks")
    html = get(hub_client(app, scene), "/admin/disputes/")
    rows = re.findall(r'data-testid="dispute-(\d+)"', html)
    assert rows == [str(waiting_one.id), str(first.id)]
    assert re.search(rf'data-testid="dispute-{waiting_one.id}".*?data-testid="waiting">\s*\d+ (second|minute)', html,
                     re.S)
    assert "1 open" in html
    only_open = get(hub_client(app, scene), "/admin/disputes/?status=open")
    assert re.findall(r'data-testid="dispute-(\d+)"', only_open) == [str(waiting_one.id)]


def test_the_case_shows_the_money_the_deliveries_and_a_prefilled_decision(app, scene):
    add_delivery(scene.project, scene.expert)
    dispute = open_one(scene, reason="Chapter 3 is missing.")
    html = get(hub_client(app, scene), f"/admin/disputes/{dispute.id}")
    assert "Held now €4,600.00" in html and "Expert price €4,000.00" in html
    assert "QC fee €0.00" in html and "Hub fee (after the QC fee) €600.00" in html
    assert "Chapter 3 is missing." in html and 'data-testid="delivery-1"' in html
    assert scene.owner.full_name in html and scene.owner.email in html
    assert field_value(html, "decide-expert_amount") == "4000.00"
    assert field_value(html, "decide-qc_amount") == "0.00"
    assert field_value(html, "decide-hub_amount") == "600.00"
    assert field_value(html, "decide-refund_amount") == "0.00"
    assert get(hub_client(app, scene), "/admin/disputes/999999", status=404)


def test_a_split_that_does_not_add_up_is_refused_and_keeps_what_was_typed(app, scene):
    dispute = open_one(scene)
    client = hub_client(app, scene)
    data = {"decide-decision": "split", "decide-expert_amount": "2000", "decide-qc_amount": "0",
            "decide-hub_amount": "300", "decide-refund_amount": "2300.01", "decide-reason": "Half of it"}
    response = client.post(f"/admin/disputes/{dispute.id}/decide", data=data)
    assert response.status_code == 422
    html = text(response)
    assert re.search(r'alert-danger[^>]*>.*?€4,600\.00 held: they add up to €4,600\.01, €0\.01 too much', html, re.S)
    assert field_value(html, "decide-refund_amount") == "2300.01" and "Half of it" in html
    assert reload(dispute).status is DisputeStatus.OPEN and escrow_of(scene.project) == HELD

    response = client.post(f"/admin/disputes/{dispute.id}/decide", data={**data, "decide-refund_amount": "2.300,00"})
    assert response.status_code == 302
    dispute = reload(dispute)
    assert dispute.status is DisputeStatus.DECIDED and dispute.decision is DisputeDecision.SPLIT
    assert (dispute.released_minor, dispute.refunded_minor) == (230000, 230000)
    html = get(client, f"/admin/disputes/{dispute.id}")
    assert 'data-testid="decided-panel"' in html and f"dispute:{dispute.id}" in html
    assert 'data-testid="form-decide"' not in html
    assert escrow_of(scene.project) == 0
    assert_ledger_sound()


def test_the_form_checks_its_shape_first(app, scene):
    dispute = open_one(scene)
    client = hub_client(app, scene)
    response = client.post(f"/admin/disputes/{dispute.id}/decide",
                           data={"decide-decision": "split", "decide-expert_amount": "abc", "decide-reason": ""})
    assert response.status_code == 400
    html = text(response)
    assert "Enter the amount as a number" in html and "A split needs this amount" in html
    assert "Give the reason for the decision" in html
    response = client.post(f"/admin/disputes/{dispute.id}/decide", data={"decide-reason": "Refund"})
    assert response.status_code == 400 and "Choose release, refund or split." in text(response)
    assert reload(dispute).status is DisputeStatus.OPEN


def test_release_through_the_form(app, scene):
    dispute = open_one(scene)
    response = hub_client(app, scene).post(f"/admin/disputes/{dispute.id}/decide", data={
        "decide-decision": "release", "decide-expert_amount": "1", "decide-qc_amount": "0", "decide-hub_amount": "0",
        "decide-refund_amount": "0", "decide-reason": "The work matches the offer."})
    assert response.status_code == 302  # the amounts are ignored: a release uses the contract's parts
    assert reload(dispute).released_minor == HELD and reload(scene.project).status is ProjectStatus.COMPLETED
    assert_ledger_sound()


def test_cancelling_a_project_without_work_then_marking_its_bank_refund(app, f, scene):
    busy = make_scene(f)
    _start_work("progress", busy)
    client = hub_client(app, scene)
    html = get(client, "/admin/disputes/cancellations")
    assert f'data-testid="project-{scene.project.id}"' in html
    assert f'data-testid="project-{busy.project.id}"' not in html

    url = f"/admin/disputes/cancellations/{scene.project.id}"
    response = client.post(url, data={f"p{scene.project.id}-reason": ""})
    assert response.status_code == 400 and "Give the reason for the cancellation" in text(response)
    assert client.post(f"/admin/disputes/cancellations/{busy.project.id}",
                       data={f"p{busy.project.id}-reason": "Try"}).status_code == 422
    assert reload(busy.project).status is ProjectStatus.ACTIVE
    response = client.post(url, data={f"p{scene.project.id}-reason": "The company closed its plant."})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/disputes/refunds")
    assert reload(scene.project).status is ProjectStatus.CANCELLED

    [refund] = db.session.scalars(sa.select(Refund)).all()
    html = get(client, "/admin/disputes/refunds")
    assert f'data-testid="refund-{refund.id}"' in html and "Bank transfer" in html and "€4,600.00" in html
    assert f'data-testid="form-mark-refunded-{refund.id}"' in html
    mark = f"/admin/disputes/refunds/{refund.id}/refunded"
    response = client.post(mark, data={f"r{refund.id}-bank_reference": ""})
    assert response.status_code == 400 and "Enter the bank reference" in text(response)
    response = client.post(mark, data={f"r{refund.id}-bank_reference": "SEPA-2026-0042"})
    assert response.status_code == 302
    refund = reload(refund)
    assert refund.status is RefundStatus.SENT and refund.bank_reference == "SEPA-2026-0042"
    html = get(client, "/admin/disputes/refunds?status=sent")
    assert "SEPA-2026-0042" in html and f'data-testid="form-mark-refunded-{refund.id}"' not in html
    response = client.post(mark, data={f"r{refund.id}-bank_reference": "again"})
    assert response.status_code == 409
    assert_ledger_sound()


def test_a_failed_card_refund_is_retried_from_the_list(app, f, fake):
    s = card_scene(f, app, fake)
    fake.fail_next(400, code="balance_insufficient", message="Not enough balance.", path="/v1/refunds")
    disputes.cancel_project(s.project.id, actor=s.hub, reason="Cancelled before the start")
    uow.commit()
    [refund] = db.session.scalars(sa.select(Refund)).all()
    assert refund.status is RefundStatus.FAILED
    client = login(app.test_client(), s.hub)
    html = get(client, "/admin/disputes/refunds")
    assert "Not enough balance." in html and f'data-testid="retry-{refund.id}"' in html
    response = client.post(f"/admin/disputes/refunds/{refund.id}/retry", follow_redirects=True)
    assert response.status_code == 200 and "The refund is sent." in text(response)
    assert reload(refund).status is RefundStatus.SENT and len(fake.refunds) == 1
    assert client.post(f"/admin/disputes/refunds/{refund.id}/retry").status_code == 302
    assert len(fake.refunds) == 1  # a second click is refused (flash), never a second refund
    assert client.post("/admin/disputes/refunds/999999/retry").status_code == 404
    assert_ledger_sound()


def test_empty_states(app, scene):
    _start_work("milestone", scene)
    client = hub_client(app, scene)
    assert 'data-testid="no-disputes"' in get(client, "/admin/disputes/")
    assert 'data-testid="no-cancellable"' in get(client, "/admin/disputes/cancellations")
    assert 'data-testid="no-refunds"' in get(client, "/admin/disputes/refunds")


def test_the_workspace_page_sends_the_hub_to_the_case(app, scene):
    client = hub_client(app, scene)
    html = get(client, f"/projects/{scene.project.id}/disputes")
    assert 'href="/admin/disputes/"' in html and "Open disputes in the back office" in html
    dispute = open_one(scene)
    html = get(client, f"/projects/{scene.project.id}/disputes")
    assert f'href="/admin/disputes/{dispute.id}"' in html and "Decide this dispute in the back office" in html
