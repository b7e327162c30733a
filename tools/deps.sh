#!/bin/sh
# Installs the Debian packages Sluice builds, tests and runs with, if any is
# missing. Quiet when everything is there already.
set -eu
# pango + cairo render PDF jobs with fonts-dejavu-core (Latin, Greek, Cyrillic,
# Arabic, Hebrew); poppler-utils (pdftotext, pdfinfo) checks them in the tests.
pkgs="build-essential pkg-config libhiredis-dev libev-dev libcurl4-openssl-dev libcjson-dev
      libsqlite3-dev libcmocka-dev libmicrohttpd-dev redis-server redis-tools python3
      python3-jsonschema jq libpango1.0-dev libcairo2-dev fonts-dejavu-core poppler-utils"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
# Debian starts a system redis-server on install; Sluice's tests and demo run
# their own on private ports, so leave the system one as it is.
