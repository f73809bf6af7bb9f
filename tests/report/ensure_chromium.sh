#!/bin/sh
# Install Debian's headless-capable Chromium when it is absent: the report's rendering test
# opens reports/index.html in it. Safe to call repeatedly; prints the browser's path.
set -eu
BROWSER=/usr/bin/chromium
if [ ! -x "$BROWSER" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
echo "$BROWSER"
