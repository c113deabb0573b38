#!/usr/bin/env bash
# `make package`: both charts as .tgz files in dist/ (versions from Chart.yaml), their dependencies (the
# llm-common library, and the gateway subchart of llm-stack) resolved by `helm dependency update` from their
# file:// paths (the repository's charts/*/charts/ symlinks are for development only and are not packaged).
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=.tools/bin/helm
out=${1:-dist}
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for chart in llm-common llm-gateway llm-stack; do
  cp -r "charts/$chart" "$stage/$chart"
  rm -rf "$stage/$chart/charts"
done
for chart in llm-gateway llm-stack; do  # the gateway first: llm-stack bundles it with its own llm-common
  "$HELM" dependency update --skip-refresh "$stage/$chart" 2>&1 | grep -v '^level=' || true
  test -f "$stage/$chart/charts/llm-common-"*.tgz || { echo "package: llm-common was not resolved for $chart" >&2; exit 1; }
done
test -f "$stage/llm-stack/charts/llm-gateway-"*.tgz || { echo "package: the gateway subchart was not resolved" >&2; exit 1; }
"$HELM" package "$stage/llm-gateway" -d "$out" | grep -v '^level='
"$HELM" package "$stage/llm-stack" -d "$out" | grep -v '^level='
