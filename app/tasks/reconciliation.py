"""Reconcile the ledger with the payment provider (app/services/reconciliation.py, invariant I8).

:func:`reconcile_ledger` runs one reconciliation and commits its audit event
(and, on mismatches, the staff notifications). :func:`reconcile_ledger_if_due`
is what the periodic sweeps call: it runs at most once per :data:`INTERVAL`,
judged by the newest ``ledger.reconciled`` audit event, so every process and
restart agrees without Redis. After a failure (the provider unreachable) it
waits :data:`RETRY_AFTER` in this process before trying again, instead of asking
the provider on every sweep. Without payment settings both do nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flask import current_app

from app.integrations.stripe_gateway import get_gateway
from app.models.mixins import utcnow
from app.services import reconciliation, uow
from app.services.reconciliation import ReconciliationReport
from app.tasks.context import with_app_context

logger = logging.getLogger(__name__)

INTERVAL = timedelta(hours=24)
RETRY_AFTER = timedelta(hours=1)
_FAILED_AT = "hub_reconciliation_failed_at"  # app.extensions key: monotonic time of the last failure


@with_app_context
def reconcile_ledger(since: datetime | None = None) -> ReconciliationReport | None:
    """Reconcile now and commit the result; returns the report, or None without payment settings.

    :raises PaymentGatewayError: (a subclass) the provider could not be read; nothing is committed.
    """
    gateway = get_gateway()
    if gateway is None:
        logger.info("Card payments are not configured (STRIPE_SECRET_KEY is empty): nothing to reconcile")
        return None
    try:
        report = reconciliation.reconcile(gateway, since=since)
        uow.commit()
    except Exception:
        uow.rollback()
        current_app.extensions[_FAILED_AT] = time.monotonic()
        raise
    current_app.extensions.pop(_FAILED_AT, None)
    return report


@with_app_context
def reconcile_ledger_if_due(now: datetime | None = None) -> ReconciliationReport | None:
    """Run :func:`reconcile_ledger` over all history if the last run is 24 h old (or there was none).

    Returns the report when it ran, None when it was not due or payments are not configured.
    """
    if get_gateway() is None:
        return None
    failed_at = current_app.extensions.get(_FAILED_AT)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER.total_seconds():
        return None
    last = reconciliation.last_run_at()
    if last is not None and (now or utcnow()) - last < INTERVAL:
        return None
    return reconcile_ledger()
