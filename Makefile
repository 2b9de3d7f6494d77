# ai-teams: two commands matter — `make demo` and `make test` (see README.md).
SHELL := /bin/bash
GO    ?= go
PKGS  := ./...

.PHONY: bench demo demo-down build test lint fresh-check fuzz load-bench screenshots stack-up stack-down clean

## demo: build and start the whole local stack and the three services, drive traffic, print where to look (Ctrl-C stops it)
demo:
	@scripts/demo.sh

## demo-down: stop everything `make demo` started, by pid
demo-down:
	@scripts/stack.sh down

build:
	@mkdir -p .bin && $(GO) build -o .bin/ ./cmd/...

## test: install and start what the tests need, run them all, end with one summary line (scripts/test.sh)
test:
	@scripts/test.sh

lint:
	@echo "== go vet / gofmt"
	@$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.run/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	@scripts/terraform-validate.sh

## screenshots: the console's request and health pages from a real browser into docs/img (scripts/screenshots.sh)
screenshots:
	@scripts/screenshots.sh

## fresh-check: .ci/run and make demo inside a clean Debian root (debootstrap + chroot), as on a fresh machine
fresh-check:
	@scripts/fresh-check.sh

## bench: logging (ours, slog JSON, zap, zerolog) and middleware (bare, otelhttp, naive, ours) benchmarks, each in one run, into bench/*.txt; see bench/RESULTS.md
bench:
	@cd bench && GOWORK=off $(GO) test -run XXX -bench . -benchmem -benchtime 1s -count 5 ./logging/ | tee logging.txt
	@cd bench && GOWORK=off $(GO) test -run XXX -bench . -benchmem -count 5 ./middleware/ | tee middleware.txt

## load-bench: capacity with telemetry on vs off (pinned), profiles of each service, then 80 % of it for 60 s with every trace checked (scripts/load-bench.sh; needs make demo running)
load-bench:
	@scripts/load-bench.sh

## fuzz: run each fuzz target for a while (findings land in testdata/fuzz as regression seeds)
fuzz:
	@cd telemetry && for f in FuzzTraceparent FuzzHeaders FuzzHandler FuzzLogAttributeTree FuzzTraceContextPropagator; do $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} . || exit 1; done

stack-up:
	@scripts/stack.sh up

stack-down:
	@scripts/stack.sh down

clean: demo-down
	@scripts/postgres.sh stop || true
	rm -rf .run
