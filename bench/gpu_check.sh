#!/usr/bin/env bash
# A GPU machine's five-minute check (see bench/gpu_check.py):
#   bench/gpu_check.sh OUT_DIR [--budget SECONDS] [--skip-tests] [--workloads a,b]
# Writes gpu_check.log, <gpu>.md, <gpu>.json and three PNGs to OUT_DIR (default $OUT).
set -u
cd "$(dirname "$0")/.."
out="${1:-${OUT:-bench/results}}"
[ $# -gt 0 ] && shift
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=python3
command -v "$py" >/dev/null || py=python
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec "$py" -m bench.gpu_check --out "$out" "$@"
