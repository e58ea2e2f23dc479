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
/// tree and what it has already claimed.
/// @dev Leaves are built exactly as OpenZeppelin `StandardMerkleTree` builds them for the types
/// ["uint256", "address", "address", "uint256"] with the values [block.chainid, address(this),
/// account, cumulativeAmount]:
/// `keccak256(bytes.concat(keccak256(abi.encode(block.chainid, address(this), account, cumulativeAmount))))`,
/// with sorted-pair inner nodes, and proofs are checked with OpenZeppelin `MerkleProof`. Binding
/// the chain id and this contract's address into every leaf means a root (and its proofs) is
/// never valid on another distributor or another chain.
///
/// Published totals: `total` must be the sum of the cumulative amounts in the tree. Totals never
/// decrease from one published epoch to the next (`TotalDecreased`), and no claim may bring
/// `totalClaimed()` above the latest published total (`TotalExceeded`). A faulty or compromised
/// oracle can therefore not pay out more than the total it publishes on chain, which monitors can
/// compare with the off-chain reward computation.
///
/// Only the latest root is used for claims, so a cumulative tree must include every account.
///
/// Roles: `DEFAULT_ADMIN_ROLE` (OpenZeppelin `AccessControlDefaultAdminRules`: one admin, handed
/// over in two steps, `beginDefaultAdminTransfer` then `acceptDefaultAdminTransfer` by the new
/// admin once `defaultAdminDelay()` has passed) manages the other roles and is the only one that
/// can `unpause`; `ORACLE_ROLE` publishes roots; `GUARDIAN_ROLE` can `pause`. While paused,
/// `claim` and `publishRoot` revert with `EnforcedPause()`.
contract RewardDistributor is AccessControlDefaultAdminRules, Pausable {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to publish epoch roots.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @notice Role allowed to pause claims and publication (unpausing needs the admin).
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice The token paid out by claims.
    IERC20 public immutable token;

    uint64 private _latestEpoch;
    bytes32 private _latestRoot;
    uint256 private _latestTotal;
    mapping(uint64 epoch => bytes32) private _roots;
    mapping(uint64 epoch => uint256) private _totals;
    mapping(address account => uint256) private _claimed;
    uint256 private _totalClaimed;

    /// @notice A different root or total was given for an epoch that is already published.
    error EpochAlreadyPublished(uint64 epoch);
    /// @notice The epoch is not published and not above the latest published epoch.
    error EpochNotIncreasing(uint64 epoch, uint64 latestEpoch);
    /// @notice The new epoch's total is below the total of the latest published epoch.
    error TotalDecreased(uint64 epoch, uint256 total, uint256 latestTotal);
    /// @notice The claim would bring `totalClaimed()` to `newTotalClaimed`, above the latest
    /// published total.
    error TotalExceeded(uint256 newTotalClaimed, uint256 publishedTotal);
    /// @notice The zero root cannot be published.
    error ZeroRoot();
    /// @notice No root has been published yet.
    error NoRoot();
    /// @notice The proof does not prove (chain id, this contract, account, cumulativeAmount)
    /// against the latest root.
    error InvalidProof();
    /// @notice The account has already claimed at least `cumulativeAmount`.
    error NothingToClaim(address account, uint256 cumulativeAmount, uint256 alreadyClaimed);
    /// @notice The contract holds fewer tokens than the claim pays.
    error InsufficientFunds(uint256 available, uint256 required);
    /// @notice The zero address was given.
    error ZeroAddress();

    /// @notice A root was published for `epoch`.
    event RootPublished(uint64 indexed epoch, bytes32 root, uint256 total);
    /// @notice `account` was paid `amount`, bringing its claimed total to `cumulativeAmount`.
    event Claimed(address indexed account, uint64 indexed epoch, uint256 amount, uint256 cumulativeAmount);

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
    /// @dev Reverts with `EnforcedPause` while paused. Epochs must strictly increase (gaps are
    /// allowed). Publishing the same (root, total) again for an already published epoch is a
    /// no-op: it returns without an event. A different root or total for a published epoch
    /// reverts with `EpochAlreadyPublished`; an unpublished epoch at or below the latest one
    /// reverts with `EpochNotIncreasing`; a total below the latest published total reverts with
    /// `TotalDecreased`.
    /// @param epoch Epoch number.
    /// @param root Root of the cumulative (uint256 chainId, address distributor, address account,
    /// uint256 cumulativeAmount) StandardMerkleTree.
    /// @param total Sum of the cumulative amounts in the tree: the most that can ever have been
    /// claimed in total while this root is the latest.
    function publishRoot(uint64 epoch, bytes32 root, uint256 total) external onlyRole(ORACLE_ROLE) whenNotPaused {
        if (root == bytes32(0)) revert ZeroRoot();
        bytes32 existing = _roots[epoch];
        if (existing != bytes32(0)) {
            if (existing == root && _totals[epoch] == total) return;
            revert EpochAlreadyPublished(epoch);
        }
        if (_latestRoot != bytes32(0)) {
            if (epoch <= _latestEpoch) revert EpochNotIncreasing(epoch, _latestEpoch);
            if (total < _latestTotal) revert TotalDecreased(epoch, total, _latestTotal);
        }
        _roots[epoch] = root;
        _totals[epoch] = total;
        _latestEpoch = epoch;
        _latestRoot = root;
        _latestTotal = total;
        emit RootPublished(epoch, root, total);
    }

    /// @notice Pays `account` its unclaimed rewards: `cumulativeAmount - claimed(account)`.
    /// @dev Anyone may submit the claim; tokens always go to `account`. Checks in order:
    /// `EnforcedPause`, `NoRoot`, `InvalidProof`, `NothingToClaim`, `TotalExceeded`,
    /// `InsufficientFunds`.
    /// @param account The account named in the leaf, receiving the payout.
    /// @param cumulativeAmount The account's cumulative amount in the latest tree.
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
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 already = _claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        amount = cumulativeAmount - already;
        uint256 newTotalClaimed = _totalClaimed + amount;
        if (newTotalClaimed > _latestTotal) revert TotalExceeded(newTotalClaimed, _latestTotal);
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientFunds(available, amount);

        _claimed[account] = cumulativeAmount;
        _totalClaimed = newTotalClaimed;
        emit Claimed(account, _latestEpoch, amount, cumulativeAmount);
        token.safeTransfer(account, amount);
    }

    /// @notice Pauses `claim` and `publishRoot`. `GUARDIAN_ROLE` only; reverts with
    /// `EnforcedPause` if already paused.
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @notice Lifts a pause. `DEFAULT_ADMIN_ROLE` only; reverts with `ExpectedPause` if not paused.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
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

    /// @notice The root claims are verified against, or zero before the first publication.
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

    /// @notice The sum of all amounts paid by claims.
    /// @return The total paid.
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }
}
