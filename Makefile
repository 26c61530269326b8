# Firehole: one Makefile for every module in go.work.
SHELL := /bin/bash
MODULES := pkg proto $(wildcard services/*)
SERVICES := $(notdir $(wildcard services/*))
GOBIN ?= $(shell go env GOPATH)/bin
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

.PHONY: all build test test-short vet fmt-check tidy work-sync-check proto proto-tools dev bench clean

all: build

build:
	@mkdir -p bin
	@for s in $(SERVICES); do echo "build $$s"; (cd services/$$s && go build -o ../../bin/$$s .) || exit 1; done

## test: the whole suite against real NATS (in-process), Postgres and Redis.
test:
	./scripts/test.sh

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy:
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod go mod tidy) || exit 1; done

## work-sync-check: fails when `go work sync` would change a go.mod.
work-sync-check:
	./scripts/work-sync-check.sh

proto-tools:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	GOFLAGS= go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOFLAGS= go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

## proto: regenerate the committed Go code from proto/*.proto.
proto: proto-tools
	cd proto && PATH="$(GOBIN):$$PATH" protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		geyser/geyser.proto firehole/v1/bus.proto

## dev: the whole system on this machine, no Docker needed.
dev:
	./scripts/dev.sh

bench:
	./scripts/bench.sh

clean:
	rm -rf bin
