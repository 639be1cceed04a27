#!/bin/sh
# need_shared.sh SHARED_DIR NEEDS -- COMMAND [ARGS...]
#
# Runs COMMAND for a test that reads the golden data in ../shared, which a
# plain clone does not have. NEEDS is a comma-separated list of paths inside
# SHARED_DIR (golden, golden-gguf, tokenizer/deepseek-v3, ...).
#
#  * SHARED_DIR absent: print one SKIP line and exit 77, which CTest counts
#    as skipped (the test is registered with SKIP_RETURN_CODE 77); with
#    DSV3_REQUIRE_SHARED set (CI) this is a failure instead.
#  * SHARED_DIR present but a needed path missing: fail. Only a clone with
#    no golden data at all may skip; an incomplete copy is a broken setup.
#  * otherwise exec COMMAND, so its output and exit status are the test's.
#
# Registered through dsv3_add_shared_test() in tests/CMakeLists.txt.
shared=$1
needs=$2
shift 2
if [ "${1:-}" = "--" ]; then shift; fi
if [ ! -d "$shared" ]; then
  if [ -n "${DSV3_REQUIRE_SHARED:-}" ]; then
    echo "FAIL: $shared not found and DSV3_REQUIRE_SHARED is set"
    exit 1
  fi
  echo "SKIP: $shared not found: this test reads the golden data; put it beside the repository as ../shared, as CI has it (see README)"
  exit 77
fi
for n in $(echo "$needs" | tr ',' ' '); do
  if [ ! -e "$shared/$n" ]; then
    echo "FAIL: $shared/$n is missing ($shared is there but incomplete)"
    exit 1
  fi
done
exec "$@"
