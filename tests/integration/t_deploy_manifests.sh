# t_deploy_manifests: what can be checked of deploy/ here, with no
# container runtime and no cluster (deploy/README.md says what that
# leaves out):
# - deploy_check.py: every YAML parses; the Kubernetes objects against the
#   API's models (python3-kubernetes), the KEDA ScaledObject against KEDA's
#   CRD when SLUICE_KEDA_CRD names it; every command, flag and SLUICE_*
#   variable of compose, Kubernetes and the units is one the binaries under
#   test accept (their --help); the Dockerfile's runtime packages hold every
#   library the binaries load;
# - docker-compose config (Debian's 1.29: the Compose schema, merges,
#   variables), with the passwords compose requires set to placeholders;
# - promtool check config on both Prometheus configs, and check rules on
#   the KEDA trigger's PromQL query.
# A tool that is missing is said and skipped; the checks that need none run.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if "$PY" -c 'import yaml' 2>/dev/null; then
    "$PY" "$ROOT/tests/integration/deploy_check.py" "$ROOT" "$SLUICE_BIN" >"$TMP/check.out" 2>&1
    rc=$?
    grep -E '^(FAIL|#)' "$TMP/check.out"
    n=$(grep -c '^ok:' "$TMP/check.out")
    [ $rc = 0 ] && ok "deploy_check.py: $n checks" || fail "deploy_check.py: $(tail -1 "$TMP/check.out")"
else
    say "# skipped: deploy_check.py (python3-yaml is not installed)"
fi

if command -v docker-compose >/dev/null; then
    (cd "$ROOT/deploy" && SLUICE_WORKER_PASSWORD=x SLUICE_SCHEDULER_PASSWORD=x \
        SLUICE_INTAKE_PASSWORD=x docker-compose -f compose.yaml config) >"$TMP/compose.out" 2>&1
    rc=$?
    [ $rc = 0 ] && ok "docker-compose config: deploy/compose.yaml is valid" ||
        fail "docker-compose config: $(head -5 "$TMP/compose.out")"
    services=$("$PY" -c 'import sys, yaml
print(" ".join(sorted(yaml.safe_load(open(sys.argv[1]))["services"])))' "$TMP/compose.out" 2>&1)
    assert_eq "intake prometheus redis scheduler-1 scheduler-2 worker" "$services" "compose services"
    # without the passwords it refuses to start rather than connect as nobody
    (cd "$ROOT/deploy" && env -u SLUICE_WORKER_PASSWORD docker-compose -f compose.yaml config) \
        >"$TMP/compose.nopw" 2>&1 && fail "compose accepted a missing password" ||
        assert_contains "$(cat "$TMP/compose.nopw")" "SLUICE_" "compose's refusal names the variable"
else
    say "# skipped: docker-compose config (docker-compose is not installed)"
fi

if command -v promtool >/dev/null; then
    promtool check config "$ROOT/deploy/prometheus.yml" >"$TMP/p1.out" 2>&1 &&
        ok "promtool check config deploy/prometheus.yml" || fail "promtool: $(cat "$TMP/p1.out")"
    "$PY" -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "ConfigMap":
        print(d["data"]["prometheus.yml"])' "$ROOT/deploy/kubernetes/prometheus.yaml" >"$TMP/k8s-prometheus.yml"
    promtool check config "$TMP/k8s-prometheus.yml" >"$TMP/p2.out" 2>&1
    rc=$?
    if grep -q 'field kubernetes_sd_configs not found' "$TMP/p2.out"; then
        # Debian builds Prometheus without Kubernetes discovery: check the
        # rest (the relabelling) with a static target in its place
        say "# promtool: Debian's build has no kubernetes_sd_configs; that block is not checked"
        "$PY" -c 'import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
for j in c["scrape_configs"]:
    j.pop("kubernetes_sd_configs", None)
    j["static_configs"] = [{"targets": ["pod:9100"]}]
print(yaml.safe_dump(c))' "$TMP/k8s-prometheus.yml" >"$TMP/k8s-prometheus-static.yml"
        promtool check config "$TMP/k8s-prometheus-static.yml" >"$TMP/p2.out" 2>&1
        rc=$?
    fi
    [ $rc = 0 ] && ok "promtool check config: kubernetes/prometheus.yaml's prometheus.yml" ||
        fail "promtool: $(cat "$TMP/p2.out")"
    "$PY" -c 'import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
q = d["spec"]["triggers"][0]["metadata"]["query"]
print(yaml.safe_dump({"groups": [{"name": "keda", "rules": [{"record": "sluice:backlog", "expr": q}]}]}))' \
        "$ROOT/deploy/kubernetes/keda-scaledobject.yaml" >"$TMP/keda-rules.yml"
    promtool check rules "$TMP/keda-rules.yml" >"$TMP/p3.out" 2>&1 &&
        ok "promtool check rules: the KEDA trigger's query parses" || fail "promtool: $(cat "$TMP/p3.out")"
else
    say "# skipped: promtool (Debian package prometheus is not installed)"
fi
finish
