# gosde — make targets. `make help` lists them.
#
# The two everyday commands:
#   make demo   the main job: the demo experiments, then every tutorial notebook headless
#   make test   vet, gofmt, Go tests, the notebook tooling's tests, the notebooks
#
# Tools (Jupyter, GoNB, goimports) are installed by scripts/install-tools.sh into
# .venv/ and $(go env GOPATH)/bin; every target that needs them installs them first.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO ?= go
PYTHON ?= python3
ifndef GOSDE_BIN
GOSDE_BIN := $(or $(shell $(GO) env GOBIN 2>/dev/null),$(shell $(GO) env GOPATH 2>/dev/null)/bin)
endif
GOSDE_VENV ?= $(CURDIR)/.venv
export GOSDE_BIN GOSDE_VENV
export PATH := $(GOSDE_BIN):$(GOSDE_VENV)/bin:$(PATH)
# GoMLX must never download a PJRT plugin on its own.
export GOMLX_NO_AUTO_INSTALL ?= 1

GO_TEST_TIMEOUT ?= 20m
# Packages for test-go: `make test-go GO_TEST_PKGS=./pkg/diffeq/`.
GO_TEST_PKGS ?= ./...
# Notebooks to execute: `make notebooks NB=notebooks/01-foo.ipynb`.
NB ?=
NB_SOURCES := $(wildcard notebooks/src/*.go.md)
DOCKER ?= docker
IMAGE ?= gosde

.PHONY: help tools test test-go fuzz fuzz-short fuzz-run vet fmt-check test-scripts notebooks notebooks-gen \
	notebooks-check-gen demo lab bench bench-peers xla-cpu test-xla gpu-bundle gpu-check browser-test docker-cpu docker-cuda clean distclean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  make %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

tools: ## install Jupyter (.venv), GoNB, goimports and the gonb kernel (idempotent)
	bash scripts/install-tools.sh

test: tools vet fmt-check test-go fuzz-short test-xla test-scripts notebooks-check-gen notebooks browser-test ## everything CI runs

test-go: ## Go tests only
	$(GO) test -timeout $(GO_TEST_TIMEOUT) $(GO_TEST_PKGS)

# Go fuzz targets (func FuzzXxx in *_test.go under pkg/, internal/, cmd/), found by name and run
# one at a time: the readers of user files (checkpoints, histories, MNIST IDX) and input checks.
FUZZTIME ?= 10m
FUZZTIME_SHORT ?= 10s
fuzz: ## run every Go fuzz target for FUZZTIME each (default 10m), one after another
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(FUZZTIME)

fuzz-short: ## run every Go fuzz target briefly (FUZZTIME_SHORT, default 10s each); part of `make test`
	@$(MAKE) --no-print-directory fuzz-run FUZZ_FOR=$(FUZZTIME_SHORT)

fuzz-run:
	@grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' pkg internal cmd | sort | while read -r f; do \
		dir="./$$(dirname "$$f")"; \
		for fn in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$f"); do \
			echo "fuzz $$dir $$fn for $(FUZZ_FOR)"; \
			$(GO) test "$$dir" -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZ_FOR) || exit 1; \
		done; \
	done

vet: ## go vet ./...
	$(GO) vet ./...

fmt-check: ## fail if a .go file is not gofmt-ed
	@files="$$(find . \( -path ./.venv -o -path ./.tools -o -path ./out -o -name node_modules \) -prune \
		-o -name '*.go' -print | xargs -r gofmt -l)"; \
	if [ -n "$$files" ]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi

test-scripts: ## unit tests of the notebook checker and generator
	$(PYTHON) -m unittest discover -s scripts -p 'test_*.py'
	$(PYTHON) -m unittest discover -s benchmarks/peers -p 'test_*.py'

notebooks: tools notebooks-gen ## execute notebooks/*.ipynb headless (GOSDE_QUICK=1) and check them; NB=... for some
	bash scripts/run-notebooks.sh $(NB)

notebooks-gen: ## regenerate notebooks/*.ipynb (and the table in notebooks/README.md) from notebooks/src/*.go.md
	$(PYTHON) scripts/mknb.py --index notebooks/README.md $(NB_SOURCES)

notebooks-check-gen: ## fail if a notebook is stale with respect to its source
	$(if $(NB_SOURCES),$(PYTHON) scripts/mknb.py --check --index notebooks/README.md $(NB_SOURCES),@true)

demo: tools ## the main job: `gosde demo` into out/demo, then the tutorials headless
	$(GO) run ./cmd/gosde demo --out out/demo
	$(MAKE) --no-print-directory notebooks

lab: tools ## JupyterLab on working copies of the notebooks (notebooks-lab/), gopls on (LAB_IP, LAB_PORT, LAB_TOKEN)
	bash scripts/lab.sh

bench: tools ## `gosde bench`
	$(GO) run ./cmd/gosde bench

# Peers from PyPI (benchmarks/peers/requirements.txt; torch's CUDA build, ~4 GB) in their own venv.
PEERS_VENV ?= $(CURDIR)/.venv-peers
PEERS_ARGS ?=
bench-peers: ## gosde beside torchsde, torchdiffeq and diffrax, interleaved; one table (PEERS_ARGS=--help)
	@if [ ! -x "$(PEERS_VENV)/bin/python" ] || ! cmp -s benchmarks/peers/requirements.txt "$(PEERS_VENV)/.requirements"; then \
		$(PYTHON) -m venv "$(PEERS_VENV)" && "$(PEERS_VENV)/bin/pip" install -q --upgrade pip && \
		"$(PEERS_VENV)/bin/pip" install -q -r benchmarks/peers/requirements.txt && \
		cp benchmarks/peers/requirements.txt "$(PEERS_VENV)/.requirements"; fi
	"$(PEERS_VENV)/bin/python" benchmarks/peers/run.py $(PEERS_ARGS)

xla-cpu: ## install a PJRT CPU plugin for GOMLX_BACKEND=xla:cpu
	bash scripts/install-xla-cpu.sh

# The core packages' tests again on the XLA CPU backend (PJRT plugin from PyPI, see docs/backends.md).
XLA_TEST_PKGS ?= ./pkg/backend/ ./pkg/diffeq/ ./pkg/nn/ ./pkg/latentsde/
test-xla: ## Go tests of the core packages on XLA CPU (installs the plugin)
	@plugin="$$(bash scripts/install-xla-cpu.sh | sed -n 's/^export GOMLX_BACKEND=//p')"; \
	echo "GOMLX_BACKEND=$$plugin"; \
	GOMLX_BACKEND="$$plugin" $(GO) test -timeout $(GO_TEST_TIMEOUT) $(XLA_TEST_PKGS)

# GPU check from binaries built here (scripts/gpu-check.sh; docs/backends.md, "Running the GPU check").
GPU_BUNDLE ?= out/gpu-bundle
gpu-bundle: ## build gosde + the core test binaries into $(GPU_BUNDLE) (and .tar.xz) to run on a CUDA machine
	bash scripts/gpu-check.sh bundle $(GPU_BUNDLE)

gpu-check: ## on a CUDA machine: tests + gosde bench from $(GPU_BUNDLE) (PLUGIN=path/xla_cuda_plugin.so, else found in jax)
	bash scripts/gpu-check.sh run --bundle $(GPU_BUNDLE) $(if $(PLUGIN),--plugin $(PLUGIN)) $(GPU_CHECK_ARGS)

browser-test: tools ## run 00-quickstart in JupyterLab in headless chromium
	bash tests/browser/run.sh

docker-cpu: ## build the CPU image ($(IMAGE):cpu)
	$(DOCKER) build -f docker/Dockerfile -t $(IMAGE):cpu .

docker-cuda: docker-cpu ## build the CUDA image ($(IMAGE):cuda) on top of $(IMAGE):cpu
	$(DOCKER) build -f docker/Dockerfile.cuda --build-arg BASE=$(IMAGE):cpu -t $(IMAGE):cuda .

clean: ## remove out/
	rm -rf out

distclean: clean ## also remove .venv/ and .tools/
	rm -rf .venv .tools
