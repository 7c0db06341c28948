"""app/services/accounts.py: every function, allowed and refused."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from freezegun import freeze_time

from app import passwords
from app.exceptions import NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    AuditEvent,
    Company,
    CompanyRole,
    EmailMessage,
    ExpertProfile,
    LoginAttempt,
    Notification,
    Role,
    User,
    UserSession,
    VerificationStatus,
)
from app.services import accounts, sessions
from tests.factories import PASSWORD

NEW_PASSWORD = "granite kettle morning harbour"  # noqa: S105
IP = "203.0.113.7"


# Helpers -------------------------------------------------------------------------------


def actions(user_id: int | None = None) -> list[str]:
    stmt = sa.select(AuditEvent.action).order_by(AuditEvent.id)
    if user_id is not None:
        stmt = stmt.where(AuditEvent.entity == "users", AuditEvent.entity_id == user_id)
    return list(db.session.scalars(stmt))


def mails(to: str) -> list[EmailMessage]:
    stmt = sa.select(EmailMessage).where(EmailMessage.to_address == to).order_by(EmailMessage.id)
    return list(db.session.scalars(stmt))


def link_token(message: EmailMessage, prefix: str) -> str:
    match = re.search(rf"http://localhost/{prefix}/(\S+)", message.body_text)
    assert match, message.body_text
    return match.group(1)


def notes(user: User) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user.id)))


def live_sessions(user: User) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).select_from(UserSession).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
    )


def totp_user(f, **overrides):
    secret = pyotp.random_base32()
    user = f.user(totp_secret=secret, totp_enabled_at=datetime.now(UTC), **overrides)
    return user, pyotp.TOTP(secret)


def failures(email: str, n: int, *, ip: str = IP, minutes_ago: float = 0) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    for _ in range(n):
        db.session.add(LoginAttempt(email=email, ip_address=ip, succeeded=False, created_at=at))
    db.session.commit()


# Sign-up -------------------------------------------------------------------------------


def test_register_company_owner_creates_owner_and_draft_company(app):
    user = accounts.register_company_owner(
        email="  Anna.Schmidt@Molder.COM ", password=PASSWORD, full_name="Anna  Schmidt",
        company_name="Molder GmbH", locale="de",
    )
    assert user.email == "anna.schmidt@molder.com"
    assert user.full_name == "Anna Schmidt"
    assert user.role is Role.COMPANY and user.company_role is CompanyRole.OWNER
    assert user.locale == "de"
    assert user.email_verified_at is None
    assert user.password_hash.startswith("$argon2id$")
    assert passwords.verify_password(user.password_hash, PASSWORD)
    company = db.session.get(Company, user.company_id)
    assert company.name == "Molder GmbH"
    assert company.status is VerificationStatus.DRAFT
    assert company.contact_email == "anna.schmidt@molder.com"
    assert actions(user.id) == ["user.registered"]
    [mail] = mails("anna.schmidt@molder.com")
    assert "/verify-email/" in mail.body_text and "/verify-email/" in mail.body_html
    assert mail.user_id == user.id


def test_register_expert_creates_draft_profile_with_pseudonym(app):
    user = accounts.register_expert(email="otto@example.com", password=PASSWORD, full_name="Otto Expert")
    profile = db.session.scalar(sa.select(ExpertProfile).where(ExpertProfile.user_id == user.id))
    assert user.role is Role.EXPERT and user.company_id is None
    assert profile.status is VerificationStatus.DRAFT
    assert re.fullmatch(r"[2-9A-Z]{4,5}", profile.pseudonym)
    assert actions(user.id) == ["user.registered"]
    assert len(mails("otto@example.com")) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password": "short pass"}, "at least 12 characters"),
        ({"password": "password1234"}, "most common passwords"),
        ({"password": "123456789012"}, "easy to guess"),
        ({"password": "otto.expert rocks"}, "e-mail address or name"),
        ({"email": "not-an-address"}, "valid e-mail address"),
        ({"full_name": "   "}, "Enter your name"),
        ({"locale": "fr"}, "languages"),
    ],
)
def test_register_refuses_bad_input_and_creates_nothing(app, kwargs, message):
    values = {"email": "otto.expert@example.com", "password": PASSWORD, "full_name": "Otto", "locale": "en"} | kwargs
    with pytest.raises(ValidationFailed, match=message):
        accounts.register_expert(**values)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailMessage)) == 0


def test_register_company_refuses_empty_company_name(app):
    with pytest.raises(ValidationFailed, match="company's name"):
        accounts.register_company_owner(email="a@example.com", password=PASSWORD, full_name="A", company_name=" ")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 0


def test_register_with_taken_address_tells_the_owner_and_creates_nothing(app, f):
    existing = f.user(email="taken@example.com")
    with pytest.raises(accounts.EmailTaken):
        accounts.register_company_owner(
            email="TAKEN@example.com", password=PASSWORD, full_name="Mallory", company_name="X"
        )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Company)) == 0
    [mail] = mails("taken@example.com")
    assert mail.subject == "You already have a Plasticonnect Hub account"
    assert "/forgot-password" in mail.body_text
    assert existing.full_name in mail.body_text


def test_register_with_unverified_address_sends_the_link_again(app, f):
    f.user(email="pending@example.com", email_verified_at=None)
    with pytest.raises(accounts.EmailTaken):
        accounts.register_expert(email="pending@example.com", password=PASSWORD, full_name="P")
    [mail] = mails("pending@example.com")
    assert "/verify-email/" in mail.body_text


# E-mail verification -------------------------------------------------------------------


def test_verify_email_confirms_once(app):
    user = accounts.register_expert(email="v@example.com", password=PASSWORD, full_name="V")
    token = link_token(mails("v@example.com")[0], "verify-email")
    assert accounts.user_for_verification_token(token).id == user.id

    verified = accounts.verify_email(token)

    assert verified.email_verified_at is not None
    assert actions(user.id) == ["user.registered", "user.email_verified"]
    with pytest.raises(accounts.InvalidToken, match="already confirmed"):
        accounts.verify_email(token)


def test_verify_email_refuses_tampered_expired_and_stale_tokens(app):
    user = accounts.register_expert(email="v@example.com", password=PASSWORD, full_name="V")
    token = link_token(mails("v@example.com")[0], "verify-email")
    with pytest.raises(accounts.InvalidToken, match="not valid"):
        accounts.verify_email(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with freeze_time(datetime.now(UTC) + timedelta(hours=73)), pytest.raises(accounts.InvalidToken, match="expired"):
        accounts.verify_email(token)
    # A reset token is not a verification token (distinct salts).
    accounts.request_password_reset("v@example.com")
    reset_token = link_token(mails("v@example.com")[-1], "reset-password")
    with pytest.raises(accounts.InvalidToken):
        accounts.verify_email(reset_token)
    # The link is only good for the address it was sent to.
    user.email = "changed@example.com"
    db.session.commit()
    with pytest.raises(accounts.InvalidToken):
        accounts.verify_email(token)
    assert db.session.get(User, user.id).email_verified_at is None


def test_resend_verification_only_for_unconfirmed_accounts(app, f):
    f.user(email="new@example.com", email_verified_at=None)
    f.user(email="done@example.com")
    f.user(email="gone@example.com", email_verified_at=None, suspended_at=datetime.now(UTC))

    for address in ("NEW@example.com", "done@example.com", "nobody@example.com", "gone@example.com"):
        assert accounts.resend_verification(address) is None

    assert len(mails("new@example.com")) == 1
    assert mails("done@example.com") == mails("nobody@example.com") == mails("gone@example.com") == []


# Log-in --------------------------------------------------------------------------------


def test_authenticate_records_a_successful_login(app, f):
    user = f.user(email="ok@example.com")
    assert accounts.authenticate("OK@example.com ", PASSWORD, ip=IP) is user
    attempt = db.session.scalar(sa.select(LoginAttempt))
    assert (attempt.email, attempt.ip_address, attempt.succeeded) == ("ok@example.com", IP, True)
    assert actions(user.id) == ["user.login"]


def test_authenticate_upgrades_a_weak_hash(app, f):
    app.config["PASSWORD_HASH_PROFILE"] = "strong"  # production parameters for this test
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    user = f.user(email="old@example.com", password_hash=weak)
    accounts.authenticate("old@example.com", PASSWORD, ip=IP)
    assert user.password_hash != weak
    assert not passwords.needs_rehash(user.password_hash)
    assert passwords.verify_password(user.password_hash, PASSWORD)


def test_unknown_address_and_wrong_password_fail_identically(app, f):
    user = f.user(email="known@example.com")
    with pytest.raises(accounts.InvalidCredentials) as wrong:
        accounts.authenticate("known@example.com", "not the password at all", ip=IP)
    with pytest.raises(accounts.InvalidCredentials) as unknown:
        accounts.authenticate("unknown@example.com", "not the password at all", ip=IP)
    assert str(wrong.value) == str(unknown.value) == "The e-mail address or the password is not right."
    assert wrong.value.status_code == unknown.value.status_code
    rows = db.session.scalars(sa.select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [(r.email, r.succeeded) for r in rows] == [("known@example.com", False), ("unknown@example.com", False)]
    assert actions() == ["user.login_failed", "user.login_failed"]
    assert actions(user.id) == ["user.login_failed"]


def test_unverified_and_suspended_are_only_told_with_the_right_password(app, f):
    f.user(email="unverified@example.com", email_verified_at=None)
    f.user(email="suspended@example.com", suspended_at=datetime.now(UTC))
    with pytest.raises(accounts.EmailNotVerified) as exc:
        accounts.authenticate("unverified@example.com", PASSWORD, ip=IP)
    assert exc.value.email == "unverified@example.com"
    with pytest.raises(accounts.AccountSuspended):
        accounts.authenticate("suspended@example.com", PASSWORD, ip=IP)
    for address in ("unverified@example.com", "suspended@example.com"):
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(address, "a wrong password here", ip=IP)


def test_admin_password_step_does_not_complete_the_login(app, f):
    admin = f.admin(email="admin@example.com")
    assert accounts.requires_second_factor(admin)
    assert accounts.authenticate("admin@example.com", PASSWORD, ip=IP) is admin
    assert "user.login" not in actions(admin.id)
    assert not accounts.requires_second_factor(f.user())


def test_throttle_per_account_after_five_failures(app, f):
    f.user(email="victim@example.com")
    for _ in range(5):
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate("victim@example.com", "wrong guess number", ip=IP)
    with pytest.raises(accounts.LoginThrottled) as exc:
        accounts.authenticate("victim@example.com", PASSWORD, ip="198.51.100.1")  # even right, from elsewhere
    assert "Wait 15 minutes" in str(exc.value)
    assert 840 < exc.value.retry_after <= 900
    assert exc.value.status_code == 429
    # A throttled attempt is not counted (the lock does not extend itself).
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 5
    # Other accounts from the same address are not affected.
    other = f.user(email="other@example.com")
    assert accounts.authenticate("other@example.com", PASSWORD, ip=IP) is other


def test_throttle_says_how_long_to_wait_and_expires(app, f):
    user = f.user(email="victim@example.com")
    failures("victim@example.com", 5, minutes_ago=10)
    with pytest.raises(accounts.LoginThrottled, match="Wait 5 minutes"):
        accounts.authenticate("victim@example.com", PASSWORD, ip=IP)
    with freeze_time(datetime.now(UTC) + timedelta(minutes=5, seconds=1)):
        assert accounts.authenticate("victim@example.com", PASSWORD, ip=IP) is user


def test_failures_outside_the_window_do_not_count(app, f):
    user = f.user(email="victim@example.com")
    failures("victim@example.com", 10, minutes_ago=16)
    failures("someone@example.com", 30, minutes_ago=16)
    assert accounts.authenticate("victim@example.com", PASSWORD, ip=IP) is user


def test_account_counter_restarts_after_a_completed_login(app, f):
    user = f.user(email="typo@example.com")
    failures("typo@example.com", 4, minutes_ago=2)
    accounts.authenticate("typo@example.com", PASSWORD, ip=IP)
    failures("typo@example.com", 4)
    assert accounts.authenticate("typo@example.com", PASSWORD, ip=IP) is user


def test_throttle_per_ip_after_twenty_failures_across_accounts(app, f):
    f.user(email="fresh@example.com")
    for n in range(20):
        with pytest.raises(accounts.InvalidCredentials):
            accounts.authenticate(f"guess{n}@example.com", "wrong guess number", ip=IP)
    with pytest.raises(accounts.LoginThrottled, match="from your network"):
        accounts.authenticate("fresh@example.com", PASSWORD, ip=IP)
    assert accounts.authenticate("fresh@example.com", PASSWORD, ip="198.51.100.1").email == "fresh@example.com"


# TOTP ----------------------------------------------------------------------------------


def test_start_totp_gives_a_secret_without_saving_it(app, f):
    user = f.user(email="me@example.com")
    setup = accounts.start_totp(user.id, actor=user)
    assert re.fullmatch(r"[A-Z2-7]{32}", setup.secret)
    assert setup.uri.startswith("otpauth://totp/") and "issuer=Plasticonnect%20Hub" in setup.uri
    assert "me%40example.com" in setup.uri
    assert user.totp_secret is None and not user.totp_enabled


def test_start_totp_refusals(app, f):
    user, _ = totp_user(f)
    other = f.user()
    with pytest.raises(PermissionDenied):
        accounts.start_totp(other.id, actor=user)
    with pytest.raises(ValidationFailed, match="already on"):
        accounts.start_totp(user.id, actor=user)
    with pytest.raises(NotFound):
        accounts.start_totp(999_999, actor=user)


def test_confirm_totp_turns_it_on(app, f):
    user = f.user()
    setup = accounts.start_totp(user.id, actor=user)
    accounts.confirm_totp(user.id, actor=user, secret=setup.secret, code=pyotp.TOTP(setup.secret).now())
    assert user.totp_enabled and user.totp_secret == setup.secret
    assert user.totp_last_step == pyotp.TOTP(setup.secret).timecode(datetime.now(UTC))
    assert actions(user.id) == ["user.totp_enabled"]


def test_confirm_totp_at_login_records_the_login(app, f):
    admin = f.admin()
    setup = accounts.start_totp(admin.id, actor=admin)
    accounts.confirm_totp(admin.id, actor=admin, secret=setup.secret, code=pyotp.TOTP(setup.secret).now(),
                          login_ip=IP)
    assert actions(admin.id) == ["user.totp_enabled", "user.login"]
    assert db.session.scalar(sa.select(LoginAttempt.succeeded)) is True


def test_confirm_totp_refusals(app, f):
    user = f.user()
    other = f.user()
    setup = accounts.start_totp(user.id, actor=user)
    with pytest.raises(ValidationFailed, match="does not match"):
        accounts.confirm_totp(user.id, actor=user, secret=setup.secret, code="000000")
    with pytest.raises(ValidationFailed, match="does not match"):
        accounts.confirm_totp(user.id, actor=user, secret="not base32!", code="123456")
    with pytest.raises(PermissionDenied):
        accounts.confirm_totp(user.id, actor=other, secret=setup.secret, code=pyotp.TOTP(setup.secret).now())
    assert not user.totp_enabled
    enabled, totp = totp_user(f)
    with pytest.raises(ValidationFailed, match="already on"):
        accounts.confirm_totp(enabled.id, actor=enabled, secret=pyotp.random_base32(), code=totp.now())


def test_check_totp_accepts_a_code_once(app, f):
    user, totp = totp_user(f)
    code = totp.now()
    assert accounts.check_totp(user.id, code, ip=IP) is True
    assert actions(user.id) == ["user.login"]
    assert accounts.check_totp(user.id, code, ip=IP) is False  # replay
    previous = totp.at(time.time() - 30)
    assert accounts.check_totp(user.id, previous, ip=IP) is False  # an older step after a newer one
    assert accounts.check_totp(user.id, totp.at(time.time() + 30), ip=IP) is True  # drift: next step
    assert actions(user.id)[-3:] == ["user.login_failed", "user.login_failed", "user.login"]


def test_check_totp_refuses_wrong_codes_and_throttles(app, f):
    user, totp = totp_user(f)
    assert accounts.check_totp(user.id, "12345", ip=IP) is False
    for _ in range(4):
        assert accounts.check_totp(user.id, "000000" if totp.now() != "000000" else "111111", ip=IP) is False
    with pytest.raises(accounts.LoginThrottled):
        accounts.check_totp(user.id, totp.now(), ip=IP)
    assert user.totp_last_step is None


def test_check_totp_without_second_factor(app, f):
    user = f.user()
    with pytest.raises(ValidationFailed):
        accounts.check_totp(user.id, "123456", ip=IP)
    with pytest.raises(NotFound):
        accounts.check_totp(999_999, "123456", ip=IP)


def test_disable_totp(app, f):
    user, _ = totp_user(f)
    accounts.disable_totp(user.id, actor=user, password=PASSWORD)
    assert not user.totp_enabled and user.totp_secret is None and user.totp_last_step is None
    assert actions(user.id) == ["user.totp_disabled"]
    assert notes(user) == ["account.two_factor_disabled"]


def test_disable_totp_refusals(app, f):
    user, _ = totp_user(f)
    admin, _ = totp_user(f, role=Role.ADMIN)
    with pytest.raises(accounts.WrongPassword):
        accounts.disable_totp(user.id, actor=user, password="not my password")
    with pytest.raises(PermissionDenied):
        accounts.disable_totp(user.id, actor=admin, password=PASSWORD)
    with pytest.raises(PermissionDenied, match="mandatory"):
        accounts.disable_totp(admin.id, actor=admin, password=PASSWORD)
    plain = f.user()
    with pytest.raises(ValidationFailed, match="already off"):
        accounts.disable_totp(plain.id, actor=plain, password=PASSWORD)
    assert user.totp_enabled and admin.totp_enabled


# Password reset and change -------------------------------------------------------------


def test_request_password_reset_sends_only_to_active_accounts(app, f):
    f.user(email="me@example.com")
    f.user(email="off@example.com", suspended_at=datetime.now(UTC))
    for address in ("me@example.com", "nobody@example.com", "off@example.com"):
        assert accounts.request_password_reset(address) is None
    [mail] = mails("me@example.com")
    assert mail.subject == "Choose a new password for Plasticonnect Hub"
    assert "60 minutes" in mail.body_text
    assert mails("nobody@example.com") == mails("off@example.com") == []


def test_reset_password_sets_it_ends_sessions_and_works_once(app, f):
    user = f.user(email="me@example.com", email_verified_at=None)
    sessions.open_session(user, ip=IP, user_agent="a")
    sessions.open_session(user, ip=IP, user_agent="b")
    accounts.request_password_reset("me@example.com")
    token = link_token(mails("me@example.com")[0], "reset-password")

    accounts.reset_password(token, new_password=NEW_PASSWORD)

    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert user.email_verified_at is not None  # the link proved the mailbox
    assert live_sessions(user) == 0
    assert actions(user.id) == ["user.password_reset"]
    assert notes(user) == ["account.password_changed"]
    with pytest.raises(accounts.InvalidToken, match="already used"):
        accounts.reset_password(token, new_password="another fine passphrase")
    with pytest.raises(accounts.InvalidToken):
        accounts.user_for_reset_token(token)


def test_reset_password_refusals_keep_the_link_usable(app, f):
    user = f.user(email="me@example.com")
    accounts.request_password_reset("me@example.com")
    token = link_token(mails("me@example.com")[0], "reset-password")
    with pytest.raises(ValidationFailed, match="most common"):
        accounts.reset_password(token, new_password="password1234")
    db.session.rollback()
    with pytest.raises(accounts.InvalidToken, match="not valid"):
        accounts.reset_password(token + "x", new_password=NEW_PASSWORD)
    with freeze_time(datetime.now(UTC) + timedelta(minutes=61)), pytest.raises(accounts.InvalidToken, match="expired"):
        accounts.reset_password(token, new_password=NEW_PASSWORD)
    accounts.reset_password(token, new_password=NEW_PASSWORD)
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, NEW_PASSWORD)


def test_change_password_keeps_this_session_and_ends_the_others(app, f):
    user = f.user()
    here = sessions.open_session(user, ip=IP, user_agent="here")
    sessions.open_session(user, ip=IP, user_agent="elsewhere")

    accounts.change_password(user.id, actor=user, current_password=PASSWORD, new_password=NEW_PASSWORD,
                             keep_token=here)

    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert live_sessions(user) == 1
    assert [s.current for s in accounts.active_sessions(user.id, current_token=here)] == [True]
    assert actions(user.id) == ["user.password_changed"]
    assert notes(user) == ["account.password_changed"]


def test_change_password_refusals(app, f):
    user = f.user()
    other = f.user()
    with pytest.raises(accounts.WrongPassword):
        accounts.change_password(user.id, actor=user, current_password="wrong one", new_password=NEW_PASSWORD,
                                 keep_token=None)
    with pytest.raises(ValidationFailed, match="same as the current"):
        accounts.change_password(user.id, actor=user, current_password=PASSWORD, new_password=PASSWORD,
                                 keep_token=None)
    with pytest.raises(ValidationFailed, match="at least 12"):
        accounts.change_password(user.id, actor=user, current_password=PASSWORD, new_password="tiny",
                                 keep_token=None)
    with pytest.raises(PermissionDenied):
        accounts.change_password(user.id, actor=other, current_password=PASSWORD, new_password=NEW_PASSWORD,
                                 keep_token=None)
    assert passwords.verify_password(db.session.get(User, user.id).password_hash, PASSWORD)
    assert actions(user.id) == []


# Suspension ----------------------------------------------------------------------------


def test_suspend_user_ends_sessions_and_notifies(app, f):
    admin = f.admin()
    user = f.user(email="bad@example.com")
    sessions.open_session(user, ip=IP, user_agent="x")

    accounts.suspend_user(user.id, actor=admin, reason="Fake documents")

    assert user.suspended_at is not None and not user.is_active
    assert live_sessions(user) == 0
    assert actions(user.id) == ["user.suspended"]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.suspended"))
    assert event.actor_id == admin.id and event.data == {"reason": "Fake documents"}
    assert notes(user) == ["account.suspended"]
    # The notification e-mail still reaches the suspended user.
    assert any("Fake documents" in m.body_text for m in mails("bad@example.com"))


def test_suspend_user_refusals(app, f):
    admin = f.admin()
    other_admin = f.admin()
    superadmin = f.admin(is_superadmin=True)
    user = f.user()
    with pytest.raises(PermissionDenied):
        accounts.suspend_user(user.id, actor=f.user(), reason="r")
    with pytest.raises(PermissionDenied):
        accounts.suspend_user(admin.id, actor=admin, reason="r")
    with pytest.raises(PermissionDenied):
        accounts.suspend_user(other_admin.id, actor=admin, reason="r")
    with pytest.raises(ValidationFailed, match="reason"):
        accounts.suspend_user(user.id, actor=admin, reason="  ")
    with pytest.raises(NotFound):
        accounts.suspend_user(999_999, actor=admin, reason="r")
    assert user.suspended_at is None and other_admin.suspended_at is None
    accounts.suspend_user(other_admin.id, actor=superadmin, reason="left the company")
    assert other_admin.suspended_at is not None
    with pytest.raises(ValidationFailed, match="already suspended"):
        accounts.suspend_user(other_admin.id, actor=superadmin, reason="again")


def test_reinstate_user(app, f):
    admin = f.admin()
    user = f.user(suspended_at=datetime.now(UTC))
    with pytest.raises(PermissionDenied):
        accounts.reinstate_user(user.id, actor=f.user())
    accounts.reinstate_user(user.id, actor=admin)
    assert user.suspended_at is None
    assert actions(user.id) == ["user.reinstated"]
    assert notes(user) == ["account.reinstated"]
    with pytest.raises(ValidationFailed, match="not suspended"):
        accounts.reinstate_user(user.id, actor=admin)
    assert accounts.authenticate(user.email, PASSWORD, ip=IP) is user


# The account page ----------------------------------------------------------------------


def test_update_account(app, f):
    user = f.user(full_name="Old Name")
    accounts.update_account(user.id, actor=user, full_name=" New   Name ", locale="de", timezone="Europe/Berlin")
    assert (user.full_name, user.locale, user.timezone) == ("New Name", "de", "Europe/Berlin")
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.updated"))
    assert event.data == {"full_name": "New Name", "locale": "de", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"full_name": ""}, ValidationFailed),
        ({"full_name": "x" * 121}, ValidationFailed),
        ({"full_name": "Ok", "timezone": "Mars/Olympus"}, ValidationFailed),
        ({"full_name": "Ok", "locale": "xx"}, ValidationFailed),
    ],
)
def test_update_account_refuses_bad_input(app, f, kwargs, error):
    user = f.user(full_name="Kept")
    db.session.commit()
    with pytest.raises(error):
        accounts.update_account(user.id, actor=user, **kwargs)
    db.session.rollback()
    assert db.session.get(User, user.id).full_name == "Kept"


def test_update_account_only_ones_own(app, f):
    user = f.user(full_name="Kept")
    with pytest.raises(PermissionDenied):
        accounts.update_account(user.id, actor=f.admin(), full_name="Changed")
    assert user.full_name == "Kept"


def test_set_preferences(app, f):
    user = f.user()
    accounts.set_preferences(user.id, actor=user, locale="de", timezone="Europe/Vienna")
    assert (user.locale, user.timezone) == ("de", "Europe/Vienna")
    with pytest.raises(PermissionDenied):
        accounts.set_preferences(user.id, actor=f.user(), locale="en")


def test_sessions_list_and_end(app, f):
    user = f.user()
    here = sessions.open_session(user, ip="192.0.2.1", user_agent="Firefox")
    sessions.open_session(user, ip="192.0.2.2", user_agent="Chrome")
    listed = accounts.active_sessions(user.id, current_token=here)
    assert sorted((s.user_agent, s.current) for s in listed) == [("Chrome", False), ("Firefox", True)]

    other = next(s for s in listed if not s.current)
    with pytest.raises(NotFound):
        accounts.end_session(other.id, actor=f.user())  # not theirs
    accounts.end_session(other.id, actor=user)
    assert [s.user_agent for s in accounts.active_sessions(user.id, current_token=here)] == ["Firefox"]
    with pytest.raises(NotFound):
        accounts.end_session(other.id, actor=user)  # already ended

    sessions.open_session(user, ip="192.0.2.3", user_agent="Safari")
    with pytest.raises(PermissionDenied):
        accounts.end_other_sessions(user.id, actor=f.user(), keep_token=None)
    accounts.end_other_sessions(user.id, actor=user, keep_token=here)
    assert [s.user_agent for s in accounts.active_sessions(user.id, current_token=here)] == ["Firefox"]
    assert actions(user.id) == ["user.sessions_revoked", "user.sessions_revoked"]
