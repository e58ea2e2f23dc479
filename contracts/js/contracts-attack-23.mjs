#!/usr/bin/env node
// Attack tests of the issue-23 contract fixes, on a real local node: starts anvil (from
// node_modules) on a free loopback port, or uses ANVIL_URL (a fresh chain), deploys the committed
// artifacts and checks with viem that
//   - the distributor can no longer be frozen by publishing epoch 2^64-1 (or any epoch more than
//     MAX_EPOCH_GAP above the latest, also for the first root), while a normal next epoch, from
//     the old or a newly granted oracle, still works;
//   - funds can be recovered only through the timelocked path: proposeRecovery by the admin while
//     paused, executeRecovery no earlier than RECOVERY_DELAY later and still paused; cancelled by
//     cancelRecovery (admin or guardian) or by unpausing;
//   - a device can void an outstanding registration permit (useNonce with a CancelNonce
//     signature by the device key), so the previous owner's stale permit no longer registers
//     after a resale, and deadlines more than MAX_PERMIT_LIFETIME ahead are refused;
//   - a claim against the previous root still pays within CLAIM_GRACE_PERIOD of the new root and
//     is refused after it (or after closeGracePeriod), roots two publications back are refused,
//     and a previous-root claim never pays more than what is owed nor beyond the latest total;
//   - (review findings) a bad root is corrected without ever being claimable: the guardian
//     pauses, the oracle publishes the correction while paused (which does not keep the bad root
//     claimable for the grace period), the admin unpauses; an inflated total can be lowered
//     again (down to totalClaimed, TotalBelowClaimed below it), and a tree that lowers an
//     account already paid more still pays everyone else when its total is the sum of
//     max(cumulative, claimed).
//
//   node contracts/js/contracts-attack-23.mjs  prints one line per check, exit 1 on the first failure
import assert from 'node:assert/strict';
import { keccak256, toHex, hexToBigInt, zeroAddress } from 'viem';
import { admin, alice, bob, carol, relayer, dev, startAnvil, reporter, chain, ozTree, publicKeyXY, sdkDeviceId } from './anvil-lib.mjs';

const rep = reporter();
const ok = rep.ok;
const DAY = 86400n;
const U64_MAX = (1n << 64n) - 1n;
const ORACLE_ROLE = keccak256(toHex('ORACLE_ROLE'));
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

async function main() {
  const { child, url } = await startAnvil();
  try {
    const c = chain(url, ok);
    const { pub, deploy, send, sendAt, sim, read, expectRevert, advance, chainId } = c;
    const now = async () => (await pub.getBlock()).timestamp;
    const setNextTime = (t) => pub.request({ method: 'evm_setNextBlockTimestamp', params: [toHex(t)] });
    // `sim` runs at the latest block's timestamp, so time-bound refusals are checked after mining
    // a block at the wanted time, and time-bound successes are sent with `sendAt`.
    const mine = () => pub.request({ method: 'evm_mine', params: [] });
    const oracle = alice;
    const guardian = carol;
    const tok = await deploy('DepinToken', ['Depin Test', 'DPT']);
    const newDistributor = async () => {
      const d = await deploy('RewardDistributor', [tok.address, oracle.address, guardian.address, 0]);
      await send(tok, 'mint', [d.address, 10_000n], admin);
      return d;
    };

    // ================================================================ freezing by a huge epoch
    {
      const D = await newDistributor();
      assert.equal(await read(D, 'MAX_EPOCH_GAP'), 366n);
      assert.equal(await read(D, 'maxNextEpoch'), 366n);
      ok('MAX_EPOCH_GAP = 366; before any root maxNextEpoch() = 366');
      const r = (n) => keccak256(toHex(`root ${n}`));
      let args = await expectRevert(sim(D, 'publishRoot', [U64_MAX, r(0), 1n], oracle), 'EpochGapTooLarge', 'first root at epoch 2^64-1');
      assert.deepEqual(args, [U64_MAX, 0n, 366n]);
      await expectRevert(sim(D, 'publishRoot', [367n, r(0), 1n], oracle), 'EpochGapTooLarge', 'first root at epoch 367');
      await send(D, 'publishRoot', [1n, r(1), 10n], oracle);
      ok('the first root at epoch 1 is published');
      // The attack: publish epoch 2^64-1 so that nothing can ever follow it.
      args = await expectRevert(sim(D, 'publishRoot', [U64_MAX, r(2), 10n], oracle), 'EpochGapTooLarge', 'epoch 2^64-1 after epoch 1 (the freeze)');
      assert.deepEqual(args, [U64_MAX, 1n, 366n]);
      await expectRevert(sim(D, 'publishRoot', [U64_MAX - 1n, r(2), 10n], oracle), 'EpochGapTooLarge', 'epoch 2^64-2 after epoch 1');
      await expectRevert(sim(D, 'publishRoot', [1n + 367n, r(2), 10n], oracle), 'EpochGapTooLarge', 'epoch latest + 367');
      assert.equal(await read(D, 'maxNextEpoch'), 367n);
      await send(D, 'publishRoot', [367n, r(367), 10n], oracle);
      assert.equal(await read(D, 'latestEpoch'), 367n);
      ok('epoch latest + 366 (the largest gap) is published');
      await send(D, 'publishRoot', [368n, r(368), 11n], oracle);
      ok('a normal next epoch (368) still works after the refused freeze');
      // A newly granted oracle can publish too, and is bound by the same rule.
      await send(D, 'grantRole', [ORACLE_ROLE, bob.address], admin);
      await expectRevert(sim(D, 'publishRoot', [U64_MAX, r(9), 11n], bob), 'EpochGapTooLarge', 'epoch 2^64-1 from a newly granted oracle');
      await send(D, 'publishRoot', [369n, r(369), 11n], bob);
      ok('a newly granted oracle publishes the next epoch');
      // Reaching 2^64-1 by maximal steps needs about 5e16 publications.
      assert.ok((U64_MAX - 369n) / 366n > 10n ** 16n);
      ok('reaching epoch 2^64-1 in steps of MAX_EPOCH_GAP takes more than 1e16 publications');
      // Checks before the gap: a re-publication is still a no-op, an old epoch EpochNotIncreasing.
      assert.deepEqual(await send(D, 'publishRoot', [367n, r(367), 10n], oracle), []);
      await expectRevert(sim(D, 'publishRoot', [2n, r(2), 11n], oracle), 'EpochNotIncreasing', 'unpublished epoch 2 after 369');
      ok('idempotent re-publication and EpochNotIncreasing keep their precedence');
    }

    // ================================================================ timelocked recovery
    {
      const R = await newDistributor();
      assert.equal(await read(R, 'RECOVERY_DELAY'), 7n * DAY);
      ok('RECOVERY_DELAY = 7 days');
      const t = ozTree([[bob.address, 100n]], { chainId, distributor: R.address });
      await send(R, 'publishRoot', [1n, t.root, 100n], oracle);
      await expectRevert(sim(R, 'proposeRecovery', [bob.address, 1000n], admin), 'ExpectedPause', 'proposeRecovery while not paused');
      await send(R, 'pause', [], guardian);
      for (const [who, name] of [[guardian, 'the guardian'], [oracle, 'the oracle'], [relayer, 'a stranger']]) {
        await expectRevert(sim(R, 'proposeRecovery', [who.address, 1000n], who), 'AccessControlUnauthorizedAccount', `proposeRecovery by ${name}`);
      }
      await expectRevert(sim(R, 'proposeRecovery', [zeroAddress, 1000n], admin), 'ZeroAddress', 'proposeRecovery to the zero address');
      await expectRevert(sim(R, 'proposeRecovery', [bob.address, 0n], admin), 'ZeroAmount', 'proposeRecovery of zero tokens');
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'NoRecoveryProposed', 'executeRecovery without a proposal');
      await expectRevert(sim(R, 'cancelRecovery', [], admin), 'NoRecoveryProposed', 'cancelRecovery without a proposal');

      // Proposal, then cancel by the guardian.
      let ev = await send(R, 'proposeRecovery', [bob.address, 1000n], admin);
      const proposedAt = await now();
      assert.equal(ev[0].eventName, 'RecoveryProposed');
      assert.deepEqual([ev[0].args.to, ev[0].args.amount, ev[0].args.executableAt], [bob.address, 1000n, proposedAt + 7n * DAY]);
      assert.deepEqual(await read(R, 'pendingRecovery'), [bob.address, 1000n, proposedAt + 7n * DAY]);
      ok('the admin proposes a recovery while paused: RecoveryProposed(to, amount, now + 7 days)');
      let a = await expectRevert(sim(R, 'proposeRecovery', [carol.address, 1n], admin), 'RecoveryAlreadyProposed', 'a second proposal while one is pending');
      assert.deepEqual(a, [bob.address, 1000n, proposedAt + 7n * DAY]);
      a = await expectRevert(sim(R, 'executeRecovery', [], admin), 'RecoveryNotReady', 'executeRecovery right after the proposal');
      assert.deepEqual(a, [proposedAt + 7n * DAY]);
      await advance(Number(7n * DAY) - 120);
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'RecoveryNotReady', 'executeRecovery two minutes before the delay ends');
      await expectRevert(sim(R, 'claim', [bob.address, 100n, t.proofs[0]], relayer), 'EnforcedPause', 'a claim while a recovery is pending (paused)');
      await expectRevert(sim(R, 'cancelRecovery', [], relayer), 'AccessControlUnauthorizedAccount', 'cancelRecovery by a stranger');
      await expectRevert(sim(R, 'cancelRecovery', [], oracle), 'AccessControlUnauthorizedAccount', 'cancelRecovery by the oracle');
      ev = await send(R, 'cancelRecovery', [], guardian);
      assert.equal(ev[0].eventName, 'RecoveryCancelled');
      assert.deepEqual([ev[0].args.to, ev[0].args.amount, ev[0].args.by], [bob.address, 1000n, guardian.address]);
      assert.deepEqual(await read(R, 'pendingRecovery'), [zeroAddress, 0n, 0n]);
      await advance(300);
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'NoRecoveryProposed', 'executeRecovery after the guardian cancelled it (delay passed)');
      ok('the guardian cancels: RecoveryCancelled, nothing pending, nothing executable');

      // Proposal, then the admin unpauses: that cancels it; re-pausing does not revive it.
      await send(R, 'proposeRecovery', [bob.address, 1000n], admin);
      await advance(Number(7n * DAY) + 1);
      ev = await send(R, 'unpause', [], admin);
      assert.deepEqual(ev.map((e) => e.eventName), ['Unpaused', 'RecoveryCancelled']);
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'ExpectedPause', 'executeRecovery after the delay but unpaused');
      await send(R, 'pause', [], guardian);
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'NoRecoveryProposed', 'executeRecovery after unpause + re-pause');
      ok('unpausing cancels a pending recovery (it needs the pause for the whole delay)');

      // Proposal, cancel by the admin, new proposal above the balance, then a real execution.
      await send(R, 'proposeRecovery', [bob.address, 10_001n], admin);
      ev = await send(R, 'cancelRecovery', [], admin);
      assert.equal(ev[0].args.by, admin.address);
      ok('the admin cancels its own proposal');
      await send(R, 'proposeRecovery', [bob.address, 10_001n], admin);
      await advance(Number(7n * DAY) + 1);
      await expectRevert(sim(R, 'executeRecovery', [], guardian), 'AccessControlUnauthorizedAccount', 'executeRecovery by the guardian');
      await expectRevert(sim(R, 'executeRecovery', [], bob), 'AccessControlUnauthorizedAccount', 'executeRecovery by the recipient');
      a = await expectRevert(sim(R, 'executeRecovery', [], admin), 'InsufficientFunds', 'executeRecovery of more than the balance');
      assert.deepEqual(a, [10_000n, 10_001n]);
      await send(R, 'cancelRecovery', [], admin);
      await send(R, 'proposeRecovery', [bob.address, 9_000n], admin);
      const readyAt = (await read(R, 'pendingRecovery'))[2];
      await setNextTime(readyAt - 1n);
      await mine();
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'RecoveryNotReady', 'executeRecovery one second before executableAt');
      const before = await read(tok, 'balanceOf', [bob.address]);
      ev = await sendAt(readyAt, R, 'executeRecovery', [], admin);
      const executed = ev.find((e) => e.eventName === 'RecoveryExecuted');
      assert.deepEqual([executed.args.to, executed.args.amount], [bob.address, 9_000n]);
      assert.equal(await read(tok, 'balanceOf', [bob.address]), before + 9_000n);
      assert.equal(await read(tok, 'balanceOf', [R.address]), 1_000n);
      assert.deepEqual(await read(R, 'pendingRecovery'), [zeroAddress, 0n, 0n]);
      ok('executeRecovery at executableAt moves exactly the amount to the recipient (RecoveryExecuted)');
      await expectRevert(sim(R, 'executeRecovery', [], admin), 'NoRecoveryProposed', 'executeRecovery a second time');
      await send(R, 'unpause', [], admin);
      await send(R, 'claim', [bob.address, 100n, t.proofs[0]], relayer);
      ok('after unpausing, claims pay from what is left');
    }

    // ================================================================ stale registration permits
    {
      const reg = await deploy('DeviceRegistry', [0]);
      assert.equal(await read(reg, 'MAX_PERMIT_LIFETIME'), 30n * DAY);
      assert.equal(await read(reg, 'CANCEL_NONCE_TYPEHASH'), keccak256(toHex('CancelNonce(address device,uint256 nonce,uint256 deadline)')));
      ok('MAX_PERMIT_LIFETIME = 30 days; CANCEL_NONCE_TYPEHASH = keccak256("CancelNonce(address device,uint256 nonce,uint256 deadline)")');
      const domain = { name: 'DepinDeviceRegistry', version: '1', chainId, verifyingContract: reg.address };
      const registerTypes = {
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
      const cancelTypes = {
        CancelNonce: [
          { name: 'device', type: 'address' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
        ],
      };
      async function permit(signer, fields = {}) {
        const message = {
          owner: alice.address,
          device: signer.address,
          keyType: 1,
          deviceId: sdkDeviceId(signer),
          metadataHash: keccak256(toHex('meta')),
          nonce: 0n,
          deadline: (await now()) + DAY,
          ...fields,
        };
        const signature = await signer.signTypedData({ domain, types: registerTypes, primaryType: 'Register', message });
        const m = message;
        return [m.owner, m.device, m.keyType, m.deviceId, m.metadataHash, m.deadline, publicKeyXY(signer), signature];
      }
      async function cancel(signer, fields = {}, dom = domain) {
        const message = { device: signer.address, nonce: 0n, deadline: (await now()) + DAY, ...fields };
        const signature = await signer.signTypedData({ domain: dom, types: cancelTypes, primaryType: 'CancelNonce', message });
        return [message.device, message.nonce, message.deadline, signature];
      }

      // The resale: the device signed a permit for alice (never submitted), then went to bob.
      const d = dev(0x6001n);
      const stale = await permit(d, { owner: alice.address });
      assert.equal((await sim(reg, 'register', stale, relayer)).result, hexToBigInt(d.address));
      ok("before the cancellation the previous owner's unused permit would register the device");
      await expectRevert(sim(reg, 'useNonce', await cancel(dev(0x6999n), { device: d.address }), relayer), 'InvalidSignature', 'CancelNonce signed by another key');
      await expectRevert(sim(reg, 'useNonce', await cancel(d, {}, { ...domain, verifyingContract: relayer.address }), relayer), 'InvalidSignature', 'CancelNonce for another verifyingContract');
      await expectRevert(sim(reg, 'useNonce', await cancel(d, {}, { ...domain, chainId: 1 }), relayer), 'InvalidSignature', 'CancelNonce for another chain id');
      {
        // The Register signature itself is no cancellation (different type hash).
        const [, , deadline] = await cancel(d);
        await expectRevert(sim(reg, 'useNonce', [d.address, 0n, stale[5], stale[7]], relayer), 'InvalidSignature', 'the Register permit submitted as a cancellation');
        const sig = (await cancel(d, { deadline }))[3].slice(2);
        const s = hexToBigInt('0x' + sig.slice(64, 128));
        const v = parseInt(sig.slice(128), 16);
        const highS = '0x' + sig.slice(0, 64) + toHex(SECP256K1_N - s, { size: 32 }).slice(2) + (v === 27 ? '1c' : '1b');
        await expectRevert(sim(reg, 'useNonce', [d.address, 0n, deadline, highS], relayer), 'InvalidSignature', 'high-S twin of a CancelNonce signature');
      }
      let a = await expectRevert(sim(reg, 'useNonce', await cancel(d, { nonce: 1n }), relayer), 'NonceMismatch', 'CancelNonce for a future nonce');
      assert.deepEqual(a, [d.address, 1n, 0n]);
      await expectRevert(sim(reg, 'useNonce', await cancel(d, { deadline: (await now()) - 1n }), relayer), 'Expired', 'expired CancelNonce');
      await expectRevert(sim(reg, 'useNonce', await cancel(d, { deadline: (await now()) + 31n * DAY }), relayer), 'DeadlineTooFar', 'CancelNonce with a deadline 31 days ahead');
      await expectRevert(sim(reg, 'useNonce', [zeroAddress, 0n, (await now()) + DAY, (await cancel(d))[3]], relayer), 'ZeroAddress', 'CancelNonce for the zero address');
      const cancelArgs = await cancel(d);
      const ev = await send(reg, 'useNonce', cancelArgs, relayer);
      assert.deepEqual([ev[0].eventName, ev[0].args.device, ev[0].args.nonce], ['NonceUsed', d.address, 0n]);
      assert.equal(await read(reg, 'nonces', [d.address]), 1n);
      ok('the device key cancels nonce 0 (submitted by a relayer): NonceUsed(device, 0), nonces = 1');
      await expectRevert(sim(reg, 'register', stale, relayer), 'InvalidSignature', "the previous owner's stale permit after the cancellation");
      a = await expectRevert(sim(reg, 'useNonce', cancelArgs, relayer), 'NonceMismatch', 'the same cancellation replayed');
      assert.deepEqual(a, [d.address, 0n, 1n]);
      await send(reg, 'register', await permit(d, { owner: bob.address, nonce: 1n }), relayer);
      assert.equal((await read(reg, 'deviceInfo', [d.address]))[0], bob.address);
      await expectRevert(sim(reg, 'register', stale, relayer), 'AlreadyRegistered', 'the stale permit after the new owner registered');
      ok('the new owner registers with a permit for nonce 1');
      await send(reg, 'useNonce', await cancel(d, { nonce: 2n }), relayer);
      assert.equal(await read(reg, 'nonces', [d.address]), 3n);
      ok('a registered device can still advance its nonce');

      // Deadline cap on registrations.
      const d2 = dev(0x6002n);
      const t0 = await now();
      const far = await permit(d2, { deadline: t0 + 30n * DAY + 3600n });
      a = await expectRevert(sim(reg, 'register', far, relayer), 'DeadlineTooFar', 'registration with a deadline 30 days + 1 hour ahead');
      assert.equal(a[0], t0 + 30n * DAY + 3600n);
      assert.ok(a[1] >= t0 + 30n * DAY && a[1] < t0 + 30n * DAY + 600n, `max ${a[1]} is not block time + 30 days`);
      ok('DeadlineTooFar reports (deadline, block.timestamp + MAX_PERMIT_LIFETIME)');
      await expectRevert(sim(reg, 'register', await permit(d2, { deadline: 4102444800n }), relayer), 'DeadlineTooFar', 'registration with the deadline 2100-01-01');
      await expectRevert(sim(reg, 'register', await permit(d2, { deadline: (1n << 256n) - 1n }), relayer), 'DeadlineTooFar', 'registration with the deadline 2^256-1');
      // A far permit is dormant until 30 days before its deadline, and the device can void it.
      await advance(2 * 3600);
      assert.equal((await sim(reg, 'register', far, relayer)).result, hexToBigInt(d2.address));
      ok('the same far permit is accepted once its deadline is within 30 days');
      await send(reg, 'useNonce', await cancel(d2), relayer);
      await expectRevert(sim(reg, 'register', far, relayer), 'InvalidSignature', 'the far permit after the device cancelled its nonce');
      const edge = await now();
      const exact = await permit(d2, { nonce: 1n, deadline: edge + 1n + 30n * DAY });
      await sendAt(edge + 1n, reg, 'register', exact, relayer);
      ok('a deadline exactly MAX_PERMIT_LIFETIME after the including block registers');
    }

    // ================================================================ claims in flight
    {
      const G = await newDistributor();
      assert.equal(await read(G, 'CLAIM_GRACE_PERIOD'), DAY);
      ok('CLAIM_GRACE_PERIOD = 1 day');
      const [u1, u2, u3, u5, u6] = [0x7001n, 0x7002n, 0x7003n, 0x7005n, 0x7006n].map((n) => dev(n).address);
      const bound = { chainId, distributor: G.address };
      const t1 = ozTree([[u1, 100n], [u2, 200n], [u3, 300n]], bound);
      const t2 = ozTree([[u1, 150n], [u2, 250n], [u3, 300n]], bound);
      const t3 = ozTree([[u1, 150n], [u2, 250n], [u3, 400n]], bound);
      await send(G, 'publishRoot', [1n, t1.root, 600n], oracle);
      assert.equal(await read(G, 'previousRoot'), '0x' + '00'.repeat(32));
      assert.equal(await read(G, 'previousRootClaimableUntil'), 0n);
      await send(G, 'claim', [u1, 100n, t1.proofs[0]], relayer);
      // u2 builds a claim against epoch 1; epoch 2 lands before it is mined.
      await send(G, 'publishRoot', [2n, t2.root, 700n], oracle);
      const publishedAt = await now();
      assert.equal(await read(G, 'latestPublishedAt'), publishedAt);
      assert.equal(await read(G, 'previousRoot'), t1.root);
      assert.equal(await read(G, 'previousEpoch'), 1n);
      assert.equal(await read(G, 'previousRootClaimableUntil'), publishedAt + DAY);
      ok('after epoch 2: previousRoot = root 1, claimable until latestPublishedAt + 1 day');
      let ev = await send(G, 'claim', [u2, 200n, t1.proofs[1]], relayer);
      let cl = ev.find((e) => e.eventName === 'Claimed');
      assert.deepEqual([cl.args.account, cl.args.epoch, cl.args.amount, cl.args.cumulativeAmount], [u2, 1n, 200n, 200n]);
      ok('a claim in flight against the previous root pays within the grace period (Claimed epoch 1)');
      ev = await send(G, 'claim', [u2, 250n, t2.proofs[1]], relayer);
      cl = ev.find((e) => e.eventName === 'Claimed');
      assert.deepEqual([cl.args.epoch, cl.args.amount], [2n, 50n]);
      assert.equal(await read(tok, 'balanceOf', [u2]), 250n);
      ok('the same account then claims the latest root and gets only the difference (total 250 = owed)');
      await expectRevert(sim(G, 'claim', [u2, 200n, t1.proofs[1]], relayer), 'NothingToClaim', 'previous-root claim after the latest was claimed');
      await expectRevert(sim(G, 'claim', [u1, 100n, t1.proofs[0]], relayer), 'NothingToClaim', 'previous-root claim already paid');
      // A re-publication does not restart the grace period.
      await advance(3600);
      assert.deepEqual(await send(G, 'publishRoot', [2n, t2.root, 700n], oracle), []);
      assert.equal(await read(G, 'latestPublishedAt'), publishedAt);
      ok('an idempotent re-publication leaves latestPublishedAt (and the grace period) unchanged');

      // Epoch 3: root 2 becomes the previous root, root 1 is no longer accepted.
      await send(G, 'publishRoot', [3n, t3.root, 800n], oracle);
      const published3 = await read(G, 'latestPublishedAt');
      await expectRevert(sim(G, 'claim', [u3, 300n, t1.proofs[2]], relayer), 'InvalidProof', 'a claim against the root two publications back');
      // Exactly at the end of the grace period the previous root still pays; one second later not.
      ev = await sendAt(published3 + DAY, G, 'claim', [u3, 300n, t2.proofs[2]], relayer);
      assert.equal(ev.find((e) => e.eventName === 'Claimed').args.epoch, 2n);
      ok('a previous-root claim mined at latestPublishedAt + CLAIM_GRACE_PERIOD pays');
      await setNextTime(published3 + DAY + 1n);
      await mine();
      await expectRevert(sim(G, 'claim', [u1, 150n, t2.proofs[0]], relayer), 'InvalidProof', 'a previous-root claim one second after the grace period');
      await send(G, 'claim', [u1, 150n, t3.proofs[0]], relayer);
      await send(G, 'claim', [u3, 400n, t3.proofs[2]], relayer);
      assert.equal(await read(G, 'totalClaimed'), 800n);
      ok('after the grace period the latest proofs pay; totalClaimed = 800 = latest total');

      // closeGracePeriod voids the previous root at once.
      const t4 = ozTree([[u1, 150n], [u2, 260n], [u3, 400n]], bound);
      const t5 = ozTree([[u1, 150n], [u2, 270n], [u3, 400n]], bound);
      await send(G, 'publishRoot', [4n, t4.root, 810n], oracle);
      await send(G, 'publishRoot', [5n, t5.root, 820n], oracle);
      await expectRevert(sim(G, 'closeGracePeriod', [], relayer), 'AccessControlUnauthorizedAccount', 'closeGracePeriod by a stranger');
      await expectRevert(sim(G, 'closeGracePeriod', [], admin), 'AccessControlUnauthorizedAccount', 'closeGracePeriod by the admin');
      assert.equal((await sim(G, 'claim', [u2, 260n, t4.proofs[1]], relayer)).result, 10n);
      ev = await send(G, 'closeGracePeriod', [], oracle);
      assert.deepEqual([ev[0].eventName, ev[0].args.previousEpoch], ['GracePeriodClosed', 4n]);
      assert.equal(await read(G, 'previousRootClaimableUntil'), 0n);
      await expectRevert(sim(G, 'claim', [u2, 260n, t4.proofs[1]], relayer), 'InvalidProof', 'previous-root claim after closeGracePeriod');
      assert.deepEqual(await send(G, 'closeGracePeriod', [], guardian), []);
      ok('the oracle closes the grace period (GracePeriodClosed); a second close is a no-op');

      // A correction that lowers an account: the previous root can still be claimed in the grace
      // period, but never beyond the latest published total.
      const H = await newDistributor();
      const hb = { chainId, distributor: H.address };
      const p = ozTree([[u5, 1000n], [u6, 0n]], hb);
      const l = ozTree([[u5, 500n], [u6, 500n]], hb);
      await send(H, 'publishRoot', [1n, p.root, 1000n], oracle);
      await send(H, 'publishRoot', [2n, l.root, 1000n], oracle);
      await send(H, 'claim', [u6, 500n, l.proofs[1]], relayer);
      const te = await expectRevert(sim(H, 'claim', [u5, 1000n, p.proofs[0]], relayer), 'TotalExceeded', 'previous-root claim above the latest total');
      assert.deepEqual(te, [1500n, 1000n]);
      await send(H, 'claim', [u5, 500n, l.proofs[0]], relayer);
      assert.equal(await read(H, 'totalClaimed'), 1000n);
      ok('totalClaimed never exceeds the latest published total, whichever root a claim uses');
    }

    // ================================================================ correcting a bad root
    {
      const [v1, v2, mallory] = [0x8001n, 0x8002n, 0x8003n].map((n) => dev(n).address);
      const C = await newDistributor();
      const cb = { chainId, distributor: C.address };
      const good = ozTree([[v1, 100n], [v2, 200n]], cb);
      const bad = ozTree([[v1, 100n], [v2, 200n], [mallory, 5000n]], cb);
      const fix = ozTree([[v1, 150n], [v2, 250n]], cb);
      await send(C, 'publishRoot', [1n, good.root, 300n], oracle);
      await send(C, 'claim', [v1, 100n, good.proofs[0]], relayer);
      // A faulty oracle run publishes a bad root (mallory owed 5000, an inflated total); the
      // guardian pauses before anyone claims from it.
      await send(C, 'publishRoot', [2n, bad.root, 5300n], oracle);
      await send(C, 'pause', [], guardian);
      await expectRevert(sim(C, 'claim', [mallory, 5000n, bad.proofs[2]], relayer), 'EnforcedPause', 'a claim from the bad root while paused');
      // The correction lands while paused (before the fix: EnforcedPause, so the admin had to
      // unpause, exposing the bad root, before the correction could be published).
      await expectRevert(sim(C, 'publishRoot', [3n, fix.root, 400n], relayer), 'AccessControlUnauthorizedAccount', 'publishRoot by a stranger while paused');
      let ev = await send(C, 'publishRoot', [3n, fix.root, 400n], oracle);
      assert.deepEqual(ev.map((e) => e.eventName), ['GracePeriodClosed', 'RootPublished']);
      assert.deepEqual([ev[0].args.previousEpoch, ev[0].args.by], [2n, oracle.address]);
      assert.equal(await read(C, 'paused'), true);
      assert.equal(await read(C, 'latestRoot'), fix.root);
      assert.equal(await read(C, 'latestTotal'), 400n);
      assert.equal(await read(C, 'previousRoot'), '0x' + '00'.repeat(32));
      assert.equal(await read(C, 'previousRootClaimableUntil'), 0n);
      ok('while paused the oracle publishes the correction (total 5300 -> 400); the bad root is not kept as the previous root (GracePeriodClosed(2))');
      await expectRevert(sim(C, 'claim', [v2, 250n, fix.proofs[1]], relayer), 'EnforcedPause', 'a claim from the correction before the admin unpauses');
      assert.deepEqual(await send(C, 'publishRoot', [3n, fix.root, 400n], oracle), []);
      ok('an idempotent re-publication while paused is a no-op');
      await send(C, 'unpause', [], admin);
      await expectRevert(sim(C, 'claim', [mallory, 5000n, bad.proofs[2]], relayer), 'InvalidProof', 'the bad root after pause -> correction -> unpause (inside the grace period)');
      await expectRevert(sim(C, 'claim', [v2, 200n, bad.proofs[1]], relayer), 'InvalidProof', 'an honest leaf of the bad root after the correction');
      await send(C, 'claim', [v2, 250n, fix.proofs[1]], relayer);
      await send(C, 'claim', [v1, 150n, fix.proofs[0]], relayer);
      assert.equal(await read(tok, 'balanceOf', [mallory]), 0n);
      assert.equal(await read(C, 'totalClaimed'), 400n);
      ok('after unpausing only the correction pays (v1 150, v2 250, mallory 0; totalClaimed = 400)');
      // A root published while not paused still keeps the previous one claimable.
      const fix2 = ozTree([[v1, 160n], [v2, 250n]], cb);
      await send(C, 'publishRoot', [4n, fix2.root, 410n], oracle);
      assert.equal(await read(C, 'previousRoot'), fix.root);
      ok('unpaused, a new root keeps the previous root claimable as before');

      // An inflated total can be lowered again, but never below what was already paid.
      const I = await newDistributor();
      const ib = { chainId, distributor: I.address };
      const ti = ozTree([[v1, 100n], [v2, 200n]], ib);
      await send(I, 'publishRoot', [1n, ti.root, 9000n], oracle);
      await send(I, 'claim', [v1, 100n, ti.proofs[0]], relayer);
      let a = await expectRevert(sim(I, 'publishRoot', [2n, ti.root, 99n], oracle), 'TotalBelowClaimed', 'a total of 99 after 100 were paid');
      assert.deepEqual(a, [99n, 100n]);
      await send(I, 'publishRoot', [2n, ti.root, 300n], oracle);
      assert.equal(await read(I, 'latestTotal'), 300n);
      ok('the inflated total 9000 is lowered to the tree sum 300 (before the fix: TotalDecreased)');
      await send(I, 'publishRoot', [3n, ti.root, 100n], oracle);
      a = await expectRevert(sim(I, 'claim', [v2, 200n, ti.proofs[1]], relayer), 'TotalExceeded', 'a claim above a total lowered to totalClaimed');
      assert.deepEqual(a, [300n, 100n]);
      await send(I, 'publishRoot', [4n, ti.root, 300n], oracle);
      await send(I, 'claim', [v2, 200n, ti.proofs[1]], relayer);
      assert.equal(await read(I, 'totalClaimed'), 300n);
      ok('a total equal to totalClaimed is accepted; raising it again lets the rest pay');

      // A correction that lowers an account below what it was already paid (slashing): the
      // total must be the sum of max(cumulative, claimed), not of the tree's amounts.
      const S = await newDistributor();
      const sb = { chainId, distributor: S.address };
      const s1 = ozTree([[v1, 1000n], [v2, 500n]], sb);
      const s2 = ozTree([[v1, 400n], [v2, 800n]], sb);
      await send(S, 'publishRoot', [1n, s1.root, 1500n], oracle);
      await send(S, 'claim', [v1, 1000n, s1.proofs[0]], relayer);
      // The naive total, 400 + 800 = 1200: accepted (>= totalClaimed 1000), but v2's honest claim
      // of 800 would bring totalClaimed to 1800.
      await send(S, 'publishRoot', [2n, s2.root, 1200n], oracle);
      await send(S, 'closeGracePeriod', [], oracle);
      a = await expectRevert(sim(S, 'claim', [v2, 800n, s2.proofs[1]], relayer), 'TotalExceeded', "v2's honest claim under the naive total sum(cumulative) = 1200");
      assert.deepEqual(a, [1800n, 1200n]);
      // The right total: max(400, 1000) + max(800, 0) = 1800.
      await send(S, 'publishRoot', [3n, s2.root, 1800n], oracle);
      await send(S, 'claim', [v2, 800n, s2.proofs[1]], relayer);
      a = await expectRevert(sim(S, 'claim', [v1, 400n, s2.proofs[0]], relayer), 'NothingToClaim', 'the slashed account (claimed 1000, now owed 400)');
      assert.deepEqual(a, [v1, 400n, 1000n]);
      assert.equal(await read(S, 'totalClaimed'), 1800n);
      assert.equal(await read(tok, 'balanceOf', [v2]), 800n + 250n + 200n);
      ok('with total = sum of max(cumulative, claimed) = 1800 the honest claim pays; the slashed account gets nothing more');
    }

    console.log(`# all ${rep.passed} checks passed`);
  } finally {
    if (child) child.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(`not ok - ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
