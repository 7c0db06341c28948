"""The project channel over Socket.IO (app/realtime.py), with Flask-SocketIO's test client (INTEGRATIONS.md §2.4).

Each client connects with the cookies of a logged-in HTTP test client, as a browser does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from app import realtime
from app.extensions import db, socketio
from app.models import Audience, Project, ProjectMember, ProjectMessage, User
from app.models.mixins import utcnow
from app.services import accounts, projects, uow
from app.services.projects import Side
from tests import factories
from tests.conftest import login, make_app

EMAIL_TEXT = "mail me at jane.doe@example.com"


@dataclass
class Scene:
    project: Project
    owner: User
    colleague: User
    expert: User
    hub: User


@pytest.fixture
def scene(f: Any) -> Scene:
    project = f.project(members=2)
    company = projects.member_users(project, side=Side.COMPANY)
    (expert,) = projects.member_users(project, side=Side.EXPERT)
    (hub,) = projects.member_users(project, side=Side.HUB)
    uow.commit()
    return Scene(project=project, owner=company[0], colleague=company[1], expert=expert, hub=hub)


Connect = Callable[..., Any]


@pytest.fixture
def connect(app: Flask) -> Iterator[Connect]:
    """``connect(user, headers=None)``: a Socket.IO test client sharing the cookies of a logged-in HTTP client."""
    made: list[Any] = []

    def make(user: User | None = None, *, headers: dict[str, str] | None = None, http: Any = None) -> Any:
        if http is None:
            http = app.test_client()
            if user is not None:
                login(http, user)
        client = socketio.test_client(app, flask_test_client=http, headers=headers)
        made.append(client)
        return client

    yield make
    for client in made:
        if client.is_connected():
            client.disconnect()


def _joined(connect: Connect, user: User, project: Project, after_id: int | None = None) -> Any:
    client = connect(user)
    assert client.is_connected()
    ack = client.emit("join", {"project_id": project.id, "after_id": after_id}, callback=True)
    assert ack["ok"] is True, ack
    client.get_received()  # start from an empty inbox
    return client


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    # The test client keeps the single argument of an event named "message" as is, others as a list.
    args = event["args"]
    return args if isinstance(args, dict) else args[0]


def _messages(client: Any) -> list[dict[str, Any]]:
    return [_payload(event) for event in client.get_received() if event["name"] == "message"]


def _count(model: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# Connecting ------------------------------------------------------------------------------------


def test_an_anonymous_connection_is_refused(app, connect):
    assert not connect().is_connected()


def test_a_real_login_connects_and_a_foreign_origin_is_refused(app, scene, connect):
    http = app.test_client()
    response = http.post("/login", data={"email": scene.owner.email, "password": factories.PASSWORD})
    assert response.status_code == 302
    assert connect(http=http).is_connected()
    assert connect(http=http, headers={"Origin": "http://localhost"}).is_connected()  # our own site
    assert not connect(http=http, headers={"Origin": "http://evil.example"}).is_connected()


def test_a_suspended_user_cannot_connect(app, scene, connect):
    http = login(app.test_client(), scene.expert)
    scene.expert.suspended_at = utcnow()
    uow.commit()
    assert not connect(http=http).is_connected()


def test_every_app_gets_the_handlers(app, storage_dir):
    """A second app in the process (the e2e live server, the authorization matrix) still authenticates sockets."""
    other = make_app(storage_dir)
    with other.app_context():
        db.create_all()
        assert socketio.server.handlers["/"].keys() >= {"connect", "disconnect", "join", "leave", "send", "read"}
        anonymous = socketio.test_client(other)
        assert not anonymous.is_connected()
        db.session.remove()
        db.engine.dispose()


# Joining ---------------------------------------------------------------------------------------


def test_a_non_member_cannot_join_and_hears_nothing(app, scene, connect, f):
    outsider = f.company_user()
    uow.commit()
    client = connect(outsider)
    assert client.is_connected()
    assert client.emit("join", {"project_id": scene.project.id}, callback=True) == {"ok": False, "error": "not_found"}
    assert client.emit("join", {"project_id": "nonsense"}, callback=True) == {"ok": False, "error": "not_found"}
    projects.post_message(scene.project, scene.owner, "Only for the members")
    uow.commit()
    assert _messages(client) == []


def test_joining_returns_what_was_missed_since_after_id(app, scene, connect):
    first = projects.post_message(scene.project, scene.expert, "One")
    projects.post_message(scene.project, scene.expert, "Two")
    projects.post_message(scene.project, scene.hub, "Three, for the expert only", audience=Audience.EXPERT)
    uow.commit()

    client = connect(scene.owner)
    ack = client.emit("join", {"project_id": scene.project.id, "after_id": first.id}, callback=True)
    assert ack["ok"] is True and ack["side"] == "company" and ack["truncated"] is False
    assert [m["text"] for m in ack["messages"]] == ["Two"]  # not the expert-only one
    everything = client.emit("join", {"project_id": scene.project.id}, callback=True)
    assert [m["text"] for m in everything["messages"]][1:] == ["One", "Two"]  # after the welcome

    expert = connect(scene.expert)
    ack = expert.emit("join", {"project_id": scene.project.id, "after_id": first.id}, callback=True)
    assert ack["side"] == "expert" and [m["text"] for m in ack["messages"]] == ["Two", "Three, for the expert only"]
    assert [m["mine"] for m in ack["messages"]] == [True, False]


# Sending and receiving -----------------------------------------------------------------------


def test_a_company_message_reaches_the_expert_masked_and_the_hub_as_written(app, scene, connect):
    company = _joined(connect, scene.owner, scene.project)
    expert = _joined(connect, scene.expert, scene.project)
    hub = _joined(connect, scene.hub, scene.project)

    ack = company.emit("send", {"project_id": scene.project.id, "body": EMAIL_TEXT}, callback=True)
    assert ack["ok"] is True
    stored = db.session.get(ProjectMessage, ack["id"])
    assert stored.body == EMAIL_TEXT and stored.author_id == scene.owner.id

    (to_expert,) = _messages(expert)
    assert to_expert["id"] == ack["id"] and to_expert["project_id"] == scene.project.id
    assert "jane.doe" not in to_expert["text"] and to_expert["text"] == stored.body_masked
    assert to_expert["masked"] is True and to_expert["author"] == scene.owner.full_name
    assert to_expert["author_ref"] == projects.author_ref(scene.project.id, scene.owner.id)

    (to_hub,) = _messages(hub)
    assert to_hub["text"] == EMAIL_TEXT and to_hub["masked"] is False and to_hub["masked_for_others"] is True

    (to_company,) = _messages(company)  # the sender's own side reads what it wrote
    assert to_company["text"] == EMAIL_TEXT and to_company["masked"] is False


def test_the_expert_is_named_by_pseudonym_in_what_the_company_receives(app, scene, connect):
    company = _joined(connect, scene.owner, scene.project)
    expert = _joined(connect, scene.expert, scene.project)
    assert expert.emit("send", {"project_id": scene.project.id, "body": "Hello"}, callback=True)["ok"] is True
    (received,) = _messages(company)
    assert received["author"] == f"Expert {scene.project.contract.expert.pseudonym}"
    assert scene.expert.full_name not in str(received) and scene.expert.email not in str(received)


def test_a_company_only_message_is_not_received_by_the_expert(app, scene, connect):
    company = _joined(connect, scene.owner, scene.project)
    colleague = _joined(connect, scene.colleague, scene.project)
    expert = _joined(connect, scene.expert, scene.project)
    hub = _joined(connect, scene.hub, scene.project)

    ack = hub.emit("send", {"project_id": scene.project.id, "body": "Between us: the fee", "audience": "company"},
                   callback=True)
    assert ack["ok"] is True
    assert [m["text"] for m in _messages(company)] == ["Between us: the fee"]
    assert [m["audience"] for m in _messages(colleague)] == ["company"]
    assert _messages(expert) == []
    assert [m["id"] for m in _messages(hub)] == [ack["id"]]

    refused = company.emit("send", {"project_id": scene.project.id, "body": "Psst", "audience": "expert"},
                           callback=True)
    assert refused["ok"] is False and refused["status"] == 403
    assert company.emit("send", {"project_id": scene.project.id, "body": "x", "audience": "nobody"},
                        callback=True) == {"ok": False, "error": "bad_audience"}
    assert _messages(expert) == []


def test_an_empty_or_too_long_message_is_refused_with_the_reason(app, scene, connect):
    company = _joined(connect, scene.owner, scene.project)
    empty = company.emit("send", {"project_id": scene.project.id, "body": "   "}, callback=True)
    assert empty == {"ok": False, "error": "Write a message first.", "status": 422}
    too_long = company.emit("send", {"project_id": scene.project.id, "body": "x" * 5001}, callback=True)
    assert too_long["ok"] is False and "5000" in too_long["error"]
    assert company.is_connected() and _count(ProjectMessage) == 1  # the welcome only


def test_a_suspended_user_is_refused_and_disconnected(app, scene, connect):
    expert = _joined(connect, scene.expert, scene.project)
    scene.expert.suspended_at = utcnow()
    uow.commit()
    ack = expert.emit("send", {"project_id": scene.project.id, "body": "Still here?"}, callback=True)
    assert ack == {"ok": False, "error": "unauthorized"}
    assert not expert.is_connected()
    assert _count(ProjectMessage) == 1


def test_a_removed_member_is_refused_and_disconnected(app, scene, connect):
    colleague = _joined(connect, scene.colleague, scene.project)
    owner = _joined(connect, scene.owner, scene.project)
    member = db.session.scalar(sa.select(ProjectMember).where(
        ProjectMember.project_id == scene.project.id, ProjectMember.user_id == scene.colleague.id))
    member.removed_at = utcnow()
    uow.commit()
    ack = colleague.emit("send", {"project_id": scene.project.id, "body": "Am I still on it?"}, callback=True)
    assert ack["ok"] is False and ack["error"] == "not_found"
    assert not colleague.is_connected()
    assert _count(ProjectMessage) == 1
    assert owner.emit("send", {"project_id": scene.project.id, "body": "Carry on"}, callback=True)["ok"] is True


def test_suspending_an_account_ends_its_connections(app, scene, connect, f):
    expert = _joined(connect, scene.expert, scene.project)
    owner = _joined(connect, scene.owner, scene.project)
    accounts.suspend_user(scene.expert.id, actor=scene.hub, reason="Shared contact details")
    assert not expert.is_connected()
    assert owner.is_connected()


def test_disconnect_user_ends_every_connection_of_that_user(app, scene, connect):
    first = _joined(connect, scene.expert, scene.project)
    second = connect(scene.expert)  # another tab
    owner = _joined(connect, scene.owner, scene.project)
    assert second.is_connected()
    realtime.disconnect_user(scene.expert.id)
    assert not first.is_connected() and not second.is_connected()
    assert owner.is_connected()
    projects.post_message(scene.project, scene.hub, "After the disconnect")
    uow.commit()
    assert [m["text"] for m in _messages(owner)] == ["After the disconnect"]


def _committed(message_id: int, text: str) -> bool:
    """Whether the message is in the database and no write of the request is still uncommitted."""
    if db.engine.dialect.name == "sqlite":
        # One in-memory connection shared by every session: ask it whether a write is still pending.
        pending = db.session.connection().connection.dbapi_connection.in_transaction
        row = db.session.get(ProjectMessage, message_id)
        return row is not None and row.body == text and not pending
    with Session(db.engine) as other:  # another connection sees committed rows only
        row = other.get(ProjectMessage, message_id)
        return row is not None and row.body == text


def test_messages_are_stored_before_they_are_emitted(app, scene, connect):
    expert = _joined(connect, scene.expert, scene.project)
    seen_in_database: list[bool] = []

    class Inbox(list):  # the test client appends each event it receives here, as it arrives
        def append(self, event: Any) -> None:
            if event["name"] == "message":
                seen_in_database.append(_committed(_payload(event)["id"], _payload(event)["text"]))
            super().append(event)

    expert.queue = Inbox()
    company = _joined(connect, scene.owner, scene.project)
    assert company.emit("send", {"project_id": scene.project.id, "body": "Stored first"}, callback=True)["ok"]
    assert seen_in_database == [True]


def test_an_http_post_is_pushed_to_the_socket_clients(app, scene, connect):
    expert = _joined(connect, scene.expert, scene.project)
    hub = _joined(connect, scene.hub, scene.project)
    http = login(app.test_client(), scene.owner)
    response = http.post(f"/projects/{scene.project.id}/messages", data={"body": EMAIL_TEXT})
    assert response.status_code == 302
    (pushed,) = _messages(expert)
    assert pushed["masked"] is True and "jane.doe" not in pushed["text"]
    assert [m["text"] for m in _messages(hub)] == [EMAIL_TEXT]


def test_a_refused_http_post_pushes_nothing(app, scene, connect):
    expert = _joined(connect, scene.expert, scene.project)
    http = login(app.test_client(), scene.owner)
    assert http.post(f"/projects/{scene.project.id}/messages", data={"body": ""}).status_code == 422
    assert _messages(expert) == []


def test_the_read_event_moves_the_unread_mark(app, scene, connect):
    message = projects.post_message(scene.project, scene.expert, "Please read me")
    uow.commit()
    owner = _joined(connect, scene.owner, scene.project)
    (card,), _total = projects.projects_for(scene.owner)
    assert card.unread == 2
    assert owner.emit("read", {"project_id": scene.project.id, "last_id": message.id}, callback=True) == {
        "ok": True, "last_id": message.id}
    (card,), _total = projects.projects_for(scene.owner)
    assert card.unread == 0
    assert owner.emit("read", {"project_id": scene.project.id}, callback=True)["ok"] is False


def test_leaving_stops_the_pushes(app, scene, connect):
    owner = _joined(connect, scene.owner, scene.project)
    assert owner.emit("leave", {"project_id": scene.project.id}, callback=True) == {"ok": True}
    projects.post_message(scene.project, scene.expert, "Anyone?")
    uow.commit()
    assert _messages(owner) == []


# What is pushed, and what a send costs ----------------------------------------------------------


def test_each_side_receives_exactly_what_its_history_shows(app, scene, connect):
    """The payloads are built before commit from what is loaded; they must equal the stored message as read."""
    clients = {side: _joined(connect, user, scene.project)
               for side, user in ((Side.COMPANY, scene.colleague), (Side.EXPERT, scene.expert), (Side.HUB, scene.hub))}
    for author in (scene.owner, scene.expert, scene.hub):
        projects.post_message(scene.project, author, f"From {author.id}: write to jane.doe@example.com")
        uow.commit()
    for side, client in clients.items():
        reader = {Side.COMPANY: scene.colleague, Side.EXPERT: scene.expert, Side.HUB: scene.hub}[side]
        shown = {m.id: m.as_dict() for m in projects.history(scene.project.id, actor=reader).messages}
        pushed = _messages(client)
        assert len(pushed) == 3
        for data in pushed:
            expected = {**shown[data["id"]], "mine": False, "project_id": scene.project.id}
            assert data == expected, side


def test_the_sender_label_is_the_author_label_of_every_member(app, scene):
    for user, side in ((scene.owner, Side.COMPANY), (scene.expert, Side.EXPERT), (scene.hub, Side.HUB)):
        assert projects.sender_label(scene.project, user, side) == \
            projects.author_labels(scene.project, [user.id])[user.id]


def test_a_progress_update_with_contact_details_reaches_the_company_masked(app, scene, connect):
    """The caller masks a progress update after post_message: the push must carry that masked text."""
    from app.models import ProjectMilestone
    from app.services import project_plan

    company = _joined(connect, scene.owner, scene.project)
    milestone = db.session.scalars(sa.select(ProjectMilestone).where(
        ProjectMilestone.project_id == scene.project.id)).first()
    assert milestone is not None
    project_plan.post_progress(scene.project.id, actor=scene.expert, milestone_id=milestone.id, percent=30,
                               text="Halfway; questions to jane.doe@example.com")
    uow.commit()
    (pushed,) = [m for m in _messages(company) if m["kind"] == "progress"]
    assert pushed["masked"] is True and "jane.doe" not in pushed["text"] and pushed["text"].startswith("30 %")


def test_a_send_costs_four_statements(app, scene, connect):
    """The channel's hot path (PERFORMANCE.md §4.4): the session with its user, the project, the membership and
    the insert; the push after commit reads nothing."""
    sender = _joined(connect, scene.owner, scene.project)
    _joined(connect, scene.expert, scene.project)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper())

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert sender.emit("send", {"project_id": scene.project.id, "body": "Cost"}, callback=True)["ok"] is True
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert statements.count("INSERT") == 1
    assert len([s for s in statements if s not in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]) <= 4, statements
