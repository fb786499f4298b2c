#!/usr/bin/env bash
# Installs Debian's Chromium for the page tests if it is missing. Playwright drives it with the
# driver from its wheel: nothing is downloaded outside the package registries.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Chromium is missing: run 'apt-get install chromium' as root" >&2
  exit 1
fi
echo "installing chromium" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "chromium did not install" >&2; exit 1; }
