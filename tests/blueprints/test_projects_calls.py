"""The video calls tab over HTTP, through the real ZoomProvider against the fake Zoom: pages per role, times in
the viewer's time zone, scheduling (errors keep input), "start now", hosting and cancelling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.dates import format_date, format_time
from flask import Flask

from app.extensions import db
from app.integrations.video import TOKEN_CACHE_KEY
from app.models import AuditEvent, Project, User, VideoCall
from app.services import project_calls, projects, uow
from app.services.projects import Side
from app.tasks.queue import connection
from tests.conftest import login
from tests.fakes.zoom_server import FakeZoom

TOKYO = "Asia/Tokyo"
BERLIN = "Europe/Berlin"


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User

    @property
    def url(self) -> str:
        return f"/projects/{self.project.id}/calls"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeZoom]:
    with FakeZoom() as fake:
        yield fake


@pytest.fixture
def zoom(app: Flask, server: FakeZoom) -> Iterator[FakeZoom]:
    server.reset()
    app.config.update(server.settings())
    connection().delete(TOKEN_CACHE_KEY)
    yield server
    connection().delete(TOKEN_CACHE_KEY)
    server.reset()


@pytest.fixture
def scene(f: Any, zoom: FakeZoom) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    expert.timezone = TOKYO
    company[0].timezone = BERLIN
    uow.commit()
    return Scene(project, company[0], company[1], expert, hub)


def _as(app: Any, user: User) -> Any:
    return login(app.test_client(), user)


def _html(response: Any) -> str:
    return unescape(response.get_data(as_text=True))


def _schedule(scene: Scene, actor: User | None = None, **kw: Any) -> VideoCall:
    values: dict[str, Any] = {"topic": "Process window review", "duration_minutes": 45,
                              "starts_at": (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)}
    values.update(kw)
    call = project_calls.schedule_call(scene.project.id, actor=actor or scene.expert, **values)
    uow.commit()
    return call


def _local(moment: datetime, zone: str) -> str:
    """What the page shows for ``moment`` to a reader in ``zone`` (English)."""
    tz = ZoneInfo(zone)
    day = format_date(moment.astimezone(tz), "full", locale="en")
    return f"{day}, {format_time(moment, 'short', tzinfo=tz, locale='en')}"


def _calls() -> list[VideoCall]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(VideoCall).order_by(VideoCall.id)))


# Pages --------------------------------------------------------------------------------------


def test_each_reader_sees_the_call_in_their_own_time_zone(app: Any, scene: Scene) -> None:
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    call = _schedule(scene, starts_at=starts)
    tokyo = _html(_as(app, scene.expert).get(scene.url))
    berlin = _html(_as(app, scene.owner).get(scene.url))
    assert _local(starts, TOKYO) in tokyo and _local(starts, BERLIN) not in tokyo
    assert _local(starts, BERLIN) in berlin and _local(starts, TOKYO) not in berlin
    assert _local(starts, TOKYO) != _local(starts, BERLIN)
    utc_title = f'title="{starts.strftime("%Y-%m-%d %H:%M")} UTC"'
    assert utc_title in tokyo and utc_title in berlin
    assert f"your time zone, {TOKYO}" in tokyo and f"your time zone, {BERLIN}" in berlin
    assert f'data-testid="call-{call.id}"' in berlin


def test_join_links_open_safely_and_only_the_hub_hosts(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    call = _schedule(scene)
    for user in (scene.owner, scene.expert, scene.hub):
        html = _html(_as(app, user).get(scene.url))
        assert (f'<a class="btn btn-sm btn-primary" href="{call.join_url}" target="_blank" '
                f'rel="noopener noreferrer" data-testid="join-{call.id}">') in html
        assert "zak=" not in html and not any(url in html for url in zoom.issued_start_urls)
        assert (f'data-testid="host-{call.id}"' in html) is (user is scene.hub)
        if user is scene.owner:
            assert scene.expert.full_name not in html  # anonymity (the expert's own page names them in the nav)
    assert f"Passcode: {call.passcode}" in _html(_as(app, scene.owner).get(scene.url))


def test_the_company_channel_shows_no_host_link_or_real_name(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    _schedule(scene)
    html = _html(_as(app, scene.owner).get(f"/projects/{scene.project.id}"))
    assert "Video call scheduled: Process window review." in html
    assert "zak=" not in html and scene.expert.full_name not in html
    assert not any(url in html for url in zoom.issued_start_urls)


def test_empty_states_and_outsiders(app: Any, scene: Scene, f: Any) -> None:
    html = _html(_as(app, scene.owner).get(scene.url))
    assert 'data-testid="no-upcoming"' in html and 'data-testid="no-past"' in html
    assert 'data-testid="schedule-form"' in html and 'data-testid="start-now"' in html
    outsider = f.expert().user
    uow.commit()
    client = _as(app, outsider)
    assert client.get(scene.url).status_code == 404
    assert client.post(scene.url, data={"topic": "x"}).status_code == 404
    assert app.test_client().get(scene.url).status_code == 302


# Scheduling ---------------------------------------------------------------------------------


def test_the_form_is_read_in_the_viewers_time_zone(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    day = date.today() + timedelta(days=20)
    response = _as(app, scene.expert).post(scene.url, data={
        "topic": "Gate design", "date": day.isoformat(), "time": "09:30", "duration": "60",
        "agenda": "Gate location and size."})
    assert response.status_code == 302
    (call,) = _calls()
    expected = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo(TOKYO)).astimezone(UTC)
    assert call.starts_at == expected and call.duration_minutes == 60 and call.topic == "Gate design"
    assert response.headers["Location"].endswith(f"{scene.url}#call-{call.id}")
    (create,) = zoom.api_requests("POST")
    assert create.json["timezone"] == TOKYO and create.json["start_time"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_form_errors_keep_what_was_typed(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    client = _as(app, scene.owner)
    day = (date.today() + timedelta(days=3)).isoformat()
    response = client.post(scene.url, data={"topic": "Sample parts", "date": day, "time": "", "duration": "2",
                                            "agenda": "Which resin lot?"})
    html = _html(response)
    assert response.status_code == 422
    assert "Choose the time of the call." in html and "Between 5 and 300 minutes." in html
    assert 'value="Sample parts"' in html and f'value="{day}"' in html and "Which resin lot?" in html
    past = client.post(scene.url, data={"topic": "Too late", "date": "2001-01-01", "time": "10:00",
                                        "duration": "45"})
    assert past.status_code == 422 and "in the past" in _html(past) and 'value="Too late"' in _html(past)
    assert _calls() == [] and zoom.api_requests() == []


def test_a_busy_zoom_is_explained_and_nothing_is_stored(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    zoom.fail_next(429)
    day = (date.today() + timedelta(days=3)).isoformat()
    response = _as(app, scene.owner).post(scene.url, data={"topic": "Sample parts", "date": day, "time": "10:00",
                                                           "duration": "45"})
    html = _html(response)
    assert response.status_code == 422
    assert "The video service is busy" in html and 'value="Sample parts"' in html
    assert _calls() == []


def test_start_a_call_now(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = _as(app, scene.owner).post(scene.url, data={"now-start_now": "1"})
    assert response.status_code == 302
    (call,) = _calls()
    assert before - timedelta(seconds=1) <= call.starts_at <= datetime.now(UTC)
    assert call.duration_minutes == 45 and call.topic == "Call now" and call.created_by_id == scene.owner.id
    html = _html(_as(app, scene.expert).get(scene.url))
    assert f'data-testid="live-{call.id}"' in html


# Hosting and cancelling ---------------------------------------------------------------------


def test_the_hub_is_redirected_to_a_fresh_host_link(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    call = _schedule(scene)
    for user in (scene.owner, scene.expert):
        assert _as(app, user).get(f"/projects/calls/{call.id}/host").status_code == 403
    response = _as(app, scene.hub).get(f"/projects/calls/{call.id}/host")
    assert response.status_code == 302
    assert response.headers["Location"] == zoom.issued_start_urls[-1]
    assert response.headers["Referrer-Policy"] == "same-origin"  # Zoom gets no referrer
    assert response.headers["Cache-Control"] == "no-store"
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_id == call.id,
                                                                         AuditEvent.entity == "video_calls")))
    assert actions.count("video_call.host_link") == 1


def test_a_failed_host_link_is_flashed(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    call = _schedule(scene)
    zoom.meetings.clear()
    response = _as(app, scene.hub).get(f"/projects/calls/{call.id}/host", follow_redirects=True)
    assert response.status_code == 200 and "no longer exists" in _html(response)


def test_the_creator_cancels(app: Any, scene: Scene, zoom: FakeZoom) -> None:
    call = _schedule(scene, actor=scene.owner)
    assert f'data-testid="cancel-{call.id}"' not in _html(_as(app, scene.expert).get(scene.url))
    assert _as(app, scene.colleague).post(f"/projects/calls/{call.id}/cancel").status_code == 403
    owner = _as(app, scene.owner)
    assert f'data-testid="cancel-{call.id}"' in _html(owner.get(scene.url))
    response = owner.post(f"/projects/calls/{call.id}/cancel")
    assert response.status_code == 302
    (stored,) = _calls()
    assert stored.cancelled_at is not None and zoom.deleted == [int(call.external_id)]
    html = _html(owner.get(scene.url))
    assert f'data-testid="cancelled-{call.id}"' in html and f'data-testid="join-{call.id}"' not in html
    again = owner.post(f"/projects/calls/{call.id}/cancel", follow_redirects=True)
    assert "already cancelled" in _html(again)
