#!/usr/bin/env bash
# Self-test of the interop scripts, driving them exactly as the Rust tests do (JSON on stdin,
# JSON on stdout, exit status). Run from anywhere:
#
#   contracts/js/selftest.sh              all checks, including the anvil tests
#                                         (anvil-e2e.mjs, contracts-attack.mjs and
#                                         contracts-attack-23.mjs)
#   SKIP_ANVIL=1 contracts/js/selftest.sh  without starting anvil
#
# Needs node and contracts/node_modules ('npm ci' in contracts/).
set -euo pipefail

js="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export JS_DIR="$js"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=0
pass() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "not ok - $*" >&2; exit 1; }
# field FILE EXPR: evaluates a JS expression over the parsed JSON object `j`.
field() { node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]));' "$1" "$2"; }

# ---------------------------------------------------------------- oz-merkle-tree.cjs
cat >"$tmp/tree.in" <<'EOF'
{"values": [["0x1111111111111111111111111111111111111111", "100"],
            ["0x2222222222222222222222222222222222222222", "200"],
            ["0x3333333333333333333333333333333333333333", "300"]]}
EOF
node "$js/oz-merkle-tree.cjs" <"$tmp/tree.in" >"$tmp/tree.out" || fail "oz-merkle-tree exited non-zero"
root="$(field "$tmp/tree.out" j.root)"
[[ "$root" == 0xb52cd20b2c205de24be8e0f86b9905eb9287057c606e6a5c06e441781550b365 ]] \
  || fail "oz-merkle-tree root changed: $root"
pass "oz-merkle-tree: 3-entry root matches the recorded value"

# The RewardDistributor tree of the same values: leaves bound to chain id 31337 and a distributor.
field "$tmp/tree.in" 'JSON.stringify({...j, chainId: "31337", distributor: "0x4444444444444444444444444444444444444444"})' >"$tmp/btree.in"
node "$js/oz-merkle-tree.cjs" <"$tmp/btree.in" >"$tmp/btree.out" || fail "oz-merkle-tree (bound) exited non-zero"
root="$(field "$tmp/btree.out" j.root)"
[[ "$root" == 0xe24c536a340d74163a76cb3f2585078e3c1045e5b885fe6fd291d847fcfb56a9 ]] \
  || fail "oz-merkle-tree bound root changed: $root"
pass "oz-merkle-tree: 3-entry RewardDistributor (chainId, distributor) root matches the recorded value"

# Recompute every leaf and every proof without @openzeppelin/merkle-tree:
# leaf = keccak256(keccak256(abi.encode(address, uint256))) or, bound,
# keccak256(keccak256(abi.encode(uint256 chainId, address distributor, address, uint256))),
# node = keccak256(sorted pair).
for t in tree btree; do
node --input-type=module - "$tmp/$t.in" "$tmp/$t.out" <<'EOF' || fail "independent proof check failed ($t)"
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.JS_DIR + '/');
const { keccak256, encodeAbiParameters, concat } = require('viem');
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = JSON.parse(readFileSync(process.argv[3], 'utf8'));
input.values.forEach(([account, amount], i) => {
  const enc = input.chainId === undefined
    ? encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [account, BigInt(amount)])
    : encodeAbiParameters([{ type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'uint256' }],
        [BigInt(input.chainId), input.distributor, account, BigInt(amount)]);
  const leaf = keccak256(keccak256(enc));
  if (leaf !== out.leaves[i]) throw new Error(`leaf ${i}: ${leaf} != ${out.leaves[i]}`);
  let h = leaf;
  for (const p of out.proofs[i]) h = keccak256(BigInt(h) <= BigInt(p) ? concat([h, p]) : concat([p, h]));
  if (h !== out.root) throw new Error(`proof ${i} does not reach the root`);
});
EOF
done
pass "oz-merkle-tree: leaves and proofs of both trees verify with an independent implementation"

if field "$tmp/tree.in" 'JSON.stringify({...j, chainId: "31337"})' | node "$js/oz-merkle-tree.cjs" >/dev/null 2>&1; then
  fail "oz-merkle-tree accepted a chainId without a distributor"
fi
if echo '{"values": [["0x1234", "1"]]}' | node "$js/oz-merkle-tree.cjs" >/dev/null 2>&1; then
  fail "oz-merkle-tree accepted a short address"
fi
pass "oz-merkle-tree: bad input exits non-zero"

echo '{"bench": 200}' | node "$js/oz-merkle-tree.cjs" >"$tmp/bench.out" || fail "bench failed"
[[ "$(field "$tmp/bench.out" 'j.n === 200 && j.millis > 0 && /^0x[0-9a-f]{64}$/.test(j.root)')" == true ]] \
  || fail "bench output malformed: $(cat "$tmp/bench.out")"
pass "oz-merkle-tree: bench mode ($(field "$tmp/bench.out" j.millis) ms for 200 claims)"

# ---------------------------------------------------------------- eip712-verify.mjs
# Sign a DeviceRegistry permit with viem's own account implementation.
node --input-type=module - >"$tmp/712.in" <<'EOF' || fail "could not sign the EIP-712 fixture"
import { createRequire } from 'node:module';
const require = createRequire(process.env.JS_DIR + '/');
const { privateKeyToAccount } = require('viem/accounts');
const device = privateKeyToAccount('0x' + '42'.repeat(32));
const domain = { name: 'DepinDeviceRegistry', version: '1', chainId: 31337,
  verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
const types = { Register: [
  { name: 'owner', type: 'address' }, { name: 'device', type: 'address' }, { name: 'keyType', type: 'uint8' },
  { name: 'deviceId', type: 'bytes32' }, { name: 'metadataHash', type: 'bytes32' },
  { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }] };
const message = { owner: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', device: device.address, keyType: 1,
  deviceId: '0x' + 'ab'.repeat(32), metadataHash: '0x' + 'cd'.repeat(32), nonce: 0n, deadline: 4102444800n };
const signature = await device.signTypedData({ domain, types, primaryType: 'Register', message });
console.log(JSON.stringify({ domain, types, primaryType: 'Register',
  message: { ...message, nonce: '0', deadline: '4102444800' }, signature, address: device.address }));
EOF
node "$js/eip712-verify.mjs" <"$tmp/712.in" >"$tmp/712.out" || fail "eip712-verify exited non-zero"
[[ "$(field "$tmp/712.out" 'j.valid === true && j.lowS === true && j.v >= 27')" == true ]] \
  || fail "valid signature rejected: $(cat "$tmp/712.out")"
[[ "$(field "$tmp/712.out" j.recovered)" == "$(field "$tmp/712.in" j.address)" ]] || fail "wrong recovered address"
pass "eip712-verify: a viem-signed Register permit verifies and recovers the device address"

field "$tmp/712.in" 'JSON.stringify({...j, message: {...j.message, keyType: 2}})' >"$tmp/712b.in"
node "$js/eip712-verify.mjs" <"$tmp/712b.in" >"$tmp/712b.out" || fail "eip712-verify exited non-zero"
[[ "$(field "$tmp/712b.out" 'j.valid === false && j.recovered !== null')" == true ]] \
  || fail "tampered message accepted: $(cat "$tmp/712b.out")"
pass "eip712-verify: a tampered message is reported invalid"

field "$tmp/712.in" 'JSON.stringify({...j, domain: {...j.domain, chainId: "1"}})' >"$tmp/712c.in"
node "$js/eip712-verify.mjs" <"$tmp/712c.in" >"$tmp/712c.out" || fail "eip712-verify exited non-zero"
[[ "$(field "$tmp/712c.out" 'j.valid')" == false ]] || fail "wrong chainId accepted"
pass "eip712-verify: another chainId is reported invalid"

if echo '{"domain": {}}' | node "$js/eip712-verify.mjs" >/dev/null 2>&1; then
  fail "eip712-verify accepted malformed input"
fi
pass "eip712-verify: malformed input exits non-zero"

# ---------------------------------------------------------------- cosmjs-verify.mjs
cat >"$tmp/tx.in" <<'EOF'
{"privkeyHex": "2222222222222222222222222222222222222222222222222222222222222222",
 "chainId": "testing-1", "accountNumber": "7", "sequence": "3",
 "contract": "wasm14hj2tavq8fpesdwxxcu44rty3hh90vhujrvcmstl4zr3txmfvw9s0phg4d",
 "msg": {"claim": {"amount": "100", "stage": 1, "proof": ["a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1"]}},
 "memo": "selftest", "gasLimit": "250000", "fee": [{"denom": "ustake", "amount": "5000"}]}
EOF
node "$js/cosmjs-make-tx.mjs" <"$tmp/tx.in" >"$tmp/tx.out" || fail "cosmjs-make-tx failed"
field "$tmp/tx.out" 'JSON.stringify({txRawHex: j.txRawHex, pubkeyHex: j.pubkeyHex, chainId: "testing-1", accountNumber: "7"})' >"$tmp/cv.in"
node "$js/cosmjs-verify.mjs" <"$tmp/cv.in" >"$tmp/cv.out" || fail "cosmjs-verify exited non-zero"
[[ "$(field "$tmp/cv.out" 'j.valid && j.sequence === "3" && j.gasLimit === "250000" && j.memo === "selftest" && j.messages[0].decoded.msg.claim.amount === "100"')" == true ]] \
  || fail "CosmJS-signed tx rejected: $(cat "$tmp/cv.out")"
pass "cosmjs-verify: a CosmJS-signed MsgExecuteContract tx verifies and decodes"

field "$tmp/cv.in" 'JSON.stringify({...j, accountNumber: "8"})' >"$tmp/cv2.in"
node "$js/cosmjs-verify.mjs" <"$tmp/cv2.in" >"$tmp/cv2.out" || fail "cosmjs-verify exited non-zero"
[[ "$(field "$tmp/cv2.out" '!j.valid && !j.checks.signature')" == true ]] || fail "wrong account number accepted"
pass "cosmjs-verify: a wrong account number is reported invalid"

# ---------------------------------------------------------------- contracts on anvil
if [[ "${SKIP_ANVIL:-0}" != 1 ]]; then
  node "$js/anvil-e2e.mjs" >"$tmp/e2e.out" 2>&1 || { cat "$tmp/e2e.out" >&2; fail "anvil end-to-end test failed"; }
  pass "anvil-e2e: $(tail -n 1 "$tmp/e2e.out" | sed 's/^# //')"
  node "$js/contracts-attack.mjs" >"$tmp/attack.out" 2>&1 || { cat "$tmp/attack.out" >&2; fail "contracts-attack test failed"; }
  pass "contracts-attack: $(tail -n 1 "$tmp/attack.out" | sed 's/^# //')"
  node "$js/contracts-attack-23.mjs" >"$tmp/attack23.out" 2>&1 || { cat "$tmp/attack23.out" >&2; fail "contracts-attack-23 test failed"; }
  pass "contracts-attack-23: $(tail -n 1 "$tmp/attack23.out" | sed 's/^# //')"
fi
echo "# selftest: all $n checks passed"
