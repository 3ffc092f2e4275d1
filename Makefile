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
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/dbctl
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/dbctl ./cmd/dbctl

.PHONY: generate
generate: ## regenerate deepcopy and the CRD from api/ with controller-gen
	$(CONTROLLER_GEN) object paths=$(CURDIR)/api/... output:object:dir=$(CURDIR)/api/v1alpha1
	$(CONTROLLER_GEN) crd paths=$(CURDIR)/api/... output:crd:artifacts:config=$(CURDIR)/config/crd/bases
