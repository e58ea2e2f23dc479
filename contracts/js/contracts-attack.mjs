#!/usr/bin/env node
// Attack tests of the security-review fixes, on a real local node: starts anvil (from
// node_modules) on a free loopback port, or uses ANVIL_URL (a fresh chain), deploys the committed
// artifacts and checks with viem that
//   - a proof for distributor A is refused by distributor B (same root published on both), and
//     by A itself when the tree was built for another chain id or with the old two-field leaf;
//   - a claim that would push totalClaimed above the published total is refused, and a new
//     total can never be below what was already paid (TotalBelowClaimed);
//   - a guardian pause blocks claims (the oracle can still publish), only the admin unpauses;
//   - the admin role moves only by begin + accept (after the delay), never by grantRole;
//   - the registry refuses Ed25519 and unknown key types by themselves, a deviceId not derived from the key, a public key that
//     is not the device's, and the transfer of a revoked device's token (while a non-revoked
//     token still transfers).
//
//   node contracts/js/contracts-attack.mjs     prints one line per check, exit 1 on the first failure
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { sha256, hexToBigInt, keccak256, toHex, zeroAddress } from 'viem';
import {
  here,
  admin,
  alice,
  bob,
  carol,
  relayer,
  dev,
  startAnvil,
  reporter,
  chain,
  ozTree,
  publicKeyXY,
  sdkDeviceId,
} from './anvil-lib.mjs';

const require = createRequire(here + '/');
const { secp256k1 } = require('@noble/curves/secp256k1');

const rep = reporter();
const ok = rep.ok;
const DEFAULT_ADMIN_ROLE = '0x' + '00'.repeat(32);
const GUARDIAN_ROLE = keccak256(toHex('GUARDIAN_ROLE'));

async function main() {
  const { child, url } = await startAnvil();
  try {
    const c = chain(url, ok);
    const { deploy, send, sim, read, expectRevert, expectDeployRevert, advance, chainId } = c;
    const oracle = alice;
    const guardian = carol;

    // ================================================================ RewardDistributor
    const tok = await deploy('DepinToken', ['Depin Test', 'DPT']);
    await expectDeployRevert('RewardDistributor', [tok.address, oracle.address, zeroAddress, 0], 'ZeroAddress', 'distributor with a zero guardian');
    const A = await deploy('RewardDistributor', [tok.address, oracle.address, guardian.address, 0]);
    const B = await deploy('RewardDistributor', [tok.address, oracle.address, guardian.address, 0]);
    await send(tok, 'mint', [A.address, 10_000n], admin);
    await send(tok, 'mint', [B.address, 10_000n], admin);
    ok(`distributors A ${A.address} and B ${B.address} deployed and funded`);

    const [u1, u2, u3] = [0x3001n, 0x3002n, 0x3003n].map((n) => dev(n).address);

    // ---------------------------------------------------------------- cross-distributor replay
    const e1 = [[u1, 100n], [u2, 200n], [u3, 300n]];
    const tA = ozTree(e1, { chainId, distributor: A.address });
    await send(A, 'publishRoot', [1n, tA.root, 600n], oracle);
    await send(B, 'publishRoot', [1n, tA.root, 600n], oracle);
    assert.equal(await read(A, 'latestRoot'), await read(B, 'latestRoot'));
    ok('the same root (built for A) is published on A and on B');
    await expectRevert(sim(B, 'claim', [u1, 100n, tA.proofs[0]], relayer), 'InvalidProof', "A's proof replayed on distributor B");
    assert.notEqual(await read(B, 'leafHash', [u1, 100n]), tA.leaves[0]);
    ok("B's leaf for the same (account, amount) differs from A's");
    await send(A, 'claim', [u1, 100n, tA.proofs[0]], relayer);
    assert.equal(await read(A, 'claimed', [u1]), 100n);
    ok("A accepts its own proof");
    const tOtherChain = ozTree(e1, { chainId: 1n, distributor: A.address });
    await send(A, 'publishRoot', [2n, tOtherChain.root, 600n], oracle);
    await expectRevert(sim(A, 'claim', [u2, 200n, tOtherChain.proofs[1]], relayer), 'InvalidProof', 'proof of a tree built for chain id 1 on chain 31337');
    const tOld = ozTree(e1);
    await send(A, 'publishRoot', [3n, tOld.root, 600n], oracle);
    await expectRevert(sim(A, 'claim', [u2, 200n, tOld.proofs[1]], relayer), 'InvalidProof', 'proof of an old (address, uint256) tree');

    // ---------------------------------------------------------------- published total
    // A tree whose amounts add up to more than the published total (the oracle under-reports,
    // or the tree was inflated): claims stop at the total.
    const tB = ozTree([[u1, 500n], [u2, 400n], [u3, 300n]], { chainId, distributor: B.address });
    await send(B, 'publishRoot', [2n, tB.root, 700n], oracle);
    await send(B, 'claim', [u1, 500n, tB.proofs[0]], relayer);
    assert.equal(await read(B, 'totalClaimed'), 500n);
    ok('claim within the published total (500 of 700)');
    const args = await expectRevert(sim(B, 'claim', [u2, 400n, tB.proofs[1]], relayer), 'TotalExceeded', 'claim pushing totalClaimed to 900 > total 700');
    assert.deepEqual(args, [900n, 700n]);
    ok('TotalExceeded reports (newTotalClaimed 900, publishedTotal 700)');
    await expectRevert(sim(B, 'claim', [u3, 300n, tB.proofs[2]], relayer), 'TotalExceeded', 'claim pushing totalClaimed to 800 > total 700');
    assert.equal(await read(B, 'totalClaimed'), 500n);
    assert.equal(await read(B, 'latestTotal'), 700n);
    // The oracle corrects the total in a later epoch (the same tree, the right total).
    await send(B, 'publishRoot', [3n, tB.root, 1200n], oracle);
    await send(B, 'claim', [u2, 400n, tB.proofs[1]], relayer);
    await send(B, 'claim', [u3, 300n, tB.proofs[2]], relayer);
    assert.equal(await read(B, 'totalClaimed'), 1200n);
    ok('after the total is raised to the tree sum (1200) the remaining claims pay, totalClaimed = 1200');
    const dec = await expectRevert(sim(B, 'publishRoot', [4n, keccak256('0x04'), 1199n], oracle), 'TotalBelowClaimed', 'epoch 4 total 1199 after 1200 were paid');
    assert.deepEqual(dec, [1199n, 1200n]);
    await expectRevert(sim(B, 'publishRoot', [4n, keccak256('0x04'), 0n], oracle), 'TotalBelowClaimed', 'epoch 4 total 0 after 1200 were paid');
    await send(B, 'publishRoot', [4n, keccak256('0x04'), 1200n], oracle);
    ok('a total equal to totalClaimed is accepted for a new epoch');
    assert.equal(await read(A, 'latestTotal'), 600n);
    ok('TotalBelowClaimed reports (total, totalClaimed); totals are per distributor');

    // ---------------------------------------------------------------- pause
    assert.equal(await read(A, 'hasRole', [GUARDIAN_ROLE, guardian.address]), true);
    await expectRevert(sim(A, 'pause', [], relayer), 'AccessControlUnauthorizedAccount', 'pause by a stranger');
    await expectRevert(sim(A, 'pause', [], oracle), 'AccessControlUnauthorizedAccount', 'pause by the oracle');
    await expectRevert(sim(A, 'pause', [], admin), 'AccessControlUnauthorizedAccount', 'pause by the admin without GUARDIAN_ROLE');
    const tA4 = ozTree([[u1, 150n], [u2, 200n], [u3, 300n]], { chainId, distributor: A.address });
    let ev = await send(A, 'pause', [], guardian);
    assert.equal(ev[0].eventName, 'Paused');
    assert.equal(await read(A, 'paused'), true);
    ok('the guardian pauses A (Paused event, paused() = true)');
    await expectRevert(sim(A, 'pause', [], guardian), 'EnforcedPause', 'second pause');
    // Publication stays open while paused (so a bad root can be replaced before unpausing);
    // simulated only here, the full correction sequence is in contracts-attack-23.mjs.
    assert.deepEqual((await sim(A, 'publishRoot', [4n, tA4.root, 650n], oracle)).result, undefined);
    assert.deepEqual(await send(A, 'publishRoot', [3n, tOld.root, 600n], oracle), []);
    await expectRevert(sim(A, 'publishRoot', [4n, tA4.root, 650n], relayer), 'AccessControlUnauthorizedAccount', 'publishRoot by a stranger while paused');
    ok('while paused the oracle can still publish (simulated) and re-publish idempotently (no event)');
    await expectRevert(sim(A, 'unpause', [], guardian), 'AccessControlUnauthorizedAccount', 'unpause by the guardian');
    await expectRevert(sim(A, 'unpause', [], oracle), 'AccessControlUnauthorizedAccount', 'unpause by the oracle');
    // Claims: publish a root with a valid claim while unpaused, pause again, and check that the
    // pause (not the proof) refuses that claim, which then pays once unpaused.
    ev = await send(A, 'unpause', [], admin);
    assert.equal(ev[0].eventName, 'Unpaused');
    ok('the admin unpauses A');
    await expectRevert(sim(A, 'unpause', [], admin), 'ExpectedPause', 'unpause when not paused');
    await send(A, 'publishRoot', [4n, tA4.root, 650n], oracle);
    await send(A, 'pause', [], guardian);
    await expectRevert(sim(A, 'claim', [u2, 200n, tA4.proofs[1]], relayer), 'EnforcedPause', 'valid claim while paused');
    await send(A, 'unpause', [], admin);
    await send(A, 'claim', [u2, 200n, tA4.proofs[1]], relayer);
    await send(A, 'claim', [u1, 150n, tA4.proofs[0]], relayer);
    assert.equal(await read(A, 'claimed', [u1]), 150n);
    assert.equal(await read(A, 'totalClaimed'), 350n);
    ok('after unpause the same claim pays, and publication works again');

    // ---------------------------------------------------------------- two-step admin handover
    const delay = 3600;
    const C = await deploy('RewardDistributor', [tok.address, oracle.address, guardian.address, delay]);
    assert.equal(await read(C, 'defaultAdmin'), admin.address);
    assert.equal(await read(C, 'defaultAdminDelay'), delay);
    assert.equal(await read(C, 'owner'), admin.address);
    ok('C deployed with adminDelay 3600: the deployer is defaultAdmin');
    await expectRevert(sim(C, 'grantRole', [DEFAULT_ADMIN_ROLE, bob.address], admin), 'AccessControlEnforcedDefaultAdminRules', 'one-step grantRole(DEFAULT_ADMIN_ROLE)');
    await expectRevert(sim(C, 'revokeRole', [DEFAULT_ADMIN_ROLE, admin.address], admin), 'AccessControlEnforcedDefaultAdminRules', 'one-step revokeRole(DEFAULT_ADMIN_ROLE)');
    await expectRevert(sim(C, 'beginDefaultAdminTransfer', [bob.address], relayer), 'AccessControlUnauthorizedAccount', 'beginDefaultAdminTransfer by a stranger');
    await expectRevert(sim(C, 'acceptDefaultAdminTransfer', [], bob), 'AccessControlInvalidDefaultAdmin', 'accept without a pending transfer');
    ev = await send(C, 'beginDefaultAdminTransfer', [bob.address], admin);
    assert.equal(ev[0].eventName, 'DefaultAdminTransferScheduled');
    const [pending, schedule] = await read(C, 'pendingDefaultAdmin');
    assert.equal(pending, bob.address);
    assert.equal(await read(C, 'defaultAdmin'), admin.address);
    assert.equal(await read(C, 'hasRole', [DEFAULT_ADMIN_ROLE, bob.address]), false);
    ok(`begin: bob is pending admin (accept after ${schedule}), admin unchanged`);
    await expectRevert(sim(C, 'acceptDefaultAdminTransfer', [], carol), 'AccessControlInvalidDefaultAdmin', 'accept by someone else than the pending admin');
    await expectRevert(sim(C, 'acceptDefaultAdminTransfer', [], bob), 'AccessControlEnforcedDefaultAdminDelay', 'accept before the delay');
    await expectRevert(sim(C, 'grantRole', [GUARDIAN_ROLE, bob.address], bob), 'AccessControlUnauthorizedAccount', 'pending admin using admin rights');
    await advance(delay + 1);
    await send(C, 'acceptDefaultAdminTransfer', [], bob);
    assert.equal(await read(C, 'defaultAdmin'), bob.address);
    assert.equal(await read(C, 'hasRole', [DEFAULT_ADMIN_ROLE, admin.address]), false);
    assert.equal(await read(C, 'hasRole', [DEFAULT_ADMIN_ROLE, bob.address]), true);
    ok('accept after the delay: bob is the only admin');
    await send(C, 'pause', [], guardian);
    await expectRevert(sim(C, 'unpause', [], admin), 'AccessControlUnauthorizedAccount', 'unpause by the former admin');
    await expectRevert(sim(C, 'grantRole', [GUARDIAN_ROLE, admin.address], admin), 'AccessControlUnauthorizedAccount', 'grantRole by the former admin');
    await send(C, 'unpause', [], bob);
    await send(C, 'grantRole', [GUARDIAN_ROLE, bob.address], bob);
    ok('the new admin unpauses and manages roles');

    // ================================================================ DeviceRegistry
    const reg = await deploy('DeviceRegistry', [0]);
    assert.equal(await read(reg, 'KEY_TYPE_SECP256K1'), 1);
    ok(`DeviceRegistry deployed at ${reg.address} (admin delay 0)`);
    const domain = { name: 'DepinDeviceRegistry', version: '1', chainId, verifyingContract: reg.address };
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
    // Signs a permit with `signer`; every field may be overridden, and so may the public key sent.
    // The default deadline is one day after the latest block (at most MAX_PERMIT_LIFETIME ahead).
    async function permit(signer, fields = {}, publicKey = publicKeyXY(signer)) {
      const farDeadline = (await c.pub.getBlock()).timestamp + 86400n;
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
      const signature = await signer.signTypedData({ domain, types, primaryType: 'Register', message });
      const m = message;
      return [m.owner, m.device, m.keyType, m.deviceId, m.metadataHash, m.deadline, publicKey, signature];
    }
    // Two device keys, one with an odd and one with an even y coordinate (0x03 / 0x02 prefix).
    let odd = null;
    let even = null;
    for (let n = 0x4001n; !odd || !even; n++) {
      const k = { n, acct: dev(n) };
      const yOdd = (parseInt(k.acct.publicKey.slice(-1), 16) & 1) === 1;
      if (yOdd && !odd) odd = k;
      if (!yOdd && !even) even = k;
    }
    for (const k of [odd, even]) {
      // Independent derivation: noble's compressed key, the SDK's binary device id 0x01 || key.
      const compressed = toHex(secp256k1.getPublicKey(toHex(k.n, { size: 32 }).slice(2), true));
      const expected = sha256(('0x01' + compressed.slice(2)));
      assert.equal(sdkDeviceId(k.acct), expected);
      assert.equal(await read(reg, 'deviceIdOf', [1, k.acct.address, publicKeyXY(k.acct)]), expected);
    }
    ok('deviceIdOf = sha256(0x01 || compressed key) for an odd-y (0x03) and an even-y (0x02) key');
    const d1 = odd.acct;
    const d2 = even.acct;

    // ---------------------------------------------------------------- key type
    // Ed25519 (0) cannot register by itself, and no other tag exists; a secp256k1 key sent
    // as P-256 (2) does not name the device under P-256's address rule
    for (const kt of [0, 3, 255]) {
      const got = await expectRevert(sim(reg, 'register', await permit(d1, { keyType: kt }), relayer), 'UnsupportedKeyType', `correctly signed permit with keyType ${kt}`);
      assert.deepEqual(got, [kt]);
    }
    await expectRevert(sim(reg, 'register', await permit(d1, { keyType: 2 }), relayer), 'PublicKeyMismatch', 'a secp256k1 key registered as P-256');

    // ---------------------------------------------------------------- device id
    const chosen = keccak256(toHex('any id I like'));
    const mm = await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: chosen }), relayer), 'DeviceIdMismatch', 'correctly signed permit with a freely chosen deviceId');
    assert.deepEqual(mm, [chosen, sdkDeviceId(d1)]);
    ok('DeviceIdMismatch reports (given, expected)');
    await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: sdkDeviceId(d2) }), relayer), 'DeviceIdMismatch', "deviceId of another device");
    {
      const comp = toHex(secp256k1.getPublicKey(toHex(odd.n, { size: 32 }).slice(2), true));
      const p256Tag = sha256('0x02' + comp.slice(2));
      await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: p256Tag }), relayer), 'DeviceIdMismatch', 'deviceId hashed with the P-256 tag (2)');
      const kecc = keccak256('0x01' + comp.slice(2));
      await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: kecc }), relayer), 'DeviceIdMismatch', 'deviceId as keccak256 instead of sha256');
      const unhashed = sha256(comp);
      await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: unhashed }), relayer), 'DeviceIdMismatch', 'deviceId without the key type tag');
    }

    // ---------------------------------------------------------------- public key
    // The id matches the key that is sent, but that key is not the device's.
    await expectRevert(sim(reg, 'register', await permit(d1, { deviceId: sdkDeviceId(d2) }, publicKeyXY(d2)), relayer), 'PublicKeyMismatch', "another device's public key (and its id)");
    await expectRevert(sim(reg, 'register', await permit(d1, {}, d1.publicKey), relayer), 'PublicKeyMismatch', '65-byte 0x04-prefixed public key');
    {
      const comp = toHex(secp256k1.getPublicKey(toHex(odd.n, { size: 32 }).slice(2), true));
      await expectRevert(sim(reg, 'register', await permit(d1, {}, comp), relayer), 'PublicKeyMismatch', '33-byte compressed public key');
    }
    await expectRevert(sim(reg, 'register', await permit(d1, {}, '0x'), relayer), 'PublicKeyMismatch', 'empty public key');
    // A correct key and id, but signed by someone else: still the signature check.
    {
      const other = dev(0x9999n);
      const a = await permit(other, { device: d1.address, deviceId: sdkDeviceId(d1) }, publicKeyXY(d1));
      await expectRevert(sim(reg, 'register', a, relayer), 'InvalidSignature', 'right key and id, signature by another key');
    }

    // ---------------------------------------------------------------- revoked tokens are locked
    await send(reg, 'register', await permit(d1), relayer);
    await send(reg, 'register', await permit(d2), relayer);
    const id1 = hexToBigInt(d1.address);
    const id2 = hexToBigInt(d2.address);
    assert.deepEqual(await read(reg, 'deviceInfo', [d1.address]), [alice.address, 1, sdkDeviceId(d1), keccak256(toHex('meta')), true]);
    ok('both devices register with the derived id (odd-y and even-y keys)');
    await send(reg, 'revoke', [d1.address], alice);
    await send(reg, 'setApprovalForAll', [bob.address, true], alice);
    const locked = await expectRevert(sim(reg, 'transferFrom', [alice.address, bob.address, id1], alice), 'RevokedDeviceLocked', 'owner transfers a revoked device token');
    assert.deepEqual(locked, [d1.address]);
    await expectRevert(sim(reg, 'safeTransferFrom', [alice.address, bob.address, id1], alice), 'RevokedDeviceLocked', 'owner safeTransferFroms a revoked device token');
    await expectRevert(sim(reg, 'transferFrom', [alice.address, bob.address, id1], bob), 'RevokedDeviceLocked', 'approved operator transfers a revoked device token');
    ev = await send(reg, 'transferFrom', [alice.address, bob.address, id2], bob);
    assert.ok(ev.some((e) => e.eventName === 'Transfer' && e.args.tokenId === id2 && e.args.to === bob.address));
    assert.equal(await read(reg, 'ownerOf', [id2]), bob.address);
    assert.equal(await read(reg, 'ownerOf', [id1]), alice.address);
    assert.equal((await read(reg, 'deviceInfo', [d2.address]))[0], bob.address);
    ok('the non-revoked device token transfers (operator), the revoked one stays with its owner');
    await send(reg, 'revoke', [d2.address], bob);
    await expectRevert(sim(reg, 'transferFrom', [bob.address, carol.address, id2], bob), 'RevokedDeviceLocked', 'transfer after the new owner revoked it');

    // ---------------------------------------------------------------- registry admin handover
    const d3 = dev(0x5003n);
    await send(reg, 'register', await permit(d3), relayer);
    await expectRevert(sim(reg, 'grantRole', [DEFAULT_ADMIN_ROLE, bob.address], admin), 'AccessControlEnforcedDefaultAdminRules', 'registry: one-step grantRole(DEFAULT_ADMIN_ROLE)');
    await send(reg, 'beginDefaultAdminTransfer', [bob.address], admin);
    await expectRevert(sim(reg, 'revoke', [d3.address], bob), 'NotAuthorized', 'registry: the pending admin cannot revoke');
    await advance(1);
    await expectRevert(sim(reg, 'acceptDefaultAdminTransfer', [], carol), 'AccessControlInvalidDefaultAdmin', 'registry: accept by another account');
    await send(reg, 'acceptDefaultAdminTransfer', [], bob);
    assert.equal(await read(reg, 'defaultAdmin'), bob.address);
    await expectRevert(sim(reg, 'revoke', [d3.address], admin), 'NotAuthorized', 'registry: the former admin cannot revoke');
    await send(reg, 'revoke', [d3.address], bob);
    ok('registry: begin + accept (delay 0) moves admin rights to bob');

    console.log(`# all ${rep.passed} checks passed`);
  } finally {
    if (child) child.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
