# Sieve — the two commands that matter on a fresh machine:
#   make demo   set up, build release, fetch the default model, convert, inspect, pack and run it dense and sparse
#               (and docs-opt-relu, a small ReLU model where sparsity pays, packed and benchmarked dense against sparse)
#   make test   set up, then the whole test suite (and a 10 s fuzz run per reader)
#   make fuzz   fuzz every reader for FUZZ_SECONDS (default 60) each; fails on a crash, hang or runaway allocation
SHELL := /bin/bash
SWIFT ?= swift
# Release builds target the host CPU so SIMD code uses its vector units (AVX2/AVX-512 …).
NATIVE := -Xswiftc -target-cpu -Xswiftc native
RELEASE_FLAGS := -c release $(NATIVE)
SIEVE_MODELS ?= $(HOME)/.cache/sieve/models
export SIEVE_MODELS
DEMO_DIR ?= $(CURDIR)/.build-demo
SMOLLM2 := $(SIEVE_MODELS)/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MINILM := $(SIEVE_MODELS)/all-MiniLM-L6-v2
PY_DEPS := numpy gguf==0.19.0 safetensors==0.8.0 tokenizers==0.23.3 zstandard openai==3.57.0

.PHONY: all setup deps pydeps build models demo test fuzz fuzz-run bench clean

all: build

## setup: system libraries (apt when root), Python cross-check libraries, models.
setup: deps pydeps models

deps:
	@missing=""; \
	pkg-config --exists libzstd 2>/dev/null || missing="$$missing libzstd-dev"; \
	pkg-config --exists json-c 2>/dev/null || missing="$$missing libjson-c-dev"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "setup: installing$$missing"; \
	    (apt-get install -y -qq $$missing >/dev/null 2>&1 || (apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null)) \
	      || { echo "setup: apt-get install$$missing failed" >&2; exit 1; }; \
	  else \
	    echo "setup: missing$$missing. Run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi; \
	echo "setup: libzstd $$(pkg-config --modversion libzstd), json-c $$(pkg-config --modversion json-c)"

pydeps:
	@python3 -c "import numpy, gguf, safetensors, tokenizers, zstandard, openai" 2>/dev/null || { \
	  echo "setup: installing Python cross-check libraries and the openai client for the server tests ($(PY_DEPS))"; \
	  python3 -m pip install --quiet --disable-pip-version-check $(PY_DEPS); }

models:
	@bash scripts/fetch-models.sh

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product sieve

demo: setup build
	@bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/sieve"; set -e; mkdir -p "$(DEMO_DIR)"; \
	echo; echo "== inspect the default model (SmolLM2-135M-Instruct, GGUF Q4_1)"; \
	"$$bin" inspect "$(SMOLLM2)"; \
	echo; echo "== convert it to a Hugging Face folder (f16 safetensors, config.json, tokenizer.json), inspect and run it"; \
	"$$bin" convert "$(SMOLLM2)" -o "$(DEMO_DIR)/smollm2-f16" --to safetensors --dtype f16 --force; \
	"$$bin" inspect "$(DEMO_DIR)/smollm2-f16"; \
	"$$bin" run "$(DEMO_DIR)/smollm2-f16" --chat -p "What is the tallest mountain in the world?" -n 16 --temp 0; \
	echo; echo "== convert all-MiniLM-L6-v2 (safetensors F32) to bf16"; \
	"$$bin" convert "$(MINILM)" -o "$(DEMO_DIR)/minilm-bf16.safetensors" --dtype bf16 --force; \
	"$$bin" inspect "$(DEMO_DIR)/minilm-bf16.safetensors" | head -8; \
	echo; echo "== run the default model (greedy, chat template)"; \
	"$$bin" run "$(SMOLLM2)" --chat -p "What is the tallest mountain in the world?" -n 48 --temp 0; \
	echo; echo "== benchmark it (prefill 128 tokens, decode 128 tokens)"; \
	"$$bin" bench "$(SMOLLM2)" -p 128 -n 128 -r 3; \
	echo; echo "== where contextual sparsity pays: docs-opt-relu (a small trained ReLU model, Tests/Fixtures), packed, dense against its schedule"; \
	if [ ! -f "$(DEMO_DIR)/docs-opt-relu.sieve" ]; then "$$bin" pack "$(CURDIR)/Tests/Fixtures/models/docs-opt-relu/hf" -o "$(DEMO_DIR)/docs-opt-relu.sieve"; \
	else echo "(reusing $(DEMO_DIR)/docs-opt-relu.sieve; delete it to pack again)"; fi; \
	"$$bin" bench "$(DEMO_DIR)/docs-opt-relu.sieve" --densities 1 --head-density 1 -p 0 -n 200 -r 5; \
	echo; echo "== pack the default model into a sparse bundle (calibrate, reorder FFN neurons into blocks, train predictors)"; \
	if [ ! -f "$(DEMO_DIR)/smollm2.sieve" ]; then "$$bin" pack "$(SMOLLM2)" -o "$(DEMO_DIR)/smollm2.sieve"; \
	else echo "(reusing $(DEMO_DIR)/smollm2.sieve; delete it to pack again)"; fi; \
	echo; echo "== the bundle run densely, at its per-block density schedule (kept by the pack only if it reads 3% fewer bytes"; \
	echo "   within +4% of dense perplexity on held-out text: see its check above), then at FFN density 0.5, on the same prompt"; \
	"$$bin" run "$(DEMO_DIR)/smollm2.sieve" --dense --chat -p "What is the tallest mountain in the world?" -n 48 --temp 0; \
	"$$bin" run "$(DEMO_DIR)/smollm2.sieve" --chat -p "What is the tallest mountain in the world?" -n 48 --temp 0; \
	"$$bin" run "$(DEMO_DIR)/smollm2.sieve" --ffn-density 0.5 --head-density 1 --chat -p "What is the tallest mountain in the world?" -n 48 --temp 0; \
	echo; echo "== dense, the schedule and FFN density 0.5 as medians of interleaved repetitions (a single 48-token run drifts"; \
	echo "   on a busy machine: in one demo two runs of the same dense computation decoded 148.8 and 190.3 tokens/s)"; \
	"$$bin" bench "$(DEMO_DIR)/smollm2.sieve" --densities 1,0.5 --head-density 1 -p 0 -n 64 -r 5

# Tests run on a release build (with -enable-testing for @testable imports): the numeric suites run real models
# and are many times faster optimised; speed itself is never asserted by a test.
TEST_FLAGS := $(RELEASE_FLAGS) -Xswiftc -enable-testing

test: setup
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build
	@$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

# Fuzzing (Fuzz/README.md): sieve-fuzz mutates each reader's seed corpus (Fuzz/corpus/TARGET) for FUZZ_SECONDS,
# FUZZ_JOBS targets at a time; any crash, input slower than FUZZ_TIMEOUT_MS or growth of resident memory past
# FUZZ_RSS_MB is saved under .build/fuzz-findings and fails the run. `make test` runs CI_FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 10
FUZZ_JOBS ?= 2
FUZZ_TIMEOUT_MS ?= 1000
FUZZ_RSS_MB ?= 256
FUZZ_TARGETS ?= safetensors safetensors-index gguf bundle bundle-sections tokenizer-json hf-config chat-template

fuzz: deps
	$(SWIFT) build $(TEST_FLAGS) --product sieve-fuzz
	@$(MAKE) --no-print-directory fuzz-run

fuzz-run:
	@bin="$$($(SWIFT) build $(TEST_FLAGS) --show-bin-path)/sieve-fuzz"; \
	echo "fuzz: $(words $(FUZZ_TARGETS)) targets × $(FUZZ_SECONDS) s, $(FUZZ_JOBS) at a time"; \
	printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} "$$bin" run {} --seconds $(FUZZ_SECONDS) \
	  --timeout-ms $(FUZZ_TIMEOUT_MS) --rss-limit-mb $(FUZZ_RSS_MB) --findings .build/fuzz-findings \
	  || { echo "fuzz: FAILED; the inputs are in .build/fuzz-findings (see Fuzz/README.md)" >&2; exit 1; }

bench: setup build
	@bin="$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/sieve"; "$$bin" bench "$(SMOLLM2)"

clean:
	rm -rf .build .build-demo
