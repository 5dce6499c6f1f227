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
# Who the packages name as maintainer (deb Maintainer, rpm Packager, the
# changelog's entry for the build) and the project's homepage. A site that
# builds its own packages sets PKG_MAINTAINER to itself: `make package
# PKG_MAINTAINER='Ops Team <ops@example.org>'`.
PKG_MAINTAINER ?= kuma-agent developers <kuma-agent@users.noreply.github.com>
PKG_HOMEPAGE ?= https://github.com/kuma-agent/kuma-agent
# The packages' revision (deb Debian revision, rpm Release) of one
# upstream version: a rebuild of the same tree with new packaging only.
PKG_RELEASE ?= 1
# What `make package` generates from the binary and the tree before nfpm
# runs (manual page, shell completion, changelog); nfpm.yaml reads it here.
PKG_GEN := build/package
RPM_ARCH := $(or $(if $(filter amd64,$(ARCH)),x86_64),$(if $(filter arm64,$(ARCH)),aarch64),$(ARCH))

# What `make deps` installs, and the tools the root targets check before
# they start (internal/testlab knows each tool's Debian package; its tests
# keep these lists and that table in step). `make rootfs` checks for
# debootstrap itself, only when it has a rootfs to build.
DEPS_PACKAGES := nginx-light libnginx-mod-stream nats-server rpm dpkg-dev iproute2 nftables \
	systemd-container debootstrap \
	etcd-server etcd-client \
	prometheus victoria-metrics rsyslog \
	lintian rpmlint man-db zsh chromium \
	ansible-core openssh-client
# make test as root: the network-namespace and systemd-nspawn tests.
TEST_ROOT_TOOLS := systemd-nspawn nsenter ip
# make e2e: those, plus dpkg-deb to read the .deb and dpkg/rpm to compare
# versions (nfpm is built into .tools by the target itself), nft to block a
# port in a host's namespace; ansible-playbook and the ssh client for TestAnsibleDeploy.
# etcd: TestControlPlane and TestAcuraClusterOnSystemd (the kube-apiserver is built by the target).
E2E_TOOLS := $(TEST_ROOT_TOOLS) dpkg dpkg-deb rpm nft man ansible-playbook ssh ssh-keygen etcd
# make package-lint: Debian's and RPM's package checkers.
PACKAGE_LINT_TOOLS := lintian rpmlint

# $(call need,TOOLS) is a shell command that stops the recipe at once, with
# one line naming every missing tool and the command that installs it.
need = m=; for t in $(1); do command -v $$t >/dev/null 2>&1 || m="$$m $$t"; done; \
	if [ -n "$$m" ]; then echo "make $@: missing tool(s)$$m: run \`make deps\` as root" >&2; exit 1; fi
# $(call needroot,WHY) stops the recipe unless it runs as root.
needroot = if [ "$$(id -u)" != 0 ]; then echo "make $@ needs root ($(1))" >&2; exit 1; fi

.PHONY: help build test test-short lint fuzz bench package package-lint e2e demo deps clean monitoring-check

help:
	@echo "make build    build bin/kuma-agent"
	@echo "make demo     build and run a sandboxed demo cluster on loopback, with doctor output"
	@echo "make test     vet + all tests with the race detector (as root also the netns/nspawn tests:"
	@echo "              needs make deps; without root they skip loudly)"
	@echo "make lint     gofmt, go vet, staticcheck"
	@echo "make fuzz     run every fuzz target briefly (FUZZTIME=20s)"
	@echo "make bench    run the benchmarks quoted in the notes (test/bench/doctor.sh: the real binary)"
	@echo "make package  build .deb and .rpm into dist/ with nfpm $(NFPM_VERSION)"
	@echo "make package-lint  lintian and rpmlint on dist/: fails on an error without a reasoned override"
	@echo "make e2e      test/e2e/packages on real systemd: install/upgrade/remove and a 3-node cluster; continuous cluster checks"
	@echo "              (root, nspawn; make deps first)"
	@echo "make rootfs   the Debian rootfs the nspawn test hosts boot (root, once, cached)"
	@echo "make kube-apiserver  build (once, cached) the real kube-apiserver the control-plane tests run"
	@echo "make deps     install the Debian packages the integration tests use (root)"
	@echo "make monitoring-check  promtool check/test of packaging/monitoring's alert rules (make deps: prometheus)"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kuma-agent

# As root, the network-namespace and systemd-nspawn tests run: their tools
# are checked first (`make deps`), and the cached test rootfs is built once
# (about a minute), then reused. Without root they skip with a reason.
test:
	@if [ "$$(id -u)" = 0 ]; then $(call need,$(TEST_ROOT_TOOLS)); packaging/test/rootfs.sh; \
	else echo "make test: not root: the network-namespace and systemd-nspawn tests skip (loudly)"; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	cd third_party/memberlist && $(GO) test -race -count=1 -timeout 5m -run Kuma ./

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
	rm -rf $(DIST) $(PKG_GEN) && mkdir -p $(DIST) $(PKG_GEN)
	packaging/generate.sh $(BIN) $(PKG_GEN) '$(PKG_VERSION)-$(PKG_RELEASE)' '$(PKG_MAINTAINER)'
	$(NFPM_ENV) $(TOOLS)/nfpm package --config nfpm.yaml --packager deb --target $(DIST)/kuma-agent_$(PKG_VERSION)-$(PKG_RELEASE)_$(ARCH).deb
	$(NFPM_ENV) $(TOOLS)/nfpm package --config nfpm.yaml --packager rpm --target $(DIST)/kuma-agent-$(PKG_VERSION)-$(PKG_RELEASE).$(RPM_ARCH).rpm
	@ls -l $(DIST)/

# The environment nfpm.yaml reads.
NFPM_ENV = BIN=$(BIN) VERSION=$(PKG_VERSION) RELEASE=$(PKG_RELEASE) ARCH=$(ARCH) PKG_GEN=$(PKG_GEN) \
	MAINTAINER='$(PKG_MAINTAINER)' HOMEPAGE='$(PKG_HOMEPAGE)'

# lintian and rpmlint on the packages in DIST (after `make package`): any
# error that packaging/lint has no reasoned override for fails the target.
package-lint:
	@$(call need,$(PACKAGE_LINT_TOOLS))
	packaging/lint/lint.sh $(DIST)

# The packages on real systemd (systemd-nspawn containers in network
# namespaces, root): test/e2e/packages builds them with `make package` (this
# tree's version and a newer build for upgrades), installs, upgrades and
# removes them, and runs a 3-node Raft cluster from them. Every container,
# cgroup and namespace is removed afterwards, also on failure (nspawnlab).
# Root and the tools are checked before anything is built. TestControlPlane
# runs real agents against a real etcd and kube-apiserver (built once and
# cached by `make kube-apiserver`) in network namespaces, about 6 minutes.
E2E_TIMEOUT ?= 30m
e2e:
	@$(call needroot,systemd-nspawn and network namespaces)
	@$(call need,$(E2E_TOOLS))
	@$(MAKE) --no-print-directory $(TOOLS)/nfpm rootfs kube-apiserver
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v ./test/e2e/packages/
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v -run '^TestClusterChecksContinuously$$' ./test/e2e/
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout 15m -v -run '^TestControlPlane$$' ./test/e2e/
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v -run '^TestRaftExecute(3|5)$$' ./test/e2e/
	KUMA_E2E=1 $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -v -run '^TestAcuraClusterOnSystemd$$' ./test/e2e/

# The alert rules the packages ship: valid, and their tests (series that
# fire and clear each rule) pass. agent/monitoring_test.go runs the same and
# checks the rules' and the dashboard's metric names against /metrics.
monitoring-check:
	@$(call need,promtool)
	cd packaging/monitoring && promtool check rules kuma-agent.rules.yml && promtool test rules kuma-agent.rules.test.yml

# The demo shows a skewed clock with the test hook: its own test build. It
# prints the status page's address; DEMO_FLAGS=--wait keeps the cluster up
# until Ctrl-C to look at it.
demo:
	CGO_ENABLED=0 $(GO) build -trimpath -tags kumatesthooks -ldflags "$(LDFLAGS)" -o bin/kuma-agent-demo ./cmd/kuma-agent
	$(GO) run ./cmd/kuma-demo --agent bin/kuma-agent-demo $(DEMO_FLAGS)

deps:
	@$(call needroot,apt-get)
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_PACKAGES) >/dev/null

# The Debian rootfs the nspawnlab tests boot (root; once, cached outside the
# repo in KUMA_ROOTFS, default /var/cache/kuma-agent/rootfs-bookworm-2; needs
# debootstrap from `make deps` only to build it).
.PHONY: rootfs
rootfs:
	@packaging/test/rootfs.sh

# A real kube-apiserver for internal/testlab/kubelab, built once from the Go
# module proxy (about 3 minutes on 2 cores) and cached outside the repo
# (KUMA_KUBE_CACHE, default /var/cache/kuma-agent as root).
.PHONY: kube-apiserver
kube-apiserver:
	@packaging/test/kube-apiserver.sh

clean:
	rm -rf bin dist build
