"""Send card refunds at the payment provider in the background (app/services/refunds.py).

:func:`send_refund` is enqueued after the commit that recorded a PROVIDER
refund (a dispute decided for the company, a cancelled project), and again by
an admin's "Retry". It is safe to run any number of times: the refund row is
locked, a sent refund is left alone, and the provider call carries the refund's
idempotency key. :func:`sweep_pending_refunds` re-drives refunds whose task was
lost (Redis down at the time); run it periodically.
"""

from __future__ import annotations

import logging

from app.models import RefundStatus
from app.services import refunds, uow
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)


class RefundNotSentYet(RuntimeError):
    """The provider failed in a way a retry can fix; raised so that RQ retries the task."""


@with_app_context
def send_refund(refund_id: int) -> bool:
    """Send one provider refund; returns whether it is sent.

    The attempt is committed whatever the outcome. A retryable failure raises
    :class:`RefundNotSentYet` after that commit, so that RQ tries again.
    """
    try:
        refund = refunds.send_refund(refund_id)
        status, attempts, error = refund.status, refund.attempts, refund.last_error
        uow.commit()
    except Exception:
        uow.rollback()
        raise
    if status is RefundStatus.PENDING and error:
        raise RefundNotSentYet(f"refund {refund_id} attempt {attempts} failed: {error}")
    return status is RefundStatus.SENT


def enqueue_send(refund_id: int) -> None:
    """Queue :func:`send_refund` (call it after the commit that created or retried the refund)."""
    from app.tasks.queue import enqueue_quietly

    enqueue_quietly(send_refund, refund_id, queue_name="high")


@with_app_context
def sweep_pending_refunds(limit: int = 200) -> int:
    """Send every pending provider refund; returns how many are sent now."""
    sent = 0
    for refund_id in refunds.pending_provider_refund_ids(limit):
        try:
            sent += bool(send_refund(refund_id))
        except Exception:
            logger.warning("Refund %s is still not sent", refund_id, exc_info=True)
    return sent
