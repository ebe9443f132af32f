#!/usr/bin/env bash
# Starts ilvb with a demo app and the demo page on a fresh Debian machine.
# Extra arguments go to `ilvb serve` (e.g. --port 8000 --workers 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import ilvb.cli" >/dev/null 2>&1 || ! command -v ilvb >/dev/null 2>&1; then
  echo "== installing ilvb"
  python3 -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v -i "warning" || true
fi
exec ilvb serve --demo --data-dir "${ILVB_DATA_DIR:-./ilvb-data}" "$@"
