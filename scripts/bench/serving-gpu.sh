#!/usr/bin/env bash
# The GPU benchmark's serving environment, on a machine with one NVIDIA GPU, Python 3.12 with PyTorch 2.11
# (CUDA 13) already installed, and no network: vLLM 0.26.0 (the last release built on torch 2.11) and Ray 2.58.0
# (whose Serve LLM pins that vLLM), installed from a folder of wheels carried there.
#   scripts/bench/serving-gpu.sh WHEELS_DIR
#   LLMSTACK_SERVING_VENV=/tmp/serving-gpu python scripts/bench/serving.py --gpu
# The wheel list is `uv pip compile` of vllm==0.26.0 and ray[serve]==2.58.0 for cp312 manylinux_2_28 minus what
# the machine has (BENCHMARKS.md says which were left out).
set -euo pipefail
wheels=${1:?usage: $0 WHEELS_DIR}
venv=${LLMSTACK_SERVING_VENV:-/tmp/serving-gpu}

if [[ ! -x $venv/bin/serve ]]; then
  python3 -m venv "$venv"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # the machine's own PyTorch (a venv of its own): visible after the wheels installed here
  python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' >"$site/machine-torch.pth"
  "$venv/bin/pip" install -q --no-index --no-deps --no-compile "$wheels"/*.whl
  echo "$PWD/images/serving/src" >"$site/llm-serving.pth"
fi
"$venv/bin/python" -c 'import torch, vllm, ray, ray.serve.llm, llm_serving; print("torch", torch.__version__,
  "cuda", torch.cuda.is_available(), "vllm", vllm.__version__, "ray", ray.__version__)'
