#!/usr/bin/env bash
# check_install.sh SOURCE_DIR BUILD_DIR -- the installed package works.
#
#   1. `cmake --install BUILD_DIR --prefix TMP` succeeds and TMP holds
#      include/dsv3.h (identical to the source header), LIBDIR/libdsv3.so,
#      libdsv3.so.MAJOR, libdsv3.so.MAJOR.MINOR.PATCH, libdsv3.a,
#      LIBDIR/pkgconfig/dsv3.pc and LIBDIR/cmake/dsv3/dsv3Config.cmake
#      (+ ConfigVersion, Targets). LIBDIR is detected: lib, lib64 or
#      lib/<multiarch>, as GNUInstallDirs chose.
#   2. dsv3.pc points into TMP (prefix, libdir, includedir).
#   3. A consumer that prints dsv3_version_string() and checks
#      dsv3_version() == DSV3_VERSION_NUMBER builds and runs
#      (LD_LIBRARY_PATH=TMP/LIBDIR) when built
#        a. by CMake: find_package(dsv3 MAJOR.MINOR REQUIRED) with
#           CMAKE_PREFIX_PATH=TMP, linking dsv3::dsv3 (shared) and, in a second
#           executable, dsv3::dsv3_static (checks the exported Threads/m
#           dependencies too); dsv3_DIR must be TMP's;
#        b. with `cc $(pkg-config --cflags --libs dsv3)`.
#   4. A C++ program including dsv3.h compiles (-fsyntax-only), then links
#      against the C library and runs: a missing extern "C" guard only shows
#      at link time (mangled names), so linking is the real proof. Skipped,
#      with a message, when no C++ compiler exists.
#   5. The installed dsv3 program finds the installed demo model relative
#      to its executable, also after the prefix is moved.
#
# Needs pkg-config (fails with a message when missing). Honors CC, CXX,
# CFLAGS, CXXFLAGS (default: the -fsanitize options of CFLAGS), LDFLAGS
# (CMake reads them too).
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
SRC=$(cd "$1" && pwd) || { echo "FAIL: no source directory $1" >&2; exit 2; }
BUILD=$(cd "$2" && pwd) || { echo "FAIL: no build directory $2" >&2; exit 2; }
HEADER="$SRC/include/dsv3.h"
CC=${CC:-cc}
CFLAGS=${CFLAGS:-}
LDFLAGS=${LDFLAGS:-}
export CC CFLAGS LDFLAGS

if ! command -v pkg-config >/dev/null 2>&1; then
    echo "FAIL: pkg-config not found; it is needed to test the installed dsv3.pc" \
         "(Debian/Ubuntu: apt-get install pkg-config)" >&2
    exit 1
fi
for tool in cmake "$CC"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: required tool '$tool' not found" >&2; exit 2; }
done

fails=0
ok() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
finish() {
    if [ $fails -ne 0 ]; then
        echo "check_install: $fails check(s) failed"
        exit 1
    fi
    echo "check_install: all checks passed"
    exit 0
}

TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT
P="$TMP/prefix"

hdr_define() { sed -n "s/^#[ \t]*define[ \t]\+$1[ \t]\+\([0-9]\+\).*/\1/p" "$HEADER"; }
MAJOR=$(hdr_define DSV3_VERSION_MAJOR)
MINOR=$(hdr_define DSV3_VERSION_MINOR)
PATCH=$(hdr_define DSV3_VERSION_PATCH)
if [ -z "$MAJOR" ] || [ -z "$MINOR" ] || [ -z "$PATCH" ]; then
    echo "FAIL: cannot read the version from $HEADER" >&2
    exit 2
fi

# ---- 1. install and layout -----------------------------------------------
if cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1; then
    ok "cmake --install $BUILD --prefix <tmp>"
else
    fail "cmake --install failed (is everything built?):"
    sed 's/^/      /' "$TMP/install.log"
    finish
fi

pcs=$(cd "$P" && find . -path '*/pkgconfig/dsv3.pc' | sed 's|^\./||')
if [ "$(printf '%s\n' "$pcs" | grep -c .)" -ne 1 ]; then
    fail "expected exactly one LIBDIR/pkgconfig/dsv3.pc, found: ${pcs:-none}"
    (cd "$P" && find . | sort | sed 's/^/      /')
    finish
fi
LIBDIR=$(dirname "$(dirname "$pcs")")
case "$LIBDIR" in
    lib | lib64 | lib/*-*-*) ok "library directory: $LIBDIR" ;;
    *) fail "unexpected library directory '$LIBDIR' (want lib, lib64 or lib/<multiarch>)" ;;
esac
L="$P/$LIBDIR"

expect_file() { if [ -f "$P/$1" ]; then ok "installed $1"; else fail "missing $1"; fi; }
expect_file include/dsv3.h
expect_file "$LIBDIR/libdsv3.so.$MAJOR.$MINOR.$PATCH"
expect_file "$LIBDIR/libdsv3.so.$MAJOR"
expect_file "$LIBDIR/libdsv3.so"
expect_file "$LIBDIR/libdsv3.a"
expect_file "$LIBDIR/pkgconfig/dsv3.pc"
expect_file "$LIBDIR/cmake/dsv3/dsv3Config.cmake"
expect_file "$LIBDIR/cmake/dsv3/dsv3ConfigVersion.cmake"
expect_file "$LIBDIR/cmake/dsv3/dsv3Targets.cmake"
if [ -f "$P/include/dsv3.h" ] && ! cmp -s "$HEADER" "$P/include/dsv3.h"; then
    fail "installed include/dsv3.h differs from $HEADER"
fi
for l in libdsv3.so libdsv3.so.$MAJOR; do
    if [ -L "$L/$l" ]; then
        ok "$l is a symlink to $(readlink "$L/$l")"
    else
        fail "$LIBDIR/$l is not a symlink"
    fi
done
[ $fails -eq 0 ] || finish

# ---- the consumer --------------------------------------------------------
mkdir -p "$TMP/consumer"
cat >"$TMP/consumer/main.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include <dsv3.h>

int main(void) {
    const char *v = dsv3_version_string();
    printf("dsv3 %s (%u)\n", v, dsv3_version());
    if (dsv3_version() != DSV3_VERSION_NUMBER) {
        fprintf(stderr, "dsv3_version() = %u but the header says %d\n", dsv3_version(), DSV3_VERSION_NUMBER);
        return 1;
    }
    if (strcmp(v, DSV3_VERSION_STRING) != 0) {
        fprintf(stderr, "dsv3_version_string() = %s but the header says %s\n", v, DSV3_VERSION_STRING);
        return 1;
    }
    if (!dsv3_status_string(DSV3_OK)) return 1;
    return 0;
}
EOF
WARN="-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -pedantic -Werror"

run_consumer() { # name, binary
    local out
    if out=$(LD_LIBRARY_PATH="$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$2" 2>&1); then
        ok "$1 runs: $out"
    else
        fail "$1 failed: $out"
    fi
}

# ---- 3a. CMake consumer ----------------------------------------------------
cat >"$TMP/consumer/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(dsv3_consumer LANGUAGES C)
find_package(dsv3 $MAJOR.$MINOR REQUIRED)
get_filename_component(found "\${dsv3_DIR}" REALPATH)
get_filename_component(want "\${EXPECT_DSV3_DIR}" REALPATH)
if(NOT found STREQUAL want)
  message(FATAL_ERROR "found dsv3 in \${found}, expected \${want}")
endif()
add_executable(app main.c)
target_link_libraries(app dsv3::dsv3)
add_executable(app_static main.c)
target_link_libraries(app_static dsv3::dsv3_static)
target_compile_definitions(app_static PRIVATE DSV3_STATIC)
EOF
if cmake -S "$TMP/consumer" -B "$TMP/consumer/build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$P" -DEXPECT_DSV3_DIR="$L/cmake/dsv3" >"$TMP/cm.log" 2>&1 &&
   cmake --build "$TMP/consumer/build" >>"$TMP/cm.log" 2>&1; then
    ok "CMake consumer: find_package(dsv3 $MAJOR.$MINOR) + dsv3::dsv3 and dsv3::dsv3_static build"
    run_consumer "CMake consumer (dsv3::dsv3)" "$TMP/consumer/build/app"
    if command -v readelf >/dev/null 2>&1 &&
       readelf -d "$TMP/consumer/build/app_static" | grep -q 'NEEDED.*libdsv3'; then
        fail "app_static (dsv3::dsv3_static) depends on libdsv3.so"
    fi
    run_consumer "CMake consumer (dsv3::dsv3_static)" "$TMP/consumer/build/app_static"
else
    fail "CMake consumer failed:"
    sed 's/^/      /' "$TMP/cm.log"
fi

# ---- 2 + 3b. pkg-config consumer -------------------------------------------
PKG="$L/pkgconfig"
pc() { PKG_CONFIG_PATH="$PKG" pkg-config "$@"; }
for v in prefix:"$P" libdir:"$L" includedir:"$P/include"; do
    name=${v%%:*}
    want=${v#*:}
    got=$(pc --variable="$name" dsv3)
    if [ "$got" = "$want" ]; then
        ok "dsv3.pc $name = <tmp>${want#"$P"}"
    else
        fail "dsv3.pc $name = '$got', expected '$want'"
    fi
done
if [ "$(pc --modversion dsv3)" = "$MAJOR.$MINOR.$PATCH" ]; then
    ok "pkg-config --modversion dsv3 = $MAJOR.$MINOR.$PATCH"
else
    fail "pkg-config --modversion dsv3 = '$(pc --modversion dsv3)', expected $MAJOR.$MINOR.$PATCH"
fi
if flags=$(pc --cflags --libs dsv3); then
    # shellcheck disable=SC2086
    if $CC $WARN $CFLAGS -o "$TMP/app_pc" "$TMP/consumer/main.c" $flags $LDFLAGS >"$TMP/pc.log" 2>&1; then
        ok "pkg-config consumer builds: cc main.c $flags"
        run_consumer "pkg-config consumer" "$TMP/app_pc"
    else
        fail "pkg-config consumer (cc main.c $flags) failed:"
        sed 's/^/      /' "$TMP/pc.log"
    fi
else
    fail "pkg-config --cflags --libs dsv3 failed"
fi

# ---- 4. C++ consumer -------------------------------------------------------
CXX=${CXX:-}
if [ -z "$CXX" ]; then
    for c in g++ c++ clang++; do
        if command -v "$c" >/dev/null 2>&1; then CXX=$c; break; fi
    done
fi
if [ -z "$CXX" ] || ! command -v "$CXX" >/dev/null 2>&1; then
    echo "SKIP: C++ consumer (no C++ compiler: g++, c++, clang++ or \$CXX)"
else
    cat >"$TMP/consumer/main.cpp" <<'EOF'
#include <cstdio>
#include <dsv3.h>
int main() {
    dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    dsv3_model *m = nullptr;
    char err[64];
    int st = dsv3_model_load(nullptr, &mp, &m, err, sizeof err);
    std::printf("C++: dsv3 %s, load(NULL) -> %s\n", dsv3_version_string(), dsv3_status_string(st));
    dsv3_model_free(m);
    return dsv3_version() == DSV3_VERSION_NUMBER && st != DSV3_OK && sp.struct_size == sizeof sp ? 0 : 1;
}
EOF
    CXXWARN="-std=c++11 -Wall -Wextra -Wshadow -pedantic -Werror"
    # C-only options of CFLAGS would not suit C++; sanitizer options must follow.
    # shellcheck disable=SC2086
    CXXFLAGS=${CXXFLAGS:-$(printf '%s\n' $CFLAGS | grep -- '^-fsanitize' | tr '\n' ' ')}
    # shellcheck disable=SC2086
    if ! "$CXX" $CXXWARN -fsyntax-only -I"$P/include" "$TMP/consumer/main.cpp" >"$TMP/cxx.log" 2>&1; then
        fail "C++ ($CXX -fsyntax-only) rejects dsv3.h:"
        sed 's/^/      /' "$TMP/cxx.log"
    elif ! "$CXX" $CXXWARN $CXXFLAGS -o "$TMP/app_cxx" "$TMP/consumer/main.cpp" -I"$P/include" -L"$L" -ldsv3 $LDFLAGS \
            >"$TMP/cxx.log" 2>&1; then
        fail "C++ consumer does not link against libdsv3 (extern \"C\" guards?):"
        sed 's/^/      /' "$TMP/cxx.log"
    else
        ok "C++ ($CXX) compiles dsv3.h and links against the C library"
        run_consumer "C++ consumer" "$TMP/app_cxx"
    fi
fi

# 5. The installed dsv3 program (when the build has it) carries its demo
#    model: share/dsv3/models/austen-v3-tiny is installed, and a copy of the
#    prefix moved elsewhere still runs `dsv3 run` without -m, on the model
#    beside its own executable (`dsv3 info` names it), not the source tree's.
if [ -x "$P/bin/dsv3" ]; then
    if [ -f "$P/share/dsv3/models/austen-v3-tiny/config.json" ] &&
       [ -f "$P/share/dsv3/models/austen-v3-tiny/model.safetensors" ]; then
        ok "demo model installed under share/dsv3/models/austen-v3-tiny"
    else
        fail "demo model not installed under $P/share/dsv3/models/austen-v3-tiny"
    fi
    cp -a "$P" "$TMP/moved"
    where=$(env -u DSV3_MODEL "$TMP/moved/bin/dsv3" info 2>&1 | sed -n 's/^model *//p')
    case "$where" in
        "$TMP/moved/"*) ok "moved prefix: dsv3 info without -m uses $where" ;;
        *) fail "moved prefix: dsv3 info without -m uses '$where', expected a path under $TMP/moved" ;;
    esac
    if out=$(cd "$TMP" && env -u DSV3_MODEL "$TMP/moved/bin/dsv3" run -p "It is" -n 8 2>"$TMP/run.err") &&
       [ "${out#It is}" != "$out" ] && [ ${#out} -gt 6 ]; then
        ok "moved prefix: dsv3 run -p without -m: $(echo "$out" | head -1)"
    else
        fail "moved prefix: dsv3 run -p without -m: '$out' $(cat "$TMP/run.err")"
    fi
fi

finish
