#!/bin/sh
# Installs the Debian packages Sluice builds, tests and runs with, if any is
# missing. Quiet when everything is there already; otherwise it says which
# are missing, how much apt will fetch and about how long it takes, then
# shows apt's progress as a few lines of percentages. apt's own output goes
# to a log, whose tail is printed if apt fails.
# shellcheck disable=SC2086,SC2046 # lists of package names, one a word
set -eu
# pango + cairo render PDF jobs with fonts-dejavu-core (Latin, Greek, Cyrillic,
# Arabic, Hebrew); poppler-utils (pdftotext, pdfinfo) checks them in the tests.
# curl: the demo, tools/bench.sh, sluice-bench and the integration tests talk
# to the fake platform's control API with it; jq reads its answers.
# The HTTP intake: libssl-dev (libcrypto's SHA-256 for its tokens); nodejs
# and npm run the OpenAPI 3.1 validator in t_serve_openapi (npm ci of
# tests/clients/openapi) and the ioredis example of "Enqueue from any
# language" (t_func_clients, npm ci of tests/clients/node); python3-redis
# runs its redis-py example; wrk drives BENCH_ONLY=intake. iproute2's ss
# counts the intake's open connections in t_serve (not in a minimal root).
# libsystemd-dev: sd_notify (READY=1, WATCHDOG=1, STOPPING=1, STATUS=) for
# the Type=notify units of deploy/ (shared/notify.c). systemd (its
# systemd-analyze) checks those units in t_deploy_units. t_deploy_manifests
# checks deploy/ without a daemon or a cluster: docker-compose (1.29) its
# compose.yaml, python3-yaml and python3-kubernetes (the Kubernetes API's
# models) its manifests, prometheus's promtool its Prometheus configs.
# clang-format (14 in Debian 12) runs `make format-check`, part of `make test`.
# prometheus: its promtool checks the /metrics text of worker, scheduler and
# intake (t_metrics), and the server itself scrapes them in t_metrics_scrape.
# sluice-ctl web's dashboard is tested in a real headless browser (t_web):
# chromium with chromium-driver, driven by python3-selenium.
# sqlite3 (the CLI): the archive tests read the scheduler's SQLite archive
# with it, and the README's analyst queries use it.
# Everything else the scripts call (timeout, stdbuf, awk, python3's standard
# library) is in every Debian system or comes with these.
pkgs="build-essential pkg-config libhiredis-dev libev-dev libcurl4-openssl-dev libcjson-dev
      libsqlite3-dev sqlite3 libcmocka-dev libmicrohttpd-dev redis-server redis-tools python3
      python3-jsonschema jq curl libpango1.0-dev libcairo2-dev fonts-dejavu-core poppler-utils
      libssl-dev wrk python3-redis iproute2 clang-format prometheus chromium chromium-driver
      python3-selenium libsystemd-dev systemd docker-compose python3-yaml python3-kubernetes"
# a node from elsewhere (nodesource bundles npm) is kept: Debian's npm would
# conflict with it
command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system (no dpkg-query); install the equivalents of:" $pkgs >&2
    exit 0
fi
missing=""
n=0
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    missing="$missing $p"
    n=$((n + 1))
done
[ -z "$missing" ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
        { echo "deps: missing:$missing; run this as root (or install sudo)" >&2; exit 1; }
    sudo="sudo"
fi
log=$(mktemp "${TMPDIR:-/tmp}/sluice-deps.XXXXXX")
start=$(date +%s)
since() { echo "$(($(date +%s) - $1)) s"; }
failed() {
    echo "deps: $1 failed; the end of its output (all of it in $log):" >&2
    tail -n 15 "$log" >&2
    exit 1
}
# No questions (env: sudo drops the environment); another apt
# (unattended-upgrades on a new machine) may hold the lock a while.
apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300"

echo "deps: $n of Sluice's Debian packages are missing:"
echo "$missing" | fold -s -w 72 | sed 's/^ */deps:   /; s/ *$//'
printf 'deps: apt-get update ... '
$apt update >>"$log" 2>&1 || { echo; failed "apt-get update"; }
since "$start"

# What apt will fetch: one line per package file, its size the third field.
uris=$($apt install -y --no-install-recommends --print-uris -qq $missing 2>>"$log") ||
    failed "apt-get install --print-uris"
set -- $(echo "$uris" | awk -v q="'" 'index($0, q) == 1 { n++; b += $3 }
                                      END { printf "%d %d\n", n, b / 1000000 }')
files=$1 mb=$2
# Measured in a fresh Debian 12 root (2 cores, deb.debian.org): 205
# packages, 140 MB in 104 s, most of it unpacking and setting up.
secs=$((files / 2 + mb / 20 + 5))
lo=$((secs * 2 / 3 / 60)) hi=$((secs * 3 / 2 / 60 + 1))
if [ "$secs" -lt 40 ]; then about="under a minute"
else about="about $((lo > 0 ? lo : 1))-$hi minutes"; fi
echo "deps: installing them with what they need: $files packages, $mb MB to fetch; $about"

# apt reports progress on APT::Status-Fd (dlstatus:N:PERCENT:..., pmstatus:
# PKG:PERCENT:...); print each phase as one line of 20% steps.
{
    rc=0
    $apt install -y --no-install-recommends -o APT::Status-Fd=3 $missing 3>&1 >>"$log" 2>&1 || rc=$?
    echo "$rc" >"$log.rc"
} | awk -F: '
    function step(phase, p) {
        if (phase != cur) { printf "%sdeps: %s", (cur == "" ? "" : "\n"), phase; cur = phase; next_p = 20 }
        while (p >= next_p && next_p <= 100) { printf " %d%%", next_p; next_p += 20 }
        last = p
        fflush()
    }
    $1 == "dlstatus" { step("fetching", $3 + 0) }
    $1 == "pmstatus" { step("unpacking and setting up", $3 + 0) }
    # dpkg reports its last package at 9x%, and then nothing more
    END { if (cur != "") print (last >= 90 && next_p == 100 ? " 100%" : "") }'
rc=$(cat "$log.rc")
rm -f "$log.rc"
[ "$rc" -eq 0 ] || failed "apt-get install"
# Debian starts a system redis-server on install; Sluice's tests and demo run
# their own on private ports, so leave the system one as it is.
echo "deps: done in $(since "$start")"
rm -f "$log"
