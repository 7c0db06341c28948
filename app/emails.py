"""Render and send e-mails: templates/email/<name>.{txt,html}, in the recipient's language.

Two transports behind one function: ``outbox`` (embedded default: the message is
only recorded, and admins read it in the back office) and ``smtp`` (Flask-Mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import Message

from app.extensions import mail


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(template: str, *, locale: str, subject: str | None = None, **ctx: Any) -> RenderedEmail:
    """Render ``email/<template>.txt`` and ``.html`` in ``locale``.

    The subject is ``subject`` or the template's ``{% block subject %}``-free first
    line convention: ``email/<template>.subject.txt``.
    """
    with force_locale(locale):
        text = render_template(f"email/{template}.txt", **ctx)
        html = render_template(f"email/{template}.html", **ctx)
        if subject is None:
            subject = render_template(f"email/{template}.subject.txt", **ctx).strip()
        else:
            subject = str(subject)
    return RenderedEmail(subject=subject, text=text, html=html)


def transport() -> str:
    """``smtp`` when a mail server is configured, else ``outbox``."""
    return "smtp" if current_app.config.get("MAIL_SERVER") else "outbox"


def send(to: str, email: RenderedEmail) -> None:
    """Hand the message to the SMTP server (only called for the ``smtp`` transport)."""
    msg = Message(
        subject=email.subject,
        recipients=[to],
        body=email.text,
        html=email.html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    mail.send(msg)
