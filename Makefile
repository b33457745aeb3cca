# holdline — the commands a newcomer needs are `make dev` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Build tags of the production binary, both documented by their libraries:
# grpcnotrace drops golang.org/x/net/trace, whose init registers /debug
# pages rendered by html/template (reachable template execution turns off
# the linker's dead-method elimination); disable_grpc_modules drops Cloud
# Storage's gRPC transport (DirectPath, xDS, RLS), which holdline never
# uses: it talks to GCS over the JSON API. Together: 60 MB -> 47 MB.
TAGS    := grpcnotrace,disable_grpc_modules

.PHONY: dev sim test test-short test-stress fuzz build generate lint vet fmt bench soak docker

dev: ## run the sidecar in dev mode (simulated upstreams, recordings in a directory)
	$(GO) run ./cmd/holdline serve --dev

sim: ## the simulators in their own process (CRM + GCS emulator) for serve --dev --sim http://127.0.0.1:7070
	$(GO) run ./cmd/holdline-sim --listen 127.0.0.1:7070

test: ## the test command CI runs: installs redis-server/chromium if missing, vet, gofmt, tidy, go test (every step runs; summary at the end)
	scripts/test

test-short: ## skip the slow end-to-end tests
	scripts/test -short

test-stress: ## the timing-sensitive packages with -race -count=20 while every core spins (COUNT=N to change)
	scripts/stress

fuzz: ## the spec property test, long: COUNT requests of each kind per operation (default 500), SEED (default: the clock; the test logs it)
	HOLDLINE_PROPERTY_COUNT=$(or $(COUNT),500) HOLDLINE_PROPERTY_SEED=$(or $(SEED),$(shell date +%s)) \
		$(GO) test -count=1 -v -timeout 30m -run TestPropertySpec ./internal/contract/

build: ## a static binary in ./bin (the production one: no simulators of GCS, see cmd/holdline-sim)
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o bin/holdline ./cmd/holdline

generate: ## regenerate the servers and clients from openapi/*.yaml and the /ui pages from gateway/*.templ (go tool templ)
	$(GO) generate ./gateway/... ./internal/contract/

lint: ## lint openapi/*.yaml with redocly (recommended) and spectral (spectral:oas); installs the pinned tools with npm on first use
	scripts/lint

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.gen\.go$$')

bench: ## the benchmark harness (writes docs/benchmarks.md); QUICK=1 for a short run
	$(GO) run ./bench $(if $(QUICK),-quick,)

soak: ## 30 minutes of mixed traffic with the CRM flapping, memory sampled every 10 s (DURATION=5m to shorten, RATE=N rps); writes bench/out/soak.md
	$(GO) run ./bench -only soak -soak-duration $(or $(DURATION),30m) -soak-rate $(or $(RATE),1000) -doc bench/out/soak.md -doc-json ''

docker:
	docker build -t holdline:$(VERSION) .
