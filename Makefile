# vigie — Prometheus-style build. `make run` starts the exporter and the
# router on the quick start configuration (deploy/quickstart); `make test`
# runs every test (CI runs it too).

GO        ?= go
FUZZTIME  ?= 10s
VERSION   := $(shell cat VERSION)
REVISION  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILDUSER := $(shell whoami)@$(shell hostname)
BUILDDATE := $(shell date -u +%Y%m%d-%H:%M:%S)
PKG       := github.com/prometheus/common/version
LDFLAGS   := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH) \
             -X $(PKG).BuildUser=$(BUILDUSER) -X $(PKG).BuildDate=$(BUILDDATE)
BINARIES  := $(patsubst cmd/%/,%,$(dir $(wildcard cmd/*/main.go)))

# golangci-lint, installed from the Go module proxy when missing or of
# another version (.golangci.yml is written for it).
GOLANGCI_LINT_VERSION := 2.14.0
GOLANGCI_LINT         ?= $(shell $(GO) env GOPATH)/bin/golangci-lint

.PHONY: cluster-killloop all build run test unit fuzz vet lint bench promu-build tarball docker clean

all: build test

build:
	@for b in $(BINARIES); do \
		echo ">> building $$b"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $$b ./cmd/$$b || exit 1; \
	done

run: build
	scripts/run.sh

test: vet lint unit fuzz

vet:
	@echo ">> checking formatting"
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	@echo ">> go vet"
	$(GO) vet ./...

unit:
	@echo ">> running tests"
	$(GO) test -count=1 -timeout 30m ./...

fuzz:
	@echo ">> fuzzing each target for $(FUZZTIME)"
	@scripts/fuzz.sh $(FUZZTIME)

lint:
	@$(GOLANGCI_LINT) --version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION) " || { \
		echo ">> installing golangci-lint v$(GOLANGCI_LINT_VERSION)"; \
		GOBIN="$(dir $(GOLANGCI_LINT))" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); }
	@echo ">> golangci-lint"
	$(GOLANGCI_LINT) run ./...

# A measurement, not a test of make test: SIGKILLs random members of a
# three-router cluster on a real Consul and prints the notifications lost
# and duplicated (KILLS=30 by default; SEED=n replays a run).
KILLS ?= 30
cluster-killloop:
	@echo ">> cluster kill loop ($(KILLS) kills)"
	VIGIE_CONSUL_BIN="$${VIGIE_CONSUL_BIN:-$$(../shared/tools/install-consul)}" VIGIE_CLUSTER_KILLS=$(KILLS) VIGIE_CLUSTER_SEED=$(SEED) \
		$(GO) test -count=1 -timeout 60m -run '^TestClusterKillLoop$$' -v ./cmd/vigie_router/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The history's memory and disk per check at 10,000 and 100,000 checks,
# and the status pages' timings at 10,000 checks (docs/history.md).
.PHONY: bench-history
bench-history:
	$(GO) test -run '^$$' -bench Footprint -benchtime=1x ./alertrouter/history/
	$(GO) test -run '^$$' -bench 'SummaryWithHistory|ChecksList|CheckPage|GroupsPage|PublicPage' -benchtime=20x ./alertrouter/web/

# Side-by-side /probe comparison with Debian's prometheus-blackbox-exporter
# (installed when missing); BENCH_COMPARE_FLAGS are passed on, e.g.
# make bench-compare BENCH_COMPARE_FLAGS='-scenarios tcp -rounds 5'.
.PHONY: bench-compare
bench-compare:
	scripts/bench-compare.sh $(BENCH_COMPARE_FLAGS)

# Scale test: vigie_router and vigie_exporter watching 10,000 loopback
# targets every 15 s for 3m30s (docs/performance.md); BENCH_SCALE_FLAGS are
# passed on, e.g. make bench-scale BENCH_SCALE_FLAGS='-targets 20000 -interval 10s'.
.PHONY: bench-scale
bench-scale:
	@mkdir -p .build
	$(GO) build -o .build/benchcompare ./tools/benchcompare
	.build/benchcompare scale $(BENCH_SCALE_FLAGS)

# /sd with 100,000 targets, timed as Prometheus asks for it (README,
# "Performance"); BENCH_SD_FLAGS are passed on, e.g. BENCH_SD_FLAGS='-shards 2'.
.PHONY: bench-sd
bench-sd:
	@mkdir -p .build
	$(GO) build -o .build/benchcompare ./tools/benchcompare
	.build/benchcompare sd $(BENCH_SD_FLAGS)

# One exporter against two shards (--discovery.shard) under the same
# scheduled load; BENCH_SHARDS_FLAGS are passed on.
.PHONY: bench-shards
bench-shards:
	@mkdir -p .build
	$(GO) build -o .build/benchcompare ./tools/benchcompare
	.build/benchcompare shards $(BENCH_SHARDS_FLAGS)

# promu builds both binaries with version information into .build/ and
# packs them with README, docs/, LICENSE and the default config into .tarballs/.
promu-build:
	scripts/promu.sh build --prefix .build

tarball: promu-build
	scripts/promu.sh tarball --prefix .tarballs .build

# Container images, the Prometheus way: promu builds the binaries into
# .build/linux-<arch>/, scripts/docker-rootfs.sh assembles the base (CA
# certificates, time zones, a nobody user) from this host, and the
# Dockerfile copies both onto scratch. No registry is needed. DOCKER=podman
# works too.
DOCKER           ?= docker
DOCKER_ARCH      ?= $(shell $(GO) env GOARCH)
DOCKER_IMAGE_TAG ?= dev

docker:
	GOOS=linux GOARCH=$(DOCKER_ARCH) scripts/promu.sh build --prefix .build/linux-$(DOCKER_ARCH)
	scripts/docker-rootfs.sh .build/docker-rootfs
	@for target in exporter router; do \
		echo ">> building image vigie-$$target:$(DOCKER_IMAGE_TAG)"; \
		$(DOCKER) build -f deploy/docker/Dockerfile --build-arg OS=linux --build-arg ARCH=$(DOCKER_ARCH) \
			--target $$target -t vigie-$$target:$(DOCKER_IMAGE_TAG) . || exit 1; \
	done

clean:
	rm -rf $(BINARIES) .build .tarballs
