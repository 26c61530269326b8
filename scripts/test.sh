#!/usr/bin/env bash
# The test command: static checks, then every module's tests against real
# Postgres and Redis and in-process NATS. Under CI=true a test that cannot
# reach its server fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/services.sh || { [ "${CI:-}" = "true" ] && exit 1; echo "continuing: tests needing the servers will skip"; }

modules=(pkg proto $(ls -d services/*/))
echo "== gofmt"
unformatted=$(gofmt -l "${modules[@]}")
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go work sync leaves no diff"
./scripts/work-sync-check.sh

echo "== go vet"
for m in "${modules[@]}"; do (cd "$m" && go vet ./...); done

echo "== go test"
status=0
for m in "${modules[@]}"; do
  echo "-- $m"
  (cd "$m" && go test -count=1 -timeout 8m ./...) || status=1
done

if [ -f services/gateway/test/node/package.json ] && command -v npm >/dev/null 2>&1; then
  echo "== node client tests"
  ./services/gateway/test/node/run.sh || status=1
fi
exit $status
