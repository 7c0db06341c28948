"""Messages: the mail outbox (HTML shown sandboxed) and retrying undelivered outbox messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, EmailMessage, Notification, OutboxMessage, User
from app.services import uow
from app.tasks.outbox import MAX_ATTEMPTS
from tests.admin_views.conftest import flashes, list_table, reload

HOSTILE_HTML = (
    '<h1>Hi</h1><script>parent.document.body.innerHTML="owned"</script><img src="https://tracker.example/p.gif">'
)


def email(**overrides: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "to_address": "olga@example.test",
        "subject": "Your company is verified",
        "body_text": "Hello Olga,\n\nyour company <b>is</b> verified.",
        "body_html": HOSTILE_HTML,
        "transport": "outbox",
        "sent_at": datetime.now(UTC),
    }
    values.update(overrides)
    message = EmailMessage(**values)
    db.session.add(message)
    uow.commit()
    return message


def failed_notification_message(user: User) -> OutboxMessage:
    note = Notification(user_id=user.id, kind="account.password_changed", params={}, link="/account")
    db.session.add(note)
    db.session.flush()
    message = OutboxMessage(
        topic="email.notification",
        payload={"notification_id": note.id},
        attempts=MAX_ATTEMPTS,
        last_error="SMTPServerDisconnected: gone",
        failed_at=datetime.now(UTC),
    )
    db.session.add(message)
    uow.commit()
    return message


# Mail outbox -------------------------------------------------------------------------------


def test_mail_outbox_lists_newest_first(admin_client: FlaskClient) -> None:
    email(subject="First mail")
    email(subject="Second mail", to_address="bernd@example.test")

    html = list_table(admin_client.get("/admin/mail/").get_data(as_text=True))

    assert html.index("Second mail") < html.index("First mail")
    assert "bernd@example.test" in html and "outbox" in html


def test_mail_details_show_text_and_sandboxed_html(admin_client: FlaskClient) -> None:
    message = email()

    html = admin_client.get(f"/admin/mail/details/?id={message.id}").get_data(as_text=True)

    assert "your company &lt;b&gt;is&lt;/b&gt; verified." in html  # text body, escaped
    assert f'src="/admin/mail/{message.id}/html"' in html
    assert 'sandbox=""' in html
    assert "<script>parent" not in html  # the HTML body is never inlined into the admin page


def test_mail_html_is_served_with_a_sandbox_policy(admin_client: FlaskClient) -> None:
    message = email()

    resp = admin_client.get(f"/admin/mail/{message.id}/html")

    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert resp.get_data(as_text=True) == HOSTILE_HTML
    policy = [p.strip() for p in resp.headers["Content-Security-Policy"].split(";")]
    assert policy[:3] == ["sandbox", "default-src 'none'", "style-src 'unsafe-inline'"]
    assert "frame-ancestors 'self'" in policy
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_mail_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/mail/999/html").status_code == 404
    assert admin_client.get("/admin/mail/details/?id=999").status_code == 404


# Outbox --------------------------------------------------------------------------------------


def test_outbox_lists_undelivered_messages_with_their_errors(admin_client: FlaskClient, admin: User) -> None:
    failed = failed_notification_message(admin)
    delivered = OutboxMessage(topic="email.delivered", payload={}, delivered_at=datetime.now(UTC))
    db.session.add(delivered)
    uow.commit()

    html = list_table(admin_client.get("/admin/outbox/").get_data(as_text=True))
    assert "SMTPServerDisconnected: gone" in html
    assert f'data-testid="retry-{failed.id}"' in html
    assert "email.delivered" not in html

    html = list_table(admin_client.get("/admin/outbox/?all=1").get_data(as_text=True))
    assert "email.delivered" in html
    assert f'data-testid="retry-{delivered.id}"' not in html


def test_retry_now_delivers_a_failed_message(admin_client: FlaskClient, admin: User, f: Any) -> None:
    user = f.user(email="recipient@example.test")
    message = failed_notification_message(user)

    resp = admin_client.post(f"/admin/outbox/{message.id}/retry", follow_redirects=True)

    assert f"Message #{message.id} delivered." in flashes(resp.get_data(as_text=True))
    message = reload(message)
    assert message.delivered_at is not None and message.failed_at is None
    sent = db.session.scalar(sa.select(EmailMessage).where(EmailMessage.outbox_message_id == message.id))
    assert sent is not None and sent.to_address == "recipient@example.test"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "outbox.retried"))
    assert event is not None and event.entity_id == message.id and event.data["was_failed"] is True


def test_retry_that_fails_again_shows_the_error(admin_client: FlaskClient) -> None:
    message = OutboxMessage(
        topic="no.such.topic",
        payload={},
        attempts=MAX_ATTEMPTS,
        last_error="LookupError: old",
        failed_at=datetime.now(UTC),
    )
    db.session.add(message)
    uow.commit()

    resp = admin_client.post(f"/admin/outbox/{message.id}/retry", follow_redirects=True)

    messages = flashes(resp.get_data(as_text=True))
    assert any("Delivery failed again: LookupError" in m for m in messages), messages
    message = reload(message)
    assert message.delivered_at is None
    assert message.attempts == MAX_ATTEMPTS + 1
    assert message.failed_at is not None  # the sweeper still leaves it alone


def test_a_delivered_message_is_not_retried(admin_client: FlaskClient) -> None:
    message = OutboxMessage(topic="email.direct", payload={}, delivered_at=datetime.now(UTC))
    db.session.add(message)
    uow.commit()

    resp = admin_client.post(f"/admin/outbox/{message.id}/retry", follow_redirects=True)

    assert any("already delivered" in m for m in flashes(resp.get_data(as_text=True)))
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "outbox.retried")) is None
    assert admin_client.post("/admin/outbox/99999/retry").status_code == 404


def test_outbox_details_page(admin_client: FlaskClient, admin: User) -> None:
    message = failed_notification_message(admin)
    html = admin_client.get(f"/admin/outbox/details/?id={message.id}").get_data(as_text=True)
    assert 'data-testid="last-error"' in html and "SMTPServerDisconnected: gone" in html
    assert 'data-testid="retry"' in html
