#!/usr/bin/env bash
# Node client tests: unmodified @solana/web3.js 1.x and @solana/kit against a
# whole Firehole stack (bin/devstack: embedded NATS, geyser-sim, ingestor,
# parser, persister, cacher, gateway) on free ports, with its own Postgres
# schema, Redis key prefix and data directory, all removed afterwards.
#
# Bounded: the stack and the tests get NODE_TEST_TIMEOUT seconds (default
# 180) after the build; the build (make build) gets BUILD_TIMEOUT (600).
# Exit status: 0 only when every test passed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
budget=${NODE_TEST_TIMEOUT:-180}
postgres_url=${FIREHOLE_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test?sslmode=disable}
redis_addr=${FIREHOLE_TEST_REDIS_ADDR:-127.0.0.1:6379}
api_key=node-test-key

log() { echo "node-tests: $*" >&2; }

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  log "npm ci"
  timeout 300 npm ci --no-audit --no-fund --loglevel=error
fi

log "make build"
(cd "$root" && timeout "${BUILD_TIMEOUT:-600}" make build >/dev/null)

start=$SECONDS
remaining() { echo $((budget - (SECONDS - start))); }

eval "$(node "$here/ports.mjs")"
id=$(node -e 'console.log(require("crypto").randomBytes(4).toString("hex"))')
schema="node_test_$id"
prefix="fhnode$id:"
data=$(mktemp -d "${TMPDIR:-/tmp}/firehole-node-XXXXXX")
stack_pid=""

cleanup() {
  status=$?
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$stack_pid" 2>/dev/null; then
      log "devstack did not stop in 15s; killing it"
      kill -KILL "$stack_pid" 2>/dev/null || true
    fi
    wait "$stack_pid" 2>/dev/null || true
  fi
  if [ $status -ne 0 ] && [ -d "$data/logs" ]; then
    for f in "$data"/devstack.log "$data"/logs/*; do
      [ -f "$f" ] || continue
      echo "---- tail $f" >&2
      tail -n 25 "$f" >&2
    done
  fi
  psql "$postgres_url" -q -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null 2>&1 || log "could not drop schema $schema"
  host=${redis_addr%:*} port=${redis_addr##*:}
  redis-cli -h "$host" -p "$port" --scan --pattern "$prefix*" 2>/dev/null |
    xargs -r -n 500 redis-cli -h "$host" -p "$port" del >/dev/null 2>&1 || log "could not delete redis keys $prefix*"
  rm -rf "$data"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "devstack: http 127.0.0.1:$HTTP_PORT ws :$((HTTP_PORT + 1)) nats :$NATS_PORT schema $schema prefix $prefix"
(
  cd "$root"
  exec env \
    DEV_BIN_DIR="$root/bin" \
    DEV_DATA_DIR="$data" \
    DEV_NATS_PORT="$NATS_PORT" \
    DEV_SIM_ADDR="127.0.0.1:$SIM_PORT" \
    DEV_HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
    DEV_WS_ADDR="127.0.0.1:$((HTTP_PORT + 1))" \
    DEV_OPS_PORT_BASE="$OPS_BASE" \
    DEV_POSTGRES_URL="$postgres_url" \
    DEV_POSTGRES_SCHEMA="$schema" \
    DEV_REDIS_ADDR="$redis_addr" \
    DEV_REDIS_KEY_PREFIX="$prefix" \
    DEV_API_KEY="$api_key" \
    DEV_SIM_RATE=200 \
    DEV_COMMITMENT=confirmed \
    "$root/bin/devstack"
) >"$data/devstack.log" 2>&1 &
stack_pid=$!

rpc="http://127.0.0.1:$HTTP_PORT/?api-key=$api_key"
log "waiting for getHealth"
until curl -sf -m 2 "$rpc" -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"getHealth"}' 2>/dev/null | grep -q '"result":"ok"'; do
  if ! kill -0 "$stack_pid" 2>/dev/null; then log "devstack exited"; exit 1; fi
  if [ "$(remaining)" -le 60 ]; then log "gateway did not answer getHealth in time"; exit 1; fi
  sleep 0.5
done
log "gateway healthy after $((SECONDS - start))s; running node --test ($(remaining)s left)"

FIREHOLE_RPC_URL="$rpc" \
FIREHOLE_WS_URL="ws://127.0.0.1:$((HTTP_PORT + 1))/?api-key=$api_key" \
  timeout "$(remaining)" node --test --test-concurrency=1 --test-timeout=90000 "$here"/test/*.test.mjs
