#!/usr/bin/env bash
# Installs the tools the tests drive, from Debian, when missing: Chromium for the page tests
# (Playwright drives it with the driver from its wheel) and SpamAssassin for the spam-score
# tests (run with its local rules only). Nothing is downloaded outside the package registries.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/spamassassin ] || missing+=(spamassassin)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing test tools: run 'apt-get install ${missing[*]}' as root" >&2
  exit 1
fi
echo "installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
for tool in "${missing[@]}"; do
  [ -x "/usr/bin/$tool" ] || { echo "$tool did not install" >&2; exit 1; }
done
