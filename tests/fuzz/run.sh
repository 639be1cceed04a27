#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS [HARNESS...] -- run the libFuzzer harnesses of a
# -DDSV3_FUZZ=ON build for SECONDS each, one after the other (default: all
# of them), starting from the committed corpus tests/fuzz/<harness>/.
#
# New inputs go to BUILD_DIR/fuzz-corpus/<harness>/ (kept between runs),
# findings to BUILD_DIR/fuzz-artifacts/<harness>/. Exits 1 if any harness
# found anything (crash, check failure, leak, timeout, out of memory),
# naming the input; copy it to tests/fuzz/<harness>/crash-<what> once the
# bug is fixed, so that every later build replays it. Never reads stdin.
# Environment: FUZZ_JOBS (default 1) runs that many harnesses at a time;
# FUZZ_ARGS adds libFuzzer flags (e.g. -runs=N).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  # tests/fuzz/fuzz.cmake's harnesses (always built by fuzz_all), then any
  # other fuzz_* a build configured (e.g. the server's, when it is built).
  harnesses=(json config safetensors gguf tokenizer_json tokenizer_gguf tokenize chat session)
  for b in "$build"/tests/fuzz_* "$build"/tests/*/fuzz_* "$build"/examples/*/fuzz_*; do
    [ -x "$b" ] && [ -f "$b" ] || continue
    n=${b##*/fuzz_}
    case " ${harnesses[*]} " in *" $n "*) ;; *) harnesses+=("$n") ;; esac
  done
fi
jobs=${FUZZ_JOBS:-1}

# Per harness: the longest input worth trying and a dictionary, if any.
flags_of() {
  case "$1" in
    json) echo "-max_len=4096 -dict=$here/json.dict" ;;
    config) echo "-max_len=4096" ;;
    safetensors) echo "-max_len=16384" ;;
    gguf) echo "-max_len=65536" ;;
    tokenizer_json) echo "-max_len=131072" ;;
    tokenizer_gguf) echo "-max_len=32768" ;;
    tokenize) echo "-max_len=65536 -dict=$here/tokenize.dict" ;;
    chat) echo "-max_len=8192 -dict=$here/tokenize.dict" ;;
    session) echo "-max_len=2048" ;;
    *) echo "" ;;
  esac
}

run_one() {
  local h=$1 bin="$build/tests/fuzz_$1" b
  for b in "$build"/tests/*/fuzz_"$h" "$build"/examples/*/fuzz_"$h"; do
    [ -x "$bin" ] || [ ! -x "$b" ] || bin=$b
  done
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz_$h: $bin not built (cmake --build $build --target fuzz_all)"
    return 1
  fi
  local corpus="$build/fuzz-corpus/$h" art="$build/fuzz-artifacts/$h" log="$build/fuzz-logs/$h.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  # shellcheck disable=SC2046
  "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art/" $(flags_of "$h") ${FUZZ_ARGS:-} "$corpus" "$here/$h" </dev/null >"$log" 2>&1
  local rc=$?
  local execs speed cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "FAIL fuzz_$h (exit $rc) after ${execs:-?} runs; log $log; input(s):"
    ls "$art" | sed "s|^|  $art/|"
    grep -m5 -E 'ERROR:|check failed|runtime error|SUMMARY' "$log" | sed 's/^/  /'
    return 1
  fi
  echo "ok   fuzz_$h: ${execs:-?} runs, ${speed:-?} exec/s, ${cov:-no coverage line}"
}

failed=0
if [ "$jobs" -le 1 ]; then
  for h in "${harnesses[@]}"; do run_one "$h" || failed=1; done
else
  pids=()
  for h in "${harnesses[@]}"; do
    run_one "$h" > "$build/fuzz-logs.$h.summary" 2>&1 &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  for h in "${harnesses[@]}"; do cat "$build/fuzz-logs.$h.summary"; rm -f "$build/fuzz-logs.$h.summary"; done
fi
exit $failed
