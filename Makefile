# tokend — every task a developer or CI runs. CI runs these same targets.
GO       ?= go
GOFLAGS  ?=
PKGS     := ./...

.PHONY: run build test test-fast test-sqlite screenshots generate generate-check vet staticcheck errcheck lint lint-spec lint-ci fmt-check bench soak faults fuzz clean

## run: serve on the embedded SQLite default (./tokend.db) at 127.0.0.1:8080
run:
	$(GO) run ./cmd/tokend serve

## build: build bin/tokend
build:
	$(GO) build -o bin/tokend ./cmd/tokend

## test: every test, on SQLite and (when it answers on 127.0.0.1:5432 or
## TOKEND_TEST_DATABASE_URL is set) on PostgreSQL too
test:
	$(GO) test -count=1 -race -parallel 8 $(PKGS)

## test-fast: the behaviour tests alone, in seconds: no race detector, no
## browser, race, timing or corpus tests (they skip under -short)
test-fast:
	$(GO) test -count=1 -short -parallel 8 $(PKGS)

## screenshots: the README's pictures of the console (token list, create
## dialog, a token's page), taken by its browser test in chromium into
## docs/img, so that they show the product as it is
screenshots:
	TOKEND_SCREENSHOTS=docs/img $(GO) test -count=1 -run '^TestConsoleTokenFlows$$/^1280px$$' ./server/

## generate: regenerate gen/ from openapi.yaml
generate:
	$(GO) generate ./gen/...

## generate-check: fail if gen/ is not what openapi.yaml generates (diff or untracked files)
generate-check: generate
	@git diff --exit-code -- gen/ || (echo "gen/ is out of date: run make generate and commit" >&2; exit 1)
	@test -z "$$(git ls-files --others --exclude-standard -- gen/)" || \
		(echo "untracked generated files:" >&2; git ls-files --others --exclude-standard -- gen/ >&2; exit 1)

## vet: go vet
vet:
	$(GO) vet $(PKGS)

## fmt-check: fail on unformatted files
fmt-check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go') >&2; exit 1)

## staticcheck, errcheck: pinned here and fetched by the Go toolchain;
## errcheck's justified exclusions are in .errcheck-excludes
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ERRCHECK    := github.com/kisielk/errcheck@v1.10.0
staticcheck:
	$(GO) run $(STATICCHECK) $(PKGS)
errcheck:
	$(GO) run $(ERRCHECK) -exclude .errcheck-excludes $(PKGS)

## lint: formatting, vet, staticcheck and errcheck, all with zero findings
lint: fmt-check vet staticcheck errcheck

## lint-spec: Spectral (spectral:oas + OWASP API Top 10) and Redocly lint of
## openapi.yaml; the linters come from npm into tools/lint (pinned by its
## lockfile) and the rulesets are resolved there, so linting needs no network
LINT_BIN := tools/lint/node_modules/.bin
lint-spec: $(LINT_BIN)/spectral
	$(LINT_BIN)/spectral lint openapi.yaml --ruleset .spectral.yaml --fail-severity error --display-only-failures
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(LINT_BIN)/redocly lint openapi.yaml --config redocly.yaml

$(LINT_BIN)/spectral: tools/lint/package.json tools/lint/package-lock.json
	cd tools/lint && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## lint-ci: actionlint on .github/workflows (pinned; fetched by the Go toolchain)
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
lint-ci:
	$(GO) run $(ACTIONLINT) -no-color .github/workflows/*.yml

## bench: measure tokend end to end (PostgreSQL and SQLite) and print a
## markdown table; BENCH_FLAGS=-quick for a smoke run (see bench/README.md)
BENCH_FLAGS ?=
bench:
	$(GO) run ./bench -o bench/last-run.md $(BENCH_FLAGS)

## soak: mixed traffic against PostgreSQL for SOAK_DURATION, then checks no
## 5xx, bounded goroutine and memory growth, and every invariant (DESIGN §3)
SOAK_DURATION ?= 5m
soak:
	$(GO) run ./bench/soak -duration $(SOAK_DURATION)

## faults: fault injection (R24, internal/faults): real replicas against a
## throwaway PostgreSQL cluster of its own (never the one on 5432), with
## listeners killed and black-holed, the database stopped and restarted,
## PgBouncer, a hot standby, kill -9; needs root, the Debian PostgreSQL
## server tools and pgbouncer; figures in internal/faults/last-run.md
faults:
	TOKEND_TEST_FAULTS=1 $(GO) test -count=1 -timeout 15m -v ./internal/faults

## model: the model-based test of the rules (server/model_test.go: random
## operation sequences vs a reference model) for MODEL_DURATION, both backends
MODEL_DURATION ?= 10m
model:
	TOKEND_MODEL_DURATION=$(MODEL_DURATION) $(GO) test ./server -run '^TestModel$$' -count=1 -timeout 0 -v

## fuzz: run each fuzz target for FUZZTIME (default 30s); CI runs 3s each
FUZZTIME ?= 30s
FUZZ_TARGETS := ./internal/secret:FuzzClassify ./internal/perm:FuzzExpand \
	./server:FuzzDecodeCursor ./server:FuzzCreateTokenBody ./server:FuzzUpdateUserBody
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME); \
	done

clean:
	rm -rf bin tokend.db tokend.db-shm tokend.db-wal
