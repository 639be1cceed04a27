#!/usr/bin/env bash
# abi_check_selftest.sh -- abi/abi.sh's verdict on known changes: a tiny
# library (tests/abi/mini) is built as it is and with one change at a time;
# abi/abi.sh compare must accept the compatible ones and refuse the others.
# Exit 77 (skipped) when abidw/abidiff are missing (Debian: abigail-tools).
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MINI="$SRC/tests/abi/mini"
CC=${CC:-cc}
for t in abidw abidiff python3 "$CC"; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: '$t' not found (Debian: apt-get install abigail-tools)"; exit 77; }
done
TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT
export ABI_HEADERS="$MINI"

build() { # name, flags... (a flag "moved.map" picks that version script)
    local n=$1 map=mini.map f
    shift
    local flags=()
    for f in "$@"; do
        case "$f" in *.map) map=$f ;; *) flags+=("$f") ;; esac
    done
    "$CC" -std=c11 -g -O0 -fPIC -shared -fvisibility=hidden "${flags[@]}" -Wl,--version-script="$MINI/$map" \
        -o "$TMP/$n.so" "$MINI/mini.c" 2>"$TMP/cc.log" ||
        { cat "$TMP/cc.log"; echo "FAIL: cannot build the mini library ($*)"; exit 1; }
}

build base
fails=0
# variant, expected verdict (0 compatible, 1 incompatible), -D flags
while read -r name want flags; do
    # shellcheck disable=SC2086
    build "$name" $flags
    bash "$SRC/abi/abi.sh" compare "$TMP/base.so" "$TMP/$name.so" >"$TMP/$name.log" 2>&1
    got=$?
    if [ "$got" = "$want" ]; then
        echo "ok:   $name: $([ "$want" = 0 ] && echo accepted || echo refused)"
    else
        echo "FAIL: $name: abi.sh compare gave $got, expected $want:"
        sed 's/^/      /' "$TMP/$name.log"
        fails=$((fails + 1))
    fi
done <<'LIST'
unchanged 0
appended_member 0 -DV_APPEND
added_function 0 -DV_ADD
added_enumerator 0 -DV_ENUM
inserted_member 1 -DV_INSERT
retyped_member 1 -DV_RETYPE
appended_and_retyped 1 -DV_APPEND -DV_RETYPE
removed_function 1 -DV_REMOVE
changed_parameter 1 -DV_PARAM
moved_symbol_version 1 moved.map
grown_frozen_struct 1 -DV_FROZEN
LIST
if [ $fails -ne 0 ]; then
    echo "abi_check_selftest: $fails verdict(s) wrong"
    exit 1
fi
echo "abi_check_selftest: all verdicts right"
