"""Security headers on every kind of response (RELIABILITY.md §3.9), and no inline script."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from tests.conftest import login
from tests.factories import PASSWORD

PUBLIC_PAGES = ["/", "/login", "/signup/company", "/signup/expert", "/forgot-password", "/resend-verification",
                "/signup/check-email"]


def directives(resp) -> dict[str, str]:
    policy = resp.headers.get("Content-Security-Policy", "")
    assert policy, "no Content-Security-Policy header"
    parsed = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        parsed[name] = value.strip()
    return parsed


def assert_hardened(resp) -> None:
    csp = directives(resp)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["default-src"] == "'self'"
    assert csp["base-uri"] == "'none'"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] in {"same-origin", "strict-origin-when-cross-origin", "no-referrer"}
    assert resp.headers["X-Frame-Options"] == "DENY"


def assert_no_inline_script(resp) -> None:
    body = resp.get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>", body, flags=re.IGNORECASE)
    assert scripts, "expected the page to load its scripts"
    for tag in scripts:
        assert "src=" in tag, f"inline script: {tag}"
    assert not re.search(r"\son[a-z]+\s*=", body, flags=re.IGNORECASE), "inline event handler"
    assert "javascript:" not in body.lower()


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_are_hardened(client, path):
    resp = client.get(path)
    assert resp.status_code == 200
    assert_hardened(resp)
    assert_no_inline_script(resp)


def test_not_found_page_is_hardened_and_not_stored(client):
    resp = client.get("/no/such/page")
    assert resp.status_code == 404
    assert_hardened(resp)
    assert resp.headers["Cache-Control"] == "no-store"


def test_error_responses_are_hardened(client):
    resp = client.post("/login", data={})
    assert resp.status_code == 400
    assert_hardened(resp)
    resp = client.post("/logout")  # anonymous POST to a login-only route
    assert resp.status_code == 401
    assert_hardened(resp)


def test_static_files_get_nosniff_and_csp(client):
    resp = client.get("/static/css/hub.css")
    assert resp.status_code == 200
    assert_hardened(resp)


def test_authenticated_pages_are_not_stored(app, client, f):
    user = f.user()
    db.session.commit()
    login(client, user)
    for path in ("/account", "/two-factor/setup", "/no/such/page"):
        resp = client.get(path)
        assert resp.status_code in (200, 404), path
        assert_hardened(resp)
        assert resp.headers["Cache-Control"] == "no-store", path
    assert_no_inline_script(client.get("/account"))
    assert_no_inline_script(client.get("/two-factor/setup"))


def test_public_pages_are_revalidated_not_stored_by_shared_caches(client):
    resp = client.get("/login")
    assert "no-cache" in resp.headers["Cache-Control"] or "no-store" in resp.headers["Cache-Control"]


def test_session_cookie_flags(app, client, f):
    f.user(email="me@example.com")
    db.session.commit()
    resp = client.post("/login", data={"email": "me@example.com", "password": PASSWORD})
    assert resp.status_code == 302
    cookie = next(v for k, v in resp.headers if k == "Set-Cookie" and v.startswith("pc_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
