"""The Socket.IO manager that shares rooms through Redis (app/extensions.py): several rooms, one round trip."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from redis import Redis

from app.extensions import RoomsRedisManager, socketio_manager
from tests.conftest import redis_url

pytestmark = pytest.mark.redis
CHANNEL = "pc-test-rooms"


def _published(listener: Any, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while len(out) < count and time.monotonic() < deadline:
        message = listener.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            out.append(json.loads(message["data"]))
    return out


def test_each_room_gets_its_own_data_in_one_publish_round():
    url = redis_url()
    listener = Redis.from_url(url).pubsub()
    listener.subscribe(CHANNEL)
    listener.get_message(timeout=1)  # the subscription's confirmation
    manager = RoomsRedisManager(url, channel=CHANNEL)

    manager.emit_each("message", [("project-1-company", {"text": "masked"}), ("project-1-hub", {"text": "plain"})])

    got = _published(listener, 2)
    assert [(m["room"], m["data"], m["event"], m["host_id"]) for m in got] == [
        ("project-1-company", [{"text": "masked"}], "message", manager.host_id),
        ("project-1-hub", [{"text": "plain"}], "message", manager.host_id),
    ]
    assert all(m["method"] == "emit" and m["namespace"] == "/" and not m["binary"] for m in got)
    listener.close()


def test_binary_data_is_published_the_stock_way():
    url = redis_url()
    listener = Redis.from_url(url).pubsub()
    listener.subscribe(CHANNEL)
    listener.get_message(timeout=1)
    manager = RoomsRedisManager(url, channel=CHANNEL)

    manager.emit_each("preview", [("project-2-expert", {"png": b"\x89PNG"})])

    (got,) = _published(listener, 1)
    assert got["room"] == "project-2-expert" and got["binary"] is True
    listener.close()


def test_without_a_queue_rooms_stay_in_the_process():
    assert not isinstance(socketio_manager(None), RoomsRedisManager)
