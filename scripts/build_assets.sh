#!/usr/bin/env bash
# Front-end assets from npm (no CDN, nothing minified committed): installs package-lock.json's
# packages, bundles assets/viewer.js (three.js viewer) and copies the Socket.IO client into
# app/static/vendor/ (git-ignored). Safe to run again; `make run` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=app/static/vendor

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "build_assets: Node.js and npm are needed for the front-end assets (three.js, Socket.IO client)." >&2
    echo "build_assets: install them (e.g. 'apt-get install nodejs npm', Node 18 or newer) and run make again." >&2
    exit 1
fi

if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --ignore-scripts
else
    echo "build_assets: no package-lock.json, running npm install (commit the lock file it writes)"
    npm install --no-audit --no-fund --ignore-scripts
fi

mkdir -p "$OUT"
# Write next to the target and rename, so a failed build never leaves half a file being served.
node_modules/.bin/esbuild assets/viewer.js --bundle --format=iife --minify --target=es2020 \
    --legal-comments=eof --log-level=warning --outfile="$OUT/.viewer.js.tmp"
mv -f "$OUT/.viewer.js.tmp" "$OUT/viewer.js"
cp -f node_modules/socket.io-client/dist/socket.io.min.js "$OUT/.socket.io.min.js.tmp"
mv -f "$OUT/.socket.io.min.js.tmp" "$OUT/socket.io.min.js"

echo "build_assets: $OUT/viewer.js ($(wc -c <"$OUT/viewer.js") bytes), $OUT/socket.io.min.js ($(wc -c <"$OUT/socket.io.min.js") bytes)"
