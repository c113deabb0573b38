#!/usr/bin/env bash
# `make test`: every test tier in order, each timed, all run even when one fails.
# A tier that collects no test fails (pytest exit 5 must not pass silently).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
declare -a NAMES=() RESULTS=() TIMES=() FREE=()
failed=0
free_gb() { df -P -k "${1:-.}" | awk 'NR==2 {printf "%.1f", $4 / 1048576}'; }  # GB free where a path lives
# the images, Go builds and test clusters need tens of GB: the free disk is part of every tier's line
echo "disk: $(free_gb) GB free for the checkout, $(free_gb /tmp) GB for /tmp"

run_tier() {  # name command...
  local name=$1; shift
  printf '\n\033[1m=== tier %s: %s\033[0m\n' "$name" "$*"
  local start end rc
  start=$(date +%s%N)
  "$@"; rc=$?
  end=$(date +%s%N)
  if [[ $rc -eq 5 ]]; then
    echo "tier $name: pytest collected no tests (exit 5) -- treated as a failure"
  fi
  NAMES+=("$name"); local ds=$(( (end - start) / 100000000 ))  # tenths of a second
  TIMES+=("$((ds / 10)).$((ds % 10))")
  FREE+=("$(free_gb)")
  if [[ $rc -eq 0 ]]; then RESULTS+=("ok"); else RESULTS+=("FAILED (exit $rc)"); failed=1; fi
  echo "tier $name: $(free_gb) GB free after it"
}

TIERS="${TIERS:-lint unit chart serving gateway observability demo cluster node}"
for tier in $TIERS; do
  case $tier in
    lint)  run_tier lint .venv/bin/ruff check src tests scripts images ;;
    unit)  run_tier unit "$PY" -m pytest tests/unit ;;
    chart) run_tier chart "$PY" -m pytest tests/chart tests/cli ;;
    serving) run_tier serving "$PY" -m pytest tests/serving ;;
    gateway) run_tier gateway "$PY" -m pytest tests/gateway ;;
    observability) run_tier observability "$PY" -m pytest tests/observability ;;
    demo) run_tier demo "$PY" -m pytest tests/demo ;;
    cluster)  # the Go builds are timed as their own line: cold in CI, a stamp check when warm
      run_tier cluster-tools bash scripts/build-cluster-tools.sh
      run_tier cluster "$PY" -m pytest -raP tests/cluster ;;  # -raP: what each phase took, passed or not
    node)  # the images likewise: minutes cold, seconds when nothing changed
      run_tier cluster-tools bash scripts/build-cluster-tools.sh
      run_tier images bash scripts/build-images.sh
      run_tier node "$PY" -m pytest -raP tests/node ;;
    *) echo "unknown tier: $tier"; exit 2 ;;
  esac
done

printf '\n\033[1m=== test tiers\033[0m (time, GB free after)\n'
for i in "${!NAMES[@]}"; do
  printf '  %-13s %8ss  %6s GB  %s\n' "${NAMES[$i]}" "${TIMES[$i]}" "${FREE[$i]}" "${RESULTS[$i]}"
done
exit $failed
