#!/usr/bin/env bash
# Install Debian's headless-capable Chromium when no Chromium is on PATH: the HTML report's browser test
# (tests/test_report_html.py) loads the page in it. Needs root and apt; exits 0 without doing anything when
# a browser is already there, and without one otherwise (that test is then skipped, with the reason).
set -euo pipefail
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null; then exit 0; fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-chromium: not root or no apt-get; the browser test of the HTML report will be skipped" >&2
  exit 0
fi
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
