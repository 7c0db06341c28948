"""Video calls for project channels behind a small interface (INTEGRATIONS.md §5; the only module calling Zoom).

Two providers implement :class:`VideoProvider`:

- :class:`ZoomProvider`: meetings on the hub's own Zoom account through a
  Server-to-Server OAuth app (``requests``, connect/read timeouts 5 s/10 s). The
  access token is cached until five minutes before it expires (in Redis under
  ``zoom:token`` when built by :func:`get_video_provider`); a 401 on a cached
  token drops it, fetches a new one and retries once. The host's ``start_url``
  embeds a ZAK token: it is never stored, logged or returned except by
  :meth:`ZoomProvider.host_url`, which fetches a fresh one each time.
- :class:`LinkProvider`: no account needed; each call gets a random,
  unguessable room link (``https://meet.jit.si/<prefix>-<token_urlsafe(24)>``).

Provider failures become :class:`VideoError` (or :class:`VideoBusy` when rate
limited) whose message is safe to show to a user: no token, secret or host URL.

Settings (read with ``current_app.config.get``): ``ZOOM_ACCOUNT_ID``,
``ZOOM_CLIENT_ID``, ``ZOOM_CLIENT_SECRET`` (all three set: Zoom, else links),
``ZOOM_OAUTH_BASE``, ``ZOOM_API_BASE``, ``ZOOM_HOST_USER``, ``ZOOM_WEBHOOK_SECRET``,
``VIDEO_LINK_BASE``, ``VIDEO_ROOM_PREFIX``. Tests run the real
:class:`ZoomProvider` against ``tests/fakes/zoom_server.py``.

Webhooks (``meeting.started``/``meeting.ended``, ``endpoint.url_validation``):
:func:`verify_zoom_webhook` checks ``x-zm-signature`` over the raw body and the
timestamp; :func:`url_validation_response` answers the validation challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol
from urllib.parse import quote

import requests
from flask import current_app
from werkzeug.datastructures import Headers

logger = logging.getLogger(__name__)

PROVIDER_ZOOM = "zoom"
PROVIDER_LINK = "link"

TOKEN_CACHE_KEY = "zoom:token"  # noqa: S105  (a Redis key name, not a secret)
TOKEN_MARGIN_SECONDS = 300  # a cached token is dropped this long before Zoom says it expires
TIMEOUT = (5.0, 10.0)  # (connect, read) seconds
TOPIC_MAX = 200
AGENDA_MAX = 2000
PASSCODE_LENGTH = 10
PASSCODE_ALPHABET = string.ascii_letters + string.digits
WEBHOOK_TOLERANCE_SECONDS = 300

_MESSAGE_MAX = 160
_ROOM_PREFIX_RE = re.compile(r"[^A-Za-z0-9_-]+")


# Results and errors -------------------------------------------------------------------------


@dataclass(frozen=True)
class Meeting:
    """A scheduled call: what may be stored and shown to the participants (never the host URL)."""

    provider: str  # "zoom" | "link"
    external_id: str  # Zoom's int64 meeting id as a string; "" for a link
    join_url: str
    passcode: str  # "" when the link needs none


class VideoError(RuntimeError):
    """The video provider refused or failed a request; the message is safe to show to a user.

    ``retryable`` says whether trying again later can help (rate limits, outages).
    """

    def __init__(self, message: str, *, http_status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retryable = retryable


class VideoBusy(VideoError):
    """The provider is rate limiting the hub (429): try again later (Zoom sends no Retry-After)."""

    def __init__(self, message: str, *, http_status: int | None = 429, retryable: bool = True) -> None:
        super().__init__(message, http_status=http_status, retryable=retryable)


# The interface ------------------------------------------------------------------------------


class VideoProvider(Protocol):
    """What the project channel needs from a video-call provider."""

    name: str

    def create_meeting(
        self, *, topic: str, start: datetime, duration_minutes: int, timezone: str, agenda: str
    ) -> Meeting:
        """Schedule a call; ``topic`` and ``agenda`` name the expert by pseudonym only."""
        ...

    def host_url(self, meeting: Meeting) -> str:
        """The URL the hub's host opens to start the call (fetched fresh; never store it)."""
        ...

    def cancel_meeting(self, meeting: Meeting) -> None:
        """Cancel the call at the provider; a meeting that is already gone is not an error."""
        ...


class TokenCache(Protocol):
    """Where :class:`ZoomProvider` keeps its access token between requests (and processes)."""

    def get(self) -> str | None:
        """The cached value, or ``None``."""
        ...

    def set(self, value: str, ttl_seconds: int) -> None:
        """Keep ``value`` for ``ttl_seconds`` (> 0)."""
        ...

    def delete(self) -> None:
        """Forget the cached value."""
        ...


class MemoryTokenCache:
    """A :class:`TokenCache` in process memory (tests; one process). ``clock`` is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._expires_at = 0.0

    def get(self) -> str | None:
        with self._lock:
            if self._value is not None and self._clock() < self._expires_at:
                return self._value
            self._value = None
            return None

    def set(self, value: str, ttl_seconds: int) -> None:
        with self._lock:
            self._value = value
            self._expires_at = self._clock() + ttl_seconds

    def delete(self) -> None:
        with self._lock:
            self._value = None


class RedisTokenCache:
    """A :class:`TokenCache` in Redis (``SET key value EX ttl``), shared by the web and worker processes.

    A Redis failure is logged and treated as a cache miss: the provider then fetches a token itself.
    """

    def __init__(self, redis: Any, key: str = TOKEN_CACHE_KEY) -> None:
        self._redis = redis
        self._key = key

    def get(self) -> str | None:
        try:
            raw = self._redis.get(self._key)
        except Exception:
            logger.warning("Could not read the Zoom token from Redis", exc_info=True)
            return None
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def set(self, value: str, ttl_seconds: int) -> None:
        try:
            self._redis.set(self._key, value, ex=ttl_seconds)
        except Exception:
            logger.warning("Could not cache the Zoom token in Redis", exc_info=True)

    def delete(self) -> None:
        try:
            self._redis.delete(self._key)
        except Exception:
            logger.warning("Could not drop the Zoom token from Redis", exc_info=True)


# Zoom ---------------------------------------------------------------------------------------


class ZoomProvider:
    """:class:`VideoProvider` on Zoom's REST API with a Server-to-Server OAuth app.

    Meetings are created for ``host_user`` (``me``, or a host's id or email) on the
    hub's account, with a waiting room, no joining before the host, no recording
    and a random passcode.
    """

    name = PROVIDER_ZOOM

    def __init__(
        self,
        *,
        account_id: str,
        client_id: str,
        client_secret: str,
        oauth_base: str = "https://zoom.us",
        api_base: str = "https://api.zoom.us/v2",
        host_user: str = "me",
        token_cache: TokenCache | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        if not (account_id and client_id and client_secret):
            raise ValueError("ZoomProvider needs an account id, a client id and a client secret")
        self._account_id = account_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._oauth_base = oauth_base.rstrip("/")
        self._api_base = api_base.rstrip("/")
        self._host_user = host_user or "me"
        self._cache: TokenCache = token_cache if token_cache is not None else MemoryTokenCache()
        self._session = session  # None: a short-lived session per call (nothing left open between calls)
        self._timeout = timeout
        # Cached tokens are tagged with the account and app, so new credentials never reuse an old token.
        self._token_tag = hashlib.sha256(f"{account_id}:{client_id}".encode()).hexdigest()[:12]

    # The interface --------------------------------------------------------------------------

    def create_meeting(
        self, *, topic: str, start: datetime, duration_minutes: int, timezone: str, agenda: str
    ) -> Meeting:
        """Schedule a Zoom meeting (type 2) and return its id, join URL and passcode.

        ``topic`` (cut to 200 characters) and ``agenda`` (cut to 2000) are stored
        in the hub's Zoom account and shown to participants: the caller puts the
        expert's pseudonym there, never a real name or contact detail. ``start``
        must be timezone-aware (sent as UTC, ``...Z``); ``timezone`` (an IANA name)
        is what Zoom displays.

        :raises ValueError: a blank topic, a naive ``start`` or a duration that is not a positive int.
        :raises VideoBusy: Zoom is rate limiting the hub.
        :raises VideoError: Zoom refused or failed the request, or could not be reached.
        """
        topic = topic.strip()
        if not topic:
            raise ValueError("a meeting needs a topic")
        if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int) or duration_minutes <= 0:
            raise ValueError(f"duration_minutes must be a positive whole number, not {duration_minutes!r}")
        passcode = _new_passcode()
        body: dict[str, Any] = {
            "topic": topic[:TOPIC_MAX],
            "type": 2,
            "start_time": _zoom_time(start),
            "duration": duration_minutes,
            "timezone": timezone or "UTC",
            "password": passcode,
            "agenda": agenda[:AGENDA_MAX],
            "settings": {
                "join_before_host": False,
                "waiting_room": True,
                "host_video": False,
                "participant_video": False,
                "mute_upon_entry": True,
                "approval_type": 2,
                "audio": "voip",
                "auto_recording": "none",
                "meeting_authentication": False,
            },
        }
        response = self._api("POST", f"/users/{quote(self._host_user, safe='@.')}/meetings", "create", json=body)
        if response.status_code != 201:
            self._raise_for(response, "create")
        data = _json_object(response)
        meeting_id, join_url = data.get("id"), data.get("join_url")
        if isinstance(meeting_id, bool) or not isinstance(meeting_id, int) or not isinstance(join_url, str):
            logger.warning("Zoom answered a meeting creation without an id or join URL (HTTP %s)", response.status_code)
            raise VideoError("The video service returned an incomplete meeting; please try again.", retryable=True)
        password = data.get("password")
        return Meeting(
            provider=PROVIDER_ZOOM,
            external_id=str(meeting_id),
            join_url=join_url,
            passcode=password if isinstance(password, str) and password else passcode,
        )

    def host_url(self, meeting: Meeting) -> str:
        """A fresh ``start_url`` for the host, from ``GET /meetings/{id}``: open it now, never store or log it.

        A link meeting (created while Zoom was not configured) has no host URL: its join URL is returned.

        :raises VideoError: the meeting no longer exists, or Zoom failed.
        """
        if meeting.provider == PROVIDER_LINK:
            return meeting.join_url
        path = f"/meetings/{_zoom_id(meeting)}"
        response = self._api("GET", path, "start")
        if response.status_code == 404:
            raise VideoError("This video meeting no longer exists at the video service.", http_status=404)
        if response.status_code != 200:
            self._raise_for(response, "start")
        start_url = _json_object(response).get("start_url")
        if not isinstance(start_url, str) or not start_url:
            raise VideoError("The video service returned no host link; please try again.", retryable=True)
        return start_url

    def cancel_meeting(self, meeting: Meeting) -> None:
        """Delete the meeting at Zoom (``DELETE /meetings/{id}``); already gone (404) is fine.

        A link meeting needs nothing.

        :raises VideoError: Zoom refused or failed the request.
        """
        if meeting.provider == PROVIDER_LINK:
            return
        response = self._api("DELETE", f"/meetings/{_zoom_id(meeting)}", "cancel")
        if response.status_code in (200, 204, 404):
            return
        self._raise_for(response, "cancel")

    # HTTP -----------------------------------------------------------------------------------

    def _api(self, method: str, path: str, what: str, *, json: Any = None) -> requests.Response:
        """One API call with a (cached) token; a 401 on a cached token refreshes it and retries once."""
        token, cached = self._token()
        response = self._send(method, path, what, token, json)
        if response.status_code == 401 and cached:
            logger.info("Zoom refused the cached access token; fetching a new one")
            self._cache.delete()
            token = self._fetch_token()
            response = self._send(method, path, what, token, json)
        return response

    def _send(self, method: str, path: str, what: str, token: str, json: Any) -> requests.Response:
        try:
            return self._request(
                method,
                self._api_base + path,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                json=json,
            )
        except requests.RequestException as exc:
            logger.warning("Zoom could not be reached (%s %s): %s", method, path, type(exc).__name__)
            raise VideoError(
                f"The video service could not be reached to {_ACTIONS[what]}; please try again later.",
                retryable=True,
            ) from exc

    def _request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        json: Any = None,
        params: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """One HTTP request with the timeouts and without following redirects (a redirect is an error)."""
        with requests.Session() if self._session is None else nullcontext(self._session) as session:
            return session.request(
                method,
                url,
                headers=headers,
                json=json,
                params=params,
                auth=auth,
                timeout=self._timeout,
                allow_redirects=False,
            )

    def _token(self) -> tuple[str, bool]:
        """An access token and whether it came from the cache."""
        cached = self._cache.get()
        if cached:
            tag, _, token = cached.partition(".")
            if tag == self._token_tag and token:
                return token, True
        return self._fetch_token(), False

    def _fetch_token(self) -> str:
        try:
            response = self._request(
                "POST",
                f"{self._oauth_base}/oauth/token",
                params={"grant_type": "account_credentials", "account_id": self._account_id},
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            logger.warning("Zoom's token endpoint could not be reached: %s", type(exc).__name__)
            raise VideoError("The video service could not be reached; please try again later.", retryable=True) from exc
        if response.status_code == 429:
            raise VideoBusy("The video service is busy; please try again in a minute.")
        if response.status_code >= 500:
            logger.warning("Zoom's token endpoint failed (HTTP %s)", response.status_code)
            raise VideoError(
                "The video service is unavailable; please try again later.",
                http_status=response.status_code,
                retryable=True,
            )
        data = _json_object(response) if response.status_code == 200 else {}
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = self._safe(_zoom_message(response))
            logger.error("Zoom refused the hub's credentials (HTTP %s): %s", response.status_code, reason)
            raise VideoError(
                "The video service refused the hub's Zoom credentials; an administrator must check the Zoom settings.",
                http_status=response.status_code,
            )
        if isinstance(expires_in, int) and not isinstance(expires_in, bool):
            ttl = expires_in - TOKEN_MARGIN_SECONDS
            if ttl > 0:
                self._cache.set(f"{self._token_tag}.{token}", ttl)
        return token

    def _raise_for(self, response: requests.Response, what: str) -> NoReturn:
        status = response.status_code
        action = _ACTIONS[what]
        if status == 429:
            raise VideoBusy(f"The video service is busy and could not {action}; please try again in a minute.")
        detail = self._safe(_zoom_message(response))
        logger.warning("Zoom refused to %s (HTTP %s): %s", action, status, detail)
        if status >= 500:
            raise VideoError(
                f"The video service failed to {action}; please try again later.", http_status=status, retryable=True
            )
        suffix = f": {detail}" if detail else "."
        raise VideoError(f"The video service refused to {action}{suffix}", http_status=status)

    def _safe(self, text: str) -> str:
        """``text`` shortened, on one line, and without any of the hub's credentials."""
        for secret in (self._client_secret, self._client_id, self._account_id):
            if secret:
                text = text.replace(secret, "***")
        text = " ".join(text.split())
        return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


_ACTIONS = {"create": "schedule the call", "start": "open the call", "cancel": "cancel the call"}


def _zoom_time(start: datetime) -> str:
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zoom_id(meeting: Meeting) -> str:
    if meeting.provider != PROVIDER_ZOOM or not (meeting.external_id.isascii() and meeting.external_id.isdigit()):
        raise VideoError("This call is not a Zoom meeting the hub can manage.")
    return meeting.external_id


def _new_passcode() -> str:
    """A random passcode of ten letters and digits, with at least one of each."""
    while True:
        code = "".join(secrets.choice(PASSCODE_ALPHABET) for _ in range(PASSCODE_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _zoom_message(response: requests.Response) -> str:
    """Zoom's own explanation: ``message`` on the API, ``reason`` on the token endpoint."""
    data = _json_object(response)
    for key in ("message", "reason"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


# Links --------------------------------------------------------------------------------------


class LinkProvider:
    """:class:`VideoProvider` without an account: a random room on a Jitsi server (``meet.jit.si`` by default).

    The room name is the prefix and ``secrets.token_urlsafe(24)`` (192 random
    bits), so it cannot be guessed; the topic and agenda are not put into it.
    There is nothing to cancel and the host joins like everyone else.
    """

    name = PROVIDER_LINK

    def __init__(self, base_url: str = "https://meet.jit.si", room_prefix: str = "PlasticonnectHub") -> None:
        base = base_url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", base):
            raise ValueError(f"the video link base must be an http(s) URL, not {base_url!r}")
        self._base = base
        self._prefix = _ROOM_PREFIX_RE.sub("", room_prefix)

    def create_meeting(
        self, *, topic: str, start: datetime, duration_minutes: int, timezone: str, agenda: str
    ) -> Meeting:
        """A new random room link; ``topic``, ``start`` and the rest are not sent anywhere."""
        room = secrets.token_urlsafe(24)
        name = f"{self._prefix}-{room}" if self._prefix else room
        return Meeting(provider=PROVIDER_LINK, external_id="", join_url=f"{self._base}/{name}", passcode="")

    def host_url(self, meeting: Meeting) -> str:
        """The join link: a room has no separate host URL.

        :raises VideoError: the meeting is a Zoom meeting but Zoom is no longer configured.
        """
        if meeting.provider != PROVIDER_LINK:
            raise VideoError("The video service for this call is no longer configured.")
        return meeting.join_url

    def cancel_meeting(self, meeting: Meeting) -> None:
        """Nothing to do for a link.

        :raises VideoError: the meeting is a Zoom meeting but Zoom is no longer configured.
        """
        if meeting.provider != PROVIDER_LINK:
            raise VideoError("The video service for this call is no longer configured.")


# Choosing a provider ------------------------------------------------------------------------


def build_video_provider(config: Mapping[str, Any], token_cache: TokenCache | None = None) -> VideoProvider:
    """Zoom when ``ZOOM_ACCOUNT_ID``, ``ZOOM_CLIENT_ID`` and ``ZOOM_CLIENT_SECRET`` are all set, else links."""
    account_id = str(config.get("ZOOM_ACCOUNT_ID", "") or "").strip()
    client_id = str(config.get("ZOOM_CLIENT_ID", "") or "").strip()
    client_secret = str(config.get("ZOOM_CLIENT_SECRET", "") or "").strip()
    if account_id and client_id and client_secret:
        return ZoomProvider(
            account_id=account_id,
            client_id=client_id,
            client_secret=client_secret,
            oauth_base=str(config.get("ZOOM_OAUTH_BASE", "https://zoom.us") or "https://zoom.us"),
            api_base=str(config.get("ZOOM_API_BASE", "https://api.zoom.us/v2") or "https://api.zoom.us/v2"),
            host_user=str(config.get("ZOOM_HOST_USER", "me") or "me"),
            token_cache=token_cache,
        )
    if account_id or client_id or client_secret:
        logger.warning("Zoom is only partly configured (ZOOM_ACCOUNT_ID/CLIENT_ID/CLIENT_SECRET); using links")
    return LinkProvider(
        str(config.get("VIDEO_LINK_BASE", "https://meet.jit.si") or "https://meet.jit.si"),
        str(config.get("VIDEO_ROOM_PREFIX", "PlasticonnectHub") or ""),
    )


def get_video_provider() -> VideoProvider:
    """The current app's provider: Zoom (token cached in the app's Redis) when configured, otherwise links."""
    from app.tasks.queue import connection  # the app's Redis; a fakeredis when embedded

    config = current_app.config
    zoom = all(str(config.get(name, "") or "").strip() for name in _ZOOM_CREDENTIALS)
    return build_video_provider(config, RedisTokenCache(connection()) if zoom else None)


_ZOOM_CREDENTIALS = ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET")


# Webhooks -----------------------------------------------------------------------------------


def verify_zoom_webhook(
    raw_body: bytes,
    headers: Mapping[str, str] | Headers,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = WEBHOOK_TOLERANCE_SECONDS,
) -> bool:
    """Whether a Zoom webhook is authentic and fresh.

    ``x-zm-signature`` must equal ``v0=`` + hex HMAC-SHA256(``secret``,
    ``v0:{x-zm-request-timestamp}:{raw_body}``) (constant-time comparison), and
    the timestamp (seconds) must be within ``tolerance`` seconds of ``now``.
    ``headers`` may be Flask's ``request.headers`` or a plain mapping (names are
    matched case-insensitively); an empty secret accepts nothing.
    """
    if not secret:
        return False
    signature = _header(headers, "x-zm-signature")
    timestamp = _header(headers, "x-zm-request-timestamp")
    if not signature or not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    message = b"v0:" + timestamp.encode() + b":" + raw_body
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def url_validation_response(plain_token: str, secret: str) -> dict[str, str]:
    """The 200 JSON answer to Zoom's ``endpoint.url_validation`` event.

    ``{"plainToken": plain_token, "encryptedToken": hex HMAC-SHA256(secret, plain_token)}``.

    :raises ValueError: no secret (``ZOOM_WEBHOOK_SECRET`` unset) or no token to answer.
    """
    if not secret:
        raise ValueError("the Zoom webhook secret is not set")
    if not plain_token:
        raise ValueError("the validation event has no plainToken")
    encrypted = hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


def _header(headers: Mapping[str, str] | Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return (value or "").strip()
