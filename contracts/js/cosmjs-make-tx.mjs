#!/usr/bin/env node
// Test helper: builds and signs (SIGN_MODE_DIRECT) a transaction with one
// /cosmwasm.wasm.v1.MsgExecuteContract using CosmJS's own wallet, so that cosmjs-verify.mjs can be
// exercised without a chain. Not used by the SDK.
//
// stdin  {"privkeyHex": "<32 bytes>", "chainId": "..", "accountNumber": "N", "sequence": "N",
//         "contract": "<bech32>", "msg": {...}, "memo": "..", "gasLimit": "N",
//         "fee": [{"denom": "..", "amount": ".."}], "prefix": "wasm"}
// stdout {"txRawHex": "..", "pubkeyHex": "..", "sender": "<bech32>"}
import { DirectSecp256k1Wallet, Registry, makeAuthInfoBytes, makeSignDoc, encodePubkey } from '@cosmjs/proto-signing';
import { fromHex, toHex, toUtf8, toBase64 } from '@cosmjs/encoding';
import txPkg from 'cosmjs-types/cosmos/tx/v1beta1/tx.js';
import wasmPkg from 'cosmjs-types/cosmwasm/wasm/v1/tx.js';

const { TxRaw } = txPkg;
const { MsgExecuteContract } = wasmPkg;
const EXECUTE_TYPE = '/cosmwasm.wasm.v1.MsgExecuteContract';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

async function main() {
  const input = JSON.parse(await readStdin());
  const wallet = await DirectSecp256k1Wallet.fromKey(fromHex(input.privkeyHex), input.prefix ?? 'wasm');
  const [account] = await wallet.getAccounts();
  const registry = new Registry([[EXECUTE_TYPE, MsgExecuteContract]]);
  const bodyBytes = registry.encodeTxBody({
    messages: [
      {
        typeUrl: EXECUTE_TYPE,
        value: MsgExecuteContract.fromPartial({
          sender: account.address,
          contract: input.contract,
          msg: toUtf8(JSON.stringify(input.msg)),
          funds: [],
        }),
      },
    ],
    memo: input.memo ?? '',
  });
  const pubkeyAny = encodePubkey({ type: 'tendermint/PubKeySecp256k1', value: toBase64(account.pubkey) });
  const authInfoBytes = makeAuthInfoBytes(
    [{ pubkey: pubkeyAny, sequence: BigInt(input.sequence ?? 0) }],
    input.fee ?? [],
    Number(input.gasLimit ?? 200000),
    undefined,
    undefined,
  );
  const signDoc = makeSignDoc(bodyBytes, authInfoBytes, input.chainId, BigInt(input.accountNumber));
  const { signed, signature } = await wallet.signDirect(account.address, signDoc);
  const txRaw = TxRaw.fromPartial({
    bodyBytes: signed.bodyBytes,
    authInfoBytes: signed.authInfoBytes,
    signatures: [Buffer.from(signature.signature, 'base64')],
  });
  process.stdout.write(
    JSON.stringify({
      txRawHex: toHex(TxRaw.encode(txRaw).finish()),
      pubkeyHex: toHex(account.pubkey),
      sender: account.address,
    }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(`cosmjs-make-tx: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
