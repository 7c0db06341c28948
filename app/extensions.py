"""Extension singletons, created unbound and attached in create_app()."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import socketio as python_socketio
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Deterministic constraint names keep Alembic diffs reviewable.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
mail = Mail()
csrf = CSRFProtect()
socketio = SocketIO()


class RoomsRedisManager(python_socketio.RedisManager):
    """python-socketio's Redis manager, with one round trip to Redis for several rooms at once.

    A channel message goes to each side's room with its own text (company, expert, hub): three
    emits, which the stock manager publishes one at a time. Each publish waits for Redis, and the
    process that takes the sends pays the wait and a fresh turn at the interpreter lock three times
    (PERFORMANCE.md §4.4). Messages are built exactly as ``PubSubManager.emit`` builds them.
    """

    connected: bool  # set by RedisManager

    def emit_each(self, event: str, items: Sequence[tuple[str, Any]], namespace: str = "/") -> None:
        """Emit ``event`` to each ``(room, data)``: delivered here at once, published to the others together."""
        messages = [{"method": "emit", "event": event, "data": [data], "binary": False, "namespace": namespace,
                     "room": room, "skip_sid": None, "callback": None, "host_id": self.host_id}
                    for room, data in items]
        if any(python_socketio.packet.Packet.data_is_binary(m["data"]) for m in messages):
            for room, data in items:
                self.emit(event, data, namespace=namespace, room=room)
            return
        for message in messages:
            self._handle_emit(message)  # the clients of this process
        for attempt in (1, 2):  # as PubSubManager._publish: reconnect once
            try:
                if not self.connected:
                    self._redis_connect()
                pipe = self.redis.pipeline(transaction=False)
                for message in messages:
                    pipe.publish(self.channel, self.json.dumps(message))
                pipe.execute()
                return
            except Exception:
                if attempt == 2:
                    raise
                self.connected = False


def socketio_manager(message_queue: str | None) -> Any:
    """The client manager of the Socket.IO server: rooms shared through Redis, or kept in this process."""
    if message_queue:
        return RoomsRedisManager(message_queue, channel="flask-socketio")
    return python_socketio.Manager()


def emit_each(event: str, items: Sequence[tuple[str, Any]]) -> None:
    """Emit ``event`` to several rooms, each with its own data (one Redis round trip when rooms are shared)."""
    manager = socketio.server.manager if socketio.server is not None else None
    if isinstance(manager, RoomsRedisManager):
        manager.emit_each(event, items)
        return
    for room, data in items:
        socketio.emit(event, data, to=room)
babel = Babel()
limiter = Limiter(key_func=get_remote_address)


def configure_sqlite(app: Any) -> None:
    """Embedded mode: SQLite in WAL mode (readers never wait for the writer; a commit costs microseconds,
    not a file sync), and a busy timeout instead of "database is locked" when two writers meet."""
    import sqlalchemy as sa

    url = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    if not url.startswith("sqlite"):
        return
    in_memory = ":memory:" in url or "mode=memory" in url or url.rstrip("/") in {"sqlite:", "sqlite:/"}
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=5000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
