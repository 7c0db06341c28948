"""The payment provider behind a small interface (INTEGRATIONS.md §4; the only module importing ``stripe``).

The hub is the merchant of record ("separate charges and transfers"): companies
pay the hub through a hosted Checkout page, the money stays on the platform
balance, and released amounts go to experts' connected accounts as transfers.

- Every POST carries a deterministic idempotency key chosen by the caller
  (``fund:{contract}:{attempt}``, ``release:{milestone}``), so a retried job can
  never pay twice; the SDK's own network retries reuse it.
- Webhooks are verified on the raw body with the endpoint secret and the
  timestamp tolerance; anything wrong raises :class:`InvalidWebhook` with a reason.
- Provider failures become our own exceptions, each telling whether a retry can
  help (``retryable``), so callers never see ``stripe`` types.

``get_gateway()`` returns ``None`` when card payments are not configured
(``STRIPE_SECRET_KEY`` empty): the pages then offer bank transfer only. Tests run
the real :class:`StripeGateway` against ``tests/fakes/stripe_server.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import stripe
from flask import current_app

from app.exceptions import DomainError

logger = logging.getLogger(__name__)

_EXTENSION_KEY = "hub_payment_gateway"


# Results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    """A created hosted checkout page: the provider's id and the URL to send the payer to."""

    session_id: str
    url: str


@dataclass(frozen=True)
class CheckoutSessionInfo:
    """What the provider currently says about a checkout session."""

    session_id: str
    status: str  # "open" | "complete" | "expired"
    payment_status: str  # "unpaid" | "paid" | "no_payment_required"
    amount_minor: int | None
    currency: str | None  # upper case, like ours
    reference: str | None  # our metadata reference
    payment_intent: str | None
    url: str | None

    @property
    def paid(self) -> bool:
        return self.payment_status == "paid"


@dataclass(frozen=True)
class ProviderEventData:
    """A verified webhook event: its id and type, the object it is about, and the whole payload."""

    event_id: str
    type: str
    created: int
    livemode: bool
    object: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ProviderPayment:
    """A payment (Stripe payment intent) on the platform: its id is what card funding records."""

    id: str
    amount_minor: int  # what was received
    currency: str  # upper case, like ours
    created: int  # Unix time
    status: str


@dataclass(frozen=True)
class ProviderTransfer:
    """A transfer from the platform balance to a connected account."""

    id: str
    amount_minor: int
    currency: str
    created: int
    amount_reversed_minor: int = 0


@dataclass(frozen=True)
class ProviderRefund:
    """A refund of (part of) a payment."""

    id: str
    amount_minor: int
    currency: str
    created: int
    status: str
    payment_intent: str | None = None


@dataclass(frozen=True)
class ProviderBalance:
    """The platform's balance in one currency, in minor units (available and still pending)."""

    currency: str
    available_minor: int
    pending_minor: int

    @property
    def total_minor(self) -> int:
        return self.available_minor + self.pending_minor


# Errors -------------------------------------------------------------------------------------


class PaymentGatewayError(DomainError):
    """The payment provider refused or failed a request; nothing is known to have happened.

    ``retryable`` says whether trying again later (with the same idempotency key) can help.
    """

    status_code = 502
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class PaymentDeclined(PaymentGatewayError):
    """The payment method was declined (card_declined, insufficient_funds, ...)."""

    status_code = 402


class PaymentRateLimited(PaymentGatewayError):
    """Too many requests to the provider; retry later."""

    status_code = 503
    retryable = True


class PaymentProviderUnavailable(PaymentGatewayError):
    """The provider failed (5xx) or could not be reached; retry later with the same key."""

    status_code = 503
    retryable = True


class PaymentRequestRejected(PaymentGatewayError):
    """The provider rejected the request itself (bad parameters, reused idempotency key, bad API key)."""


class InvalidWebhook(DomainError):
    """A webhook that must not be trusted: ``reason`` is one of the ``REASONS``."""

    status_code = 400
    REASONS = ("missing_signature", "bad_signature", "stale_timestamp", "malformed_payload", "not_configured")

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in self.REASONS
        self.reason = reason
        super().__init__(f"invalid webhook ({reason}){': ' + detail if detail else ''}")


# The interface ------------------------------------------------------------------------------


class PaymentGateway(Protocol):
    """What the payment services need from a provider."""

    def create_checkout_session(
        self,
        *,
        reference: str,
        amount_minor: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        customer_email: str | None,
    ) -> CheckoutResult:
        """Open a hosted payment page for one amount."""
        ...

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        """The provider's current view of a checkout session."""
        ...

    def create_transfer(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> str:
        """Send money from the hub's balance to a connected account; returns the transfer id."""
        ...

    def create_refund(self, *, payment_intent: str, amount_minor: int, idempotency_key: str) -> str:
        """Refund (part of) a payment; returns the refund id."""
        ...

    def parse_webhook(self, payload: bytes, signature_header: str) -> ProviderEventData:
        """Verify and parse one webhook delivery."""
        ...

    def list_payments(self, *, since: datetime | None = None) -> list[ProviderPayment]:
        """Every succeeded payment on the platform created at or after ``since`` (all pages)."""
        ...

    def list_transfers(self, *, since: datetime | None = None) -> list[ProviderTransfer]:
        """Every transfer from the platform created at or after ``since`` (all pages)."""
        ...

    def list_refunds(self, *, since: datetime | None = None) -> list[ProviderRefund]:
        """Every succeeded or pending refund created at or after ``since`` (all pages)."""
        ...

    def balance(self) -> dict[str, ProviderBalance]:
        """The platform's balance per currency (upper-case code)."""
        ...


# Stripe -------------------------------------------------------------------------------------


class StripeGateway:
    """:class:`PaymentGateway` on Stripe's API through ``stripe.StripeClient``."""

    def __init__(
        self,
        api_key: str,
        *,
        webhook_secret: str,
        api_base: str = "",
        webhook_tolerance_seconds: int = 300,
        max_network_retries: int = 2,
        list_page_size: int = 100,
    ) -> None:
        if not api_key:
            raise ValueError("StripeGateway needs an API key")
        if not 1 <= list_page_size <= 100:  # Stripe's own bounds for ``limit``
            raise ValueError("list_page_size must be between 1 and 100")
        self._page_size = list_page_size
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance_seconds
        base_addresses: dict[str, str] = {"api": api_base.rstrip("/")} if api_base else {}
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=cast(Any, base_addresses),
            max_network_retries=max_network_retries,
        )

    def create_checkout_session(
        self,
        *,
        reference: str,
        amount_minor: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        customer_email: str | None,
        transfer_group: str | None = None,
    ) -> CheckoutResult:
        """Open a Checkout Session (mode ``payment``, one line item) on the platform.

        ``reference`` goes into the session's and the payment's metadata and
        ``client_reference_id``; ``description`` is shown to the payer and must
        never name the expert (the hub is the merchant of record; no
        ``on_behalf_of``). ``success_url`` may contain ``{CHECKOUT_SESSION_ID}``.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        _check_amount(amount_minor)
        payment_intent_data: dict[str, Any] = {"metadata": {"reference": reference}, "description": description}
        if transfer_group:
            payment_intent_data["transfer_group"] = transfer_group
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": _stripe_currency(currency),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": reference,
            "metadata": {"reference": reference},
            "payment_intent_data": payment_intent_data,
        }
        if customer_email:
            params["customer_email"] = customer_email
        session = self._call(
            "checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params=cast(Any, params), options={"idempotency_key": idempotency_key}
            ),
        )
        if not session.url:
            raise PaymentProviderUnavailable("the provider returned a checkout session without a payment page URL")
        return CheckoutResult(session_id=session.id, url=session.url)

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSessionInfo:
        """The session as the provider sees it now (status, payment status, payment intent).

        :raises PaymentGatewayError: (a subclass) unknown session, or the provider failed.
        """
        session = self._call("checkout session", lambda: self._client.v1.checkout.sessions.retrieve(session_id))
        data: dict[str, Any] = session.to_dict()
        metadata = data.get("metadata") or {}
        payment_intent = data.get("payment_intent")
        if isinstance(payment_intent, dict):  # expanded
            payment_intent = payment_intent.get("id")
        currency = data.get("currency")
        return CheckoutSessionInfo(
            session_id=str(data["id"]),
            status=str(data.get("status")),
            payment_status=str(data.get("payment_status")),
            amount_minor=data.get("amount_total"),
            currency=str(currency).upper() if currency else None,
            reference=metadata.get("reference"),
            payment_intent=payment_intent,
            url=data.get("url"),
        )

    def create_transfer(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        transfer_group: str | None = None,
        source_transaction: str | None = None,
    ) -> str:
        """Transfer ``amount_minor`` from the platform balance to ``destination`` (a connected account).

        The same ``idempotency_key`` always yields the same transfer (Stripe
        replays the first response), so a retry after an ambiguous failure is safe.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        _check_amount(amount_minor)
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": _stripe_currency(currency),
            "destination": destination,
            "metadata": dict(metadata),
        }
        if transfer_group:
            params["transfer_group"] = transfer_group
        if source_transaction:
            params["source_transaction"] = source_transaction
        transfer = self._call(
            "transfer",
            lambda: self._client.v1.transfers.create(
                params=cast(Any, params), options={"idempotency_key": idempotency_key}
            ),
        )
        return str(transfer.id)

    def create_refund(self, *, payment_intent: str, amount_minor: int, idempotency_key: str) -> str:
        """Refund ``amount_minor`` of ``payment_intent`` to the payer; returns the refund id.

        Refunds do not reverse transfers: money already released must be reversed separately.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        _check_amount(amount_minor)
        refund = self._call(
            "refund",
            lambda: self._client.v1.refunds.create(
                params={"payment_intent": payment_intent, "amount": amount_minor},
                options={"idempotency_key": idempotency_key},
            ),
        )
        return str(refund.id)

    def parse_webhook(self, payload: bytes, signature_header: str) -> ProviderEventData:
        """Verify ``Stripe-Signature`` over the raw ``payload`` and parse the event.

        :raises InvalidWebhook: no or bad signature, a timestamp older than the
            tolerance, or a body that is not a Stripe event.
        """
        if not self._webhook_secret:
            raise InvalidWebhook("not_configured", "STRIPE_WEBHOOK_SECRET is not set")
        if not signature_header:
            raise InvalidWebhook("missing_signature")
        try:
            self._client.construct_event(payload, signature_header, self._webhook_secret, tolerance=self._tolerance)
        except stripe.SignatureVerificationError as exc:
            message = str(exc.user_message or exc)
            reason = "stale_timestamp" if "tolerance" in message else "bad_signature"
            raise InvalidWebhook(reason, message) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError, UnicodeDecodeError; not an object
            raise InvalidWebhook("malformed_payload", str(exc)) from exc
        try:
            data = json.loads(payload)
            event_id, event_type = data["id"], data["type"]
            obj = data["data"]["object"]
            if not (isinstance(event_id, str) and isinstance(event_type, str) and isinstance(obj, dict)):
                raise TypeError("id, type or data.object has the wrong type")
            return ProviderEventData(
                event_id=event_id,
                type=event_type,
                created=int(data.get("created") or 0),
                livemode=bool(data.get("livemode", False)),
                object=obj,
                payload=data,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidWebhook("malformed_payload", f"not a Stripe event: {exc}") from exc

    # Read-only listings for reconciliation (RELIABILITY.md §1, I8) ------------------------------

    def list_payments(self, *, since: datetime | None = None) -> list[ProviderPayment]:
        """Every *succeeded* payment intent on the platform created at or after ``since``.

        Card funding records the payment intent id as the ledger's external
        reference, so these (not charges) are what reconciliation matches.
        Follows ``has_more`` / ``starting_after`` over every page.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        payments = []
        for data in self._list("payment intents", self._client.v1.payment_intents.list, since):
            if data.get("status") != "succeeded":
                continue
            received = data.get("amount_received")
            payments.append(
                ProviderPayment(
                    id=str(data["id"]),
                    amount_minor=int(received if received is not None else data.get("amount") or 0),
                    currency=str(data.get("currency") or "").upper(),
                    created=int(data.get("created") or 0),
                    status=str(data["status"]),
                )
            )
        return payments

    def list_transfers(self, *, since: datetime | None = None) -> list[ProviderTransfer]:
        """Every transfer from the platform created at or after ``since`` (all pages).

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        return [
            ProviderTransfer(
                id=str(data["id"]),
                amount_minor=int(data.get("amount") or 0),
                currency=str(data.get("currency") or "").upper(),
                created=int(data.get("created") or 0),
                amount_reversed_minor=int(data.get("amount_reversed") or 0),
            )
            for data in self._list("transfers", self._client.v1.transfers.list, since)
        ]

    def list_refunds(self, *, since: datetime | None = None) -> list[ProviderRefund]:
        """Every refund created at or after ``since`` that took money (succeeded or pending; all pages).

        Failed and cancelled refunds moved nothing and are left out.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        refunds = []
        for data in self._list("refunds", self._client.v1.refunds.list, since):
            if data.get("status") not in ("succeeded", "pending"):
                continue
            intent = data.get("payment_intent")
            if isinstance(intent, dict):  # expanded
                intent = intent.get("id")
            refunds.append(
                ProviderRefund(
                    id=str(data["id"]),
                    amount_minor=int(data.get("amount") or 0),
                    currency=str(data.get("currency") or "").upper(),
                    created=int(data.get("created") or 0),
                    status=str(data.get("status")),
                    payment_intent=str(intent) if intent else None,
                )
            )
        return refunds

    def balance(self) -> dict[str, ProviderBalance]:
        """The platform's balance per currency: available and pending, in minor units.

        :raises PaymentGatewayError: (a subclass) the provider refused or failed.
        """
        data: dict[str, Any] = self._call("balance", lambda: self._client.v1.balance.retrieve()).to_dict()
        totals: dict[str, dict[str, int]] = {}
        for part in ("available", "pending"):
            for funds in data.get(part) or []:
                currency = str(funds.get("currency") or "").upper()
                bucket = totals.setdefault(currency, {"available": 0, "pending": 0})
                bucket[part] += int(funds.get("amount") or 0)
        return {
            currency: ProviderBalance(currency, amounts["available"], amounts["pending"])
            for currency, amounts in sorted(totals.items())
        }

    def _list(self, what: str, fetch: Callable[..., Any], since: datetime | None) -> Iterator[dict[str, Any]]:
        """Every object of one Stripe list endpoint, page by page (``has_more`` / ``starting_after``)."""
        params: dict[str, Any] = {"limit": self._page_size}
        if since is not None:
            aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)  # naive means UTC here
            params["created"] = {"gte": int(aware.timestamp())}
        while True:
            page: dict[str, Any] = self._call(what, lambda: fetch(params=cast(Any, dict(params)))).to_dict()
            items = page.get("data") or []
            yield from items
            if not page.get("has_more") or not items:
                return
            params["starting_after"] = items[-1]["id"]

    def _call(self, what: str, request: Any) -> Any:
        try:
            return request()
        except stripe.CardError as exc:
            raise PaymentDeclined(
                f"The payment was declined ({_code(exc) or 'card_error'}).",
                code=_code(exc),
                http_status=exc.http_status,
            ) from exc
        except stripe.RateLimitError as exc:
            raise PaymentRateLimited(
                f"The payment provider is busy; the {what} will be retried.",
                code=_code(exc),
                http_status=exc.http_status,
            ) from exc
        except stripe.APIConnectionError as exc:
            raise PaymentProviderUnavailable(f"The payment provider could not be reached for the {what}.") from exc
        except stripe.APIError as exc:
            raise PaymentProviderUnavailable(
                f"The payment provider failed on the {what}.", code=_code(exc), http_status=exc.http_status
            ) from exc
        except stripe.StripeError as exc:
            status = exc.http_status
            if status is not None and status >= 500:
                raise PaymentProviderUnavailable(
                    f"The payment provider failed on the {what}.", code=_code(exc), http_status=status
                ) from exc
            logger.warning("Payment provider rejected the %s: %s (%s)", what, exc.user_message, _code(exc))
            raise PaymentRequestRejected(
                f"The payment provider rejected the {what}: {exc.user_message or _code(exc) or 'error'}",
                code=_code(exc),
                http_status=status,
            ) from exc


HOSTED_CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def checkout_origin(config: Mapping[str, Any]) -> str:
    """The origin of the provider's hosted checkout page (our fake serves it from STRIPE_API_BASE)."""
    base = str(config.get("STRIPE_API_BASE") or "").strip()
    if not base:
        return HOSTED_CHECKOUT_ORIGIN
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def build_gateway(config: Mapping[str, Any]) -> StripeGateway | None:
    """A :class:`StripeGateway` from the settings, or ``None`` when card payments are off."""
    api_key = str(config.get("STRIPE_SECRET_KEY") or "")
    if not api_key:
        return None
    return StripeGateway(
        api_key,
        webhook_secret=str(config.get("STRIPE_WEBHOOK_SECRET") or ""),
        api_base=str(config.get("STRIPE_API_BASE") or ""),
        webhook_tolerance_seconds=int(config.get("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)),
    )


def get_gateway() -> StripeGateway | None:
    """The current app's gateway (built once per app), or ``None``: then offer bank transfer only."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if _EXTENSION_KEY not in app.extensions:
        app.extensions[_EXTENSION_KEY] = build_gateway(app.config)
    return cast(StripeGateway | None, app.extensions[_EXTENSION_KEY])


def _code(exc: stripe.StripeError) -> str | None:
    """The provider's error code (some SDK errors carry it only in the error body)."""
    if exc.code:
        return str(exc.code)
    error = exc.error
    return str(error.code) if error is not None and error.code else None


def _check_amount(amount_minor: int) -> None:
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValueError(f"amounts are positive whole minor units, not {amount_minor!r}")


def _stripe_currency(currency: str) -> str:
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"currency must be a three-letter ISO code, not {currency!r}")
    return currency.lower()
