# Silverback build targets. The two set-up commands of README.md (go build,
# go test) work without make; this adds the stamped release build and the
# rest. `make help` lists the targets.

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
OUT         ?= bin
IMAGE       ?= silverback:$(VERSION)
BENCHTIME   ?= 200ms

.PHONY: help build test test-race lint bench deploy-test docker compose-up compose-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

build: ## static release binary bin/tsdb stamped with version, commit, build date
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(OUT)/tsdb ./cmd/tsdb
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(OUT)/healthcheck ./deploy/healthcheck

test: ## every test of the main module
	$(GO) test ./...

test-race: ## every test with the race detector (needs cgo)
	CGO_ENABLED=1 $(GO) test -race ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: ## short benchmarks of the hot paths (allocs/op, samples/s)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 3 ./httpfast ./pipeline ./chunkstore ./walseg

deploy-test: ## the deployment kit's proofs: dashboard, alerts, unit, compose, examples, release binary
	$(GO) test -count=1 -v ./deploy/

docker: ## container image (needs a Docker engine)
	docker build -f deploy/Dockerfile -t $(IMAGE) \
	  --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE) .

compose-up: ## Silverback + Prometheus + node_exporter + Grafana (needs Docker Compose)
	docker compose -f deploy/docker-compose.yml up -d --build

compose-down: ## stop the compose stack (volumes are kept)
	docker compose -f deploy/docker-compose.yml down

clean: ## remove bin/
	rm -rf $(OUT)
