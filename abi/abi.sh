#!/usr/bin/env bash
# abi.sh -- the ABI baseline of libdsv3.so (libabigail) and the check against it.
#
#   bash abi/abi.sh baseline   build libdsv3.so with debug info and write
#                              abi/libdsv3-<version of include/dsv3.h>.abi
#   bash abi/abi.sh check      build it and compare with the newest committed
#                              abi/libdsv3-*.abi; exit 1 on an incompatible change
#   bash abi/abi.sh compare OLD NEW   the comparison alone; each is an .abi
#                              file or a shared library with debug info
#
# The build: gcc, Debug, the library only, in $ABI_BUILD (default build-abi).
# Compatible (passes): functions added, members appended to a struct_size
# struct (abi/abidiff.suppr), enumerators added. Incompatible (fails): all
# else abidiff reports -- a function removed or given another symbol
# version, a parameter or return type changed, a struct member inserted,
# removed or retyped (abi/struct_prefix.py), a frozen struct changed.
# Needs abidw/abidiff (Debian: abigail-tools) and python3.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ABI_BUILD:-$SRC/build-abi}
SUPPR="$SRC/abi/abidiff.suppr"
# Only the types of these headers are the ABI (a test points it elsewhere).
HEADERS=${ABI_HEADERS:-$SRC/include}

for t in abidw abidiff python3; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "abi.sh: '$t' not found (Debian: apt-get install abigail-tools python3)" >&2
        exit 2
    }
done

version=$(sed -n 's/^#[ \t]*define[ \t]\+DSV3_VERSION_STRING[ \t]\+"\([0-9.]*\)".*/\1/p' "$SRC/include/dsv3.h")
[ -n "$version" ] || { echo "abi.sh: no DSV3_VERSION_STRING in include/dsv3.h" >&2; exit 2; }

# dump SO OUT: the public ABI of SO (types of include/ only), without the
# machine's paths, ids stable across unrelated changes.
dump() {
    abidw --headers-dir "$HEADERS" --drop-private-types --no-corpus-path --no-comp-dir-path \
        --no-show-locs --type-id-style hash --out-file "$2.tmp" "$1"
    sed "s|path='$SRC/|path='|" "$2.tmp" >"$2"
    rm -f "$2.tmp"
}

build() {
    mkdir -p "$BUILD"
    if ! { cmake -S "$SRC" -B "$BUILD" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug \
               -DDSV3_BUILD_TESTS=OFF -DDSV3_BUILD_EXAMPLES=OFF &&
           cmake --build "$BUILD" --target dsv3 -j"$(nproc)"; } >"$BUILD/abi-build.log" 2>&1; then
        tail -n 40 "$BUILD/abi-build.log" >&2
        echo "abi.sh: building libdsv3.so in $BUILD failed" >&2
        exit 2
    fi
    echo "$BUILD/libdsv3.so"
}

# compare OLD NEW: 0 compatible, 1 not.
compare() {
    local tmp rc=0 st
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    local i=0 f
    for f in "$1" "$2"; do
        i=$((i + 1))
        if head -c 4 "$f" | grep -q 'ELF'; then dump "$f" "$tmp/$i.abi"; else cp "$f" "$tmp/$i.abi"; fi
    done
    # abidiff's status is a bit set: 1 error, 2 usage, 4 change, 8 incompatible.
    st=0
    abidiff --no-added-syms --suppressions "$SUPPR" "$tmp/1.abi" "$tmp/2.abi" >"$tmp/report" 2>&1 || st=$?
    if [ $st -ne 0 ]; then
        sed 's/^/    /' "$tmp/report"
        if [ $((st & 3)) -ne 0 ]; then
            echo "abi.sh: abidiff failed (status $st)" >&2
            return 2
        fi
        echo "abi.sh: abidiff reports an incompatible change (status $st) against $1"
        rc=1
    else
        echo "abi.sh: abidiff: no incompatible change against $(basename "$1")"
    fi
    python3 "$SRC/abi/struct_prefix.py" "$tmp/1.abi" "$tmp/2.abi" || rc=1
    return $rc
}

case "${1:-}" in
    baseline)
        so=$(build)
        out="$SRC/abi/libdsv3-$version.abi"
        dump "$so" "$out"
        echo "abi.sh: wrote ${out#"$SRC"/} ($(grep -c '<elf-symbol ' "$out") functions)"
        ;;
    check)
        base=$(ls "$SRC"/abi/libdsv3-*.abi 2>/dev/null | sort -V | tail -n 1)
        [ -n "$base" ] || { echo "abi.sh: no baseline abi/libdsv3-*.abi (bash abi/abi.sh baseline)" >&2; exit 2; }
        so=$(build)
        echo "abi.sh: libdsv3.so $version against ${base#"$SRC"/}"
        compare "$base" "$so"
        ;;
    compare)
        [ $# -eq 3 ] || { echo "usage: $0 compare OLD NEW" >&2; exit 2; }
        compare "$2" "$3"
        ;;
    *)
        echo "usage: $0 baseline | check | compare OLD NEW" >&2
        exit 2
        ;;
esac
