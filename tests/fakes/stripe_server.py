"""A stateful fake of the part of Stripe's API the hub uses, on a free loopback port.

The real ``stripe`` library talks to it unchanged (``STRIPE_API_BASE`` = ``fake.base_url``):
form-encoded bodies with nested keys (``line_items[0][price_data][unit_amount]``),
Bearer auth with the test key, ``Idempotency-Key`` honoured like Stripe (same key and
same parameters: the first response again, with ``Idempotent-Replayed: true``; same
key, other parameters: 400 ``idempotency_error``), and Stripe-shaped error bodies.

Endpoints: ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
``POST /v1/transfers``, ``POST /v1/transfers/{id}/reversals``, ``POST /v1/refunds``,
``GET /v1/payment_intents/{id}``; for reconciliation the lists ``GET /v1/payment_intents``,
``GET /v1/transfers`` and ``GET /v1/refunds`` (newest first, ``limit``, ``starting_after``,
``created[gte]``, ``has_more``) and ``GET /v1/balance`` (computed from what the fake holds:
succeeded payments - transfers + reversals - refunds + top-ups, all "available").

A fake *hosted checkout page* for browser tests: ``GET /pay/{session}`` shows the
amount, the description, a "Pay" button and a "Cancel" link (no external assets);
``POST /pay/{session}`` marks the session paid, creates a payment intent and a charge,
delivers a signed ``checkout.session.completed`` webhook to ``webhook_url`` (or to
``webhook_sink``, a callable for in-process receivers such as a Flask test client)
and redirects to the session's ``success_url``.

Test helpers: ``fail_next(status, ...)`` (402 card_declined, 429, 500, ...),
``lose_next_response(path)`` (the object is created but the client sees a 500: an
ambiguous failure), ``delay_next(seconds, path)`` (the object is created at once but
the answer is held back: a slow provider that already acted, so a test can kill the
caller while it waits), ``make_event``, ``deliver(event, times=n)``,
``deliver_out_of_order(events)``, ``sign(payload)``, ``expire(session_id)``,
``add_payment(amount, currency)`` (also a stray charge the ledger does not know),
``add_topup(amount, currency)`` (money added to the balance from the hub's bank: no payment),
and ``requests`` (every API call received, with the id
of the object it created or, replayed under its Idempotency-Key, returned again).

Injected failures happen "before" Stripe processes the request and are not stored
for idempotency, so a retry with the same key can succeed; a lost response is stored
(the retry gets the object created the first time).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

API_VERSION = "2026-10-28.endive"
WebhookSink = Callable[[bytes, dict[str, str]], int]


@dataclass
class RecordedRequest:
    """One API request as the fake received it."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str | None
    status: int = 0
    object_id: str | None = None  # the object created or returned (also when the response was lost)
    replayed: bool = False  # answered from the idempotency store: nothing new was created


@dataclass
class Delivery:
    """One webhook delivery attempt."""

    event_id: str
    type: str
    body: bytes
    signature: str
    status: int | None
    error: str = ""


@dataclass
class _Failure:
    status: int
    code: str | None
    message: str | None
    path: str | None
    should_retry: bool
    remaining: int


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class FakeStripe:
    """The fake provider. Use as a context manager, or ``start()`` / ``stop()``."""

    api_key: str = "sk_test_fake_hub"
    webhook_secret: str = "whsec_fake_hub"
    webhook_url: str | None = None
    webhook_sink: WebhookSink | None = None

    requests: list[RecordedRequest] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    topups: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._idempotency: dict[str, _Stored] = {}
        self._failures: list[_Failure] = []
        self._lost: list[str] = []
        self._delays: list[tuple[str | None, float]] = []
        self._wake = threading.Event()  # set by reset() and stop(): held answers go out at once
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # Life cycle -----------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        """Serve on 127.0.0.1 on a free port, in a daemon thread."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-stripe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Where the fake listens, e.g. ``http://127.0.0.1:54321`` (STRIPE_API_BASE)."""
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def reset(self) -> None:
        """Forget every object, key, request, delivery and injected failure."""
        with self._lock:
            for store in (self.sessions, self.payment_intents, self.transfers, self.refunds, self._idempotency):
                store.clear()
            self.requests.clear()
            self.topups.clear()
            self.deliveries.clear()
            self._failures.clear()
            self._lost.clear()
            self._delays.clear()
            self._wake.set()
            self._wake = threading.Event()

    # Test controls --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        path: str | None = None,
        times: int = 1,
        should_retry: bool = False,
    ) -> None:
        """Answer the next ``times`` API requests (under ``path``, if given) with a Stripe error."""
        with self._lock:
            self._failures.append(_Failure(status, code, message, path, should_retry, times))

    def lose_next_response(self, path: str) -> None:
        """Process the next request under ``path`` but answer 500 (retryable): an ambiguous failure."""
        with self._lock:
            self._lost.append(path)

    def delay_next(self, seconds: float, path: str | None = None) -> None:
        """Process the next API request (under ``path``, if given) at once, but answer only after ``seconds``.

        The object exists at the fake while the client still waits (``reset()`` or ``stop()``
        answer at once), as when a provider acted but its response is slow.
        """
        with self._lock:
            self._delays.append((path, seconds))

    def add_payment(
        self,
        amount_minor: int,
        currency: str = "eur",
        *,
        metadata: Mapping[str, str] | None = None,
        created: int | None = None,
    ) -> str:
        """A succeeded payment intent (with its charge), as if paid on a hosted page; returns its id.

        Nothing tells the hub about it, so it is also how a test makes a stray charge.
        ``created`` (Unix time) backdates it.
        """
        with self._lock:
            intent = self._new_payment_intent(amount_minor, currency.lower(), dict(metadata or {}))
            if created is not None:
                intent["created"] = created
            return str(intent["id"])

    def add_topup(self, amount_minor: int, currency: str = "eur") -> str:
        """Money added to the platform balance from the hub's bank account (no payment intent)."""
        with self._lock:
            topup = {"id": f"tu_{secrets.token_hex(12)}", "object": "topup", "amount": amount_minor,
                     "currency": currency.lower(), "status": "succeeded", "created": int(time.time())}
            self.topups.append(topup)
            return str(topup["id"])

    def balance(self) -> dict[str, int]:
        """What the fake's balance endpoint reports, per (lower-case) currency."""
        with self._lock:
            totals: dict[str, int] = {}
            for intent in self.payment_intents.values():
                if intent["status"] == "succeeded":
                    totals[intent["currency"]] = totals.get(intent["currency"], 0) + intent["amount_received"]
            for transfer in self.transfers.values():
                moved = transfer["amount"] - transfer["amount_reversed"]
                totals[transfer["currency"]] = totals.get(transfer["currency"], 0) - moved
            for refund in self.refunds.values():
                if refund["status"] in ("succeeded", "pending"):
                    totals[refund["currency"]] = totals.get(refund["currency"], 0) - refund["amount"]
            for topup in self.topups:
                totals[topup["currency"]] = totals.get(topup["currency"], 0) + topup["amount"]
            return totals

    def expire(self, session_id: str, *, deliver: bool = True) -> dict[str, Any]:
        """Expire an open session and (by default) deliver ``checkout.session.expired``."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] == "open":
                session["status"] = "expired"
            event = self.make_event("checkout.session.expired", self._public_session(session))
        if deliver:
            self.deliver(event)
        return event

    def request_log(self, path_prefix: str = "/v1/") -> list[RecordedRequest]:
        """The recorded API requests under ``path_prefix``."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # Webhooks -------------------------------------------------------------------------------

    def make_event(self, type: str, obj: Mapping[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """A Stripe-shaped (snapshot) event about ``obj``."""
        return {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": dict(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }

    def sign(self, payload: bytes | str, *, timestamp: int | None = None, secret: str | None = None) -> str:
        """The ``Stripe-Signature`` header for ``payload``: ``t=<ts>,v1=<hex HMAC-SHA256 of "ts.payload">``."""
        body = payload.decode() if isinstance(payload, bytes) else payload
        ts = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new((secret or self.webhook_secret).encode(), f"{ts}.{body}".encode(), hashlib.sha256)
        return f"t={ts},v1={mac.hexdigest()}"

    def deliver(self, event: Mapping[str, Any], *, times: int = 1, timestamp: int | None = None) -> list[int | None]:
        """POST ``event`` (the same bytes each time, freshly signed) ``times`` times; the statuses."""
        body = json.dumps(event, separators=(",", ":")).encode()
        return [self._post_webhook(event, body, timestamp=timestamp) for _ in range(times)]

    def deliver_out_of_order(
        self, events: Iterable[Mapping[str, Any]], order: Iterable[int] | None = None
    ) -> list[int | None]:
        """Deliver ``events`` in ``order`` (indexes; default: reversed), as Stripe may."""
        items = list(events)
        indexes = list(order) if order is not None else list(reversed(range(len(items))))
        return [status for i in indexes for status in self.deliver(items[i])]

    def _post_webhook(self, event: Mapping[str, Any], body: bytes, *, timestamp: int | None) -> int | None:
        signature = self.sign(body, timestamp=timestamp)
        headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": signature}
        status: int | None = None
        error = ""
        if self.webhook_sink is not None:
            status = self.webhook_sink(body, headers)
        elif self.webhook_url:
            request = urllib.request.Request(self.webhook_url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback, tests)
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                error = str(exc)
        else:
            error = "no webhook_url or webhook_sink configured"
        self.deliveries.append(Delivery(str(event["id"]), str(event["type"]), body, signature, status, error))
        return status

    # WSGI -----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/favicon.ico":  # the hosted page's browser asks; like the real page, it has one
            return Response(b"", status=204)(environ, start_response)
        if request.path.startswith("/pay/"):
            response = self._hosted_page(request)
        else:
            response = self._api(request)
        return response(environ, start_response)

    def _api(self, request: Request) -> Response:
        params = parse_form(
            request.form.items(multi=True) if request.method == "POST" else request.args.items(multi=True)
        )
        key = request.headers.get("Idempotency-Key")
        record = RecordedRequest(request.method, request.path, params, dict(request.headers), key)
        with self._lock:
            self.requests.append(record)
            response = self._api_locked(request, params, key)
            record.status = response.status_code
            record.replayed = response.headers.get("Idempotent-Replayed") == "true"
            stored = self._idempotency.get(key) if key and request.method == "POST" else None
            record.object_id = _object_id(stored.body if stored is not None else response.get_data())
            delay = next((d for d in self._delays if d[0] is None or request.path.startswith(d[0])), None)
            if delay is not None:
                self._delays.remove(delay)
            wake = self._wake
        if delay is not None:
            wake.wait(delay[1])  # outside the lock: other requests are served meanwhile
        return response

    def _api_locked(self, request: Request, params: dict[str, Any], key: str | None) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        failure = next((f for f in self._failures if f.path is None or request.path.startswith(f.path)), None)
        if failure is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            return _injected(failure)

        fingerprint = json.dumps([request.method, request.path, params], sort_keys=True)
        if request.method == "POST" and key:
            stored = self._idempotency.get(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were first"
                        f" used with. Try using a key other than '{key}' if you meant to execute a different"
                        " request.",
                    )
                response = Response(stored.body, status=stored.status, mimetype="application/json")
                response.headers["Idempotent-Replayed"] = "true"
                return response

        status, body = self._route(request.method, request.path, params)
        raw = json.dumps(body).encode()
        if request.method == "POST" and key and status != 500:
            self._idempotency[key] = _Stored(fingerprint, status, raw)
        lost = next((p for p in self._lost if request.path.startswith(p)), None)
        if lost is not None:
            self._lost.remove(lost)
            return _error(500, "api_error", "The response was lost on the way.", should_retry=True)
        response = Response(raw, status=status, mimetype="application/json")
        response.headers["Request-Id"] = f"req_{secrets.token_hex(8)}"
        return response

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create_session(params)
        if method == "GET" and (m := re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path)):
            session = self.sessions.get(m.group(1))
            return (200, self._public_session(session)) if session else _missing("checkout.session", m.group(1))
        if method == "GET" and path in _LISTS:
            kind, store = _LISTS[path]
            return self._list(path, kind, getattr(self, store), params)
        if method == "GET" and path == "/v1/balance":
            return 200, self._balance_object()
        if method == "GET" and (m := re.fullmatch(r"/v1/payment_intents/([^/]+)", path)):
            intent = self.payment_intents.get(m.group(1))
            return (200, intent) if intent else _missing("payment_intent", m.group(1))
        if method == "POST" and path == "/v1/transfers":
            return self._create_transfer(params)
        if method == "POST" and (m := re.fullmatch(r"/v1/transfers/([^/]+)/reversals", path)):
            return self._create_reversal(m.group(1), params)
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(params)
        return 404, _error_body("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    # Lists and the balance -------------------------------------------------------------------

    def _list(
        self, url: str, kind: str, store: Mapping[str, dict[str, Any]], p: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A Stripe list object: newest first, ``limit`` (1-100, default 10), ``starting_after``, ``created``."""
        limit = _int(p.get("limit", "10"))
        if limit is None or not 1 <= limit <= 100:
            return _invalid("limit", "This value must be between 1 and 100.")
        created = p.get("created")
        bounds = created if isinstance(created, dict) else ({"eq": created} if created is not None else {})
        checks = {"gte": lambda v, b: v >= b, "gt": lambda v, b: v > b, "lte": lambda v, b: v <= b,
                  "lt": lambda v, b: v < b, "eq": lambda v, b: v == b}
        wanted: list[tuple[Callable[[int, int], bool], int]] = []
        for op, raw in bounds.items():
            bound = _int(raw)
            if op not in checks or bound is None:
                return _invalid(f"created[{op}]", "Invalid integer")
            wanted.append((checks[op], bound))
        # Newest first; among equal timestamps the later-created first (the store keeps insertion order).
        items = sorted(reversed(list(store.values())), key=lambda o: int(o.get("created") or 0), reverse=True)
        items = [o for o in items if all(check(int(o.get("created") or 0), b) for check, b in wanted)]
        after = p.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            if after not in ids:
                return _missing(kind, str(after))
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return 200, {"object": "list", "url": url, "has_more": len(items) > limit, "data": page}

    def _balance_object(self) -> dict[str, Any]:
        totals = self.balance()
        return {
            "object": "balance",
            "livemode": False,
            "available": [{"amount": amount, "currency": c, "source_types": {"card": amount}}
                          for c, amount in sorted(totals.items())],
            "pending": [{"amount": 0, "currency": c, "source_types": {"card": 0}} for c in sorted(totals)],
        }

    # Objects --------------------------------------------------------------------------------

    def _create_session(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if p.get("mode") != "payment":
            return _invalid("mode", "The fake only supports mode=payment.")
        for name in ("success_url", "cancel_url"):
            if not p.get(name):
                return _invalid(name, f"Missing required param: {name}.", code="parameter_missing")
        items = p.get("line_items")
        if not isinstance(items, list) or not items:
            return _invalid("line_items", "Missing required param: line_items.", code="parameter_missing")
        total = 0
        currency = None
        for i, item in enumerate(items):
            price = item.get("price_data") or {}
            amount = _int(price.get("unit_amount"))
            quantity = _int(item.get("quantity", "1"))
            if amount is None or amount <= 0 or quantity is None or quantity <= 0:
                return _invalid(f"line_items[{i}][price_data][unit_amount]", "Invalid positive integer")
            if not re.fullmatch(r"[a-z]{3}", str(price.get("currency", ""))):
                return _invalid(f"line_items[{i}][price_data][currency]", "Invalid currency")
            if currency is not None and price["currency"] != currency:
                return _invalid("line_items", "All line items must use the same currency.")
            currency = price["currency"]
            total += amount * quantity
        session_id = f"cs_test_{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "client_reference_id": p.get("client_reference_id"),
            "customer_email": p.get("customer_email"),
            "metadata": p.get("metadata") or {},
            "success_url": p["success_url"],
            "cancel_url": p["cancel_url"],
            "url": f"{self.base_url}/pay/{session_id}",
            "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "_line_items": items,
            "_payment_intent_data": p.get("payment_intent_data") or {},
        }
        self.sessions[session_id] = session
        return 200, self._public_session(session)

    def _public_session(self, session: dict[str, Any] | None) -> dict[str, Any]:
        assert session is not None
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def _new_payment_intent(self, amount: int, currency: str, metadata: dict[str, Any]) -> dict[str, Any]:
        intent_id = f"pi_{secrets.token_hex(12)}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "status": "succeeded",
            "latest_charge": f"ch_{secrets.token_hex(12)}",
            "metadata": metadata,
            "amount_refunded": 0,
            "created": int(time.time()),
            "livemode": False,
        }
        self.payment_intents[intent_id] = intent
        return intent

    def _create_transfer(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        amount = _int(p.get("amount"))
        if amount is None or amount <= 0:
            return _invalid("amount", "Invalid positive integer")
        if not re.fullmatch(r"[a-z]{3}", str(p.get("currency", ""))):
            return _invalid("currency", "Invalid currency")
        if not str(p.get("destination", "")).startswith("acct_"):
            return _invalid("destination", "No such destination account.", code="resource_missing")
        transfer_id = f"tr_{secrets.token_hex(12)}"
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": p["currency"],
            "destination": p["destination"],
            "metadata": p.get("metadata") or {},
            "transfer_group": p.get("transfer_group"),
            "source_transaction": p.get("source_transaction"),
            "reversed": False,
            "created": int(time.time()),
            "livemode": False,
        }
        self.transfers[transfer_id] = transfer
        return 200, transfer

    def _create_reversal(self, transfer_id: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            return _missing("transfer", transfer_id)
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(p.get("amount", str(remaining)))
        if amount is None or amount <= 0 or amount > remaining:
            return _invalid("amount", f"The amount must be between 1 and {remaining}.")
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        reversal = {
            "id": f"trr_{secrets.token_hex(12)}",
            "object": "transfer_reversal",
            "amount": amount,
            "currency": transfer["currency"],
            "transfer": transfer_id,
            "metadata": p.get("metadata") or {},
        }
        return 200, reversal

    def _create_refund(self, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.payment_intents.get(str(p.get("payment_intent", "")))
        if intent is None:
            return _invalid(
                "payment_intent", f"No such payment_intent: '{p.get('payment_intent')}'", code="resource_missing"
            )
        remaining = intent["amount_received"] - intent["amount_refunded"]
        amount = _int(p.get("amount", str(remaining)))
        if amount is None or amount <= 0:
            return _invalid("amount", "Invalid positive integer")
        if amount > remaining:
            return _invalid(
                "amount", f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
            )
        intent["amount_refunded"] += amount
        refund = {
            "id": f"re_{secrets.token_hex(12)}",
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "status": "succeeded",
            "metadata": p.get("metadata") or {},
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    # Hosted checkout page -------------------------------------------------------------------

    def _hosted_page(self, request: Request) -> Response:
        session_id = request.path.removeprefix("/pay/").strip("/")
        event = None
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return _html("<title>Not found</title><p>No such checkout session.</p>", 404)
            if request.method != "POST":
                return _html(_page(session))
            if session["status"] == "expired":
                return _html("<title>Expired</title><p>This checkout session has expired.</p>", 409)
            if session["status"] == "open":
                pi_data = session["_payment_intent_data"]
                intent = self._new_payment_intent(
                    session["amount_total"], session["currency"], pi_data.get("metadata") or {}
                )
                session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
                event = self.make_event("checkout.session.completed", self._public_session(session))
            target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
        # Outside the lock: the receiver may call the fake back (e.g. retrieve the session).
        if event is not None:
            self.deliver(event)
        return Response("", status=303, headers={"Location": target})


_LISTS: dict[str, tuple[str, str]] = {
    "/v1/payment_intents": ("payment_intent", "payment_intents"),
    "/v1/transfers": ("transfer", "transfers"),
    "/v1/refunds": ("refund", "refunds"),
}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Tests read ``FakeStripe.requests`` instead of an access log."""


# Helpers ------------------------------------------------------------------------------------


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into nested data: ``a[b][0][c]=1`` → ``{"a": {"b": [{"c": "1"}]}}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node: dict[str, Any] = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


def _object_id(body: bytes) -> str | None:
    """The ``id`` of the API object in a response body (None for an error or a body without one)."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    return str(data["id"]) if isinstance(data, dict) and "id" in data and "error" not in data else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _error_body(
    type_: str, message: str, *, code: str | None = None, param: str | None = None, decline_code: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    if decline_code:
        error["decline_code"] = decline_code
    return {"error": error}


def _error(status: int, type_: str, message: str, *, code: str | None = None, should_retry: bool = False) -> Response:
    response = Response(json.dumps(_error_body(type_, message, code=code)), status=status, mimetype="application/json")
    response.headers["Stripe-Should-Retry"] = "true" if should_retry else "false"
    return response


def _injected(failure: _Failure) -> Response:
    if failure.status == 402:
        body = _error_body(
            "card_error",
            failure.message or "Your card was declined.",
            code=failure.code or "card_declined",
            decline_code="generic_decline",
        )
    elif failure.status == 429:
        body = _error_body(
            "invalid_request_error",
            failure.message or "Too many requests hit the API too quickly.",
            code=failure.code or "rate_limit",
        )
    elif failure.status >= 500:
        body = _error_body("api_error", failure.message or "Something went wrong on Stripe's end.", code=failure.code)
    else:
        body = _error_body("invalid_request_error", failure.message or "Invalid request.", code=failure.code)
    response = Response(json.dumps(body), status=failure.status, mimetype="application/json")
    response.headers["Stripe-Should-Retry"] = "true" if failure.should_retry else "false"
    return response


def _invalid(param: str, message: str, *, code: str = "parameter_invalid") -> tuple[int, dict[str, Any]]:
    return 400, _error_body("invalid_request_error", message, code=code, param=param)


def _missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
    return 404, _error_body(
        "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", param="id"
    )


def _html(body: str, status: int = 200) -> Response:
    return Response(f'<!doctype html><html lang="en"><meta charset="utf-8">{body}</html>', status, mimetype="text/html")


def format_minor(amount_minor: int, currency: str) -> str:
    """``123456, "eur"`` → ``"1234.56 EUR"`` (integer arithmetic; two decimals, like most currencies)."""
    return f"{amount_minor // 100}.{amount_minor % 100:02d} {currency.upper()}"


def _page(session: dict[str, Any]) -> str:
    items = session["_line_items"]
    description = (items[0].get("price_data") or {}).get("product_data", {}).get("name", "")
    amount = format_minor(int(session["amount_total"]), str(session["currency"]))
    status = session["status"]
    if status == "open":
        action = (
            f'<form method="post" action="/pay/{html.escape(session["id"])}">'
            '<button type="submit" id="pay">Pay</button></form>'
            f'<p><a id="cancel" href="{html.escape(session["cancel_url"], quote=True)}">Cancel</a></p>'
        )
    else:
        action = f'<p id="status">This checkout session is {html.escape(status)}.</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fake checkout</title></head><body>'
        "<h1>Fake checkout</h1>"
        f'<p id="description">{html.escape(description)}</p>'
        f'<p id="amount">{html.escape(amount)}</p>'
        f"{action}</body></html>"
    )
