"""A stateful fake of the part of Zoom's API the hub uses, on a free loopback port.

The real ``requests`` client in ``app.integrations.video.ZoomProvider`` talks to it
unchanged (``ZOOM_OAUTH_BASE`` = ``fake.oauth_base``, ``ZOOM_API_BASE`` = ``fake.api_base``).

Endpoints:

- ``POST /oauth/token?grant_type=account_credentials&account_id=...`` with HTTP Basic
  ``client_id:client_secret``: a bearer token valid for ``token_expires_in`` seconds.
- ``POST /v2/users/{me|host id|host email}/meetings``: validates the JSON like Zoom
  (``topic`` required, ``type`` an int, ``password`` ≤ 10 of ``[a-zA-Z0-9@-_*]``, ...)
  and answers a Zoom-shaped 201 (int64 ``id``, ``uuid``, ``start_url``, ``join_url``...).
- ``GET /v2/meetings/{id}`` (a fresh ``start_url`` each call), ``PATCH`` and ``DELETE``.

Errors are Zoom-shaped: ``{"code": 124, "message": "Invalid access token."}`` (401),
``{"code": 3001, "message": "Meeting does not exist: 1."}`` (404), ``{"code": 300,
"message": "Validation Failed.", "errors": [...]}`` (400); the token endpoint answers
``{"reason": ..., "error": ...}`` like Zoom's OAuth server.

Test helpers: ``fail_next(status, code=..., message=...)`` (429, 500, ...),
``expire_tokens()`` (every token issued so far becomes invalid), ``delay_next(seconds)``
(a slow answer, for read timeouts), ``issued_start_urls`` (every host URL handed out), ``requests`` (every
call received: method, path, query, headers, json, status), ``token_requests()`` /
``api_requests()``, ``signed_webhook(event, payload)`` and ``url_validation_challenge()``
(a body and the ``x-zm-signature`` / ``x-zm-request-timestamp`` headers, signed like
Zoom: ``v0=`` + hex HMAC-SHA256(secret, ``v0:{timestamp}:{body}``)), ``meeting_webhook``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

PASSWORD_RE = re.compile(r"[A-Za-z0-9@\-_*]{1,10}")
START_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?")
MEETING_TYPES = (1, 2, 3, 8)
DEFAULT_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "mute_upon_entry": False,
    "approval_type": 2,
    "audio": "voip",
    "auto_recording": "none",
    "waiting_room": False,
    "meeting_authentication": False,
}


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    status: int = 0


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    path: str | None
    remaining: int


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log on the test output."""


@dataclass
class FakeZoom:
    """The fake Zoom. Use as a context manager, or ``start()`` / ``stop()``."""

    account_id: str = "fake-account-Kq2xP"
    client_id: str = "fakeClientId7Rm"
    client_secret: str = "fake-client-secret-9fQe3LwZ"
    webhook_secret: str = "fake-webhook-secret-Hx81"
    host_id: str = "fake-host-Zt4"
    host_email: str = "video-host@hub.example"
    token_expires_in: int = 3600

    requests: list[RecordedRequest] = field(default_factory=list)
    meetings: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._valid_tokens: set[str] = set()
        self.issued_tokens: list[str] = []
        self.issued_start_urls: list[str] = []
        self._delays: list[tuple[float, str | None]] = []
        self._failures: list[_Failure] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)

    # Life cycle -----------------------------------------------------------------------------

    def start(self) -> FakeZoom:
        """Serve on 127.0.0.1 on a free port, in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-zoom", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (``base_url`` keeps the old port: connecting to it is then refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeZoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the fake listens, e.g. ``http://127.0.0.1:54321``."""
        assert self._port is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._port}"

    @property
    def oauth_base(self) -> str:
        """``ZOOM_OAUTH_BASE`` for this fake."""
        return self.base_url

    @property
    def api_base(self) -> str:
        """``ZOOM_API_BASE`` for this fake."""
        return f"{self.base_url}/v2"

    def settings(self) -> dict[str, str]:
        """The app settings that point the real client at this fake."""
        return {
            "ZOOM_ACCOUNT_ID": self.account_id,
            "ZOOM_CLIENT_ID": self.client_id,
            "ZOOM_CLIENT_SECRET": self.client_secret,
            "ZOOM_OAUTH_BASE": self.oauth_base,
            "ZOOM_API_BASE": self.api_base,
            "ZOOM_HOST_USER": "me",
            "ZOOM_WEBHOOK_SECRET": self.webhook_secret,
        }

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (a delayed one outlives its client's timeout)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def reset(self) -> None:
        """Forget every token, meeting, request and injected failure; back to a one-hour token lifetime.

        Waits first for requests still being answered, so none lands in the next test.
        """
        self.wait_idle()
        with self._lock:
            self.requests.clear()
            self.meetings.clear()
            self.deleted.clear()
            self.issued_tokens.clear()
            self.issued_start_urls.clear()
            self._delays.clear()
            self._valid_tokens.clear()
            self._failures.clear()
            self.token_expires_in = 3600

    # Test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: int | None = None,
        message: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` API requests (under ``path`` if given, else any ``/v2/``) with a Zoom error.

        With ``path="/oauth/token"`` the token endpoint fails instead.
        """
        with self._lock:
            self._failures.append(_Failure(status, code, message, path, times))

    def delay_next(self, seconds: float, *, path: str | None = None) -> None:
        """Answer the next request (under ``path``, if given) only after ``seconds``: a read timeout."""
        with self._lock:
            self._delays.append((seconds, path))

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (401, code 124); new ones work."""
        with self._lock:
            self._valid_tokens.clear()

    def token_requests(self) -> list[RecordedRequest]:
        """The calls to the token endpoint."""
        return [r for r in self.requests if r.path == "/oauth/token"]

    def api_requests(self, method: str | None = None) -> list[RecordedRequest]:
        """The calls under ``/v2/`` (with ``method``, if given)."""
        return [r for r in self.requests if r.path.startswith("/v2/") and (method is None or r.method == method)]

    # Webhooks -------------------------------------------------------------------------------

    def sign(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        """The headers Zoom sends with ``body``: ``x-zm-request-timestamp`` (seconds) and ``x-zm-signature``."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        mac = hmac.new((secret or self.webhook_secret).encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zoom Marketplace/1.0a",
            "x-zm-request-timestamp": ts,
            "x-zm-signature": f"v0={mac.hexdigest()}",
        }

    def signed_webhook(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A Zoom event body ``{event, event_ts (ms), payload}`` and its signed headers.

        ``payload`` gets this fake's ``account_id`` unless it has one.
        """
        body_payload = {"account_id": self.account_id, **dict(payload)}
        event_ts = (int(time.time()) if timestamp is None else timestamp) * 1000
        body = json.dumps({"event": event, "event_ts": event_ts, "payload": body_payload}).encode()
        return body, self.sign(body, timestamp=timestamp, secret=secret)

    def meeting_webhook(
        self, event: str, meeting_id: int | str, *, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A signed ``meeting.started`` / ``meeting.ended`` about a meeting this fake holds."""
        with self._lock:
            meeting = self.meetings[int(meeting_id)]
            obj: dict[str, Any] = {
                k: meeting[k] for k in ("id", "uuid", "host_id", "topic", "type", "start_time", "duration", "timezone")
            }
        now = _iso(datetime.now(UTC))
        if event == "meeting.started":
            obj["start_time"] = now
        elif event == "meeting.ended":
            obj["end_time"] = now
        return self.signed_webhook(event, {"object": obj}, timestamp=timestamp)

    def url_validation_challenge(
        self, *, plain_token: str | None = None, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The signed ``endpoint.url_validation`` event; its ``payload.plainToken`` is to be answered."""
        token = plain_token or base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        return self.signed_webhook("endpoint.url_validation", {"plainToken": token}, timestamp=timestamp, secret=secret)

    def expected_validation_answer(self, plain_token: str) -> dict[str, str]:
        """What Zoom expects back from the validation challenge."""
        encrypted = hmac.new(self.webhook_secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
        return {"plainToken": plain_token, "encryptedToken": encrypted}

    # WSGI -----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = _INVALID_JSON
        record = RecordedRequest(
            request.method, request.path, dict(request.args.items()), dict(request.headers.items()), parsed
        )
        with self._lock:
            self._in_flight += 1
            delay = next((d for d in self._delays if d[1] is None or request.path.startswith(d[1])), None)
            if delay is not None:
                self._delays.remove(delay)
        try:
            if delay is not None:
                time.sleep(delay[0])  # outside the lock: other requests go on
            with self._lock:
                self.requests.append(record)
                response = self._handle(request, parsed)
                record.status = response.status_code
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
        return response(environ, start_response)

    def _handle(self, request: Request, body: Any) -> Response:
        if request.path == "/oauth/token":
            failure = self._take_failure(request.path)
            if failure is not None:
                return _injected(failure)
            return self._token(request)
        if not request.path.startswith("/v2/"):
            return _error(404, 404, f"Not found: {request.path}")
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if not token or token not in self._valid_tokens:
            return _error(401, 124, "Invalid access token.")
        failure = self._take_failure(request.path)
        if failure is not None:
            return _injected(failure)
        if body is _INVALID_JSON:
            return _error(400, 300, "Request Body should be a valid JSON object.")
        path = request.path[len("/v2") :]
        if m := re.fullmatch(r"/users/([^/]+)/meetings", path):
            if request.method == "POST":
                return self._create(m.group(1), body)
            return _error(405, 405, "Method not allowed.")
        if m := re.fullmatch(r"/meetings/([^/]+)", path):
            meeting_id = m.group(1)
            if request.method == "GET":
                return self._get(meeting_id)
            if request.method == "PATCH":
                return self._patch(meeting_id, body)
            if request.method == "DELETE":
                return self._delete(meeting_id)
            return _error(405, 405, "Method not allowed.")
        return _error(404, 404, f"Not found: {request.path}")

    def _take_failure(self, path: str) -> _Failure | None:
        for failure in self._failures:
            applies = path.startswith(failure.path) if failure.path else path.startswith("/v2/")
            if applies:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    # OAuth ----------------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return _oauth_error(405, "invalid_request", "Method not allowed")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization", "") != f"Basic {expected}":
            return _oauth_error(400, "invalid_client", "Invalid client_id or client_secret")
        if request.args.get("grant_type") != "account_credentials":
            return _oauth_error(400, "unsupported_grant_type", "unsupported grant type")
        if request.args.get("account_id") != self.account_id:
            return _oauth_error(400, "invalid_request", "Invalid account_id")
        token = "fake-zoom-" + secrets.token_urlsafe(32)
        self._valid_tokens.add(token)
        self.issued_tokens.append(token)
        return _json(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_expires_in,
                "scope": "meeting:write:meeting:admin meeting:read:meeting:admin meeting:delete:meeting:admin",
                "api_url": self.base_url,
            },
        )

    # Meetings -------------------------------------------------------------------------------

    def _create(self, user_id: str, body: Any) -> Response:
        if user_id not in ("me", self.host_id, self.host_email):
            return _error(404, 1001, f"User does not exist: {user_id}.")
        if not isinstance(body, dict):
            return _error(400, 300, "Request Body should be a valid JSON object.")
        errors = _validate(body, creating=True)
        if errors:
            return _validation_failed(errors)
        meeting_id = 80_000_000_000 + secrets.randbelow(10_000_000_000)  # int64, beyond 32 bits, like Zoom's
        while meeting_id in self.meetings:
            meeting_id = 80_000_000_000 + secrets.randbelow(10_000_000_000)
        password = str(body.get("password") or secrets.token_hex(3))
        settings = {**DEFAULT_SETTINGS, **dict(body.get("settings") or {})}
        meeting: dict[str, Any] = {
            "id": meeting_id,
            "uuid": base64.b64encode(secrets.token_bytes(16)).decode(),
            "host_id": self.host_id,
            "host_email": self.host_email,
            "topic": body["topic"],
            "type": body.get("type", 2),
            "status": "waiting",
            "start_time": _normal_start(body.get("start_time")),
            "duration": body.get("duration", 60),
            "timezone": body.get("timezone") or "UTC",
            "agenda": body.get("agenda", ""),
            "created_at": _iso(datetime.now(UTC)),
            "password": password,
            "h323_password": _digits(password),
            "pstn_password": _digits(password),
            "encrypted_password": secrets.token_urlsafe(24),
            "settings": settings,
            "pre_schedule": False,
        }
        self.meetings[meeting_id] = meeting
        return _json(201, self._public(meeting))

    def _public(self, meeting: dict[str, Any]) -> dict[str, Any]:
        """The meeting with a freshly minted ``start_url`` (a new ZAK each time) and its ``join_url``."""
        meeting_id = meeting["id"]
        start_url = f"{self.base_url}/s/{meeting_id}?zak={secrets.token_urlsafe(32)}"
        self.issued_start_urls.append(start_url)
        return {
            **meeting,
            "start_url": start_url,
            "join_url": f"{self.base_url}/j/{meeting_id}?pwd={meeting['encrypted_password']}",
        }

    def _find(self, meeting_id: str) -> dict[str, Any] | None:
        if not meeting_id.isdigit():
            return None
        return self.meetings.get(int(meeting_id))

    def _get(self, meeting_id: str) -> Response:
        meeting = self._find(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        return _json(200, self._public(meeting))

    def _patch(self, meeting_id: str, body: Any) -> Response:
        meeting = self._find(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        if not isinstance(body, dict):
            return _error(400, 300, "Request Body should be a valid JSON object.")
        errors = _validate(body, creating=False)
        if errors:
            return _validation_failed(errors)
        for key in ("topic", "type", "duration", "timezone", "agenda", "password"):
            if key in body:
                meeting[key] = body[key]
        if "start_time" in body:
            meeting["start_time"] = _normal_start(body["start_time"])
        if "settings" in body:
            meeting["settings"] = {**meeting["settings"], **dict(body["settings"])}
        return Response(b"", status=204)

    def _delete(self, meeting_id: str) -> Response:
        meeting = self._find(meeting_id)
        if meeting is None:
            return _error(404, 3001, f"Meeting does not exist: {meeting_id}.")
        del self.meetings[meeting["id"]]
        self.deleted.append(meeting["id"])
        return Response(b"", status=204)


_INVALID_JSON = object()


def _validate(body: dict[str, Any], *, creating: bool) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    if creating or "topic" in body:
        topic = body.get("topic")
        if not isinstance(topic, str) or not topic.strip():
            errors.append({"field": "topic", "message": "Topic is required."})
        elif len(topic) > 200:
            errors.append({"field": "topic", "message": "Topic cannot exceed 200 characters."})
    if "type" in body and (
        isinstance(body["type"], bool) or not isinstance(body["type"], int) or body["type"] not in MEETING_TYPES
    ):
        errors.append({"field": "type", "message": "Invalid field."})
    if "start_time" in body and not (
        isinstance(body["start_time"], str) and START_TIME_RE.fullmatch(body["start_time"])
    ):
        errors.append({"field": "start_time", "message": "Invalid field."})
    if "duration" in body and (
        isinstance(body["duration"], bool) or not isinstance(body["duration"], int) or body["duration"] <= 0
    ):
        errors.append({"field": "duration", "message": "Invalid field."})
    if "password" in body and not (isinstance(body["password"], str) and PASSWORD_RE.fullmatch(body["password"])):
        errors.append(
            {
                "field": "password",
                "message": "Password can only have a maximum of 10 characters and only contain alphanumeric"
                " characters and @ - _ *.",
            }
        )
    if "agenda" in body and not (isinstance(body["agenda"], str) and len(body["agenda"]) <= 2000):
        errors.append({"field": "agenda", "message": "Agenda cannot exceed 2000 characters."})
    if "settings" in body and not isinstance(body["settings"], dict):
        errors.append({"field": "settings", "message": "Invalid field."})
    return errors


def _normal_start(value: Any) -> str:
    if isinstance(value, str) and value:
        return value if value.endswith("Z") else value + "Z"
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digits(password: str) -> str:
    return str(int(hashlib.sha256(password.encode()).hexdigest(), 16))[:10]


def _json(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, code: int, message: str, **extra: Any) -> Response:
    return _json(status, {"code": code, "message": message, **extra})


def _validation_failed(errors: list[dict[str, str]]) -> Response:
    return _error(400, 300, "Validation Failed.", errors=errors)


def _oauth_error(status: int, error: str, reason: str) -> Response:
    return _json(status, {"reason": reason, "error": error})


def _injected(failure: _Failure) -> Response:
    if failure.status == 429:
        return _error(
            429,
            failure.code or 429,
            failure.message or "You have reached the maximum per-second rate limit for this API.",
        )
    if failure.status >= 500:
        return _error(failure.status, failure.code or failure.status, failure.message or "Internal Error.")
    return _error(failure.status, failure.code or failure.status, failure.message or "Request failed.")
