#!/usr/bin/env bash
# `make package`: both charts as .tgz files in dist/ (versions from Chart.yaml), the gateway subchart
# resolved by `helm dependency update` from its file:// path (the repository's charts/llm-stack/charts/
# symlink is for development only and is not packaged).
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/bin/helm
out=${1:-dist}
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r charts/llm-gateway "$stage/llm-gateway"
cp -r charts/llm-stack "$stage/llm-stack"
rm -rf "$stage/llm-stack/charts"
"$HELM" dependency update --skip-refresh "$stage/llm-stack" 2>&1 | grep -v '^level=' || true
test -f "$stage/llm-stack/charts/llm-gateway-"*.tgz || { echo "package: the gateway subchart was not resolved" >&2; exit 1; }
"$HELM" package "$stage/llm-gateway" -d "$out" | grep -v '^level='
"$HELM" package "$stage/llm-stack" -d "$out" | grep -v '^level='
