#!/usr/bin/env node
// Independent EIP-712 check with viem, for testing signatures made by depin-core keys.
//
// stdin  {"domain": {...}, "types": {...}, "primaryType": "...", "message": {...},
//         "signature": "0x<65 bytes r||s||v>", "address": "0x.."}
//        Integers (uint*/int*, also domain.chainId) may be JSON numbers or decimal/0x strings;
//        "types" may include or omit EIP712Domain (viem derives it from "domain" when omitted).
// stdout {"recovered": "0x..", "valid": true|false, "digest": "0x..", "v": 27|28|0|1, "lowS": bool}
//        recovered: viem recoverTypedDataAddress; valid: viem verifyTypedData against "address".
//        viem also accepts v in {0,1} and high-S signatures; the DeviceRegistry contract does not,
//        so callers wanting the contract's rules must also require lowS and v in {27,28}.
//        A signature viem cannot parse gives {"recovered": null, "valid": false, "error": ".."}.
//
// Exit status 0 when a verdict was printed, 1 on malformed input (message on stderr).
import { hashTypedData, recoverTypedDataAddress, verifyTypedData, isAddress, isHex } from 'viem';

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const INT_TYPE = /^u?int(\d*)$/;

// Converts integer fields to bigint following the declared types, so JSON strings work.
function normalize(types, typeName, value) {
  const arr = typeName.match(/^(.*)\[(\d*)\]$/);
  if (arr) {
    if (!Array.isArray(value)) throw new Error(`expected an array for ${typeName}`);
    return value.map((v) => normalize(types, arr[1], v));
  }
  if (INT_TYPE.test(typeName)) {
    if (typeof value === 'bigint') return value;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    if (typeof value === 'string' && /^(-?(0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$/.test(value)) return BigInt(value);
    throw new Error(`bad integer for ${typeName}: ${JSON.stringify(value)}`);
  }
  if (types[typeName]) {
    if (value === null || typeof value !== 'object') throw new Error(`expected an object for ${typeName}`);
    const out = {};
    for (const { name, type } of types[typeName]) {
      if (!(name in value)) throw new Error(`missing field ${typeName}.${name}`);
      out[name] = normalize(types, type, value[name]);
    }
    return out;
  }
  return value;
}

async function main() {
  const input = JSON.parse(await readStdin());
  const { domain, types, primaryType, message, signature, address } = input ?? {};
  if (!domain || !types || typeof primaryType !== 'string' || !message) {
    throw new Error('expected "domain", "types", "primaryType" and "message"');
  }
  if (!types[primaryType]) throw new Error(`primaryType ${primaryType} is not in "types"`);
  if (typeof address !== 'string' || !isAddress(address, { strict: false })) {
    throw new Error('"address" must be a 20-byte hex address');
  }
  if (typeof signature !== 'string' || !isHex(signature)) throw new Error('"signature" must be 0x-hex');

  const dom = { ...domain };
  if (dom.chainId !== undefined) dom.chainId = normalize({}, 'uint256', dom.chainId);
  const msg = normalize(types, primaryType, message);
  const typed = { domain: dom, types, primaryType, message: msg };

  const digest = hashTypedData(typed);
  const out = { recovered: null, valid: false, digest };
  const sigHex = signature.slice(2);
  if (sigHex.length === 130) {
    out.v = parseInt(sigHex.slice(128, 130), 16);
    out.lowS = BigInt('0x' + sigHex.slice(64, 128)) <= SECP256K1_HALF_N;
  }
  try {
    out.recovered = await recoverTypedDataAddress({ ...typed, signature });
    out.valid = await verifyTypedData({ ...typed, address, signature });
  } catch (e) {
    out.recovered = null;
    out.valid = false;
    out.error = e && e.shortMessage ? e.shortMessage : String(e && e.message ? e.message : e);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`eip712-verify: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
