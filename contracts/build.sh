#!/usr/bin/env bash
# Rebuilds the committed contract artifacts from src/*.sol with the solc pinned in package.json.
#
#   contracts/build.sh            writes depin-chains/evm-artifacts/<Name>.abi and <Name>.bin
#   contracts/build.sh OUT_DIR    writes the same files into OUT_DIR (used by check-stale.sh)
#
# <Name>.abi is the JSON ABI, pretty-printed with a trailing newline; <Name>.bin is the creation
# bytecode as lowercase hex without 0x and without a trailing newline, exactly as solcjs emits it.
# The output only depends on the sources and the versions locked in package-lock.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

out="${1:-$here/../depin-chains/evm-artifacts}"
solcjs="$here/node_modules/.bin/solcjs"
if [[ ! -x "$solcjs" || ! -d "$here/node_modules/@openzeppelin/contracts" ]]; then
  echo "build.sh: node_modules missing; run 'npm ci' in $here first" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

log="$tmp/solcjs.log"
if ! "$solcjs" --bin --abi --optimize --base-path . --include-path node_modules \
    -o "$tmp/raw" src/*.sol >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: solcjs failed" >&2
  exit 1
fi
# solcjs exits 0 on warnings; show them when they concern our own sources (OpenZeppelin's are noise).
if grep -q -- '--> src/' "$log"; then
  cat "$log" >&2
fi

mkdir -p "$out"
rm -f "$out"/*.abi "$out"/*.bin
for sol in src/*.sol; do
  name="$(basename "$sol" .sol)"
  raw="$tmp/raw/src_${name}_sol_${name}"
  if [[ ! -s "$raw.bin" || ! -s "$raw.abi" ]]; then
    echo "build.sh: no artifact for contract $name in $sol (the contract must be named after its file)" >&2
    exit 1
  fi
  node -e 'const fs = require("fs");
    fs.writeFileSync(process.argv[2], JSON.stringify(JSON.parse(fs.readFileSync(process.argv[1], "utf8")), null, 2) + "\n");' \
    "$raw.abi" "$out/$name.abi"
  cp "$raw.bin" "$out/$name.bin"
  echo "build.sh: $name -> $out/$name.{abi,bin} ($(( $(wc -c <"$raw.bin") / 2 )) bytes of creation code)"
done
