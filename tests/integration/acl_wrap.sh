#!/bin/bash
# acl_wrap.sh — the template of lib.sh's wrappers in an ACL run
# (SLUICE_TEST_ACL=1): runs @REAL@ as Redis user sluice-ROLE when the URL
# it is given names this test's Redis with no user of its own. The
# password goes into the environment, never onto the command line.
role=@ROLE@
[ "$role" = producer ] && [ "${1:-}" = serve ] && role=intake
dir=@DIR@
port=$(cat "$dir/port" 2>/dev/null)
as_role() { # URL -> the same URL with the role's user and password, or 1
    case $1 in
    redis://127.0.0.1:"$port" | redis://127.0.0.1:"$port"/*)
        [ -n "$port" ] || return 1
        echo "redis://sluice-$role:$(cat "$dir/$role.pass")@${1#redis://}"
        ;;
    *) return 1 ;;
    esac
}
if u=$(as_role "${SLUICE_REDIS_URL:-}"); then
    export SLUICE_REDIS_URL=$u
fi
args=()
while [ $# -gt 0 ]; do
    case $1 in
    --redis-url)
        if [ $# -ge 2 ] && u=$(as_role "$2"); then
            export SLUICE_REDIS_URL=$u
            shift 2
            continue
        fi
        ;;
    --redis-url=*)
        if u=$(as_role "${1#--redis-url=}"); then
            export SLUICE_REDIS_URL=$u
            shift
            continue
        fi
        ;;
    esac
    args+=("$1")
    shift
done
exec @REAL@ "${args[@]}"
