"""Alembic environment for Flask-Migrate: the app's metadata, batch mode, portable types."""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app

config = context.config
# Configure logging from alembic.ini only when nobody else did (the `flask db` CLI);
# inside tests or an app with its own logging, leave the root logger alone.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine() -> Any:
    return current_app.extensions["migrate"].db.engine


def get_engine_url() -> str:
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db


def get_metadata() -> Any:
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render app-defined column types as plain SQLAlchemy types (revisions import no app code)."""
    from app.models.mixins import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def split_cyclic_foreign_keys(script: Any) -> None:
    """Create ``use_alter`` foreign keys after every table exists, and drop them first.

    A model marks one foreign key of a cycle (companies <-> users) with
    ``use_alter=True``; CREATE TABLE then leaves it out on PostgreSQL, so the
    revision must add it separately. In batch mode this also works on SQLite.
    """
    from alembic.operations import ops
    from sqlalchemy import ForeignKeyConstraint

    for upgrade_ops, downgrade_ops in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=True):
        added: list[Any] = []
        for op in upgrade_ops.ops:
            if not isinstance(op, ops.CreateTableOp):
                continue
            late = [c for c in op.columns if isinstance(c, ForeignKeyConstraint) and c.use_alter]
            if not late:
                continue
            op.columns = [c for c in op.columns if not (isinstance(c, ForeignKeyConstraint) and c.use_alter)]
            for fk in late:
                create = ops.CreateForeignKeyOp.from_constraint(fk)
                added.append(ops.ModifyTableOps(op.table_name, [create], schema=op.schema))
                downgrade_ops.ops.insert(
                    0, ops.ModifyTableOps(op.table_name, [ops.DropConstraintOp.from_constraint(fk)], schema=op.schema)
                )
        upgrade_ops.ops.extend(added)


def configure_args() -> dict[str, Any]:
    args: dict[str, Any] = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("render_as_batch", True)  # SQLite rebuilds tables for ALTERs; harmless elsewhere
    args.setdefault("compare_type", True)
    args.setdefault("render_item", render_item)
    return args


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``flask db upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=get_metadata(),
        literal_binds=True,
        **configure_args(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the app's database."""

    def process_revision_directives(context: Any, revision: Any, directives: list[Any]) -> None:
        # An autogenerate with no schema change writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")
                return
            split_cyclic_foreign_keys(script)

    args = configure_args()
    args.setdefault("process_revision_directives", process_revision_directives)
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
