"""Health endpoint for load balancers: the database, and Redis when configured."""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from app.extensions import db
from app.security import public

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def health() -> ResponseReturnValue:
    """200 when every configured dependency answers, 503 otherwise."""
    checks: dict[str, dict[str, object]] = {}
    checks["database"] = _check(lambda: db.session.execute(sa.text("SELECT 1")).scalar_one())
    if current_app.config.get("REDIS_URL"):
        from app.tasks.queue import connection

        checks["redis"] = _check(lambda: connection().ping())
    ok = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)


def _check(probe: object) -> dict[str, object]:
    start = time.perf_counter()
    try:
        probe()  # type: ignore[operator]
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 1)}
