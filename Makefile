# minipacs — thin Makefile; long recipes live in scripts/.
GO      ?= go
BIN     ?= bin/minipacs
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
DATA    ?= ./minipacs-data
LISTEN  ?= 127.0.0.1:8080
FUZZTIME ?= 10s

.PHONY: all build run test test-unit deps fuzz fuzz-long bench vet clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/minipacs

## run: the server on the embedded on-disk store
run: build
	$(BIN) serve --listen $(LISTEN) --data $(DATA)

## test: everything — installs what the tests need (MinIO, DCMTK), then
## vet, the unit/integration/end-to-end tests with -race, and a short run of
## every fuzz target.
test: deps
	scripts/test

## test-unit: the Go tests only, no installs
test-unit:
	$(GO) test -race ./...

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

clean:
	rm -rf bin
