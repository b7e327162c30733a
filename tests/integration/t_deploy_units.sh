# t_deploy_units: the systemd units of deploy/ pass `systemd-analyze verify`
# (with ExecStart= pointed at the binaries under test, which must exist),
# are Type=notify with a watchdog, stop later than the worker's drain can
# take, and score what deploy/README.md says under `systemd-analyze
# security --offline=true` (the table there is checked against the
# measure, so it stays true). Skipped, saying so, without systemd-analyze.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v systemd-analyze >/dev/null; then
    say "# skipped: systemd-analyze is not installed (Debian package systemd)"
    finish
fi
UNITS="sluice-worker@.service sluice-scheduler.service sluice-intake.service"
mkdir -p "$TMP/units"
for u in $UNITS; do
    [ -f "$ROOT/deploy/$u" ] || { fail "deploy/$u is missing"; continue; }
    sed "s#/usr/local/bin/#$SLUICE_BIN/#g" "$ROOT/deploy/$u" >"$TMP/units/$u"
done

for u in $UNITS sluice-worker@1.service; do
    out=$(cd "$TMP/units" && systemd-analyze verify "./$u" 2>&1)
    rc=$?
    [ $rc = 0 ] && [ -z "$out" ] && ok "systemd-analyze verify $u: clean" ||
        fail "systemd-analyze verify $u: status $rc: $out"
done

# what every unit must say
prop() { sed -n "s/^$2=//p" "$TMP/units/$1" | tail -1; }
for u in $UNITS; do
    assert_eq notify "$(prop "$u" Type)" "$u Type"
    assert_eq on-failure "$(prop "$u" Restart)" "$u Restart"
    [ -n "$(prop "$u" WatchdogSec)" ] && ok "$u has WatchdogSec" || fail "$u has no WatchdogSec"
    for key in NoNewPrivileges ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables \
        ProtectKernelModules MemoryDenyWriteExecute; do
        assert_eq yes "$(prop "$u" $key)" "$u $key"
    done
    assert_eq strict "$(prop "$u" ProtectSystem)" "$u ProtectSystem"
    assert_eq "AF_UNIX AF_INET AF_INET6" "$(prop "$u" RestrictAddressFamilies)" \
        "$u RestrictAddressFamilies"
    grep -qx 'CapabilityBoundingSet=' "$TMP/units/$u" && ok "$u: no capabilities" ||
        fail "$u: CapabilityBoundingSet= (empty) missing"
done
# The worker's drain: --grace-ms (its default from --help), then up to 5 s
# to give up on an unreachable Redis (worker/drain.c); systemd must not
# SIGKILL it before.
grace_ms=$("$SLUICE_BIN/sluice-worker" --help | grep -A1 -- '^  --grace-ms' |
    sed -n 's/.*(env SLUICE_GRACE_MS; default \([0-9]*\);.*/\1/p')
stop_s=$(prop sluice-worker@.service TimeoutStopSec)
if [ -n "$grace_ms" ] && [ -n "$stop_s" ] && [ $((stop_s * 1000)) -gt $((grace_ms + 5000)) ]; then
    ok "worker TimeoutStopSec=$stop_s above --grace-ms $grace_ms + 5 s"
else
    fail "worker TimeoutStopSec=${stop_s:-unset} not above --grace-ms ${grace_ms:-?} + 5 s"
fi

# Exposure scores, as measured and as deploy/README.md reports them
for u in $UNITS; do
    line=$(systemd-analyze security --offline=true "$TMP/units/$u" 2>&1 | grep 'Overall exposure level')
    score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$line")
    [ -n "$score" ] || { fail "$u: no exposure score from systemd-analyze security: $line"; continue; }
    say "# $u: exposure $score"
    awk -v s="$score" 'BEGIN { exit !(s + 0 <= 2.0) }' && ok "$u: exposure $score (OK band)" ||
        fail "$u: exposure $score is above the OK band"
    grep -q "^| \`$u\` | $score |" "$ROOT/deploy/README.md" &&
        ok "deploy/README.md reports $u at $score" ||
        fail "deploy/README.md does not report $u at $score (| \`$u\` | $score |)"
done
finish
