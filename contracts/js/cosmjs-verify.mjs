#!/usr/bin/env node
// Independent check of a signed Cosmos SDK transaction (SIGN_MODE_DIRECT) with CosmJS.
//
// stdin  {"txRawHex": "<TxRaw protobuf bytes, hex>", "pubkeyHex": "<33-byte compressed secp256k1>",
//         "chainId": "...", "accountNumber": "N"}
// stdout {"valid": bool, "checks": {...}, "memo": "..", "messages": [{"typeUrl": "..", "valueHex": ".."}],
//         "sequence": "N", "gasLimit": "N", "fee": [{"denom": "..", "amount": ".."}], "timeoutHeight": "N"}
//
// The TxRaw is decoded with @cosmjs/proto-signing decodeTxRaw; the SignDoc is rebuilt from the raw
// body and auth-info bytes with makeSignDoc/makeSignBytes, and the 64-byte r||s signature is checked
// with @cosmjs/crypto Secp256k1.verifySignature over sha256(signBytes). "valid" is true only if every
// entry of "checks" is true:
//   signature    the signature verifies with pubkeyHex
//   lowS         s <= n/2 (the Cosmos SDK rejects high-S; CosmJS verifySignature alone does not)
//   oneSigner    exactly one signer info and one signature
//   signModeDirect  the signer info uses SIGN_MODE_DIRECT
//   pubkeyMatches   the signer info carries a /cosmos.crypto.secp256k1.PubKey equal to pubkeyHex
// Messages of type /cosmwasm.wasm.v1.MsgExecuteContract also get a "decoded" field
// {"sender", "contract", "msg" (parsed JSON), "funds"}.
//
// Exit status 0 when a verdict was printed, 1 on malformed input (message on stderr).
import { decodeTxRaw, makeSignDoc, makeSignBytes } from '@cosmjs/proto-signing';
import { Secp256k1, Secp256k1Signature, sha256 } from '@cosmjs/crypto';
import { fromHex, toHex, fromUtf8 } from '@cosmjs/encoding';
import txPkg from 'cosmjs-types/cosmos/tx/v1beta1/tx.js';
import keysPkg from 'cosmjs-types/cosmos/crypto/secp256k1/keys.js';
import signingPkg from 'cosmjs-types/cosmos/tx/signing/v1beta1/signing.js';
import wasmPkg from 'cosmjs-types/cosmwasm/wasm/v1/tx.js';

const { TxRaw } = txPkg;
const { PubKey } = keysPkg;
const { SignMode } = signingPkg;
const { MsgExecuteContract } = wasmPkg;

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const SECP256K1_PUBKEY_TYPE = '/cosmos.crypto.secp256k1.PubKey';
const EXECUTE_TYPE = '/cosmwasm.wasm.v1.MsgExecuteContract';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function hexArg(name, value) {
  if (typeof value !== 'string') throw new Error(`"${name}" must be a hex string`);
  const h = value.startsWith('0x') ? value.slice(2) : value;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) throw new Error(`"${name}" is not valid hex`);
  return fromHex(h);
}

function decodeMessage(any) {
  const out = { typeUrl: any.typeUrl, valueHex: toHex(any.value) };
  if (any.typeUrl === EXECUTE_TYPE) {
    const m = MsgExecuteContract.decode(any.value);
    let msg;
    try {
      msg = JSON.parse(fromUtf8(m.msg));
    } catch {
      msg = null;
    }
    out.decoded = {
      sender: m.sender,
      contract: m.contract,
      msg,
      funds: m.funds.map((c) => ({ denom: c.denom, amount: c.amount })),
    };
  }
  return out;
}

async function main() {
  const input = JSON.parse(await readStdin());
  const txBytes = hexArg('txRawHex', input.txRawHex);
  const pubkey = hexArg('pubkeyHex', input.pubkeyHex);
  if (pubkey.length !== 33 || (pubkey[0] !== 2 && pubkey[0] !== 3)) {
    throw new Error('"pubkeyHex" must be a 33-byte compressed secp256k1 key');
  }
  if (typeof input.chainId !== 'string' || input.chainId === '') throw new Error('"chainId" must be a string');
  const acc = String(input.accountNumber);
  if (!/^(0|[1-9][0-9]*)$/.test(acc)) throw new Error('"accountNumber" must be a decimal integer');

  const raw = TxRaw.decode(txBytes);
  const decoded = decodeTxRaw(txBytes);
  const signerInfos = decoded.authInfo.signerInfos;

  const checks = {
    signature: false,
    lowS: false,
    oneSigner: signerInfos.length === 1 && raw.signatures.length === 1,
    signModeDirect: false,
    pubkeyMatches: false,
  };
  if (signerInfos.length >= 1) {
    const info = signerInfos[0];
    checks.signModeDirect = info.modeInfo?.single?.mode === SignMode.SIGN_MODE_DIRECT;
    if (info.publicKey?.typeUrl === SECP256K1_PUBKEY_TYPE) {
      checks.pubkeyMatches = toHex(PubKey.decode(info.publicKey.value).key) === toHex(pubkey);
    }
  }
  if (raw.signatures.length >= 1 && raw.signatures[0].length === 64) {
    const sigBytes = raw.signatures[0];
    const signDoc = makeSignDoc(raw.bodyBytes, raw.authInfoBytes, input.chainId, BigInt(acc));
    const hash = sha256(makeSignBytes(signDoc));
    const sig = Secp256k1Signature.fromFixedLength(sigBytes);
    checks.signature = await Secp256k1.verifySignature(sig, hash, pubkey);
    checks.lowS = BigInt('0x' + toHex(sigBytes.slice(32))) <= SECP256K1_HALF_N;
  }

  const fee = decoded.authInfo.fee;
  const out = {
    valid: Object.values(checks).every(Boolean),
    checks,
    memo: decoded.body.memo,
    messages: decoded.body.messages.map(decodeMessage),
    sequence: signerInfos.length >= 1 ? signerInfos[0].sequence.toString() : null,
    gasLimit: fee ? fee.gasLimit.toString() : null,
    fee: fee ? fee.amount.map((c) => ({ denom: c.denom, amount: c.amount })) : [],
    timeoutHeight: decoded.body.timeoutHeight.toString(),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`cosmjs-verify: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
