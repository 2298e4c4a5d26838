# minipacs — thin Makefile; long recipes live in scripts/.
GO      ?= go
BIN     ?= bin/minipacs
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
DATA    ?= ./minipacs-data
LISTEN  ?= 127.0.0.1:8080
FUZZTIME ?= 10s
VIEWER_DIR ?= web/viewer/dist
# The Go toolchain minipacs is built with: Go fetches it from the module
# proxy on first use (the Go of the machine only needs to be 1.21 or later).
export GOTOOLCHAIN := go1.27.3

.PHONY: all build viewer run test test-unit test-long soak deps fuzz fuzz-long bench bench-compare vet clean

all: build

build: viewer
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/minipacs

## viewer: install the OHIF viewer build (not committed) when it is missing
## or its pinned version changed; the binary serves it at /viewer/
viewer: $(VIEWER_DIR)/OHIF-VERSION

$(VIEWER_DIR)/OHIF-VERSION: web/viewer/package.json web/viewer/install.sh
	web/viewer/install.sh $(VIEWER_DIR)

## run: the server on the embedded on-disk store
run: build
	$(BIN) serve --listen $(LISTEN) --data $(DATA) --viewer-dir $(VIEWER_DIR)

## test: everything — installs what the tests need (MinIO, DCMTK), then
## vet, the unit/integration/end-to-end tests with -race, and a short run of
## every fuzz target.
test: deps
	scripts/test

## test-unit: the Go tests only, no installs
test-unit:
	$(GO) test -race ./...

## test-long: the reliability suites at full size (3,000 instances, 60
## crash trials per store); not in CI
test-long: deps
	MINIPACS_LONG=1 $(GO) test -race -count=1 -timeout 60m -run TestReliability ./cmd/minipacs

## soak: 8 STOW + 32 QIDO + 8 WADO clients for MINUTES (default 10); not in CI
soak: deps
	MINIPACS_SOAK=1 MINIPACS_SOAK_MINUTES=$${MINUTES:-10} $(GO) test -count=1 -timeout 40m -v -run TestReliabilitySoak ./cmd/minipacs

deps:
	scripts/install-deps

vet:
	$(GO) vet ./...

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz

fuzz-long:
	FUZZTIME=10m scripts/fuzz

bench:
	scripts/bench

## bench-compare: the same workloads against Orthanc and minipacs
bench-compare:
	scripts/bench-compare

clean:
	rm -rf bin
