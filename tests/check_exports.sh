#!/usr/bin/env bash
# check_exports.sh BUILD_DIR -- the ABI surface of the built libraries.
# check_exports.sh LIBDSV3_SO LIBDSV3_A -- the same, naming the two files.
#
#   1. libdsv3.so exports (nm -D --defined-only) only dsv3_* symbols, apart
#      from the linker-generated symbols in ALLOWED_LINKER_SYMS below and
#      the version names of abi/libdsv3.map.
#   2. Its SONAME is libdsv3.so.<DSV3_VERSION_MAJOR of include/dsv3.h>.
#   3. Every function declared with DSV3_API in include/dsv3.h is exported as
#      a defined function (T), and every exported function is declared there
#      (an exported dsv3_* helper that the header lacks is an ABI leak),
#      apart from the 0.1 names the header dropped (kept for 0.1 programs).
#   3b. Symbol versions: every function of the 0.1 header
#      (tests/abi/dsv3-0.1.0.h) is exported at version DSV3_0.1, every
#      exported function carries a version, and abi/libdsv3.map lists each
#      one by name (not only through the newest node's dsv3_* pattern).
#   3c. libdsv3.a defines no global symbol outside dsv3_* (internal names
#      are local to its one object), and its global functions are exactly
#      the shared library's exported ones.
#   4. libdsv3.a has no undefined references beyond libc/libm/pthread: a
#      program taking the address of every API function links against the
#      whole archive (--whole-archive, so every object is pulled in) with only
#      -lm -lpthread, and runs.
#   5. The same program links against libdsv3.so and runs (every undefined
#      reference of the .so resolves; it is linked without --no-undefined).
#
# Honors CC, CFLAGS and LDFLAGS (the test registration passes the build's
# compiler and flags so an instrumented build links its own runtime).
set -u

if [ $# -eq 1 ]; then
    BUILD=$(cd "$1" && pwd) || { echo "FAIL: no build directory $1" >&2; exit 2; }
    SO="$BUILD/libdsv3.so"
    AR="$BUILD/libdsv3.a"
elif [ $# -eq 2 ]; then
    SO=$1
    AR=$2
    BUILD=$(cd "$(dirname "$SO")" && pwd) || exit 2
else
    echo "usage: $0 BUILD_DIR | $0 LIBDSV3_SO LIBDSV3_A" >&2
    exit 2
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
HEADER="$SRC/include/dsv3.h"
HEADER_01="$SRC/tests/abi/dsv3-0.1.0.h"
MAP="$SRC/abi/libdsv3.map"
CC=${CC:-cc}
CFLAGS=${CFLAGS:-}
LDFLAGS=${LDFLAGS:-}

# Symbols the toolchain itself may put into a shared object's dynamic symbol
# table (defined, global), which are not part of our API:
#   _init, _fini           -- crti/crtn entry points of DT_INIT/DT_FINI
#                             (older toolchains export them);
#   _edata, _end, __bss_start -- section-boundary symbols that binutils ld
#                             before 2.35 exported from every shared object.
ALLOWED_LINKER_SYMS="_init _fini _edata _end __bss_start"

fails=0
ok() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
show_log() { # the first 40 lines of a log, indented
    sed -n '1,40s/^/      /p' "$1"
    [ "$(wc -l <"$1")" -le 40 ] || echo "      ... ($(wc -l <"$1") lines)"
}

for tool in nm readelf perl "$CC"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 2; }
done
for f in "$SO" "$AR" "$HEADER" "$HEADER_01" "$MAP"; do
    [ -f "$f" ] || { echo "FAIL: $f does not exist (build the dsv3 and dsv3_static targets)" >&2; exit 2; }
done

TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT

# ---- the API as declared: DSV3_API functions in the header --------------
# Comments and preprocessor lines removed, then the identifier just before
# the first '(' of each DSV3_API declaration.
declared_in() {
    perl -0777 -ne '
        s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g;
        s{^[ \t]*#[^\n]*(?:\\\n[^\n]*)*}{}mg;
        while (/\bDSV3_API\b([^;(]*)\(/g) {
            my $d = $1;
            print "$1\n" if $d =~ /([A-Za-z_][A-Za-z0-9_]*)\s*$/;
        }' "$1" | sort -u
}
declared_in "$HEADER" >"$TMP/declared"
declared_in "$HEADER_01" >"$TMP/declared_01"
n_decl=$(wc -l <"$TMP/declared")
if [ "$n_decl" -lt 5 ]; then
    fail "found only $n_decl DSV3_API declarations in $HEADER (parser broken?)"
else
    ok "$n_decl functions declared with DSV3_API in include/dsv3.h"
fi

# ---- 1. only dsv3_* (and allowed linker symbols) exported ----------------
nm -D --defined-only "$SO" >"$TMP/nm" || { echo "FAIL: nm -D $SO failed" >&2; exit 2; }
awk 'NF >= 3 { print $2, $3 }' "$TMP/nm" | sed 's/@.*//' | sort -u >"$TMP/exported"
# The version nodes of the map ("DSV3_0.1 {") appear as absolute symbols.
map_nodes=$(sed -n 's/^[ \t]*\([A-Za-z_][A-Za-z0-9_.]*\)[ \t]*{.*/\1/p' "$MAP" | paste -sd' ')
bad=""
while read -r type name; do
    case "$name" in
        dsv3_*) ;;
        *)
            allowed=0
            for a in $ALLOWED_LINKER_SYMS; do [ "$name" = "$a" ] && allowed=1; done
            for a in $map_nodes; do [ "$name" = "$a" ] && [ "$type" = A ] && allowed=1; done
            [ $allowed = 1 ] || bad="$bad $name($type)"
            ;;
    esac
done <"$TMP/exported"
if [ -n "$bad" ]; then
    fail "libdsv3.so exports symbols outside the dsv3_ namespace:$bad"
else
    ok "libdsv3.so exports only dsv3_* symbols (and version names $map_nodes)"
fi

# ---- 2. SONAME -----------------------------------------------------------
major=$(sed -n 's/^#[ \t]*define[ \t]\+DSV3_VERSION_MAJOR[ \t]\+\([0-9]\+\).*/\1/p' "$HEADER")
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ -z "$major" ]; then
    fail "cannot read DSV3_VERSION_MAJOR from $HEADER"
elif [ "$soname" != "libdsv3.so.$major" ]; then
    fail "SONAME is '$soname', expected 'libdsv3.so.$major'"
else
    ok "SONAME $soname"
fi

# ---- 3. declared <-> exported functions ----------------------------------
awk '$1 == "T" || $1 == "W" || $1 == "i" { print $2 }' "$TMP/exported" | grep '^dsv3_' | sort -u >"$TMP/exported_fn"
missing=$(comm -23 "$TMP/declared" "$TMP/exported_fn" | tr '\n' ' ')
# The 0.1 entry points the header dropped are kept for old binaries
# (lib/abi_compat.c): exported without a declaration in the current header.
comm -23 "$TMP/declared_01" "$TMP/declared" >"$TMP/compat"
extra=$(comm -13 "$TMP/declared" "$TMP/exported_fn" | comm -23 - "$TMP/compat" | tr '\n' ' ')
if [ -n "$missing" ]; then
    fail "declared with DSV3_API but not exported as functions: $missing"
else
    ok "every DSV3_API function is exported"
fi
if [ -n "$extra" ]; then
    fail "exported but not declared with DSV3_API in dsv3.h (ABI leak): $extra"
else
    ok "every exported function is declared in dsv3.h"
fi
dsv3_data=$(awk '$1 != "T" && $1 != "W" && $1 != "i" && $2 ~ /^dsv3_/ { print $2 "(" $1 ")" }' "$TMP/exported" | tr '\n' ' ')
if [ -n "$dsv3_data" ]; then
    fail "exported dsv3_* symbols that are not functions (the API has no data): $dsv3_data"
fi

# ---- 3b. symbol versions (abi/libdsv3.map) --------------------------------
# "name version" of every exported function; version "-" when it has none.
awk '($2 == "T" || $2 == "W" || $2 == "i") && $3 ~ /^dsv3_/ {
        n = $3; v = "-"; i = index(n, "@");
        if (i) { v = substr(n, i); sub(/^@+/, "", v); n = substr(n, 1, i - 1) }
        print n, v }' "$TMP/nm" | sort -u >"$TMP/versions"
not_01=$(comm -23 "$TMP/declared_01" <(awk '$2 == "DSV3_0.1" { print $1 }' "$TMP/versions") | tr '\n' ' ')
if [ -n "$not_01" ]; then
    fail "0.1 functions not exported at version DSV3_0.1 (programs built against 0.1 need them; see abi/libdsv3.map): $not_01"
else
    ok "all $(wc -l <"$TMP/declared_01") functions of the 0.1 header exported at DSV3_0.1"
fi
unversioned=$(awk '$2 == "-" { print $1 }' "$TMP/versions" | tr '\n' ' ')
if [ -n "$unversioned" ]; then
    fail "exported without a symbol version (is abi/libdsv3.map passed to the linker?): $unversioned"
fi
# Names the map lists: identifiers followed by ';' outside comments, patterns excluded.
perl -0777 -ne 's{/\*.*?\*/}{ }gs; print "$1\n" while /\b([A-Za-z_][A-Za-z0-9_]*)\s*;/g' "$MAP" | sort -u >"$TMP/mapped"
unlisted=$(comm -23 "$TMP/exported_fn" "$TMP/mapped" | tr '\n' ' ')
if [ -n "$unlisted" ]; then
    fail "exported but not listed by name in abi/libdsv3.map (add each to the newest version node, ${map_nodes##* }): $unlisted"
else
    ok "every exported function is listed by name in abi/libdsv3.map ($(awk '{ print $2 }' "$TMP/versions" | sort | uniq -c | awk '{ printf "%s%s: %s", sep, $2, $1; sep = ", " }'))"
fi

# ---- 3c. static library: only dsv3_* global names --------------------------
nm -g --defined-only "$AR" >"$TMP/nm_ar" 2>"$TMP/nm_ar.err" || { fail "nm -g $AR failed:"; show_log "$TMP/nm_ar.err"; }
foreign=$(awk 'NF >= 3 && $3 !~ /^dsv3_/ { print $3 "(" $2 ")" }' "$TMP/nm_ar" | sort -u | tr '\n' ' ')
if [ -n "$foreign" ]; then
    fail "libdsv3.a defines global symbols outside dsv3_ (a program or library with the same name would clash): $foreign"
else
    ok "libdsv3.a defines only dsv3_* global symbols ($(awk 'NF >= 3' "$TMP/nm_ar" | wc -l))"
fi
awk 'NF >= 3 && ($2 == "T" || $2 == "W") { print $3 }' "$TMP/nm_ar" | sort -u >"$TMP/ar_fn"
if ! cmp -s "$TMP/ar_fn" "$TMP/exported_fn"; then
    fail "libdsv3.a's global functions differ from libdsv3.so's exports (only in .a: $(comm -23 "$TMP/ar_fn" "$TMP/exported_fn" | tr '\n' ' '); only in .so: $(comm -13 "$TMP/ar_fn" "$TMP/exported_fn" | tr '\n' ' '))"
fi

# ---- 4. static library: only libc/libm/pthread needed --------------------
{
    cat <<'EOF'
#include <stdio.h>
#include <string.h>
#include "dsv3.h"
typedef void (*fn)(void);
static const fn api[] = {
EOF
    sed 's/.*/    (fn)\&&,/' "$TMP/declared"
    cat <<'EOF'
};
int main(void) {
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) if (!api[i]) return 1;
    if (dsv3_version() != DSV3_VERSION_NUMBER) return 1;
    if (strcmp(dsv3_version_string(), DSV3_VERSION_STRING) != 0) return 1;
    printf("static link ok: dsv3 %s, %zu API functions\n", dsv3_version_string(), sizeof api / sizeof api[0]);
    return 0;
}
EOF
} >"$TMP/prog.c"
# shellcheck disable=SC2086
if $CC -std=c11 -Wall -Wextra -Werror $CFLAGS -DDSV3_STATIC -I"$SRC/include" -o "$TMP/prog" "$TMP/prog.c" \
        $LDFLAGS -Wl,--whole-archive "$AR" -Wl,--no-whole-archive -lm -lpthread >"$TMP/link.log" 2>&1; then
    if out=$("$TMP/prog" 2>&1); then
        ok "$out (whole archive, -lm -lpthread)"
    else
        fail "statically linked program failed: $out"
    fi
else
    fail "linking libdsv3.a with only -lm -lpthread failed:"
    show_log "$TMP/link.log"
fi

# ---- 5. shared library: its undefined references resolve ----------------
# libdsv3.so is linked without --no-undefined, so a missing internal
# definition would only show when a program links it: link the same program
# against the .so (the linker checks the .so's undefined symbols against its
# DT_NEEDED libraries) and run it.
# shellcheck disable=SC2086
if $CC -std=c11 -Wall -Wextra -Werror $CFLAGS -I"$SRC/include" -o "$TMP/prog_so" "$TMP/prog.c" \
        $LDFLAGS -L"$BUILD" -ldsv3 -Wl,-rpath,"$BUILD" >"$TMP/link_so.log" 2>&1; then
    if out=$("$TMP/prog_so" 2>&1); then
        ok "dynamic link ok: ${out#static link ok: } (every undefined symbol of libdsv3.so resolves)"
    else
        fail "program linked against libdsv3.so failed: $out"
    fi
else
    fail "linking a program against libdsv3.so failed:"
    show_log "$TMP/link_so.log"
fi

if [ $fails -ne 0 ]; then
    echo "check_exports: $fails check(s) failed"
    exit 1
fi
echo "check_exports: all checks passed"
