#!/usr/bin/env bash
# Autogenerate a migration from the models: scripts/new_migration.sh "add offers table"
# Runs against a throw-away SQLite database upgraded to head, so the diff is exactly
# "models minus migrations". Read the new file in migrations/versions/ before committing;
# then `.venv/bin/pytest tests/test_migrations.py` proves it (SQLite and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 \"what changed\"" >&2
    exit 2
fi
PY="${PYTHON:-.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export INSTANCE_PATH="$tmp" DATABASE_URL="sqlite:///$tmp/migrate.db" APP_ENV=development
unset REDIS_URL MAIL_SERVER
"$PY" -m flask --app scripts.migration_app db upgrade
"$PY" -m flask --app scripts.migration_app db migrate -m "$1"
if ls migrations/versions/*.py >/dev/null 2>&1 && [ -x .venv/bin/ruff ]; then
    .venv/bin/ruff format --quiet migrations/versions/ || true
fi
