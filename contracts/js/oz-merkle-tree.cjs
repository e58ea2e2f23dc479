#!/usr/bin/env node
// Reference claim trees from @openzeppelin/merkle-tree, for byte-compatibility tests.
//
// stdin  {"values": [["0xAccount", "123"], ...]}
// stdout {"root": "0x..", "proofs": [["0x..", ...], ...], "leaves": ["0x..", ...]}
//        proofs[i] and leaves[i] belong to values[i] (input order, not tree order).
//
// stdin  {"bench": N}            (optionally "proofs": true)
// stdout {"n": N, "millis": <StandardMerkleTree.of time>, "root": "0x..",
//         "proofMillis": <time for all N getProof calls, only with "proofs": true>}
//        Claim i (0-based): h = keccak256(uint256(i) as 32 big-endian bytes);
//        account = last 20 bytes of h, amount = first 8 bytes of h as an unsigned integer.
//        Generating the claims is not timed.
//
// Exit status 0 on success, 1 on bad input or any failure (message on stderr).
'use strict';

const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const { keccak256, toHex, isAddress } = require('viem');

const ENCODING = ['address', 'uint256'];

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

function tree(values) {
  checkValues(values);
  const t = StandardMerkleTree.of(values, ENCODING);
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

function bench(n, withProofs) {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('"bench" must be a positive integer');
  const values = benchClaims(n);
  const t0 = process.hrtime.bigint();
  const t = StandardMerkleTree.of(values, ENCODING);
  const t1 = process.hrtime.bigint();
  const out = { n, millis: Number(t1 - t0) / 1e6, root: t.root };
  if (withProofs) {
    for (let i = 0; i < n; i++) t.getProof(i);
    out.proofMillis = Number(process.hrtime.bigint() - t1) / 1e6;
  }
  return out;
}

async function main() {
  const input = JSON.parse(await readStdin());
  let out;
  if (input && input.bench !== undefined) {
    out = bench(input.bench, input.proofs === true);
  } else if (input && input.values !== undefined) {
    out = tree(input.values);
  } else {
    throw new Error('expected {"values": [...]} or {"bench": N}');
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`oz-merkle-tree: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
