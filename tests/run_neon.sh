#!/usr/bin/env bash
# run_neon.sh -- CI: cross-build for AArch64 and run the NEON backend's tests
# (and the golden/quants tests of the whole library) under qemu-user.
# Installs nothing; needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# qemu-user, cmake, and ../shared next to the repository.
# Usage: tests/run_neon.sh [BUILD_DIR]   (from anywhere; default build-neon)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-neon}
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
# DSV3_VULKAN=OFF: no Vulkan tests under qemu (no AArch64 loader or driver)
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=tests/toolchain-aarch64.cmake \
  -DDSV3_WERROR=ON -DDSV3_BUILD_EXAMPLES=OFF -DDSV3_VULKAN=OFF
cmake --build "$build" -j "$jobs"
built=$(date +%s)
# golden_*: golden_scalar, golden_scalar_2threads, golden_neon;
# quants: dequantization vs libggml; neon*: test_neon_ops (also on an
# emulated CPU without the dot-product extension); backend_ops: every op of
# every backend vs scalar (also on the ARMv8.0 CPU); kv_cache: the F16/Q8_0
# latent KV cache end to end (tests/test_kv_cache.c).
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 900 -R "golden|quants|neon|backend_ops|kv_cache"
end=$(date +%s)
echo "run_neon.sh: build $((built - start)) s, tests $((end - built)) s"
