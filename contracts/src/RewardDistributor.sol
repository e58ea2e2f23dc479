// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title RewardDistributor
/// @notice Cumulative Merkle reward distributor paying one ERC-20 token. Each epoch an oracle
/// publishes the root of a tree of (chain id, distributor, account, cumulative amount) leaves and
/// the tree's total; an account claims the difference between its cumulative amount in the latest
/// tree (or, for `CLAIM_GRACE_PERIOD` after a publication, the previous tree) and what it has
/// already claimed.
/// @dev Leaves are built exactly as OpenZeppelin `StandardMerkleTree` builds them for the types
/// ["uint256", "address", "address", "uint256"] with the values [block.chainid, address(this),
/// account, cumulativeAmount]:
/// `keccak256(bytes.concat(keccak256(abi.encode(block.chainid, address(this), account, cumulativeAmount))))`,
/// with sorted-pair inner nodes, and proofs are checked with OpenZeppelin `MerkleProof`. Binding
/// the chain id and this contract's address into every leaf means a root (and its proofs) is
/// never valid on another distributor or another chain.
///
/// Published totals: `total` is what the tree may pay in all, counting what was already paid:
/// the sum over the tree's accounts of `max(cumulativeAmount, claimed(account))` (an account whose
/// amount a correction lowered below what it has already been paid counts with what it was paid).
/// Computing it is the publisher's (the SDK's) job. The contract enforces two bounds: a new total
/// is never below `totalClaimed()` (`TotalBelowClaimed`), and no claim may bring `totalClaimed()`
/// above the latest published total (`TotalExceeded`). A faulty or compromised oracle can
/// therefore not pay out more than the total it publishes on chain, which monitors can compare
/// with the off-chain reward computation, and an inflated total can be lowered again by the next
/// root (down to what was already paid).
///
/// Claims are verified against the latest root, and also against the previous root for
/// `CLAIM_GRACE_PERIOD` after the latest one was published, so a claim built just before a new
/// root lands still pays. A cumulative tree must include every account.
///
/// Epoch numbers may skip, but by at most `MAX_EPOCH_GAP` per publication
/// (`epoch <= latestEpoch() + MAX_EPOCH_GAP`, with `latestEpoch() == 0` before the first root), so
/// a faulty or hostile oracle can no longer publish epoch 2^64-1 and freeze publication.
///
/// Recovery: the admin can move funds out of the contract, but only through a public, timelocked
/// path: while paused (`GUARDIAN_ROLE` pauses), `proposeRecovery(to, amount)`, then, no earlier
/// than `RECOVERY_DELAY` later and still paused, `executeRecovery()`. Unpausing, or
/// `cancelRecovery()` by the admin or a guardian, cancels it. No single role can pay anyone: the
/// oracle's roots pay only the accounts in them, up to the published total; the guardian can only
/// pause and cancel; the admin (one address, moved only by the two-step delayed handover) can move
/// funds only after a pause, a public `RecoveryProposed` event and `RECOVERY_DELAY`, during which
/// the guardian may cancel. The admin also manages roles, so it should be a multisig or timelock,
/// and monitors should watch `Paused`, `RecoveryProposed` and role changes.
///
/// Oracle quorum: once the admin has scheduled an oracle set (`scheduleOracleSet`, in effect no
/// sooner than `ORACLE_SET_DELAY` later), roots are published only with `publishQuorumRoot`, by
/// anyone, carrying the ECDSA signatures of `threshold` (a strict majority) of the set over the
/// depin-rs `RootStatement` of (this contract, epoch, root, total); `publishRoot` then reverts
/// with `QuorumRequired`, so no single oracle key can publish. A set change never touches a
/// published epoch.
///
/// Roles: `DEFAULT_ADMIN_ROLE` (OpenZeppelin `AccessControlDefaultAdminRules`: one admin, handed
/// over in two steps, `beginDefaultAdminTransfer` then `acceptDefaultAdminTransfer` by the new
/// admin once `defaultAdminDelay()` has passed) manages the other roles and is the only one that
/// can `unpause`; `ORACLE_ROLE` publishes roots; `GUARDIAN_ROLE` can `pause`. While paused,
/// `claim` reverts with `EnforcedPause()`, but the oracle can still publish, so a bad root is
/// corrected without ever being claimable: the guardian pauses, the oracle publishes the
/// correction (a root published while paused does not keep the root it replaces claimable), the
/// admin unpauses.
contract RewardDistributor is AccessControlDefaultAdminRules, Pausable {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to publish epoch roots.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Role allowed to pause claims and publication (unpausing needs the admin).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice How far one publication may move the epoch forward: `publishRoot` requires
    /// `epoch <= latestEpoch() + MAX_EPOCH_GAP` (`latestEpoch()` is 0 before the first root, so the
    /// first epoch is at most `MAX_EPOCH_GAP`). 366: a year of daily epochs. A network that must
    /// skip further (or starts at a higher epoch number) publishes its cumulative root at
    /// intermediate epochs, each at most `MAX_EPOCH_GAP` above the previous one.
    uint64 public constant MAX_EPOCH_GAP = 366;
    /// @notice Seconds after a root is published during which claims against the previous root
    /// are still accepted (1 day).
    uint64 public constant CLAIM_GRACE_PERIOD = 1 days;
    /// @notice Minimum seconds between `proposeRecovery` and `executeRecovery` (7 days).
    uint64 public constant RECOVERY_DELAY = 7 days;

    /// @notice Least delay between `scheduleOracleSet` and the set taking effect (2 days).
    uint64 public constant ORACLE_SET_DELAY = 2 days;
    /// @notice Most oracles in one set.
    uint256 public constant MAX_ORACLES = 64;
    /// @dev secp256k1's group order divided by two: signatures must have `s` at or below it.
    uint256 private constant SECP256K1_HALF_ORDER =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice The token paid out by claims.
    IERC20 public immutable token;

    /// @dev One oracle set: who, how many must sign, from when, for which network.
    struct OracleSetState {
        address[] oracles;
        mapping(address => bool) isOracle;
        uint8 threshold;
        uint64 effectiveAt;
        bytes networkId;
    }

    /// @dev Two slots: the current set and one scheduled set; `_pending` says the other slot
    /// holds a schedule that takes effect at its `effectiveAt`.
    OracleSetState[2] private _sets;
    uint8 private _current;
    bool private _pending;

    uint64 private _latestEpoch;
    bytes32 private _latestRoot;
    uint256 private _latestTotal;
    mapping(uint64 epoch => bytes32) private _roots;
    mapping(uint64 epoch => uint256) private _totals;
    mapping(address account => uint256) private _claimed;
    uint256 private _totalClaimed;
    uint64 private _latestPublishedAt;
    uint64 private _previousEpoch;
    bytes32 private _previousRoot;
    address private _recoveryTo;
    uint64 private _recoveryExecutableAt;
    uint256 private _recoveryAmount;

    /// @notice A different root or total was given for an epoch that is already published.
    error EpochAlreadyPublished(uint64 epoch);
    /// @notice The epoch is not published and not above the latest published epoch.
    error EpochNotIncreasing(uint64 epoch, uint64 latestEpoch);
    /// @notice `epoch` is more than `maxGap` above `latestEpoch` (0 before the first root).
    error EpochGapTooLarge(uint64 epoch, uint64 latestEpoch, uint64 maxGap);
    /// @notice The new epoch's `total` is below `totalClaimed`, what has already been paid.
    error TotalBelowClaimed(uint256 total, uint256 totalClaimed);
    /// @notice The claim would bring `totalClaimed()` to `newTotalClaimed`, above the latest
    /// published total.
    error TotalExceeded(uint256 newTotalClaimed, uint256 publishedTotal);
    /// @notice The zero root cannot be published.
    error ZeroRoot();
    /// @notice No root has been published yet.
    error NoRoot();
    /// @notice An oracle set is in effect: roots are published with `publishQuorumRoot`.
    error QuorumRequired();
    /// @notice No oracle set is in effect: `publishQuorumRoot` has no one to check against.
    error NoOracleSet();
    /// @notice The total does not fit the 128 bits a root statement carries.
    error TotalTooLarge(uint256 total);
    /// @notice `signatures` is not a whole number of 65-byte signatures.
    error BadSignatureLength(uint256 length);
    /// @notice Signature `index` is malformed (high s, bad v) or recovers to no address.
    error InvalidSignature(uint256 index);
    /// @notice Signature `index`'s signer is not above the previous one (signers must be in
    /// strictly increasing address order, which also refuses a repeated signer).
    error SignersNotSorted(uint256 index);
    /// @notice `signer` is not in the oracle set in effect.
    error NotAnOracle(address signer);
    /// @notice `count` valid oracle signatures, `threshold` needed.
    error QuorumNotReached(uint256 count, uint256 threshold);
    /// @notice The oracle set is empty, too large, has a zero or repeated address, a threshold
    /// that is not a strict majority, or a network id of 0 or more than 64 bytes.
    error InvalidOracleSet();
    /// @notice The set would take effect before `earliest` (now + `ORACLE_SET_DELAY`).
    error OracleSetTooSoon(uint64 effectiveAt, uint64 earliest);
    /// @notice The set would take effect before the set already in effect or scheduled.
    error OracleSetOutOfOrder(uint64 effectiveAt);
    /// @notice The proof does not prove (chain id, this contract, account, cumulativeAmount)
    /// against the latest root, nor (within the grace period) against the previous root.
    error InvalidProof();
    /// @notice The account has already claimed at least `cumulativeAmount`.
    error NothingToClaim(address account, uint256 cumulativeAmount, uint256 alreadyClaimed);
    /// @notice The contract holds fewer tokens than the claim pays.
    error InsufficientFunds(uint256 available, uint256 required);
    /// @notice The zero address was given.
    error ZeroAddress();
    /// @notice A recovery of zero tokens was proposed.
    error ZeroAmount();
    /// @notice A recovery is already pending; cancel it first.
    error RecoveryAlreadyProposed(address to, uint256 amount, uint64 executableAt);
    /// @notice No recovery is pending.
    error NoRecoveryProposed();
    /// @notice The pending recovery cannot be executed before `executableAt` (unix seconds).
    error RecoveryNotReady(uint64 executableAt);

    /// @notice A root was published for `epoch`.
    event RootPublished(uint64 indexed epoch, bytes32 root, uint256 total);
    /// @notice The root of `epoch` was published by a quorum: `signers` oracles signed it.
    event QuorumRootPublished(uint64 indexed epoch, bytes32 root, uint256 signers);
    /// @notice An oracle set was scheduled to take effect at `effectiveAt`.
    event OracleSetScheduled(address[] oracles, uint8 threshold, uint64 effectiveAt);
    /// @notice `account` was paid `amount`, bringing its claimed total to `cumulativeAmount`;
    /// `epoch` is the epoch of the root the proof was checked against (the latest or, within the
    /// grace period, the previous one).
    event Claimed(address indexed account, uint64 indexed epoch, uint256 amount, uint256 cumulativeAmount);
    /// @notice Claims against the previous root (of `previousEpoch`) are no longer accepted,
    /// before the end of the grace period: `closeGracePeriod` was called, or (with `by` the
    /// oracle) a root was published while paused, replacing the root of `previousEpoch`.
    event GracePeriodClosed(uint64 indexed previousEpoch, address by);
    /// @notice The admin proposed moving `amount` tokens to `to`, executable from `executableAt`.
    event RecoveryProposed(address indexed to, uint256 amount, uint64 executableAt);
    /// @notice The pending recovery was cancelled by `by` (`cancelRecovery` or `unpause`).
    event RecoveryCancelled(address indexed to, uint256 amount, address by);
    /// @notice The recovery was executed: `amount` tokens were sent to `to`.
    event RecoveryExecuted(address indexed to, uint256 amount);

    /// @notice Deploys the distributor. The deployer becomes the (single) default admin. Fund it by
    /// transferring `token_` to this contract.
    /// @param token_ The ERC-20 token paid out.
    /// @param oracle Account given `ORACLE_ROLE` (publishes roots).
    /// @param guardian Account given `GUARDIAN_ROLE` (may pause; only the admin unpauses).
    /// @param adminDelay Initial `defaultAdminDelay()` in seconds: how long a begun admin transfer
    /// must wait before the new admin can accept it (0 allows acceptance from the next second).
    constructor(IERC20 token_, address oracle, address guardian, uint48 adminDelay)
        AccessControlDefaultAdminRules(adminDelay, msg.sender)
    {
        if (address(token_) == address(0) || oracle == address(0) || guardian == address(0)) {
            revert ZeroAddress();
        }
        token = token_;
        _grantRole(ORACLE_ROLE, oracle);
        _grantRole(GUARDIAN_ROLE, guardian);
    }

    /// @notice Publishes the claim tree root for `epoch`.
    /// @dev Checks in order: `ORACLE_ROLE` (`AccessControlUnauthorizedAccount`), `ZeroRoot`; for
    /// an already published epoch the same (root, total) is a no-op (returns without an event)
    /// and anything else `EpochAlreadyPublished`; then `EpochNotIncreasing` (once a root exists,
    /// an unpublished epoch at or below the latest), `EpochGapTooLarge` (`epoch > latestEpoch() +
    /// MAX_EPOCH_GAP`, also for the first root, where `latestEpoch()` is 0), `TotalBelowClaimed`
    /// (`total < totalClaimed()`). Gaps up to `MAX_EPOCH_GAP` are allowed. A total may be lower
    /// than the latest one (correcting an inflated total, or a tree that lowers an account), but
    /// never below what was already paid. The root that was latest becomes the previous root,
    /// claimable for `CLAIM_GRACE_PERIOD` seconds from now, except while paused: publishing is
    /// allowed while paused (claims stay blocked) so that a bad latest root can be replaced before
    /// the admin unpauses, and then the replaced root is not kept claimable (`previousRoot()`
    /// becomes zero, with `GracePeriodClosed` if there was one).
    /// @param epoch Epoch number, at most `maxNextEpoch()`.
    /// @param root Root of the cumulative (uint256 chainId, address distributor, address account,
    /// uint256 cumulativeAmount) StandardMerkleTree.
    /// @param total The sum over the tree's accounts of `max(cumulativeAmount, claimed(account))`:
    /// the most that can ever have been claimed in total while this root is the latest; at least
    /// `totalClaimed()`.
    function publishRoot(uint64 epoch, bytes32 root, uint256 total) external onlyRole(ORACLE_ROLE) {
        if (_quorumInEffect()) revert QuorumRequired();
        _publish(epoch, root, total);
    }

    /// @notice Publishes the root that a quorum of the oracle set signed. Anyone may submit it:
    /// the signatures are the authority.
    /// @dev Each oracle signs the depin-rs `RootStatement` of (this contract, epoch, root, total)
    /// under `MessageKind::REWARD_ROOT` (0x0070) in the network's domain with this chain's id:
    /// the ECDSA secp256k1 prehash signature of `sha256("DEPIN-RS" || 0x01 || u8 len(networkId) ||
    /// networkId || 0x0070 || 0x01 || u64be(block.chainid) || "depin-rs/reward-root/1" || 0x14 ||
    /// address(this) || u64be(epoch) || root || u128be(total))`. `signatures` is the
    /// concatenation of 65-byte `r || s || v` signatures (v 27 or 28, s in the lower half of the
    /// order), ordered by strictly increasing signer address. Checks in order: `NoOracleSet` (no
    /// set in effect), `TotalTooLarge` (above 2^128 - 1, which the statement cannot carry),
    /// `BadSignatureLength`, then per signature `InvalidSignature` (high s, bad v, recovers to
    /// nothing), `SignersNotSorted` (not strictly increasing: also refuses a repeated signer),
    /// `NotAnOracle`; then `QuorumNotReached` (fewer than the threshold), then the rules of
    /// `publishRoot` (`ZeroRoot`, same root again a no-op, `EpochAlreadyPublished`,
    /// `EpochNotIncreasing`, `EpochGapTooLarge`, `TotalBelowClaimed`). A set change never
    /// re-opens a published epoch.
    /// @param epoch Epoch number, at most `maxNextEpoch()`.
    /// @param root The claim tree root (as for `publishRoot`).
    /// @param total The epoch's total (as for `publishRoot`), below 2^128.
    /// @param signatures `threshold` or more 65-byte signatures, signers in increasing address
    /// order.
    function publishQuorumRoot(uint64 epoch, bytes32 root, uint256 total, bytes calldata signatures) external {
        OracleSetState storage set = _setInEffect();
        if (set.threshold == 0) revert NoOracleSet();
        if (total > type(uint128).max) revert TotalTooLarge(total);
        if (signatures.length % 65 != 0) revert BadSignatureLength(signatures.length);
        bytes32 digest = _statementDigest(set.networkId, epoch, root, total);
        uint256 count = signatures.length / 65;
        address last = address(0);
        for (uint256 i = 0; i < count; ++i) {
            bytes calldata sig = signatures[i * 65:(i + 1) * 65];
            bytes32 r = bytes32(sig[0:32]);
            bytes32 s_ = bytes32(sig[32:64]);
            uint8 v = uint8(sig[64]);
            if (uint256(s_) > SECP256K1_HALF_ORDER || (v != 27 && v != 28)) revert InvalidSignature(i);
            address signer = ecrecover(digest, v, r, s_);
            if (signer == address(0)) revert InvalidSignature(i);
            if (signer <= last) revert SignersNotSorted(i);
            if (!set.isOracle[signer]) revert NotAnOracle(signer);
            last = signer;
        }
        if (count < set.threshold) revert QuorumNotReached(count, set.threshold);
        _publish(epoch, root, total);
        emit QuorumRootPublished(epoch, root, count);
    }

    /// @notice Schedules the oracle set (admin only): from `effectiveAt` (unix seconds) on, a root
    /// needs `threshold` of `oracles` to sign it (`publishQuorumRoot`) and `publishRoot` is
    /// refused. `networkId` is the depin-rs network whose domain the oracles sign in.
    /// @dev `effectiveAt` must be at least `ORACLE_SET_DELAY` from now (`OracleSetTooSoon`), so a
    /// hijacked admin key cannot install its own oracles unseen, and not before an already
    /// scheduled set (`OracleSetOutOfOrder`); scheduling replaces a set that is scheduled but not
    /// yet in effect. `oracles`: 1 to `MAX_ORACLES` distinct non-zero addresses; `threshold` a
    /// strict majority (`2 * threshold > n`, so two different roots can never both reach it):
    /// `InvalidOracleSet` otherwise. `networkId`: 1 to 64 bytes (`InvalidOracleSet`).
    function scheduleOracleSet(bytes calldata networkId, address[] calldata oracles, uint8 threshold, uint64 effectiveAt)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        uint256 n = oracles.length;
        if (n == 0 || n > MAX_ORACLES || threshold == 0 || threshold > n || 2 * uint256(threshold) <= n) {
            revert InvalidOracleSet();
        }
        if (networkId.length == 0 || networkId.length > 64) revert InvalidOracleSet();
        if (uint256(effectiveAt) < block.timestamp + ORACLE_SET_DELAY) {
            revert OracleSetTooSoon(effectiveAt, uint64(block.timestamp + ORACLE_SET_DELAY));
        }
        // promote a pending set whose time has come, so that it is not lost
        _settle();
        if (effectiveAt < _sets[_current].effectiveAt) revert OracleSetOutOfOrder(effectiveAt);
        uint8 slot = 1 - _current;
        OracleSetState storage next = _sets[slot];
        for (uint256 i = 0; i < next.oracles.length; ++i) {
            next.isOracle[next.oracles[i]] = false;
        }
        delete next.oracles;
        for (uint256 i = 0; i < n; ++i) {
            address a = oracles[i];
            if (a == address(0) || next.isOracle[a]) revert InvalidOracleSet();
            next.isOracle[a] = true;
            next.oracles.push(a);
        }
        next.threshold = threshold;
        next.effectiveAt = effectiveAt;
        next.networkId = networkId;
        _pending = true;
        emit OracleSetScheduled(oracles, threshold, effectiveAt);
    }

    /// @notice The oracle set in effect now: its oracles, threshold (0: none, a single
    /// `ORACLE_ROLE` holder publishes) and the network id they sign for.
    function oracleSet() external view returns (address[] memory oracles, uint8 threshold, bytes memory networkId) {
        OracleSetState storage set = _setInEffect();
        return (set.oracles, set.threshold, set.networkId);
    }

    /// @notice The digest an oracle signs for (epoch, root, total) on this distributor, in the
    /// domain of the set in effect (zero if none is).
    function statementDigest(uint64 epoch, bytes32 root, uint256 total) external view returns (bytes32) {
        OracleSetState storage set = _setInEffect();
        if (set.threshold == 0 || total > type(uint128).max) return bytes32(0);
        return _statementDigest(set.networkId, epoch, root, total);
    }

    function _statementDigest(bytes memory networkId, uint64 epoch, bytes32 root, uint256 total)
        private
        view
        returns (bytes32)
    {
        return sha256(
            abi.encodePacked(
                "DEPIN-RS",
                uint8(1),
                uint8(networkId.length),
                networkId,
                uint16(0x0070),
                uint8(1),
                uint64(block.chainid),
                "depin-rs/reward-root/1",
                uint8(20),
                address(this),
                epoch,
                root,
                uint128(total)
            )
        );
    }

    /// The set in effect now (threshold 0: none).
    function _setInEffect() private view returns (OracleSetState storage) {
        uint8 other = 1 - _current;
        if (_pending && _sets[other].effectiveAt <= block.timestamp) return _sets[other];
        return _sets[_current];
    }

    function _quorumInEffect() private view returns (bool) {
        return _setInEffect().threshold != 0;
    }

    /// Make a pending set whose time has come the current one.
    function _settle() private {
        uint8 other = 1 - _current;
        if (_pending && _sets[other].effectiveAt <= block.timestamp) {
            _current = other;
            _pending = false;
        }
    }

    function _publish(uint64 epoch, bytes32 root, uint256 total) private {
        if (root == bytes32(0)) revert ZeroRoot();
        bytes32 existing = _roots[epoch];
        if (existing != bytes32(0)) {
            if (existing == root && _totals[epoch] == total) return;
            revert EpochAlreadyPublished(epoch);
        }
        bytes32 latestRoot_ = _latestRoot;
        uint64 latestEpoch_ = _latestEpoch;
        if (latestRoot_ != bytes32(0) && epoch <= latestEpoch_) revert EpochNotIncreasing(epoch, latestEpoch_);
        if (uint256(epoch) > uint256(latestEpoch_) + MAX_EPOCH_GAP) {
            revert EpochGapTooLarge(epoch, latestEpoch_, MAX_EPOCH_GAP);
        }
        if (total < _totalClaimed) revert TotalBelowClaimed(total, _totalClaimed);
        _roots[epoch] = root;
        _totals[epoch] = total;
        if (paused()) {
            // The pause says the latest root may be the bad one being replaced: do not keep it
            // claimable for the grace period once the admin unpauses.
            _previousRoot = bytes32(0);
            if (latestRoot_ != bytes32(0)) emit GracePeriodClosed(latestEpoch_, msg.sender);
        } else {
            _previousRoot = latestRoot_;
        }
        _previousEpoch = latestEpoch_;
        _latestEpoch = epoch;
        _latestRoot = root;
        _latestTotal = total;
        _latestPublishedAt = uint64(block.timestamp);
        emit RootPublished(epoch, root, total);
    }

    /// @notice Pays `account` its unclaimed rewards: `cumulativeAmount - claimed(account)`.
    /// @dev Anyone may submit the claim; tokens always go to `account`. The proof is checked
    /// against the latest root; if it does not prove the leaf there, against the previous root,
    /// but only while `block.timestamp <= latestPublishedAt() + CLAIM_GRACE_PERIOD` (and unless
    /// `closeGracePeriod` was called). Trees are cumulative, so the previous tree's amount for an
    /// account is at most the latest tree's, and in either case the claim pays only
    /// `cumulativeAmount - claimed(account)` and never brings `totalClaimed()` above the latest
    /// published total. Checks in order: `EnforcedPause`, `NoRoot`, `InvalidProof`,
    /// `NothingToClaim`, `TotalExceeded`, `InsufficientFunds`.
    /// @param account The account named in the leaf, receiving the payout.
    /// @param cumulativeAmount The account's cumulative amount in the latest (or previous) tree.
    /// @param proof Sibling hashes from leaf to root (StandardMerkleTree `getProof` order).
    /// @return amount The amount paid.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        whenNotPaused
        returns (uint256 amount)
    {
        bytes32 root = _latestRoot;
        if (root == bytes32(0)) revert NoRoot();
        bytes32 leaf =
            keccak256(bytes.concat(keccak256(abi.encode(block.chainid, address(this), account, cumulativeAmount))));
        uint64 epoch = _latestEpoch;
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) {
            bytes32 previous = _previousRoot;
            if (
                previous == bytes32(0) || block.timestamp > uint256(_latestPublishedAt) + CLAIM_GRACE_PERIOD
                    || !MerkleProof.verifyCalldata(proof, previous, leaf)
            ) revert InvalidProof();
            epoch = _previousEpoch;
        }
        uint256 already = _claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        amount = cumulativeAmount - already;
        uint256 newTotalClaimed = _totalClaimed + amount;
        if (newTotalClaimed > _latestTotal) revert TotalExceeded(newTotalClaimed, _latestTotal);
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientFunds(available, amount);

        _claimed[account] = cumulativeAmount;
        _totalClaimed = newTotalClaimed;
        emit Claimed(account, epoch, amount, cumulativeAmount);
        token.safeTransfer(account, amount);
    }

    /// @notice Stops accepting claims against the previous root now, before the grace period
    /// ends (for example after publishing a tree that lowers an account's cumulative amount).
    /// `ORACLE_ROLE` or `GUARDIAN_ROLE` (`AccessControlUnauthorizedAccount(caller, ORACLE_ROLE)`
    /// otherwise); allowed while paused. Without a previous root it does nothing (no event).
    function closeGracePeriod() external {
        if (!hasRole(ORACLE_ROLE, msg.sender) && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, ORACLE_ROLE);
        }
        if (_previousRoot == bytes32(0)) return;
        _previousRoot = bytes32(0);
        emit GracePeriodClosed(_previousEpoch, msg.sender);
    }

    /// @notice Starts a timelocked recovery of `amount` tokens to `to` (for example a replacement
    /// distributor). `DEFAULT_ADMIN_ROLE` only, and only while paused (`ExpectedPause`); zero `to`
    /// is `ZeroAddress`, zero `amount` `ZeroAmount`, a pending recovery `RecoveryAlreadyProposed`.
    /// It becomes executable `RECOVERY_DELAY` seconds from now; unpausing cancels it.
    /// @param to Recipient of the recovered tokens.
    /// @param amount Amount in base units.
    function proposeRecovery(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) whenPaused {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (_recoveryTo != address(0)) revert RecoveryAlreadyProposed(_recoveryTo, _recoveryAmount, _recoveryExecutableAt);
        uint64 executableAt = uint64(block.timestamp) + RECOVERY_DELAY;
        _recoveryTo = to;
        _recoveryAmount = amount;
        _recoveryExecutableAt = executableAt;
        emit RecoveryProposed(to, amount, executableAt);
    }

    /// @notice Cancels the pending recovery. `DEFAULT_ADMIN_ROLE` or `GUARDIAN_ROLE`
    /// (`AccessControlUnauthorizedAccount(caller, GUARDIAN_ROLE)` otherwise); `NoRecoveryProposed`
    /// if none is pending.
    function cancelRecovery() external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender) && !hasRole(GUARDIAN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, GUARDIAN_ROLE);
        }
        if (_recoveryTo == address(0)) revert NoRecoveryProposed();
        _cancelRecovery();
    }

    /// @notice Sends the pending recovery's tokens. `DEFAULT_ADMIN_ROLE` only, while paused
    /// (`ExpectedPause`); `NoRecoveryProposed` if none is pending, `RecoveryNotReady` before its
    /// `executableAt`, `InsufficientFunds` if the contract holds less than the amount.
    function executeRecovery() external onlyRole(DEFAULT_ADMIN_ROLE) whenPaused {
        address to = _recoveryTo;
        if (to == address(0)) revert NoRecoveryProposed();
        if (block.timestamp < _recoveryExecutableAt) revert RecoveryNotReady(_recoveryExecutableAt);
        uint256 amount = _recoveryAmount;
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientFunds(available, amount);
        delete _recoveryTo;
        delete _recoveryAmount;
        delete _recoveryExecutableAt;
        emit RecoveryExecuted(to, amount);
        token.safeTransfer(to, amount);
    }

    /// @notice Pauses `claim` (`publishRoot` and `closeGracePeriod` still work, so the oracle can
    /// replace a bad root before the admin unpauses). `GUARDIAN_ROLE` only; reverts with
    /// `EnforcedPause` if already paused.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Lifts a pause. `DEFAULT_ADMIN_ROLE` only; reverts with `ExpectedPause` if not paused.
    /// Cancels a pending recovery (`RecoveryCancelled`), which needs the pause for its whole delay.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
        if (_recoveryTo != address(0)) _cancelRecovery();
    }

    function _cancelRecovery() private {
        address to = _recoveryTo;
        uint256 amount = _recoveryAmount;
        delete _recoveryTo;
        delete _recoveryAmount;
        delete _recoveryExecutableAt;
        emit RecoveryCancelled(to, amount, msg.sender);
    }

    /// @notice The leaf `claim` checks for (`account`, `cumulativeAmount`) on this distributor and
    /// chain: `keccak256(bytes.concat(keccak256(abi.encode(block.chainid, address(this), account,
    /// cumulativeAmount))))`.
    /// @param account The account.
    /// @param cumulativeAmount The cumulative amount.
    /// @return The leaf hash.
    function leafHash(address account, uint256 cumulativeAmount) external view returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(block.chainid, address(this), account, cumulativeAmount))));
    }

    /// @notice The cumulative amount `account` has claimed so far.
    /// @param account The account.
    /// @return The claimed total.
    function claimed(address account) external view returns (uint256) {
        return _claimed[account];
    }

    /// @notice The root published for `epoch`, or zero if none.
    /// @param epoch Epoch number.
    /// @return The root.
    function rootOf(uint64 epoch) external view returns (bytes32) {
        return _roots[epoch];
    }

    /// @notice The total published with the root of `epoch`, or zero if none.
    /// @param epoch Epoch number.
    /// @return The total.
    function totalOf(uint64 epoch) external view returns (uint256) {
        return _totals[epoch];
    }

    /// @notice The latest published epoch (zero before the first publication; check `latestRoot`).
    /// @return The epoch.
    function latestEpoch() external view returns (uint64) {
        return _latestEpoch;
    }

    /// @notice The root claims are verified against first (the previous root is also accepted
    /// during the grace period), or zero before the first publication.
    /// @return The root.
    function latestRoot() external view returns (bytes32) {
        return _latestRoot;
    }

    /// @notice The total published with the latest root (zero before the first publication): the
    /// cap on `totalClaimed()`.
    /// @return The total.
    function latestTotal() external view returns (uint256) {
        return _latestTotal;
    }

    /// @notice The highest epoch `publishRoot` accepts next: `latestEpoch() + MAX_EPOCH_GAP`
    /// (`MAX_EPOCH_GAP` before the first root), at most 2^64-1.
    /// @return The bound.
    function maxNextEpoch() external view returns (uint64) {
        uint256 bound = uint256(_latestEpoch) + MAX_EPOCH_GAP;
        return bound > type(uint64).max ? type(uint64).max : uint64(bound);
    }

    /// @notice The block timestamp at which the latest root was published (0 before the first).
    /// @return Unix seconds.
    function latestPublishedAt() external view returns (uint64) {
        return _latestPublishedAt;
    }

    /// @notice The root that was latest before the latest one, still accepted by `claim` until
    /// `previousRootClaimableUntil()`; zero if there is none or `closeGracePeriod` was called.
    /// @return The root.
    function previousRoot() external view returns (bytes32) {
        return _previousRoot;
    }

    /// @notice The epoch of `previousRoot()` (meaningless when it is zero).
    /// @return The epoch.
    function previousEpoch() external view returns (uint64) {
        return _previousEpoch;
    }

    /// @notice The last block timestamp at which a claim against `previousRoot()` is accepted:
    /// `latestPublishedAt() + CLAIM_GRACE_PERIOD`, or 0 if there is no previous root.
    /// @return Unix seconds.
    function previousRootClaimableUntil() external view returns (uint64) {
        if (_previousRoot == bytes32(0)) return 0;
        return _latestPublishedAt + CLAIM_GRACE_PERIOD;
    }

    /// @notice The pending recovery, or all zeros if none.
    /// @return to Recipient.
    /// @return amount Amount in base units.
    /// @return executableAt First block timestamp at which `executeRecovery` may run.
    function pendingRecovery() external view returns (address to, uint256 amount, uint64 executableAt) {
        return (_recoveryTo, _recoveryAmount, _recoveryExecutableAt);
    }

    /// @notice The sum of all amounts paid by claims.
    /// @return The total paid.
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }
}
