"""Log-in, sign-up, e-mail confirmation, password reset, two-factor and the account page.

The log-in has up to two steps. The password step (``auth.login``) never logs anyone
in when a second factor is needed: it stores the pending user's id in the Flask
session and sends them to ``auth.two_factor`` (or, for a hub admin without TOTP yet,
to the mandatory enrolment at ``auth.totp_setup``). Only ``app.login.log_in`` opens
a session, and it starts from an empty cookie (no fixation).
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from app.exceptions import DomainError, ValidationFailed
from app.extensions import db, limiter
from app.login import current_token, log_in, log_out
from app.models import User
from app.realtime import disconnect_user
from app.security import login_required, public, safe_next
from app.services import accounts
from forms.auth import (
    AccountForm,
    ChangePasswordForm,
    CompanySignupForm,
    DisableTotpForm,
    EmailForm,
    ExpertSignupForm,
    LoginForm,
    ResetPasswordForm,
    TotpCodeForm,
)

bp = Blueprint("auth", __name__)

PENDING_KEY = "pending_login"  # {"uid", "at", "next"}: password checked, second factor to come
SETUP_KEY = "totp_setup"  # {"uid", "secret", "uri"}: an enrolment in progress
SIGNUP_EMAIL_KEY = "signup_email"  # shown on "check your e-mail"
PENDING_SECONDS = 600


# Rate limits on what sends e-mail (per client address; log-ins are throttled in the service).
def _email_limit() -> str:
    return str(current_app.config.get("AUTH_EMAIL_RATE_LIMIT", "10 per hour"))


def _signup_limit() -> str:
    return str(current_app.config.get("AUTH_SIGNUP_RATE_LIMIT", "20 per hour"))


def _limited_message() -> str:
    return _("You sent this form too often. Wait a while, then try again.")


def _ip() -> str:
    return request.remote_addr or "unknown"


def _actor() -> User:
    user = current_user._get_current_object()
    if not isinstance(user, User):
        abort(401)
    return user


def _home() -> str:
    return url_for("portal.dashboard")


# The two log-in steps ----------------------------------------------------------------------


def _pending() -> tuple[User, str] | None:
    """The user who passed the password step in this browser, and where to go after."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    user = db.session.get(User, int(data.get("uid", 0)))
    fresh = time.time() - float(data.get("at", 0)) <= PENDING_SECONDS
    if user is None or user.suspended_at is not None or not fresh:
        session.pop(PENDING_KEY, None)
        session.pop(SETUP_KEY, None)
        return None
    return user, str(data.get("next") or "")


def _start_pending(user: User, next_url: str) -> None:
    session.pop(SETUP_KEY, None)
    session[PENDING_KEY] = {"uid": user.id, "at": time.time(), "next": next_url}


def _finish_login(user: User, next_url: str) -> ResponseReturnValue:
    log_in(user)  # clears the cookie's content first: pending data and any planted value go
    return redirect(safe_next(next_url, _home()))


def _expired_step() -> ResponseReturnValue:
    flash(_("Your log-in took too long or was interrupted. Please enter your password again."), "warning")
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    """Step 1: e-mail address and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), _home()))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
        return render_template("auth/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    next_url = safe_next(form.next.data, "")
    try:
        user = accounts.authenticate(form.email.data, form.password.data, ip=_ip())
    except accounts.LoginThrottled as exc:
        response = make_response(render_template("auth/login.html", form=form, error=str(exc)), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except accounts.EmailNotVerified as exc:
        return render_template("auth/login.html", form=form, error=str(exc), unverified_email=exc.email), 403
    except DomainError as exc:  # InvalidCredentials, AccountSuspended
        return render_template("auth/login.html", form=form, error=str(exc)), exc.status_code
    if not accounts.requires_second_factor(user):
        return _finish_login(user, next_url)
    _start_pending(user, next_url)
    if user.totp_enabled:
        return redirect(url_for("auth.two_factor"))
    return redirect(url_for("auth.totp_setup"))


@bp.route("/login/two-factor", methods=["GET", "POST"])
@public
def two_factor() -> ResponseReturnValue:
    """Step 2: the code from the authenticator app."""
    pending = _pending()
    if pending is None:
        return _expired_step()
    user, next_url = pending
    if not user.totp_enabled:
        return redirect(url_for("auth.totp_setup"))
    form = TotpCodeForm()
    if request.method == "GET":
        return render_template("auth/two_factor.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/two_factor.html", form=form), 400
    try:
        ok = accounts.check_totp(user.id, form.code.data, ip=_ip())
    except accounts.LoginThrottled as exc:
        response = make_response(render_template("auth/two_factor.html", form=form, error=str(exc)), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except DomainError as exc:
        session.pop(PENDING_KEY, None)
        flash(str(exc), "danger")
        return redirect(url_for("auth.login"))
    if not ok:
        form.code.errors.append(
            _("That code is not right, or it was already used. Enter the code your app shows now.")
        )
        return render_template("auth/two_factor.html", form=form), 400
    return _finish_login(user, next_url)


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    """End this session (the cookie stops working, even if replayed) and its project-channel connections."""
    user_id = current_user.id
    log_out()
    disconnect_user(user_id)
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


# Two-factor enrolment ------------------------------------------------------------------------


def _qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code, drawn on the server (no script, no CDN)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    # Our own markup (paths only); the URI is encoded in the modules, never written as text.
    label = Markup('<svg role="img" aria-label="{}" ').format(_("QR code for your authenticator app"))
    return Markup(svg.replace("<svg ", label, 1))  # noqa: S704


@bp.route("/two-factor/setup", methods=["GET", "POST"])
@public  # logged-in users, and hub admins between their password and their first code
def totp_setup() -> ResponseReturnValue:
    """Turn on two-factor: scan the QR code (or type the secret), then confirm with a code."""
    next_url = ""
    at_login = not current_user.is_authenticated
    if at_login:
        pending = _pending()
        if pending is None:
            return _expired_step()
        user, next_url = pending
        if user.totp_enabled:
            return redirect(url_for("auth.two_factor"))
    else:
        user = _actor()
        if user.totp_enabled:
            flash(_("Two-factor authentication is already on."), "info")
            return redirect(url_for("auth.account"))

    setup = session.get(SETUP_KEY)
    if not (isinstance(setup, dict) and setup.get("uid") == user.id and setup.get("secret")):
        try:
            started = accounts.start_totp(user.id, actor=user)
        except DomainError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("auth.account") if not at_login else url_for("auth.login"))
        setup = {"uid": user.id, "secret": started.secret, "uri": started.uri}
        session[SETUP_KEY] = setup

    form = TotpCodeForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                accounts.confirm_totp(
                    user.id,
                    actor=user,
                    secret=str(setup["secret"]),
                    code=form.code.data,
                    login_ip=_ip() if at_login else None,
                )
            except ValidationFailed as exc:
                form.code.errors.append(str(exc))
            except DomainError as exc:
                flash(str(exc), "danger")
                return redirect(url_for("auth.login") if at_login else url_for("auth.account"))
            else:
                session.pop(SETUP_KEY, None)
                if at_login:
                    response = _finish_login(user, next_url)
                    flash(_("Two-factor authentication is on. You will need a code at every log-in."), "success")
                    return response
                flash(_("Two-factor authentication is on. You will need a code at every log-in."), "success")
                return redirect(url_for("auth.account"))
    secret = str(setup["secret"])
    return (
        render_template(
            "auth/totp_setup.html",
            form=form,
            qr=_qr_svg(str(setup["uri"])),
            secret_groups=[secret[i : i + 4] for i in range(0, len(secret), 4)],
            at_login=at_login,
            mandatory=user.is_staff,
        ),
        status,
    )


# Sign-up and e-mail confirmation -------------------------------------------------------------


def _signed_up(email: str) -> ResponseReturnValue:
    session[SIGNUP_EMAIL_KEY] = accounts.normalize_email(email)
    return redirect(url_for("auth.check_email"))


@bp.route("/signup/company", methods=["GET", "POST"])
@public
@limiter.limit(_signup_limit, methods=["POST"], error_message=_limited_message)
def signup_company() -> ResponseReturnValue:
    """Sign up a company: the owner's account and the company as a draft."""
    if current_user.is_authenticated:
        return redirect(_home())
    form = CompanySignupForm()
    if request.method == "GET":
        form.locale.data = str(get_locale() or "en")
        return render_template("auth/signup_company.html", form=form)
    if form.validate_on_submit():
        try:
            accounts.register_company_owner(
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data,
                company_name=form.company_name.data,
                locale=form.locale.data,
            )
        except accounts.EmailTaken:
            pass  # the address's owner was e-mailed; this page must not tell the difference
        except DomainError as exc:
            flash(str(exc), "danger")
            return render_template("auth/signup_company.html", form=form), 400
        return _signed_up(form.email.data)
    return render_template("auth/signup_company.html", form=form), 400


@bp.route("/signup/expert", methods=["GET", "POST"])
@public
@limiter.limit(_signup_limit, methods=["POST"], error_message=_limited_message)
def signup_expert() -> ResponseReturnValue:
    """Sign up as an expert: the account and a draft profile under a pseudonym."""
    if current_user.is_authenticated:
        return redirect(_home())
    form = ExpertSignupForm()
    if request.method == "GET":
        form.locale.data = str(get_locale() or "en")
        return render_template("auth/signup_expert.html", form=form)
    if form.validate_on_submit():
        try:
            accounts.register_expert(
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data,
                locale=form.locale.data,
            )
        except accounts.EmailTaken:
            pass  # the address's owner was e-mailed; this page must not tell the difference
        except DomainError as exc:
            flash(str(exc), "danger")
            return render_template("auth/signup_expert.html", form=form), 400
        return _signed_up(form.email.data)
    return render_template("auth/signup_expert.html", form=form), 400


@bp.get("/signup/check-email")
@public
def check_email() -> ResponseReturnValue:
    """After sign-up: "we sent you a link", with a button to send it again."""
    email = session.get(SIGNUP_EMAIL_KEY) or ""
    form = EmailForm(formdata=None, data={"email": email})
    return render_template("auth/check_email.html", form=form, email=email)


@bp.route("/resend-verification", methods=["GET", "POST"])
@public
@limiter.limit(_email_limit, methods=["POST"], error_message=_limited_message)
def resend_verification() -> ResponseReturnValue:
    """Send the confirmation link again (same answer whether the address has an account or not)."""
    form = EmailForm()
    if request.method == "GET":
        form.email.data = request.args.get("email") or session.get(SIGNUP_EMAIL_KEY) or ""
        return render_template("auth/resend_verification.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/resend_verification.html", form=form), 400
    accounts.resend_verification(form.email.data)
    flash(
        _("If %(email)s is waiting for confirmation, a new link is on its way. It can take a minute to arrive.",
          email=accounts.normalize_email(form.email.data)),
        "info",
    )
    return _signed_up(form.email.data)


@bp.route("/verify-email/<token>", methods=["GET", "POST"])
@public
def verify_email(token: str) -> ResponseReturnValue:
    """The link from the e-mail: a page with a button (a GET never changes anything)."""
    try:
        if request.method == "GET":
            user = accounts.user_for_verification_token(token)
            return render_template("auth/verify_email.html", email=user.email)
        accounts.verify_email(token)
    except accounts.InvalidToken as exc:
        return render_template("auth/link_invalid.html", message=str(exc), purpose="verify"), 400
    session.pop(SIGNUP_EMAIL_KEY, None)
    flash(_("Thank you: your e-mail address is confirmed. You can log in now."), "success")
    return redirect(_home() if current_user.is_authenticated else url_for("auth.login"))


# Password reset -----------------------------------------------------------------------------


@bp.route("/forgot-password", methods=["GET", "POST"])
@public
@limiter.limit(_email_limit, methods=["POST"], error_message=_limited_message)
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link (same answer whether the address has an account or not)."""
    form = EmailForm()
    if request.method == "GET":
        return render_template("auth/forgot_password.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/forgot_password.html", form=form), 400
    accounts.request_password_reset(form.email.data)
    flash(
        _("If an account uses %(email)s, we sent it a link to choose a new password. "
          "The link works once, for %(minutes)d minutes.",
          email=accounts.normalize_email(form.email.data), minutes=accounts.reset_link_minutes()),
        "info",
    )
    return redirect(url_for("auth.login"))


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> ResponseReturnValue:
    """The link from the reset e-mail: choose a new password."""
    try:
        user = accounts.user_for_reset_token(token)
    except accounts.InvalidToken as exc:
        return render_template("auth/link_invalid.html", message=str(exc), purpose="reset"), 400
    form = ResetPasswordForm()
    _bind_account(form, user)
    if request.method == "GET":
        return render_template("auth/reset_password.html", form=form, email=user.email)
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, new_password=form.password.data)
        except accounts.InvalidToken as exc:
            return render_template("auth/link_invalid.html", message=str(exc), purpose="reset"), 400
        except ValidationFailed as exc:
            form.password.errors.append(str(exc))
        else:
            if current_user.is_authenticated:
                log_out()
            flash(_("Your new password is set, and every session of your account was logged out. "
                    "Log in with the new password."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, email=user.email), 400


# The account page ---------------------------------------------------------------------------


def _bind_account(form: Any, user: User) -> None:
    """Let the password rules see the account's address and name."""
    form.email_value = user.email
    form.full_name_value = user.full_name


def _render_account(
    user: User,
    *,
    account_form: AccountForm | None = None,
    password_form: ChangePasswordForm | None = None,
    disable_form: DisableTotpForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return (
        render_template(
            "auth/account.html",
            user=user,
            account_form=account_form or AccountForm(formdata=None, obj=user),
            password_form=password_form or ChangePasswordForm(formdata=None),
            disable_form=disable_form or DisableTotpForm(formdata=None),
            sessions=accounts.active_sessions(user.id, current_token=current_token()),
        ),
        status,
    )


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> ResponseReturnValue:
    """Settings: name, language, time zone; password; two-factor; active sessions."""
    user = _actor()
    form = AccountForm(obj=user)
    if request.method == "GET":
        return _render_account(user, account_form=form)
    if form.validate_on_submit():
        try:
            accounts.update_account(
                user.id, actor=user, full_name=form.full_name.data, locale=form.locale.data,
                timezone=form.timezone.data,
            )
        except DomainError as exc:
            flash(str(exc), "danger")
        else:
            session.pop("locale", None)  # the saved preference wins from now on
            flash(_("Your account settings are saved."), "success")
            return redirect(url_for("auth.account"))
    return _render_account(user, account_form=form, status=400)


@bp.post("/account/password")
@login_required
def change_password() -> ResponseReturnValue:
    """Change the password; every other session ends."""
    user = _actor()
    form = ChangePasswordForm()
    _bind_account(form, user)
    if form.validate_on_submit():
        try:
            accounts.change_password(
                user.id,
                actor=user,
                current_password=form.current_password.data,
                new_password=form.new_password.data,
                keep_token=current_token(),
            )
        except accounts.WrongPassword as exc:
            form.current_password.errors.append(str(exc))
        except ValidationFailed as exc:
            form.new_password.errors.append(str(exc))
        else:
            flash(_("Your password is changed. Every other session of your account was logged out."), "success")
            return redirect(url_for("auth.account"))
    return _render_account(user, password_form=form, status=400)


@bp.post("/account/two-factor/disable")
@login_required
def disable_totp() -> ResponseReturnValue:
    """Turn two-factor off (not possible for hub admins)."""
    user = _actor()
    form = DisableTotpForm()
    if form.validate_on_submit():
        try:
            accounts.disable_totp(user.id, actor=user, password=form.password.data)
        except accounts.WrongPassword as exc:
            form.password.errors.append(str(exc))
        except DomainError as exc:
            flash(str(exc), "danger")
            return redirect(url_for("auth.account"))
        else:
            flash(_("Two-factor authentication is off."), "warning")
            return redirect(url_for("auth.account"))
    return _render_account(user, disable_form=form, status=400)


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions() -> ResponseReturnValue:
    """Log out every other browser and device."""
    user = _actor()
    accounts.end_other_sessions(user.id, actor=user, keep_token=current_token())
    flash(_("Every other session of your account is logged out."), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int) -> ResponseReturnValue:
    """Log out one other browser or device."""
    accounts.end_session(session_id, actor=_actor())
    flash(_("That session is logged out."), "success")
    return redirect(url_for("auth.account"))
