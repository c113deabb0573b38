#!/usr/bin/env bash
# Fetch the KubeRay CRDs the chart is validated against, for machines without ../shared/crds.
# Pinned by release tag and by sha256 (the files in ../shared/crds, KubeRay v1.7.0, unmodified).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-v1.7.0}
base="https://raw.githubusercontent.com/ray-project/kuberay/${version}/ray-operator/config/crd/bases"
declare -A SHA=(
  [ray.io_rayclusters.yaml]=c44704442eef0c6721ad40c1d66782c8bd3fdab9d3344306a5820910a679baa1
  [ray.io_rayservices.yaml]=0a8fc325e6e22b9231c1f282b309555e2ecf94227ca20a03df3d1d9a403907ab
)
mkdir -p .tools/crds
for file in "${!SHA[@]}"; do
  if [[ -f .tools/crds/$file ]] && echo "${SHA[$file]}  .tools/crds/$file" | sha256sum -c --quiet 2>/dev/null; then
    echo "crds: $file up to date"; continue
  fi
  echo "crds: fetching $file ($version)"
  curl -fsSL "$base/$file" -o ".tools/crds/$file.tmp"
  echo "${SHA[$file]}  .tools/crds/$file.tmp" | sha256sum -c --quiet
  mv ".tools/crds/$file.tmp" ".tools/crds/$file"
done
