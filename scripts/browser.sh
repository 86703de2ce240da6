#!/usr/bin/env bash
# The examples in a real browser: builds them, then drives chat, dashboard and board in
# Debian's Chromium (apt-get install chromium) with playwright-core, several browser contexts
# at once, a network drop each. Fails on any console error or page error. Screenshots go to
# target/browser-screenshots/; `DOCS_SCREENSHOT=docs/board.png bash scripts/browser.sh`
# also renews the README's picture of the board.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "no Chromium at $CHROMIUM: apt-get install -y chromium (or set CHROMIUM)" >&2
    exit 1
fi
export CHROMIUM
if [ -n "${DOCS_SCREENSHOT:-}" ]; then
    DOCS_SCREENSHOT=$(realpath "$DOCS_SCREENSHOT")
    export DOCS_SCREENSHOT
fi

cargo build --examples
cd tests/browser
npm ci --no-audit --no-fund --loglevel=error
start=$(date +%s)
# One file at a time (two cores): each starts its example and one Chromium.
timeout 180 node --test --test-concurrency=1 chat.test.mjs dashboard.test.mjs board.test.mjs
echo "browser tests: $(($(date +%s) - start)) s; screenshots in target/browser-screenshots/"
