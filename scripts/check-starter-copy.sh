#!/usr/bin/env bash
# examples/starter copied out of this repository, as its README and
# docs/guide.md say: a module of its own (example.com/mygame) with its
# import paths rewritten, on this checkout of Tickwire (a replace directive
# stands in for `go get github.com/tickwire/tickwire@latest`; offline, from
# the module cache), its code regenerated with its own `make proto` (the
# web client's protoc-gen-es: web-client's node_modules, linked). Then go
# vet and go test in the copy. The web client's build is checked by
# web-client/scripts/check-starter.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r examples/starter "$tmp/mygame"
cd "$tmp/mygame"
rm -rf web/node_modules web/dist
go mod init example.com/mygame 2>/dev/null
grep -rl github.com/tickwire/tickwire/examples/starter --include='*.go' --include='*.proto' --exclude='*.pb.go' . \
  | xargs sed -i 's|github.com/tickwire/tickwire/examples/starter|example.com/mygame|'
go mod edit -go="$(cd "$repo" && go list -m -f '{{.GoVersion}}')" \
  -require=github.com/tickwire/tickwire@v0.0.0 -replace=github.com/tickwire/tickwire="$repo"
cp "$repo/go.sum" .   # the checksums of the dependencies it shares with Tickwire
GOFLAGS=-mod=mod GOPROXY=off go mod tidy
ln -s "$repo/web-client/node_modules" web/node_modules
make proto   # with $BUF when set (the root Makefile passes its prebuilt buf), else `go run`
go vet ./...
go test -count=1 ./...
echo "check-starter-copy: the starter builds and passes its tests as example.com/mygame"
