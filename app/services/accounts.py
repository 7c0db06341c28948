"""Accounts: sign-up, e-mail verification, passwords, second factor, preferences, suspension.

Security rules kept here (ASVS 5.0 §6, RELIABILITY.md §3.7):

- Log-in failures are counted per account and per IP in ``LoginAttempt``; past the
  limits a log-in is refused with the time to wait, before any password is checked.
- An unknown address and a wrong password give the same error after the same work
  (a password hash is always verified), so the response tells nothing.
- Sign-up, "send the link again" and password reset answer the same whether the
  address has an account or not; the mailbox owner is told what happened instead.
- E-mail links carry signed, expiring tokens (itsdangerous, one salt per purpose).
  A reset token embeds a fingerprint of the current password hash, so it works once;
  a verification token stops working once the address is verified.
- A password reset ends every session; a password change ends every other session;
  a suspension ends them all (server-side sessions, see services/sessions.py).
- TOTP codes are accepted once: the last used time step is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from app import passwords
from app.exceptions import DomainError, NotFound, PermissionDenied, ValidationFailed
from app.extensions import db
from app.models import (
    Company,
    CompanyRole,
    ExpertProfile,
    LoginAttempt,
    Role,
    User,
    UserSession,
    VerificationStatus,
)
from app.services import audit, notifications, pseudonyms, sessions, uow

TOTP_ISSUER = "Plasticonnect Hub"
TOTP_VALID_WINDOW = 1  # one 30-second step either side, for clock drift
VERIFY_SALT = "pc-verify-email"  # noqa: S105 (a salt, not a secret)
RESET_SALT = "pc-reset-password"  # noqa: S105
DEFAULT_VERIFY_HOURS = 72
DEFAULT_RESET_MINUTES = 60
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE_SHAPE = re.compile(r"^\d{6}$")


# Errors ----------------------------------------------------------------------------------


class InvalidCredentials(DomainError):
    """Unknown address or wrong password: the same message for both."""

    status_code = 401


class LoginThrottled(DomainError):
    """Too many failed log-ins for this account or from this address."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccountSuspended(DomainError):
    """A hub admin suspended this account (only said once the password was right)."""

    status_code = 403


class EmailNotVerified(DomainError):
    """The password was right but the address is not confirmed yet."""

    status_code = 403

    def __init__(self, message: str, *, email: str) -> None:
        super().__init__(message)
        self.email = email


class EmailTaken(DomainError):
    """The address already has an account.

    Raised *after* the owner of the address was e-mailed and that was committed:
    callers show the same page as for a successful sign-up, so the response
    tells nothing about which addresses have accounts.
    """

    status_code = 409


class WrongPassword(ValidationFailed):
    """The password re-entered to confirm a change is not the account's password."""


class InvalidToken(DomainError):
    """An e-mailed link that is malformed, expired or already used."""

    status_code = 400


# Small helpers ---------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """The stored form of an address: trimmed and lower-cased (addresses are unique in that form)."""
    return (email or "").strip().lower()


def requires_second_factor(user: User) -> bool:
    """Whether a log-in needs a TOTP code: everyone who turned it on, and every hub admin."""
    return user.totp_enabled or user.role is Role.ADMIN


def _now() -> datetime:
    return datetime.now(UTC)


def _find_by_email(email: str) -> User | None:
    if not email:
        return None
    # lower(): rows written elsewhere (CLI, invitations) may keep the case as typed.
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email))


def _load(user_id: int, *, lock: bool = True) -> User:
    # populate_existing: re-read under the lock, not the copy loaded earlier in this request.
    user = db.session.get(User, user_id, with_for_update=lock, populate_existing=lock)
    if user is None:
        raise NotFound(_("This account does not exist."))
    return user


def _require_self(actor: User, user: User, message: str) -> None:
    if actor.id != user.id:
        raise PermissionDenied(message)


def _can_manage_accounts(actor: User, user: User) -> bool:
    """Hub admins manage accounts; only a super-admin may act on another admin."""
    if not actor.is_staff or actor.id == user.id:
        return False
    return user.role is not Role.ADMIN or actor.is_superadmin


def _check_password(password: str, *, email: str, name: str) -> None:
    problems = passwords.password_problems(password, email=email, name=name)
    if problems:
        raise ValidationFailed(" ".join(problems))


def _check_name(full_name: str) -> str:
    name = " ".join((full_name or "").split())
    if not name:
        raise ValidationFailed(_("Enter your name."))
    if len(name) > 120:
        raise ValidationFailed(_("Keep your name under %(n)d characters.", n=120))
    return name


def _check_email(email: str) -> str:
    email = normalize_email(email)
    if len(email) > 254 or not _EMAIL_SHAPE.match(email):
        raise ValidationFailed(_("Enter a valid e-mail address, like name@company.com."))
    return email


def _check_locale(locale: str) -> str:
    if locale not in current_app.config["LANGUAGES"]:
        raise ValidationFailed(_("Choose one of the offered languages."))
    return locale


def _check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(_("Choose a time zone from the list.")) from None
    return name


def _path(endpoint: str, **values: Any) -> str:
    """A URL path built from the routing table, with or without a request (jobs, CLI, tests)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _verify_hours() -> int:
    return int(current_app.config.get("EMAIL_VERIFICATION_HOURS", DEFAULT_VERIFY_HOURS))


def reset_link_minutes() -> int:
    """How long a password-reset link works."""
    return int(current_app.config.get("PASSWORD_RESET_MINUTES", DEFAULT_RESET_MINUTES))


def _fingerprint(value: str) -> str:
    """A keyed digest put in links instead of the value itself (reveals nothing, even in logs).

    Of the password hash: changes with the password, so a reset link works once.
    Of the address: a verification link is only good for the address it was sent to.
    """
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]


def _send_verification(user: User) -> None:
    token = _serializer(VERIFY_SALT).dumps({"uid": user.id, "e": _fingerprint(user.email)})
    notifications.send_email(
        user.email,
        "verify_email",
        locale=user.locale,
        user_id=user.id,
        link=_path("auth.verify_email", token=token),
        name=user.full_name,
        hours=_verify_hours(),
    )


def _send_account_exists(user: User) -> None:
    notifications.send_email(
        user.email,
        "account_exists",
        locale=user.locale,
        user_id=user.id,
        link=_path("auth.forgot_password"),
        name=user.full_name,
    )


def _record_attempt(email: str, ip: str, *, succeeded: bool) -> None:
    db.session.add(LoginAttempt(email=email[:254], ip_address=(ip or "unknown")[:64], succeeded=succeeded))


def _audit(action: str, user: User | None, *, actor: User | None = None, **data: Any) -> None:
    audit.record(
        action,
        actor=actor if actor is not None else user,
        entity="users",
        entity_id=user.id if user is not None else None,
        data=data,
    )


# Sign-up and e-mail verification -------------------------------------------------------


def _new_user(*, email: str, password: str, full_name: str, locale: str, role: Role) -> User:
    """Shape checks shared by both sign-ups; raises EmailTaken (after e-mailing the owner)."""
    email = _check_email(email)
    full_name = _check_name(full_name)
    locale = _check_locale(locale)
    _check_password(password, email=email, name=full_name)
    existing = _find_by_email(email)
    if existing is not None:
        if existing.email_verified_at is None:
            _send_verification(existing)
        else:
            _send_account_exists(existing)
        uow.commit()
        raise EmailTaken(_("An account with this e-mail address already exists."))
    return User(
        email=email,
        password_hash=passwords.hash_password(password),
        full_name=full_name,
        role=role,
        locale=locale,
        password_changed_at=_now(),
    )


def _flush_new(user: User) -> None:
    """Flush the new account; a concurrent sign-up with the same address loses cleanly."""
    try:
        db.session.flush()
    except IntegrityError:
        uow.rollback()
        raise EmailTaken(_("An account with this e-mail address already exists.")) from None


def register_company_owner(
    *, email: str, password: str, full_name: str, company_name: str, locale: str = "en"
) -> User:
    """Sign up a company: its owner's account plus the company as a draft.

    Nothing -> user (role company, owner; e-mail unverified) + company (draft).
    Anyone may call it. Side effects: audit ``user.registered``; the verification
    e-mail (outbox).

    :raises ValidationFailed: bad address, name, company name, language or password.
    :raises EmailTaken: the address has an account; its owner was e-mailed (committed).
    """
    name = " ".join((company_name or "").split())
    if not name:
        raise ValidationFailed(_("Enter your company's name."))
    if len(name) > 160:
        raise ValidationFailed(_("Keep the company name under %(n)d characters.", n=160))
    user = _new_user(email=email, password=password, full_name=full_name, locale=locale, role=Role.COMPANY)
    company = Company(name=name, contact_person=user.full_name, contact_email=user.email,
                      status=VerificationStatus.DRAFT)
    db.session.add(company)
    user.company = company
    user.company_role = CompanyRole.OWNER
    db.session.add(user)
    _flush_new(user)
    _audit("user.registered", user, role=user.role.value, company_id=company.id)
    _send_verification(user)
    uow.commit()
    return user


def register_expert(*, email: str, password: str, full_name: str, locale: str = "en") -> User:
    """Sign up an expert: the account plus a draft profile with a fresh pseudonym.

    Nothing -> user (role expert; e-mail unverified) + expert profile (draft).
    Anyone may call it. Side effects: audit ``user.registered``; the verification
    e-mail (outbox).

    :raises ValidationFailed: bad address, name, language or password.
    :raises EmailTaken: the address has an account; its owner was e-mailed (committed).
    """
    user = _new_user(email=email, password=password, full_name=full_name, locale=locale, role=Role.EXPERT)
    db.session.add(user)
    _flush_new(user)
    profile = ExpertProfile(user_id=user.id, pseudonym=pseudonyms.new_pseudonym(),
                            status=VerificationStatus.DRAFT)
    db.session.add(profile)
    db.session.flush()
    _audit("user.registered", user, role=user.role.value, expert_id=profile.id)
    _send_verification(user)
    uow.commit()
    return user


def user_for_verification_token(token: str) -> User:
    """The account an e-mail verification link is for, without using it (read-only).

    :raises InvalidToken: malformed, expired, for another address, or already used.
    """
    try:
        data = _serializer(VERIFY_SALT).loads(token, max_age=_verify_hours() * 3600)
    except SignatureExpired:
        raise InvalidToken(_("This confirmation link has expired. Ask for a new one below.")) from None
    except BadSignature:
        raise InvalidToken(_("This confirmation link is not valid. Copy the whole link from the e-mail, "
                             "or ask for a new one below.")) from None
    user = db.session.get(User, int(data.get("uid", 0))) if isinstance(data, dict) else None
    if user is None or not hmac.compare_digest(str(data.get("e", "")), _fingerprint(user.email)):
        raise InvalidToken(_("This confirmation link is not valid any more. Ask for a new one below."))
    if user.email_verified_at is not None:
        raise InvalidToken(_("This e-mail address is already confirmed. You can log in."))
    return user


def verify_email(token: str) -> User:
    """Confirm the address an e-mailed link was sent to.

    Unverified -> verified. Anyone holding the link may call it. Audit ``user.email_verified``.

    :raises InvalidToken: malformed, expired, for another address, or already used.
    """
    user = user_for_verification_token(token)
    user = _load(user.id)
    if user.email_verified_at is not None:  # confirmed meanwhile by a parallel request
        raise InvalidToken(_("This e-mail address is already confirmed. You can log in."))
    user.email_verified_at = _now()
    _audit("user.email_verified", user)
    uow.commit()
    return user


def resend_verification(email: str) -> None:
    """Send a new confirmation link if the address has an unconfirmed account.

    Does and says nothing otherwise (no enumeration). Anyone may call it.
    """
    user = _find_by_email(normalize_email(email))
    if user is None or user.email_verified_at is not None or user.suspended_at is not None:
        return
    _send_verification(user)
    uow.commit()


# Log-in ---------------------------------------------------------------------------------


def _throttle(email: str, ip: str) -> None:
    """Refuse early when the account or the address has too many recent failures.

    The account counter restarts after a completed log-in; the address counter does not
    (an attacker could otherwise reset it with an account of their own).
    """
    cfg = current_app.config
    window = timedelta(minutes=int(cfg["LOGIN_THROTTLE_MINUTES"]))
    now = _now()
    since = now - window
    failed = sa.and_(LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > since)

    last_ok = db.session.scalar(
        sa.select(sa.func.max(LoginAttempt.created_at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True), LoginAttempt.created_at > since
        )
    )
    account_q = sa.select(LoginAttempt.created_at).where(failed, LoginAttempt.email == email)
    if last_ok is not None:
        account_q = account_q.where(LoginAttempt.created_at > last_ok)
    limits = (
        (account_q, int(cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"]), "account"),
        (sa.select(LoginAttempt.created_at).where(failed, LoginAttempt.ip_address == (ip or "unknown")[:64]),
         int(cfg["LOGIN_MAX_FAILURES_PER_IP"]), "ip"),
    )
    for query, limit, scope in limits:
        # The limit-th newest failure is the one that must leave the window first.
        pivot = db.session.scalar(query.order_by(LoginAttempt.created_at.desc()).offset(limit - 1).limit(1))
        if pivot is None:
            continue
        if pivot.tzinfo is None:
            pivot = pivot.replace(tzinfo=UTC)
        seconds = max(1, math.ceil((pivot + window - now).total_seconds()))
        minutes = max(1, math.ceil(seconds / 60))
        if scope == "account":
            message = ngettext(
                "Too many failed log-ins for this account. Wait %(num)d minute, then try again, "
                "or reset your password.",
                "Too many failed log-ins for this account. Wait %(num)d minutes, then try again, "
                "or reset your password.",
                minutes,
            )
        else:
            message = ngettext(
                "Too many failed log-ins from your network. Wait %(num)d minute, then try again.",
                "Too many failed log-ins from your network. Wait %(num)d minutes, then try again.",
                minutes,
            )
        raise LoginThrottled(message, retry_after=seconds)


def authenticate(email: str, password: str, *, ip: str) -> User:
    """Check an address and password (the first step of a log-in).

    Anyone may call it. A failure is recorded (``LoginAttempt``, audit
    ``user.login_failed``) and committed before raising. When the user needs no
    second factor the log-in is complete: recorded as ``user.login``. Otherwise the
    caller asks for a TOTP code (:func:`check_totp`) or enrols one (:func:`confirm_totp`).
    An old-parameter hash is upgraded on the way.

    :raises LoginThrottled: too many recent failures for the account or the address.
    :raises InvalidCredentials: unknown address or wrong password (same message).
    :raises EmailNotVerified: right password, address not confirmed yet.
    :raises AccountSuspended: right password, account suspended.
    """
    email = normalize_email(email)
    _throttle(email, ip)
    user = _find_by_email(email)
    # Always verify a hash (a dummy one for unknown addresses) so timing does not tell.
    ok = passwords.verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok:
        _record_attempt(email, ip, succeeded=False)
        _audit("user.login_failed", user, actor=user, email=email[:254],
               reason="unknown_account" if user is None else "wrong_password")
        uow.commit()
        raise InvalidCredentials(_("The e-mail address or the password is not right."))
    if user.suspended_at is not None:
        raise AccountSuspended(_("This account is suspended. If you think this is a mistake, "
                                 "reply to the e-mail that told you about it."))
    if user.email_verified_at is None:
        raise EmailNotVerified(
            _("Please confirm your e-mail address first: open the link we sent to %(email)s.", email=user.email),
            email=user.email,
        )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if not requires_second_factor(user):
        _record_attempt(email, ip, succeeded=True)
        _audit("user.login", user, second_factor=False)
    uow.commit()
    return user


def _code_step(secret: str, code: str, *, at: datetime | None = None) -> int | None:
    """The time step a code belongs to (within the drift window), or None."""
    code = (code or "").replace(" ", "").strip()
    if not _CODE_SHAPE.match(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at or _now())
    for offset in range(-TOTP_VALID_WINDOW, TOTP_VALID_WINDOW + 1):
        if pyotp.utils.strings_equal(code, totp.generate_otp(current + offset)):
            return current + offset
    return None


def check_totp(user_id: int, code: str, *, ip: str = "") -> bool:
    """The second step of a log-in: is this the user's current TOTP code?

    Each code works once (the accepted time step is stored; older steps are refused).
    Success completes the log-in (audit ``user.login``); a failure counts towards the
    log-in throttling like a wrong password (audit ``user.login_failed``). Commits.

    :raises NotFound: no such user.
    :raises ValidationFailed: the user has no second factor.
    :raises AccountSuspended: the account was suspended meanwhile.
    :raises LoginThrottled: too many recent failures.
    """
    user = _load(user_id)
    if not user.totp_enabled or not user.totp_secret:
        raise ValidationFailed(_("Two-factor authentication is not set up for this account."))
    if user.suspended_at is not None:
        raise AccountSuspended(_("This account is suspended."))
    _throttle(user.email, ip)
    step = _code_step(user.totp_secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        _record_attempt(user.email, ip, succeeded=False)
        _audit("user.login_failed", user, reason="wrong_code" if step is None else "code_reused")
        uow.commit()
        return False
    user.totp_last_step = step
    _record_attempt(user.email, ip, succeeded=True)
    _audit("user.login", user, second_factor=True)
    uow.commit()
    return True


# Password reset and change ----------------------------------------------------------------


def request_password_reset(email: str) -> None:
    """E-mail a single-use reset link if the address has an active account.

    Does and says nothing otherwise, so the response is the same either way.
    Anyone may call it.
    """
    user = _find_by_email(normalize_email(email))
    if user is None or user.suspended_at is not None:
        return
    token = _serializer(RESET_SALT).dumps({"uid": user.id, "fp": _fingerprint(user.password_hash)})
    notifications.send_email(
        user.email,
        "reset_password",
        locale=user.locale,
        user_id=user.id,
        link=_path("auth.reset_password", token=token),
        name=user.full_name,
        minutes=reset_link_minutes(),
    )
    uow.commit()


def user_for_reset_token(token: str) -> User:
    """The account a reset link is for, without using it (read-only).

    :raises InvalidToken: malformed, expired or already used.
    """
    try:
        data = _serializer(RESET_SALT).loads(token, max_age=reset_link_minutes() * 60)
    except SignatureExpired:
        raise InvalidToken(_("This reset link has expired. Ask for a new one.")) from None
    except BadSignature:
        raise InvalidToken(_("This reset link is not valid. Copy the whole link from the e-mail, "
                             "or ask for a new one.")) from None
    user = db.session.get(User, int(data.get("uid", 0))) if isinstance(data, dict) else None
    if user is None or not hmac.compare_digest(str(data.get("fp", "")), _fingerprint(user.password_hash)):
        raise InvalidToken(_("This reset link was already used. Ask for a new one if you still need it."))
    if user.suspended_at is not None:
        raise InvalidToken(_("This account is suspended; its password cannot be reset."))
    return user


def reset_password(token: str, *, new_password: str) -> User:
    """Set a new password from an e-mailed reset link (the link then stops working).

    Anyone holding the link may call it. Ends every session of the account; also
    confirms the address (the link proved access to the mailbox). Audit
    ``user.password_reset``; notification ``account.password_changed``.

    :raises InvalidToken: malformed, expired or already used.
    :raises ValidationFailed: the new password breaks the rules.
    """
    user = _load(user_for_reset_token(token).id)
    user_for_reset_token(token)  # again under the row lock: a parallel reset used it
    _check_password(new_password, email=user.email, name=user.full_name)
    now = _now()
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = now
    if user.email_verified_at is None:
        user.email_verified_at = now
    sessions.revoke_all(user)
    _audit("user.password_reset", user)
    notifications.notify(user, "account.password_changed", link=_path("auth.forgot_password"))
    uow.commit()
    return user


def change_password(
    user_id: int, *, actor: User, current_password: str, new_password: str, keep_token: str | None
) -> User:
    """Change one's own password; every other session ends, the current one (``keep_token``) stays.

    Only the user. Audit ``user.password_changed``; notification ``account.password_changed``.

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account.
    :raises ValidationFailed: the current password is wrong, or the new one breaks the rules.
    """
    user = _load(user_id)
    _require_self(actor, user, _("You can only change your own password."))
    if not passwords.verify_password(user.password_hash, current_password or ""):
        raise WrongPassword(_("Your current password is not right."))
    if passwords.verify_password(user.password_hash, new_password or ""):
        raise ValidationFailed(_("The new password is the same as the current one; choose a different one."))
    _check_password(new_password, email=user.email, name=user.full_name)
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = _now()
    sessions.revoke_all(user, keep_token=keep_token)
    _audit("user.password_changed", user, actor=actor)
    notifications.notify(user, "account.password_changed", link=_path("auth.forgot_password"))
    uow.commit()
    return user


# Two-factor authentication ------------------------------------------------------------------


@dataclass(frozen=True)
class TotpSetup:
    """What an authenticator app needs: the secret and the otpauth:// URI for the QR code."""

    secret: str
    uri: str


def start_totp(user_id: int, *, actor: User) -> TotpSetup:
    """Make a new TOTP secret for the user to scan; nothing is saved until :func:`confirm_totp`.

    Only the user.

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account.
    :raises ValidationFailed: two-factor is already on.
    """
    user = _load(user_id, lock=False)
    _require_self(actor, user, _("You can only set up two-factor authentication for yourself."))
    if user.totp_enabled:
        raise ValidationFailed(_("Two-factor authentication is already on."))
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return TotpSetup(secret=secret, uri=uri)


def confirm_totp(user_id: int, *, actor: User, secret: str, code: str, login_ip: str | None = None) -> User:
    """Turn two-factor on, once the user proves the app shows the right code for ``secret``.

    Off -> on. Only the user. Audit ``user.totp_enabled``. When the enrolment is the
    second step of a log-in (a hub admin's first log-in), pass ``login_ip``: the
    log-in is then recorded as complete too (``user.login``).

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account.
    :raises ValidationFailed: already on, or the code does not match.
    """
    user = _load(user_id)
    _require_self(actor, user, _("You can only set up two-factor authentication for yourself."))
    if user.totp_enabled:
        raise ValidationFailed(_("Two-factor authentication is already on."))
    try:
        step = _code_step(secret, code)
    except (ValueError, TypeError):  # a secret that is not base32
        step = None
    if step is None:
        raise ValidationFailed(_("That code does not match. Check the time on your phone and enter the "
                                 "6-digit code your app shows now."))
    user.totp_secret = secret
    user.totp_enabled_at = _now()
    user.totp_last_step = step
    _audit("user.totp_enabled", user, actor=actor)
    if login_ip is not None:
        _record_attempt(user.email, login_ip, succeeded=True)
        _audit("user.login", user, second_factor=True, enrolled=True)
    uow.commit()
    return user


def disable_totp(user_id: int, *, actor: User, password: str) -> User:
    """Turn two-factor off after re-entering the password.

    On -> off. Only the user, and never a hub admin (mandatory for them). Audit
    ``user.totp_disabled``; notification ``account.two_factor_disabled``.

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account, or a hub admin.
    :raises ValidationFailed: not on, or wrong password.
    """
    user = _load(user_id)
    _require_self(actor, user, _("You can only turn off your own two-factor authentication."))
    if user.role is Role.ADMIN:
        raise PermissionDenied(_("Two-factor authentication is mandatory for hub admins; it cannot be turned off."))
    if not user.totp_enabled:
        raise ValidationFailed(_("Two-factor authentication is already off."))
    if not passwords.verify_password(user.password_hash, password or ""):
        raise WrongPassword(_("Your password is not right."))
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    _audit("user.totp_disabled", user, actor=actor)
    notifications.notify(user, "account.two_factor_disabled", link=_path("auth.account"))
    uow.commit()
    return user


# Suspension (hub admins) --------------------------------------------------------------------


def suspend_user(user_id: int, *, actor: User, reason: str) -> User:
    """Suspend an account: it cannot log in and every live session ends at once.

    Active -> suspended. Hub admins only (not themselves; another admin only by a
    super-admin). Audit ``user.suspended``; notification ``account.suspended``.

    :raises NotFound: no such user.
    :raises PermissionDenied: the actor may not suspend this account.
    :raises ValidationFailed: no reason given, or already suspended.
    """
    user = _load(user_id)
    if not _can_manage_accounts(actor, user):
        raise PermissionDenied(_("Only a hub admin can suspend accounts, and not their own."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give a reason; the account holder will read it."))
    if user.suspended_at is not None:
        raise ValidationFailed(_("This account is already suspended."))
    user.suspended_at = _now()
    sessions.revoke_all(user)
    _audit("user.suspended", user, actor=actor, reason=reason)
    notifications.notify(user, "account.suspended", reason=reason)
    uow.after_commit(_disconnect_sockets, user.id)
    uow.commit()
    return user


def _disconnect_sockets(user_id: int) -> None:
    """End the suspended user's project-channel connections on every server process."""
    from app.realtime import disconnect_user

    disconnect_user(user_id)


def reinstate_user(user_id: int, *, actor: User) -> User:
    """Lift a suspension; the user can log in again.

    Suspended -> active. Hub admins only. Audit ``user.reinstated``; notification
    ``account.reinstated``.

    :raises NotFound: no such user.
    :raises PermissionDenied: the actor may not reinstate this account.
    :raises ValidationFailed: the account is not suspended.
    """
    user = _load(user_id)
    if not _can_manage_accounts(actor, user):
        raise PermissionDenied(_("Only a hub admin can reinstate accounts, and not their own."))
    if user.suspended_at is None:
        raise ValidationFailed(_("This account is not suspended."))
    user.suspended_at = None
    _audit("user.reinstated", user, actor=actor)
    notifications.notify(user, "account.reinstated", link=_path("auth.login"))
    uow.commit()
    return user


# The account page ----------------------------------------------------------------------------


def update_account(
    user_id: int, *, actor: User, full_name: str, locale: str | None = None, timezone: str | None = None
) -> User:
    """Change one's own name and, optionally, language and time zone.

    Only the user. Audit ``user.updated`` with what changed.

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account.
    :raises ValidationFailed: empty or too long name, unknown language or time zone.
    """
    user = _load(user_id)
    _require_self(actor, user, _("You can only change your own account."))
    changes: dict[str, str] = {}
    name = _check_name(full_name)
    if name != user.full_name:
        user.full_name = changes["full_name"] = name
    if locale is not None and locale != user.locale:
        user.locale = changes["locale"] = _check_locale(locale)
    if timezone is not None and timezone != user.timezone:
        user.timezone = changes["timezone"] = _check_timezone(timezone)
    if changes:
        _audit("user.updated", user, actor=actor, **changes)
    uow.commit()
    return user


def set_preferences(user_id: int, *, actor: User, locale: str | None = None, timezone: str | None = None) -> User:
    """Save the user's language and time zone.

    :raises NotFound: no such user.
    :raises PermissionDenied: users change only their own preferences.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("This account does not exist."))
    if actor.id != user.id:
        raise PermissionDenied(_("You can only change your own preferences."))
    changes: dict[str, str] = {}
    if locale is not None and locale != user.locale:
        user.locale = changes["locale"] = locale
    if timezone is not None and timezone != user.timezone:
        user.timezone = changes["timezone"] = timezone
    if changes:
        audit.record("user.preferences_changed", actor=actor, entity="users", entity_id=user.id, data=changes)
        uow.commit()
    return user


@dataclass(frozen=True)
class ActiveSession:
    """A live session as the account page lists it."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    ip_address: str | None
    user_agent: str | None
    current: bool


def active_sessions(user_id: int, *, current_token: str | None) -> list[ActiveSession]:
    """The user's live sessions, newest activity first, the current one marked (read-only)."""
    cfg = current_app.config
    now = _now()
    current_hash = hashlib.sha256(current_token.encode()).hexdigest() if current_token else None
    rows = db.session.scalars(
        sa.select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.last_seen_at > now - timedelta(minutes=int(cfg["SESSION_IDLE_MINUTES"])),
            UserSession.created_at > now - timedelta(hours=int(cfg["SESSION_ABSOLUTE_HOURS"])),
        )
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    return [
        ActiveSession(
            id=row.id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            current=current_hash is not None and hmac.compare_digest(row.token_hash, current_hash),
        )
        for row in rows
    ]


def end_other_sessions(user_id: int, *, actor: User, keep_token: str | None) -> None:
    """Log the user out everywhere except here (``keep_token``).

    Only the user. Audit ``user.sessions_revoked``.

    :raises NotFound: no such user.
    :raises PermissionDenied: not the actor's own account.
    """
    user = _load(user_id)
    _require_self(actor, user, _("You can only end your own sessions."))
    sessions.revoke_all(user, keep_token=keep_token)
    _audit("user.sessions_revoked", user, actor=actor, scope="others")
    uow.commit()


def end_session(session_id: int, *, actor: User) -> None:
    """Log out one of the actor's own sessions (a lost laptop, say).

    Only the session's user. Audit ``user.sessions_revoked``.

    :raises NotFound: no such live session of the actor.
    """
    row = db.session.get(UserSession, session_id, with_for_update=True)
    if row is None or row.user_id != actor.id or row.revoked_at is not None:
        raise NotFound(_("This session has already ended."))
    row.revoked_at = _now()
    _audit("user.sessions_revoked", actor, actor=actor, scope="one", session_id=row.id)
    uow.commit()
