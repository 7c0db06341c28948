"""Inbound webhooks from outside services (INTEGRATIONS.md §4.4).

``POST /webhooks/stripe``: the payment provider's events. CSRF-exempt and public
(the signature over the raw body is the credential); 400 for an untrustworthy
delivery (nothing stored), 200 for everything else, duplicates included, so the
provider stops retrying; 503 when the provider itself must be asked and cannot be.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from app.extensions import csrf
from app.integrations.stripe_gateway import InvalidWebhook, PaymentGatewayError
from app.security import public
from app.services import escrow

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/stripe")
@public
def stripe() -> ResponseReturnValue:
    """Verify and apply one provider event (the raw body, never a re-serialised one)."""
    payload = request.get_data(cache=False)
    try:
        result = escrow.handle_provider_event(payload, request.headers.get("Stripe-Signature", ""))
    except InvalidWebhook as exc:
        return jsonify(error=exc.reason), 400
    except PaymentGatewayError as exc:
        return jsonify(error="provider_unavailable", retryable=exc.retryable), 503
    return jsonify(result=result), 200
