#!/usr/bin/env bash
# Chaos run against a five-node cluster in docker compose: builds the static binaries and
# the image, starts the cluster, runs integration/chaos (every fault type at least once;
# CHAOS_DURATION, default 3m, of faults), and always tears the cluster down. Exits 0 with a
# reason when no Docker engine is reachable, 1 when the history shows a loss.
#
#   bash .ci/chaos.sh                      # the short run
#   CHAOS_DURATION=30m bash .ci/chaos.sh   # a long one
#   bash .ci/chaos.sh --seed 42            # extra arguments go to the harness
#   CHAOS_BUILD=0 bash .ci/chaos.sh        # reuse the image as built last time
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "chaos: skipped: no Docker engine reachable ('docker info' failed)"
  exit 0
fi
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif docker-compose version >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "chaos: skipped: neither 'docker compose' nor 'docker-compose' is installed"
  exit 0
fi

project=${CHAOS_PROJECT:-sgchaos}
duration=${CHAOS_DURATION:-3m}
# The harness stops itself after the duration plus one round of faults; this is the bound
# past which it is interrupted (it heals the nodes and prints what it has).
limit=${CHAOS_TIMEOUT:-1800}
logs=bin/chaos-logs
export SESSIONGATE_IMAGE=${SESSIONGATE_IMAGE:-sessiongated:local}
dc() { "${compose[@]}" -f docker-compose.yml -p "$project" "$@"; }

if [ "${CHAOS_BUILD:-1}" = 0 ]; then
  echo "== build: the harness only (CHAOS_BUILD=0: image $SESSIONGATE_IMAGE as it is)"
  CGO_ENABLED=0 go build -trimpath -o bin/ ./integration/chaos
else
  echo "== build (static binaries, then the image FROM scratch)"
  CGO_ENABLED=0 go build -trimpath -o bin/ ./integration/chaos
  make -s image >/dev/null
fi

teardown() {
  set +e
  mkdir -p "$logs"
  dc logs --no-color >"$logs/$project.log" 2>&1
  # A harness killed mid-fault may leave a node paused or off its network; down copes
  # with the second, not always with the first.
  for id in $(dc ps -q); do docker unpause "$id" >/dev/null 2>&1; done
  dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1
  echo "== torn down (node logs in $logs/$project.log, every operation in $logs/$project-history.jsonl)"
}
trap teardown EXIT

# Members authenticate and encrypt every link with the cluster secret; a fresh one per run.
if [ -z "${SESSIONGATE_CLUSTER_SECRET:-}" ]; then
  SESSIONGATE_CLUSTER_SECRET=$(head -c 32 /dev/urandom | base64)
  export SESSIONGATE_CLUSTER_SECRET
fi

echo "== up ($project)"
dc down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
dc up -d

echo "== chaos ($duration of faults)"
mkdir -p "$logs"
timeout --signal=INT --kill-after=120 "$limit" \
  ./bin/chaos --compose-file docker-compose.yml --project "$project" --duration "$duration" \
  --history "$logs/$project-history.jsonl" "$@"
