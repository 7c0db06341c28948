"""Fixtures for delivery tests: a real SMTP sink on loopback, and switching the app's mail/queue settings."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from app.extensions import mail


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage


@dataclass
class SinkHandler:
    """Keeps every message the SMTP sink accepts."""

    messages: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: SinkHandler

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages


def start_sink(port: int) -> tuple[Controller, SmtpSink]:
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, SmtpSink("127.0.0.1", port, handler)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 at a random port."""
    controller, sink = start_sink(free_port())
    try:
        yield sink
    finally:
        controller.stop()


def use_smtp(app: Flask, port: int, host: str = "127.0.0.1") -> None:
    """Point the app's mail at an SMTP server, as MAIL_SERVER/MAIL_PORT would in production."""
    app.config.update(MAIL_SERVER=host, MAIL_PORT=port, MAIL_SUPPRESS_SEND=False, MAIL_USE_TLS=False)
    mail.init_app(app)


def use_embedded_queue(app: Flask) -> None:
    """No REDIS_URL: tasks run in-process right after commit (the embedded default)."""
    app.config["REDIS_URL"] = ""
    app.extensions.pop("rq_redis", None)
