"""Record outgoing effects in the current transaction; deliver them after commit."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import OutboxMessage
from app.services import uow
from app.tasks import outbox as tasks_outbox
from app.tasks import queue


def enqueue(topic: str, **payload: Any) -> OutboxMessage:
    """Persist a message in this transaction; kick its delivery after commit (at least once)."""
    message = OutboxMessage(topic=topic, payload=payload)
    db.session.add(message)
    db.session.flush()
    # The sweeper (`flask outbox sweep`, also run by the worker) catches anything this misses.
    uow.after_commit(queue.enqueue_quietly, tasks_outbox.deliver, message.id, queue_name="notifications")
    return message
