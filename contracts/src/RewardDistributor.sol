// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title RewardDistributor
/// @notice Cumulative Merkle reward distributor paying one ERC-20 token. Each epoch an oracle
/// publishes the root of a tree of (account, cumulative amount) leaves; an account claims the
/// difference between its cumulative amount in the latest tree and what it has already claimed.
/// @dev Leaves are built exactly as OpenZeppelin `StandardMerkleTree` builds them for the types
/// ["address", "uint256"]: `keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))))`,
/// with sorted-pair inner nodes, and proofs are checked with OpenZeppelin `MerkleProof`.
/// Only the latest root is used for claims, so a cumulative tree must include every account.
contract RewardDistributor is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to publish epoch roots.
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");

    /// @notice The token paid out by claims.
    IERC20 public immutable token;

    uint64 private _latestEpoch;
    bytes32 private _latestRoot;
    mapping(uint64 epoch => bytes32) private _roots;
    mapping(uint64 epoch => uint256) private _totals;
    mapping(address account => uint256) private _claimed;
    uint256 private _totalClaimed;

    /// @notice A different root or total was given for an epoch that is already published.
    error EpochAlreadyPublished(uint64 epoch);
    /// @notice The epoch is not published and not above the latest published epoch.
    error EpochNotIncreasing(uint64 epoch, uint64 latestEpoch);
    /// @notice The zero root cannot be published.
    error ZeroRoot();
    /// @notice No root has been published yet.
    error NoRoot();
    /// @notice The proof does not prove (account, cumulativeAmount) against the latest root.
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

    /// @notice Deploys the distributor. The deployer receives `DEFAULT_ADMIN_ROLE`; `oracle`
    /// receives `ORACLE_ROLE`. Fund it by transferring `token_` to this contract.
    /// @param token_ The ERC-20 token paid out.
    /// @param oracle Account allowed to publish roots.
    constructor(IERC20 token_, address oracle) {
        if (address(token_) == address(0) || oracle == address(0)) revert ZeroAddress();
        token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(ORACLE_ROLE, oracle);
    }

    /// @notice Publishes the claim tree root for `epoch`.
    /// @dev Epochs must strictly increase (gaps are allowed). Publishing the same (root, total)
    /// again for an already published epoch is a no-op: it returns without an event. A different
    /// root or total for a published epoch reverts with `EpochAlreadyPublished`; an unpublished
    /// epoch at or below the latest one reverts with `EpochNotIncreasing`.
    /// @param epoch Epoch number.
    /// @param root Root of the cumulative (address, uint256) StandardMerkleTree.
    /// @param total Total of the cumulative amounts in the tree (informational, not enforced).
    function publishRoot(uint64 epoch, bytes32 root, uint256 total) external onlyRole(ORACLE_ROLE) {
        if (root == bytes32(0)) revert ZeroRoot();
        bytes32 existing = _roots[epoch];
        if (existing != bytes32(0)) {
            if (existing == root && _totals[epoch] == total) return;
            revert EpochAlreadyPublished(epoch);
        }
        if (_latestRoot != bytes32(0) && epoch <= _latestEpoch) revert EpochNotIncreasing(epoch, _latestEpoch);
        _roots[epoch] = root;
        _totals[epoch] = total;
        _latestEpoch = epoch;
        _latestRoot = root;
        emit RootPublished(epoch, root, total);
    }

    /// @notice Pays `account` its unclaimed rewards: `cumulativeAmount - claimed(account)`.
    /// @dev Anyone may submit the claim; tokens always go to `account`.
    /// @param account The account named in the leaf, receiving the payout.
    /// @param cumulativeAmount The account's cumulative amount in the latest tree.
    /// @param proof Sibling hashes from leaf to root (StandardMerkleTree `getProof` order).
    /// @return amount The amount paid.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof)
        external
        returns (uint256 amount)
    {
        bytes32 root = _latestRoot;
        if (root == bytes32(0)) revert NoRoot();
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, cumulativeAmount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 already = _claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        amount = cumulativeAmount - already;
        uint256 available = token.balanceOf(address(this));
        if (available < amount) revert InsufficientFunds(available, amount);

        _claimed[account] = cumulativeAmount;
        _totalClaimed += amount;
        emit Claimed(account, _latestEpoch, amount, cumulativeAmount);
        token.safeTransfer(account, amount);
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

    /// @notice The sum of all amounts paid by claims.
    /// @return The total paid.
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }
}
