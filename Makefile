# Two entry points: `make demo` runs the main job, `make test` runs every check CI runs.
# Both install what they need first (guarded, so they are quick when it is there).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
KAIROS := target/release/kairos
JOURNEYS := tests/fixtures/journeys

.PHONY: demo test setup fmt lint unit cli bench fuzz

## Tools: the Rust components the checks use.
setup:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

$(KAIROS): setup FORCE
	$(CARGO) build --release -q -p kairos-cli

FORCE:

## Compile the Taste of Su model and replay Nancy's and Lizzy's journeys.
demo: $(KAIROS)
	$(KAIROS) check examples/taste-of-su/model.json
	$(KAIROS) compile examples/taste-of-su/model.json -o target/taste-of-su.kairos
	$(KAIROS) simulate --journey $(JOURNEYS)/nancy.json --journey $(JOURNEYS)/lizzy.json

## Everything CI checks.
test: setup fmt lint unit cli

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -q -- -D warnings

unit:
	@mkdir -p target
	$(CARGO) test --workspace -q 2>&1 | tee target/test-output.txt
	@# A suite that ran zero tests is a failure.
	@if grep -Eq '^test result: ok\. 0 passed' target/test-output.txt && ! grep -Eq '^test result: ok\. [1-9]' target/test-output.txt; then \
	  echo "no tests ran"; exit 1; fi

## The command line end to end: every journey replays without a mismatch.
cli: $(KAIROS)
	$(KAIROS) check examples/taste-of-su/model.json
	$(KAIROS) simulate --journey $(JOURNEYS)/*.json --json > target/journeys.jsonl
	@echo "cli: $$(wc -l < target/journeys.jsonl) journey steps replayed"

## Benchmarks (not part of test): criterion, figures go to the README.
bench:
	$(CARGO) bench --bench engine

## Fuzzing (not part of test: it takes minutes): every cargo-fuzz target for FUZZ_SECONDS each, one
## at a time, then a long differential run against datalogic-rs with a fresh seed. Committed crashers
## are replayed by `make test` (tests/fuzz_crashers.rs).
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)
	KAIROS_DIFF_SEED=random KAIROS_DIFF_CASES=100000 $(CARGO) test -q --test differential -- --nocapture
