#!/usr/bin/env bash
# Runs every module's Go benchmarks once (results go to stdout; the numbers we
# quote and how they were taken are in docs/BENCHMARKS.md). Pass a pattern to
# narrow: scripts/bench.sh 'TokenAccount'
set -euo pipefail
cd "$(dirname "$0")/.."
pattern="${1:-.}"
./scripts/services.sh || true
for m in pkg proto services/*/; do
  echo "== $m"
  (cd "$m" && go test -run '^$' -bench "$pattern" -benchmem -count 1 -timeout 20m ./...) || exit 1
done
