"""The back office's delivery checking: the queue (order, filters, pages, waiting time) and one delivery's page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from freezegun import freeze_time

from admin_views.deliveries import DeliveriesView
from app.extensions import db
from app.models import DeliveryStatus, Notification, QcVerdict
from app.models.mixins import utcnow
from app.services import delivery_review, uow
from tests.admin_views.conftest import flashes, snapshot
from tests.conftest import _create_schema, compile_translations, login, make_app
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)
from tests.services.test_delivery_review import QC_COMMENTS, deliver, plain_project, qc_world, reload, review
from tests.services.test_qc import QC_NAME, World


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app of its own with the delivery-checking view (added here until admin_views/__init__.py registers it)."""
    compile_translations()
    application = make_app(str(tmp_path_factory.mktemp("uploads")))
    if "admin_deliveries.index" not in application.view_functions:
        admin = application.extensions["admin"][0]
        admin.add_view(DeliveriesView(name="Delivery checking", endpoint="admin_deliveries", url="deliveries"))
        application.extensions["admin_blueprints"].add("admin_deliveries")
    with application.app_context():
        _create_schema(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def world(f: Any) -> World:
    return qc_world(f)


def hub_ready(w: World, **kw: Any) -> Any:
    delivery = deliver(w.project, w.expert, **kw)
    review(delivery, w.qc_user)
    return reload(delivery)


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="delivery-(\d+)"', html)]


def _delivery_notes(user: Any) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == user.id, Notification.kind.startswith("delivery.")).order_by(Notification.id)))


def _form_value(html: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, f"no {name} field"
    return unescape(match.group(1)).strip()


# The queue ---------------------------------------------------------------------------------------


def test_an_empty_queue_explains_when_deliveries_appear(admin_client):
    html = admin_client.get("/admin/deliveries/").get_data(as_text=True)
    assert 'data-testid="no-deliveries"' in html and "a delivery appears here when an expert submits one" in html
    assert "0 deliveries wait for the hub" in unescape(html)


def test_the_queue_lists_hub_review_first_then_the_oldest_with_the_waiting_time(admin_client, f, world):
    with freeze_time(utcnow() - timedelta(days=3)):
        in_qc = deliver(world.project, world.expert)
    project, expert, _staff = plain_project(f)
    with freeze_time(utcnow() - timedelta(days=2, hours=1)):
        waiting = deliver(project, expert)

    html = admin_client.get("/admin/deliveries/").get_data(as_text=True)

    assert _ids(html) == [waiting.id, in_qc.id]
    row = html[html.index(f'data-testid="delivery-{waiting.id}"'):]
    row = row[:row.index("</tr>")]
    assert project.contract.reference in row and project.contract.company.name in row
    assert project.contract.expert.pseudonym in row and project.contract.expert.user.full_name not in row
    assert "Waiting for the hub&#39;s check" in row or "Waiting for the hub's check" in row
    assert "2 days" in row
    assert f'href="/admin/deliveries/{waiting.id}"' in row
    assert "1 delivery waits for the hub" in unescape(html)


def test_the_queue_filters_by_state(admin_client, f, world):
    in_qc = deliver(world.project, world.expert)
    project, expert, staff = plain_project(f)
    returned = deliver(project, expert)
    delivery_review.return_to_expert(returned.id, actor=staff, comment="Redo")
    uow.commit()
    assert _ids(admin_client.get("/admin/deliveries/").get_data(as_text=True)) == [in_qc.id]
    html = admin_client.get("/admin/deliveries/?status=changes_requested").get_data(as_text=True)
    assert _ids(html) == [returned.id] and 'class="nav-link active" href="/admin/deliveries/?status=changes' in html
    assert set(_ids(admin_client.get("/admin/deliveries/?status=all").get_data(as_text=True))) == {in_qc.id,
                                                                                                  returned.id}
    html = admin_client.get("/admin/deliveries/?status=approved").get_data(as_text=True)
    assert _ids(html) == [] and "No delivery in this state." in html
    assert _ids(admin_client.get("/admin/deliveries/?status=bogus").get_data(as_text=True)) == [in_qc.id]


def test_the_queue_has_pages_of_twenty(admin_client, f):
    made = []
    for _ in range(21):
        project, expert, _staff = plain_project(f)
        made.append(deliver(project, expert, pdf=False))
    first = admin_client.get("/admin/deliveries/").get_data(as_text=True)
    second = admin_client.get("/admin/deliveries/?page=2").get_data(as_text=True)
    assert len(_ids(first)) == 20 and _ids(second) == [made[-1].id]  # the oldest first
    assert "/admin/deliveries/?page=2" in first and "21 in this list." in first
    filtered = admin_client.get("/admin/deliveries/?status=hub_review").get_data(as_text=True)
    assert "/admin/deliveries/?page=2&amp;status=hub_review" in filtered or \
        "/admin/deliveries/?status=hub_review&amp;page=2" in filtered


def test_only_staff_see_the_queue(app, world):
    delivery = deliver(world.project, world.expert)
    for user in (world.owner, world.expert, world.qc_user):
        client = login(app.test_client(), user)
        assert client.get("/admin/deliveries/").status_code == 403
        assert client.get(f"/admin/deliveries/{delivery.id}").status_code == 403
        assert client.post(f"/admin/deliveries/{delivery.id}/forward").status_code == 403


# One delivery ------------------------------------------------------------------------------------


def test_the_page_shows_every_version_side_by_side(admin_client, world):
    first = deliver(world.project, world.expert, notes="First version.")
    review(first, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES, scores=(2, 3, 3))
    second = hub_ready(world, notes="Second version with the gate-freeze study.")

    html = admin_client.get(f"/admin/deliveries/{second.id}").get_data(as_text=True)

    versions = html[html.index('data-testid="versions"'):html.index('data-testid="history"')]
    one = versions[versions.index('data-testid="version-1"'):versions.index('data-testid="version-2"')]
    two = versions[versions.index('data-testid="version-2"'):]
    assert "First version." in one and "Second version with the gate-freeze study." in two
    assert 'data-testid="this-version"' in two and 'data-testid="this-version"' not in one
    assert f'href="/admin/deliveries/{first.id}"' in one
    [file] = second.files
    assert file.sha256 in two and "molding-study.pdf" in two
    assert "Expert Q7QC" in one and QC_NAME in one and QC_COMMENTS in one
    assert "Completeness 2/3" not in one and "Completeness 2/5 · Correctness 3/5 · Clarity 3/5" in one
    assert 'data-testid="review-verdict">Changes requested<' in one
    assert 'data-testid="review-verdict">Approved<' in two
    assert "Report" in two and "Process window" in two  # the checklist
    assert 'data-testid="form-forward"' in html and 'data-testid="form-return"' in html
    assert "Verify and forward to the company" in html and "Return to the expert" in html
    assert f'href="/projects/deliveries/{second.id}/qc"' in html


def test_a_delivery_not_waiting_for_the_hub_has_no_decision_forms(admin_client, world):
    delivery = deliver(world.project, world.expert)
    html = admin_client.get(f"/admin/deliveries/{delivery.id}").get_data(as_text=True)
    assert 'data-testid="form-forward"' not in html and 'data-testid="no-decision"' in html
    assert "This delivery is in quality control" in html


def test_an_unknown_delivery_is_404(admin_client):
    assert admin_client.get("/admin/deliveries/999999").status_code == 404
    assert admin_client.post("/admin/deliveries/999999/forward").status_code == 404


# The decisions -----------------------------------------------------------------------------------


def test_forward_from_the_page(admin_client, world):
    delivery = hub_ready(world)
    response = admin_client.post(f"/admin/deliveries/{delivery.id}/forward",
                                 data={"forward-comment": "Every deliverable checked."})
    assert response.status_code == 302
    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.FORWARDED and delivery.hub_comment == "Every deliverable checked."
    html = admin_client.get(f"/admin/deliveries/{delivery.id}").get_data(as_text=True)
    assert "The delivery is forwarded" in " ".join(flashes(html))
    assert "Forwarded to the company" in html and 'data-testid="form-forward"' not in html
    assert "Every deliverable checked." in html
    assert _delivery_notes(world.owner) == ["delivery.forwarded"]


def test_forward_without_a_note(admin_client, world):
    delivery = hub_ready(world)
    assert admin_client.post(f"/admin/deliveries/{delivery.id}/forward", data={}).status_code == 302
    assert reload(delivery).status is DeliveryStatus.FORWARDED


def test_return_from_the_page(admin_client, world):
    delivery = hub_ready(world)
    response = admin_client.post(f"/admin/deliveries/{delivery.id}/return",
                                 data={"return-comment": "Add the cooling-time table."})
    assert response.status_code == 302
    delivery = reload(delivery)
    assert delivery.status is DeliveryStatus.CHANGES_REQUESTED and delivery.hub_comment == "Add the cooling-time table."
    html = admin_client.get(f"/admin/deliveries/{delivery.id}").get_data(as_text=True)
    assert "returned to the expert" in " ".join(flashes(html))
    assert _delivery_notes(world.owner) == []


def test_return_without_a_comment_changes_nothing_and_says_why(app, admin_client, world):
    delivery = hub_ready(world)
    before = snapshot(app)
    response = admin_client.post(f"/admin/deliveries/{delivery.id}/return", data={"return-comment": "  "})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Say what the expert should change: they read your comment." in html
    assert "Nothing was changed" in " ".join(flashes(html))
    assert snapshot(app) == before


def test_a_comment_that_is_too_long_is_kept(app, admin_client, world):
    delivery = hub_ready(world)
    before = snapshot(app)
    text = "Please " + "x" * 5000
    response = admin_client.post(f"/admin/deliveries/{delivery.id}/forward", data={"forward-comment": text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "At most 5000 characters." in html
    assert _form_value(html, "forward-comment") == text
    assert snapshot(app) == before


def test_a_refused_decision_is_flashed_and_changes_nothing(app, admin_client, world):
    delivery = deliver(world.project, world.expert)  # still in quality control
    before = snapshot(app)
    response = admin_client.post(f"/admin/deliveries/{delivery.id}/return",
                                 data={"return-comment": "Too early to return"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "waiting for the hub" in " ".join(flashes(html))
    assert 'data-testid="no-decision"' in html
    assert snapshot(app) == before
