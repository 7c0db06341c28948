"""Video calls through the real ZoomProvider against the fake Zoom (tests/fakes/zoom_server.py), and room links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from freezegun import freeze_time

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.integrations.video import TOKEN_CACHE_KEY
from app.models import (
    AuditEvent,
    MessageKind,
    Notification,
    Project,
    ProjectMessage,
    User,
    VideoCall,
    VideoProviderName,
)
from app.services import project_calls, projects, uow
from app.services.projects import Side
from app.tasks.queue import connection
from tests.fakes.zoom_server import FakeZoom


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User

    def real_names(self) -> list[str]:
        return [u.full_name for u in (self.owner, self.colleague, self.expert, self.hub)]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeZoom]:
    with FakeZoom() as fake:
        yield fake


@pytest.fixture
def zoom(app: Flask, server: FakeZoom) -> Iterator[FakeZoom]:
    """The app's ZOOM_* settings pointing at the fake, with no cached token."""
    server.reset()
    app.config.update(server.settings())
    connection().delete(TOKEN_CACHE_KEY)  # the embedded fakeredis outlives a test
    yield server
    connection().delete(TOKEN_CACHE_KEY)
    server.reset()


@pytest.fixture
def links(app: Flask) -> None:
    """No Zoom settings: calls get room links."""
    app.config.update(ZOOM_ACCOUNT_ID="", ZOOM_CLIENT_ID="", ZOOM_CLIENT_SECRET="")


@pytest.fixture
def scene(f: Any) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    uow.commit()
    return Scene(project, company[0], company[1], expert, hub)


def _tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


def _schedule(scene: Scene, actor: User | None = None, **kw: Any) -> VideoCall:
    values: dict[str, Any] = {"topic": "Process window review", "starts_at": _tomorrow(), "duration_minutes": 45,
                              "agenda": "Walk through the DOE results."}
    values.update(kw)
    call = project_calls.schedule_call(scene.project.id, actor=actor or scene.expert, **values)
    uow.commit()
    return call


def _count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _notes(user: User, kind: str) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.kind == kind)))


def _audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


# Scheduling through Zoom --------------------------------------------------------------------


def test_scheduling_creates_one_zoom_meeting_named_without_people(zoom: FakeZoom, scene: Scene) -> None:
    starts = _tomorrow()
    call = _schedule(scene, starts_at=starts)
    assert len(zoom.token_requests()) == 1
    (create,) = zoom.api_requests("POST")
    assert create.path == "/v2/users/me/meetings" and create.status == 201
    sent = create.json
    assert sent["topic"] == f"{scene.project.job} · Plasticonnect Hub"
    assert sent["start_time"] == starts.strftime("%Y-%m-%dT%H:%M:%SZ") and sent["duration"] == 45
    pseudonym = scene.project.contract.expert.pseudonym
    assert f"Expert {pseudonym}" in sent["agenda"] and "Walk through the DOE results." in sent["agenda"]
    for name in scene.real_names():
        assert name not in json.dumps(sent)
    (meeting,) = zoom.meetings.values()
    assert call.provider is VideoProviderName.ZOOM and call.external_id == str(meeting["id"])
    assert call.join_url.startswith(f"{zoom.base_url}/j/{meeting['id']}") and call.passcode == meeting["password"]
    assert (call.topic, call.starts_at, call.duration_minutes) == ("Process window review", starts, 45)
    assert call.created_by_id == scene.expert.id
    (event,) = _audits("video_call.scheduled")
    assert event.entity_id == call.id and event.data["provider"] == "zoom"


def test_the_call_is_announced_without_host_link_or_real_names(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene)
    message = db.session.scalar(sa.select(ProjectMessage).where(ProjectMessage.call_id == call.id))
    assert message is not None and message.kind is MessageKind.CALL and message.author_id is None
    view = projects.history(scene.project.id, actor=scene.owner).messages[-1]
    assert view.call_id == call.id and view.text == "Video call scheduled: Process window review."
    dumped = json.dumps(view.as_dict())
    assert "zak=" not in dumped and "/s/" not in dumped
    for name in scene.real_names():
        assert name not in dumped
    stored = json.dumps([getattr(c, k) for c in db.session.scalars(sa.select(VideoCall))
                         for k in ("join_url", "passcode", "external_id", "topic")])
    assert not any(url in stored for url in zoom.issued_start_urls)  # the host link is never stored
    for user in (scene.owner, scene.colleague, scene.hub):
        (note,) = _notes(user, "project.call_scheduled")
        assert note.params["when"] == call.starts_at.strftime("%Y-%m-%dT%H:%M")
        assert note.params["topic"] == "Process window review"
    assert _notes(scene.expert, "project.call_scheduled") == []


def test_a_company_user_may_schedule_too(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene, actor=scene.owner, topic="Sample parts questions")
    assert call.created_by_id == scene.owner.id
    assert len(_notes(scene.expert, "project.call_scheduled")) == 1


def test_a_rate_limited_zoom_leaves_nothing(zoom: FakeZoom, scene: Scene) -> None:
    zoom.fail_next(429)
    messages = _count(ProjectMessage)
    with pytest.raises(ValidationFailed, match="busy"):
        _schedule(scene)
    uow.rollback()
    assert _count(VideoCall) == 0 and _count(ProjectMessage) == messages
    assert _notes(scene.owner, "project.call_scheduled") == [] and _audits("video_call.scheduled") == []


def test_a_failing_zoom_says_so_safely(zoom: FakeZoom, scene: Scene) -> None:
    zoom.fail_next(500)
    with pytest.raises(ValidationFailed) as info:
        _schedule(scene)
    assert "try again later" in str(info.value) and zoom.client_secret not in str(info.value)
    uow.rollback()
    assert _count(VideoCall) == 0


@pytest.mark.parametrize(("changes", "match"), [
    ({"topic": "  "}, "topic"),
    ({"topic": "x" * 201}, "at most 200"),
    ({"starts_at": datetime(2020, 1, 1, 10, tzinfo=UTC)}, "past"),
    ({"starts_at": datetime(2030, 1, 1, 10)}, "time zone"),
    ({"starts_at": datetime.now(UTC) + timedelta(days=400)}, "a year"),
    ({"duration_minutes": 2}, "between 5 and 300"),
    ({"duration_minutes": 301}, "between 5 and 300"),
    ({"agenda": "x" * 1501}, "at most 1500"),
])
def test_a_refused_call_never_reaches_zoom(zoom: FakeZoom, scene: Scene, changes: dict[str, Any],
                                           match: str) -> None:
    with pytest.raises(ValidationFailed, match=match):
        _schedule(scene, **changes)
    assert zoom.api_requests() == [] and _count(VideoCall) == 0


def test_contact_details_stay_out_of_the_meeting(zoom: FakeZoom, scene: Scene) -> None:
    with pytest.raises(ValidationFailed, match="contact details"):
        _schedule(scene, actor=scene.owner, topic="Call jane.doe@example.com")
    _schedule(scene, actor=scene.owner, agenda="Or call me on +49 711 1234567, jane.doe@example.com")
    (create,) = zoom.api_requests("POST")
    assert "jane.doe@example.com" not in create.json["agenda"] and "1234567" not in create.json["agenda"]
    assert _notes(scene.hub, "project.contact_masked")
    (event,) = _audits("video_call.scheduled")
    assert event.data["masked"] == 2


def test_a_start_a_few_minutes_ago_is_now(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene, starts_at=datetime.now(UTC) - timedelta(minutes=2))
    page = project_calls.calls_page(scene.project.id, actor=scene.owner)
    assert [r.call.id for r in page.upcoming] == [call.id] and page.upcoming[0].live


def test_outsiders_cannot_schedule(f: Any, zoom: FakeZoom, scene: Scene) -> None:
    with pytest.raises(NotFound):
        _schedule(scene, actor=f.expert().user)
    assert zoom.api_requests() == []


# Hosting ------------------------------------------------------------------------------------


def test_only_the_hub_gets_a_fresh_host_link(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene)
    for user in (scene.owner, scene.expert):
        with pytest.raises(PermissionDenied):
            project_calls.host_link(call.id, actor=user)
    assert zoom.issued_start_urls[1:] == []  # only the creation's answer held one
    first = project_calls.host_link(call.id, actor=scene.hub)
    uow.commit()
    second = project_calls.host_link(call.id, actor=scene.hub)
    uow.commit()
    assert first == zoom.issued_start_urls[-2] and second == zoom.issued_start_urls[-1] and first != second
    assert "zak=" in first
    assert len(zoom.api_requests("GET")) == 2
    events = _audits("video_call.host_link")
    assert len(events) == 2 and all(e.actor_id == scene.hub.id for e in events)
    assert all("zak" not in json.dumps(e.data) for e in events)


def test_a_host_link_for_a_meeting_gone_at_zoom_is_refused(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene)
    zoom.meetings.clear()
    with pytest.raises(ValidationFailed, match="no longer exists"):
        project_calls.host_link(call.id, actor=scene.hub)


# Cancelling ---------------------------------------------------------------------------------


def test_the_creator_cancels_at_zoom_too(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene, actor=scene.owner)
    with pytest.raises(PermissionDenied):
        project_calls.cancel_call(call.id, actor=scene.colleague)
    with pytest.raises(PermissionDenied):
        project_calls.cancel_call(call.id, actor=scene.expert)
    project_calls.cancel_call(call.id, actor=scene.owner)
    uow.commit()
    assert call.cancelled_at is not None and zoom.deleted == [int(call.external_id)]
    last = db.session.scalars(sa.select(ProjectMessage).where(ProjectMessage.call_id == call.id)
                              .order_by(ProjectMessage.id.desc())).first()
    assert last is not None and '"key": "call_cancelled"' in last.body and last.kind is MessageKind.CALL
    assert len(_audits("video_call.cancelled")) == 1
    with pytest.raises(ValidationFailed, match="already cancelled"):
        project_calls.cancel_call(call.id, actor=scene.hub)
    with pytest.raises(ValidationFailed, match="cancelled"):
        project_calls.host_link(call.id, actor=scene.hub)


def test_a_failed_cancel_keeps_the_call(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene)
    zoom.fail_next(500)
    with pytest.raises(ValidationFailed):
        project_calls.cancel_call(call.id, actor=scene.hub)
    uow.rollback()
    assert db.session.get(VideoCall, call.id).cancelled_at is None and zoom.deleted == []


def test_a_call_that_is_over_cannot_be_cancelled(zoom: FakeZoom, scene: Scene) -> None:
    call = _schedule(scene)
    with freeze_time(call.starts_at + timedelta(minutes=46)), pytest.raises(ValidationFailed, match="over"):
        project_calls.cancel_call(call.id, actor=scene.hub)


# Room links (no Zoom settings) --------------------------------------------------------------


def test_without_zoom_a_call_gets_an_unguessable_room_link(links: None, scene: Scene) -> None:
    call = _schedule(scene)
    assert call.provider is VideoProviderName.LINK and call.external_id == "" and call.passcode == ""
    prefix = "https://meet.jit.si/PlasticonnectHub-"
    assert call.join_url.startswith(prefix) and len(call.join_url[len(prefix):]) == 32  # 192 random bits
    assert project_calls.host_link(call.id, actor=scene.hub) == call.join_url
    project_calls.cancel_call(call.id, actor=scene.expert)
    uow.commit()
    assert call.cancelled_at is not None


# The calls page -----------------------------------------------------------------------------


def test_the_calls_page_splits_upcoming_and_past(links: None, scene: Scene) -> None:
    soon = _schedule(scene, topic="Soon")
    later = _schedule(scene, topic="Later", starts_at=_tomorrow() + timedelta(days=2))
    cancelled = _schedule(scene, topic="Cancelled", actor=scene.owner, starts_at=_tomorrow() - timedelta(hours=1))
    project_calls.cancel_call(cancelled.id, actor=scene.owner)
    uow.commit()
    page = project_calls.calls_page(scene.project.id, actor=scene.owner)
    assert [r.call.topic for r in page.upcoming] == ["Soon", "Later"]
    assert [r.call.topic for r in page.past] == ["Cancelled"]
    assert not any(r.can_host for r in page.upcoming)  # room links have no host start
    assert [r.can_cancel for r in page.upcoming] == [False, False]  # the expert created them
    assert page.upcoming[0].created_by == f"Expert {scene.project.contract.expert.pseudonym}"
    hub_page = project_calls.calls_page(scene.project.id, actor=scene.hub)
    assert [r.can_cancel for r in hub_page.upcoming] == [True, True]
    with freeze_time(soon.starts_at + timedelta(minutes=10)):
        live = project_calls.calls_page(scene.project.id, actor=scene.expert)
    assert [(r.call.id, r.live) for r in live.upcoming] == [(soon.id, True), (later.id, False)]
    with freeze_time(later.starts_at + timedelta(hours=1)):
        over = project_calls.calls_page(scene.project.id, actor=scene.expert)
    assert over.upcoming == [] and [r.call.id for r in over.past] == [later.id, soon.id, cancelled.id]


def test_past_calls_are_paginated(links: None, scene: Scene) -> None:
    start = datetime.now(UTC) - timedelta(days=60)
    for n in range(project_calls.PAST_PER_PAGE + 3):
        db.session.add(VideoCall(project_id=scene.project.id, provider=VideoProviderName.LINK, topic=f"Call {n}",
                                 starts_at=start + timedelta(days=n), duration_minutes=30,
                                 join_url=f"https://meet.jit.si/x{n}", created_by_id=scene.expert.id))
    uow.commit()
    first = project_calls.calls_page(scene.project.id, actor=scene.owner)
    second = project_calls.calls_page(scene.project.id, actor=scene.owner, page=2)
    assert len(first.past) == project_calls.PAST_PER_PAGE and first.has_more_past
    assert first.past[0].call.topic == f"Call {project_calls.PAST_PER_PAGE + 2}"
    assert [r.call.topic for r in second.past] == ["Call 2", "Call 1", "Call 0"] and not second.has_more_past


def test_the_hub_hosts_upcoming_zoom_calls(zoom: FakeZoom, scene: Scene) -> None:
    _schedule(scene)
    assert [r.can_host for r in project_calls.calls_page(scene.project.id, actor=scene.hub).upcoming] == [True]
    assert [r.can_host for r in project_calls.calls_page(scene.project.id, actor=scene.expert).upcoming] == [False]
