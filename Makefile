# Untether: `make test` sets the host up and runs every test, containers
# included; `make run` starts the bridge from the default config.

GO      ?= go
TAGS    := remote exclude_graphdriver_btrfs exclude_graphdriver_devicemapper containers_image_openpgp
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/untether

# Packages that import the podman bindings build without cgo and with TAGS;
# the rest also run under the race detector.
PODMAN_PKGS := ./sandbox/podman/... ./cmd/untether/...
RACE_PKGS    = $(shell $(GO) list ./... | grep -v -e /sandbox/podman -e /cmd/untether)

.PHONY: all build test setup vet unit containers bench fuzz run clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/untether

setup:
	@./.ci/setup-host

vet:
	CGO_ENABLED=0 $(GO) vet -tags "$(TAGS)" ./...

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 $(RACE_PKGS)

containers:
	CGO_ENABLED=0 $(GO) test -tags "$(TAGS)" -count=1 -timeout 30m $(PODMAN_PKGS)

test: setup build vet unit containers

bench: setup
	CGO_ENABLED=0 $(GO) test -tags "$(TAGS)" -run '^$$' -bench Decode -cpu 1 -benchtime 2s ./cmd/untether/
	CGO_ENABLED=0 $(GO) test -tags "$(TAGS)" -run '^$$' -bench 'MessageToAnswer|SandboxCost' -benchtime 20x -timeout 30m ./cmd/untether/

ENGINES := claude codex opencode pi gemini amp

fuzz:
	for e in $(ENGINES); do \
		CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 1m ./engines/$$e/ || exit 1; \
	done
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzMarkdown -fuzztime 1m ./orchestrator/render/

run: build
	./$(BIN) run

clean:
	rm -rf bin
