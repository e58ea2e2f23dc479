// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title DepinDeviceRegistry
/// @notice One ERC-721 token per DePIN device. A device is identified by the EVM address of its
/// secp256k1 key (last 20 bytes of keccak256 of the uncompressed public key) and the token id is
/// `uint256(uint160(device))`. Registration must be authorised by an EIP-712 signature made with
/// the device key, so only the holder of the device key can bind the device to an owner.
/// @dev Anyone may submit a registration (for example a relayer paying the gas); the signature
/// fixes every field, including the owner. A revoked device keeps its token but is no longer
/// active, cannot be registered again (revocation is final because the key may be compromised),
/// and its token can no longer be transferred (`RevokedDeviceLocked`).
///
/// Key type and device id are not free: `keyType` must be 1 (depin-core `KeyType::Secp256k1`,
/// the only scheme `ecrecover` verifies), and `deviceId` must be the SDK's device id hash,
/// `sha256(0x01 || compressedKey)`, where `compressedKey` is the 33-byte compressed SEC1 key
/// (`0x02 | (y & 1)` followed by the 32-byte `x`). The registration passes the 64-byte
/// uncompressed key `x || y`; the contract checks that it hashes to `device`
/// (`address(uint160(uint256(keccak256(publicKey)))) == device`) and derives the id from it.
///
/// Permits: every device-signed permit carries `nonces(device)` and a deadline that may be at most
/// `MAX_PERMIT_LIFETIME` after the block in which it is used (`DeadlineTooFar`). The device key is
/// the only authority over its permits: `useNonce` with a `CancelNonce` signature by the device
/// advances the nonce by one, which voids every outstanding permit signed for the old nonce (for
/// example the previous owner's unused registration permit after a resale).
///
/// Admin: OpenZeppelin `AccessControlDefaultAdminRules` (one admin, handed over in two steps,
/// `beginDefaultAdminTransfer` then `acceptDefaultAdminTransfer` by the new admin after
/// `defaultAdminDelay()`).
contract DeviceRegistry is ERC721, AccessControlDefaultAdminRules, EIP712 {
    /// @notice The only accepted `keyType`: depin-core `KeyType::Secp256k1`.
    uint8 public constant KEY_TYPE_SECP256K1 = 1;

    /// @notice EIP-712 type hash of the registration permit signed by the device key.
    bytes32 public constant REGISTER_TYPEHASH = keccak256(
        "Register(address owner,address device,uint8 keyType,bytes32 deviceId,bytes32 metadataHash,uint256 nonce,uint256 deadline)"
    );

    /// @notice EIP-712 type hash of the nonce cancellation signed by the device key.
    bytes32 public constant CANCEL_NONCE_TYPEHASH =
        keccak256("CancelNonce(address device,uint256 nonce,uint256 deadline)");

    /// @notice The furthest a permit deadline may lie after the current block timestamp (30 days).
    uint256 public constant MAX_PERMIT_LIFETIME = 30 days;

    /// @dev Stored per device; the owner lives in the ERC-721 state.
    struct Device {
        uint8 keyType;
        bool revoked;
        bytes32 deviceId;
        bytes32 metadataHash;
    }

    mapping(address device => Device) private _devices;
    mapping(address device => uint256) private _nonces;

    /// @notice The device already has a token (active or revoked).
    error AlreadyRegistered(address device);
    /// @notice The signature is malformed, malleable (high S, v not 27/28) or not made by the device key.
    error InvalidSignature();
    /// @notice The signature deadline has passed.
    error Expired(uint256 deadline);
    /// @notice The deadline is more than `MAX_PERMIT_LIFETIME` after this block; `max` is the
    /// latest deadline accepted now.
    error DeadlineTooFar(uint256 deadline, uint256 max);
    /// @notice A nonce cancellation names `nonce`, but the device's current nonce is `current`.
    error NonceMismatch(address device, uint256 nonce, uint256 current);
    /// @notice The caller is neither the token owner nor an admin.
    error NotAuthorized(address caller);
    /// @notice No token exists for the device.
    error NotFound(address device);
    /// @notice The device was already revoked.
    error AlreadyRevoked(address device);
    /// @notice The zero address was given as owner or device.
    error ZeroAddress();
    /// @notice `keyType` is not 1 (secp256k1), the only key type this registry can verify.
    error UnsupportedKeyType(uint8 keyType);
    /// @notice The public key is not 64 bytes, or does not hash to the device address.
    error PublicKeyMismatch(address device);
    /// @notice `deviceId` is not `sha256(0x01 || compressed public key)`; `expected` is.
    error DeviceIdMismatch(bytes32 deviceId, bytes32 expected);
    /// @notice The device is revoked, so its token cannot be transferred.
    error RevokedDeviceLocked(address device);

    /// @notice A device was registered and its token minted to `owner`.
    event DeviceRegistered(
        address indexed device, address indexed owner, uint8 keyType, bytes32 deviceId, bytes32 metadataHash
    );
    /// @notice A device was revoked by `by` (its token owner or an admin).
    event DeviceRevoked(address indexed device, address indexed by);
    /// @notice The device cancelled `nonce`: `nonces(device)` is now `nonce + 1`, and every
    /// permit signed for `nonce` is void.
    event NonceUsed(address indexed device, uint256 nonce);

    /// @notice Deploys the registry; the deployer becomes the (single) default admin.
    /// @param adminDelay Initial `defaultAdminDelay()` in seconds: how long a begun admin transfer
    /// must wait before the new admin can accept it (0 allows acceptance from the next second).
    constructor(uint48 adminDelay)
        ERC721("Depin Device", "DEVICE")
        AccessControlDefaultAdminRules(adminDelay, msg.sender)
        EIP712("DepinDeviceRegistry", "1")
    {}

    /// @notice Registers `device` and mints its token to `owner`.
    /// @dev The device key signs `Register(owner, device, keyType, deviceId, metadataHash, nonce,
    /// deadline)` where `nonce` is `nonces(device)`; the nonce increases on success. The signature
    /// is 65 bytes r || s || v with v in {27, 28} and a low S. Checks in order: `ZeroAddress`,
    /// `UnsupportedKeyType`, `Expired`, `DeadlineTooFar` (`deadline > block.timestamp +
    /// MAX_PERMIT_LIFETIME`), `AlreadyRegistered`, `PublicKeyMismatch`, `DeviceIdMismatch`,
    /// `InvalidSignature`.
    /// @param owner Account that receives the device token.
    /// @param device EVM address of the device's secp256k1 key.
    /// @param keyType Key type code as defined by the SDK; must be 1 (secp256k1).
    /// @param deviceId SDK device id hash: must equal `sha256(0x01 || compressedKey)` (34 bytes hashed).
    /// @param metadataHash Hash of off-chain device metadata.
    /// @param deadline Last block timestamp at which the signature is accepted; at most
    /// `MAX_PERMIT_LIFETIME` after the block that includes the registration.
    /// @param publicKey The device's uncompressed secp256k1 public key without the 0x04 prefix:
    /// 64 bytes `x || y`, big-endian.
    /// @param signature EIP-712 signature by the device key.
    /// @return tokenId The minted token id, `uint256(uint160(device))`.
    function register(
        address owner,
        address device,
        uint8 keyType,
        bytes32 deviceId,
        bytes32 metadataHash,
        uint256 deadline,
        bytes calldata publicKey,
        bytes calldata signature
    ) external returns (uint256 tokenId) {
        if (owner == address(0) || device == address(0)) revert ZeroAddress();
        if (keyType != KEY_TYPE_SECP256K1) revert UnsupportedKeyType(keyType);
        _checkDeadline(deadline);
        tokenId = uint256(uint160(device));
        if (_ownerOf(tokenId) != address(0)) revert AlreadyRegistered(device);
        bytes32 expectedId = deviceIdOf(device, publicKey);
        if (deviceId != expectedId) revert DeviceIdMismatch(deviceId, expectedId);
        _useRegisterPermit(owner, device, keyType, deviceId, metadataHash, deadline, signature);

        _devices[device] = Device({keyType: keyType, revoked: false, deviceId: deviceId, metadataHash: metadataHash});
        emit DeviceRegistered(device, owner, keyType, deviceId, metadataHash);
        _safeMint(owner, tokenId);
    }

    /// @dev Checks the EIP-712 `Register` signature of `device` over the given fields and its
    /// current nonce (`InvalidSignature` otherwise), then increments the nonce.
    function _useRegisterPermit(
        address owner,
        address device,
        uint8 keyType,
        bytes32 deviceId,
        bytes32 metadataHash,
        uint256 deadline,
        bytes calldata signature
    ) private {
        uint256 nonce = _nonces[device];
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(REGISTER_TYPEHASH, owner, device, keyType, deviceId, metadataHash, nonce, deadline))
        );
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != device) revert InvalidSignature();
        _nonces[device] = nonce + 1;
    }

    /// @notice Cancels the device's current nonce: `nonces(device)` goes from `nonce` to
    /// `nonce + 1`, so no permit signed for `nonce` (an unused registration permit, say) can ever
    /// be used. Authorised only by the device key: a 65-byte low-S EIP-712 signature over
    /// `CancelNonce(address device,uint256 nonce,uint256 deadline)`. Anyone may submit it.
    /// @dev Checks in order: `ZeroAddress`, `Expired`, `DeadlineTooFar`, `NonceMismatch`,
    /// `InvalidSignature`. Works whether or not the device is registered.
    /// @param device EVM address of the device key.
    /// @param nonce The nonce to cancel; must be `nonces(device)`.
    /// @param deadline Last block timestamp at which the signature is accepted (at most
    /// `MAX_PERMIT_LIFETIME` ahead).
    /// @param signature EIP-712 signature by the device key.
    function useNonce(address device, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        if (device == address(0)) revert ZeroAddress();
        _checkDeadline(deadline);
        uint256 current = _nonces[device];
        if (nonce != current) revert NonceMismatch(device, nonce, current);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CANCEL_NONCE_TYPEHASH, device, nonce, deadline)));
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != device) revert InvalidSignature();
        _nonces[device] = nonce + 1;
        emit NonceUsed(device, nonce);
    }

    /// @dev `Expired` once `deadline` has passed, `DeadlineTooFar` if it is more than
    /// `MAX_PERMIT_LIFETIME` ahead.
    function _checkDeadline(uint256 deadline) private view {
        if (block.timestamp > deadline) revert Expired(deadline);
        uint256 max = block.timestamp + MAX_PERMIT_LIFETIME;
        if (deadline > max) revert DeadlineTooFar(deadline, max);
    }

    /// @notice The `deviceId` a secp256k1 device must register with: `sha256(0x01 || 0x02|(y&1)
    /// || x)` (the SHA-256 of the SDK's 34-byte binary device id: key type tag 1 followed by the
    /// 33-byte compressed SEC1 key). Reverts with `PublicKeyMismatch` unless `publicKey` is 64
    /// bytes `x || y` whose keccak256 ends in the 20 bytes of `device`.
    /// @param device EVM address of the device key.
    /// @param publicKey Uncompressed public key without prefix, `x || y`.
    /// @return The device id hash.
    function deviceIdOf(address device, bytes calldata publicKey) public pure returns (bytes32) {
        if (publicKey.length != 64 || address(uint160(uint256(keccak256(publicKey)))) != device) {
            revert PublicKeyMismatch(device);
        }
        bytes32 x = bytes32(publicKey[0:32]);
        uint8 prefix = (uint8(publicKey[63]) & 1) == 1 ? 0x03 : 0x02;
        return sha256(abi.encodePacked(KEY_TYPE_SECP256K1, prefix, x));
    }

    /// @notice Marks `device` as revoked. The token is kept but can no longer be transferred
    /// (`RevokedDeviceLocked`); `deviceInfo` then reports it inactive.
    /// @dev Callable by the current token owner or by an account with `DEFAULT_ADMIN_ROLE`.
    /// @param device EVM address of the device key.
    function revoke(address device) external {
        address owner = _ownerOf(uint256(uint160(device)));
        if (owner == address(0)) revert NotFound(device);
        if (msg.sender != owner && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) revert NotAuthorized(msg.sender);
        Device storage d = _devices[device];
        if (d.revoked) revert AlreadyRevoked(device);
        d.revoked = true;
        emit DeviceRevoked(device, msg.sender);
    }

    /// @notice Returns the registration of `device`; reverts with `NotFound` if it has none.
    /// @param device EVM address of the device key.
    /// @return owner Current token owner.
    /// @return keyType Key type code given at registration.
    /// @return deviceId Device identifier given at registration.
    /// @return metadataHash Metadata hash given at registration.
    /// @return active False once the device has been revoked.
    function deviceInfo(address device)
        external
        view
        returns (address owner, uint8 keyType, bytes32 deviceId, bytes32 metadataHash, bool active)
    {
        owner = _ownerOf(uint256(uint160(device)));
        if (owner == address(0)) revert NotFound(device);
        Device storage d = _devices[device];
        return (owner, d.keyType, d.deviceId, d.metadataHash, !d.revoked);
    }

    /// @notice The nonce the next permit (registration or cancellation) of `device` must use.
    /// @param device EVM address of the device key.
    /// @return The current nonce.
    function nonces(address device) external view returns (uint256) {
        return _nonces[device];
    }

    /// @notice The EIP-712 domain separator (name "DepinDeviceRegistry", version "1", this chain id
    /// and this contract's address).
    /// @return The domain separator.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice ERC-165 support for ERC-721, AccessControl and AccessControlDefaultAdminRules.
    /// @param interfaceId The interface identifier.
    /// @return True if supported.
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, AccessControlDefaultAdminRules)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Every move of an existing token (transfer or burn, not the mint) of a revoked device
    /// reverts with `RevokedDeviceLocked`: a possibly compromised device cannot be passed on.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && _devices[address(uint160(tokenId))].revoked) {
            revert RevokedDeviceLocked(address(uint160(tokenId)));
        }
        return super._update(to, tokenId, auth);
    }
}
