"""The auth pages end to end: sign-up, confirmation, log-in, throttling, sessions, reset, TOTP, CSRF."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import passwords
from app.extensions import db
from app.models import Company, EmailMessage, LoginAttempt, Role, User, UserSession
from app.services import accounts, sessions
from tests.conftest import login, make_app
from tests.factories import PASSWORD

COOKIE = "pc_session"
NEW_PASSWORD = "granite kettle morning harbour"  # noqa: S105


# Helpers -------------------------------------------------------------------------------


def post_login(client: FlaskClient, email: str, password: str = PASSWORD, *, ip: str | None = None, **extra):
    environ = {"REMOTE_ADDR": ip} if ip else {}
    return client.post("/login", data={"email": email, "password": password, **extra}, environ_base=environ)


def is_logged_in(client: FlaskClient) -> bool:
    resp = client.get("/account")
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def mail_to(address: str) -> list[EmailMessage]:
    return list(db.session.scalars(sa.select(EmailMessage).where(EmailMessage.to_address == address)
                                   .order_by(EmailMessage.id)))


def link_path(message: EmailMessage, prefix: str) -> str:
    match = re.search(rf"http://localhost(/{prefix}/\S+)", message.body_text)
    assert match, message.body_text
    return match.group(1)


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def cookie_value(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def browser_with_cookie(app: Flask, value: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def totp_secret_on_page(resp) -> str:
    match = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)</code>', resp.get_data(as_text=True))
    assert match, resp.get_data(as_text=True)
    return match.group(1).replace(" ", "")


# Sign-up, confirmation, log-in -----------------------------------------------------------


def test_company_signup_confirm_and_login(app, client):
    assert client.get("/signup/company").status_code == 200
    resp = client.post("/signup/company", data={
        "full_name": "Anna Schmidt", "email": "anna@molder-gmbh.com", "password": NEW_PASSWORD,
        "company_name": "Molder GmbH", "locale": "en",
    })
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/signup/check-email")
    page = client.get(resp.headers["Location"])
    assert "Check your e-mail" in text(page) and "anna@molder-gmbh.com" in text(page)
    assert 'action="/resend-verification"' in text(page)

    user = db.session.scalar(sa.select(User).where(User.email == "anna@molder-gmbh.com"))
    assert user.is_company_owner and db.session.get(Company, user.company_id).name == "Molder GmbH"

    # Not confirmed yet: the right password is refused with a way to get the link again.
    refused = post_login(client, "anna@molder-gmbh.com", NEW_PASSWORD)
    assert refused.status_code == 403
    assert "confirm your e-mail address first" in text(refused)
    assert "/resend-verification?email=anna@molder-gmbh.com" in text(refused)

    # The verification e-mail is in the embedded outbox; its link shows a button (GET changes nothing).
    [mail] = mail_to("anna@molder-gmbh.com")
    assert mail.subject == "Confirm your e-mail address for Plasticonnect Hub"
    path = link_path(mail, "verify-email")
    confirm_page = client.get(path)
    assert confirm_page.status_code == 200 and "anna@molder-gmbh.com" in text(confirm_page)
    db.session.refresh(user)
    assert user.email_verified_at is None
    done = client.post(path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert "your e-mail address is confirmed" in text(client.get("/login"))
    # The link is used up.
    again = client.get(path)
    assert again.status_code == 400 and "already confirmed" in text(again)

    resp = post_login(client, "Anna@Molder-GmbH.com", NEW_PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard")
    assert is_logged_in(client)


def test_expert_signup_creates_profile(app, client):
    resp = client.post("/signup/expert", data={
        "full_name": "Otto Expert", "email": "otto@example.com", "password": NEW_PASSWORD, "locale": "de",
    })
    assert resp.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "otto@example.com"))
    assert user.role is Role.EXPERT and user.expert_profile is not None and user.locale == "de"


@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("short one", "Use at least 12 characters"),
        ("password1234", "one of the most common passwords"),
        ("x" * 129, "Use at most 128 characters"),
    ],
)
def test_signup_password_rules_are_shown_on_the_field(app, client, password, error):
    resp = client.post("/signup/expert", data={
        "full_name": "Otto Expert", "email": "otto@example.com", "password": password, "locale": "en",
    })
    assert resp.status_code == 400
    page = text(resp)
    assert 'data-testid="error-password"' in page and error in page
    assert 'value="Otto Expert"' in page and 'value="otto@example.com"' in page  # what was typed is kept
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_signup_accepts_a_long_passphrase(app, client):
    passphrase = "the injection molder watched the parting line flash disappear after drying pellets"
    resp = client.post("/signup/expert", data={
        "full_name": "Otto Expert", "email": "otto@example.com", "password": passphrase, "locale": "en",
    })
    assert resp.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "otto@example.com"))
    assert passwords.verify_password(user.password_hash, passphrase)


def test_signup_field_errors_say_what_to_fix(app, client):
    resp = client.post("/signup/company", data={"full_name": "", "email": "nope", "password": "", "company_name": ""})
    assert resp.status_code == 400
    page = text(resp)
    for message in ("Enter your name.", "Enter a valid e-mail address", "Choose a password.",
                    "Enter your company's name."):
        assert message in page


def test_signup_with_a_taken_address_looks_the_same(app, client, f):
    f.user(email="taken@example.com")
    db.session.commit()
    data = {"full_name": "Otto", "password": NEW_PASSWORD, "locale": "en"}
    taken = client.post("/signup/expert", data={**data, "email": "taken@example.com"})
    fresh = client.post("/signup/expert", data={**data, "email": "fresh@example.com"})
    assert taken.status_code == fresh.status_code == 302
    assert taken.headers["Location"] == fresh.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
    assert mail_to("taken@example.com")[0].subject == "You already have a Plasticonnect Hub account"


def test_resend_verification_page(app, client, f):
    f.user(email="waiting@example.com", email_verified_at=None)
    db.session.commit()
    assert 'value="waiting@example.com"' in text(client.get("/resend-verification?email=waiting@example.com"))
    for address in ("waiting@example.com", "nobody@example.com"):
        resp = client.post("/resend-verification", data={"email": address})
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/signup/check-email")
    assert len(mail_to("waiting@example.com")) == 1
    assert mail_to("nobody@example.com") == []


def test_bad_verification_link(app, client):
    resp = client.get("/verify-email/not-a-token")
    assert resp.status_code == 400
    assert "not valid" in text(resp) and "/resend-verification" in text(resp)
    assert client.post("/verify-email/not-a-token").status_code == 400


# Log-in answers ------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_identical_responses(app, client, f):
    f.user(email="known@example.com")
    db.session.commit()
    known = post_login(app.test_client(), "known@example.com", "definitely not it")
    unknown = post_login(app.test_client(), "ghost@example.com", "definitely not it")
    assert known.status_code == unknown.status_code == 401
    assert "The e-mail address or the password is not right." in text(known)

    def page(resp, typed: str) -> str:
        body = resp.get_data(as_text=True).replace(typed, "<typed>")
        return re.sub(r'name="csrf_token" value="[^"]+"', "", body)  # random per browser

    assert page(known, "known@example.com") == page(unknown, "ghost@example.com")
    ignore = {"Content-Length", "Set-Cookie"}
    assert {k: v for k, v in known.headers if k not in ignore} == {k: v for k, v in unknown.headers if k not in ignore}


def test_login_form_errors(app, client):
    resp = client.post("/login", data={"email": "", "password": ""})
    assert resp.status_code == 400
    assert "Enter your e-mail address." in text(resp) and "Enter your password." in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0


def test_suspended_user_is_told_after_the_right_password(app, client, f):
    f.user(email="off@example.com", suspended_at=datetime.now(UTC))
    db.session.commit()
    assert post_login(client, "off@example.com", "wrong password again").status_code == 401
    resp = post_login(client, "off@example.com")
    assert resp.status_code == 403 and "suspended" in text(resp)
    assert not is_logged_in(client)


def test_login_follows_a_local_next_only(app, client, f):
    f.user(email="me@example.com")
    db.session.commit()
    page = client.get("/login?next=/account")
    assert 'name="next" type="hidden" value="/account"' in text(page)
    resp = post_login(client, "me@example.com", next="/account")
    assert resp.headers["Location"].endswith("/account")
    client.post("/logout")
    resp = post_login(client, "me@example.com", next="//evil.example/steal")
    assert resp.headers["Location"].endswith("/dashboard")


def test_protected_page_sends_to_login_with_next(app, client):
    resp = client.get("/account")
    assert resp.status_code == 302 and "/login?next=/account" in resp.headers["Location"]


# Throttling ----------------------------------------------------------------------------


def test_throttle_per_account_after_five_failures(app, client, f):
    f.user(email="victim@example.com")
    db.session.commit()
    for _ in range(5):
        assert post_login(client, "victim@example.com", "wrong guess again").status_code == 401
    resp = post_login(client, "victim@example.com")  # even the right password
    assert resp.status_code == 429
    assert "Too many failed log-ins for this account. Wait 15 minutes" in text(resp)
    assert 840 < int(resp.headers["Retry-After"]) <= 900
    assert not is_logged_in(client)
    # Another account from the same address still logs in.
    f.user(email="colleague@example.com")
    db.session.commit()
    assert post_login(client, "colleague@example.com").status_code == 302


def test_throttle_per_ip_after_twenty_failures_across_accounts(app, client, f):
    f.user(email="real@example.com")
    db.session.commit()
    for n in range(20):
        assert post_login(client, f"user{n}@example.com", "wrong guess again", ip="198.51.100.9").status_code == 401
    resp = post_login(client, "real@example.com", ip="198.51.100.9")
    assert resp.status_code == 429
    assert "Too many failed log-ins from your network. Wait 15 minutes" in text(resp)
    assert post_login(client, "real@example.com", ip="198.51.100.10").status_code == 302


# Sessions: fixation and replay ---------------------------------------------------------


def test_planted_cookie_is_not_authenticated_after_login(app, client, f):
    f.user(email="victim@example.com")
    db.session.commit()
    attacker = app.test_client()
    with attacker.session_transaction() as sess:
        sess["locale"] = "de"  # any content: the attacker now has a valid-looking cookie
    planted = cookie_value(attacker)

    victim = browser_with_cookie(app, planted)
    assert post_login(victim, "victim@example.com").status_code == 302
    assert is_logged_in(victim)
    assert cookie_value(victim) != planted

    assert not is_logged_in(browser_with_cookie(app, planted))


def test_cookie_replay_after_logout_is_refused(app, client, f):
    f.user(email="me@example.com")
    db.session.commit()
    post_login(client, "me@example.com")
    saved = cookie_value(client)
    assert is_logged_in(browser_with_cookie(app, saved))

    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert not is_logged_in(client)
    assert not is_logged_in(browser_with_cookie(app, saved))


def test_password_change_ends_the_other_sessions(app, client, f):
    user = f.user(email="me@example.com")
    db.session.commit()
    post_login(client, "me@example.com")
    laptop = app.test_client()
    post_login(laptop, "me@example.com")
    laptop_cookie = cookie_value(laptop)

    resp = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    })
    assert resp.status_code == 302
    assert is_logged_in(client)  # this browser stays logged in
    assert not is_logged_in(laptop)
    assert not is_logged_in(browser_with_cookie(app, laptop_cookie))
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_suspension_ends_live_sessions(app, client, f):
    user = f.user(email="me@example.com")
    admin = f.admin()
    db.session.commit()
    post_login(client, "me@example.com")
    saved = cookie_value(client)
    assert is_logged_in(client)

    accounts.suspend_user(user.id, actor=admin, reason="Under investigation")

    assert not is_logged_in(client)
    assert not is_logged_in(browser_with_cookie(app, saved))
    assert post_login(app.test_client(), "me@example.com").status_code == 403


# Password reset ------------------------------------------------------------------------


def test_password_reset_is_single_use(app, client, f):
    user = f.user(email="me@example.com")
    db.session.commit()
    other_browser = app.test_client()
    post_login(other_browser, "me@example.com")

    for address in ("me@example.com", "nobody@example.com"):
        resp = client.post("/forgot-password", data={"email": address})
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert "we sent it a link to choose a new password" in text(client.get("/login"))
    assert mail_to("nobody@example.com") == []
    path = link_path(mail_to("me@example.com")[0], "reset-password")

    form = client.get(path)
    assert form.status_code == 200 and "me@example.com" in text(form)
    bad = client.post(path, data={"password": "password1234", "confirm": "password1234"})
    assert bad.status_code == 400 and "most common passwords" in text(bad)
    mismatch = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert mismatch.status_code == 400 and "The two passwords are not the same." in text(mismatch)

    done = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert not is_logged_in(other_browser)  # every session ended

    reused = client.post(path, data={"password": "yet another passphrase", "confirm": "yet another passphrase"})
    assert reused.status_code == 400 and "already used" in text(reused)
    assert client.get(path).status_code == 400

    assert post_login(client, "me@example.com", PASSWORD).status_code == 401
    assert post_login(client, "me@example.com", NEW_PASSWORD).status_code == 302
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_reset_password_page_refuses_a_forged_token(app, client):
    resp = client.get("/reset-password/forged.token.value")
    assert resp.status_code == 400 and "/forgot-password" in text(resp)


# Two-factor ----------------------------------------------------------------------------


def test_admin_must_enrol_totp_at_first_login_and_codes_work_once(app, client, f):
    admin = f.admin(email="boss@example.com")
    db.session.commit()

    resp = post_login(client, "boss@example.com", next="/account")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/two-factor/setup")
    assert not is_logged_in(client)  # the password alone logs no admin in

    page = client.get("/two-factor/setup")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'data-testid="totp-mandatory"' in body
    assert "<svg" in body and "<path" in body and "<script" not in body.split("<main", 1)[1].split("</main>")[0]
    secret = totp_secret_on_page(page)
    assert client.get("/two-factor/setup").get_data(as_text=True).count(secret[:4]) >= 1  # same secret on reload
    totp = pyotp.TOTP(secret)

    wrong = client.post("/two-factor/setup", data={"code": "000000" if totp.now() != "000000" else "111111"})
    assert wrong.status_code == 400 and "does not match" in text(wrong)
    assert not is_logged_in(client)

    code = totp.now()
    done = client.post("/two-factor/setup", data={"code": code})
    assert done.status_code == 302 and done.headers["Location"].endswith("/account")
    assert is_logged_in(client)
    db.session.expire_all()
    assert db.session.get(User, admin.id).totp_enabled

    client.post("/logout")
    resp = post_login(client, "boss@example.com")
    assert resp.headers["Location"].endswith("/login/two-factor")
    assert not is_logged_in(client)
    replay = client.post("/login/two-factor", data={"code": code})
    assert replay.status_code == 400 and "already used" in text(replay)
    assert not is_logged_in(client)
    nxt = client.post("/login/two-factor", data={"code": totp.at(time.time() + 30)})
    assert nxt.status_code == 302 and nxt.headers["Location"].endswith("/dashboard")
    assert is_logged_in(client)


def test_two_factor_step_needs_a_password_first(app, client):
    resp = client.get("/login/two-factor")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert client.get("/two-factor/setup").status_code == 302


def test_user_turns_totp_on_and_off_from_the_account_page(app, client, f):
    f.user(email="me@example.com")
    db.session.commit()
    post_login(client, "me@example.com")
    assert 'data-testid="totp-enable"' in text(client.get("/account"))
    secret = totp_secret_on_page(client.get("/two-factor/setup"))
    resp = client.post("/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account")
    assert "Two-factor authentication is on" in text(client.get("/account"))

    # Next log-in asks for a code.
    client.post("/logout")
    assert post_login(client, "me@example.com").headers["Location"].endswith("/login/two-factor")
    assert client.post("/login/two-factor", data={"code": pyotp.TOTP(secret).at(time.time() + 30)}).status_code == 302

    wrong = client.post("/account/two-factor/disable", data={"password": "not my password"})
    assert wrong.status_code == 400 and "Your password is not right." in text(wrong)
    off = client.post("/account/two-factor/disable", data={"password": PASSWORD})
    assert off.status_code == 302
    assert 'data-testid="totp-enable"' in text(client.get("/account"))


def test_admin_cannot_turn_totp_off(app, client, f):
    admin = f.admin(totp_secret=pyotp.random_base32(), totp_enabled_at=datetime.now(UTC))
    db.session.commit()
    login(client, admin)
    page = text(client.get("/account"))
    assert "mandatory for hub admins" in page and 'data-testid="totp-disable"' not in page
    resp = client.post("/account/two-factor/disable", data={"password": PASSWORD})
    assert resp.status_code == 302
    assert "mandatory" in text(client.get("/account"))
    db.session.expire_all()
    assert db.session.get(User, admin.id).totp_enabled


# The account page ----------------------------------------------------------------------


def test_account_page_updates_name_language_and_time_zone(app, client, f):
    user = f.user(full_name="Old Name")
    db.session.commit()
    login(client, user)
    page = text(client.get("/account"))
    assert 'value="Old Name"' in page and '<option value="Europe/Berlin">Europe/Berlin</option>' in page
    resp = client.post("/account", data={"full_name": "New Name", "locale": "de", "timezone": "Europe/Berlin"})
    assert resp.status_code == 302
    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert (saved.full_name, saved.locale, saved.timezone) == ("New Name", "de", "Europe/Berlin")

    bad = client.post("/account", data={"full_name": "", "locale": "en", "timezone": "Nowhere/Land"})
    assert bad.status_code == 400
    # The page is in German now (the user's choice), so look for the field errors, not their wording.
    assert 'data-testid="error-full_name"' in text(bad) and 'data-testid="error-timezone"' in text(bad)
    assert '<html lang="de">' in text(bad)


def test_change_password_errors_are_shown_on_the_fields(app, client, f):
    user = f.user(email="me@example.com")
    db.session.commit()
    login(client, user)
    wrong = client.post("/account/password", data={
        "current_password": "not it at all", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    })
    assert wrong.status_code == 400 and "Your current password is not right." in text(wrong)
    weak = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "password1234", "confirm": "password1234",
    })
    assert weak.status_code == 400 and "most common passwords" in text(weak)
    db.session.expire_all()
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, PASSWORD)


def test_sessions_are_listed_and_others_can_be_logged_out(app, client, f):
    user = f.user(email="me@example.com")
    db.session.commit()
    post_login(client, "me@example.com")
    phone = app.test_client()
    post_login(phone, "me@example.com")
    page = text(client.get("/account"))
    assert page.count('data-testid="session"') == 2 and page.count('data-testid="current-session"') == 1

    resp = client.post("/account/sessions/end-others")
    assert resp.status_code == 302
    assert is_logged_in(client) and not is_logged_in(phone)
    assert "You are logged in only here." in text(client.get("/account"))

    post_login(phone, "me@example.com")
    row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user.id,
                                                         UserSession.revoked_at.is_(None))
                            .order_by(UserSession.id.desc()))
    assert client.post(f"/account/sessions/{row.id}/end").status_code == 302
    assert not is_logged_in(phone)
    assert client.post(f"/account/sessions/{row.id}/end").status_code == 404


def test_forgot_password_is_rate_limited_per_address(app, client):
    for _ in range(10):
        assert client.post("/forgot-password", data={"email": "someone@example.com"}).status_code == 302
    resp = client.post("/forgot-password", data={"email": "someone@example.com"})
    assert resp.status_code == 429 and "too often" in text(resp)


# CSRF ----------------------------------------------------------------------------------


@pytest.fixture
def csrf_app(app: Flask, storage_dir: str) -> Iterator[Flask]:
    """The same app with CSRF on (the ``app`` fixture cleans a shared PostgreSQL afterwards)."""
    application = make_app(storage_dir, WTF_CSRF_ENABLED=True)
    sqlite = application.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    with application.app_context():
        if sqlite:
            db.create_all()
        yield application
        db.session.remove()
        if sqlite:
            db.drop_all()
        db.engine.dispose()


def csrf_token(resp) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', resp.get_data(as_text=True))
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_forms_carry_a_working_csrf_token(csrf_app, f):
    f.user(email="me@example.com")
    db.session.commit()
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login"))
    resp = client.post("/login", data={"email": "me@example.com", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    account = client.get("/account")
    assert account.status_code == 200
    # Every form on the account page carries the token.
    assert account.get_data(as_text=True).count('name="csrf_token"') >= 4


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(csrf_app, f):
    user = f.user(email="me@example.com")
    db.session.commit()
    client = csrf_app.test_client()

    assert client.post("/login", data={"email": "me@example.com", "password": PASSWORD}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0
    assert client.post("/signup/expert", data={
        "full_name": "Otto", "email": "otto@example.com", "password": NEW_PASSWORD, "locale": "en",
    }).status_code == 400
    assert client.post("/forgot-password", data={"email": "me@example.com"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailMessage)) == 0

    login(client, user)
    other = sessions.open_session(user, ip="192.0.2.1", user_agent="other")
    assert client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
    }).status_code == 400
    assert client.post("/account", data={"full_name": "Hacked", "locale": "de", "timezone": "UTC"}).status_code == 400
    assert client.post("/account/sessions/end-others").status_code == 400
    assert client.post("/logout").status_code == 400
    wrong = client.post("/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 400

    db.session.expire_all()
    saved = db.session.get(User, user.id)
    assert passwords.verify_password(saved.password_hash, PASSWORD) and saved.full_name != "Hacked"
    assert sessions.resolve(other, idle=timedelta(hours=1), absolute=timedelta(hours=24)) is not None
    assert is_logged_in(client)


def test_every_auth_post_route_requires_a_csrf_token(csrf_app, f):
    user = f.user()
    db.session.commit()
    client = login(csrf_app.test_client(), user)
    rules = [r for r in csrf_app.url_map.iter_rules() if r.endpoint.startswith("auth.") and "POST" in r.methods]
    assert len(rules) >= 12
    for rule in rules:
        url = rule.rule.replace("<token>", "x").replace("<int:session_id>", "1")
        resp = client.post(url, data={})
        assert resp.status_code == 400, url
    assert is_logged_in(client)
