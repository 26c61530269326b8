#!/usr/bin/env bash
# Fails when `go work sync` would change a module's go.mod or go.sum, i.e.
# when a module's requirements lag behind the workspace's.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(ls go.work pkg/go.mod proto/go.mod services/*/go.mod; ls pkg/go.sum proto/go.sum services/*/go.sum 2>/dev/null || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in $files; do mkdir -p "$tmp/$(dirname "$f")"; cp "$f" "$tmp/$f"; done
go work sync
changed=0
for f in $files; do
  if ! cmp -s "$f" "$tmp/$f"; then
    echo "go work sync changes $f:"; diff -u "$tmp/$f" "$f" || true
    cp "$tmp/$f" "$f"
    changed=1
  fi
done
if [ "$changed" = 1 ]; then echo "run 'go work sync' and commit the result"; exit 1; fi
echo "ok"
