#!/usr/bin/env bash
# The test command: static checks, then every module's tests against real
# Postgres and Redis and in-process NATS. Under CI=true a test that cannot
# reach its server fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh || { [ "${CI:-}" = "true" ] && exit 1; echo "continuing: tests needing the servers will skip"; }

modules=(pkg proto $(ls -d services/*/))
status=0
echo "== gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; status=1; fi

echo "== go work sync leaves no diff"
./scripts/work-sync-check.sh || status=1

echo "== go vet"
for m in "${modules[@]}"; do (cd "$m" && go vet ./...) || status=1; done

echo "== go test"
for m in "${modules[@]}"; do
  echo "-- $m"
  (cd "$m" && go test -count=1 -timeout 8m ./...) || status=1
done

if [ -f services/gateway/test/node/package.json ]; then
  echo "== node client tests"
  if command -v npm >/dev/null 2>&1; then
    ./services/gateway/test/node/run.sh || status=1
  elif [ "${CI:-}" = "true" ]; then
    echo "npm is missing: the Node client tests cannot run"; status=1
  else
    echo "npm is missing: Node client tests skipped"
  fi
fi
exit $status
