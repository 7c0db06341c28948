"""Release and payout tasks (WORKFLOW.md §10): each takes an id, re-reads the state and is safe to run again.

Both are queued after commit with ``queue.enqueue_quietly`` (RQ ``Retry(max=3, …)`` on a real
Redis, inline in the embedded default). ``release_project`` is queued when the company approves
a delivery (app/services/deliveries.py); ``send_payout`` when a provider payout is created or an
admin retries one (app/services/payouts.py).
"""

from __future__ import annotations

import logging

from app.exceptions import DomainError
from app.models import PayoutMethod, PayoutStatus
from app.services import payouts, release, uow
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)


class PayoutNotSentYet(RuntimeError):
    """The provider refused or failed this attempt; raised so that RQ retries the task later."""


@with_app_context
def release_project(project_id: int) -> bool:
    """Release the held funds of an accepted project; returns whether this run released them.

    Safe to run twice: a completed project is left alone (False). A project that cannot be
    released (disputed, not accepted, amounts differ) is logged and not retried: the hub
    decides it in the back office.
    """
    try:
        txn = release.release_escrow(project_id, actor=None)
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        logger.warning("Project %s was not released: %s", project_id, exc)
        return False
    except Exception:
        uow.rollback()
        raise
    return txn is not None


@with_app_context
def send_payout(payout_id: int) -> bool:
    """Send one provider payout; returns whether it is sent.

    An attempt the provider refused or failed is committed (attempts, last error) and then
    raises :class:`PayoutNotSentYet` so that RQ retries; a failed payout (after
    ``payouts.MAX_ATTEMPTS``) and a bank payout return False.
    """
    try:
        payout = payouts.send_payout(payout_id)
        uow.commit()
    except DomainError as exc:
        uow.rollback()
        logger.warning("Payout %s was not sent: %s", payout_id, exc)
        return False
    except Exception:
        uow.rollback()
        raise
    if payout.status is PayoutStatus.PENDING and payout.method is PayoutMethod.PROVIDER:
        raise PayoutNotSentYet(f"payout {payout_id} attempt {payout.attempts} failed: {payout.last_error}")
    return payout.status is PayoutStatus.SENT


def sweep_pending_payouts(limit: int = 100) -> int:
    """The retry path when a task was lost or ran out of RQ retries: release accepted projects whose
    release did not happen, and send pending provider payouts again (each safe to run twice)."""
    import sqlalchemy as sa

    from app.extensions import db
    from app.models import Payout

    done = 0
    for project in release.awaiting_release(limit):
        try:
            done += bool(release_project(project.id))
        except Exception:
            logger.warning("Project %s is still not released", project.id, exc_info=True)
    ids = db.session.scalars(
        sa.select(Payout.id).where(Payout.status == PayoutStatus.PENDING, Payout.method == PayoutMethod.PROVIDER)
        .order_by(Payout.id).limit(limit)
    ).all()
    for payout_id in ids:
        try:
            done += bool(send_payout(payout_id))
        except Exception:
            logger.warning("Payout %s is still not sent", payout_id, exc_info=True)
    return done
