// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

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
/// Key types (depin-core tags): 1 secp256k1 (the device signs with `ecrecover`-checked
/// signatures), 2 P-256 (checked with OpenZeppelin's `P256`: the RIP-7212 precompile where the
/// chain has one, Solidity otherwise), 0 Ed25519 (no EVM verifier: such devices join only
/// through an approved maker's attestation, `onboard`). The device address and id are not free:
/// see `deviceAddressOf` and `deviceIdOf`.
///
/// Makers: the admin approves manufacturers (`approveMaker`, an EOA with a name and a quota),
/// who onboard devices with an EIP-712 `Onboard` attestation over the same fields as the
/// device's own permit plus the maker (`onboard`); where the chain can check the device's key
/// type the device's own permit signature is required too. A revoked maker onboards nothing
/// more; the admin chooses whether its devices are suspended (`revokeMaker`). With
/// `setMakersOnly(true)` devices can no longer register by themselves.
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
    /// @notice depin-core `KeyType::Ed25519`: registers only through a maker.
    uint8 public constant KEY_TYPE_ED25519 = 0;
    /// @notice depin-core `KeyType::Secp256k1`.
    uint8 public constant KEY_TYPE_SECP256K1 = 1;
    /// @notice depin-core `KeyType::P256`.
    uint8 public constant KEY_TYPE_P256 = 2;
    /// @notice Trust level of a device registered by itself.
    uint8 public constant TRUST_UNTRUSTED = 0;
    /// @notice Trust level of a device onboarded by an approved maker.
    uint8 public constant TRUST_MAKER = 1;

    /// @notice EIP-712 type hash of a maker's onboarding attestation.
    bytes32 public constant ONBOARD_TYPEHASH = keccak256(
        "Onboard(address owner,address device,uint8 keyType,bytes32 deviceId,bytes32 metadataHash,uint256 nonce,uint256 deadline,address maker)"
    );

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
        uint8 trust;
        address maker;
        bytes32 deviceId;
        bytes32 metadataHash;
    }

    /// @dev An approved maker.
    struct MakerState {
        uint64 quota;
        uint64 onboarded;
        bool approved;
        bool revoked;
        bool devicesSuspended;
        string name;
        bytes publicKey;
    }

    /// @notice The fields both the device's permit and the maker's attestation sign.
    struct Onboarding {
        address owner;
        address device;
        uint8 keyType;
        bytes32 deviceId;
        bytes32 metadataHash;
        uint256 deadline;
        bytes publicKey;
        address maker;
    }

    mapping(address device => Device) private _devices;
    mapping(address device => uint256) private _nonces;
    mapping(address maker => MakerState) private _makers;
    /// @notice When true, devices join only through an approved maker (`onboard`).
    bool public makersOnly;

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
    /// @notice The maker was already approved (and possibly revoked since).
    error MakerExists(address maker);
    /// @notice The maker was never approved.
    error UnknownMaker(address maker);
    /// @notice The maker was revoked.
    error MakerRevoked(address maker);
    /// @notice The maker has onboarded `quota` devices already.
    error QuotaExceeded(address maker, uint64 quota);
    /// @notice The maker name is empty or longer than 64 bytes.
    error InvalidMakerName();
    /// @notice Devices join only through makers on this registry.
    error MakersOnly();
    /// @notice The maker's attestation is malformed or not by the maker.
    error InvalidMakerSignature();

    /// @notice A device was registered and its token minted to `owner`.
    event DeviceRegistered(
        address indexed device, address indexed owner, uint8 keyType, bytes32 deviceId, bytes32 metadataHash
    );
    /// @notice A device was revoked by `by` (its token owner or an admin).
    event DeviceRevoked(address indexed device, address indexed by);
    /// @notice The device cancelled `nonce`: `nonces(device)` is now `nonce + 1`, and every
    /// permit signed for `nonce` is void.
    event NonceUsed(address indexed device, uint256 nonce);
    /// @notice The admin approved `maker` to onboard up to `quota` devices.
    event MakerApproved(address indexed maker, string name, uint64 quota);
    /// @notice The admin revoked `maker`; with `devicesSuspended` its devices read inactive.
    event MakerRevokedEvent(address indexed maker, bool devicesSuspended);
    /// @notice `maker` onboarded `device`.
    event DeviceOnboarded(address indexed device, address indexed maker);
    /// @notice The admin set whether devices join only through makers.
    event MakersOnlySet(bool makersOnly);

    /// @notice Deploys the registry; the deployer becomes the (single) default admin.
    /// @param adminDelay Initial `defaultAdminDelay()` in seconds: how long a begun admin transfer
    /// must wait before the new admin can accept it (0 allows acceptance from the next second).
    constructor(uint48 adminDelay)
        ERC721("Depin Device", "DEVICE")
        AccessControlDefaultAdminRules(adminDelay, msg.sender)
        EIP712("DepinDeviceRegistry", "1")
    {}

    /// @notice Registers `device` by itself (trust level 0) and mints its token to `owner`.
    /// @dev The device key signs `Register(owner, device, keyType, deviceId, metadataHash, nonce,
    /// deadline)` where `nonce` is `nonces(device)`; the nonce increases on success. A secp256k1
    /// signature is 65 bytes r || s || v with v in {27, 28} and a low S; a P-256 signature is 64
    /// bytes r || s with a low S, over the EIP-712 digest. Checks in order: `MakersOnly`,
    /// `UnsupportedKeyType` (Ed25519 devices join through `onboard`), `ZeroAddress`, `Expired`,
    /// `DeadlineTooFar` (`deadline > block.timestamp + MAX_PERMIT_LIFETIME`),
    /// `AlreadyRegistered`, `PublicKeyMismatch`, `DeviceIdMismatch`, `InvalidSignature`.
    /// @param owner Account that receives the device token.
    /// @param device The device address, `deviceAddressOf(keyType, publicKey)`.
    /// @param keyType Key type tag: 1 (secp256k1) or 2 (P-256).
    /// @param deviceId SDK device id hash, `deviceIdOf(keyType, device, publicKey)`.
    /// @param metadataHash Hash of off-chain device metadata.
    /// @param deadline Last block timestamp at which the signature is accepted; at most
    /// `MAX_PERMIT_LIFETIME` after the block that includes the registration.
    /// @param publicKey The device's uncompressed public key without the 0x04 prefix: 64 bytes
    /// `x || y`, big-endian.
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
        if (makersOnly) revert MakersOnly();
        if (keyType != KEY_TYPE_SECP256K1 && keyType != KEY_TYPE_P256) revert UnsupportedKeyType(keyType);
        Onboarding memory o = Onboarding({
            owner: owner,
            device: device,
            keyType: keyType,
            deviceId: deviceId,
            metadataHash: metadataHash,
            deadline: deadline,
            publicKey: publicKey,
            maker: address(0)
        });
        tokenId = _checkNew(o);
        _checkDevicePermit(o, _nonces[device], signature);
        _nonces[device] += 1;
        _devices[device] = Device({
            keyType: keyType,
            revoked: false,
            trust: TRUST_UNTRUSTED,
            maker: address(0),
            deviceId: deviceId,
            metadataHash: metadataHash
        });
        emit DeviceRegistered(device, owner, keyType, deviceId, metadataHash);
        _safeMint(owner, tokenId);
    }

    /// @notice Onboards a device through the approved maker `o.maker`: the maker's EIP-712
    /// `Onboard` attestation (65 bytes, low S, by the maker's address) over `o` and the device's
    /// nonce, and the device's own `Register` permit signature where its key type can be checked
    /// here (secp256k1, P-256; it must be empty for Ed25519 devices, which only the maker vouches
    /// for). The maker's count rises by one; the device records the maker and trust level 1.
    /// @dev Checks in order: `ZeroAddress`, `UnsupportedKeyType`, `Expired`, `DeadlineTooFar`,
    /// `AlreadyRegistered`, `PublicKeyMismatch`, `DeviceIdMismatch`, `UnknownMaker`,
    /// `MakerRevoked`, `QuotaExceeded`, `InvalidMakerSignature`, `InvalidSignature`.
    /// @param o The onboarding fields.
    /// @param makerSignature The maker's attestation.
    /// @param deviceSignature The device's `Register` permit signature (empty for Ed25519).
    /// @return tokenId The minted token id.
    function onboard(Onboarding calldata o, bytes calldata makerSignature, bytes calldata deviceSignature)
        external
        returns (uint256 tokenId)
    {
        if (o.keyType > KEY_TYPE_P256) revert UnsupportedKeyType(o.keyType);
        tokenId = _checkNew(o);
        MakerState storage m = _makers[o.maker];
        if (!m.approved) revert UnknownMaker(o.maker);
        if (m.revoked) revert MakerRevoked(o.maker);
        if (m.onboarded >= m.quota) revert QuotaExceeded(o.maker, m.quota);
        uint256 nonce = _nonces[o.device];
        _checkMakerAttestation(o, nonce, makerSignature);
        if (o.keyType == KEY_TYPE_ED25519) {
            if (deviceSignature.length != 0) revert InvalidSignature();
        } else {
            _checkDevicePermit(o, nonce, deviceSignature);
        }
        _nonces[o.device] = nonce + 1;
        m.onboarded += 1;
        _devices[o.device] = Device({
            keyType: o.keyType,
            revoked: false,
            trust: TRUST_MAKER,
            maker: o.maker,
            deviceId: o.deviceId,
            metadataHash: o.metadataHash
        });
        emit DeviceRegistered(o.device, o.owner, o.keyType, o.deviceId, o.metadataHash);
        emit DeviceOnboarded(o.device, o.maker);
        _safeMint(o.owner, tokenId);
    }

    /// @dev `InvalidMakerSignature` unless `signature` is the maker's EIP-712 `Onboard`
    /// attestation over `o` and `nonce`.
    function _checkMakerAttestation(Onboarding calldata o, uint256 nonce, bytes calldata signature) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ONBOARD_TYPEHASH, o.owner, o.device, o.keyType, o.deviceId, o.metadataHash, nonce, o.deadline, o.maker
                )
            )
        );
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != o.maker) revert InvalidMakerSignature();
    }

    /// @dev The checks every new device passes: non-zero owner and device, the deadline, no
    /// token yet, and the device address and id derived from the public key.
    function _checkNew(Onboarding memory o) private view returns (uint256 tokenId) {
        if (o.owner == address(0) || o.device == address(0)) revert ZeroAddress();
        _checkDeadline(o.deadline);
        tokenId = uint256(uint160(o.device));
        if (_ownerOf(tokenId) != address(0)) revert AlreadyRegistered(o.device);
        bytes32 expectedId = deviceIdOf(o.keyType, o.device, o.publicKey);
        if (o.deviceId != expectedId) revert DeviceIdMismatch(o.deviceId, expectedId);
    }

    /// @dev Checks the device's EIP-712 `Register` signature over `o` and `nonce`
    /// (`InvalidSignature` otherwise): `ecrecover` for secp256k1 (65 bytes, low S), OpenZeppelin
    /// `P256.verify` for P-256 (64 bytes `r || s`, low S, over the digest).
    function _checkDevicePermit(Onboarding memory o, uint256 nonce, bytes calldata signature) private view {
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(REGISTER_TYPEHASH, o.owner, o.device, o.keyType, o.deviceId, o.metadataHash, nonce, o.deadline)
            )
        );
        if (o.keyType == KEY_TYPE_SECP256K1) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            if (err != ECDSA.RecoverError.NoError || signer != o.device) revert InvalidSignature();
        } else {
            if (signature.length != 64) revert InvalidSignature();
            bytes memory pk = o.publicKey;
            bytes32 qx;
            bytes32 qy;
            assembly ("memory-safe") {
                qx := mload(add(pk, 32))
                qy := mload(add(pk, 64))
            }
            if (!P256.verify(digest, bytes32(signature[0:32]), bytes32(signature[32:64]), qx, qy)) {
                revert InvalidSignature();
            }
        }
    }

    /// @notice Approves `maker` (an EOA: its attestations are checked with `ecrecover`) to onboard
    /// up to `quota` devices, shown as `name` (1 to 64 bytes). `publicKey` is the maker's 64-byte
    /// secp256k1 key `x || y`, which must hash to `maker` (`PublicKeyMismatch`): kept so that
    /// clients can name the maker by its key. Admin only; a maker approved once (even if revoked
    /// since) cannot be approved again (`MakerExists`).
    /// @param maker The maker's address.
    /// @param name Its display name.
    /// @param quota How many devices it may onboard in all.
    /// @param publicKey The maker's uncompressed secp256k1 key without prefix.
    function approveMaker(address maker, string calldata name, uint64 quota, bytes calldata publicKey)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (maker == address(0)) revert ZeroAddress();
        if (bytes(name).length == 0 || bytes(name).length > 64) revert InvalidMakerName();
        if (deviceAddressOf(KEY_TYPE_SECP256K1, publicKey) != maker) revert PublicKeyMismatch(maker);
        if (_makers[maker].approved) revert MakerExists(maker);
        _makers[maker] = MakerState({
            quota: quota,
            onboarded: 0,
            approved: true,
            revoked: false,
            devicesSuspended: false,
            name: name,
            publicKey: publicKey
        });
        emit MakerApproved(maker, name, quota);
    }

    /// @notice Revokes `maker`: it onboards nothing more; with `suspendDevices` every device it
    /// onboarded reads inactive (`deviceInfo`). Admin only.
    /// @param maker The maker's address.
    /// @param suspendDevices Whether its devices are suspended.
    function revokeMaker(address maker, bool suspendDevices) external onlyRole(DEFAULT_ADMIN_ROLE) {
        MakerState storage m = _makers[maker];
        if (!m.approved) revert UnknownMaker(maker);
        if (m.revoked) revert MakerRevoked(maker);
        m.revoked = true;
        m.devicesSuspended = suspendDevices;
        emit MakerRevokedEvent(maker, suspendDevices);
    }

    /// @notice Sets whether devices join only through makers. Admin only.
    /// @param only True: `register` reverts with `MakersOnly`.
    function setMakersOnly(bool only) external onlyRole(DEFAULT_ADMIN_ROLE) {
        makersOnly = only;
        emit MakersOnlySet(only);
    }

    /// @notice A maker's record; reverts with `UnknownMaker` if it was never approved.
    /// @param maker The maker's address.
    /// @return name Its name.
    /// @return quota Its quota.
    /// @return onboarded Devices onboarded so far.
    /// @return active False once revoked.
    /// @return devicesSuspended Whether its devices were suspended at revocation.
    /// @return publicKey Its secp256k1 key `x || y`.
    function makerInfo(address maker)
        external
        view
        returns (
            string memory name,
            uint64 quota,
            uint64 onboarded,
            bool active,
            bool devicesSuspended,
            bytes memory publicKey
        )
    {
        MakerState storage m = _makers[maker];
        if (!m.approved) revert UnknownMaker(maker);
        return (m.name, m.quota, m.onboarded, !m.revoked, m.devicesSuspended, m.publicKey);
    }

    /// @notice The maker that onboarded `device` (zero if it registered itself) and its trust
    /// level (0 untrusted, 1 maker); reverts with `NotFound` if it has no token.
    /// @param device The device address.
    /// @return maker The maker.
    /// @return trust The trust level.
    function deviceTrust(address device) external view returns (address maker, uint8 trust) {
        if (_ownerOf(uint256(uint160(device))) == address(0)) revert NotFound(device);
        Device storage d = _devices[device];
        return (d.maker, d.trust);
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

    /// @notice The address a device is known by: for secp256k1 the EVM address of its key
    /// (`keccak256(x || y)`, last 20 bytes, so the device can sign as that account); for P-256
    /// `keccak256(0x02 || x || y)` and for Ed25519 `keccak256(0x00 || key)` (last 20 bytes; the
    /// key type byte keeps the three spaces apart). Reverts with `PublicKeyMismatch` for a key of
    /// the wrong length (64 bytes for the ECDSA curves, 32 for Ed25519) and with
    /// `UnsupportedKeyType` for any other key type.
    /// @param keyType The key type tag.
    /// @param publicKey The key: `x || y` uncompressed without prefix, or the 32-byte Ed25519 key.
    /// @return The device address.
    function deviceAddressOf(uint8 keyType, bytes memory publicKey) public pure returns (address) {
        if (keyType == KEY_TYPE_SECP256K1) {
            if (publicKey.length != 64) revert PublicKeyMismatch(address(0));
            return address(uint160(uint256(keccak256(publicKey))));
        }
        if (keyType == KEY_TYPE_P256) {
            if (publicKey.length != 64) revert PublicKeyMismatch(address(0));
        } else if (keyType == KEY_TYPE_ED25519) {
            if (publicKey.length != 32) revert PublicKeyMismatch(address(0));
        } else {
            revert UnsupportedKeyType(keyType);
        }
        return address(uint160(uint256(keccak256(abi.encodePacked(keyType, publicKey)))));
    }

    /// @notice The `deviceId` a device must register with: the SHA-256 of the SDK's binary device
    /// id, key type tag followed by the key (33-byte compressed SEC1 `0x02|(y&1) || x` for
    /// secp256k1 and P-256, the 32 bytes for Ed25519). Reverts with `PublicKeyMismatch` unless
    /// `device` is `deviceAddressOf(keyType, publicKey)`.
    /// @param keyType The key type tag.
    /// @param device The device address.
    /// @param publicKey The key, as for `deviceAddressOf`.
    /// @return The device id hash.
    function deviceIdOf(uint8 keyType, address device, bytes memory publicKey) public pure returns (bytes32) {
        if (deviceAddressOf(keyType, publicKey) != device) revert PublicKeyMismatch(device);
        if (keyType == KEY_TYPE_ED25519) return sha256(abi.encodePacked(keyType, publicKey));
        bytes32 x;
        uint8 yLast;
        assembly ("memory-safe") {
            x := mload(add(publicKey, 32))
            yLast := byte(31, mload(add(publicKey, 64)))
        }
        uint8 prefix = (yLast & 1) == 1 ? 0x03 : 0x02;
        return sha256(abi.encodePacked(keyType, prefix, x));
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
    /// @return active False once the device has been revoked, or while its maker's devices are
    /// suspended.
    function deviceInfo(address device)
        external
        view
        returns (address owner, uint8 keyType, bytes32 deviceId, bytes32 metadataHash, bool active)
    {
        owner = _ownerOf(uint256(uint160(device)));
        if (owner == address(0)) revert NotFound(device);
        Device storage d = _devices[device];
        bool suspended = d.maker != address(0) && _makers[d.maker].devicesSuspended;
        return (owner, d.keyType, d.deviceId, d.metadataHash, !d.revoked && !suspended);
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
