#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is present for the book's browser test.
# Installs it with apt-get where missing and we are root (CI, fresh machines); otherwise says why
# the browser test will be skipped. Never fails the calling make target.
set -uo pipefail
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the book's browser test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 \
        || echo "warning: apt-get install chromium failed; the browser test will be skipped" >&2
else
    echo "note: chromium is missing and cannot be installed here (needs root and apt-get);" \
         "the browser test will be skipped" >&2
fi
exit 0
