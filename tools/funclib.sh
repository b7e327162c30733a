#!/bin/sh
# funclib.sh OUT LIBRARY SCRIPTS_DIR SCHEMA...: writes the Redis Function
# library LIBRARY (shared/functions/sluice.lua) with its includes resolved,
# as sluice-ctl install loads it: each line "-- include: NAME.lua" becomes
# the text of SCRIPTS_DIR/NAME.lua (the same text scripts.c puts in front of
# the EVALSHA scripts, so the CLI and the functions run one enqueue), and
# the line "-- include-types" the job types the SCHEMA files describe (the
# Makefile's JOB_SCHEMAS, the list compiled into the C programs: every file
# of schemas/ but openapi.json; envelope.json is skipped here) as
# SLUICE_TYPES and SLUICE_TYPE_LIST.
set -eu
out=$1 lib=$2 scripts=$3
shift 3
types=$(for f in "$@"; do n=$(basename "$f" .json); [ "$n" = envelope ] || echo "$n"; done)
tmp=$out.tmp
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    "-- include: "*)
        f=$scripts/${line#-- include: }
        [ -f "$f" ] || { echo "funclib.sh: $lib: no $f" >&2; exit 1; }
        cat "$f"
        ;;
    "-- include-types")
        echo "-- the job types schemas/ describes (tools/funclib.sh)"
        printf 'local SLUICE_TYPES = {'
        for t in $types; do printf '["%s"] = true, ' "$t"; done
        echo '}'
        echo "local SLUICE_TYPE_LIST = '$(echo $types | sed 's/ /, /g')'"
        ;;
    *) printf '%s\n' "$line" ;;
    esac
done <"$lib" >"$tmp"
mv "$tmp" "$out"
