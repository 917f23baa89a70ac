# Untether: `make test` sets the host up and runs every test, containers
# included; `make run` starts the bridge from the default config.

GO      ?= go
# The version `untether --version` prints: the git tag (v dropped, so that
# tag v1.2.0 prints 1.2.0), else the commit, else "dev".
VERSION ?= $(patsubst v%,%,$(shell git describe --tags --always --dirty 2>/dev/null || echo dev))
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/untether

# `make unit` needs no Podman and runs under the race detector. The tests
# that run Podman containers are in PODMAN_PKGS, or in files with the
# `containers` build tag; `make containers` runs them, under the race
# detector too (the daemon the end-to-end tests start is built with -race).
PODMAN_PKGS := ./sandbox/podman/... ./cmd/untether/...
CONTAINER_TAGGED := ./engines/enginetest/
# The end-to-end tests mostly wait on containers: this many run at once.
E2E_PARALLEL ?= 4
RACE_PKGS    = $(shell $(GO) list ./... | grep -v -e /sandbox/podman -e /cmd/untether)

.PHONY: all build test setup vet unit containers vmtest bench fuzz run clean release

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/untether

setup:
	@./.ci/setup-host

# A plain `go build ./...`, no tags and no environment, is what `go install`
# users get: it must build.
vet:
	$(GO) build ./...
	$(GO) vet -tags containers ./...

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 $(RACE_PKGS)

containers:
	CGO_ENABLED=1 $(GO) test -race -tags containers -count=1 -run 'Image' $(CONTAINER_TAGGED)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 60m -parallel $(E2E_PARALLEL) $(PODMAN_PKGS)
	# The real CLIs' protocol tests use the engine images the end-to-end
	# tests above built (`untether images base` and `images build`).
	CGO_ENABLED=1 $(GO) test -race -tags containers -count=1 -run 'RealACP' ./engines/opencode/
	CGO_ENABLED=1 $(GO) test -race -tags containers -count=1 -run 'AppServer' ./engines/codex/

test: setup build vet unit containers vmtest

# `make vmtest` (the last step of `make test`) boots a Debian 12 guest under
# QEMU (KVM when there is one, else software emulation; the
# guest image is built once with debootstrap and cached under
# ~/.cache/untether-vmtest) and runs the deployment scenarios there: setup
# through a terminal, the systemd user service with rootless Podman on
# cgroup v2, stop and restart mid-run, a crash, staging and dev side by side,
# release install and rollback, the journal, doctor. See vmtest/run.sh.
vmtest:
	@./.ci/setup-host vm
	./vmtest/run.sh

bench: setup
	$(GO) test -run '^$$' -bench Decode -cpu 1 -benchtime 2s ./cmd/untether/
	$(GO) test -run '^$$' -bench 'MessageToAnswer|SandboxCost' -benchtime 20x -timeout 30m ./cmd/untether/
	$(GO) test -run '^$$' -bench 'TelegramCallsPerRun' -benchtime 3x -timeout 30m ./cmd/untether/
	$(GO) test -run '^$$' -bench 'Outbox' -benchtime 1x ./orchestrator/telegram/
	$(GO) test -run '^$$' -bench 'Approval' -benchtime 20x -timeout 30m ./cmd/untether/
	$(GO) test -run '^$$' -bench 'LiveStdinWrite' -benchtime 200x ./sandbox/podman/
	$(GO) test -run '^$$' -bench 'FirstEvent' -benchtime 20x -timeout 30m ./cmd/untether/
	$(GO) test -run '^$$' -bench 'BridgeFootprint' -benchtime 1x -timeout 30m ./cmd/untether/

ENGINES := claude codex opencode pi gemini amp

fuzz:
	for e in $(ENGINES); do \
		CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 1m ./engines/$$e/ || exit 1; \
	done
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzMarkdown -fuzztime 1m ./orchestrator/render/

# `make release VERSION=1.2.0` (or 1.2.0-rc.1) writes what `untether release
# install 1.2.0 --from DIR` installs: DIR/untether-1.2.0-linux-<arch> and
# DIR/SHA256SUMS (of every artifact in DIR: RELEASE_DIR=DIR gathers several
# versions in one place; ARCH=arm64 adds that architecture).
ARCH          ?= $(shell $(GO) env GOARCH)
RELEASE_DIR   ?= bin/release/$(VERSION)
# -trimpath: no build host paths in a released binary. The tests clear it
# to reuse their own build's cache. CGO_ENABLED=0: a static binary, which
# runs on any Linux of its architecture.
RELEASE_FLAGS ?= -trimpath
ARTIFACT       = untether-$(VERSION)-linux-$(ARCH)

release:
	@echo '$(VERSION)' | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$' || \
		{ echo 'make release: VERSION=$(VERSION) is not X.Y.Z or X.Y.Z-rc.N' >&2; exit 2; }
	mkdir -p $(RELEASE_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build $(RELEASE_FLAGS) -ldflags "$(LDFLAGS)" \
		-o $(RELEASE_DIR)/$(ARTIFACT) ./cmd/untether
	cd $(RELEASE_DIR) && sha256sum untether-*-linux-* > SHA256SUMS

run: build
	./$(BIN) run

clean:
	rm -rf bin
