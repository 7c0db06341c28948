"""The QC review page over HTTP: who sees it, the rubric form, verdicts, and errors that keep what was typed."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Delivery, DeliveryStatus, QcReview, QcVerdict
from app.services import uow
from tests.conftest import login
from tests.services.test_contracts import hub_seal, hub_seal_dir  # noqa: F401  (fixtures)
from tests.services.test_delivery_review import QC_COMMENTS, deliver, qc_world, reload, review
from tests.services.test_qc import QC_NAME, World


@pytest.fixture
def world(f: Any) -> World:
    return qc_world(f)


@pytest.fixture
def delivery(world: World) -> Delivery:
    return deliver(world.project, world.expert, notes="Study report with the process window.\nSee page 3.")


def _as(app: Any, user: Any) -> Any:
    return login(app.test_client(), user)


def _url(delivery: Delivery) -> str:
    return f"/projects/deliveries/{delivery.id}/qc"


def _form(**overrides: str) -> dict[str, str]:
    data = {"completeness": "4", "correctness": "5", "clarity": "3", "comments": QC_COMMENTS, "verdict": "approve"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _checked(html: str, name: str) -> list[str]:
    """The values of the checked radio buttons named ``name``."""
    found = []
    for tag in re.findall(rf'<input[^>]*name="{name}"[^>]*>', html):
        if re.search(r"\bchecked\b", tag):
            found.append(re.search(r'value="([^"]*)"', tag).group(1))  # type: ignore[union-attr]
    return found


def test_the_qc_expert_reads_the_delivery_and_the_rubric(app, world, delivery):
    response = _as(app, world.qc_user).get(_url(delivery))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Delivery 1 · quality control" in html and "In quality control" in html
    assert "Study report with the process window.<br>See page 3." in html
    [file] = delivery.files
    assert "molding-study.pdf" in html and file.sha256 in html
    assert html.count('data-testid="checklist-item"') == 2 and "Process window" in html
    assert 'data-testid="qc-form"' in html
    for label in ("Completeness", "Correctness", "Clarity", "Comments for the expert", "Verdict",
                  "1 — poor", "5 — excellent", "Approve: ready for the hub's check",
                  "Request changes: back to the expert"):
        assert label in unescape(html), label
    assert len(re.findall(r'name="completeness"', html)) == 5
    assert "without your name or pseudonym" in html
    assert 'data-testid="tab-' in html  # inside the workspace layout
    assert f'href="/projects/deliveries/files/{file.id}"' in html
    download = _as(app, world.qc_user).get(f"/projects/deliveries/files/{file.id}")
    assert download.status_code == 200 and download.data[:5] == b"%PDF-"


def test_hub_staff_read_the_page_without_the_form(app, world, delivery):
    html = _as(app, world.staff).get(_url(delivery)).get_data(as_text=True)
    assert 'data-testid="qc-form"' not in html and 'data-testid="qc-read-only"' in html
    assert "Only the quality-control expert reviews a delivery" in html


@pytest.mark.parametrize("who", ["owner", "member", "expert", "other"])
def test_the_page_does_not_exist_for_anyone_else(app, world, delivery, who):
    user = {"owner": world.owner, "member": world.member, "expert": world.expert, "other": world.other.user}[who]
    client = _as(app, user)
    assert client.get(_url(delivery)).status_code == 404
    assert client.post(_url(delivery), data=_form()).status_code == 404
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW
    assert _as(app, world.qc_user).get("/projects/deliveries/999999/qc").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, delivery):
    response = client.get(_url(delivery))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_approving_sends_it_to_the_hub(app, world, delivery):
    client = _as(app, world.qc_user)
    response = client.post(_url(delivery), data=_form())
    assert response.status_code == 302 and response.headers["Location"].endswith(_url(delivery))
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW
    [saved] = db.session.scalars(sa.select(QcReview)).all()
    assert (saved.completeness, saved.correctness, saved.clarity, saved.verdict) == (4, 5, 3, QcVerdict.APPROVE)
    html = client.get(_url(delivery)).get_data(as_text=True)
    assert "The hub checks the delivery next" in html
    assert 'data-testid="qc-form"' not in html and "Your review" in html
    assert "Completeness 4/5 · Correctness 5/5 · Clarity 3/5" in html and QC_COMMENTS in html
    assert "Waiting for the hub's check" in unescape(html)


def test_requesting_changes_sends_it_back_to_the_expert(app, world, delivery):
    client = _as(app, world.qc_user)
    response = client.post(_url(delivery), data=_form(verdict="request_changes", completeness="2"))
    assert response.status_code == 302
    assert reload(delivery).status is DeliveryStatus.CHANGES_REQUESTED
    assert "The expert reads your comments" in client.get(_url(delivery)).get_data(as_text=True)
    # The expert's delivery tab names the reviewer "Quality control" only.
    response = _as(app, world.expert).get(f"/projects/{world.project.id}/delivery")
    expert_html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert QC_COMMENTS in expert_html and "Quality control" in expert_html
    assert "Q7QC" not in expert_html and QC_NAME not in expert_html


def test_missing_scores_and_comments_keep_what_was_typed(app, world, delivery):
    client = _as(app, world.qc_user)
    response = client.post(_url(delivery), data=_form(correctness=None, comments="", verdict="request_changes"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-testid="form-errors"' in html
    assert "Score correctness from 1 to 5." in html
    assert "Write your comments: the expert reads them with your verdict." in html
    assert _checked(html, "completeness") == ["4"] and _checked(html, "clarity") == ["3"]
    assert _checked(html, "correctness") == [] and _checked(html, "verdict") == ["request_changes"]
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcReview)) == 0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("completeness", "7", "Not a valid choice"), ("verdict", "maybe", "Not a valid choice"),
    ("comments", "x" * 5001, "At most 5000 characters."),
])
def test_values_out_of_range_are_refused_and_the_comments_kept(app, world, delivery, field, value, message):
    response = _as(app, world.qc_user).post(_url(delivery), data=_form(**{field: value}))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    if field != "comments":
        assert QC_COMMENTS in html
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW


def test_hub_staff_cannot_send_a_review(app, world, delivery):
    response = _as(app, world.staff).post(_url(delivery), data=_form())
    assert response.status_code == 403
    assert "Only the quality-control expert reviews a delivery" in response.get_data(as_text=True)
    assert reload(delivery).status is DeliveryStatus.QC_REVIEW


def test_a_delivery_already_reviewed_is_not_reviewed_again(app, world, delivery):
    review(delivery, world.qc_user)
    response = _as(app, world.qc_user).post(_url(delivery), data=_form(verdict="request_changes"))
    assert response.status_code == 409
    assert "not waiting for a quality-control review" in response.get_data(as_text=True)
    assert reload(delivery).status is DeliveryStatus.HUB_REVIEW
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QcReview)) == 1


def test_earlier_deliveries_are_linked(app, world, delivery):
    review(delivery, world.qc_user, verdict=QcVerdict.REQUEST_CHANGES)
    second = deliver(world.project, world.expert, notes="Second version.")
    uow.commit()
    html = _as(app, world.qc_user).get(_url(second)).get_data(as_text=True)
    assert 'data-testid="qc-earlier"' in html and f'href="{_url(delivery)}"' in html
    assert "Changes requested" in html and 'data-testid="qc-form"' in html
    old = _as(app, world.qc_user).get(_url(delivery)).get_data(as_text=True)
    assert 'data-testid="qc-form"' not in old and QC_COMMENTS in old
