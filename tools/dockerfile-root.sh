#!/usr/bin/env bash
# dockerfile-root.sh — builds the repository's Dockerfile where no Docker
# daemon runs: each stage in a fresh Debian 12 root (the base tar that
# tools/fresh-root.sh makes and keeps in SLUICE_FRESH_STORE), its RUN lines
# run there with chroot, its COPY lines copied (the context is what is
# committed, as `git archive HEAD`), then the image's user runs what it
# holds: every binary's --help, and a worker against a private Redis of
# this machine (the root shares its network) until it registers, drains on
# SIGTERM and exits 0.
#
#   tools/dockerfile-root.sh                 # as root, from a checkout
#   SLUICE_DOCKERFILE_KEEP=1 tools/dockerfile-root.sh   # keep the roots
#
# It understands what this Dockerfile uses: FROM debian:12[-slim] [AS
# NAME], RUN (shell form), COPY [--from=STAGE] SRC... DEST, WORKDIR, USER,
# EXPOSE and CMD (noted). debian:12-slim is made from the same minbase root
# as debian:12: close (no docs trimmed), not the same image. Exit status:
# 0 when every step and check passed; 2 when it could not start.
set -euo pipefail
me=dockerfile-root
say() { echo "$me: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "run as root (chroot and mount need it)"; exit 2; }
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
store=${SLUICE_FRESH_STORE:-/var/tmp/sluice-fresh-root}
base=$store/base-bookworm.tar
if [ ! -s "$base" ]; then
    say "no base root at $base: making it with tools/fresh-root.sh"
    "$repo/tools/fresh-root.sh" 'true' || exit 2
fi
work=$(mktemp -d "$store/docker.XXXXXX")
roots=()
cleanup() {
    local r m
    for r in "${roots[@]}"; do
        for m in dev sys proc; do umount -R -l "$r/$m" 2>/dev/null || true; done
    done
    if [ -n "${SLUICE_DOCKERFILE_KEEP:-}" ]; then
        say "kept $work"
    elif ! grep -q " $work/" /proc/self/mounts; then
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT

new_root() { # new_root NAME: a fresh root at $work/NAME, mounted, apt as the host's
    local r=$work/$1
    mkdir -p "$r"
    tar -C "$r" -xf "$base"
    chmod 755 "$r" # the tar's "." is mktemp's 0700: / must be open to the image's user
    rm -f "$r/etc/apt/sources.list"
    cp -a /etc/apt/sources.list "$r/etc/apt/" 2>/dev/null || true
    cp -a /etc/apt/sources.list.d/. "$r/etc/apt/sources.list.d/" 2>/dev/null || true
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d" # no service starts
    chmod 755 "$r/usr/sbin/policy-rc.d"
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys" && mount --make-rslave "$r/sys"
    mount --rbind /dev "$r/dev" && mount --make-rslave "$r/dev"
    roots+=("$r")
}
in_root() { # in_root ROOT DIR USERSPEC COMMAND
    chroot ${3:+--userspec=$3} "$1" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd '$2' && $4" </dev/null
}

git -C "$repo" archive --format=tar HEAD >"$work/context.tar"
say "context: $(git -C "$repo" log -1 --format='%h %s') (what is committed)"

# The Dockerfile as one instruction a line (continuations joined, comments out).
sed -e 's/^[[:space:]]*#.*$//' "$repo/Dockerfile" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' |
    grep -v '^[[:space:]]*$' >"$work/steps"
declare -A stage_root
root="" dir=/ user="" cmd="" n=0
while IFS= read -r line; do
    n=$((n + 1))
    op=${line%% *} arg=${line#* }
    t0=$SECONDS
    case $op in
    FROM)
        read -r image _ name <<<"$arg"
        case $image in debian:12 | debian:12-slim) ;; *) say "FROM $image: only debian:12"; exit 2 ;; esac
        name=${name:-stage$n}
        new_root "$name"
        root=$work/$name dir=/ user=""
        stage_root[$name]=$root
        say "FROM $image ($name)"
        continue
        ;;
    RUN)
        say "RUN $(cut -c1-90 <<<"$arg")"
        in_root "$root" "$dir" "" "$arg" >"$work/step$n.log" 2>&1 ||
            { tail -n 15 "$work/step$n.log" >&2; say "step $n failed: $line"; exit 1; }
        ;;
    COPY)
        from=""
        if [[ $arg == --from=* ]]; then from=${arg%% *} from=${from#--from=} arg=${arg#* }; fi
        read -r -a parts <<<"$arg"
        dest=${parts[-1]}
        [[ $dest == /* ]] || dest=$dir/$dest
        mkdir -p "$root$dest"
        for src in "${parts[@]:0:${#parts[@]}-1}"; do
            if [ -n "$from" ]; then
                cp -a "${stage_root[$from]}$src/." "$root$dest/"
            elif [ "$src" = . ]; then
                tar -C "$root$dest" -xf "$work/context.tar"
            else
                tar -C "$root$dest" -xf "$work/context.tar" "$src"
            fi
        done
        say "COPY ${from:+--from=$from }$arg"
        ;;
    WORKDIR) dir=$arg; mkdir -p "$root$dir" ;;
    USER) user=$arg ;;
    CMD) cmd=$arg ;;
    EXPOSE) ;;
    *) say "unknown instruction $op"; exit 2 ;;
    esac
    [ $((SECONDS - t0)) -lt 5 ] || say "  ($((SECONDS - t0)) s)"
done <"$work/steps"
say "image built; USER $user, CMD $cmd"

# ---- what the image's user can run
fails=0
check() { if eval "$2"; then say "ok: $1"; else say "FAIL: $1"; fails=$((fails + 1)); fi; }
nonroot=0
[ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] && nonroot=1
check "runs as a non-root user ($user)" '[ $nonroot = 1 ]'
for b in sluice-worker sluice-scheduler sluice-producer sluice-ctl sluice-bench; do
    check "$b --help as $user" "in_root '$root' '$dir' '$user' '$b --help' >/dev/null 2>&1"
done
check "no compiler in the runtime stage" "! chroot '$root' sh -c 'command -v cc || command -v gcc' >/dev/null"
missing=$(chroot "$root" sh -c 'for b in /usr/local/bin/sluice-*; do ldd $b; done' | grep -c 'not found' || true)
check "every library the binaries load is there ($missing missing)" '[ "$missing" = 0 ]'

# a worker of the image against a private Redis of this machine
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
rpid=$!
for _ in $(seq 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
chroot --userspec="$user" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin \
    SLUICE_REDIS_URL="redis://127.0.0.1:$port/0" /usr/local/bin/sluice-worker --queues q \
    >"$work/worker.log" 2>&1 &
wpid=$!
for _ in $(seq 100); do [ "$(redis-cli -p "$port" zcard sluice:workers)" -ge 1 ] && break; sleep 0.1; done
check "the image's worker registers with Redis" '[ "$(redis-cli -p "$port" zcard sluice:workers)" -ge 1 ]'
job=$(chroot --userspec="$user" "$root" /usr/bin/env -i \
    SLUICE_REDIS_URL="redis://127.0.0.1:$port/0" /usr/local/bin/sluice-producer enqueue --queue q \
    --type noop 2>>"$work/worker.log" || true)
for _ in $(seq 100); do [ "$(redis-cli -p "$port" zcard 'sluice:{q}:done')" -ge 1 ] && break; sleep 0.1; done
check "a job enqueued by the image's producer is done by its worker ($job)" \
    '[ "$(redis-cli -p "$port" zcard "sluice:{q}:done")" = 1 ]'
kill -TERM "$wpid"
wrc=0
wait "$wpid" || wrc=$?
check "the worker drains on SIGTERM and exits 0 (exit $wrc)" '[ "$wrc" = 0 ]'
kill -TERM "$rpid"
wait "$rpid" || true
[ "$fails" = 0 ] || { say "$fails checks failed (worker log: $work/worker.log)"; exit 1; }
say "all checks passed"
