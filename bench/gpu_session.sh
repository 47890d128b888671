#!/usr/bin/env bash
# One GPU session in one call: the CUDA half of the test suite in parallel shards, the
# core benchmarks on cuda and cpu (ratios and the GPU-over-CPU crossover), the compiled
# small steps on cuda (CUDA graphs), and the two training examples on cuda. Everything
# lands in OUT_DIR (default $OUT).
#   bench/gpu_session.sh OUT_DIR [SHARDS] [TEST_SECONDS] [BENCH_SECONDS]
set -u
cd "$(dirname "$0")/.."
out="${1:-${OUT:-bench/results/gpu_session}}"
shards="${2:-4}"
test_s="${3:-200}"
bench_s="${4:-130}"
mkdir -p "$out"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=python3
command -v "$py" >/dev/null || py=python
start=$(date +%s)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$py" -m gpugrad.utils.collect_env 2>&1 | head -40
} >"$out/env.txt" 2>&1

# 1. tests: the cuda test ids, dealt round-robin to the shards (balanced by count)
"$py" -m pytest -q -k cuda -p no:cacheprovider --collect-only tests 2>/dev/null |
  grep "::" >"$out/.ids"
split -n r/"$shards" -d "$out/.ids" "$out/.shard"
for f in "$out"/.shard*; do
  timeout "$test_s" xargs -d '\n' -a "$f" "$py" -m pytest -q -p no:cacheprovider --tb=short \
    -rfE >"$out/tests_${f##*.}.log" 2>&1 &
done
# beside them, the op tests on cuda with gpugrad's own kernels on (GPUGRAD_CUDA_KERNELS=1),
# the evidence for turning the engine on by default
GPUGRAD_CUDA_KERNELS=1 timeout "$test_s" "$py" -m pytest -q -p no:cacheprovider --tb=short \
  -rfE -k cuda tests/test_kernels_elementwise.py tests/test_ops_unary.py tests/test_ops_binary.py \
  tests/test_ops_elementwise.py tests/test_ops_activation.py tests/test_ops_reduction.py \
  >"$out/tests_engine_on.log" 2>&1 &
wait
echo "$(wc -l <"$out/.ids") cuda tests collected" >"$out/tests_summary.txt"
rm -f "$out"/.shard* "$out/.ids"
for f in "$out"/tests_shard*.log "$out/tests_engine_on.log"; do
  echo "${f##*/}: $(grep -v '^$' "$f" | tail -1)"
done >>"$out/tests_summary.txt"
echo "tests done at +$(($(date +%s) - start)) s" >>"$out/tests_summary.txt"

# 2. benchmarks: the core pair on both devices (ratios + crossover), then GPU kernels
timeout "$bench_s" "$py" -m bench mlp chain --device all --level quick --no-progress \
  --time-limit $((bench_s - 15)) \
  --out "$out/bench_core" >"$out/bench_core.log" 2>&1
timeout 80 "$py" -m bench elementwise reductions matmul --device cuda --level quick \
  --time-limit 65 --no-progress --out "$out/bench_kernels" >"$out/bench_kernels.log" 2>&1

# gpugrad.compile's CUDA graph replay (and torch.compile's reduce-overhead) on the small steps
timeout 110 "$py" -m bench mlp chain --compile --device cuda --sizes tiny,small --level quick \
  --time-limit 95 --no-progress --out "$out/bench_compile" >"$out/bench_compile.log" 2>&1

# 3. training on the GPU
timeout 40 "$py" examples/train_digits.py --device cuda --epochs 8 >"$out/digits.log" 2>&1
timeout 40 "$py" examples/char_lm.py --device cuda --steps 60 >"$out/charlm.log" 2>&1
echo "all done at +$(($(date +%s) - start)) s" >>"$out/tests_summary.txt"
