#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is present for the book's browser test.
# Installs it with apt-get where missing and we are root (CI, fresh machines); a failed install
# there exits non-zero, failing the calling make target, since the browser test cannot run.
# A user who is not root gets a note that the browser test will be skipped, and exit 0.
set -uo pipefail
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" = 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: chromium is missing and apt-get is not available to install it;" \
             "install chromium for the book's browser test" >&2
        exit 1
    fi
    echo "installing chromium (Debian package) for the book's browser test"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! apt-get update -qq >"$log" 2>&1; then
        echo "warning: apt-get update failed; trying to install from the package lists at hand" >&2
    fi
    if ! apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >"$log" 2>&1; then
        echo "error: apt-get install chromium failed; the book's browser test cannot run:" >&2
        tail -n 20 "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
else
    echo "note: chromium is missing and cannot be installed here (needs root and apt-get);" \
         "the browser test will be skipped" >&2
fi
exit 0
