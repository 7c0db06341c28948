"""Two real server processes linked by Redis carry one project channel (INTEGRATIONS.md §2.2, PERFORMANCE.md §1.5).

Two ``gunicorn -k gthread -w 1`` servers share the database (PostgreSQL in the
services tier, else a SQLite file) and one Redis database (the Socket.IO message
queue). The company's client is on server A, the expert's on server B, each
with a session cookie that the *other* server issued. What must reach B:

- a message the company sends on A (masked for the expert when it carries contact details);
- a message a background task posts in an RQ worker process (``flask worker --burst``);
- :func:`app.realtime.disconnect_user` run in a third process: it ends the expert's connection on B.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import sqlalchemy as sa
from rq import Queue
from rq.job import Job as RQJob

from app.extensions import db
from app.models import Project, ProjectMember, ProjectRole, User
from app.services import projects, uow
from app.tasks.queue import connection
from tests import factories
from tests.conftest import _to_sqlalchemy_url, make_app, postgres_url, redis_url

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "scale-out-test-secret-key-0123456789abcdef"  # the same in every process: cookies work on both
START_TIMEOUT = 60.0
EVENT_TIMEOUT = 10.0
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
pytestmark = pytest.mark.redis


# Real server processes ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerDidNotStart(RuntimeError):
    """A server process exited or did not answer in time; the message holds its output."""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """The end of what the process printed (stdout and stderr)."""
        try:
            return self.log.read_text(errors="replace")[-8000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Terminate, wait, and kill if it does not stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def server_env(db_url: str, redis: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a server or worker process: this test's database and Redis, one shared secret key."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAIL_", "TEST_", "SOCKETIO_", "RATELIMIT_", "STORAGE_", "DATABASE_", "REDIS_"))}
    env.update(
        APP_ENV="development",
        DATABASE_URL=db_url,
        REDIS_URL=redis,
        SECRET_KEY=SECRET_KEY,
        INSTANCE_PATH=str(tmp_path / "instance"),
        STORAGE_LOCAL_PATH=str(tmp_path / "uploads"),
        PUBLIC_BASE_URL="http://127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_server(name: str, env: dict[str, str], log_dir: Path, *, threads: int = 50) -> Server:
    """Start ``gunicorn -k gthread -w 1 wsgi:app`` on a free port and wait until it serves /login."""
    port = free_port()
    log = log_dir / f"server-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", str(threads),
             "--graceful-timeout", "5", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        code = process.poll()
        if code is not None:
            raise ServerDidNotStart(f"server {name} exited with status {code} before serving; its output:\n"
                                    f"{server.output()}")
        try:
            if requests.get(server.url + "/login", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise ServerDidNotStart(f"server {name} did not serve /login within {START_TIMEOUT:.0f} s; its output:\n"
                                    f"{server.output()}")
        time.sleep(0.2)


def http_login(base: str, email: str, password: str = factories.PASSWORD) -> str:
    """Log in through the real form (CSRF token included) and return the session's ``Cookie`` header."""
    with requests.Session() as http:
        page = http.get(base + "/login", timeout=10)
        match = CSRF_RE.search(page.text)
        assert page.status_code == 200 and match, f"no log-in form at {base}/login ({page.status_code})"
        response = http.post(base + "/login", timeout=30, allow_redirects=False,
                             data={"email": email, "password": password, "csrf_token": match.group(1), "next": ""})
        assert response.status_code == 302, f"log-in of {email} failed ({response.status_code}): {response.text[:400]}"
        cookie = http.cookies.get("pc_session")
        assert cookie, "the log-in set no session cookie"
        return f"pc_session={cookie}"


class Peer:
    """A python-socketio client on the websocket transport that keeps every event it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.Client(reconnection=False)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.gone = threading.Event()
        self.sio.on("message", lambda data: self.events.put(("message", data)))
        self.sio.on("disconnect", self._disconnected)

    def _disconnected(self, *reason: Any) -> None:
        self.gone.set()

    def connect(self, server: Server, cookie: str) -> None:
        self.sio.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data: dict[str, Any]) -> Any:
        return self.sio.call(event, data, timeout=EVENT_TIMEOUT)

    def expect(self, match: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The first ``message`` event that ``match`` accepts, within EVENT_TIMEOUT."""
        deadline = time.monotonic() + EVENT_TIMEOUT
        seen: list[Any] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                name, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if name == "message" and isinstance(data, dict) and match(data):
                return data
            seen.append(data)
        raise AssertionError(f"{self.name} did not receive {what} within {EVENT_TIMEOUT:.0f} s; it got {seen!r}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sio.disconnect()


# A background task the worker process runs ------------------------------------------------------


def announce_qc_joined(project_id: int) -> int:
    """RQ task: post a platform message in the project; its push goes through the message queue after commit."""
    project = db.session.get(Project, project_id)
    if project is None:
        raise LookupError(f"no project {project_id}")
    message_id = projects.system_message(project, "qc_joined").id
    uow.commit()
    return message_id


DISCONNECT_SCRIPT = """
import sys
from wsgi import app
from app.realtime import disconnect_user
with app.app_context():
    disconnect_user(int(sys.argv[1]))
print("disconnected", sys.argv[1])
"""


# Fixtures ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    db_url: str
    redis_url: str
    project_id: int
    company_id: int
    company_email: str
    company_name: str
    expert_id: int
    expert_email: str


@pytest.fixture
def shared_db_url(tmp_path: Path) -> str:
    """A database every process sees: PostgreSQL in the services tier, else a SQLite file."""
    if os.environ.get("TEST_DATABASE_URL"):
        return postgres_url()  # this xdist worker's own database
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.fixture
def scene(shared_db_url: str, storage_dir: str) -> Iterator[Scene]:
    """A funded contract's project (company user, expert, hub manager), committed for the other processes."""
    url = redis_url()
    app = make_app(storage_dir, SQLALCHEMY_DATABASE_URI=_to_sqlalchemy_url(shared_db_url), REDIS_URL=url)
    with app.app_context():
        db.create_all()
        connection().flushdb()
        project = factories.project(members=1)
        members = {m.role: m.user_id for m in db.session.scalars(
            sa.select(ProjectMember).where(ProjectMember.project_id == project.id).order_by(ProjectMember.id))}
        company = db.session.get(User, members[ProjectRole.COMPANY])
        expert = db.session.get(User, members[ProjectRole.EXPERT])
        assert company is not None and expert is not None
        seeded = Scene(shared_db_url, url, project.id, company.id, company.email, company.full_name,
                       expert.id, expert.email)
        uow.commit()
        db.session.remove()  # let the other processes write
        yield seeded
        connection().flushdb()
        db.session.remove()
        if shared_db_url.startswith("postgres"):
            names = ", ".join(f'"{t.name}"' for t in reversed(db.metadata.sorted_tables))
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


# Tests -------------------------------------------------------------------------------------------


def test_a_server_that_cannot_start_fails_with_its_output(tmp_path: Path) -> None:
    env = server_env("sqlite:///" + str(tmp_path / "none.db"), "redis://127.0.0.1:6379/15", tmp_path)
    env["APP_ENV"] = "staging"  # not a configuration: the app factory refuses to build
    with pytest.raises(ServerDidNotStart) as exc:
        start_server("broken", env, tmp_path)
    assert "exited with status" in str(exc.value)
    assert "APP_ENV must be one of" in str(exc.value)


def test_channel_task_pushes_and_disconnects_cross_server_processes(scene: Scene, tmp_path: Path) -> None:
    env = server_env(scene.db_url, scene.redis_url, tmp_path)
    with contextlib.ExitStack() as stack:
        server_a = start_server("A", env, tmp_path)
        stack.callback(server_a.stop)
        server_b = start_server("B", env, tmp_path)
        stack.callback(server_b.stop)

        # Each user logs in on the other server: the session cookie is valid on both processes.
        company_cookie = http_login(server_b.url, scene.company_email)
        expert_cookie = http_login(server_a.url, scene.expert_email)
        company, expert = Peer("the company's client on A"), Peer("the expert's client on B")
        stack.callback(company.close)
        stack.callback(expert.close)
        company.connect(server_a, company_cookie)
        expert.connect(server_b, expert_cookie)
        joined_company = company.call("join", {"project_id": scene.project_id})
        joined_expert = expert.call("join", {"project_id": scene.project_id})
        assert joined_company["ok"] and joined_company["side"] == "company", joined_company
        assert joined_expert["ok"] and joined_expert["side"] == "expert", joined_expert
        assert joined_expert["messages"], "the welcome message is in the history"

        # 1. Sent on A, received on B: plain text reaches the expert as typed, with the company user's name.
        body = "Shot 14 is short at the rib again; is the gate freezing off too early?"
        ack = company.call("send", {"project_id": scene.project_id, "body": body})
        assert ack["ok"], ack
        got = expert.expect(lambda m: m.get("id") == ack["id"], "the company's message")
        assert got["project_id"] == scene.project_id
        assert got["text"] == body and got["masked"] is False
        assert got["author"] == scene.company_name and got["author_side"] == "company"
        assert got["mine"] is False and "author_id" not in got
        assert company.expect(lambda m: m.get("id") == ack["id"], "its own message")["text"] == body

        # 2. Contact details stay masked for the other side across processes; the writer's side reads them.
        secret = "Call me on +49 171 2345678 or write to paula.presse@molder-example.de"
        ack = company.call("send", {"project_id": scene.project_id, "body": secret})
        assert ack["ok"], ack
        got = expert.expect(lambda m: m.get("id") == ack["id"], "the masked message")
        assert got["masked"] is True
        for detail in ("2345678", "paula.presse", "molder-example"):
            assert detail not in got["text"], got["text"]
        own = company.expect(lambda m: m.get("id") == ack["id"], "its own masked message")
        assert own["text"] == secret and own["masked"] is False

        # 3. A background task in an RQ worker process posts a platform message: it reaches both servers.
        job = Queue("default", connection=connection()).enqueue(announce_qc_joined, scene.project_id)
        worker = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=120, check=False)
        assert worker.returncode == 0, worker.stdout + worker.stderr
        job = RQJob.fetch(job.id, connection=connection())
        assert job.get_status() == "finished", worker.stdout + worker.stderr
        message_id = job.return_value()
        assert isinstance(message_id, int)
        text = "A quality-control expert of Plasticonnect Hub joined the project."
        pushed = expert.expect(lambda m: m.get("id") == message_id, "the worker's push")
        assert pushed["text"] == text and pushed["author_side"] == "platform" and pushed["kind"] == "system"
        assert company.expect(lambda m: m.get("id") == message_id, "the worker's push")["text"] == text

        # 4. disconnect_user in a third process ends the expert's connection on B, and only that one.
        sids_key = f"sio:user:{scene.expert_id}:sids"
        assert connection().scard(sids_key) == 1, "server B registered the expert's connection in Redis"
        assert expert.sio.connected and not expert.gone.is_set()
        third = subprocess.run([sys.executable, "-c", DISCONNECT_SCRIPT, str(scene.expert_id)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60, check=False)
        assert third.returncode == 0, third.stdout + third.stderr
        assert expert.gone.wait(EVENT_TIMEOUT), f"the expert's client is still connected; B said:\n{server_b.output()}"
        assert not connection().exists(sids_key)
        assert company.sio.connected and not company.gone.is_set()
        ack = company.call("send", {"project_id": scene.project_id, "body": "Still here after the expert left."})
        assert ack["ok"], ack
        company.expect(lambda m: m.get("id") == ack["id"], "a message after the disconnect")
