#!/usr/bin/env bash
# System tools the tests use, installed from Debian's packages when missing (as root), skipped when present:
#   pdftoppm, pdftotext (poppler-utils) render report PDFs to images and text;
#   chromium (+ chromium-driver) runs the end-to-end browser tests, driven by Playwright;
#   prometheus scrapes a test server in tests/test_prometheus_server.py (the tests start their own on a free
#   port, so the distro's service is stopped and disabled right after installing: it would hold :9090).
# Quiet when everything is there; a clear message and exit 1 when something cannot be installed.
set -euo pipefail

say() { echo "ensure-tools: $*" >&2; }

missing=()
command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ -x /usr/bin/prometheus ] || missing+=(prometheus)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
fi
say "installing ${missing[*]} …"
if ! timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    timeout 300 apt-get update -qq >/dev/null 2>&1 || true
    timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null || { say "could not install ${missing[*]}"; exit 1; }
fi
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    service prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
