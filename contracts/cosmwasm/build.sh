#!/usr/bin/env bash
# Build the depin-rs CosmWasm contracts as a chain takes them:
#   1. cargo, release profile, wasm32-unknown-unknown;
#   2. binaryen's wasm-opt (npm package `binaryen`, installed by `npm ci` in contracts/), which
#      lowers the bulk-memory (memory.copy/fill) and sign-extension instructions Rust >= 1.87
#      emits into plain loads and stores: cosmwasm-vm 3.0 (wasmd's VM) refuses bulk memory.
# The deployable files land in $1 (default: artifacts/). flow/tests/wasm.rs runs this script
# and loads its output in cosmwasm-vm.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-artifacts}"
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown >/dev/null \
  || { echo "ERROR: rustup could not add wasm32-unknown-unknown; the contracts cannot be built" >&2; exit 1; }
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS cargo build --release --lib --locked \
  --target wasm32-unknown-unknown -p depin-cw-registry -p depin-cw-distributor \
  --target-dir target/wasm
opt=../node_modules/.bin/wasm-opt
[ -x "$opt" ] || { echo "ERROR: $opt missing: run 'npm ci' in contracts/" >&2; exit 1; }
mkdir -p "$out"
for c in depin_cw_registry depin_cw_distributor; do
  "$opt" --enable-bulk-memory-opt --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
    --llvm-memory-copy-fill-lowering --signext-lowering -Os \
    "target/wasm/wasm32-unknown-unknown/release/$c.wasm" -o "$out/$c.wasm"
done
ls -l "$out"/*.wasm
