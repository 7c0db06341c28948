"""POST /webhooks/stripe: public, CSRF-exempt, raw body; 400 on a bad signature, 200 otherwise."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ProviderEvent
from tests.services.test_escrow import event_body, fake, stripe_server  # noqa: F401  (fixtures)


def test_csrf_does_not_apply_and_a_good_event_is_200(app, client, fake):  # noqa: F811
    app.config["WTF_CSRF_ENABLED"] = True
    body = event_body(fake.make_event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    resp = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": fake.sign(body)},
                       content_type="application/json")
    assert resp.status_code == 200 and resp.get_json() == {"result": "ignored: unknown type"}
    again = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": fake.sign(body)},
                        content_type="application/json")
    assert again.status_code == 200 and again.get_json() == {"result": "duplicate"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProviderEvent)) == 1


def test_bad_signature_is_400_with_the_reason_and_nothing_stored(app, client, fake):  # noqa: F811
    body = event_body(fake.make_event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    resp = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": "t=1,v1=00"},
                       content_type="application/json")
    assert resp.status_code == 400 and resp.get_json() == {"error": "bad_signature"}
    assert client.post("/webhooks/stripe", data=body).get_json() == {"error": "missing_signature"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProviderEvent)) == 0


def test_without_card_payments_configured_webhooks_are_refused(app, client):
    app.extensions.pop("hub_payment_gateway", None)
    resp = client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert resp.status_code == 400 and resp.get_json() == {"error": "not_configured"}


def test_get_is_not_allowed(app, client):
    assert client.get("/webhooks/stripe").status_code == 405
