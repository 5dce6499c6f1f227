# kuma-agent build, test and packaging. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
# VERSION is what `kuma-agent version` prints: `git describe`, or 0.0.0-dev
# without git. PKG_VERSION is its dpkg/rpm form (packaging/pkgversion.sh).
# Each is computed once (the tree's dirty state may change during a build).
ifndef VERSION
VERSION := $(shell v=$$(git describe --tags --always --dirty 2>/dev/null) && [ -n "$$v" ] && echo "$$v" || echo 0.0.0-dev)
endif
ifndef PKG_VERSION
PKG_VERSION := $(shell packaging/pkgversion.sh '$(VERSION)')
endif
LDFLAGS := -s -w -X main.version=$(VERSION)
# GOTAGS are build tags for build and package. Empty for releases: only the
# e2e tests set GOTAGS=kumatesthooks (test hooks such as
# KUMA_AGENT_TEST_CLOCK_OFFSET exist only in such a build; `make demo` builds
# its own).
GOTAGS ?=
# Where build puts the binary and package puts the packages (the e2e tests
# build other versions elsewhere).
BIN ?= bin/kuma-agent
DIST ?= dist
TOOLS := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
NFPM_VERSION := v2.45.2
ARCH ?= amd64
RPM_ARCH := $(or $(if $(filter amd64,$(ARCH)),x86_64),$(if $(filter arm64,$(ARCH)),aarch64),$(ARCH))

.PHONY: help build test test-short lint fuzz bench package e2e demo deps clean

help:
	@echo "make build    build bin/kuma-agent"
	@echo "make demo     build and run a sandboxed demo cluster on loopback, with doctor output"
	@echo "make test     vet + all tests with the race detector (root tests skip loudly without root)"
	@echo "make lint     gofmt, go vet, staticcheck"
	@echo "make fuzz     run every fuzz target briefly (FUZZTIME=20s)"
	@echo "make bench    run the benchmarks quoted in the notes"
	@echo "make package  build .deb and .rpm into dist/ with nfpm $(NFPM_VERSION)"
	@echo "make e2e      the packages on real systemd: install/upgrade/remove and a 3-node cluster (root, nspawn)"
	@echo "make deps     install the Debian packages the integration tests use (root)"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kuma-agent

# As root, the systemd-nspawn tests need the cached test rootfs: built once
# (about a minute), then reused; without root they skip with a reason.
test:
	@if [ "$$(id -u)" = 0 ]; then packaging/test/rootfs.sh; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 -short ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/nfpm:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

lint: $(TOOLS)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# FUZZTIME is a duration (20s) or a count of inputs (2000x). A count has no
# deadline, so a slow input at the end cannot fail the run ("context deadline
# exceeded"); fuzz temp files go to tmpfs where there is one (disk deletes are
# slow on some VMs and stall the outbox fuzzer).
FUZZTIME ?= 20s
FUZZTMP := $(shell [ -d /dev/shm ] && echo /dev/shm || echo /tmp)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; TMPDIR=$(FUZZTMP) $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg; \
	  done; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/inventory/ ./internal/doctor/

package: build $(TOOLS)/nfpm
	@case '$(PKG_VERSION)' in ''|[!0-9]*|*[!A-Za-z0-9.+~]*) echo "package: bad package version '$(PKG_VERSION)'" >&2; exit 1;; esac
	@if $(GO) version -m $(BIN) | grep -q 'kumatesthooks'; then \
	  case '$(GOTAGS)' in *kumatesthooks*) echo "package: WARNING: $(BIN) has the test hooks (GOTAGS=$(GOTAGS)): for the e2e tests only, never a release" >&2;; \
	  *) echo "package: $(BIN) has the test hooks but GOTAGS does not ask for them" >&2; exit 1;; esac; fi
	rm -rf $(DIST) && mkdir -p $(DIST)
	BIN=$(BIN) VERSION=$(PKG_VERSION) ARCH=$(ARCH) $(TOOLS)/nfpm package --config nfpm.yaml --packager deb --target $(DIST)/kuma-agent_$(PKG_VERSION)_$(ARCH).deb
	BIN=$(BIN) VERSION=$(PKG_VERSION) ARCH=$(ARCH) $(TOOLS)/nfpm package --config nfpm.yaml --packager rpm --target $(DIST)/kuma-agent-$(PKG_VERSION).$(RPM_ARCH).rpm
	@ls -l $(DIST)/

# The packages on real systemd (systemd-nspawn containers in network
# namespaces, root): test/e2e/packages builds them with `make package` (this tree's
# version and a newer build for upgrades), installs, upgrades and removes them,
# and runs a 3-node Raft cluster from them. Every container, cgroup and
# namespace is removed afterwards, also on failure (nspawnlab).
E2E_TIMEOUT ?= 30m
e2e: $(TOOLS)/nfpm rootfs
	@if [ "$$(id -u)" != 0 ]; then echo "make e2e needs root (systemd-nspawn, network namespaces)"; exit 1; fi
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/packages/

# The demo shows a skewed clock with the test hook: its own test build.
demo:
	CGO_ENABLED=0 $(GO) build -trimpath -tags kumatesthooks -ldflags "$(LDFLAGS)" -o bin/kuma-agent-demo ./cmd/kuma-agent
	$(GO) run ./cmd/kuma-demo --agent bin/kuma-agent-demo

deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps needs root (apt-get)"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-stream nats-server rpm dpkg-dev iproute2 nftables systemd-container debootstrap >/dev/null

# The Debian rootfs the nspawnlab tests boot (root; once, cached outside the
# repo in KUMA_ROOTFS, default /var/cache/kuma-agent/rootfs-bookworm).
.PHONY: rootfs
rootfs:
	packaging/test/rootfs.sh

clean:
	rm -rf bin dist
