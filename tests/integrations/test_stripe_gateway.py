"""The real StripeGateway (stripe-python) against the local fake provider in tests/fakes/stripe_server.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.config import ConfigError, ProductionConfig
from app.integrations.stripe_gateway import (
    InvalidWebhook,
    PaymentDeclined,
    PaymentGateway,
    PaymentProviderUnavailable,
    PaymentRateLimited,
    PaymentRequestRejected,
    StripeGateway,
    get_gateway,
)
from tests.fakes.stripe_server import FakeStripe, parse_form


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeStripe) -> Iterator[FakeStripe]:
    server.reset()
    server.webhook_url = None
    server.webhook_sink = None
    yield server
    server.reset()


def gateway_for(fake: FakeStripe, **overrides: Any) -> StripeGateway:
    settings: dict[str, Any] = {"webhook_secret": fake.webhook_secret, "api_base": fake.base_url}
    settings.setdefault("max_network_retries", 0)
    settings.update(overrides)
    return StripeGateway(fake.api_key, **settings)


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return gateway_for(fake)


def checkout(gateway: StripeGateway, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "reference": "contract:42",
        "amount_minor": 1234_56,
        "currency": "EUR",
        "description": "Hub engagement #42: mould flow review",
        "success_url": "http://hub.test/pay/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://hub.test/pay/cancelled",
        "idempotency_key": "fund:42:1",
        "customer_email": "buyer@example.com",
    }
    params.update(overrides)
    return gateway.create_checkout_session(**params)


def test_the_gateway_satisfies_the_interface(gateway: StripeGateway) -> None:
    interface: PaymentGateway = gateway  # checked by mypy; here, that it constructs
    assert interface is gateway


def test_parse_form_reads_stripe_nested_keys() -> None:
    assert parse_form(
        [("line_items[0][price_data][unit_amount]", "5"), ("line_items[1][quantity]", "2"), ("metadata[a]", "b")]
    ) == {"line_items": [{"price_data": {"unit_amount": "5"}}, {"quantity": "2"}], "metadata": {"a": "b"}}


# Checkout ------------------------------------------------------------------------------------


def test_checkout_session_is_created_with_amount_currency_and_metadata(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    result = checkout(gateway)
    assert result.session_id.startswith("cs_test_")
    assert result.url == f"{fake.base_url}/pay/{result.session_id}"

    [sent] = fake.request_log()
    assert (sent.method, sent.path, sent.idempotency_key) == ("POST", "/v1/checkout/sessions", "fund:42:1")
    assert sent.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.params["mode"] == "payment"
    assert sent.params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "eur",
                "unit_amount": "123456",
                "product_data": {"name": "Hub engagement #42: mould flow review"},
            },
        }
    ]
    assert sent.params["metadata"] == {"reference": "contract:42"}
    assert sent.params["client_reference_id"] == "contract:42"
    assert sent.params["payment_intent_data"]["metadata"] == {"reference": "contract:42"}
    assert "on_behalf_of" not in sent.params and "on_behalf_of" not in sent.params["payment_intent_data"]
    assert sent.params["customer_email"] == "buyer@example.com"

    info = gateway.retrieve_checkout_session(result.session_id)
    assert (info.amount_minor, info.currency, info.reference) == (1234_56, "EUR", "contract:42")
    assert (info.status, info.payment_status, info.paid, info.payment_intent) == ("open", "unpaid", False, None)


def test_checkout_create_is_idempotent_per_key(fake: FakeStripe, gateway: StripeGateway) -> None:
    first = checkout(gateway)
    again = checkout(gateway)
    assert again == first
    assert len(fake.sessions) == 1
    with pytest.raises(PaymentRequestRejected, match="same parameters") as caught:
        checkout(gateway, amount_minor=999)
    assert caught.value.http_status == 400 and not caught.value.retryable
    assert len(fake.sessions) == 1
    assert checkout(gateway, idempotency_key="fund:42:2").session_id != first.session_id


def test_unknown_session_is_a_rejected_request(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentRequestRejected, match="No such checkout.session") as caught:
        gateway.retrieve_checkout_session("cs_test_nope")
    assert caught.value.http_status == 404


def test_amounts_must_be_whole_minor_units(gateway: StripeGateway, fake: FakeStripe) -> None:
    for bad in (0, -5, 12.5, True):
        with pytest.raises(ValueError, match="positive whole minor units"):
            checkout(gateway, amount_minor=bad)
    assert fake.request_log() == []


# Transfers and refunds -------------------------------------------------------------------------


def test_transfer_with_a_deterministic_key_is_the_same_transfer_twice(fake: FakeStripe, gateway: StripeGateway) -> None:
    params: dict[str, Any] = {
        "amount_minor": 850_00,
        "currency": "EUR",
        "destination": "acct_expert_1",
        "idempotency_key": "release:milestone:9",
        "metadata": {"milestone_id": "9"},
    }
    first = gateway.create_transfer(**params)
    second = gateway.create_transfer(**params)
    assert first == second and first.startswith("tr_")
    assert len(fake.transfers) == 1
    transfer = fake.transfers[first]
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (850_00, "eur", "acct_expert_1")
    assert transfer["metadata"] == {"milestone_id": "9"}
    assert {r.idempotency_key for r in fake.request_log("/v1/transfers")} == {"release:milestone:9"}


def test_ambiguous_failure_is_retried_with_the_same_key_and_yields_one_transfer(fake: FakeStripe) -> None:
    gateway = gateway_for(fake, max_network_retries=2)
    fake.lose_next_response("/v1/transfers")
    transfer_id = gateway.create_transfer(
        amount_minor=100, currency="EUR", destination="acct_x", idempotency_key="release:1", metadata={}
    )
    calls = fake.request_log("/v1/transfers")
    assert [c.status for c in calls] == [500, 200]
    assert {c.idempotency_key for c in calls} == {"release:1"}
    assert list(fake.transfers) == [transfer_id]


def test_refund_of_a_payment(fake: FakeStripe, gateway: StripeGateway) -> None:
    intent = fake.add_payment(100_00, "eur")
    refund_id = gateway.create_refund(payment_intent=intent, amount_minor=40_00, idempotency_key="refund:1")
    assert refund_id.startswith("re_")
    assert gateway.create_refund(payment_intent=intent, amount_minor=40_00, idempotency_key="refund:1") == refund_id
    assert fake.payment_intents[intent]["amount_refunded"] == 40_00
    with pytest.raises(PaymentRequestRejected, match="greater than unrefunded amount"):
        gateway.create_refund(payment_intent=intent, amount_minor=60_01, idempotency_key="refund:2")


@pytest.mark.parametrize(
    ("status", "error", "code", "retryable"),
    [
        (402, PaymentDeclined, "card_declined", False),
        (429, PaymentRateLimited, "rate_limit", True),
        (500, PaymentProviderUnavailable, None, True),
        (503, PaymentProviderUnavailable, None, True),
        (400, PaymentRequestRejected, None, False),
    ],
)
def test_provider_errors_are_mapped(
    fake: FakeStripe, gateway: StripeGateway, status: int, error: type, code: str | None, retryable: bool
) -> None:
    fake.fail_next(status, path="/v1/transfers")
    with pytest.raises(error) as caught:
        gateway.create_transfer(
            amount_minor=100, currency="EUR", destination="acct_x", idempotency_key="release:2", metadata={}
        )
    assert caught.value.http_status == status
    assert caught.value.code == code
    assert caught.value.retryable is retryable
    assert fake.transfers == {}
    # Injected failures are not stored for the key: the retry goes through.
    assert gateway.create_transfer(
        amount_minor=100, currency="EUR", destination="acct_x", idempotency_key="release:2", metadata={}
    ).startswith("tr_")


def test_a_retryable_error_is_retried_by_the_sdk_with_the_same_key(fake: FakeStripe) -> None:
    gateway = gateway_for(fake, max_network_retries=1)
    fake.fail_next(500, path="/v1/checkout/sessions", should_retry=True)
    result = checkout(gateway)
    calls = fake.request_log()
    assert [c.status for c in calls] == [500, 200]
    assert {c.idempotency_key for c in calls} == {"fund:42:1"}
    assert list(fake.sessions) == [result.session_id]


def test_wrong_api_key_and_unreachable_provider(fake: FakeStripe) -> None:
    with pytest.raises(PaymentRequestRejected) as caught:
        StripeGateway("sk_test_wrong", webhook_secret="x", api_base=fake.base_url).retrieve_checkout_session("cs_1")
    assert caught.value.http_status == 401
    with pytest.raises(PaymentProviderUnavailable) as down:
        StripeGateway(
            "sk_test_x", webhook_secret="x", api_base="http://127.0.0.1:9", max_network_retries=0
        ).create_transfer(amount_minor=1, currency="EUR", destination="acct_x", idempotency_key="k", metadata={})
    assert down.value.retryable


# Webhooks -------------------------------------------------------------------------------------


def event_bytes(fake: FakeStripe, type_: str = "checkout.session.completed") -> tuple[dict[str, Any], bytes]:
    event = fake.make_event(type_, {"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"})
    return event, json.dumps(event, separators=(",", ":")).encode()


def test_webhook_with_a_good_signature_is_parsed(fake: FakeStripe, gateway: StripeGateway) -> None:
    event, body = event_bytes(fake)
    parsed = gateway.parse_webhook(body, fake.sign(body))
    assert (parsed.event_id, parsed.type) == (event["id"], "checkout.session.completed")
    assert parsed.object == {"id": "cs_test_1", "object": "checkout.session", "payment_status": "paid"}
    assert parsed.payload == event and parsed.livemode is False and parsed.created == event["created"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("other_secret", "bad_signature"),
        ("tampered_body", "bad_signature"),
        ("reserialised_body", "bad_signature"),
        ("garbage_header", "bad_signature"),
        ("missing_header", "missing_signature"),
        ("stale", "stale_timestamp"),
        ("not_json", "malformed_payload"),
        ("json_list", "malformed_payload"),
        ("no_data_object", "malformed_payload"),
    ],
)
def test_untrustworthy_webhooks_are_refused_with_a_reason(
    fake: FakeStripe, gateway: StripeGateway, case: str, reason: str
) -> None:
    event, body = event_bytes(fake)
    header = fake.sign(body)
    if case == "other_secret":
        header = fake.sign(body, secret="whsec_someone_else")
    elif case == "tampered_body":
        body = body.replace(b'"paid"', b'"unpaid"')
    elif case == "reserialised_body":
        body = json.dumps(json.loads(body), indent=2).encode()  # the raw-body bug
    elif case == "garbage_header":
        header = "nonsense"
    elif case == "missing_header":
        header = ""
    elif case == "stale":
        header = fake.sign(body, timestamp=int(time.time()) - 301)
    elif case == "not_json":
        body = b"<html>not json</html>"
        header = fake.sign(body)
    elif case == "json_list":
        body = b"[1, 2]"
        header = fake.sign(body)
    elif case == "no_data_object":
        body = json.dumps({"id": "evt_1", "object": "event", "type": "x", "data": {}}).encode()
        header = fake.sign(body)
    with pytest.raises(InvalidWebhook) as caught:
        gateway.parse_webhook(body, header)
    assert caught.value.reason == reason
    assert caught.value.status_code == 400


def test_webhook_within_the_configured_tolerance_is_accepted(fake: FakeStripe) -> None:
    gateway = gateway_for(fake, webhook_tolerance_seconds=600)
    _, body = event_bytes(fake)
    assert gateway.parse_webhook(body, fake.sign(body, timestamp=int(time.time()) - 400)).type


# The hosted checkout page and webhook delivery ---------------------------------------------------


class Receiver:
    """A tiny WSGI app on loopback that records the webhooks it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append((request.get_data(), request.headers.get("Stripe-Signature", "")))
        return Response("ok", 200)(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_hosted_page_pays_delivers_a_signed_webhook_and_redirects(fake: FakeStripe, gateway: StripeGateway) -> None:
    with Receiver() as receiver:
        fake.webhook_url = receiver.url
        result = checkout(gateway)

        page = requests.get(result.url, timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "1234.56 EUR" in page.text
        assert "Hub engagement #42: mould flow review" in page.text
        assert ">Pay</button>" in page.text
        assert 'href="http://hub.test/pay/cancelled">Cancel</a>' in page.text
        assert "<script" not in page.text and "src=" not in page.text and "stylesheet" not in page.text

        paid = requests.post(result.url, allow_redirects=False, timeout=5)
        assert paid.status_code == 303
        assert paid.headers["Location"] == f"http://hub.test/pay/done?session={result.session_id}"

        [(body, signature)] = receiver.received
        event = gateway.parse_webhook(body, signature)
        assert event.type == "checkout.session.completed"
        assert event.object["id"] == result.session_id
        assert event.object["payment_status"] == "paid"
        assert event.object["metadata"] == {"reference": "contract:42"}
        info = gateway.retrieve_checkout_session(result.session_id)
        assert info.paid and info.status == "complete"
        assert info.payment_intent == event.object["payment_intent"]
        assert fake.payment_intents[info.payment_intent]["metadata"] == {"reference": "contract:42"}

        # Paying again (a double click) neither charges nor notifies twice.
        assert requests.post(result.url, allow_redirects=False, timeout=5).status_code == 303
        assert len(receiver.received) == 1
        assert "is complete" in requests.get(result.url, timeout=5).text


def test_deliver_helpers_repeat_and_reorder(fake: FakeStripe, gateway: StripeGateway) -> None:
    seen: list[str] = []

    def sink(body: bytes, headers: dict[str, str]) -> int:
        seen.append(gateway.parse_webhook(body, headers["Stripe-Signature"]).event_id)
        return 200

    fake.webhook_sink = sink
    created = fake.make_event("transfer.created", {"id": "tr_1", "object": "transfer"})
    reversed_ = fake.make_event("transfer.reversed", {"id": "tr_1", "object": "transfer"})
    assert fake.deliver(created, times=3) == [200, 200, 200]
    assert seen == [created["id"]] * 3
    assert len({d.body for d in fake.deliveries}) == 1  # the same bytes each time
    seen.clear()
    assert fake.deliver_out_of_order([created, reversed_]) == [200, 200]
    assert seen == [reversed_["id"], created["id"]]


def test_expired_session_delivers_its_event(fake: FakeStripe, gateway: StripeGateway) -> None:
    types: list[str] = []
    fake.webhook_sink = lambda body, headers: types.append(json.loads(body)["type"]) or 200
    result = checkout(gateway)
    fake.expire(result.session_id)
    assert types == ["checkout.session.expired"]
    assert gateway.retrieve_checkout_session(result.session_id).status == "expired"
    assert requests.post(result.url, allow_redirects=False, timeout=5).status_code == 409


# Configuration -------------------------------------------------------------------------------


def test_get_gateway_is_none_without_a_key(app: Flask, fake: FakeStripe) -> None:
    app.extensions.pop("hub_payment_gateway", None)
    assert app.config["STRIPE_SECRET_KEY"] == ""
    assert get_gateway() is None
    app.extensions.pop("hub_payment_gateway", None)
    app.config.update(
        STRIPE_SECRET_KEY=fake.api_key, STRIPE_WEBHOOK_SECRET=fake.webhook_secret, STRIPE_API_BASE=fake.base_url
    )
    gateway = get_gateway()
    assert isinstance(gateway, StripeGateway)
    assert get_gateway() is gateway
    assert checkout(gateway).url.startswith(fake.base_url)


def _production(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "SECRET_KEY": "3f9c1e7a5b2d48c6a0e1f7b9d3c5a8e2f4b6d8a0c2e4f6a8",
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://hub@db/hub",
        "REDIS_URL": "redis://cache:6379/0",
        "STORAGE_BACKEND": "local",
        "HUB_FEE_PERCENT": 15,
        "STRIPE_WEBHOOK_TOLERANCE_SECONDS": 300,
        "HUB_ADDRESS": "Plasticonnect Hub GmbH, Industriestraße 1, 70173 Stuttgart",
        "HUB_BANK_IBAN": "DE02 1203 0000 0000 2020 51",
        "HUB_BANK_BIC": "BYLADEM1001",
    }
    config.update(overrides)
    return config


def test_production_requires_the_webhook_secret_when_card_payments_are_on() -> None:
    ProductionConfig.validate(_production())  # bank transfer only: fine
    ProductionConfig.validate(_production(STRIPE_SECRET_KEY="sk_live_x", STRIPE_WEBHOOK_SECRET="whsec_x"))
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET must be set"):
        ProductionConfig.validate(_production(STRIPE_SECRET_KEY="sk_live_x"))
    with pytest.raises(ConfigError, match="STRIPE_API_BASE must be an https"):
        ProductionConfig.validate(
            _production(STRIPE_SECRET_KEY="sk_live_x", STRIPE_WEBHOOK_SECRET="w", STRIPE_API_BASE="http://fake")
        )
    with pytest.raises(ConfigError, match="HUB_FEE_PERCENT"):
        ProductionConfig.validate(_production(HUB_FEE_PERCENT=101))
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_TOLERANCE_SECONDS"):
        ProductionConfig.validate(_production(STRIPE_WEBHOOK_TOLERANCE_SECONDS=0))
