#!/usr/bin/env bash
# `make cluster-tools`: build the control-plane programs the cluster test tier runs, from their published Go
# modules, pinned, into .tools/bin -- once: a stamp (hash of the pins) skips the build while nothing changed,
# and the Go module and build caches live in .tools/go for warm rebuilds. Prints each build's time.
#   kube-apiserver, kube-controller-manager, kube-scheduler  k8s.io/kubernetes v1.35.4 (tools/kubernetes)
#   etcd                                                    go.etcd.io/etcd/server/v3 v3.6.5 (tools/etcd)
#   kwok                                                    sigs.k8s.io/kwok v0.7.0
#   ray-operator                                            github.com/ray-project/kuberay/ray-operator v1.6.1 (tools/kuberay)
#     (the Go module proxy answers 403 "not available" for ray-operator@v1.7.0's .zip while it serves the .mod, so
#     v1.6.1, the newest release it serves, is pinned everywhere: operator, CRDs (llmstack.crds), add-on chart)
#   adapter (prometheus-adapter)                            sigs.k8s.io/prometheus-adapter v0.12.0 (tools/prometheus-adapter)
# The proxy also answers 403 for these two modules' version lists, which `go install mod@version` reads:
# they are built from a pinning module (tools/<name>/go.mod) instead, like Kubernetes and etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
STAMP=$ROOT/.tools/stamps/cluster-tools
KUBE_VERSION=v1.35.4
KWOK=sigs.k8s.io/kwok/cmd/kwok@v0.7.0
PROGRAMS=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok ray-operator adapter)

export GOMODCACHE=$ROOT/.tools/go/mod GOCACHE=$ROOT/.tools/go/cache GOFLAGS=-buildvcs=false CGO_ENABLED=0
export GOTOOLCHAIN=local GOBIN=$BIN
# BUILD_JOBS: parallel compile jobs (default: all cores)
JOBS=${BUILD_JOBS:-$(nproc)}

pins=$(cat "$0" tools/*/go.mod tools/*/go.sum | sha256sum | cut -d' ' -f1)
have_all() { for p in "${PROGRAMS[@]}"; do [[ -x $BIN/$p ]] || return 1; done; }
if [[ -f $STAMP && $(cat "$STAMP") == "$pins" ]] && have_all; then
  echo "cluster-tools: up to date (${PROGRAMS[*]})"
  exit 0
fi
command -v go >/dev/null || { echo "cluster-tools: Go is not installed (needs Go >= 1.26)" >&2; exit 1; }
mkdir -p "$BIN" "$(dirname "$STAMP")"

timed() {  # name command...  (module downloads are not news: only errors and timings are printed)
  local name=$1 start=$SECONDS; shift
  echo "cluster-tools: building $name"
  "$@" 2> >(grep -v '^go: downloading' >&2)
  echo "cluster-tools: built $name in $((SECONDS - start)) s"
}

# the version the API server reports: helm checks charts' kubeVersion against it
v=k8s.io/component-base/version
ldflags="-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=35 -X $v.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
timed kubernetes bash -c "cd tools/kubernetes && go build -p $JOBS -trimpath -ldflags '$ldflags' -o $BIN/ \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler"
timed etcd bash -c "cd tools/etcd && go build -p $JOBS -trimpath -ldflags '-s -w' -o $BIN/etcd ."
timed kwok go install -p "$JOBS" -trimpath -ldflags '-s -w' "$KWOK"
timed kuberay-operator bash -c "cd tools/kuberay && go build -p $JOBS -trimpath -ldflags '-s -w' \
  -o $BIN/ray-operator github.com/ray-project/kuberay/ray-operator"
timed prometheus-adapter bash -c "cd tools/prometheus-adapter && go build -p $JOBS -trimpath -ldflags '-s -w' \
  -o $BIN/adapter sigs.k8s.io/prometheus-adapter/cmd/adapter"
have_all || { echo "cluster-tools: a program is missing after the build" >&2; exit 1; }
echo "$pins" > "$STAMP"
