#!/usr/bin/env bash
# The GPU checks of chori-torch (issue 26), in one go, for a machine with an NVIDIA GPU:
#   bash tests/gpu/run.sh            # from a checkout; builds what is missing (make setup, make demo)
# Steps, each logged under build/gpu-check/ and summarised at the end:
#   1. the machine: nvidia-smi, doctor's gpu row
#   2. build: the addon (and libchori) against .venv's CUDA torch wheel
#   3. node:test: tests/node/device.test.js, tests/node/gpu.test.js (gpu.test.js may skip nothing)
#   4. pytest tests/python/test_device.py, test_gpu.py: top-1 vs the CPU golden set on the whole
#      parity corpus (max |Δlogit| printed), deterministic repeat bit for bit, the GPU golden set
#      (chori golden --device cuda --deterministic) matched exactly by Node
#   5. CUDA out-of-memory survival (tests/gpu/oom.js)
#   6. the batching curve (bench/gpu.js), written to build/gpu-check/batching.md
# Exit status 0 only when every step passed. Bounded: each step has a time limit.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=build/gpu-check
mkdir -p "$out"
summary=()
failed=0

step() {  # step NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local log="$out/$name.log" start=$SECONDS
  echo "== $name: $*"
  if timeout "$limit" "$@" >"$log" 2>&1; then
    summary+=("PASS  $name ($((SECONDS - start)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - start)) s, exit $?; see $log)")
    failed=1
    tail -n 30 "$log"
  fi
}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >"$out/gpus.txt" 2>&1; then
  echo "tests/gpu/run.sh: no working nvidia-smi: this script needs an NVIDIA GPU and its driver" >&2
  cat "$out/gpus.txt" 2>/dev/null >&2
  exit 2
fi

[ -f .venv/.installed ] && [ -d node_modules ] || step setup 1800 make setup
[ -f export/model.pt ] || step demo 600 make demo
step build-addon 900 env CHORI_TORCH_PYTHON="$PWD/.venv/bin/python" node scripts/build-addon.js
step build-cpp 900 bash scripts/build-cpp.sh build
step doctor 120 node js/cli.js doctor --model export/model.pt
# device.test.js skips its no-GPU checks here (by design); gpu.test.js and test_gpu.py must skip nothing.
step node-device 600 node --test tests/node/device.test.js
step node-gpu 900 node --test tests/node/gpu.test.js
grep -q '# skipped 0' "$out/node-gpu.log" || { summary+=("FAIL  node-gpu skipped tests on a GPU machine"); failed=1; }
step pytest-gpu 1800 .venv/bin/python -m pytest tests/python/test_device.py tests/python/test_gpu.py -q -s -rs
grep -q 'SKIPPED.*test_gpu\.py' "$out/pytest-gpu.log" && { summary+=("FAIL  pytest-gpu skipped test_gpu.py tests on a GPU machine"); failed=1; }
step oom 600 node tests/gpu/oom.js
rm -f "$out/batching.md"
step batching-curve 900 node bench/gpu.js --write "$out/batching.md"
[ -f "$out/batching.md" ] || { summary+=("FAIL  batching-curve wrote no table"); failed=1; }

echo
echo "================ chori-torch GPU check ================"
cat "$out/gpus.txt"
grep -h '^  ok *gpu\|^  fail *gpu' "$out/doctor.log" 2>/dev/null
printf '%s\n' "${summary[@]}"
echo "-- GPU vs CPU golden set (top-1, max |Δlogit|):"
grep -h 'gpu-vs-cpu\[' "$out/pytest-gpu.log" 2>/dev/null || echo "   (not reached)"
echo "-- out-of-memory survival:"
cat "$out/oom.log" 2>/dev/null | tail -n 1
echo "-- batching curve:"
cat "$out/batching.md" 2>/dev/null || echo "   (not reached)"
echo "======================================================="
[ "$failed" = 0 ] && echo "ALL GPU CHECKS PASSED" || echo "SOME GPU CHECKS FAILED (logs in $out/)"
exit "$failed"
