"""Small input rules shared by the services."""

from __future__ import annotations

from flask_babel import gettext as _

from app.exceptions import ValidationFailed

MAX_NOTE = 5000


def required_text(value: str | None, message: str, *, max_length: int = MAX_NOTE) -> str:
    """The stripped text, or ValidationFailed(``message``) when it is empty or too long."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(message)
    if len(text) > max_length:
        raise ValidationFailed(_("Please keep it under %(n)s characters.", n=f"{max_length:,}"))
    return text
