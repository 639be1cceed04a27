#!/bin/sh
# CTest entry of the Rust bindings: `cargo test --offline` against the
# library of the build directory. Exit 77 (skipped) when cargo is missing.
#   ctest_run.sh LIB_DIR TARGET_DIR
set -e
if ! command -v cargo >/dev/null 2>&1; then
  echo "SKIP: cargo not found (Debian: cargo)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
export DSV3_LIB_DIR="$1" CARGO_TARGET_DIR="$2"
export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec cargo test --offline --quiet --manifest-path "$here/Cargo.toml"
