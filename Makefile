# kuma-agent build, test and packaging. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo 0.0.0-dev)
# Package managers need a version that starts with a digit.
PKG_VERSION := $(shell echo '$(VERSION)' | sed -E '/^[0-9]+\.[0-9]/!s/^/0.0.0~git/')
LDFLAGS := -s -w -X main.version=$(VERSION)
TOOLS := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
NFPM_VERSION := v2.45.2
ARCH ?= amd64

.PHONY: help build test test-short lint fuzz bench package demo deps clean

help:
	@echo "make build    build bin/kuma-agent"
	@echo "make demo     build and run a sandboxed demo cluster on loopback, with doctor output"
	@echo "make test     vet + all tests with the race detector (root tests skip loudly without root)"
	@echo "make lint     gofmt, go vet, staticcheck"
	@echo "make fuzz     run every fuzz target briefly (FUZZTIME=20s)"
	@echo "make bench    run the benchmarks quoted in the notes"
	@echo "make package  build .deb and .rpm into dist/ with nfpm $(NFPM_VERSION)"
	@echo "make deps     install the Debian packages the integration tests use (root)"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/kuma-agent ./cmd/kuma-agent

test:
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
	$(GO) test -run '^$$' -bench . -benchmem ./inventory/ ./doctor/

package: build $(TOOLS)/nfpm
	rm -rf dist && mkdir -p dist
	VERSION=$(PKG_VERSION) ARCH=$(ARCH) $(TOOLS)/nfpm package --config nfpm.yaml --packager deb --target dist/
	VERSION=$(PKG_VERSION) ARCH=$(ARCH) $(TOOLS)/nfpm package --config nfpm.yaml --packager rpm --target dist/
	@ls -l dist/

demo: build
	$(GO) run ./cmd/kuma-demo --agent bin/kuma-agent

deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make deps needs root (apt-get)"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-stream nats-server rpm dpkg-dev iproute2 nftables >/dev/null

clean:
	rm -rf bin dist
