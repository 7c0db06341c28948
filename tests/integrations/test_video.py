"""The real ZoomProvider (requests) against the local fake Zoom in tests/fakes/zoom_server.py, the link provider,
the provider choice from the settings, and Zoom webhook verification."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
from flask import Flask, request
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.integrations.video import (
    TIMEOUT,
    TOKEN_CACHE_KEY,
    LinkProvider,
    Meeting,
    MemoryTokenCache,
    RedisTokenCache,
    VideoBusy,
    VideoError,
    VideoProvider,
    ZoomProvider,
    get_video_provider,
    url_validation_response,
    verify_zoom_webhook,
)
from app.tasks.queue import connection
from tests.conftest import make_app
from tests.fakes.zoom_server import FakeZoom

START = datetime(2030, 5, 6, 9, 8, 9, tzinfo=ZoneInfo("Europe/Berlin"))  # 07:08:09 UTC
EXPECTED_SETTINGS = {
    "join_before_host": False,
    "waiting_room": True,
    "host_video": False,
    "participant_video": False,
    "mute_upon_entry": True,
    "approval_type": 2,
    "audio": "voip",
    "auto_recording": "none",
    "meeting_authentication": False,
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeZoom]:
    with FakeZoom() as fake:
        yield fake


@pytest.fixture
def zoom(server: FakeZoom) -> Iterator[FakeZoom]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def zoom_app(app: Flask, zoom: FakeZoom) -> Iterator[Flask]:
    """The test app with the ZOOM_* settings pointing at the fake and no cached token."""
    app.config.update(zoom.settings())
    connection().delete(TOKEN_CACHE_KEY)  # the embedded fakeredis outlives a test
    yield app
    connection().delete(TOKEN_CACHE_KEY)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingSession(requests.Session):
    """A real requests session that remembers the keyword arguments of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        return super().request(method, url, *args, **kwargs)


def provider_for(zoom: FakeZoom, **overrides: Any) -> ZoomProvider:
    settings: dict[str, Any] = {
        "account_id": zoom.account_id,
        "client_id": zoom.client_id,
        "client_secret": zoom.client_secret,
        "oauth_base": zoom.oauth_base,
        "api_base": zoom.api_base,
        "token_cache": MemoryTokenCache(),
    }
    settings.update(overrides)
    return ZoomProvider(**settings)


def schedule(provider: VideoProvider, **overrides: Any) -> Meeting:
    params: dict[str, Any] = {
        "topic": "Project #12 call with Expert Blue Heron",
        "start": START,
        "duration_minutes": 45,
        "timezone": "Europe/Berlin",
        "agenda": "Mould flow review (Expert Blue Heron)",
    }
    params.update(overrides)
    return provider.create_meeting(**params)


def zoom_provider() -> ZoomProvider:
    provider = get_video_provider()
    assert isinstance(provider, ZoomProvider)
    return provider


def secrets_of(zoom: FakeZoom) -> list[str]:
    return [zoom.client_secret, zoom.client_id, zoom.account_id, *zoom.issued_tokens, *zoom.issued_start_urls]


# The interface ------------------------------------------------------------------------------


def test_both_providers_satisfy_the_interface(zoom: FakeZoom) -> None:
    providers: list[VideoProvider] = [provider_for(zoom), LinkProvider()]  # checked by mypy
    assert [p.name for p in providers] == ["zoom", "link"]


def test_a_meeting_carries_no_host_url() -> None:
    assert [f.name for f in dataclasses.fields(Meeting)] == ["provider", "external_id", "join_url", "passcode"]


# Tokens -------------------------------------------------------------------------------------


def test_the_token_is_fetched_once_and_cached_in_redis(zoom_app: Flask, zoom: FakeZoom) -> None:
    first = schedule(zoom_provider())
    second = schedule(zoom_provider())  # a new provider object: the token comes from Redis

    assert first.external_id != second.external_id
    [token_request] = zoom.token_requests()
    assert token_request.method == "POST"
    assert token_request.query == {"grant_type": "account_credentials", "account_id": zoom.account_id}
    assert token_request.headers["Authorization"].startswith("Basic ")
    [token] = zoom.issued_tokens
    assert [r.headers["Authorization"] for r in zoom.api_requests()] == [f"Bearer {token}"] * 2
    cached = connection().get(TOKEN_CACHE_KEY)
    assert isinstance(cached, bytes) and cached.decode().endswith(f".{token}")
    assert 3290 <= connection().ttl(TOKEN_CACHE_KEY) <= 3300  # expires_in 3600 minus the 5-minute margin


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(zoom_app: Flask, zoom: FakeZoom) -> None:
    schedule(zoom_provider())
    zoom.expire_tokens()

    meeting = schedule(zoom_provider())

    assert meeting.external_id.isdigit()
    assert len(zoom.token_requests()) == 2
    assert [r.status for r in zoom.api_requests("POST")] == [201, 401, 201]
    old, new = zoom.issued_tokens
    assert zoom.api_requests("POST")[-1].headers["Authorization"] == f"Bearer {new}"
    cached = connection().get(TOKEN_CACHE_KEY)
    assert isinstance(cached, bytes) and cached.decode().endswith(f".{new}")


def test_a_second_401_after_the_refresh_is_an_error_not_a_loop(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    schedule(provider)
    zoom.fail_next(401, code=124, message="Invalid access token.", times=2)

    with pytest.raises(VideoError) as excinfo:
        schedule(provider)

    assert excinfo.value.http_status == 401
    assert len(zoom.token_requests()) == 2  # the first token, then exactly one refresh
    assert [r.status for r in zoom.api_requests("POST")] == [201, 401, 401]


def test_a_401_on_a_fresh_token_is_not_retried(zoom: FakeZoom) -> None:
    zoom.fail_next(401, code=124, message="Invalid access token.")

    with pytest.raises(VideoError):
        schedule(provider_for(zoom))

    assert len(zoom.token_requests()) == 1
    assert len(zoom.api_requests()) == 1


def test_a_token_near_its_expiry_is_stale_and_fetched_again(zoom: FakeZoom) -> None:
    clock = FakeClock()
    provider = provider_for(zoom, token_cache=MemoryTokenCache(clock))
    zoom.token_expires_in = 301  # only one second left once the 5-minute margin is taken off

    schedule(provider)
    clock.now += 1
    schedule(provider)

    assert len(zoom.token_requests()) == 2
    assert zoom.api_requests()[1].headers["Authorization"] == f"Bearer {zoom.issued_tokens[1]}"


def test_the_cached_token_is_used_until_five_minutes_before_expiry(zoom: FakeZoom) -> None:
    clock = FakeClock()
    provider = provider_for(zoom, token_cache=MemoryTokenCache(clock))

    schedule(provider)
    clock.now += 3600 - 300 - 1
    schedule(provider)
    assert len(zoom.token_requests()) == 1
    clock.now += 1
    schedule(provider)
    assert len(zoom.token_requests()) == 2


def test_a_token_with_five_minutes_or_less_is_not_cached(zoom_app: Flask, zoom: FakeZoom) -> None:
    zoom.token_expires_in = 300

    schedule(zoom_provider())
    schedule(zoom_provider())

    assert len(zoom.token_requests()) == 2
    assert connection().get(TOKEN_CACHE_KEY) is None


def test_a_token_cached_for_other_credentials_is_not_used(zoom: FakeZoom) -> None:
    cache = MemoryTokenCache()
    cache.set("0123456789ab.token-of-another-account", 3000)

    schedule(provider_for(zoom, token_cache=cache))

    assert len(zoom.token_requests()) == 1
    assert [r.status for r in zoom.api_requests()] == [201]


def test_an_unreachable_redis_only_costs_token_requests(zoom: FakeZoom) -> None:
    with FakeZoom() as gone:
        port = int(gone.base_url.rsplit(":", 1)[1])
    broken = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    provider = provider_for(zoom, token_cache=RedisTokenCache(broken))

    schedule(provider)
    schedule(provider)

    assert len(zoom.token_requests()) == 2
    assert [r.status for r in zoom.api_requests()] == [201, 201]


# Creating a meeting -------------------------------------------------------------------------


def test_create_meeting_sends_a_zoom_shaped_body(zoom_app: Flask, zoom: FakeZoom) -> None:
    topic = "Expert Blue Heron: " + "x" * 250

    meeting = schedule(zoom_provider(), topic=topic)

    [call] = zoom.api_requests("POST")
    assert call.path == "/v2/users/me/meetings"
    body = call.json
    assert body["topic"] == topic[:200] and len(body["topic"]) == 200
    assert body["type"] == 2
    assert body["start_time"] == "2030-05-06T07:08:09Z"
    assert body["duration"] == 45
    assert body["timezone"] == "Europe/Berlin"
    assert body["agenda"] == "Mould flow review (Expert Blue Heron)"
    assert re.fullmatch(r"[A-Za-z0-9]{10}", body["password"])
    assert body["settings"] == EXPECTED_SETTINGS
    assert call.status == 201

    stored = zoom.meetings[int(meeting.external_id)]
    assert meeting == Meeting(
        provider="zoom",
        external_id=str(stored["id"]),
        join_url=f"{zoom.base_url}/j/{stored['id']}?pwd={stored['encrypted_password']}",
        passcode=body["password"],
    )
    assert stored["id"] > 2**31  # int64: kept as a string


def test_passcodes_are_random(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    passcodes = {schedule(provider).passcode for _ in range(5)}
    assert len(passcodes) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9]{10}", p) for p in passcodes)


def test_every_call_has_the_connect_and_read_timeouts(zoom: FakeZoom) -> None:
    session = RecordingSession()
    provider = provider_for(zoom, session=session)

    meeting = schedule(provider)
    provider.host_url(meeting)
    provider.cancel_meeting(meeting)

    assert TIMEOUT == (5.0, 10.0)
    assert [c["method"] for c in session.calls] == ["POST", "POST", "GET", "DELETE"]
    assert all(c["timeout"] == TIMEOUT for c in session.calls)


def test_the_host_user_setting_is_used(zoom_app: Flask, zoom: FakeZoom) -> None:
    zoom_app.config["ZOOM_HOST_USER"] = zoom.host_email

    schedule(zoom_provider())

    assert zoom.api_requests("POST")[0].path == f"/v2/users/{zoom.host_email}/meetings"


def test_bad_arguments_are_refused_before_calling_zoom(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(provider, start=datetime(2030, 5, 6, 9, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="topic"):
        schedule(provider, topic="   ")
    with pytest.raises(ValueError, match="duration"):
        schedule(provider, duration_minutes=0)
    assert zoom.requests == []


# The host URL -------------------------------------------------------------------------------


def test_host_url_is_fresh_each_time_and_never_the_join_url(
    zoom_app: Flask, zoom: FakeZoom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = zoom_provider()
    meeting = schedule(provider)

    first = provider.host_url(meeting)
    second = provider.host_url(meeting)

    assert first != second
    assert first.startswith(f"{zoom.base_url}/s/{meeting.external_id}?zak=")
    assert zoom.issued_start_urls[-2:] == [first, second]
    assert meeting.join_url not in (first, second)
    assert [r.path for r in zoom.api_requests("GET")] == [f"/v2/meetings/{meeting.external_id}"] * 2
    created_start_url = zoom.issued_start_urls[0]  # in the 201 body, and dropped there
    assert created_start_url not in repr(meeting)
    for url in zoom.issued_start_urls:
        assert url not in caplog.text


def test_host_url_of_a_deleted_meeting_is_an_error(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    meeting = schedule(provider)
    del zoom.meetings[int(meeting.external_id)]

    with pytest.raises(VideoError, match="no longer exists") as excinfo:
        provider.host_url(meeting)
    assert excinfo.value.http_status == 404


def test_a_link_meeting_is_hosted_and_cancelled_without_zoom(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    link = Meeting(provider="link", external_id="", join_url="https://meet.jit.si/PlasticonnectHub-abc", passcode="")

    assert provider.host_url(link) == link.join_url
    provider.cancel_meeting(link)
    assert zoom.requests == []


def test_a_meeting_id_that_is_not_a_zoom_id_is_refused(zoom: FakeZoom) -> None:
    bad = Meeting(provider="zoom", external_id="../users/me", join_url="x", passcode="")
    with pytest.raises(VideoError):
        provider_for(zoom).host_url(bad)
    assert zoom.requests == []


# Errors -------------------------------------------------------------------------------------


def test_rate_limited_is_video_busy(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    zoom.fail_next(429)

    with pytest.raises(VideoBusy) as excinfo:
        schedule(provider)

    assert excinfo.value.retryable
    assert excinfo.value.http_status == 429
    assert "try again" in str(excinfo.value)
    assert isinstance(excinfo.value, VideoError)


def test_a_server_error_is_a_video_error_without_secrets(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    zoom.fail_next(500, message=f"Internal Error near {zoom.client_secret}")

    with pytest.raises(VideoError) as excinfo:
        schedule(provider)

    error = excinfo.value
    assert not isinstance(error, VideoBusy)
    assert error.retryable and error.http_status == 500
    assert str(error) == "The video service failed to schedule the call; please try again later."
    for secret in secrets_of(zoom):
        assert secret not in str(error)


def test_a_client_error_shows_zooms_message_but_no_secret(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    zoom.fail_next(400, code=3000, message=f"Cannot create the meeting for account {zoom.account_id}.")

    with pytest.raises(VideoError) as excinfo:
        schedule(provider)

    message = str(excinfo.value)
    assert message == "The video service refused to schedule the call: Cannot create the meeting for account ***."
    assert not excinfo.value.retryable
    for secret in secrets_of(zoom):
        assert secret not in message


def test_an_unknown_host_user_is_a_video_error_with_zooms_message(zoom: FakeZoom) -> None:
    with pytest.raises(VideoError, match="User does not exist: nobody@hub.example") as excinfo:
        schedule(provider_for(zoom, host_user="nobody@hub.example"))
    assert excinfo.value.http_status == 404


@pytest.mark.parametrize("field", ["client_secret", "client_id", "account_id"])
def test_bad_credentials_are_a_video_error(zoom: FakeZoom, field: str) -> None:
    wrong = {field: "wrong-" + getattr(zoom, field)}

    with pytest.raises(VideoError) as excinfo:
        schedule(provider_for(zoom, **wrong))

    message = str(excinfo.value)
    assert "credentials" in message
    assert not excinfo.value.retryable
    for secret in [*secrets_of(zoom), wrong[field]]:
        assert secret not in message
    assert zoom.token_requests()[0].status == 400
    assert zoom.api_requests() == []


def test_a_failing_token_endpoint(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    zoom.fail_next(503, path="/oauth/token")
    with pytest.raises(VideoError) as excinfo:
        schedule(provider)
    assert excinfo.value.retryable and not isinstance(excinfo.value, VideoBusy)

    zoom.fail_next(429, path="/oauth/token")
    with pytest.raises(VideoBusy):
        schedule(provider)
    assert zoom.api_requests() == []


def test_connection_refused_is_a_video_error() -> None:
    with FakeZoom() as gone:
        pass  # started and stopped: nothing listens on its port now

    with pytest.raises(VideoError, match="could not be reached") as excinfo:
        schedule(provider_for(gone))
    assert excinfo.value.retryable
    assert gone.requests == []


def test_a_read_timeout_is_a_video_error(zoom: FakeZoom) -> None:
    provider = provider_for(zoom, timeout=(5.0, 0.2))
    schedule(provider)  # a token in the cache
    zoom.delay_next(0.6, path="/v2/")

    started = time.monotonic()
    with pytest.raises(VideoError, match="could not be reached") as excinfo:
        schedule(provider)
    assert time.monotonic() - started < 0.5
    assert excinfo.value.retryable


# Cancelling ---------------------------------------------------------------------------------


def test_cancel_deletes_the_meeting_and_a_missing_one_is_fine(zoom_app: Flask, zoom: FakeZoom) -> None:
    provider = zoom_provider()
    meeting = schedule(provider)

    provider.cancel_meeting(meeting)
    provider.cancel_meeting(meeting)  # already gone: 404 is fine

    assert int(meeting.external_id) not in zoom.meetings
    assert zoom.deleted == [int(meeting.external_id)]
    assert [(r.method, r.status) for r in zoom.api_requests("DELETE")] == [("DELETE", 204), ("DELETE", 404)]


def test_cancel_failing_at_zoom_is_an_error(zoom: FakeZoom) -> None:
    provider = provider_for(zoom)
    meeting = schedule(provider)
    zoom.fail_next(500)

    with pytest.raises(VideoError, match="cancel"):
        provider.cancel_meeting(meeting)
    assert int(meeting.external_id) in zoom.meetings


# Links --------------------------------------------------------------------------------------


def test_link_provider_gives_distinct_unguessable_rooms_on_the_configured_base(app: Flask) -> None:
    app.config.update(VIDEO_LINK_BASE="https://video.hub.example/", VIDEO_ROOM_PREFIX="HubCalls")
    provider = get_video_provider()
    assert isinstance(provider, LinkProvider)

    meetings = [schedule(provider) for _ in range(50)]

    urls = {m.join_url for m in meetings}
    assert len(urls) == 50
    for meeting in meetings:
        assert re.fullmatch(r"https://video\.hub\.example/HubCalls-[A-Za-z0-9_-]{32}", meeting.join_url)
        assert meeting.provider == "link" and meeting.external_id == "" and meeting.passcode == ""
        assert "Heron" not in meeting.join_url  # nothing of the topic goes into the link
        assert provider.host_url(meeting) == meeting.join_url
        provider.cancel_meeting(meeting)  # a no-op


def test_link_provider_defaults_to_meet_jit_si(app: Flask) -> None:
    for name in ("ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "VIDEO_LINK_BASE", "VIDEO_ROOM_PREFIX"):
        app.config.pop(name, None)

    meeting = schedule(get_video_provider())

    assert re.fullmatch(r"https://meet\.jit\.si/PlasticonnectHub-[A-Za-z0-9_-]{32}", meeting.join_url)


def test_link_provider_refuses_a_base_that_is_not_a_web_address() -> None:
    with pytest.raises(ValueError):
        LinkProvider("javascript:alert(1)")


def test_link_provider_cannot_manage_a_zoom_meeting() -> None:
    zoom_meeting = Meeting(provider="zoom", external_id="81234567890", join_url="https://zoom.us/j/1", passcode="x")
    with pytest.raises(VideoError):
        LinkProvider().host_url(zoom_meeting)
    with pytest.raises(VideoError):
        LinkProvider().cancel_meeting(zoom_meeting)


# Choosing the provider ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"])
def test_zoom_needs_all_three_settings(zoom_app: Flask, missing: str) -> None:
    assert isinstance(get_video_provider(), ZoomProvider)
    zoom_app.config[missing] = ""
    assert isinstance(get_video_provider(), LinkProvider)
    zoom_app.config.pop(missing)
    assert isinstance(get_video_provider(), LinkProvider)


def test_an_app_created_with_zoom_settings_uses_zoom(storage_dir: str, zoom: FakeZoom) -> None:
    application = make_app(storage_dir, **zoom.settings())
    with application.app_context():
        connection().delete(TOKEN_CACHE_KEY)
        provider = get_video_provider()
        assert isinstance(provider, ZoomProvider)
        meeting = schedule(provider)
        connection().delete(TOKEN_CACHE_KEY)
    assert int(meeting.external_id) in zoom.meetings


# Webhooks -----------------------------------------------------------------------------------


def meeting_started(zoom: FakeZoom, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    return zoom.signed_webhook(
        "meeting.started", {"object": {"id": 81234567890, "topic": "Project #12 call"}}, **kwargs
    )


def test_a_signed_webhook_is_accepted(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)

    assert verify_zoom_webhook(body, headers, zoom.webhook_secret)
    event = json.loads(body)
    assert event["event"] == "meeting.started"
    assert event["payload"]["account_id"] == zoom.account_id


def test_webhook_headers_are_matched_whatever_their_case(app: Flask, zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)
    upper = {k.upper(): v for k, v in headers.items()}
    assert verify_zoom_webhook(body, upper, zoom.webhook_secret)
    with app.test_request_context("/webhooks/zoom", method="POST", data=body, headers=headers):
        assert verify_zoom_webhook(request.get_data(), request.headers, zoom.webhook_secret)


def test_a_tampered_body_is_rejected(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)
    tampered = body.replace(b"81234567890", b"81234567891")
    assert tampered != body
    assert not verify_zoom_webhook(tampered, headers, zoom.webhook_secret)


def test_a_wrong_secret_is_rejected(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom, secret="someone-elses-secret")
    assert not verify_zoom_webhook(body, headers, zoom.webhook_secret)
    body, headers = meeting_started(zoom)
    assert not verify_zoom_webhook(body, headers, "someone-elses-secret")
    assert not verify_zoom_webhook(body, headers, "")


def test_a_stale_or_future_timestamp_is_rejected(zoom: FakeZoom) -> None:
    now = time.time()
    old_body, old_headers = meeting_started(zoom, timestamp=int(now) - 301)
    assert not verify_zoom_webhook(old_body, old_headers, zoom.webhook_secret, now=now)
    future_body, future_headers = meeting_started(zoom, timestamp=int(now) + 301)
    assert not verify_zoom_webhook(future_body, future_headers, zoom.webhook_secret, now=now)
    recent_body, recent_headers = meeting_started(zoom, timestamp=int(now) - 250)
    assert verify_zoom_webhook(recent_body, recent_headers, zoom.webhook_secret, now=now)
    assert not verify_zoom_webhook(recent_body, recent_headers, zoom.webhook_secret, now=now, tolerance=200)


def test_a_signature_for_another_timestamp_is_rejected(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)
    moved = {**headers, "x-zm-request-timestamp": str(int(headers["x-zm-request-timestamp"]) - 1)}
    assert not verify_zoom_webhook(body, moved, zoom.webhook_secret)


def test_missing_or_malformed_headers_are_rejected(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)
    for name in ("x-zm-signature", "x-zm-request-timestamp"):
        assert not verify_zoom_webhook(body, {k: v for k, v in headers.items() if k != name}, zoom.webhook_secret)
    assert not verify_zoom_webhook(body, {**headers, "x-zm-request-timestamp": "soon"}, zoom.webhook_secret)
    assert not verify_zoom_webhook(body, {**headers, "x-zm-signature": "v0=00"}, zoom.webhook_secret)


def test_the_signature_is_the_documented_hmac(zoom: FakeZoom) -> None:
    body, headers = meeting_started(zoom)
    timestamp = headers["x-zm-request-timestamp"]
    digest = hmac.new(zoom.webhook_secret.encode(), f"v0:{timestamp}:{body.decode()}".encode(), hashlib.sha256)
    assert headers["x-zm-signature"] == "v0=" + digest.hexdigest()


def test_url_validation_response_matches_the_hmac(zoom: FakeZoom) -> None:
    body, headers = zoom.url_validation_challenge()
    assert verify_zoom_webhook(body, headers, zoom.webhook_secret)
    event = json.loads(body)
    assert event["event"] == "endpoint.url_validation"
    plain = event["payload"]["plainToken"]

    answer = url_validation_response(plain, zoom.webhook_secret)

    expected = hmac.new(zoom.webhook_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
    assert answer == {"plainToken": plain, "encryptedToken": expected}
    assert answer == zoom.expected_validation_answer(plain)
    assert url_validation_response(plain, "another-secret")["encryptedToken"] != expected


def test_url_validation_needs_a_secret_and_a_token() -> None:
    with pytest.raises(ValueError):
        url_validation_response("abc", "")
    with pytest.raises(ValueError):
        url_validation_response("", "secret")


def test_meeting_webhooks_describe_the_fakes_meeting(zoom: FakeZoom) -> None:
    meeting = schedule(provider_for(zoom))

    body, headers = zoom.meeting_webhook("meeting.ended", meeting.external_id)

    assert verify_zoom_webhook(body, headers, zoom.webhook_secret)
    obj = json.loads(body)["payload"]["object"]
    assert str(obj["id"]) == meeting.external_id
    assert obj["host_id"] == zoom.host_id and "end_time" in obj
    assert "start_url" not in obj and "password" not in obj


# The fake itself ----------------------------------------------------------------------------


def fake_token(zoom: FakeZoom, expires_in: int = 3600) -> str:
    response = requests.post(
        f"{zoom.oauth_base}/oauth/token",
        params={"grant_type": "account_credentials", "account_id": zoom.account_id},
        auth=(zoom.client_id, zoom.client_secret),
        timeout=5,
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["token_type"], data["expires_in"]) == ("bearer", expires_in)
    return str(data["access_token"])


def test_the_fake_validates_meetings_like_zoom(zoom: FakeZoom) -> None:
    auth = {"Authorization": f"Bearer {fake_token(zoom)}"}
    url = f"{zoom.api_base}/users/me/meetings"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": 2}, "topic"),
        ({"topic": "t" * 201}, "topic"),
        ({"topic": "call", "type": "2"}, "type"),
        ({"topic": "call", "password": "elevenchars"}, "password"),
        ({"topic": "call", "password": "pass word"}, "password"),
        ({"topic": "call", "start_time": "tomorrow"}, "start_time"),
    ]
    for body, field in cases:
        response = requests.post(url, json=body, headers=auth, timeout=5)
        assert response.status_code == 400, body
        assert response.json()["code"] == 300
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert zoom.meetings == {}
    response = requests.post(url, json={"topic": "call"}, timeout=5)
    assert (response.status_code, response.json()["code"]) == (401, 124)


def test_the_fake_updates_and_deletes_meetings(zoom: FakeZoom) -> None:
    auth = {"Authorization": f"Bearer {fake_token(zoom)}"}
    meeting = schedule(provider_for(zoom))
    url = f"{zoom.api_base}/meetings/{meeting.external_id}"

    patched = requests.patch(url, json={"topic": "Moved call", "duration": 30}, headers=auth, timeout=5)
    assert patched.status_code == 204
    got = requests.get(url, headers=auth, timeout=5).json()
    assert (got["topic"], got["duration"]) == ("Moved call", 30)
    assert requests.patch(url, json={"password": "x" * 11}, headers=auth, timeout=5).status_code == 400

    assert requests.delete(url, headers=auth, timeout=5).status_code == 204
    missing = requests.get(url, headers=auth, timeout=5)
    assert (missing.status_code, missing.json()["code"]) == (404, 3001)


def test_the_fake_token_lifetime_and_expiry(zoom: FakeZoom) -> None:
    zoom.token_expires_in = 120
    token = fake_token(zoom, expires_in=120)
    assert zoom.token_requests()[0].status == 200
    url = f"{zoom.api_base}/meetings/1"
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 404
    zoom.expire_tokens()
    expired = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert (expired.status_code, expired.json()) == (401, {"code": 124, "message": "Invalid access token."})
