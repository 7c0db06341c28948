"""Plasticonnect Hub: the application factory (the composition root, nothing else)."""

from __future__ import annotations

import importlib

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Config, config_from_env
from app.extensions import (
    babel,
    configure_sqlite,
    csrf,
    db,
    limiter,
    login_manager,
    mail,
    migrate,
    socketio,
    socketio_manager,
)


def create_app(config_class: type[Config] | None = None, **overrides: object) -> Flask:
    """Build a fully wired app. Importing ``app`` has no side effects."""
    config_class = config_class or config_from_env()
    app = Flask(__name__, template_folder="../templates", static_folder="static")
    app.config.from_object(config_class)
    app.config.update(overrides)
    config_class.finalize(app.config)
    config_class.validate(app.config)
    if app.config["PROXY_FIX_HOPS"]:
        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    # Imported here so that `import app` never pulls in the edges (no cycles).
    from admin_views import init_admin
    from app import i18n, login, realtime, security
    from app.blueprints import register_blueprints
    from app.cli import register_cli
    from app.errors import register_error_handlers

    importlib.import_module("app.models")  # every mapper registered before the first query
    db.init_app(app)
    configure_sqlite(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    origins = list(app.config.get("SOCKETIO_ALLOWED_ORIGINS") or ()) or None  # None: same origin only
    # async_handlers=False: a connection's events run one after another on its own reader thread, in the
    # order they were sent, not on a new thread each; under load a thread per event piles up (PERFORMANCE.md §4.4).
    # The manager is always given: Flask-SocketIO would keep one made for an earlier app of this process.
    socketio.init_app(app, client_manager=socketio_manager(app.config["SOCKETIO_MESSAGE_QUEUE"]),
                      async_mode="threading", cors_allowed_origins=origins, async_handlers=False)

    security.init_app(app)
    login.init_app(app)
    i18n.init_app(app)
    register_blueprints(app)
    realtime.init_app(app)
    register_error_handlers(app)
    register_cli(app)
    init_admin(app)
    security.check_every_route_has_access_rule(app)
    return app
