#!/usr/bin/env bash
# The starter's browser client (examples/starter/web) as a team that copied
# it builds it: copied to a temp dir, @tickwire/client installed from its
# `npm pack` tarball (and the peer @bufbuild/protobuf, the workspace's copy
# packed), offline; its devDependencies (typescript, esbuild) linked from
# this workspace. Then its own scripts: `npm run typecheck`, `npm run build`.
# With an argument, copies the built dist/ there (the e2e browser check).
set -euo pipefail
cd "$(dirname "$0")/.."
web=$PWD
starter=$(cd ../examples/starter/web && pwd)
out=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npm pack -w @tickwire/client --pack-destination "$tmp" --silent >/dev/null
tarball=$(ls "$tmp"/tickwire-client-*.tgz)
peer=$(cd "$tmp" && npm pack "$web/node_modules/@bufbuild/protobuf" --ignore-scripts --silent)

app=$tmp/app
mkdir -p "$app"
(cd "$starter" && tar --exclude=node_modules --exclude=dist -cf - .) | (cd "$app" && tar -xf -)
cd "$app"
# The starter's package.json without its dependency lists: the install
# below adds the two packed tarballs (offline); the dev tools are linked.
node -e '
  const fs = require("fs");
  const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
  for (const k of ["@tickwire/client", "@bufbuild/protobuf"]) if (!p.dependencies?.[k]) throw new Error(`package.json lacks ${k}`);
  delete p.dependencies; delete p.devDependencies;
  fs.writeFileSync("package.json", JSON.stringify(p, null, 2));'
npm install --offline --no-audit --no-fund --silent "$tarball" "$tmp/$peer"
mkdir -p node_modules/.bin
for pkg in typescript esbuild; do ln -s "$web/node_modules/$pkg" "node_modules/$pkg"; done
ln -s ../typescript/bin/tsc node_modules/.bin/tsc

npm run --silent typecheck
npm run --silent build
test -s dist/app.js && test -s dist/index.html
echo "starter web client: type-checks and bundles ($(wc -c <dist/app.js) B app.js)"
if [ -n "$out" ]; then
  mkdir -p "$out"
  cp dist/* "$out/"
fi
