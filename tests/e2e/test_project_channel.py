"""The project channel in a real browser: live messages between the company and the expert, masking of
a disguised phone number, and the fallbacks when WebSockets (and then Socket.IO altogether) are blocked.

Screenshots of every step land in test-artifacts/e2e/<test name>/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from app.extensions import db
from app.models import OfferStatus
from tests import factories
from tests.e2e.test_job_posting_journey import Watch, _log_in

pytestmark = pytest.mark.browser

COMPANY = ("greta.lang@lang-formenbau.example", "mould trials on thursday mornings", "Greta Lang")
EXPERT = ("nora.vogt@experts.example", "holding pressure is my passion", "Nora Vogt")
PSEUDONYM = "E-NORTH"
HELLO = "Welcome Nora! The sample parts ship on Monday.\nTwo cavities, PA66 GF30."
PHONE = "Easier by phone: zero one seven six / two two three three four four five five"
VIA_POLLING = "Sent while WebSockets are blocked."
ANSWER_POLLING = "Received over long-polling, thanks."
VIA_HTTP = "Sent while the live connection is blocked completely."
ANSWER_HTTP = "And this one reached you by refreshing."
LIVE = "[data-testid=connection-status][data-state=live]"
OFFLINE = "[data-testid=connection-status][data-state=offline]"


def _scene(app: Flask) -> int:
    """A funded contract's project: the company owner, the expert (by pseudonym) and a hub manager."""
    with app.app_context():
        job = factories.job()
        factories.company_user(job.company, owner=True, email=COMPANY[0], password=COMPANY[1], full_name=COMPANY[2])
        expert = factories.expert(user=factories.user(email=EXPERT[0], password=EXPERT[1], full_name=EXPERT[2]),
                                  pseudonym=PSEUDONYM)
        offer = factories.offer(job, expert, status=OfferStatus.ACCEPTED, milestones=(("Study", 40), ("Report", 60)))
        staff = factories.admin(full_name="Paul Pruefer", totp_enabled_at=datetime.now(UTC))
        contract = factories.signed_contract(offer, actor=staff)
        project = factories.project(contract, manager=staff)
        db.session.commit()
        return int(project.id)


def _is_socket_io(url: str) -> bool:
    return "/socket.io/" in url


def _message(page: Any, text: str) -> Any:
    """The message whose text is exactly ``text`` (waits until it is on the page)."""
    locator = page.locator("[data-testid=messages] [data-testid=message-text]", has_text=text.split("\n")[0])
    locator.first.wait_for(timeout=15000)
    return locator.first


def _send(page: Any, text: str) -> None:
    page.fill("[data-testid=message-body]", text)
    page.press("[data-testid=message-body]", "Enter")


# What a browser behind a proxy that refuses WebSocket upgrades sees: every WebSocket fails before it opens.
BLOCK_WEBSOCKETS = """
window.WebSocket = class BlockedWebSocket extends EventTarget {
  constructor(url) {
    super();
    this.url = String(url);
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 3;
      const error = new Event("error");
      if (this.onerror) { this.onerror(error); }
      this.dispatchEvent(error);
      const close = new CloseEvent("close", { code: 1006, wasClean: false });
      if (this.onclose) { this.onclose(close); }
      this.dispatchEvent(close);
    }, 20);
  }
  send() { throw new DOMException("blocked", "InvalidStateError"); }
  close() {}
};
"""


def _blocked_page(browser: Any, errors: list[str], *, polling_too: bool) -> Any:
    """A new browser context whose WebSockets fail (and, with ``polling_too``, every Socket.IO request)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(BLOCK_WEBSOCKETS)
    if polling_too:
        context.route(_is_socket_io, lambda route: route.abort())
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # script errors only: blocked requests are expected
    return page


def test_live_channel_masking_and_fallbacks(live_app, live_server, browser, shots):
    project_id = _scene(live_app)
    base = live_server.url
    channel = f"{base}/projects/{project_id}"
    watch = Watch()

    # 1. The company owner finds the project in the list and opens its channel.
    company = watch.page(browser)
    _log_in(company, base, COMPANY[0], COMPANY[1])
    company.click("[data-testid=nav-projects-top]")
    company.wait_for_selector(f"[data-testid=project-{project_id}]")
    assert f"Expert {PSEUDONYM}" in company.inner_text("[data-testid=projects]")
    assert EXPERT[2] not in company.inner_text("main")
    shots(company, "company-projects")
    company.click(f"[data-testid=project-{project_id}]")
    company.wait_for_url(re.compile(rf".*/projects/{project_id}$"))
    company.wait_for_selector(LIVE)
    shots(company, "company-channel-live")

    # 2. The expert opens the same channel in another browser context.
    expert = watch.page(browser)
    _log_in(expert, base, EXPERT[0], EXPERT[1])
    expert.goto(channel)
    expert.wait_for_selector(LIVE)
    expert.evaluate("window.__sameDocument = true")

    # 3. The company writes (Enter sends); the message appears on the expert's page without a reload.
    _send(company, HELLO)
    assert _message(company, HELLO).inner_text() == HELLO
    expect(company.locator("[data-testid=message-body]")).to_have_value("")  # cleared once the server acknowledged
    received = _message(expert, HELLO)
    assert received.inner_text() == HELLO  # the line break is kept (white-space: pre-wrap)
    assert expert.evaluate("window.__sameDocument") is True
    last = expert.locator("[data-testid=messages] [data-testid=message]").last
    assert COMPANY[2] in last.inner_text()
    shots(expert, "expert-receives-live")

    # 4. Shift+Enter starts a new line; the expert types a phone number in words; the company sees it masked.
    expert.fill("[data-testid=message-body]", "First line")
    expert.press("[data-testid=message-body]", "Shift+Enter")
    assert expert.input_value("[data-testid=message-body]") == "First line\n"
    _send(expert, PHONE)
    _message(expert, PHONE)
    masked = company.locator("[data-testid=messages] [data-testid=message]").last
    masked.locator("[data-testid=masked-note]").wait_for(timeout=15000)
    text = masked.locator("[data-testid=message-text]").inner_text()
    assert "Easier by phone" in text and "[•••]" in text
    assert "zero one seven six" not in text and "four four five five" not in text
    assert f"Expert {PSEUDONYM}" in masked.inner_text() and EXPERT[2] not in company.inner_text("main")
    assert "zero one seven six" not in company.content()
    shots(company, "company-sees-masked-phone")
    shots(expert, "expert-sees-own-words")

    # 5. An empty message is refused next to the form, and nothing is sent.
    company.fill("[data-testid=message-body]", "   ")
    company.click("[data-testid=send]")
    company.wait_for_selector("[data-testid=send-error]:visible")
    assert company.input_value("[data-testid=message-body]") == "   "

    # 6. WebSockets blocked: the client falls back to long-polling and stays live.
    polling_errors: list[str] = []
    polling = _blocked_page(browser, polling_errors, polling_too=False)
    transports: list[str] = []
    polling.on("request", lambda r: transports.append(r.url) if _is_socket_io(r.url) else None)
    _log_in(polling, base, COMPANY[0], COMPANY[1])
    polling.goto(channel)
    polling.wait_for_selector(LIVE, timeout=15000)
    assert any("transport=polling" in url for url in transports)
    _message(polling, "Easier by phone")  # the history is there (masked for the company)
    _send(polling, VIA_POLLING)
    _message(expert, VIA_POLLING)
    _send(expert, ANSWER_POLLING)
    _message(polling, ANSWER_POLLING)
    shots(polling, "company-over-long-polling")

    # 7. Socket.IO blocked completely: the page says so, refreshes every few seconds and sends over HTTP.
    offline_errors: list[str] = []
    offline = _blocked_page(browser, offline_errors, polling_too=True)
    _log_in(offline, base, COMPANY[0], COMPANY[1])
    offline.goto(channel)
    offline.wait_for_selector(OFFLINE, timeout=20000)
    assert "refreshing every few seconds" in offline.inner_text("[data-testid=connection-status]")
    _send(offline, VIA_HTTP)
    _message(offline, VIA_HTTP)
    _message(expert, VIA_HTTP)
    _send(expert, ANSWER_HTTP)
    _message(offline, ANSWER_HTTP)  # picked up by the next refresh
    shots(offline, "company-offline-refreshing")
    shots(expert, "expert-final")

    assert polling_errors == [] and offline_errors == []
    assert watch.errors == [], watch.errors
