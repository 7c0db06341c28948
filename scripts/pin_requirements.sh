#!/usr/bin/env bash
# Regenerate requirements.txt and requirements-dev.txt from the .in files:
# resolve each in a clean Python 3.11 venv and pin the result with pip freeze.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$work/rt"
"$work/rt/bin/pip" install -q --upgrade pip
"$work/rt/bin/pip" install -q -r requirements.in
"$work/rt/bin/pip" freeze --exclude pip > "$work/rt.txt"

"$PYTHON" -m venv "$work/dev"
"$work/dev/bin/pip" install -q --upgrade pip
"$work/dev/bin/pip" install -q -r "$work/rt.txt" -r requirements-dev.in
"$work/dev/bin/pip" check
"$work/dev/bin/pip" freeze --exclude pip > "$work/dev.txt"

"$PYTHON" - "$work/rt.txt" "$work/dev.txt" <<'PY'
import sys


def pins(path: str) -> dict[str, str]:
    out = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            out[line.split("==")[0].lower().replace("_", "-")] = line
    return out


rt, dev = pins(sys.argv[1]), pins(sys.argv[2])
changed = [k for k in rt if dev.get(k) != rt[k]]
if changed:
    sys.exit(f"dev dependencies moved runtime pins: {', '.join(changed)}")
by_name = lambda s: s.lower()  # noqa: E731
with open("requirements.txt", "w") as fh:
    fh.write(
        "# Pinned runtime dependencies: requirements.in resolved with `pip freeze` in a\n"
        "# clean Python 3.11 venv. Do not edit by hand: change requirements.in, then run\n"
        "# scripts/pin_requirements.sh.\n"
    )
    fh.writelines(f"{line}\n" for line in sorted(rt.values(), key=by_name))
with open("requirements-dev.txt", "w") as fh:
    fh.write(
        "# Pinned test and lint dependencies: requirements-dev.in resolved on top of\n"
        "# requirements.txt. Do not edit by hand: run scripts/pin_requirements.sh.\n"
        "-r requirements.txt\n"
    )
    fh.writelines(f"{line}\n" for line in sorted((v for k, v in dev.items() if k not in rt), key=by_name))
print(f"pinned {len(rt)} runtime and {len(dev) - len(rt)} dev packages")
PY
