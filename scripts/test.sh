#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the system packages it needs
# (when root), installs ilvb with its test extras, then ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in chromium:chromium janus:janus ip:iproute2 gcc:gcc python3-config:python3-dev \
    node:nodejs npm:npm pulseaudio:pulseaudio pactl:pulseaudio-utils Xvfb:xvfb \
    espeak-ng:espeak-ng ffmpeg:ffmpeg ffprobe:ffmpeg nginx:nginx \
    redis-server:redis-server; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# The store tests start their own PostgreSQL server (tests/store/conftest.py); Debian keeps its
# binaries off PATH, under /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# The RTMP ingest of the bypass-live tests: nginx's RTMP module (tests/live/nginx_rtmp.py).
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need_apt+=(libnginx-mod-rtmp)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    # The postgresql package may start a system cluster; the tests don't use it, so stop it.
    if command -v pg_lsclusters >/dev/null 2>&1; then
      pg_lsclusters -h | while read -r ver name _port status _rest; do
        if [ "$status" = online ]; then pg_ctlcluster "$ver" "$name" stop || true; fi
      done
    fi
  else
    echo "== missing system packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

echo "== installing ilvb with test extras"
python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -i "warning" || true

# TypeScript (pinned in package.json / package-lock.json) for the Web SDK type check,
# tests/web/test_types.py: into ./node_modules, nothing global.
echo "== npm ci (TypeScript for the Web SDK type check)"
npm ci --no-audit --no-fund --loglevel=error

# A real OpenID provider (oidc-provider, pinned in tests/auth/oidc_provider/package-lock.json)
# for the OIDC tests, tests/auth/test_oidc_provider.py: into that directory's node_modules.
echo "== npm ci (oidc-provider for the OIDC tests)"
npm ci --prefix tests/auth/oidc_provider --no-audit --no-fund --loglevel=error

# hls.js (pinned in tests/live/hlsjs/package-lock.json) plays the HLS bypass live in Chromium,
# tests/web/test_live_hls_player.py: into that directory's node_modules.
echo "== npm ci (hls.js for the HLS player test)"
npm ci --prefix tests/live/hlsjs --no-audit --no-fund --loglevel=error

echo "== ruff"
python3 -m ruff check .

echo "== mypy (strict, ilvb/: [tool.mypy] in pyproject.toml)"
python3 -m mypy

echo "== pytest"
set +e
python3 -m pytest -q -ra --durations=15 "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit $rc
