"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi run``."""

import gc

from app import create_app

app = create_app()
# A web process allocates many short-lived objects; what the app built at start-up (modules, mappers,
# templates) lives as long as the process. Frozen, start-up objects are no longer walked by every full
# collection, and fewer, larger young collections keep the pauses of the channel's pushes short
# (PERFORMANCE.md §4.4: p99 of the fan-out benchmark).
gc.freeze()
gc.set_threshold(50_000, 50, 50)
