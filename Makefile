# Tickwire. `make run` starts the sample game on :8080 (-dev: the monitor's URL is logged); `make test` runs every test.
GO      ?= go
# buf comes prebuilt from the npm package @bufbuild/buf, pinned in
# web-client/package-lock.json (installed by `npm ci`, see deps below).
BUF     ?= $(CURDIR)/web-client/node_modules/.bin/buf
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
ADDR    ?= :8080
BENCH   ?= .
COUNT   ?= 6

.PHONY: run test test-go test-web deps proto check-generated check-starter-copy web check-web bench lint cluster fuzz loadtest

run:
	$(GO) run ./examples/arena -addr $(ADDR) -dev

## test: every test: generated code fresh, vet, Go tests with the race detector, the starter copied out, web tests.
test: check-generated lint test-go check-starter-copy test-web

test-go:
	$(GO) test -race -count=1 ./...

test-web:
	@if [ -f web-client/package.json ]; then $(MAKE) -C web-client test; fi

## deps: the web tooling and buf (npm ci in web-client, when the lockfile changed).
deps: web-client/node_modules/.package-lock.json

web-client/node_modules/.package-lock.json: web-client/package.json web-client/package-lock.json
	cd web-client && npm ci --no-audit --no-fund

## proto: regenerate Go and TypeScript code from the .proto files.
proto: deps
	$(BUF) generate
	cd examples/starter && PATH="$(CURDIR)/web-client/node_modules/.bin:$$PATH" $(BUF) generate

check-generated: deps
	BUF=$(BUF) ./scripts/check-generated.sh

## check-starter-copy: examples/starter copied out as its own module (its README's steps) builds and passes its tests.
check-starter-copy: deps
	BUF=$(BUF) ./scripts/check-starter-copy.sh

## web: build the browser bundle that examples/arena embeds.
web:
	@if [ -f web-client/package.json ]; then $(MAKE) -C web-client build; fi

## lint: gofmt, go vet, staticcheck, go.mod/go.sum tidy, buf lint.
lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) mod tidy -diff
	$(BUF) lint
	cd examples/starter && $(BUF) lint

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) ./...

fuzz:
	./scripts/fuzz.sh

cluster:
	./scripts/cluster.sh

loadtest:
	$(GO) run ./examples/loadtest
