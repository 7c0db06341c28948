"""The delivery tab: the expert's form, the company's approval and revision request, downloads, who sees what."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, Delivery, DeliveryStatus, Project, ProjectStatus
from app.models.mixins import utcnow
from app.security import DOWNLOAD_CSP
from app.services import deliveries, uow
from app.services.uploads import Upload
from tests import factories
from tests.conftest import login
from tests.services.test_deliveries import CHECKLIST, World, forward, make_world, with_qc
from tests.services.test_project_files import CSV, JANE_STEP

NOTES = "Report with the process window; see the notes inside."


@pytest.fixture
def world(app: Flask) -> World:
    return make_world()


def tab(w: World) -> str:
    return f"/projects/{w.project.id}/delivery"


def form_data(*, files: tuple[tuple[str, bytes], ...] = (("housing.step", JANE_STEP), ("data.csv", CSV)),
              notes: str = NOTES, rows: tuple[tuple[str, str], ...] = (("done", ""), ("not_done", "Friday"))
              ) -> dict[str, Any]:
    data: dict[str, Any] = {"notes": notes, "files": [(io.BytesIO(content), name) for name, content in files]}
    for i, (done, comment) in enumerate(rows):
        if done:
            data[f"checklist-{i}-done"] = done
        data[f"checklist-{i}-comment"] = comment
    return data


def post_delivery(client: FlaskClient, w: World, **kwargs: Any) -> Any:
    return client.post(tab(w), data=form_data(**kwargs), content_type="multipart/form-data")


def submitted(w: World) -> Delivery:
    delivery = deliveries.submit_delivery(w.project.id, actor=w.expert, notes=NOTES, checklist=CHECKLIST,
                                          uploads=[Upload("housing.step", JANE_STEP)])
    uow.commit()
    return delivery


def count(model: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# The page ----------------------------------------------------------------------------------------


def test_the_expert_sees_the_form_with_one_row_per_deliverable(client: FlaskClient, world: World) -> None:
    login(client, world.expert)
    html = client.get(tab(world)).get_data(as_text=True)
    assert 'data-testid="submit-form"' in html and 'enctype="multipart/form-data"' in html
    assert 'data-testid="check-row-0"' in html and 'data-testid="check-row-1"' in html
    assert 'data-testid="check-row-2"' not in html
    assert "Report" in html and "Process window" in html and 'multiple' in html
    assert deliveries.upload_hint() in html
    assert 'data-testid="tab-delivery" aria-current="page"' in html


@pytest.mark.parametrize("who", ["owner", "colleague", "staff"])
def test_the_other_members_see_an_empty_tab_without_the_form(client: FlaskClient, world: World, who: str) -> None:
    login(client, getattr(world, who))
    response = client.get(tab(world))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="no-delivery"' in html and 'data-testid="submit-form"' not in html


@pytest.mark.parametrize("who", ["outsider", "other_expert"])
def test_someone_not_on_the_project_gets_404_everywhere(client: FlaskClient, world: World, who: str) -> None:
    delivery = forward(world, submitted(world))
    deliveries.approve_delivery(delivery.id, actor=world.owner)
    uow.commit()
    login(client, getattr(world, who))
    for url in (tab(world), f"/projects/deliveries/files/{delivery.files[0].id}",
                f"/projects/deliveries/{delivery.id}/certificate.pdf"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"ISO-10303" not in response.data and b"%PDF" not in response.data
    assert post_delivery(client, world).status_code == 404
    assert client.post(f"/projects/deliveries/{delivery.id}/approve", data={"confirm": "y"}).status_code == 404
    assert client.post(f"/projects/deliveries/{delivery.id}/revision", data={"comment": "x"}).status_code == 404
    assert count(Delivery) == 1


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient, world: World) -> None:
    assert client.get(tab(world)).status_code in (302, 401)


# Submitting -----------------------------------------------------------------------------------------


def test_the_expert_submits_through_the_form(client: FlaskClient, world: World) -> None:
    login(client, world.expert)
    response = post_delivery(client, world)
    delivery = db.session.scalar(sa.select(Delivery))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/delivery#delivery-{delivery.id}")
    assert delivery.status is DeliveryStatus.HUB_REVIEW and len(delivery.files) == 2
    assert delivery.checklist == [{"deliverable": "Report", "done": True, "comment": ""},
                                  {"deliverable": "Process window", "done": False, "comment": "Friday"}]
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="delivery-{delivery.id}"' in html and "Being verified by the hub" in html
    assert 'data-testid="submit-form"' not in html and 'data-testid="submit-refusal"' in html
    assert "housing.step" in html and delivery.files[0].sha256 in html


def test_a_missing_answer_keeps_what_was_typed(client: FlaskClient, world: World) -> None:
    login(client, world.expert)
    response = post_delivery(client, world, rows=(("done", "All in"), ("", "")))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-testid="error-check-1"' in html and "Say whether this deliverable is done." in html
    assert NOTES in html and "All in" in html
    assert 'checked class="form-check-input" id="checklist-0-done-0"' in html  # the answer given is kept
    assert "choose them again" in html
    assert count(Delivery) == 0


def test_not_done_needs_a_comment(client: FlaskClient, world: World) -> None:
    login(client, world.expert)
    response = post_delivery(client, world, rows=(("done", ""), ("not_done", " ")))
    assert response.status_code == 422
    assert 'data-testid="error-comment-1"' in response.get_data(as_text=True)
    assert count(Delivery) == 0


def test_a_refused_file_is_named_under_the_field(client: FlaskClient, world: World) -> None:
    login(client, world.expert)
    response = post_delivery(client, world, files=(("tool.step", b"MZ" + b"\x00" * 300),))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-testid="error-files"' in html and "program" in html and NOTES in html
    assert count(Delivery) == 0


def test_a_second_delivery_while_one_is_open_is_refused(client: FlaskClient, world: World) -> None:
    submitted(world)
    login(client, world.expert)
    response = post_delivery(client, world)
    assert response.status_code == 422
    assert "Delivery 1 is still being reviewed" in response.get_data(as_text=True)
    assert count(Delivery) == 1


@pytest.mark.parametrize("who", ["owner", "staff"])
def test_only_the_expert_may_post_a_delivery(client: FlaskClient, world: World, who: str) -> None:
    login(client, getattr(world, who))
    assert post_delivery(client, world).status_code == 403
    assert count(Delivery) == 0


def test_the_qc_expert_reads_the_tab_but_cannot_deliver(client: FlaskClient, world: World) -> None:
    qc_user = with_qc(world)
    delivery = submitted(world)
    login(client, qc_user)
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="delivery-{delivery.id}"' in html and 'data-testid="submit-form"' not in html
    assert f'/projects/deliveries/{delivery.id}/qc' in html  # the link to the QC review
    assert post_delivery(client, world).status_code == 403


def test_a_delivery_over_the_limit_is_refused_before_anything_is_saved(client: FlaskClient, world: World,
                                                                       app: Flask) -> None:
    app.config["DELIVERY_MAX_TOTAL_MB"] = 1
    login(client, world.expert)
    response = post_delivery(client, world, files=(("big.csv", b"a;b\n" * (600 * 1024)),))
    assert response.status_code == 413
    assert count(Delivery) == 0


def test_files_between_the_app_limit_and_the_delivery_limit_are_accepted(client: FlaskClient, world: World,
                                                                         app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    big = b"a;b\n" * (400 * 1024)  # 1.6 MB: above the app's limit, within a delivery's
    login(client, world.expert)
    response = post_delivery(client, world, files=(("big.csv", big), ("small.csv", CSV)))
    assert response.status_code == 302
    assert sorted(f.size_bytes for f in db.session.scalar(sa.select(Delivery)).files) == [len(CSV), len(big)]


# The company's answer -----------------------------------------------------------------------------------


def test_the_company_sees_nothing_before_the_hub_forwards(client: FlaskClient, world: World) -> None:
    delivery = submitted(world)
    login(client, world.owner)
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="delivery-{delivery.id}"' not in html and 'data-testid="no-delivery"' in html
    assert client.get(f"/projects/deliveries/files/{delivery.files[0].id}").status_code == 404
    assert client.post(f"/projects/deliveries/{delivery.id}/approve", data={"confirm": "y"}).status_code == 404
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.HUB_REVIEW


def test_the_company_downloads_a_forwarded_file_with_inert_headers(client: FlaskClient, world: World) -> None:
    delivery = forward(world, submitted(world))
    login(client, world.colleague)
    html = client.get(tab(world)).get_data(as_text=True)
    assert 'data-testid="approve-form"' in html and 'data-testid="revision-form"' in html
    assert "Waiting for your review" in html and "Checked by the hub." in html
    response = client.get(f"/projects/deliveries/files/{delivery.files[0].id}")
    assert response.status_code == 200 and response.data.startswith(b"ISO-10303-21;")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == DOWNLOAD_CSP
    assert response.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "delivery_file.downloaded")) == 1


def test_approval_needs_the_confirmation_then_shows_the_certificate(client: FlaskClient, world: World) -> None:
    delivery = forward(world, submitted(world))
    login(client, world.owner)
    url = f"/projects/deliveries/{delivery.id}/approve"
    response = client.post(url, data={})
    assert response.status_code == 422
    assert "Tick the box to confirm" in response.get_data(as_text=True)
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.FORWARDED

    response = client.post(url, data={"confirm": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"#delivery-{delivery.id}")
    db.session.expire_all()
    approved = db.session.get(Delivery, delivery.id)
    assert approved.status is DeliveryStatus.APPROVED and approved.decided_by_id == world.owner.id
    assert db.session.get(Project, world.project.id).status in (ProjectStatus.ACCEPTED, ProjectStatus.COMPLETED)
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="approval-{delivery.id}"' in html and world.owner.full_name in html
    assert 'data-testid="approve-form"' not in html
    response = client.get(f"/projects/deliveries/{delivery.id}/certificate.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert response.mimetype == "application/pdf" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith("attachment;")

    login(client, world.expert)
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="certificate-{delivery.id}"' in html
    assert client.get(f"/projects/deliveries/{delivery.id}/certificate.pdf").status_code == 200


def test_approving_again_says_it_is_done(client: FlaskClient, world: World) -> None:
    delivery = forward(world, submitted(world))
    login(client, world.owner)
    assert client.post(f"/projects/deliveries/{delivery.id}/approve", data={"confirm": "y"}).status_code == 302
    response = client.post(f"/projects/deliveries/{delivery.id}/approve", data={"confirm": "y"})
    assert response.status_code == 409 and "already approved" in response.get_data(as_text=True)


@pytest.mark.parametrize("who", ["expert", "staff"])
def test_only_the_company_answers(client: FlaskClient, world: World, who: str) -> None:
    delivery = forward(world, submitted(world))
    login(client, getattr(world, who))
    assert client.post(f"/projects/deliveries/{delivery.id}/approve", data={"confirm": "y"}).status_code == 403
    assert client.post(f"/projects/deliveries/{delivery.id}/revision", data={"comment": "x"}).status_code == 403
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.FORWARDED


def test_a_revision_request_needs_a_comment_and_reaches_the_expert(client: FlaskClient, world: World) -> None:
    delivery = forward(world, submitted(world))
    login(client, world.owner)
    url = f"/projects/deliveries/{delivery.id}/revision"
    response = client.post(url, data={"comment": "   "})
    assert response.status_code == 422 and "Say what the expert should change." in response.get_data(as_text=True)
    response = client.post(url, data={"comment": "Please add the cooling analysis."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status is DeliveryStatus.REVISION_REQUESTED
    html = client.get(tab(world)).get_data(as_text=True)
    assert 'data-testid="awaiting-new-version"' in html

    login(client, world.expert)
    html = client.get(tab(world)).get_data(as_text=True)
    assert f'data-testid="revision-comment-{delivery.id}"' in html and "Please add the cooling analysis." in html
    assert 'data-testid="submit-form"' in html and "Deliver version 2" in html
    response = post_delivery(client, world, files=(("data.csv", CSV),))
    assert response.status_code == 302
    assert sorted(d.number for d in db.session.scalars(sa.select(Delivery))) == [1, 2]


def test_the_hub_sees_the_summary_of_every_delivery(client: FlaskClient, world: World) -> None:
    delivery = submitted(world)
    admin = factories.admin(full_name="Other Admin", totp_enabled_at=utcnow())
    uow.commit()
    login(client, admin)
    html = client.get(tab(world)).get_data(as_text=True)
    assert 'data-testid="summary"' in html and f'data-testid="delivery-{delivery.id}"' in html
    assert delivery.files[0].metadata_removed in html
