# ai-teams: two commands matter — `make demo` and `make test` (see README.md).
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...

.PHONY: bench demo demo-down build test test-unit test-collector test-stack lint fuzz stack-up stack-down clean

## demo: build and start the whole local stack and the three services, drive traffic, print where to look (Ctrl-C stops it)
demo:
	@scripts/demo.sh

## demo-down: stop everything `make demo` started, by pid
demo-down:
	@scripts/stack.sh down

build:
	@mkdir -p .bin && $(GO) build -o .bin/ ./cmd/...

## test: lint, unit tests, the in-process slice on SQLite and PostgreSQL, the collector module, and e2e against the real stack
test: lint test-unit test-collector test-stack

lint:
	@echo "== go vet / gofmt"
	@$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.run/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	@scripts/terraform-validate.sh

test-unit:
	@echo "== unit tests and the in-process slice (SQLite + PostgreSQL)"
	@url=$$(scripts/postgres.sh start) && \
	  AI_TEAMS_TEST_POSTGRES_URL="$$url" $(GO) test -count=1 -skip '^TestStack' $(PKGS)

test-collector:
	@echo "== collector distribution and benchmark module"
	@cd collector && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 ./...
	@cd bench && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 -run XXX -bench . -benchtime 100x ./... >/dev/null

# The stack tests reuse a running demo stack; otherwise they start one and stop it after.
test-stack:
	@echo "== e2e against real collector, Jaeger and Prometheus"
	@started=0; \
	  if ! scripts/stack.sh status >/dev/null 2>&1; then scripts/stack.sh up && started=1; fi; \
	  rm -f .run/measurements.txt; \
	  AI_TEAMS_STACK=1 $(GO) test -count=1 -run 'Stack' ./e2e/; rc=$$?; \
	  [ -f .run/measurements.txt ] && sed 's/^/  measured: /' .run/measurements.txt; \
	  if [ $$rc -ne 0 ]; then tail -n 5 .run/logs/*.log; fi; \
	  if [ $$started = 1 ]; then scripts/stack.sh down >/dev/null; fi; \
	  exit $$rc

## bench: logging benchmarks (ours, slog JSON, zap, zerolog in one run) into bench/logging.txt; see bench/RESULTS.md
bench:
	@cd bench && GOWORK=off $(GO) test -run XXX -bench . -benchtime 1s -count 5 ./logging/ | tee logging.txt

## fuzz: run each fuzz target for a while (findings land in testdata/fuzz as regression seeds)
fuzz:
	@cd telemetry && for f in FuzzTraceparent FuzzHeaders FuzzHandler; do $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} . || exit 1; done

stack-up:
	@scripts/stack.sh up

stack-down:
	@scripts/stack.sh down

clean: demo-down
	@scripts/postgres.sh stop || true
	rm -rf .run
