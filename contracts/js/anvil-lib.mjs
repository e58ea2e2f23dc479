// Shared helpers of the anvil tests (anvil-e2e.mjs, contracts-attack.mjs, contracts-attack-23.mjs): start anvil from
// node_modules on a free loopback port (or use ANVIL_URL), load the committed artifacts, deploy,
// send, simulate, and assert typed reverts with viem. Not a CLI.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import {
  createPublicClient,
  createWalletClient,
  http,
  toHex,
  sha256,
  concat,
  BaseError,
  ContractFunctionRevertedError,
  parseEventLogs,
  encodeDeployData,
  decodeErrorResult,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..');
export const ANVIL = join(root, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

// anvil's well-known development keys (mnemonic "test test ... junk"); local test chain only.
export const admin = privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
export const alice = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
export const relayer = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a');
export const bob = privateKeyToAccount('0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6');
export const carol = privateKeyToAccount('0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a');
// Device keys: arbitrary fixed secp256k1 keys.
export const dev = (n) => privateKeyToAccount(toHex(n, { size: 32 }));

export function artifact(name) {
  return {
    abi: JSON.parse(readFileSync(join(root, '..', 'depin-chains', 'evm-artifacts', `${name}.abi`), 'utf8')),
    bytecode: '0x' + readFileSync(join(root, '..', 'depin-chains', 'evm-artifacts', `${name}.bin`), 'utf8').trim(),
  };
}

/// Starts anvil on 127.0.0.1 with a port the OS picks; resolves { child, url } once it listens.
/// With ANVIL_URL set, uses that node instead (child is null; the caller must give it a fresh chain).
export function startAnvil() {
  if (process.env.ANVIL_URL) return Promise.resolve({ child: null, url: process.env.ANVIL_URL });
  return new Promise((resolve, reject) => {
    const child = spawn(ANVIL, ['--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('anvil did not start within 20 s')), 20000);
    child.on('error', reject);
    child.stdout.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(/Listening on ([0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://${m[1]}` });
      }
    });
  });
}

/// TAP-style counter: ok(what) prints "ok N - what".
export function reporter() {
  let passed = 0;
  return {
    ok(what) {
      passed += 1;
      console.log(`ok ${passed} - ${what}`);
    },
    get passed() {
      return passed;
    },
  };
}

/// viem clients and contract helpers bound to one node.
export function chain(url, ok) {
  const pub = createPublicClient({ chain: foundry, transport: http(url) });
  const wallet = (account) => createWalletClient({ account, chain: foundry, transport: http(url) });
  async function deploy(name, args, from = admin) {
    const { abi, bytecode } = artifact(name);
    const hash = await wallet(from).deployContract({ abi, bytecode, args });
    const rc = await pub.waitForTransactionReceipt({ hash });
    assert.equal(rc.status, 'success');
    return { address: rc.contractAddress, abi };
  }
  async function send(c, functionName, args, from) {
    const { request } = await pub.simulateContract({ address: c.address, abi: c.abi, functionName, args, account: from });
    const hash = await wallet(from).writeContract(request);
    const rc = await pub.waitForTransactionReceipt({ hash });
    assert.equal(rc.status, 'success', `${functionName} mined but failed`);
    return parseEventLogs({ abi: c.abi, logs: rc.logs });
  }
  /// Sends `functionName` in a block whose timestamp is exactly `time` (evm_setNextBlockTimestamp),
  /// without simulating first (a simulation would run at the previous block's time); asserts
  /// that it is mined successfully in a block with that timestamp and returns its events.
  async function sendAt(time, c, functionName, args, from, gas = 1_000_000n) {
    await pub.request({ method: 'evm_setNextBlockTimestamp', params: [toHex(time)] });
    const hash = await wallet(from).writeContract({ address: c.address, abi: c.abi, functionName, args, gas });
    const rc = await pub.waitForTransactionReceipt({ hash });
    assert.equal(rc.status, 'success', `${functionName} at ${time} mined but failed`);
    assert.equal((await pub.getBlock({ blockHash: rc.blockHash })).timestamp, BigInt(time));
    return parseEventLogs({ abi: c.abi, logs: rc.logs });
  }
  const sim = (c, functionName, args, from) =>
    pub.simulateContract({ address: c.address, abi: c.abi, functionName, args, account: from });
  const read = (c, functionName, args = []) => pub.readContract({ address: c.address, abi: c.abi, functionName, args });
  async function expectRevert(promise, errorName, what) {
    try {
      await promise;
    } catch (e) {
      const r = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : null;
      const got = r?.data?.errorName ?? r?.reason ?? e.shortMessage ?? String(e);
      assert.equal(got, errorName, `${what}: expected revert ${errorName}, got ${got}`);
      ok(`${what} reverts with ${errorName}`);
      return r.data?.args;
    }
    assert.fail(`${what}: expected revert ${errorName}, but it succeeded`);
  }
  /// Asserts that deploying `name` with `args` reverts with the custom error `errorName`.
  async function expectDeployRevert(name, args, errorName, what, from = admin) {
    const { abi, bytecode } = artifact(name);
    let data;
    try {
      await pub.call({ account: from, data: encodeDeployData({ abi, bytecode, args }) });
    } catch (e) {
      data = e instanceof BaseError ? e.walk((x) => typeof x?.data === 'string')?.data : undefined;
      if (data === undefined) throw e;
    }
    assert.ok(data !== undefined, `${what}: expected revert ${errorName}, but the deployment succeeded`);
    const got = decodeErrorResult({ abi, data }).errorName;
    assert.equal(got, errorName, `${what}: expected revert ${errorName}, got ${got}`);
    ok(`${what} reverts with ${errorName}`);
  }
  /// Moves the chain clock forward by `seconds` and mines a block.
  async function advance(seconds) {
    await pub.request({ method: 'evm_increaseTime', params: [toHex(seconds)] });
    await pub.request({ method: 'evm_mine', params: [] });
  }
  return { pub, wallet, deploy, send, sendAt, sim, read, expectRevert, expectDeployRevert, advance, chainId: foundry.id };
}

/// OpenZeppelin StandardMerkleTree via oz-merkle-tree.cjs. With `bound` = { chainId, distributor }
/// the leaves are the RewardDistributor ones, [chainId, distributor, account, amount].
export function ozTree(values, bound) {
  const input = { values: values.map(([a, n]) => [a, n.toString()]) };
  if (bound) {
    input.chainId = bound.chainId.toString();
    input.distributor = bound.distributor;
  }
  const out = execFileSync(process.execPath, [join(here, 'oz-merkle-tree.cjs')], { input: JSON.stringify(input) });
  return JSON.parse(out.toString());
}

/// The 64-byte public key x || y of a viem account (its publicKey is 0x04 || x || y).
export function publicKeyXY(account) {
  assert.equal(account.publicKey.length, 2 + 130);
  assert.ok(account.publicKey.startsWith('0x04'));
  return '0x' + account.publicKey.slice(4);
}

/// The SDK device id hash the registry requires: sha256(0x01 || compressed SEC1 key), computed
/// off chain from the uncompressed key (y parity picks the 0x02 / 0x03 prefix).
export function sdkDeviceId(account) {
  const xy = publicKeyXY(account).slice(2);
  const x = xy.slice(0, 64);
  const yOdd = (parseInt(xy.slice(127), 16) & 1) === 1;
  return sha256(concat(['0x01', yOdd ? '0x03' : '0x02', '0x' + x]));
}
