# Two entry points: `make demo` runs the main job, `make test` runs every check CI runs.
# Both install what they need first (guarded, so they are quick when it is there).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
KAIROS := target/release/kairos
JOURNEYS := tests/fixtures/journeys

.PHONY: demo test setup fmt lint unit cli signed bench load

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
test: setup fmt lint unit cli signed

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

## Signed snapshots end to end: a key pair, a signed snapshot, checked with the public key; a
## snapshot signed by another key is reported invalid (exit 1).
signed: $(KAIROS)
	@mkdir -p target/signed
	$(KAIROS) keygen -o target/signed/brand --force
	$(KAIROS) keygen -o target/signed/other --force
	$(KAIROS) compile examples/taste-of-su/model.json -o target/signed/taste-of-su.kairos --key target/signed/brand.key
	$(KAIROS) inspect target/signed/taste-of-su.kairos --key target/signed/brand.pub
	@if $(KAIROS) inspect target/signed/taste-of-su.kairos --key target/signed/other.pub > /dev/null; then \
	  echo "a snapshot checked with the wrong key passed"; exit 1; fi
	@echo "signed: ok"

## Load run of `kairos serve` on loopback (not part of test): conditional GETs and held push
## connections; prints requests/s and latency percentiles.
load: $(KAIROS)
	$(CARGO) run --release -q -p kairos-cli --example load -- --bin $(KAIROS)

## Benchmarks (not part of test): criterion, figures go to the README.
bench:
	$(CARGO) bench --bench engine
