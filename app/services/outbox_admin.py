"""Back-office operations on the outbox: give a failed message another chance."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import gettext as _

from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import OutboxMessage, User
from app.services import audit, uow


def retry_message(message_id: int, *, actor: User) -> OutboxMessage:
    """Make an undelivered message due now again, even after the sweeper gave up on it.

    The caller then runs the delivery (or leaves it to the sweeper). A delivered
    message is never retried: consumers would not send it twice anyway, and the
    admin should know.

    :raises NotFound: no such message.
    :raises PermissionDenied: the actor is not a hub admin.
    :raises ValidationFailed: the message was already delivered.
    """
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound(_("This outbox message does not exist."))
    if not actor.is_staff:
        raise PermissionDenied(_("Only hub admins can retry outbox messages."))
    if message.delivered_at is not None:
        raise ValidationFailed(_("This message was already delivered; it is never sent twice."))
    audit.record(
        "outbox.retried",
        actor=actor,
        entity="outbox_messages",
        entity_id=message.id,
        data={
            "topic": message.topic,
            "attempts": message.attempts,
            "was_failed": message.failed_at is not None,
            "last_error": message.last_error[:500],
        },
    )
    message.failed_at = None
    message.next_attempt_at = datetime.now(UTC)
    uow.commit()
    return message
