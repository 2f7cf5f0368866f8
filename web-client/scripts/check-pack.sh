#!/usr/bin/env bash
# The SDK as a team outside this repository gets it: `npm pack` the
# @tickwire/client package, install the tarball (and its peer
# @bufbuild/protobuf, the workspace's copy packed too) into a scratch project
# in a temp dir, offline, then:
#   - type-check a tiny client (scripts/pack-fixture/main.ts) with the
#     configuration `tsc --init` writes, and again with an ES2018 target and
#     lib (the SDK must not need lib ES2022; ES2018 is what @bufbuild/protobuf's own types need);
#   - bundle it with esbuild;
#   - import the package in plain Node ESM and compare its exports with the
#     public API below (test helpers must not leak);
#   - print the packed size and the SDK's minified + gzipped size.
# Fails on any error. Needs only `npm ci` of web-client before (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
web=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tsc="node $web/node_modules/typescript/bin/tsc"
esbuild="$web/node_modules/.bin/esbuild"

npm pack -w @tickwire/client --pack-destination "$tmp" --silent >/dev/null
tarball=$(ls "$tmp"/tickwire-client-*.tgz)
echo "packed $(basename "$tarball"): $(wc -c <"$tarball") B, $(tar -tzf "$tarball" | wc -l) files"
if tar -tzf "$tarball" | grep -E '\.test\.|/test/|/src/|testing' >/dev/null; then
  echo "check-pack: the tarball holds sources or tests:" >&2
  tar -tzf "$tarball" | grep -E '\.test\.|/test/|/src/|testing' >&2
  exit 1
fi

app=$tmp/app
mkdir -p "$app/src"
cp scripts/pack-fixture/main.ts "$app/src/main.ts"
cd "$app"
cat >package.json <<JSON
{ "name": "scratch-game", "version": "0.0.0", "private": true, "type": "module" }
JSON
# The peer @bufbuild/protobuf: the workspace's installed copy, packed, so
# that the install needs neither the network nor registry metadata.
peer=$(cd "$tmp" && npm pack "$web/node_modules/@bufbuild/protobuf" --ignore-scripts --silent)
npm install --offline --no-audit --no-fund --silent "$tarball" "$tmp/$peer"

# 1. The configuration `tsc --init` writes (TypeScript $(tsc --version)).
$tsc --init >/dev/null
$tsc --noEmit -p .
# 2. An older target and lib, bundler resolution.
cat >tsconfig.es2018.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2018",
    "lib": ["ES2018", "DOM"],
    "module": "ESNext",
    "moduleResolution": "Bundler",
    "types": [],
    "strict": true,
    "noEmit": true
  },
  "include": ["src"]
}
JSON
$tsc -p tsconfig.es2018.json

# 3. Bundle.
"$esbuild" src/main.ts --bundle --format=esm --platform=browser --target=es2020 --minify --log-level=warning --outfile=dist/app.js
echo "bundled the scratch client: $(wc -c <dist/app.js) B"

# 4. Plain Node ESM import; the public API, nothing else.
want="ClockSync CloseCode ConnectionClosedError DEFAULT_INPUT_LEAD_MS DEFAULT_INTERP_DELAY_MS DecodeError ErrorCode FINAL_CLOSE_CODES InterpolationBuffer MatchmakerTicketStatus PatchError Predictor ServerError TickClock TickwireClient applyPatch backoffDelayMs describeClose lerp nextInputSendMs"
got=$(node --input-type=module -e 'const m = await import("@tickwire/client"); console.log(Object.keys(m).sort().join(" "))')
if [ "$got" != "$want" ]; then
  echo "check-pack: @tickwire/client exports changed" >&2
  echo "  want: $want" >&2
  echo "  got:  $got" >&2
  exit 1
fi

# 5. Size: everything the package exports, minified; @bufbuild/protobuf apart.
echo 'export * from "@tickwire/client";' >all.js
sdk=$("$esbuild" all.js --bundle --format=esm --minify --external:@bufbuild/protobuf --log-level=warning | gzip -9 | wc -c)
whole=$("$esbuild" all.js --bundle --format=esm --minify --log-level=warning | gzip -9 | wc -c)
echo "@tickwire/client: $sdk B gzipped (all exports, minified), $whole B with @bufbuild/protobuf"
echo "check-pack: ok"
