"""Deliver outbox messages, at least once, never twice for the same e-mail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from app import emails, notification_kinds
from app.extensions import db
from app.models import EmailMessage, Notification, OutboxMessage, User
from app.services import uow
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@with_app_context
def deliver(message_id: int) -> bool:
    """Deliver one outbox message. Safe to run again; returns whether it is delivered."""
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.delivered_at is not None or message.failed_at is not None:
        return message is not None and message.delivered_at is not None
    handler = HANDLERS.get(message.topic)
    try:
        if handler is None:
            raise LookupError(f"no handler for topic {message.topic!r}")
        handler(message)
    except Exception as exc:
        uow.rollback()
        _record_failure(message_id, exc)
        raise
    message.delivered_at = datetime.now(UTC)
    uow.commit()
    return True


@with_app_context
def sweep(limit: int = 200) -> int:
    """Deliver every due, undelivered message (the retry path in both modes)."""
    now = datetime.now(UTC)
    ids = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    delivered = 0
    for message_id in ids:
        try:
            delivered += deliver(message_id)
        except Exception:
            logger.warning("Outbox message %s failed again", message_id, exc_info=True)
    return delivered


def _record_failure(message_id: int, exc: Exception) -> None:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        return
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    backoff = timedelta(seconds=min(3600, 30 * 2 ** (message.attempts - 1)))
    message.next_attempt_at = datetime.now(UTC) + backoff
    if message.attempts >= MAX_ATTEMPTS:
        message.failed_at = datetime.now(UTC)
    uow.commit()


def _send_email(message: OutboxMessage, *, to: str, user_id: int | None, rendered: emails.RenderedEmail) -> None:
    """Record the e-mail, then send it if SMTP is configured. Idempotent per outbox message."""
    record = db.session.scalar(sa.select(EmailMessage).where(EmailMessage.outbox_message_id == message.id))
    if record is not None and record.sent_at is not None:
        return
    transport = emails.transport()
    if record is None:
        record = EmailMessage(
            outbox_message_id=message.id,
            user_id=user_id,
            to_address=to,
            subject=rendered.subject,
            body_text=rendered.text,
            body_html=rendered.html,
            transport=transport,
        )
        db.session.add(record)
    if transport == "smtp":
        # Written before the send: a crash after it leaves an unsent row, which the retry sends.
        uow.commit()
        emails.send(to, rendered)
    record.sent_at = datetime.now(UTC)


def _deliver_notification(message: OutboxMessage) -> None:
    note = db.session.get(Notification, message.payload["notification_id"])
    if note is None:
        return
    user = db.session.get(User, note.user_id)
    if user is None or user.suspended_at is not None and note.kind != "account.suspended":
        return
    kind = notification_kinds.KINDS[note.kind]
    with force_locale(user.locale):
        subject = str(kind.subject) % note.params
        text = str(kind.message) % note.params
    link = _absolute(note.link)
    rendered = emails.render(
        "notification", locale=user.locale, subject=subject, user=user, message=text, link=link
    )
    _send_email(message, to=user.email, user_id=user.id, rendered=rendered)


def _deliver_direct(message: OutboxMessage) -> None:
    payload = message.payload
    params = dict(payload.get("params") or {})
    if "link" in params:
        params["link"] = _absolute(params["link"])
    rendered = emails.render(payload["template"], locale=payload.get("locale") or "en", **params)
    _send_email(message, to=payload["to"], user_id=payload.get("user_id"), rendered=rendered)


def _absolute(path: str) -> str:
    if not path or path.startswith(("http://", "https://")):
        return path
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


HANDLERS: dict[str, Callable[[OutboxMessage], None]] = {
    "email.notification": _deliver_notification,
    "email.direct": _deliver_direct,
}
