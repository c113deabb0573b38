#!/usr/bin/env bash
# `make images`: the project's container images, built on this machine from what is reachable here -- Debian's
# archive (the base root filesystem, with mmdebstrap), the project's pinned Python locks (wheels downloaded on
# the host, mounted into the build, no network inside it) and the Go module proxy (the pause binary) -- with
# buildah (Debian's), into one OCI image layout, .tools/images/oci, which the test node's containerd imports from
# (tests/node/nodekit.py). Images that share layers share blobs there: the serving image and its base take the space of
# one.
#   debian            Debian 12 minbase + python3, python3-venv, ca-certificates, libnuma1 (vLLM's CPU kernels)
#   serving-cpu-base  images/serving/cpu-base: vLLM's CPU build and Ray Serve from requirements/serving.lock
#   serving-cpu       images/serving/Dockerfile on serving-cpu-base: the image the cpu-tiny profile names
#   gateway           images/gateway/Dockerfile on debian
#   pause             tools/pause, from scratch: the sandbox image of the test node
# Cached: an image is rebuilt only when the hash of its inputs (its recipe, the files it copies, the locks, its
# parent's hash) changed; a rebuild with nothing changed takes a second. Disk is spent once: buildah's storage is
# scratch, emptied at the end (a parent a rebuild needs is loaded back from the layout: minutes for the serving
# base), the multi-GB wheels of the serving base are deleted once it is built, and the layout keeps only the
# images this script builds now. LLMSTACK_KEEP_BUILDAH=1 keeps buildah's storage (6.5 GB more, superseded images
# pruned) so that a change to the serving package rebuilds its image in seconds: for a machine with disk to spare.
# Prints each image's size and build time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=.tools/images
LAYOUT=$OUT/oci
WHEELS=.tools/wheels
STORE=.tools/buildah
VERSION=0.1.0
PY=.venv/bin/python
mkdir -p "$OUT" "$WHEELS"
rm -f "$OUT"/*.tar  # one archive per image, what this script wrote before the layout
for tool in buildah mmdebstrap go; do
  command -v "$tool" >/dev/null || { echo "images: $tool is missing: run \`make setup\`" >&2; exit 1; }
done
B=(buildah --root "$ROOT/$STORE/storage" --runroot "$ROOT/$STORE/run" --storage-driver overlay)
# buildah's storage is scratch: emptied on the way out, whatever happened (or, kept, pruned to the current images)
cleanup() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  if [[ ${LLMSTACK_KEEP_BUILDAH:-0} == 1 ]]; then
    local ref
    for ref in $("${B[@]}" images --format '{{.Name}}:{{.Tag}}' 2>/dev/null); do  # (after a failure: none known)
      [[ ${#CURRENT[@]} -eq 0 || " ${CURRENT[*]} " == *" $ref "* ]] || "${B[@]}" rmi "$ref" >/dev/null 2>&1 || true
    done
    "${B[@]}" rmi --prune >/dev/null 2>&1 || true
  else
    "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "$STORE"
  fi
  rm -rf "$WHEELS/base"
}
CURRENT=()  # the refs this run builds or keeps (filled in as they are known)
trap cleanup EXIT

hash_of() { cat "$@" | sha256sum | cut -c1-16; }
files_of() { git ls-files "$@"; }  # the tracked sources of a folder, in a stable order

built=()
# fresh NAME REF HASH: the layout holds REF, built from HASH
fresh() {
  [[ -f $OUT/$1.stamp && $(cat "$OUT/$1.stamp") == "$3" && -f $LAYOUT/index.json ]] \
    && grep -qF "\"$2\"" "$LAYOUT/index.json"
}
# in_store REF: the image is in buildah's storage (a parent a child builds FROM), else loaded from the layout
# (a relative layout path: buildah names a pulled image after the path, which must not hold `.tools`)
in_store() {
  "${B[@]}" inspect --type image "$1" >/dev/null 2>&1 \
    || "${B[@]}" tag "$(cd "$OUT" && "${B[@]}" pull -q "oci:$(basename "$LAYOUT"):$1")" "$1"
}
mb() { echo $(( $("$PY" -m llmstack.oci_layout size "$LAYOUT" "$1") / 1000000 )); }
# finish NAME REF HASH T0: put the image in the layout, write the stamp, print what was built and how long it took
# since T0 (a $SECONDS value), the push (compression) included
finish() {
  "${B[@]}" push -q "$2" "oci:$ROOT/$LAYOUT:$2"
  echo "$3" > "$OUT/$1.stamp"
  built+=("$1")
  printf 'images: built %-17s %-46s %6s MB in %4d s\n' "$1" "$2" "$(mb "$2")" $((SECONDS - $4))
}
report() {  # NAME REF: an image that was up to date
  printf 'images: up to date %-12s %-46s %6s MB\n' "$1" "$2" "$(mb "$2")"
}

# --- debian: the base root filesystem, from Debian's archive (the host's own apt sources) --------------------
PACKAGES=python3,python3-venv,ca-certificates,libnuma1
SOURCES=$(ls /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo /etc/apt/sources.list)
debian_hash=$(echo "bookworm minbase $PACKAGES" | sha256sum | cut -c1-16)
DEBIAN=localhost/llm-stack/debian:bookworm-$debian_hash
if fresh debian "$DEBIAN" "$debian_hash"; then report debian "$DEBIAN"; else
  t0=$SECONDS
  rootfs=$(mktemp --suffix=.tar)
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$SOURCES"
  c=$("${B[@]}" from scratch)
  "${B[@]}" add --quiet "$c" "$rootfs" /
  "${B[@]}" config --label org.opencontainers.image.title="Debian 12 minbase (llm-stack)" "$c"
  "${B[@]}" commit -q --rm "$c" "$DEBIAN" >/dev/null
  rm -f "$rootfs"
  finish debian "$DEBIAN" "$debian_hash" "$t0"
fi

# --- wheels: what the builds install, downloaded on the host from the pinned locks ----------------------------
# The serving base's (3 GB) only while it is built; the few the serving and gateway images add on top are kept.
SERVING_PY=.tools/serving-venv/bin/python
mkdir -p "$WHEELS/serving" "$WHEELS/gateway"
"$SERVING_PY" scripts/image_requirements.py --lock requirements/serving.lock --roots requirements/serving.in \
  --package llm-serving > "$WHEELS/serving-image.lock.tmp"
mv "$WHEELS/serving-image.lock.tmp" "$WHEELS/serving-image.lock"
download() {  # PYTHON DIR REQUIREMENTS...: the wheels of pinned requirements, no dependencies, no pip cache
  local py=$1 dir=$2
  shift 2
  "$py" -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps --only-binary=:all: \
    "${@/#/-r}" -d "$dir"
}
wheels_stamp=$(hash_of images/serving/requirements-image.txt images/gateway/requirements.txt)
if [[ ! -f $WHEELS/stamp || $(cat "$WHEELS/stamp") != "$wheels_stamp" ]]; then
  download "$SERVING_PY" "$WHEELS/serving" images/serving/requirements-image.txt
  download "$PY" "$WHEELS/gateway" images/gateway/requirements.txt
  echo "$wheels_stamp" > "$WHEELS/stamp"
fi

# bud NAME REF HASH DOCKERFILE WHEEL_DIR SMOKE [--build-arg ...]: a Dockerfile build, offline from WHEEL_DIR; then
# SMOKE (a command) runs in the new image as its user, so an image that cannot start its program is never written.
# Its time is counted from $t0, which the caller sets (so that loading the parent counts too).
bud() {
  local name=$1 ref=$2 hash=$3 dockerfile=$4 wheels=$5 smoke=$6
  shift 6
  "${B[@]}" bud --quiet --isolation chroot --layers -f "$dockerfile" -t "$ref" \
    -v "$ROOT/$wheels:/wheels:ro" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels "$@" . >/dev/null
  if [[ -n $smoke ]]; then
    local c
    c=$("${B[@]}" from -q "$ref")
    local out
    out=$("${B[@]}" run --isolation chroot "$c" -- sh -c "$smoke" 2>&1) || {
      echo "$out" >&2; echo "images: $name: \`$smoke\` failed in the new image" >&2; exit 1; }
    "${B[@]}" rm "$c" >/dev/null
  fi
  finish "$name" "$ref" "$hash" "$t0"
}

# --- serving, CPU flavour: its base, then the shared recipe on top ----------------------------------------------
base_hash=$(hash_of <(echo "$debian_hash") images/serving/cpu-base/Dockerfile images/serving/install-env.sh \
  "$WHEELS/serving-image.lock")
CPU_BASE=localhost/llm-stack/serving-cpu-base:$base_hash
if fresh serving-cpu-base "$CPU_BASE" "$base_hash"; then report serving-cpu-base "$CPU_BASE"; else
  t0=$SECONDS
  mkdir -p "$WHEELS/base"
  cp "$WHEELS/serving-image.lock" "$WHEELS/base/"
  download "$SERVING_PY" "$WHEELS/base" "$WHEELS/base/serving-image.lock"
  echo "images: serving base wheels downloaded in $((SECONDS - t0)) s ($(du -sh "$WHEELS/base" | cut -f1))"
  t0=$SECONDS
  in_store "$DEBIAN"
  bud serving-cpu-base "$CPU_BASE" "$base_hash" images/serving/cpu-base/Dockerfile "$WHEELS/base" "" \
    --build-arg DEBIAN="$DEBIAN"
  rm -rf "$WHEELS/base"
fi
serving_hash=$(hash_of <(echo "$base_hash") $(files_of images/serving))
SERVING=localhost/llm-stack/serving:$VERSION-cpu
if fresh serving-cpu "$SERVING" "$serving_hash"; then report serving-cpu "$SERVING"; else
  t0=$SECONDS
  in_store "$CPU_BASE"
  # vLLM's CPU kernels load, as vLLM picks them for this CPU (_C needs AVX-512 BF16; AVX2-only machines, e.g.
  # many AMD EPYC hosts, load _C_AVX2, and a bare `import vllm._C` dies there with SIGILL), the command runs
  bud serving-cpu "$SERVING" "$serving_hash" images/serving/Dockerfile "$WHEELS/serving" \
    "python3 -c 'import torch; from vllm.platforms import current_platform as p; p.import_kernels(); torch.ops._C.rms_norm; import ray.serve.llm' && llm-serving --help" \
    --build-arg BASE="$CPU_BASE"
fi

# --- gateway ------------------------------------------------------------------------------------------------------
gateway_hash=$(hash_of <(echo "$debian_hash") $(files_of images/gateway))
GATEWAY=localhost/llm-stack/gateway:$VERSION
if fresh gateway "$GATEWAY" "$gateway_hash"; then report gateway "$GATEWAY"; else
  t0=$SECONDS
  in_store "$DEBIAN"
  bud gateway "$GATEWAY" "$gateway_hash" images/gateway/Dockerfile "$WHEELS/gateway" \
    "llm-gateway hash-key smoke && python3 -c 'import llm_gateway.app'" --build-arg BASE="$DEBIAN"
fi

# --- pause: a static binary in an otherwise empty image ----------------------------------------------------------
pause_hash=$(hash_of $(files_of tools/pause))
PAUSE=localhost/llm-stack/pause:$VERSION
if fresh pause "$PAUSE" "$pause_hash"; then report pause "$PAUSE"; else
  t0=$SECONDS
  bin=$(mktemp -d)
  (cd tools/pause && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local go build -trimpath -ldflags '-s -w' \
    -o "$bin/pause" .)
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy --quiet --chmod 0755 "$c" "$bin/pause" /pause
  "${B[@]}" config --entrypoint '["/pause"]' --user 65535:65535 \
    --label org.opencontainers.image.title="pause (llm-stack test node)" "$c"
  "${B[@]}" commit -q --rm "$c" "$PAUSE" >/dev/null
  rm -rf "$bin"
  finish pause "$PAUSE" "$pause_hash" "$t0"
fi
CURRENT=("$DEBIAN" "$CPU_BASE" "$SERVING" "$GATEWAY" "$PAUSE")
"$PY" -m llmstack.oci_layout prune "$LAYOUT" "${CURRENT[@]}" | sed 's/^/images: /'
echo "images: ${#built[@]} built${built:+ (${built[*]})}, in the OCI layout $LAYOUT ($(du -sh "$LAYOUT" | cut -f1))"
