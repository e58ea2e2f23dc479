#!/usr/bin/env bash
# Fails if depin-chains/evm-artifacts does not match a fresh build of contracts/src.
#
# Exit status: 0 artifacts are up to date; 1 artifacts are stale (or the build failed);
# 2 the check could not run (node_modules missing: run 'npm ci' in contracts/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

status=0
"$here/build.sh" "$tmp/fresh" >/dev/null || status=$?
if [[ $status -ne 0 ]]; then
  echo "check-stale.sh: could not rebuild the contracts (build.sh exit $status)" >&2
  exit "$status"
fi

if ! diff -r "$tmp/fresh" "$here/../depin-chains/evm-artifacts" >"$tmp/diff" 2>&1; then
  echo "check-stale.sh: depin-chains/evm-artifacts is STALE: it does not match a fresh build of contracts/src." >&2
  echo "check-stale.sh: run contracts/build.sh and commit depin-chains/evm-artifacts. Differences:" >&2
  head -c 4000 "$tmp/diff" | cut -c1-200 >&2
  exit 1
fi
echo "check-stale.sh: depin-chains/evm-artifacts is up to date"
