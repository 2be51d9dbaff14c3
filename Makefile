# Two entry points: `make demo` runs the main job, `make test` runs every check CI runs.
# Both install what they need first (guarded, so they are quick when it is there).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
# Every step (and the JS tests and benches) reads build outputs from ./target: a CARGO_TARGET_DIR
# set in the environment for other projects must not move them.
export CARGO_TARGET_DIR := $(CURDIR)/target
KAIROS := target/release/kairos
JOURNEYS := tests/fixtures/journeys

.PHONY: bench-www demo test setup fmt lint lint-wasm unit cli signed bench load fuzz wasm-setup pkg js types size size-report wasm-test bench-js chromium-setup miniprogram-example

## Tools: the Rust components the checks use.
setup:
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

$(KAIROS): setup FORCE
	$(CARGO) build --release -q -p kairos-cli

FORCE:

## The demo: check and compile the Taste of Su model, replay Nancy's and Lizzy's journeys in the
## terminal, then serve the storefront on the real package (Ctrl-C stops it). --demo-tokens lets
## the storefront's journeys get their traits as tokens signed by the brand key (demo only: anyone
## who reaches the server can mint any traits).
DEMO_ADDR ?= 127.0.0.1:8080
demo: $(KAIROS) pkg
	$(KAIROS) check examples/taste-of-su/model.json
	$(KAIROS) compile examples/taste-of-su/model.json -o target/taste-of-su.kairos
	$(KAIROS) simulate --journey $(JOURNEYS)/nancy.json --journey $(JOURNEYS)/lizzy.json
	@mkdir -p target/demo
	@test -f target/demo/brand.key || $(KAIROS) keygen -o target/demo/brand
	@cp target/demo/brand.pub www/brand.pub  # the storefront trusts snapshots signed by this key
	@echo
	@echo "Storefront: http://$(DEMO_ADDR)/www/index.html"
	@echo "Edit examples/taste-of-su/model.json (raise meta.version) and the open page updates; Ctrl-C stops."
	$(KAIROS) serve --models examples/taste-of-su --key target/demo/brand.key --addr $(DEMO_ADDR) \
	  --outbox target/demo/outbox.ndjson --state target/demo/published --demo-tokens

## Everything CI checks.
test: setup fmt lint lint-wasm unit cli signed js types size wasm-test

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -q -- -D warnings

## The bindings as they are built: for wasm32, as the package (no_std: no dev-dependencies, so no
## `std` feature), with their wasm-bindgen tests (std) and the `evaluate` feature.
lint-wasm: wasm-setup
	$(CARGO) clippy -p kairos-wasm --target wasm32-unknown-unknown -q -- -D warnings
	$(CARGO) clippy -p kairos-wasm --target wasm32-unknown-unknown --all-targets -q -- -D warnings
	$(CARGO) clippy -p kairos-wasm --target wasm32-unknown-unknown --features evaluate -q -- -D warnings

unit:
	@mkdir -p target
	@# kairos-wasm's tests are wasm_bindgen_tests: they run on wasm32 in `make wasm-test`, not natively.
	$(CARGO) test --workspace --exclude kairos-wasm -q 2>&1 | tee target/test-output.txt
	@# A test binary that ran zero tests is a failure (each of them has tests: one that runs none
	@# has lost them, to a cfg or a rename).
	@! grep -Eq '^test result: ok\. 0 passed' target/test-output.txt || { echo "unit: a test binary ran no tests"; exit 1; }

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
	@# Exit 1 and the verdict, not any failure (a missing file exits too).
	@if $(KAIROS) inspect target/signed/taste-of-su.kairos --key target/signed/other.pub > target/signed/other.txt; then \
	  echo "a snapshot checked with the wrong key passed"; exit 1; \
	elif [ $$? -ne 1 ] || ! grep -q 'signature  signed, INVALID for key' target/signed/other.txt; then \
	  echo "a snapshot checked with the wrong key was not reported invalid"; exit 1; fi
	@echo "signed: ok"

## Load run of `kairos serve` on loopback (not part of test): conditional GETs and held push
## connections; prints requests/s and latency percentiles.
load: $(KAIROS)
	$(CARGO) run --release -q -p kairos-cli --example load -- --bin $(KAIROS)

## Benchmarks (not part of test): criterion, figures go to the README.
bench:
	$(CARGO) bench --bench engine

## ---- The npm package (pkg/) ----------------------------------------------------------------
# Tools, installed once and skipped when present: the wasm target, wasm-bindgen-cli of exactly the
# version in Cargo.lock, wasm-pack, and (npm ci, locked) wasm-opt from npm binaryen 132,
# TypeScript and the mini-program typings. Never Debian's binaryen: its wasm-opt breaks the output.
JSTOOLS := tests/js
NODE_BIN := $(CURDIR)/$(JSTOOLS)/node_modules/.bin
WBG_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/"/,"",$$3); print $$3}' Cargo.lock)
SNAPSHOT := target/taste-of-su.kairos

wasm-setup: $(JSTOOLS)/node_modules/.stamp
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WBG_VERSION)" || \
	  $(CARGO) install wasm-bindgen-cli --version "$(WBG_VERSION)" --locked || \
	  $(CARGO) install wasm-bindgen-cli --version "$(WBG_VERSION)"
	@command -v wasm-pack >/dev/null || $(CARGO) install wasm-pack --locked

$(JSTOOLS)/node_modules/.stamp: $(JSTOOLS)/package-lock.json
	cd $(JSTOOLS) && npm ci --no-audit --no-fund
	@touch $@

## Builds pkg/: wasm-pack (release, --target web, wasm-opt -Oz --converge -g from npm binaryen) into
## target/wasm-pack; the formatting functions core's panic paths leave in the function table
## emptied (crates/wasm/dead-fmt.mjs, which reads the names -g kept); then one more wasm-opt -Oz
## (the module read afresh gives 0.15 KB more than the first run's --converge), the names the
## module and its glue share shortened (crates/wasm/short-names.mjs) and the custom sections no
## browser reads (producers, target_features, names) dropped; then the generated glue and .wasm go
## beside pkg/'s hand-written files.
pkg: wasm-setup
	export PATH="$(NODE_BIN):$$PATH"; \
	  test "$$(command -v wasm-opt)" = "$(NODE_BIN)/wasm-opt" || { echo "wasm-opt is not npm binaryen's"; exit 1; }; \
	  wasm-pack build crates/wasm --profile wasm-release --target web --out-dir ../../target/wasm-pack --out-name kairos_wasm
	node crates/wasm/dead-fmt.mjs $(JSTOOLS)/node_modules/binaryen $(NODE_BIN)/wasm-opt target/wasm-pack/kairos_wasm_bg.wasm
	node crates/wasm/short-names.mjs $(NODE_BIN)/wasm-opt target/wasm-pack kairos_wasm -Oz --strip-producers --strip-target-features --strip-debug
	cp target/wasm-pack/kairos_wasm.js target/wasm-pack/kairos_wasm_bg.wasm target/wasm-pack/kairos_wasm.d.ts pkg/
	@# The same modules as one minified file, for pages that load the package without a bundler:
	@# the browser build, without the WeChat adapters (crates/wasm/browser-min.mjs).
	node crates/wasm/browser-min.mjs
	$(NODE_BIN)/esbuild target/browser/entry.js --bundle --minify --format=esm --legal-comments=none \
	  --log-level=warning --outfile=pkg/kairos.min.js
	@# terser's compressor after esbuild takes another 0.5 KB gzip off (esbuild alone: 11,243 B).
	$(NODE_BIN)/terser pkg/kairos.min.js --compress passes=2 --mangle --module --output pkg/kairos.min.js
	node crates/wasm/miniprogram.mjs wasm-bindgen $(NODE_BIN)/wasm-opt

## The example mini-program with the package, the Taste of Su snapshot signed by the demo key (as
## kairos/model.js, base64) and kairos/config.js (the demo server's address and public key) written in; open
## examples/miniprogram in WeChat DevTools beside `make demo`.
MP := examples/miniprogram/kairos
miniprogram-example: pkg $(KAIROS)
	mkdir -p $(MP) target/demo
	cp pkg/miniprogram/index.js pkg/miniprogram/kairos_wasm.js pkg/miniprogram/kairos_wasm.wasm.br pkg/miniprogram/storage.js pkg/miniprogram/sync.js pkg/miniprogram/fast.js \
	  pkg/miniprogram/*.d.ts $(MP)/
	test -f target/demo/brand.key || $(KAIROS) keygen -o target/demo/brand
	$(KAIROS) compile examples/taste-of-su/model.json -o target/demo/miniprogram-model.kairos --key target/demo/brand.key
	@# As a .js module (base64): WeChat uploads only whitelisted suffixes, and .kairos is not one.
	node -e "const b = require('fs').readFileSync(process.argv[1]).toString('base64'); process.stdout.write('// The Taste of Su snapshot signed by the demo key, base64 (generated by make miniprogram-example).\\nmodule.exports = \\'' + b + '\\';\\n')" target/demo/miniprogram-model.kairos > $(MP)/model.js
	rm -f $(MP)/model.kairos
	printf "module.exports = { url: 'http://%s', publicKey: '%s' };\n" "$(DEMO_ADDR)" "$$(grep -v "^#" target/demo/brand.pub)" > $(MP)/config.js

$(SNAPSHOT): $(KAIROS)
	$(KAIROS) compile examples/taste-of-su/model.json -o $(SNAPSHOT)

## Raw rule evaluation for tests/js/differential.test.mjs: the bindings with the cargo feature
## `evaluate` (never in pkg/), a debug build (overflow checks on), glue for Node.
.PHONY: pkg-evaluate
pkg-evaluate: wasm-setup
	$(CARGO) build -q -p kairos-wasm --features evaluate --target wasm32-unknown-unknown
	wasm-bindgen --target nodejs --out-dir target/wasm-evaluate target/wasm32-unknown-unknown/debug/kairos_wasm.wasm

## node:test suites against pkg/: journeys (same fixtures and results as the Rust runner),
## error codes, hostile input, fractional vectors; those of MIN_SUITES again against kairos.min.js.
## A run with zero tests fails, and a test that hangs fails after 3 minutes instead of holding CI
## until its limit.
MIN_SUITES := errors fast hostile journeys methods privacy signed storage sync vectors
js: pkg pkg-evaluate cli $(SNAPSHOT) chromium-setup
	node --test --test-timeout=180000 --test-reporter=tap $(JSTOOLS)/*.test.mjs 2>&1 | tee target/js-test-output.txt | grep -E '^# (tests|pass|fail)|^not ok' || true
	@grep -Eq '^# fail 0$$' target/js-test-output.txt || { echo "js: failures"; exit 1; }
	@# A suite that hangs is cancelled at the timeout, not failed (and its tests after the hang
	@# are never reported): any `not ok` fails the run.
	@! grep -q '^not ok' target/js-test-output.txt || { echo "js: a suite failed or was cancelled"; exit 1; }
	@grep -Eq '^# pass [1-9]' target/js-test-output.txt || { echo "js: no tests ran"; exit 1; }
	@# The suites that load the package through its entries, again against kairos.min.js (the
	@# minified single file the size gate measures; tests/js/min-hooks.mjs).
	node --test --test-timeout=180000 --test-reporter=tap --import ./$(JSTOOLS)/min-register.mjs $(MIN_SUITES:%=$(JSTOOLS)/%.test.mjs) \
	  2>&1 | tee target/js-min-test-output.txt | grep -E '^# (tests|pass|fail)|^not ok' || true
	@grep -Eq '^# fail 0$$' target/js-min-test-output.txt || { echo "js (kairos.min.js): failures"; exit 1; }
	@! grep -q '^not ok' target/js-min-test-output.txt || { echo "js (kairos.min.js): a suite failed or was cancelled"; exit 1; }
	@grep -Eq '^# pass [1-9]' target/js-min-test-output.txt || { echo "js (kairos.min.js): no tests ran"; exit 1; }

## TypeScript: the hand-written typings (no `any`) against a typed usage example, tsc --noEmit.
types: pkg $(JSTOOLS)/node_modules/.stamp
	@! grep -nwE 'any' pkg/*.d.ts --exclude='kairos_wasm*.d.ts' || { echo "types: \`any\` in the typings"; exit 1; }
	$(NODE_BIN)/tsc -p $(JSTOOLS)/types/tsconfig.json
	@# The mini-program typings as a code package holds them: copied out of pkg/, alone, checked
	@# as a WeChat project does (ES2020 without the DOM library, skipLibCheck off).
	rm -rf target/types-miniprogram && mkdir -p target/types-miniprogram && cp pkg/miniprogram/*.d.ts target/types-miniprogram/
	$(NODE_BIN)/tsc -p $(JSTOOLS)/types/tsconfig.miniprogram.json
	$(NODE_BIN)/tsc -p $(JSTOOLS)/types/tsconfig.esnext.json
	@# By name, as an app installs the package: node10 resolution (typesVersions), NodeNext, bundler.
	rm -rf target/types-package && mkdir -p target/types-package/node_modules/kairos-engine
	cp pkg/package.json pkg/*.d.ts target/types-package/node_modules/kairos-engine/
	cp $(JSTOOLS)/types/by-name.mts $(JSTOOLS)/types/tsconfig.by-name.json target/types-package/
	for mr in ES2022:node10 NodeNext:nodenext ES2022:bundler; do \
	  $(NODE_BIN)/tsc -p target/types-package/tsconfig.by-name.json --module $${mr%%:*} --moduleResolution $${mr##*:} || exit 1; \
	done
	@echo "types: ok"

## Size gate: raw, gzip and brotli of the package as a browser loads it (the .wasm and
## kairos.min.js); fails over its ceiling (see tests/js/size.mjs).
size: pkg
	node $(JSTOOLS)/size.mjs

## Where the .wasm's bytes go (not part of test): the release module with its function names kept
## (wasm-bindgen --keep-debug, wasm-opt -Oz -g), code size grouped by part and the largest functions.
SIZE_REPORT := target/size-report
size-report: wasm-setup
	$(CARGO) build -q -p kairos-wasm --target wasm32-unknown-unknown --profile wasm-release
	wasm-bindgen --keep-debug --target web --out-dir $(SIZE_REPORT) \
	  target/wasm32-unknown-unknown/wasm-release/kairos_wasm.wasm
	$(NODE_BIN)/wasm-opt -Oz -g --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	  --enable-mutable-globals $(SIZE_REPORT)/kairos_wasm_bg.wasm -o $(SIZE_REPORT)/named.wasm
	@# As make pkg: the table's dead formatting functions emptied, then what only they called removed.
	node crates/wasm/dead-fmt.mjs --keep-names $(JSTOOLS)/node_modules/binaryen $(NODE_BIN)/wasm-opt $(SIZE_REPORT)/named.wasm
	$(NODE_BIN)/wasm-opt -Oz -g --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	  --enable-mutable-globals $(SIZE_REPORT)/named.wasm -o $(SIZE_REPORT)/named.wasm
	node bench/wasm-breakdown.mjs $(SIZE_REPORT)/named.wasm --top 40

## wasm-bindgen-test in Node and in headless Chromium (chromedriver). Each test binary must report
## at least one passed test: a skipped or empty binary fails (the runner exits 0 for those).
chromium-setup:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }

wasm-test: wasm-setup chromium-setup
	unset WASM_BINDGEN_TEST_ONLY_NODE WASM_BINDGEN_TEST_ONLY_WEB; \
	  WASM_BINDGEN_TEST_WEBDRIVER_JSON=$(CURDIR)/webdriver.json \
	  $(CARGO) test -p kairos-wasm --target wasm32-unknown-unknown --test node --test browser 2>&1 | tee target/wasm-test-output.txt
	@test "$$(grep -cE '^test result: ok\. [1-9][0-9]* passed; 0 failed' target/wasm-test-output.txt)" = 2 || \
	  { echo "wasm-test: expected 2 test binaries (node, browser) each with passing tests"; exit 1; }
	@! grep -qi 'skipping' target/wasm-test-output.txt || { echo "wasm-test: a test binary was skipped"; exit 1; }

## First personalized render after DOMContentLoaded, in headless Chromium (not part of test).
bench-www: pkg cli chromium-setup
	node bench/first-render.mjs

## Node benchmarks (not part of test): decide/track median and p99 with the boundary, cold start,
## example and large model, peers on the same segment rules.
target/large-model.json:
	$(CARGO) run -q -p kairos-wasm --example large_model > $@

target/large.kairos: target/large-model.json $(KAIROS)
	$(KAIROS) compile target/large-model.json -o $@

bench/node_modules/.stamp: bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund
	@touch $@

target/segments3.kairos: bench/segments-model.json $(KAIROS)
	$(KAIROS) compile $< -o $@

bench-js: pkg $(SNAPSHOT) target/large.kairos target/segments3.kairos bench/node_modules/.stamp
	node bench/bench.mjs

## Fuzzing (not part of test: it takes minutes): every cargo-fuzz target for FUZZ_SECONDS each, one
## at a time, then a long differential run against datalogic-rs with a fresh seed. Committed crashers
## are replayed by `make test` (tests/fuzz_crashers.rs).
FUZZ_SECONDS ?= 60
fuzz:
	env -u CARGO_TARGET_DIR fuzz/run.sh $(FUZZ_SECONDS)  # cargo-fuzz keeps its builds in fuzz/target
	KAIROS_DIFF_SEED=random KAIROS_DIFF_CASES=100000 $(CARGO) test -q --test differential -- --nocapture
