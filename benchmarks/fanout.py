"""Chat fan-out benchmark (PERFORMANCE.md §1.5, goals §4.4): ``.venv/bin/python -m benchmarks.fanout``.

One project room with N receivers (default 50) gets R messages/s (default 100)
for D seconds (default 10), through the real app: real ``gunicorn -k gthread
-w 1`` servers, the real log-in form, the real ``join``/``send`` events and the
real push after commit. Two setups in one run:

(a) ONE server process, no message queue (the embedded mode);
(b) TWO server processes linked by a Redis message queue, the receivers split across both.

The project (N + 1 company users, the expert, the hub manager) is created with
tests/factories.py on a temporary SQLite file, or on ``--database-url``
(postgresql://…; its tables are dropped and recreated). One company user sends
``bench message <seq>`` and notes the time of each send; the receivers (in
``--client-procs`` processes, python-socketio AsyncClients on one event loop
each by default: threaded clients spend more CPU per delivery than the servers)
note the time of each arrival, on the same host clock. The text holds no digits
that look like a phone number: a masked message would also alert the hub.
Message bodies are committed to the database before they are pushed,
so the database is part of the figure. A warm-up at the same rate comes first.

Options: ``--receivers --rate --duration --warmup --client-procs --clients --threads
--database-url --sqlite-journal --py-spy --redis-url`` (a Redis database number that is flushed; default
``redis://127.0.0.1:6379/9`` or ``BENCH_REDIS_URL``) and ``--check``: exit 1
when a goal fails (p99(b) ≤ 50 ms, 100 % delivered, p99(b)/p99(a) ≤ 3).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "fanout-benchmark-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"  # tests/factories.py's
BODY_RE = re.compile(r"^bench message (\d+)$")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
GOAL_P99_MS = 50.0
GOAL_RATIO = 3.0


# Servers -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def worker_pid(self) -> int:
        """The gunicorn worker (the master's only child), where the app runs."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0]) if children else self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _server_env(db_url: str, redis: str | None, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAIL_", "TEST_", "SOCKETIO_", "RATELIMIT_", "STORAGE_", "DATABASE_", "REDIS_"))}
    env.update(APP_ENV="development", DATABASE_URL=db_url, SECRET_KEY=SECRET_KEY, INSTANCE_PATH=str(tmp / "instance"),
               STORAGE_LOCAL_PATH=str(tmp / "uploads"), PUBLIC_BASE_URL="http://127.0.0.1", PYTHONUNBUFFERED="1")
    if redis:
        env["REDIS_URL"] = redis
    return env


def _start_server(name: str, env: dict[str, str], tmp: Path, threads: int) -> Server:
    port = _free_port()
    log = tmp / f"server-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", str(threads),
             "--graceful-timeout", "5", "-b", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server {name} exited with {process.returncode}:\n{server.output()}")
        try:
            if requests.get(server.url + "/login", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server {name} did not start within 60 s:\n{server.output()}")
        time.sleep(0.2)


@contextlib.contextmanager
def _servers(names: Sequence[str], env: dict[str, str], tmp: Path, threads: int) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for name in names:
            started.append(_start_server(name, env, tmp, threads))
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of one process; 0 for the whole box's busy time (all cores)."""
    if pid == 0:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = sum(values[:8]) - values[3] - values[4]  # user..steal without idle and iowait (guest is in user)
        return busy / os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Seeding and log-in --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    project_id: int
    sender_email: str
    receiver_emails: list[str]


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _seed(db_url: str, receivers: int, tmp: Path, journal: str) -> Scene:
    """The project with ``receivers`` + 1 company users, through the app's own factories (committed)."""
    import sqlalchemy as sa

    from app import create_app
    from app.config import TestingConfig
    from app.extensions import db
    from app.models import ProjectMember, ProjectRole, User
    from app.services import uow
    from tests import factories

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=_sqlalchemy_url(db_url),
                     STORAGE_LOCAL_PATH=str(tmp / "uploads"),
                     HUB_SIGNING_KEY_PATH=str(tmp / "instance" / "hub-seal-key.pem"),
                     HUB_SIGNING_CERT_PATH=str(tmp / "instance" / "hub-seal-cert.pem"))
    with app.app_context():
        if not db_url.startswith("sqlite"):
            db.drop_all()
        db.create_all()
        project = factories.project(members=receivers)  # the job's author + ``receivers`` users
        emails = list(db.session.scalars(
            sa.select(User.email).join(ProjectMember, ProjectMember.user_id == User.id)
            .where(ProjectMember.project_id == project.id, ProjectMember.role == ProjectRole.COMPANY)
            .order_by(ProjectMember.id)))
        scene = Scene(project.id, emails[0], emails[1:receivers + 1])
        uow.commit()
        if db_url.startswith("sqlite") and journal == "wal":  # persistent in the file: the servers' connections use it
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        db.session.remove()
        db.engine.dispose()
    if len(scene.receiver_emails) != receivers:
        raise RuntimeError(f"the project has {len(scene.receiver_emails)} receivers, not {receivers}")
    return scene


def _login(base: str, email: str) -> str:
    """The ``Cookie`` header after the real log-in form (with its CSRF token)."""
    with requests.Session() as http:
        page = http.get(base + "/login", timeout=30)
        match = CSRF_RE.search(page.text)
        if not match:
            raise RuntimeError(f"no log-in form at {base}/login ({page.status_code})")
        response = http.post(base + "/login", allow_redirects=False, timeout=60,
                             data={"email": email, "password": PASSWORD, "csrf_token": match.group(1), "next": ""})
        cookie = http.cookies.get("pc_session")
        if response.status_code != 302 or not cookie:
            raise RuntimeError(f"log-in of {email} failed ({response.status_code}): {response.text[:300]}")
        return f"pc_session={cookie}"


# Receivers (in their own processes) ----------------------------------------------------------------


def _client_class(kind: str) -> Any:
    """python-socketio's threaded Client; ``lean``: one that handles each message on its reader thread.

    The stock engine.io client starts a thread per received message, which costs the co-located
    receivers more CPU than the servers spend on the delivery; the lean one leaves that CPU to the servers.
    """
    import engineio
    import socketio

    if kind != "lean":
        return socketio.Client

    class InlineEngineIO(engineio.Client):  # type: ignore[misc]
        def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
            if event == "message":
                kwargs["run_async"] = False
            return super()._trigger_event(event, *args, **kwargs)

    class LeanClient(socketio.Client):  # type: ignore[misc]
        def _engineio_client_class(self) -> type[engineio.Client]:
            return InlineEngineIO

    return LeanClient


def _on_message(bucket: list[tuple[int, float]]) -> Any:
    def on_message(data: Any) -> None:
        now = time.time()
        match = BODY_RE.match(data.get("text", "")) if isinstance(data, dict) else None
        if match:
            bucket.append((int(match.group(1)), now))
    return on_message


def _receiver_main(index: int, assignments: list[tuple[str, str]], project_id: int, out: Any, stop: Any,
                   kind: str) -> None:
    """Connect and join every assigned client, report ready, record (seq, received at) until told to stop."""
    records: list[list[tuple[int, float]]] = [[] for _ in assignments]
    if kind == "async":
        import asyncio

        error = asyncio.run(_async_receivers(assignments, project_id, records, out, index, stop))
        out.put(("done", index, records, error))
        return
    client_class = _client_class(kind)
    clients: list[Any] = []
    error = ""
    try:
        for slot, (url, cookie) in enumerate(assignments):
            client = client_class(reconnection=False)
            client.on("message", _on_message(records[slot]))
            client.connect(url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30)
            clients.append(client)
            ack = client.call("join", {"project_id": project_id}, timeout=30)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"join refused: {ack!r}")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    out.put(("ready", index, len(clients), error))
    stop.wait()
    out.put(("done", index, records, ""))
    for client in clients:
        with contextlib.suppress(Exception):
            client.disconnect()


async def _async_receivers(assignments: list[tuple[str, str]], project_id: int,
                           records: list[list[tuple[int, float]]], out: Any, index: int, stop: Any) -> str:
    """python-socketio's AsyncClient (aiohttp websockets) for every assigned receiver, on one event loop.

    One loop and aiohttp's compiled frame reader cost the receivers a fraction of the CPU of a thread
    (or two) per client, so the co-located receivers leave the cores to the servers being measured.
    """
    import asyncio

    import socketio

    clients: list[Any] = []
    error = ""
    try:
        for slot, (url, cookie) in enumerate(assignments):
            client = socketio.AsyncClient(reconnection=False)
            client.on("message", _on_message(records[slot]))
            await client.connect(url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=30)
            clients.append(client)
            ack = await client.call("join", {"project_id": project_id}, timeout=30)
            if not (isinstance(ack, dict) and ack.get("ok")):
                raise RuntimeError(f"join refused: {ack!r}")
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    out.put(("ready", index, len(clients), error))
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for client in clients:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return ""


def _start_spies(folder: str, setup: str, servers: list[Server], seconds: float) -> list[subprocess.Popen[bytes]]:
    """``py-spy record`` of each server worker over the measured phase (collapsed stacks), when asked."""
    if not folder:
        return []
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(folder).mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"[^a-z0-9]+", "-", setup.lower()).strip("-")
    return [subprocess.Popen([spy, "record", "--gil", "--format", "raw", "--rate", "200",
                              "--duration", str(max(1, int(seconds))), "--pid", str(s.worker_pid()),
                              "--output", str(Path(folder) / f"{tag}-{s.name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for s in servers]


# One measured setup --------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    processes: int
    receivers: int
    rate: float
    latencies: np.ndarray
    expected: int
    duplicates: int
    send_seconds: float
    ack_ms: np.ndarray
    send_errors: list[str] = field(default_factory=list)
    late_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def delivered(self) -> float:
        return 100.0 * len(self.latencies) / self.expected if self.expected else 0.0

    @property
    def deliveries_per_s(self) -> float:
        return len(self.latencies) / self.send_seconds if self.send_seconds else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else float("inf")


def _run_setup(name: str, servers: list[Server], scene: Scene, cookies: dict[str, str],
               args: argparse.Namespace) -> Result:
    """Receivers split across ``servers`` (round robin), the sender on the first; warm-up, then measure."""
    import socketio

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    stop = ctx.Event()
    assignments: list[list[tuple[str, str]]] = [[] for _ in range(args.client_procs)]
    for i, email in enumerate(scene.receiver_emails):
        assignments[i % args.client_procs].append((servers[i % len(servers)].url, cookies[email]))
    procs = [ctx.Process(target=_receiver_main, daemon=True,
                         args=(k, assignments[k], scene.project_id, out, stop, args.clients))
             for k in range(args.client_procs) if assignments[k]]
    for p in procs:
        p.start()
    try:
        joined = 0
        for _ in procs:
            _kind, _index, count, error = out.get(timeout=180)
            if error:
                raise RuntimeError(f"a receiver process failed after {count} clients: {error}")
            joined += count
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"  {name}: {joined} receivers joined on {len(servers)} process(es); load average {load}", flush=True)

        sender = socketio.Client(reconnection=False)
        sender.connect(servers[0].url, headers={"Cookie": cookies[scene.sender_email]}, transports=["websocket"],
                       wait_timeout=30)
        acks: list[tuple[int, float]] = []
        sent_at: dict[int, float] = {}
        errors: list[str] = []
        lock = threading.Lock()

        def on_ack(seq: int, stamp: float) -> Any:
            def ack(reply: Any = None) -> None:
                with lock:
                    if isinstance(reply, dict) and reply.get("ok"):
                        acks.append((seq, (time.time() - stamp) * 1000.0))
                    else:
                        errors.append(f"{seq}: {reply!r}")
            return ack

        warm = int(round(args.rate * args.warmup))
        measured = int(round(args.rate * args.duration))
        cpu_pids = {s.name: s.worker_pid() for s in servers}
        cpu_pids.update({f"clients {k}": p.pid for k, p in enumerate(procs) if p.pid})
        cpu_pids.update({"sender": os.getpid(), f"box ({os.cpu_count()} cores)": 0})
        cpu_before: dict[str, float] = {}
        cpu_since = time.perf_counter()
        spies: list[subprocess.Popen[bytes]] = []
        late = 0.0
        start = time.perf_counter() + 0.05
        measure_start = start + warm / args.rate
        for seq in range(warm + measured):
            due = start + seq / args.rate
            if seq == warm:
                cpu_before = {k: _cpu_seconds(pid) for k, pid in cpu_pids.items()}
                cpu_since = time.perf_counter()
                spies = _start_spies(args.py_spy, name, servers, args.duration)
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif seq >= warm:
                late = max(late, -delay * 1000.0)
            stamp = sent_at[seq] = time.time()
            sender.emit("send", {"project_id": scene.project_id, "body": f"bench message {seq}"},
                        callback=on_ack(seq, stamp))
        send_seconds = time.perf_counter() - measure_start
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if len(acks) + len(errors) >= warm + measured:
                    break
            time.sleep(0.05)
        cpu_span = time.perf_counter() - cpu_since
        cpu = {k: 100.0 * (_cpu_seconds(pid) - cpu_before[k]) / cpu_span for k, pid in cpu_pids.items()}
        time.sleep(args.drain)
        sender.disconnect()
        for spy in spies:
            spy.wait(timeout=60)
    finally:
        stop.set()
    records: list[list[tuple[int, float]]] = []
    for _ in procs:
        _kind, _index, recs, _error = out.get(timeout=120)
        records.extend(recs)
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()

    latencies: list[float] = []
    first_sent, last_received = float("inf"), 0.0
    duplicates = 0
    for per_client in records:
        seen: set[int] = set()
        for seq, received in per_client:
            if seq < warm or seq >= warm + measured:
                continue
            sent = sent_at[seq]
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            latencies.append((received - sent) * 1000.0)
            first_sent, last_received = min(first_sent, sent), max(last_received, received)
    ack_ms = np.array([ms for seq, ms in acks if seq >= warm])
    span = max(send_seconds, last_received - first_sent)  # deliveries over the time they really took
    return Result(name, len(servers), len(scene.receiver_emails), args.rate, np.array(latencies),
                  measured * len(scene.receiver_emails), duplicates, span, ack_ms, errors, late, cpu)


# The run -------------------------------------------------------------------------------------------


def _database_note(db_url: str, journal: str) -> str:
    if db_url.startswith("sqlite"):
        mode = ("WAL journal (set on the file by --sqlite-journal wal), synchronous=FULL" if journal == "wal"
                else "rollback journal (the app's default), synchronous=FULL")
        return f"SQLite file {db_url[len('sqlite:///'):]}, {mode}: every send is one commit before the push"
    return f"PostgreSQL {db_url.split('@')[-1]} (every send is one commit before the push)"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def main(argv: Sequence[str] | None = None) -> int:  # noqa: C901 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--receivers", type=int, default=50, help="clients in the room (default 50)")
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second (default 100)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per setup (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds at the same rate (default 2)")
    parser.add_argument("--drain", type=float, default=2.0, help="seconds to wait for late deliveries (default 2)")
    parser.add_argument("--client-procs", type=int, default=2, help="receiver processes (default 2)")
    parser.add_argument("--clients", choices=("async", "threads", "lean"), default="async",
                        help="receivers: python-socketio AsyncClients on one event loop per process (default), "
                             "threaded Clients (a thread per client and per message), or threaded Clients that "
                             "handle each message on their reader thread")
    parser.add_argument("--threads", type=int, default=200, help="gunicorn threads per server (default 200)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="postgresql://… (tables dropped and recreated); default: a temporary SQLite file")
    parser.add_argument("--sqlite-journal", choices=("delete", "wal"), default="delete",
                        help="journal mode of the SQLite file: the app's default (delete) or WAL")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                        help="the Redis database of setup (b); it is flushed (default redis://127.0.0.1:6379/9)")
    parser.add_argument("--py-spy", default="", metavar="DIR",
                        help="record each server with py-spy over the measured phase into DIR (collapsed stacks)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal fails")
    args = parser.parse_args(argv)
    if args.threads < args.receivers + 20:
        parser.error("--threads must exceed --receivers by 20 or more (each WebSocket holds a server thread)")
    args.client_procs = max(1, min(args.client_procs, args.receivers))

    from redis import Redis

    t_all = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pc-fanout-"))
    try:
        db_url = args.database_url or f"sqlite:///{tmp / 'fanout.db'}"
        redis = Redis.from_url(args.redis_url)
        redis.ping()
        redis.flushdb()
        t0 = time.perf_counter()
        scene = _seed(db_url, args.receivers, tmp, args.sqlite_journal)
        print(f"database: {_database_note(db_url, args.sqlite_journal)}")
        print(f"seeded project {scene.project_id} with {args.receivers} receivers + 1 sender "
              f"in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs; clients in {args.client_procs} "
              f"process(es); servers gunicorn -k gthread -w 1 --threads {args.threads}")

        results: list[Result] = []
        cookies: dict[str, str] = {}
        env_a = _server_env(db_url, None, tmp)
        with _servers(["A"], env_a, tmp, args.threads) as servers:
            t0 = time.perf_counter()
            emails = [scene.sender_email, *scene.receiver_emails]
            with ThreadPoolExecutor(max_workers=8) as pool:
                cookies = dict(zip(emails, pool.map(lambda e: _login(servers[0].url, e), emails), strict=True))
            print(f"logged {len(cookies)} users in over HTTP in {time.perf_counter() - t0:.1f} s")
            results.append(_run_setup("(a) 1 process, no queue", servers, scene, cookies, args))
        env_b = _server_env(db_url, args.redis_url, tmp)
        with _servers(["B1", "B2"], env_b, tmp, args.threads) as servers:
            results.append(_run_setup("(b) 2 processes, Redis queue", servers, scene, cookies, args))
        redis.flushdb()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    header = (f"{'setup':<30} {'recv':>5} {'msg/s':>6} {'deliv/s':>8} {'p50':>9} {'p95':>9} {'p99':>9} "
              f"{'max':>9} {'delivered':>10} {'ack p99':>9}")
    print(header)
    for r in results:
        ack99 = float(np.percentile(r.ack_ms, 99)) if len(r.ack_ms) else float("inf")
        print(f"{r.name:<30} {r.receivers:>5} {r.rate:>6.0f} {r.deliveries_per_s:>8.0f} {_ms(r.pct(50)):>9} "
              f"{_ms(r.pct(95)):>9} {_ms(r.pct(99)):>9} {_ms(float(r.latencies.max()) if len(r.latencies) else 0):>9} "
              f"{r.delivered:>9.2f}% {_ms(ack99):>9}")
    for r in results:
        cpu = ", ".join(f"{k} {v:.0f} %" for k, v in r.cpu.items())
        extra = f"; {len(r.send_errors)} send errors (first: {r.send_errors[0]})" if r.send_errors else ""
        dup = f"; {r.duplicates} duplicates" if r.duplicates else ""
        print(f"  {r.name}: CPU {cpu}; sender at most {r.late_ms:.1f} ms behind schedule{dup}{extra}")

    a, b = results
    ratio = b.pct(99) / a.pct(99) if a.pct(99) > 0 else float("inf")
    goals = [
        ("p99 send->receive, 2 processes via Redis", _ms(b.pct(99)), f"<= {GOAL_P99_MS:.0f} ms",
         b.pct(99) <= GOAL_P99_MS),
        ("delivered, 2 processes via Redis", f"{b.delivered:.2f} %", "100 %", len(b.latencies) == b.expected),
        ("delivered, 1 process", f"{a.delivered:.2f} %", "100 %", len(a.latencies) == a.expected),
        ("ratio p99(b) / p99(a)", f"x{ratio:.2f}", f"<= {GOAL_RATIO:.0f}", ratio <= GOAL_RATIO),
        ("send errors", str(len(a.send_errors) + len(b.send_errors)), "0", not (a.send_errors or b.send_errors)),
    ]
    width = max(len(g[0]) for g in goals)
    print()
    print(f"{'goal':<{width}}  {'value':>10}  {'target':>9}  result")
    for goal, value, target, ok in goals:
        print(f"{goal:<{width}}  {value:>10}  {target:>9}  {'PASS' if ok else 'FAIL'}")
    failed = [g for g in goals if not g[3]]
    print(f"\n{len(goals) - len(failed)}/{len(goals)} goals pass; total run {time.perf_counter() - t_all:.0f} s")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
