#!/usr/bin/env bash
# The image pipeline's libFuzzer target (addon/fuzz/fuzz_image.cc) under ASan + UBSan, built
# with clang and without libtorch:
#   scripts/fuzz.sh build   compile build/fuzz/fuzz-image
#   scripts/fuzz.sh check   every seed and every tests/fuzz-regressions file once, then fuzz for
#                           FUZZ_SECONDS (default 30): what `make test` runs
#   scripts/fuzz.sh run     fuzz for FUZZ_SECONDS (default 600), growing build/fuzz/corpus:
#                           `make fuzz`
# A finding (crash, sanitizer report, leak, timeout, exception other than chori::Error) fails
# the command and leaves the input in build/fuzz/findings/: fix the bug, then add the file to
# tests/fuzz-regressions/ so that every later check replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=build/fuzz
BIN=$OUT/fuzz-image
mapfile -t LIBS < <(node -e "for (const l of require('./addon/sources.json').pkgConfig) console.log(l)")
# The image sources of addon/sources.json (the list every build reads), without the model
# code (no libtorch).
mapfile -t IMAGE_SOURCES < <(node -e "for (const f of require('./addon/sources.json').image) console.log('addon/' + f)")
SOURCES=(addon/fuzz/fuzz_image.cc "${IMAGE_SOURCES[@]}")

build() {
  command -v clang++ >/dev/null || {
    echo "fuzz: clang++ not found: bash scripts/setup-system.sh --fuzz (apt: clang libclang-rt-dev)" >&2
    exit 1
  }
  mkdir -p "$OUT"
  local start=$SECONDS
  # -O1 -g: the sanitizers' usual trade-off; no-recover: UBSan's reports are findings, not logs.
  # shellcheck disable=SC2046
  clang++ -std=c++20 -O1 -g -fno-omit-frame-pointer -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iaddon/src -Iaddon/include $(pkg-config --cflags "${LIBS[@]}") \
    "${SOURCES[@]}" $(pkg-config --libs "${LIBS[@]}") -o "$BIN"
  echo "fuzz: built $BIN with $(clang++ --version | head -1) in $((SECONDS - start)) s"
}

seeds() {
  [ -d "$OUT/seeds" ] || .venv/bin/python tests/tools/write-fuzz-seeds.py "$OUT/seeds"
}

# Every seed and regression file once (full length, no mutation).
replay() {
  local files
  mapfile -t files < <(find "$OUT/seeds" tests/fuzz-regressions -type f ! -name README.md | sort)
  local log=$OUT/replay.log
  if ! "$BIN" -rss_limit_mb=2560 -timeout=60 "${files[@]}" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: replaying the seeds and regressions failed (full log: $log)" >&2
    exit 1
  fi
  echo "fuzz: replayed ${#files[@]} seed and regression files under ASan + UBSan, no finding"
}

fuzz() {
  local seconds=$1
  mkdir -p "$OUT/corpus" "$OUT/findings"
  local log=$OUT/fuzz.log
  # The corpus folder comes first: libFuzzer writes what it finds there, and only reads the seeds.
  local status=0
  "$BIN" "$OUT/corpus" "$OUT/seeds" tests/fuzz-regressions -dict=addon/fuzz/image.dict \
    -max_len=65536 -rss_limit_mb=2560 -timeout=20 -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$OUT/findings/" >"$log" 2>&1 || status=$?
  local done stats
  # "#7764  DONE   cov: 1200 ft: 2434 corp: 320/6303Kb ...": edges and features covered.
  done=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+' || true)
  stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
    sed 's/stat:://; s/: */=/' | tr '\n' ' ' || true)
  echo "fuzz: $seconds s on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs): ${done:-no DONE line} ${stats}"
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2
    echo "fuzz: FINDING (exit $status): input saved in $OUT/findings/; full log: $log" >&2
    exit 1
  fi
}

case "${1:-}" in
  build) build ;;
  check)
    [ -x "$BIN" ] || build
    seeds
    replay
    fuzz "${FUZZ_SECONDS:-30}"
    ;;
  run)
    [ -x "$BIN" ] || build
    seeds
    fuzz "${FUZZ_SECONDS:-600}"
    ;;
  *)
    echo "usage: scripts/fuzz.sh build|check|run (FUZZ_SECONDS=N for check and run)" >&2
    exit 2
    ;;
esac
