"""Notification e-mails: outbox delivery exactly once, retries with backoff, SMTP, embedded default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_babel import force_locale
from freezegun import freeze_time

from app import notification_kinds
from app.extensions import db
from app.models import EmailMessage, Notification, OutboxMessage
from app.services import notifications, uow
from app.tasks import outbox as tasks_outbox
from tests.tasks.conftest import free_port, start_sink, use_embedded_queue, use_smtp

GERMAN_CATALOG = Path(__file__).resolve().parents[2] / "app" / "translations" / "de" / "LC_MESSAGES" / "messages.mo"


def _emails() -> list[EmailMessage]:
    return list(db.session.scalars(sa.select(EmailMessage).order_by(EmailMessage.id)))


def _outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def _notify_approved(user, company: str = "Acme Molding GmbH") -> OutboxMessage:
    notifications.notify(user, "company.approved", link="/company", company=company)
    uow.commit()
    (message,) = _outbox()
    return message


def test_embedded_default_records_the_email_in_the_outbox_right_after_commit(app, f):
    use_embedded_queue(app)
    user = f.user(full_name="Greta Gruber")

    message = _notify_approved(user)

    db.session.expire_all()
    assert message.delivered_at is not None
    (email,) = _emails()
    assert email.transport == "outbox"
    assert email.to_address == user.email
    assert email.user_id == user.id
    assert email.outbox_message_id == message.id
    assert email.sent_at is not None
    assert email.subject == "Your company is verified"
    assert "Acme Molding GmbH is verified" in email.body_text
    assert "Hello Greta Gruber," in email.body_text
    assert "http://localhost/company" in email.body_text
    assert 'href="http://localhost/company"' in email.body_html
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == user.id))
    assert note is not None and note.kind == "company.approved"


def test_delivering_twice_sends_once(app, f):
    user = f.user()
    message = _notify_approved(user)

    first = tasks_outbox.deliver(message.id)
    second = tasks_outbox.deliver(message.id)

    assert first is True and second is True
    assert len(_emails()) == 1
    # A sweep finds nothing left to do either.
    assert tasks_outbox.sweep() == 0
    assert len(_emails()) == 1


def test_unknown_message_is_not_delivered(app):
    assert tasks_outbox.deliver(424242) is False


def test_failing_send_is_retried_with_backoff_then_marked_failed(app, f):
    use_embedded_queue(app)
    port = free_port()  # nothing listens here: every SMTP connection is refused
    use_smtp(app, port)
    user = f.user()
    start = datetime.now(UTC).replace(microsecond=0)

    with freeze_time(start) as clock:
        message = _notify_approved(user)  # the inline attempt right after commit fails
        db.session.expire_all()
        assert message.delivered_at is None
        assert message.attempts == 1
        assert "ConnectionRefusedError" in message.last_error
        assert message.next_attempt_at == start + timedelta(seconds=30)

        # Not due yet: the sweep leaves it alone.
        assert tasks_outbox.sweep() == 0
        db.session.expire_all()
        assert message.attempts == 1

        waits = []
        while message.failed_at is None:
            wait = message.next_attempt_at - datetime.now(UTC)
            waits.append(int(wait.total_seconds()))
            clock.tick(wait)
            assert tasks_outbox.sweep() == 0
            db.session.expire_all()

        assert message.attempts == tasks_outbox.MAX_ATTEMPTS
        assert waits == [30 * 2**n for n in range(tasks_outbox.MAX_ATTEMPTS - 1)]
        assert message.delivered_at is None
        # A failed message is left for an admin; sweeping again does not touch it.
        clock.tick(timedelta(days=1))
        assert tasks_outbox.sweep() == 0
        db.session.expire_all()
        assert message.attempts == tasks_outbox.MAX_ATTEMPTS

    (email,) = _emails()  # recorded once, never marked sent
    assert email.transport == "smtp" and email.sent_at is None


def test_retry_delivers_once_the_smtp_server_is_back(app, f):
    use_embedded_queue(app)
    port = free_port()
    use_smtp(app, port)
    user = f.user()
    message = _notify_approved(user)
    db.session.expire_all()
    assert message.attempts == 1 and message.delivered_at is None

    controller, sink = start_sink(port)
    try:
        with freeze_time(datetime.now(UTC) + timedelta(seconds=31)):
            assert tasks_outbox.sweep() == 1
    finally:
        controller.stop()

    db.session.expire_all()
    assert message.delivered_at is not None
    assert len(sink.messages) == 1
    (email,) = _emails()
    assert email.sent_at is not None and email.transport == "smtp"


def test_smtp_delivers_html_and_text_in_the_recipients_language(app, f, smtp_sink):
    use_smtp(app, smtp_sink.port)
    user = f.user(full_name="Jürgen Köhler", locale="de", email="juergen@formenbau.example")

    message = _notify_approved(user, company="Formenbau Köhler GmbH")
    tasks_outbox.sweep()  # delivers it if no in-process run did (a Redis-backed queue waits for a worker)

    assert smtp_sink.handler.arrived.wait(10)
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["juergen@formenbau.example"]
    assert received.message["To"] == "juergen@formenbau.example"
    assert "hub@plasticonnect.local" in received.mail_from
    with app.test_request_context(), force_locale("de"):
        kind = notification_kinds.KINDS["company.approved"]
        subject_de = str(kind.subject) % {"company": "Formenbau Köhler GmbH"}
    assert received.message["Subject"] == subject_de
    if GERMAN_CATALOG.exists():  # once German is compiled, the subject must really be German
        assert subject_de != "Your company is verified"
    text = received.message.get_body(preferencelist=("plain",))
    html = received.message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Formenbau Köhler GmbH" in text.get_content()
    assert "Jürgen Köhler" in text.get_content()
    assert '<a href="http://localhost/company"' in html.get_content()
    content_types = {part.get_content_type() for part in received.message.walk()}
    assert {"multipart/alternative", "text/plain", "text/html"} <= content_types

    db.session.expire_all()
    assert message.delivered_at is not None
    (email,) = _emails()
    assert email.transport == "smtp" and email.sent_at is not None
    assert email.subject == subject_de


def test_direct_email_goes_through_the_same_outbox(app, f, smtp_sink):
    """Sign-up and reset links use send_email(); they are delivered the same way."""
    use_smtp(app, smtp_sink.port)
    notifications.send_email(
        "new.user@kunststoff.example",
        "notification",
        locale="en",
        subject="Plain subject",
        user={"full_name": "New User"},
        message="Body line",
        link="/somewhere",
    )
    uow.commit()
    tasks_outbox.sweep()

    assert smtp_sink.handler.arrived.wait(10)
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["new.user@kunststoff.example"]
    assert received.message["Subject"] == "Plain subject"
    assert "http://localhost/somewhere" in received.message.get_body(preferencelist=("plain",)).get_content()
