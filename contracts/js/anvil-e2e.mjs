#!/usr/bin/env node
// End-to-end test of the committed artifacts on a real local node: starts anvil (from
// node_modules) on a free port, deploys DepinToken, DeviceRegistry and RewardDistributor from
// depin-chains/evm-artifacts, and checks every success and failure path with viem. Claim trees come from
// oz-merkle-tree.cjs, so this also proves OpenZeppelin StandardMerkleTree output is accepted.
//
//   node contracts/js/anvil-e2e.mjs        prints one line per check, exit 1 on the first failure
import assert from 'node:assert/strict';
import { keccak256, toHex, hexToBigInt, domainSeparator, zeroHash } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { admin, alice, relayer, dev, startAnvil, reporter, chain, ozTree, publicKeyXY, sdkDeviceId } from './anvil-lib.mjs';

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const rep = reporter();
const ok = rep.ok;

async function main() {
  const { child, url } = await startAnvil();
  try {
    const { pub, deploy, send, sim, read, expectRevert, advance } = chain(url, ok);

    // ------------------------------------------------------------------ DeviceRegistry
    const reg = await deploy('DeviceRegistry', [0]);
    ok(`DeviceRegistry deployed at ${reg.address}`);

    const typehash = keccak256(
      toHex(
        'Register(address owner,address device,uint8 keyType,bytes32 deviceId,bytes32 metadataHash,uint256 nonce,uint256 deadline)',
      ),
    );
    assert.equal(await read(reg, 'REGISTER_TYPEHASH'), typehash);
    ok('REGISTER_TYPEHASH matches the documented type string');
    const domain = { name: 'DepinDeviceRegistry', version: '1', chainId: foundry.id, verifyingContract: reg.address };
    assert.equal(await read(reg, 'DOMAIN_SEPARATOR'), domainSeparator({ domain }));
    ok('DOMAIN_SEPARATOR matches viem domainSeparator(name, version, chainId, verifyingContract)');
    assert.equal(await read(reg, 'supportsInterface', ['0x80ac58cd']), true);
    assert.equal(await read(reg, 'supportsInterface', ['0x7965db0b']), true);
    assert.equal(await read(reg, 'supportsInterface', ['0x31498786']), true);
    ok('supports ERC-721, AccessControl and AccessControlDefaultAdminRules interfaces');
    assert.equal(await read(reg, 'defaultAdmin'), admin.address);
    assert.equal(await read(reg, 'defaultAdminDelay'), 0);
    ok('deployer is the default admin, admin delay as given to the constructor');

    const types = {
      Register: [
        { name: 'owner', type: 'address' },
        { name: 'device', type: 'address' },
        { name: 'keyType', type: 'uint8' },
        { name: 'deviceId', type: 'bytes32' },
        { name: 'metadataHash', type: 'bytes32' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    };
    // Deadlines may be at most MAX_PERMIT_LIFETIME (30 days) ahead of the including block.
    assert.equal(await read(reg, 'MAX_PERMIT_LIFETIME'), 30n * 86400n);
    const farDeadline = (await pub.getBlock()).timestamp + 7n * 86400n;
    async function permit(signer, fields, dom = domain) {
      const message = {
        owner: alice.address,
        device: signer.address,
        keyType: 1,
        deviceId: sdkDeviceId(signer),
        metadataHash: keccak256(toHex('meta')),
        nonce: 0n,
        deadline: farDeadline,
        ...fields,
      };
      const signature = await signer.signTypedData({ domain: dom, types, primaryType: 'Register', message });
      return { message, signature, publicKey: publicKeyXY(signer) };
    }
    const regArgs = ({ message: m, signature, publicKey }) =>
      [m.owner, m.device, m.keyType, m.deviceId, m.metadataHash, m.deadline, publicKey, signature];

    {
      // The golden vectors documented in contracts/README.md (registry = first deployment on anvil).
      assert.equal(reg.address.toLowerCase(), '0x5fbdb2315678afecb367f032d93f642f64180aa3');
      const golden = privateKeyToAccount('0x' + '42'.repeat(32));
      assert.equal(golden.address, '0x17c5185167401eD00cF5F5b2fc97D9BBfDb7D025');
      const pk =
        '0x24653eac434488002cc06bbfb7f10fe18991e35f9fe4302dbea6d2353dc0ab1c' +
        '119fc5009a032aa9fe47f5e149bb8442f71f884ccb516590686d8ff6ab91c613';
      assert.equal(publicKeyXY(golden), pk);
      const id = '0x5f8f3c57e137adb4e4461539ae1dc366fdcc6c0c2a84ebf25cdd251664592a62';
      assert.equal(await read(reg, 'deviceIdOf', [1, golden.address, pk]), id);
      ok('deviceIdOf of the README golden key is sha256(0x01 || compressed key)');
      const owner = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
      // Digest-only vector (deviceId 0xabab..ab): a valid signature, but the id is not derived
      // from the key, so the contract refuses it.
      const sig0 =
        '0x4e2dc4d38315713be677a047427b3a219964191bd8b3fef62a4c00e48dc7e640' +
        '073b6074f44e8f2e9cc911b104d64133c4962b7b209059b522e8a9b3f3f119661b';
      const args0 = [owner, golden.address, 1, '0x' + 'ab'.repeat(32), '0x' + 'cd'.repeat(32), 4102444800n, pk, sig0];
      // The vectors' deadline (2100-01-01) is more than MAX_PERMIT_LIFETIME away today, so they are
      // run in an eth_call whose block is dated one day before it (block override).
      const at2099 = { blockOverrides: { time: 4102444800n - 86400n } };
      const simAt = (fn, a) => pub.simulateContract({ address: reg.address, abi: reg.abi, functionName: fn, args: a, account: relayer, ...at2099 });
      await expectRevert(simAt('register', args0), 'DeviceIdMismatch', 'README digest-only vector (deviceId 0xabab..ab, block time 2099-12-31)');
      const sig =
        '0x0bc66465f7a20ee1fcb6342e7387eccc340f76f8cc09b7274d6fdbbeda5e6f90' +
        '7e813baa9d47c5f72e693011cb3f06a20b3ba3c20118c9eab9a5031c72eabbd21b';
      const args = [owner, golden.address, 1, id, '0x' + 'cd'.repeat(32), 4102444800n, pk, sig];
      await expectRevert(sim(reg, 'register', args, relayer), 'DeadlineTooFar', 'README golden registration vector at the current block time');
      assert.equal((await simAt('register', args)).result, hexToBigInt(golden.address));
      ok('README golden registration vector is accepted by the contract (block time 2099-12-31)');
    }

    const d1 = dev(0x1001n);
    const p1 = await permit(d1, {});
    const tokenId = hexToBigInt(d1.address);
    let ev = await send(reg, 'register', regArgs(p1), relayer);
    const registered = ev.find((e) => e.eventName === 'DeviceRegistered');
    assert.equal(registered.args.device, d1.address);
    assert.equal(registered.args.owner, alice.address);
    assert.ok(ev.some((e) => e.eventName === 'Transfer' && e.args.tokenId === tokenId));
    ok('register by a relayer with the device signature mints token uint160(device) to the owner');
    assert.deepEqual(await read(reg, 'deviceInfo', [d1.address]), [alice.address, 1, p1.message.deviceId, p1.message.metadataHash, true]);
    assert.equal(await read(reg, 'ownerOf', [tokenId]), alice.address);
    assert.equal(await read(reg, 'nonces', [d1.address]), 1n);
    ok('deviceInfo, ownerOf and nonces after registration');
    await expectRevert(sim(reg, 'register', regArgs(p1), relayer), 'AlreadyRegistered', 'replayed registration');

    const d2 = dev(0x1002n);
    const good2 = await permit(d2, {});
    await expectRevert(sim(reg, 'register', regArgs({ ...(await permit(dev(0x9999n), { device: d2.address, deviceId: sdkDeviceId(d2) })), publicKey: publicKeyXY(d2) }), relayer), 'InvalidSignature', 'signature by another key');
    await expectRevert(sim(reg, 'register', regArgs({ ...good2, message: { ...good2.message, owner: relayer.address } }), relayer), 'InvalidSignature', 'owner swapped after signing');
    await expectRevert(sim(reg, 'register', regArgs({ ...good2, message: { ...good2.message, metadataHash: zeroHash } }), relayer), 'InvalidSignature', 'metadataHash changed after signing');
    await expectRevert(sim(reg, 'register', regArgs({ ...good2, message: { ...good2.message, keyType: 0 } }), relayer), 'UnsupportedKeyType', 'keyType changed to 0 (Ed25519) after signing');
    await expectRevert(sim(reg, 'register', regArgs({ ...good2, message: { ...good2.message, keyType: 2 } }), relayer), 'PublicKeyMismatch', 'keyType changed to 2 (P-256) after signing');
    await expectRevert(sim(reg, 'register', regArgs(await permit(d2, { nonce: 1n })), relayer), 'InvalidSignature', 'signature over a wrong nonce');
    await expectRevert(sim(reg, 'register', regArgs(await permit(d2, {}, { ...domain, chainId: 1 })), relayer), 'InvalidSignature', 'signature for another chainId');
    await expectRevert(sim(reg, 'register', regArgs(await permit(d2, {}, { ...domain, verifyingContract: relayer.address })), relayer), 'InvalidSignature', 'signature for another verifyingContract');
    {
      const sig = good2.signature.slice(2);
      const r = sig.slice(0, 64);
      const s = hexToBigInt('0x' + sig.slice(64, 128));
      const v = parseInt(sig.slice(128), 16);
      const highS = '0x' + r + toHex(SECP256K1_N - s, { size: 32 }).slice(2) + (v === 27 ? '1c' : '1b');
      await expectRevert(sim(reg, 'register', regArgs({ ...good2, signature: highS }), relayer), 'InvalidSignature', 'high-S twin of a valid signature');
      const v01 = '0x' + sig.slice(0, 128) + toHex(v - 27, { size: 1 }).slice(2);
      await expectRevert(sim(reg, 'register', regArgs({ ...good2, signature: v01 }), relayer), 'InvalidSignature', 'valid signature with v in {0,1}');
      await expectRevert(sim(reg, 'register', regArgs({ ...good2, signature: '0x' + sig.slice(0, 128) }), relayer), 'InvalidSignature', '64-byte signature');
    }
    const block = await pub.getBlock();
    await expectRevert(sim(reg, 'register', regArgs(await permit(d2, { deadline: block.timestamp - 1n })), relayer), 'Expired', 'expired deadline');
    await expectRevert(sim(reg, 'register', regArgs({ ...good2, message: { ...good2.message, owner: '0x0000000000000000000000000000000000000000' } }), relayer), 'ZeroAddress', 'zero owner');
    await send(reg, 'register', regArgs(good2), relayer);
    ok('the untampered low-S signature still registers the device');

    await expectRevert(sim(reg, 'revoke', [d1.address], relayer), 'NotAuthorized', 'revoke by a stranger');
    ev = await send(reg, 'revoke', [d1.address], alice);
    assert.equal(ev[0].eventName, 'DeviceRevoked');
    assert.equal(ev[0].args.by, alice.address);
    assert.equal((await read(reg, 'deviceInfo', [d1.address]))[4], false);
    assert.equal(await read(reg, 'ownerOf', [tokenId]), alice.address);
    ok('revoke by the token owner marks the device inactive and keeps the token');
    await expectRevert(sim(reg, 'revoke', [d1.address], alice), 'AlreadyRevoked', 'second revoke');
    await expectRevert(sim(reg, 'register', regArgs(await permit(d1, { nonce: 1n })), relayer), 'AlreadyRegistered', 're-registering a revoked device');
    ev = await send(reg, 'revoke', [d2.address], admin);
    assert.equal(ev[0].args.by, admin.address);
    ok('revoke by the admin');
    await expectRevert(sim(reg, 'revoke', [dev(0x1003n).address], admin), 'NotFound', 'revoke of an unknown device');
    await expectRevert(read(reg, 'deviceInfo', [dev(0x1003n).address]), 'NotFound', 'deviceInfo of an unknown device');

    // ------------------------------------------------------------------ RewardDistributor
    const oracle = alice;
    const tok = await deploy('DepinToken', ['Depin Test', 'DPT']);
    const dist = await deploy('RewardDistributor', [tok.address, oracle.address, relayer.address, 0]);
    const bound = { chainId: foundry.id, distributor: dist.address };
    ok(`DepinToken and RewardDistributor deployed at ${tok.address}, ${dist.address}`);
    await expectRevert(sim(tok, 'mint', [relayer.address, 1n], relayer), 'OwnableUnauthorizedAccount', 'mint by a non-owner');

    const [u1, u2, u3, u4] = [0x2001n, 0x2002n, 0x2003n, 0x2004n].map((n) => dev(n).address);
    await expectRevert(sim(dist, 'claim', [u1, 1n, []], relayer), 'NoRoot', 'claim before any root');

    const e1 = [[u1, 100n], [u2, 50n], [u3, 25n]];
    const t1 = ozTree(e1, bound);
    await expectRevert(sim(dist, 'publishRoot', [1n, t1.root, 175n], admin), 'AccessControlUnauthorizedAccount', 'publishRoot without ORACLE_ROLE');
    await expectRevert(sim(dist, 'publishRoot', [1n, zeroHash, 0n], oracle), 'ZeroRoot', 'zero root');
    ev = await send(dist, 'publishRoot', [1n, t1.root, 175n], oracle);
    assert.equal(ev.length, 1);
    assert.equal(ev[0].eventName, 'RootPublished');
    ok('oracle publishes epoch 1');
    ev = await send(dist, 'publishRoot', [1n, t1.root, 175n], oracle);
    assert.equal(ev.length, 0);
    ok('re-publishing the same (epoch, root, total) is a no-op without event');
    await expectRevert(sim(dist, 'publishRoot', [1n, keccak256('0x01'), 175n], oracle), 'EpochAlreadyPublished', 'different root for epoch 1');
    await expectRevert(sim(dist, 'publishRoot', [1n, t1.root, 176n], oracle), 'EpochAlreadyPublished', 'different total for epoch 1');
    await expectRevert(sim(dist, 'publishRoot', [0n, t1.root, 175n], oracle), 'EpochNotIncreasing', 'unpublished epoch below the latest');

    await expectRevert(sim(dist, 'claim', [u1, 100n, t1.proofs[0]], relayer), 'InsufficientFunds', 'claim from an unfunded distributor');
    await send(tok, 'mint', [dist.address, 1000n], admin);
    ev = await send(dist, 'claim', [u1, 100n, t1.proofs[0]], relayer);
    const claimedEv = ev.find((e) => e.eventName === 'Claimed');
    assert.deepEqual([claimedEv.args.account, claimedEv.args.epoch, claimedEv.args.amount, claimedEv.args.cumulativeAmount], [u1, 1n, 100n, 100n]);
    assert.equal(await read(tok, 'balanceOf', [u1]), 100n);
    assert.equal(await read(dist, 'claimed', [u1]), 100n);
    ok('claim with an OpenZeppelin StandardMerkleTree proof pays the account (submitted by a third party)');
    await expectRevert(sim(dist, 'claim', [u1, 100n, t1.proofs[0]], relayer), 'NothingToClaim', 'double claim');
    await expectRevert(sim(dist, 'claim', [u1, 1000n, t1.proofs[0]], relayer), 'InvalidProof', 'inflated amount');
    await expectRevert(sim(dist, 'claim', [u2, 50n, t1.proofs[0]], relayer), 'InvalidProof', 'proof of another leaf');
    await expectRevert(sim(dist, 'claim', [u2, 50n, [t1.leaves[1]]], relayer), 'InvalidProof', 'forged proof');
    await expectRevert(sim(dist, 'claim', [u2, 50n, []], relayer), 'InvalidProof', 'empty proof against a 3-leaf tree');
    await send(dist, 'claim', [u2, 50n, t1.proofs[1]], relayer);
    assert.equal(await read(tok, 'balanceOf', [u2]), 50n);
    ok('second account claims its leaf');

    const e3 = [[u1, 250n], [u2, 50n], [u3, 25n], [u4, 10n]];
    const t3 = ozTree(e3, bound);
    await send(dist, 'publishRoot', [3n, t3.root, 335n], oracle);
    ok('epoch 3 published after epoch 1 (gaps allowed)');
    await expectRevert(sim(dist, 'publishRoot', [2n, t3.root, 335n], oracle), 'EpochNotIncreasing', 'epoch 2 after epoch 3');
    ev = await send(dist, 'publishRoot', [1n, t1.root, 175n], oracle);
    assert.equal(ev.length, 0);
    ok('re-publishing an older epoch with its own root is also a no-op');
    await expectRevert(sim(dist, 'publishRoot', [1n, t3.root, 335n], oracle), 'EpochAlreadyPublished', 'another root for the older epoch 1');
    assert.equal(await read(dist, 'latestEpoch'), 3n);
    assert.equal(await read(dist, 'latestRoot'), t3.root);
    assert.equal(await read(dist, 'rootOf', [1n]), t1.root);
    assert.equal(await read(dist, 'rootOf', [2n]), zeroHash);
    assert.equal(await read(dist, 'totalOf', [3n]), 335n);
    ok('latestEpoch, latestRoot, rootOf, totalOf');

    ev = await send(dist, 'claim', [u1, 250n, t3.proofs[0]], relayer);
    assert.equal(ev.find((e) => e.eventName === 'Claimed').args.amount, 150n);
    assert.equal(await read(tok, 'balanceOf', [u1]), 250n);
    ok('cumulative claim pays only the difference (150)');
    await expectRevert(sim(dist, 'claim', [u2, 50n, t3.proofs[1]], relayer), 'NothingToClaim', 'unchanged cumulative amount');
    // The previous root (epoch 1) stays claimable for CLAIM_GRACE_PERIOD after epoch 3 landed.
    assert.equal(await sim(dist, 'claim', [u3, 25n, t1.proofs[2]], relayer).then((r) => r.result), 25n);
    ok('a proof against the previous root is accepted within the grace period');
    await advance(86400 + 1);
    await expectRevert(sim(dist, 'claim', [u3, 25n, t1.proofs[2]], relayer), 'InvalidProof', 'proof against a superseded root after the grace period');
    await send(dist, 'claim', [u3, 25n, t3.proofs[2]], relayer);
    await send(dist, 'claim', [u4, 10n, t3.proofs[3]], relayer);
    assert.equal(await read(dist, 'totalClaimed'), 335n);
    assert.equal(await read(tok, 'balanceOf', [dist.address]), 1000n - 335n);
    ok('totalClaimed and balances add up');

    assert.equal(await read(dist, 'leafHash', [u1, 250n]), t3.leaves[0]);
    ok('leafHash(account, amount) equals the OpenZeppelin leaf of [chainId, distributor, account, amount]');

    const e4 = [[u1, 1000n], [u2, 50n], [u3, 25n], [u4, 10n]];
    const t4 = ozTree(e4, bound);
    await send(dist, 'publishRoot', [4n, t4.root, 1085n], oracle);
    await expectRevert(sim(dist, 'claim', [u1, 1000n, t4.proofs[0]], relayer), 'InsufficientFunds', 'claim above the balance');
    await send(tok, 'mint', [dist.address, 85n], admin);
    await send(dist, 'claim', [u1, 1000n, t4.proofs[0]], relayer);
    assert.equal(await read(tok, 'balanceOf', [u1]), 1000n);
    assert.equal(await read(dist, 'totalClaimed'), 1085n);
    assert.equal(await read(dist, 'latestTotal'), 1085n);
    ok('claim up to exactly the published total');

    const dist1 = await deploy('RewardDistributor', [tok.address, oracle.address, relayer.address, 0]);
    const t5 = ozTree([[u1, 1000n]], { chainId: foundry.id, distributor: dist1.address });
    assert.deepEqual(t5.proofs[0], []);
    await send(dist1, 'publishRoot', [0n, t5.root, 1000n], oracle);
    await send(tok, 'mint', [dist1.address, 1000n], admin);
    await send(dist1, 'claim', [u1, 1000n, []], relayer);
    assert.equal(await read(tok, 'balanceOf', [u1]), 2000n);
    ok('single-leaf tree (empty proof) claim, epoch 0 as the first epoch');

    console.log(`# all ${rep.passed} checks passed`);
  } finally {
    if (child) child.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
