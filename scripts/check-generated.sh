#!/usr/bin/env bash
# Regenerates the protobuf code into a scratch directory and fails when the
# committed files differ (stale or hand-edited generated code).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BUF=${BUF:-$PWD/web-client/node_modules/.bin/buf} # npm ci in web-client installs it
$BUF generate -o "$tmp"
# The starter game is its own buf module (examples/starter/buf.yaml); its
# TypeScript plugin is found on PATH.
(cd examples/starter && PATH="$PWD/../../web-client/node_modules/.bin:$PATH" $BUF generate -o "$tmp/examples/starter")
status=0
while IFS= read -r f; do
  rel=${f#"$tmp"/}
  if ! cmp -s "$f" "$rel"; then
    echo "stale generated file: $rel (run 'make proto')" >&2
    status=1
  fi
done < <(find "$tmp" -type f)
# Generated files that no longer have a source.
while IFS= read -r rel; do
  [ -e "$tmp/$rel" ] || { echo "generated file without a source: $rel" >&2; status=1; }
done < <(git ls-files '*.pb.go' 'web-client/src/gen/*' 'web-client/packages/client/src/gen/*' 'web-client/packages/client/test/gen/*' 'examples/starter/web/src/gen/*' 2>/dev/null)
[ $status -eq 0 ] && echo "generated code is up to date"
exit $status
