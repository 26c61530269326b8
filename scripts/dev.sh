#!/usr/bin/env bash
# The dev command: builds every service and brings the whole system up on
# this machine, no Docker. Embedded NATS with JetStream unless DEV_NATS_URL is
# set; geyser-sim as the source unless DEV_GEYSER_ENDPOINT is set. Postgres
# and Redis: the local ones (installed and started here if missing and root).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "dev: Go 1.26+ is required (https://go.dev/dl/)"; exit 1; }
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
  fi
fi
./scripts/services.sh || echo "dev: Postgres or Redis is not reachable; the persister, cacher and gateway will retry until it is"

make build
exec ./bin/devstack "$@"
