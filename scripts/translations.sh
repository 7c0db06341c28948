#!/usr/bin/env bash
# Re-extract the marked strings, update the German catalog (new entries come in empty) and compile it.
# Translate the empty msgstr entries of app/translations/de/LC_MESSAGES/messages.po, then run it again.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.venv/bin/pybabel
"$B" -q extract -F babel.cfg -k _l -k lazy_gettext -k _ -k gettext -k ngettext:1,2 -k lazy_ngettext:1,2 --sort-by-file \
    --ignore-dirs ".* ._ tests node_modules test-artifacts migrations" --project "Plasticonnect Hub" \
    -o app/translations/messages.pot .
"$B" -q update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
"$B" -q compile -d app/translations
