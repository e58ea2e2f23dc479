#!/usr/bin/env node
// Reference claim trees from @openzeppelin/merkle-tree, for byte-compatibility tests.
//
// stdin  {"values": [["0xAccount", "123"], ...]}
// stdout {"root": "0x..", "proofs": [["0x..", ...], ...], "leaves": ["0x..", ...]}
//        proofs[i] and leaves[i] belong to values[i] (input order, not tree order).
//        Leaf types ["address", "uint256"] (the generic two-field tree).
//
// stdin  {"chainId": "31337", "distributor": "0xDistributor", "values": [["0xAccount", "123"], ...]}
// stdout the same fields, for the tree RewardDistributor checks: leaf types
//        ["uint256", "address", "address", "uint256"] with values
//        [chainId, distributor, account, amount]. chainId is a decimal string or a JSON integer.
//        Give both chainId and distributor, or neither.
//
// stdin  {"bench": N}            (optionally "proofs": true, "runs": K)
// stdout {"n": N, "millis": <StandardMerkleTree.of time of the first run>,
//         "runs": [<ms of each of the K runs, the first cold>, ...], "root": "0x..",
//         "proofMillis": <time for all N getProof calls, only with "proofs": true>}
//        Claim i (0-based): h = keccak256(uint256(i) as 32 big-endian bytes);
//        account = last 20 bytes of h, amount = first 8 bytes of h as an unsigned integer.
//        Generating the claims is not timed. With "chainId" and "distributor" the bench tree
//        uses the RewardDistributor leaf types, as above.
//
// Exit status 0 on success, 1 on bad input or any failure (message on stderr).
'use strict';

const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const { keccak256, toHex, isAddress } = require('viem');

const ENCODING = ['address', 'uint256'];
// RewardDistributor leaves: [block.chainid, address(this), account, cumulativeAmount].
const BOUND_ENCODING = ['uint256', 'address', 'address', 'uint256'];

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function checkValues(values) {
  if (!Array.isArray(values) || values.length === 0) {
    throw new Error('"values" must be a non-empty array of [address, amount] pairs');
  }
  values.forEach((v, i) => {
    if (!Array.isArray(v) || v.length !== 2) throw new Error(`values[${i}] must be [address, amount]`);
    const [account, amount] = v;
    if (typeof account !== 'string' || !isAddress(account, { strict: false })) {
      throw new Error(`values[${i}][0] is not a 20-byte hex address: ${JSON.stringify(account)}`);
    }
    if (typeof amount !== 'string' || !/^(0|[1-9][0-9]*)$/.test(amount) || BigInt(amount) >= 1n << 256n) {
      throw new Error(`values[${i}][1] must be a decimal uint256 string: ${JSON.stringify(amount)}`);
    }
  });
}

// The leaf binding of the input: null for the generic two-field tree, or the chain id (decimal
// string) and distributor address that RewardDistributor puts in front of every leaf.
function binding(input) {
  const hasChain = input.chainId !== undefined;
  const hasDist = input.distributor !== undefined;
  if (!hasChain && !hasDist) return null;
  if (!hasChain || !hasDist) throw new Error('give both "chainId" and "distributor", or neither');
  const c = input.chainId;
  const chainId =
    typeof c === 'number' && Number.isSafeInteger(c) && c >= 0 ? String(c)
      : typeof c === 'string' && /^(0|[1-9][0-9]*)$/.test(c) && BigInt(c) < 1n << 256n ? c
        : null;
  if (chainId === null) throw new Error(`"chainId" must be a decimal uint256: ${JSON.stringify(c)}`);
  if (typeof input.distributor !== 'string' || !isAddress(input.distributor, { strict: false })) {
    throw new Error(`"distributor" is not a 20-byte hex address: ${JSON.stringify(input.distributor)}`);
  }
  return { chainId, distributor: input.distributor };
}

function encode(values, bound) {
  if (!bound) return { values, encoding: ENCODING };
  return {
    values: values.map(([a, n]) => [bound.chainId, bound.distributor, a, n]),
    encoding: BOUND_ENCODING,
  };
}

function tree(input) {
  checkValues(input.values);
  const { values, encoding } = encode(input.values, binding(input));
  const t = StandardMerkleTree.of(values, encoding);
  return {
    root: t.root,
    proofs: values.map((_, i) => t.getProof(i)),
    leaves: values.map((v) => t.leafHash(v)),
  };
}

function benchClaims(n) {
  const values = new Array(n);
  for (let i = 0; i < n; i++) {
    const h = keccak256(toHex(BigInt(i), { size: 32 }));
    values[i] = ['0x' + h.slice(26), BigInt('0x' + h.slice(2, 18)).toString()];
  }
  return values;
}

function bench(input) {
  const n = input.bench;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('"bench" must be a positive integer');
  const runs = input.runs === undefined ? 1 : input.runs;
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 50) throw new Error('"runs" must be 1..50');
  const { values, encoding } = encode(benchClaims(n), binding(input));
  const times = [];
  let t;
  let t1;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const built = StandardMerkleTree.of(values, encoding);
    t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / 1e6);
    if (t !== undefined && built.root !== t.root) throw new Error('runs gave different roots');
    t = built;
  }
  const out = { n, millis: times[0], runs: times, root: t.root };
  if (input.proofs === true) {
    for (let i = 0; i < n; i++) t.getProof(i);
    out.proofMillis = Number(process.hrtime.bigint() - t1) / 1e6;
  }
  return out;
}

async function main() {
  const input = JSON.parse(await readStdin());
  let out;
  if (input && input.bench !== undefined) {
    out = bench(input);
  } else if (input && input.values !== undefined) {
    out = tree(input);
  } else {
    throw new Error('expected {"values": [...]} or {"bench": N}');
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`oz-merkle-tree: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
