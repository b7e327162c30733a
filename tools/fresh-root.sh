#!/usr/bin/env bash
# fresh-root.sh — runs a command in a clean clone of this repository inside a
# brand-new minimal Debian 12 root: what a new user's machine has before they
# type the README's two commands (git, make and ca-certificates, nothing more).
#
#   tools/fresh-root.sh 'make demo && make test'       # as root, from a checkout
#   SLUICE_FRESH_KEEP=1 tools/fresh-root.sh 'make demo'   # keep the root to look inside
#
# It clones what is COMMITTED (HEAD), as CI does, to /root/sluice in the root,
# and runs the command there with bash, as root, with a clean environment and
# no stdin. The base root is made once with debootstrap (--variant=minbase
# bookworm, from this machine's Debian mirror and apt settings; debootstrap is
# installed first if missing; 1-2 minutes), kept as a tar in
# SLUICE_FRESH_STORE (/var/tmp/sluice-fresh-root), made again when a week old,
# and unpacked afresh for every run (a few seconds). Inside the root no
# service starts on install (policy-rc.d), so installing redis-server starts
# no system Redis; at the end every process still running in the root is
# stopped, /proc, /sys and /dev are unmounted, and the root is removed only
# once nothing is mounted in it. Exit status: the command's; 2 when the root
# could not be made.
set -euo pipefail
me=fresh-root
say() { echo "$me: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "run as root (debootstrap, chroot and mount need it)"; exit 2; }
[ $# -eq 1 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
command=$1
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || exit 2
commit=$(git -C "$repo" rev-parse HEAD) || exit 2
store=${SLUICE_FRESH_STORE:-/var/tmp/sluice-fresh-root}
base=$store/base-bookworm.tar
mkdir -p "$store"

# ---- the root being made or run, and how it is taken down
root=""       # the directory that holds it
mounts=()     # what is mounted in it, in order
keep=""       # set when the root is to be kept (SLUICE_FRESH_KEEP)

mount_all() {
    mkdir -p "$root/proc" "$root/sys" "$root/dev"
    mount -t proc proc "$root/proc" && mounts+=("$root/proc")
    # Recursive binds (so /dev/pts and /dev/shm come along), made slaves so
    # that nothing done under the root's copy reaches the host's.
    local m
    for m in sys dev; do
        mount --rbind "/$m" "$root/$m" && mounts+=("$root/$m")
        mount --make-rslave "$root/$m"
    done
}
still_mounted() { grep -q " $root/" /proc/self/mounts; }
# Processes whose root directory is in ours: what the command left running.
left_running() {
    local p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        case $r in "$root" | "$root"/*) echo "${p#/proc/}" ;; esac
    done
}
# stop_and_unmount: stops what still runs in the root, then unmounts.
stop_and_unmount() {
    local pids i
    pids=$(left_running)
    if [ -n "$pids" ]; then
        say "stopping what is still running in the root: ${pids//$'\n'/ }"
        # shellcheck disable=SC2086 # one pid a word
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 50); do [ -z "$(left_running)" ] && break; sleep 0.1; done
        pids=$(left_running)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    fi
    # Lazily, in reverse: a busy mount is detached now and freed when let go.
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -R -l "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" || true
    done
    mounts=()
}
take_down() {
    [ -n "$root" ] || return 0
    stop_and_unmount
    if [ -n "$keep" ]; then
        say "root kept at $root (chroot $root /bin/bash)"
    elif still_mounted; then
        say "$root still has mounts; not removed"
    else
        # --one-file-system: never into anything mounted after all
        rm -rf --one-file-system "$root"
    fi
    root=""
}
trap take_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The host's mirror and apt settings, so the root reaches what the host does.
copy_apt_settings() {
    rm -f "$root/etc/apt/sources.list"
    cp -a /etc/apt/sources.list "$root/etc/apt/" 2>/dev/null || true
    local f
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && cp -a "$f" "$root/etc/apt/sources.list.d/"
    done
    cp -a /etc/apt/apt.conf.d/. "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    # No service starts inside (invoke-rc.d asks this first; 101: refused).
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
}
# in_root COMMAND: bash -c COMMAND in the root, clean environment, no stdin.
in_root() {
    chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "$1" </dev/null
}

# ---- the base root, once (again when a week old)
if [ ! -s "$base" ] || [ -n "$(find "$base" -mtime +7)" ]; then
    t0=$SECONDS
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap on this machine"
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; } \
            >"$store/debootstrap-install.log" 2>&1 ||
            { tail -n 5 "$store/debootstrap-install.log" >&2; exit 2; }
    fi
    mirror=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || { say "no Debian mirror found in /etc/apt"; exit 2; }
    say "making the base root (debootstrap --variant=minbase bookworm from $mirror; 1-2 minutes)"
    root=$(mktemp -d "$store/base.XXXXXX")
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$store/debootstrap.log" 2>&1 ||
        { tail -n 5 "$store/debootstrap.log" >&2; exit 2; }
    copy_apt_settings
    mount_all
    in_root 'export DEBIAN_FRONTEND=noninteractive
             apt-get update -q && apt-get install -y -q --no-install-recommends git make ca-certificates &&
             apt-get clean' >"$store/base-packages.log" 2>&1 ||
        { tail -n 5 "$store/base-packages.log" >&2; exit 2; }
    stop_and_unmount
    still_mounted && { say "$root still has mounts; no base made"; exit 2; }
    rm -f "$root/usr/sbin/policy-rc.d" # each run puts it back with the apt settings
    tar -C "$root" -cf "$base.part" . && mv "$base.part" "$base"
    take_down
    say "base root made in $((SECONDS - t0)) s: $base"
fi

# ---- a fresh root from it, a clone of what is committed, the command
t0=$SECONDS
root=$(mktemp -d "$store/run.XXXXXX")
keep=${SLUICE_FRESH_KEEP:-}
tar -C "$root" -xf "$base"
copy_apt_settings
git clone -q "$repo" "$root/root/sluice"
git -C "$root/root/sluice" checkout -q --detach "$commit"
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] ||
    say "note: $repo has uncommitted changes; the clone has only what is committed"
mount_all
say "fresh Debian 12 root at $root (ready in $((SECONDS - t0)) s) with $(git -C "$repo" log -1 --format='%h %s')"
say "running: $(printf '%s' "${command//$'\n'/; }" | tr -s ' ')"
t0=$SECONDS
set +e
in_root "cd /root/sluice && $command"
rc=$?
set -e
say "exit $rc after $((SECONDS - t0)) s"
exit $rc
