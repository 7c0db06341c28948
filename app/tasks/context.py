"""An app context for tasks run by a worker; inline runs reuse the caller's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, has_app_context

P = ParamSpec("P")
R = TypeVar("R")
_worker_app: Flask | None = None


def with_app_context(func: Callable[P, R]) -> Callable[P, R]:
    """Run a task inside an app context (built once per worker process)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        global _worker_app
        if has_app_context():
            return func(*args, **kwargs)
        if _worker_app is None:
            from app import create_app

            _worker_app = create_app()
        with _worker_app.app_context():
            return func(*args, **kwargs)

    return wrapper
