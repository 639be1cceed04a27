#!/usr/bin/env bash
# check_vendor.sh [SOURCE_DIR] -- dsv3 as a vendored dependency.
#
#   1. add_subdirectory: a copy of the source tree (the files git knows,
#      tracked or not ignored) under an application's third_party/dsv3; the
#      application links dsv3::dsv3 (shared) and dsv3::dsv3_static, defines
#      functions named like dsv3's internal ones (json_parse, gguf_open,
#      err_set), builds, and generates text with the demo model; dsv3's tests
#      and CLI are not configured (DSV3_BUILD_TESTS/EXAMPLES default OFF when
#      dsv3 is not the top-level project) and `ctest` sees only the
#      application's tests.
#   2. FetchContent: the same application fetching a tarball of the tree
#      (URL file://...) with FetchContent_MakeAvailable, built and run.
# A CI step (.ci/run), not a CTest test: it builds the library twice (about
# a minute on 2 cores). Honors CC and CMAKE_GENERATOR.
set -u
SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd) || exit 2
for t in cmake tar; do
    command -v "$t" >/dev/null 2>&1 || { echo "FAIL: '$t' not found" >&2; exit 2; }
done
TMP=$(mktemp -d) || exit 2
trap 'rm -rf "$TMP"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)
fails=0
ok() { echo "ok:   $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ---- the source tree, as a release tarball would hold it ------------------
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z -co --exclude-standard | xargs -0 -r ls -d 2>/dev/null) >"$TMP/files"
else
    (cd "$SRC" && find . -path './build*' -prune -o -path './.git' -prune -o -type f -print) >"$TMP/files"
fi
mkdir -p "$TMP/dsv3-src"
tar -C "$SRC" -cf - -T "$TMP/files" | tar -C "$TMP/dsv3-src" -xf - || { echo "FAIL: cannot copy the tree" >&2; exit 2; }
tar -C "$TMP" -czf "$TMP/dsv3-src.tar.gz" dsv3-src
ok "source tree: $(wc -l <"$TMP/files") files"

# ---- the application ------------------------------------------------------
mkdir -p "$TMP/app"
cat >"$TMP/app/main.c" <<'C'
#include <stdio.h>
#include <string.h>

#include <dsv3.h>

/* Names that dsv3 uses internally: the application's own. */
int json_parse(const char *s);
int gguf_open(int x);
int err_set(int x);
int json_parse(const char *s) { return (int)strlen(s); }
int gguf_open(int x) { return x + 1; }
int err_set(int x) { return x * 2; }

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    (void)user;
    (void)token;
    fwrite(piece, 1, len, stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    if (json_parse("abc") != 3 || gguf_open(1) != 2 || err_set(2) != 4) return 3;
    struct dsv3_model_params mp;
    struct dsv3_session_params sp;
    struct dsv3_sampler_params smp;
    struct dsv3_generate_params gp;
    dsv3_model_params_init(&mp, sizeof mp);
    dsv3_session_params_init(&sp, sizeof sp);
    dsv3_sampler_params_init(&smp, sizeof smp);
    dsv3_generate_params_init(&gp, sizeof gp);
    char err[256];
    dsv3_model *m = NULL;
    dsv3_tokenizer *tok = NULL;
    dsv3_session *s = NULL;
    dsv3_sampler *sampler = NULL;
    if (dsv3_model_load(argv[1], &mp, &m, err, sizeof err) || dsv3_tokenizer_load(argv[1], &tok, err, sizeof err) ||
        dsv3_session_create(m, &sp, &s, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    smp.temperature = 0;
    if (dsv3_sampler_create(&smp, dsv3_tokenizer_n_vocab(tok), &sampler)) return 1;
    const char *text = "It is a truth universally acknowledged";
    int32_t ids[64];
    size_t n = 0;
    if (dsv3_tokenize(tok, text, strlen(text), DSV3_TOKENIZE_ADD_BOS, ids, 64, &n)) return 1;
    gp.max_tokens = 8;
    gp.on_token = on_token;
    struct dsv3_generate_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    printf("dsv3 %s: %s", dsv3_version_string(), text);
    if (dsv3_generate(s, tok, sampler, ids, n, &gp, &res)) {
        fprintf(stderr, "%s\n", dsv3_session_last_error(s));
        return 1;
    }
    printf(" [%d tokens]\n", (int)res.n_generated);
    dsv3_sampler_free(sampler);
    dsv3_session_free(s);
    dsv3_tokenizer_free(tok);
    dsv3_model_free(m);
    return res.n_generated > 0 ? 0 : 1;
}
C
cat >"$TMP/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(app LANGUAGES C)
enable_testing()
if(USE_FETCHCONTENT)
  include(FetchContent)
  FetchContent_Declare(dsv3 URL ${DSV3_TARBALL})
  FetchContent_MakeAvailable(dsv3)
  set(model ${dsv3_SOURCE_DIR}/examples/models/austen-v3-tiny)
else()
  add_subdirectory(third_party/dsv3)
  set(model ${CMAKE_CURRENT_SOURCE_DIR}/third_party/dsv3/examples/models/austen-v3-tiny)
endif()
foreach(t dsv3_cli test_golden test_grown_structs)
  if(TARGET ${t})
    message(FATAL_ERROR "vendored dsv3 configured its own target ${t}")
  endif()
endforeach()
foreach(v DSV3_BUILD_TESTS DSV3_BUILD_EXAMPLES)
  if(${v})
    message(FATAL_ERROR "${v} is ON in a vendored build")
  endif()
endforeach()
add_executable(app main.c)
target_link_libraries(app PRIVATE dsv3::dsv3)
add_executable(app_static main.c)
target_link_libraries(app_static PRIVATE dsv3::dsv3_static)
add_test(NAME app COMMAND app ${model})
add_test(NAME app_static COMMAND app_static ${model})
CM

# run_app NAME CONFIGURE-ARGS...: configure, build, ctest (exactly the two
# application tests), and report.
run_app() {
    local name=$1 b="$TMP/build-$1"
    shift
    if ! cmake -S "$TMP/app" -B "$b" -DCMAKE_BUILD_TYPE=Release "$@" >"$TMP/$name.log" 2>&1; then
        fail "$name: configure failed:"; sed 's/^/      /' "$TMP/$name.log"; return
    fi
    if ! cmake --build "$b" -j"$jobs" >>"$TMP/$name.log" 2>&1; then
        fail "$name: build failed:"; tail -n 40 "$TMP/$name.log" | sed 's/^/      /'; return
    fi
    local n
    n=$(ctest --test-dir "$b" -N 2>/dev/null | sed -n 's/^Total Tests: //p')
    [ "$n" = 2 ] || fail "$name: ctest lists $n tests, expected the application's 2 (dsv3's tests leaked in?)"
    if ctest --test-dir "$b" --output-on-failure >"$TMP/$name.ctest" 2>&1; then
        ok "$name: builds and runs: $("$b/app" "$TMP/dsv3-src/examples/models/austen-v3-tiny" 2>&1 | head -n 1)"
    else
        fail "$name: the application failed:"; sed 's/^/      /' "$TMP/$name.ctest"
    fi
    if command -v readelf >/dev/null 2>&1 && readelf -d "$b/app_static" | grep -q 'NEEDED.*libdsv3'; then
        fail "$name: app_static (dsv3::dsv3_static) depends on libdsv3.so"
    fi
}

mkdir -p "$TMP/app/third_party"
cp -a "$TMP/dsv3-src" "$TMP/app/third_party/dsv3"
run_app add_subdirectory
rm -rf "$TMP/app/third_party"
run_app FetchContent -DUSE_FETCHCONTENT=ON -DDSV3_TARBALL="file://$TMP/dsv3-src.tar.gz"

if [ $fails -ne 0 ]; then
    echo "check_vendor: $fails check(s) failed"
    exit 1
fi
echo "check_vendor: all checks passed"
