#!/usr/bin/env bash
# `make cluster-tools`: build the programs the cluster and node test tiers run, from their published Go modules,
# pinned by the modules in tools/, into .tools/bin (CNI plugins into .tools/cni/bin). Each group is built once: a
# stamp (the hash of its pinning module, its packages and this script's settings) skips it while nothing changed.
# Each build has Go module and build caches of its own, deleted as it ends (several GB for Kubernetes; a stamp, not
# a cache, is what makes a warm run fast), so the disk holds the programs only. Prints each build's time.
#   kubernetes   kube-apiserver, -controller-manager, -scheduler, kubelet, kube-proxy  k8s.io/kubernetes v1.35.4
#   etcd         go.etcd.io/etcd/server/v3 v3.6.5 (tools/etcd)
#   kwok         sigs.k8s.io/kwok v0.7.0 (go install)
#   kuberay      ray-operator  github.com/ray-project/kuberay/ray-operator v1.6.1 (tools/kuberay)
#                (the Go module proxy answers 403 "not available" for ray-operator@v1.7.0's .zip while it serves the
#                .mod, so v1.6.1, the newest release it serves, is pinned everywhere: operator, CRDs, add-on chart)
#   adapter      sigs.k8s.io/prometheus-adapter v0.12.0 (tools/prometheus-adapter)
#   coredns      github.com/coredns/coredns v1.15.0 (tools/coredns): the test cluster's DNS
#   containerd   containerd, containerd-shim-runc-v2, ctr  github.com/containerd/containerd/v2 v2.4.2
#   cni          bridge, host-local, loopback, portmap  github.com/containernetworking/plugins v1.10.0
# The proxy also answers 403 for some modules' version lists, which `go install mod@version` reads: those are
# built from a pinning module (tools/<name>/go.mod) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
CNI=$ROOT/.tools/cni/bin
STAMPS=$ROOT/.tools/stamps
KUBE_VERSION=v1.35.4

# -modcacherw: the module cache can be deleted with rm
export GOFLAGS="-buildvcs=false -modcacherw" CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=$BIN
JOBS=${BUILD_JOBS:-$(nproc)}  # parallel compile jobs (default: all cores)
WORK=$ROOT/.tools/go/build  # one build's module cache, build cache and temporary files, gone when it ends
mkdir -p "$BIN" "$CNI" "$STAMPS"
rm -rf "$ROOT/.tools/go/cache" "$ROOT/.tools/go/mod" "$WORK"  # caches that earlier versions of this script kept
trap 'rm -rf "$WORK"' EXIT
# go_build ARGS...: `go` with caches of its own under $WORK, deleted afterwards
go_build() {
  mkdir -p "$WORK/tmp"
  local rc=0
  GOMODCACHE=$WORK/mod GOCACHE=$WORK/cache GOTMPDIR=$WORK/tmp go "$@" 2> >(grep -v '^go: downloading' >&2) || rc=$?
  rm -rf "$WORK"
  return $rc
}

# the version the API server reports: helm checks charts' kubeVersion against it
v=k8s.io/component-base/version
KUBE_LDFLAGS="-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=35 -X $v.gitTreeState=clean"
KUBE_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

built=0
# group NAME OUT_DIR "PROGRAMS" MODULE_DIR LDFLAGS PACKAGE...: `go build` of PACKAGES in MODULE_DIR into OUT_DIR
group() {
  local name=$1 out=$2 programs=$3 dir=$4 ldflags=$5
  shift 5
  local want have=1 p
  want=$(cat "$dir/go.mod" "$dir/go.sum" | { cat; echo "$programs $ldflags $*"; } | sha256sum | cut -c1-16)
  for p in $programs; do [[ -x $out/$p ]] || have=0; done
  if [[ $have == 1 && -f $STAMPS/tools-$name && $(cat "$STAMPS/tools-$name") == "$want" ]]; then
    echo "cluster-tools: $name up to date ($programs)"
    return
  fi
  command -v go >/dev/null || { echo "cluster-tools: Go is not installed (needs Go >= 1.26)" >&2; exit 1; }
  local start=$SECONDS
  echo "cluster-tools: building $name ($programs)"
  (cd "$dir" && go_build build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$out/" "$@")
  for p in $programs; do [[ -x $out/$p ]] || { echo "cluster-tools: $p missing after the build" >&2; exit 1; }; done
  echo "$want" > "$STAMPS/tools-$name"
  echo "cluster-tools: built $name in $((SECONDS - start)) s"
  built=$((built + 1))
}

K=k8s.io/kubernetes/cmd
group kubernetes "$BIN" "kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy" tools/kubernetes \
  "$KUBE_LDFLAGS" $K/kube-apiserver $K/kube-controller-manager $K/kube-scheduler $K/kubelet $K/kube-proxy
group etcd "$BIN" etcd tools/etcd "-s -w" .
group kuberay "$BIN" ray-operator tools/kuberay "-s -w" github.com/ray-project/kuberay/ray-operator
group adapter "$BIN" adapter tools/prometheus-adapter "-s -w" sigs.k8s.io/prometheus-adapter/cmd/adapter
group coredns "$BIN" coredns tools/coredns "-s -w" .
C=github.com/containerd/containerd/v2/cmd
group containerd "$BIN" "containerd containerd-shim-runc-v2 ctr" tools/containerd "-s -w" \
  $C/containerd $C/containerd-shim-runc-v2 $C/ctr
P=github.com/containernetworking/plugins/plugins
group cni "$CNI" "bridge host-local loopback portmap" tools/cni "-s -w" \
  $P/main/bridge $P/ipam/host-local $P/main/loopback $P/meta/portmap

# kwok: no pinning module of its own, `go install` at its version
KWOK=sigs.k8s.io/kwok/cmd/kwok@v0.7.0
if [[ -x $BIN/kwok && -f $STAMPS/tools-kwok && $(cat "$STAMPS/tools-kwok") == "$KWOK" ]]; then
  echo "cluster-tools: kwok up to date"
else
  start=$SECONDS
  go_build install -p "$JOBS" -trimpath -ldflags '-s -w' "$KWOK"
  echo "$KWOK" > "$STAMPS/tools-kwok"
  echo "cluster-tools: built kwok in $((SECONDS - start)) s"
  built=$((built + 1))
fi
echo "cluster-tools: $built group(s) built"
