#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the system packages it needs
# (when root), installs ilvb with its test extras, then ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in chromium:chromium ffmpeg:ffmpeg redis-server:redis-server janus:janus ip:iproute2 gcc:gcc python3-config:python3-dev; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "== missing system packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

echo "== installing ilvb with test extras"
python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -i "warning" || true

echo "== ruff"
python3 -m ruff check .

echo "== pytest"
set +e
python3 -m pytest -q -ra --durations=15 "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
