# dbctl — see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
CONTROLLER_GEN := $(GO) -C hack/tools tool controller-gen
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X github.com/dbctl-io/dbctl/cmd/version.Version=$(VERSION) \
	-X github.com/dbctl-io/dbctl/cmd/version.Commit=$(COMMIT) \
	-X github.com/dbctl-io/dbctl/cmd/version.Date=$(DATE)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/dbctl
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/dbctl ./cmd/dbctl

.PHONY: test
test: tools ## run every test: unit, real database servers, integration (envtest), end-to-end and reliability (kwok), fuzzing
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) test-e2e
	$(MAKE) test-reliability
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

# A count, not a duration: Go 1.26's fuzz coordinator can fail a run with a bare
# "context deadline exceeded" when a duration ends while a worker is busy (for
# instance minimizing a new input); see go.dev/issue/75804, fixed in Go 1.27.
# A count has no deadline to race, and a hanging input still fails on -timeout.
# 60000 inputs take one to two minutes on two CPUs.
FUZZTIME ?= 60000x
FUZZMINIMIZETIME ?= 5s
.PHONY: fuzz
fuzz: ## fuzz the spec loader for FUZZTIME inputs (default 60000x; a duration such as 10m works too)
	$(GO) test ./reconcile/load -run '^$$' -timeout 15m -fuzz FuzzLoad -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME)

.PHONY: verify
verify: ## fail when generated files are stale, code is not gofmt'ed, vet complains, a function is over 80 lines or go.mod is untidy
	$(MAKE) generate docs
	@git diff --exit-code -- api config docs/cli README.md || { echo 'generated files are stale: run make generate docs and commit the result'; exit 1; }
	@test -z "$$(git status --porcelain -- api config docs/cli)" || { git status --porcelain -- api config docs/cli; echo 'generated files are not committed'; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'run gofmt -w'; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) run ./hack/funclen -max 80 cmd phases reconcile
	$(GO) mod tidy -diff
	$(GO) -C hack/tools mod tidy -diff

.PHONY: docs
docs: ## regenerate the command reference in docs/cli from the cobra commands
	$(GO) run ./hack/gen-docs -md docs/cli -readme README.md

.PHONY: release-snapshot
release-snapshot: ## goreleaser check + a snapshot release of this platform and the image, archive and image checked
	bash hack/release-snapshot.sh

.PHONY: image
image: ## after goreleaser: the container image (OCI layout dist/image, dist/*.image.tar) from dist's linux binaries, checked; no Docker
	$(GO) run ./hack/image build -dist dist
	$(GO) run ./hack/image verify -dist dist

.PHONY: demo
demo: build tools ## start the local kwok cluster, install the CRD and reconcile examples/ to Ready
	bash hack/demo.sh

.PHONY: generate
generate: ## regenerate deepcopy and the CRD from api/ with controller-gen
	$(CONTROLLER_GEN) object paths=$(CURDIR)/api/... output:object:dir=$(CURDIR)/api/v1alpha1
	$(CONTROLLER_GEN) crd paths=$(CURDIR)/api/... output:crd:artifacts:config=$(CURDIR)/config/crd/bases

# ---------------------------------------------------------------------------
# Local Kubernetes: binaries, kwok cluster, end-to-end tests (see hack/cluster.sh,
# test/testenv and test/e2e). Everything is built from the Go module proxy and cached
# outside the repository (hack/k8s-tools.sh).
E2E_TIMEOUT ?= 20m

.PHONY: tools
tools: ## build (or reuse) kube-apiserver, etcd, kubectl, kwok... from the Go module proxy
	bash hack/k8s-tools.sh

.PHONY: cluster-up
cluster-up: ## start (or reuse) the local kwok cluster named by DBCTL_CLUSTER (default dbctl)
	bash hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## delete the local kwok cluster named by DBCTL_CLUSTER (default dbctl)
	bash hack/cluster.sh down

.PHONY: test-e2e
test-e2e: tools ## end-to-end tests (build tag e2e) against a throwaway kwok cluster
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/...

# ---------------------------------------------------------------------------
# Real database servers (issue 12): test/realengine runs the bootstrap, readiness
# and config files dbctl renders in PostgreSQL 15 and MariaDB 10.11 as local
# processes, one namespace per pod (root needed). `go test ./...` (make test) runs
# it too; it skips where the servers are missing unless DBCTL_REQUIRE_REAL_ENGINES=1.
.PHONY: real-engines
real-engines: ## install PostgreSQL 15, MariaDB 10.11, socat, iptables, shellcheck from Debian's packages (root)
	bash hack/real-engines.sh

.PHONY: test-real-engines
test-real-engines: ## only the real-server tests (fails instead of skipping)
	DBCTL_REQUIRE_REAL_ENGINES=1 $(GO) test -count=1 -timeout 15m -v ./test/realengine/...

# ---------------------------------------------------------------------------
# Benchmarks: dbctl against kubectl, and dbctl controller at scale, on a throwaway kwok cluster (issues 7, 15; see
# bench/run.sh and BENCHMARKS.md). BENCH_ARGS go to the harness (go run ./bench -h).
BENCH_ARGS ?=

.PHONY: bench
bench: ## benchmark dbctl vs kubectl (every scenario, 7+ interleaved samples) and the controller (500 Databases among 5,000 unrelated objects): bench/results.json, BENCHMARKS.md (~1.5 h on 2 cores)
	bash bench/run.sh $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: ## short benchmark for CI: small scenarios, 1-2 samples, the controller at 20 Databases, numbers printed, no timing assertions (~3 min)
	bash bench/run.sh --smoke $(BENCH_ARGS)

# ---------------------------------------------------------------------------
# Reliability (issue 6): dbctl reconcile killed with SIGKILL at random points,
# concurrent runs on one Database and one breaker state file, the control plane
# stopped and started mid-run, SIGINT/SIGTERM. End-to-end on a throwaway kwok cluster
# (test/e2e/reliability_*_test.go); `make test-e2e` skips them (they stop the
# cluster's control plane), this target runs only them (~2 min on 2 cores).
RELIABILITY_TIMEOUT ?= 30m

.PHONY: test-reliability
test-reliability: tools ## crash (kill -9), concurrent-run, API-server-restart and signal tests on kwok (~2 min)
	DBCTL_E2E_RELIABILITY=1 $(GO) test -tags e2e -count=1 -timeout $(RELIABILITY_TIMEOUT) -v -run '^TestReliability' ./test/e2e/...
