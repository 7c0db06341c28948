#!/usr/bin/env bash
# The architecture rules that a grep can check (STYLE.md §3.3), plus the asset rules.
# Prints one line per violation and exits non-zero if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
CODE_DIRS=(app admin_views forms)
CORE_DIRS=(app/services app/models app/workflows)
failures=0

violation() {
    echo "rule violated: $*"
    failures=$((failures + 1))
}

# 1. One commit point: db.session.commit only in app/services/uow.py.
while IFS= read -r hit; do
    [ -n "$hit" ] && violation "$hit: db.session.commit() belongs in app/services/uow.py only; call uow.commit()"
done < <(grep -rnE --include='*.py' 'db\.session\.commit\b' "${CODE_DIRS[@]}" 2>/dev/null | grep -v '^app/services/uow\.py:')

# 2. One status writer: `.status =` only in app/services/transitions.py.
while IFS= read -r hit; do
    [ -n "$hit" ] && violation "$hit: status is written only by app/services/transitions.transition()"
done < <(grep -rnE --include='*.py' '\.status[[:space:]]*(=[^=]|\+=)|setattr\([^,]+,[[:space:]]*["'"'"']status["'"'"']' \
    "${CODE_DIRS[@]}" 2>/dev/null | grep -v '^app/services/transitions\.py:')

# 3. The core never imports the edges (request, current_user, forms, Flask-WTF, admin views).
while IFS= read -r hit; do
    [ -n "$hit" ] && violation "$hit"
done < <("$PY" - "${CORE_DIRS[@]}" <<'PY'
import ast
import pathlib
import sys

EDGE_MODULES = ("flask_wtf", "forms", "admin_views", "wtforms")
for root in sys.argv[1:]:
    for path in sorted(pathlib.Path(root).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {alias.name for alias in node.names}
                if node.module == "flask" and "request" in names:
                    print(f"{where}: services, models and workflows take plain values, never flask.request")
                if node.module.startswith("flask_login") and "current_user" in names:
                    print(f"{where}: pass actor: User explicitly instead of importing current_user")
                if node.module.split(".")[0] in EDGE_MODULES:
                    print(f"{where}: the core must not import {node.module} (an edge)")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in EDGE_MODULES:
                        print(f"{where}: the core must not import {alias.name} (an edge)")
            elif isinstance(node, ast.Attribute) and node.attr == "request":
                if isinstance(node.value, ast.Name) and node.value.id == "flask":
                    print(f"{where}: services, models and workflows take plain values, never flask.request")
            elif isinstance(node, ast.Name) and node.id == "current_user":
                print(f"{where}: pass actor: User explicitly instead of using current_user")
PY
)

# 4. No CDN: every script, style sheet and font is served by the app itself.
CDN='(cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|unpkg\.com|ajax\.googleapis\.com|fonts\.googleapis\.com|fonts\.gstatic\.com|stackpath\.bootstrapcdn\.com|maxcdn\.bootstrapcdn\.com|code\.jquery\.com|use\.fontawesome\.com|kit\.fontawesome\.com|cdn\.)'
REMOTE_ASSET='<script[^>]+src=["'"'"'](https?:)?//|<link[^>]+href=["'"'"'](https?:)?//[^"'"'"']+\.(css|js)|@import[^;]*(https?:)?//|url\((["'"'"'])?(https?:)?//'
while IFS= read -r hit; do
    [ -n "$hit" ] && violation "$hit: assets must be served locally (no CDN)"
done < <(grep -rnIE "$CDN|$REMOTE_ASSET" templates app/templates app/static static 2>/dev/null)

# 5. No minified bundles committed: vendored code stays readable and reviewable.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    minified="$(git ls-files -- '*.min.js' '*.min.css'; git ls-files --others --exclude-standard -- '*.min.js' '*.min.css')"
else
    minified="$(find . -path ./.venv -prune -o -path ./node_modules -prune -o -path ./app/static/vendor -prune -o \( -name '*.min.js' -o -name '*.min.css' \) -print)"
fi
while IFS= read -r hit; do
    [ -n "$hit" ] && violation "$hit: minified files are not committed"
done <<<"$minified"

if [ "$failures" -gt 0 ]; then
    echo "check_rules: $failures violation(s)"
    exit 1
fi
echo "check_rules: all rules hold"
