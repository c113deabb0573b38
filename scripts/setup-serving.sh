#!/usr/bin/env bash
# The serving environment (.tools/serving-venv): vLLM 0.32 on CPU + Ray Serve 2.60 + the llm-serving
# package, for the serving tier and the local demo. ~6 GB, ~2 min cold; skipped while its stamp matches.
#
# A separate venv: vLLM's own pins (fastapi, protobuf, setuptools) clash with the tooling venv. The recipe is
# images/serving/install-env.sh, the one the CPU serving image is built with (--no-deps, and why).
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
  echo "setup-serving: installing $LOCK into $VENV (vLLM CPU, torch, Ray Serve; a few GB)"
  sh images/serving/install-env.sh "$VENV" "$LOCK"
  echo "$want" > "$STAMP"
fi
if ! "$VENV/bin/python" -c 'import llm_serving' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --no-cache-dir --no-deps -e images/serving
fi
"$VENV/bin/python" -c 'import vllm, ray; print(f"setup-serving: vllm {vllm.__version__}, ray {ray.__version__}")' 2>/dev/null
