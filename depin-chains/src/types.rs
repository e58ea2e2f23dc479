//! Request, record and receipt types shared by every backend.

use core::fmt;
use core::str::FromStr;

use depin_core::{
    DeviceId, Domain, Epoch, EvmAddress, KeyType, MessageKind, Signature, SigningKey,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Maximum length of a Cosmos bech32 address accepted by [`Account::cosmos`] (BIP-173 limit).
pub const MAX_COSMOS_ADDRESS_LEN: usize = 90;

/// An account on some chain: an EVM address or a bech32 Cosmos address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Account {
    /// A 20-byte EVM address.
    Evm(EvmAddress),
    /// A bech32 Cosmos address (lowercase, checksum verified when built with [`Account::cosmos`]).
    Cosmos(String),
}

impl Account {
    /// An EVM account.
    pub fn evm(address: EvmAddress) -> Self {
        Account::Evm(address)
    }

    /// Validate a bech32 Cosmos address (any human-readable prefix, 20- or 32-byte payload)
    /// and store it in lowercase.
    ///
    /// ```
    /// use depin_chains::Account;
    /// let a = Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq").unwrap();
    /// assert_eq!(a.to_string(), "wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq");
    /// assert!(Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tz").is_err());
    /// ```
    pub fn cosmos(address: &str) -> Result<Self> {
        if address.len() > MAX_COSMOS_ADDRESS_LEN {
            return Err(Error::InvalidInput("cosmos address too long".into()));
        }
        let checked = bech32::primitives::decode::CheckedHrpstring::new::<bech32::Bech32>(address)
            .map_err(|_| Error::InvalidInput(format!("invalid bech32 address {address:?}")))?;
        let n = checked.byte_iter().count();
        if n != 20 && n != 32 {
            return Err(Error::InvalidInput(format!(
                "cosmos address payload must be 20 or 32 bytes, got {n}"
            )));
        }
        Ok(Account::Cosmos(address.to_ascii_lowercase()))
    }

    /// The EVM address, if this is an EVM account.
    pub fn as_evm(&self) -> Option<&EvmAddress> {
        match self {
            Account::Evm(a) => Some(a),
            Account::Cosmos(_) => None,
        }
    }

    /// The bech32 string, if this is a Cosmos account.
    pub fn as_cosmos(&self) -> Option<&str> {
        match self {
            Account::Cosmos(s) => Some(s),
            Account::Evm(_) => None,
        }
    }

    /// Canonical binary form used inside signed registration messages and the local ledger:
    /// `0x00 || 20 address bytes` or `0x01 || len(u8) || bech32 bytes`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Account::Evm(a) => {
                out.push(0);
                out.extend_from_slice(a.as_bytes());
            }
            Account::Cosmos(s) => {
                out.push(1);
                // validated addresses are at most 90 bytes
                out.push(u8::try_from(s.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Evm(a) => fmt::Display::fmt(a, f),
            Account::Cosmos(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Account({self})")
    }
}

impl FromStr for Account {
    type Err = Error;
    /// `0x` + 40 hex digits is an EVM address, anything else must be bech32.
    fn from_str(s: &str) -> Result<Self> {
        if s.starts_with("0x") {
            Ok(Account::Evm(s.parse()?))
        } else {
            Account::cosmos(s)
        }
    }
}

impl From<EvmAddress> for Account {
    fn from(a: EvmAddress) -> Self {
        Account::Evm(a)
    }
}

/// The SHA-256 of a device id's binary form (`tag || key bytes`): the 32-byte `deviceId` the
/// EVM registry stores, since a [`DeviceId`] is up to 34 bytes.
pub fn device_id_hash(device: &DeviceId) -> [u8; 32] {
    let (buf, len) = device.to_bytes();
    Sha256::digest(&buf[..len]).into()
}

/// A request to register a device under an owner account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// The device (its public key).
    pub device: DeviceId,
    /// The account that will own the device.
    pub owner: Account,
    /// Opaque metadata; chains that cannot store bytes store [`DeviceRegistration::metadata_hash`].
    pub metadata: Vec<u8>,
    /// Unix seconds after which the signed registration is no longer accepted. It may lie at
    /// most 30 days ahead on the EVM registry and the local ledger
    /// ([`Error::DeadlineTooFar`] otherwise).
    pub deadline: u64,
}

impl DeviceRegistration {
    /// A registration request.
    pub fn new(device: DeviceId, owner: Account, metadata: Vec<u8>, deadline: u64) -> Self {
        DeviceRegistration {
            device,
            owner,
            metadata,
            deadline,
        }
    }

    /// The device's key type.
    pub fn key_type(&self) -> KeyType {
        self.device.key_type()
    }

    /// SHA-256 of the metadata bytes.
    pub fn metadata_hash(&self) -> [u8; 32] {
        Sha256::digest(&self.metadata).into()
    }

    /// The canonical registration message signed under a depin-core [`Domain`] with
    /// [`MessageKind::DEVICE_REGISTRATION`] (see [`RegistrationProof::Domain`]):
    ///
    /// ```text
    /// 0x01                          format version
    /// len(device) || device         u8 length, DeviceId binary form (tag || key bytes)
    /// owner                         Account::encode_into
    /// metadata_hash                 32 bytes, SHA-256 of the metadata
    /// nonce                         u64 big-endian (the backend's registration nonce)
    /// deadline                      u64 big-endian, unix seconds
    /// ```
    pub fn signing_message(&self, nonce: u64) -> Vec<u8> {
        let (dev, dev_len) = self.device.to_bytes();
        let mut out = Vec::with_capacity(1 + 1 + dev_len + 92 + 32 + 16);
        out.push(1);
        out.push(u8::try_from(dev_len).unwrap_or(u8::MAX));
        out.extend_from_slice(&dev[..dev_len]);
        self.owner.encode_into(&mut out);
        out.extend_from_slice(&self.metadata_hash());
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&self.deadline.to_be_bytes());
        out
    }

    /// The registration message of a backend that binds proofs to one ledger (the local
    /// ledger): the fields of [`DeviceRegistration::signing_message`] behind the chain kind and
    /// the ledger's unique id, so a proof made for one ledger never verifies on another, even
    /// one with the same network id, and with the device's registration nonce, so a proof
    /// verifies for one registration state only. Signed under a depin-core [`Domain`] with
    /// [`MessageKind::DEVICE_REGISTRATION`]. The exact bytes:
    ///
    /// ```text
    /// 0x02                          format version (2: bound to a ledger)
    /// kind                          1 byte: 0x01 local ledger, 0x02 EVM, 0x03 Cosmos,
    ///                               0x04 a custom backend, then u8 length || its name
    /// ledger_id                     32 bytes, the ledger's unique id
    /// len(device) || device         u8 length, DeviceId binary form (tag || key bytes)
    /// owner                         Account::encode_into
    /// metadata_hash                 32 bytes, SHA-256 of the metadata
    /// nonce                         u64 big-endian (the device's registration nonce)
    /// deadline                      u64 big-endian, unix seconds
    /// ```
    ///
    /// ```
    /// use depin_chains::{Account, BackendKind, DeviceRegistration};
    /// use depin_core::{DeviceId, EvmAddress, KeyType, SigningKey};
    /// let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[1; 32]).unwrap();
    /// let reg = DeviceRegistration::new(
    ///     DeviceId::from(key.public_key()),
    ///     Account::Evm(EvmAddress([2; 20])),
    ///     b"meta".to_vec(),
    ///     4_102_444_800,
    /// );
    /// let m = reg.ledger_signing_message(BackendKind::Local, &[7; 32], 3);
    /// assert_eq!(&m[..2], &[0x02, 0x01]);
    /// assert_eq!(&m[2..34], &[7; 32]);
    /// assert_eq!(&m[m.len() - 16..m.len() - 8], &3u64.to_be_bytes());
    /// assert_ne!(m, reg.ledger_signing_message(BackendKind::Local, &[8; 32], 3));
    /// ```
    pub fn ledger_signing_message(
        &self,
        kind: BackendKind,
        ledger_id: &[u8; 32],
        nonce: u64,
    ) -> Vec<u8> {
        let (dev, dev_len) = self.device.to_bytes();
        let mut out = Vec::with_capacity(2 + 32 + 1 + dev_len + 92 + 32 + 16);
        out.push(2);
        out.push(match kind {
            BackendKind::Local => 1,
            BackendKind::Evm => 2,
            BackendKind::Cosmos => 3,
            BackendKind::Custom(_) => 4,
        });
        if let BackendKind::Custom(name) = kind {
            // a custom backend's name separates its proofs from another custom backend's
            let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
            out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(name);
        }
        out.extend_from_slice(ledger_id);
        out.push(u8::try_from(dev_len).unwrap_or(u8::MAX));
        out.extend_from_slice(&dev[..dev_len]);
        self.owner.encode_into(&mut out);
        out.extend_from_slice(&self.metadata_hash());
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&self.deadline.to_be_bytes());
        out
    }
}

/// What the device key must sign to authorise a registration, as computed by the backend
/// (which knows the chain id, contract address and nonce). Get it from
/// [`crate::RegistryBackend::registration_challenge`], sign it with
/// [`RegistrationChallenge::sign`] (on the device or wherever the key lives) and pass the proof
/// to [`crate::RegistryBackend::register_device`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationChallenge {
    /// Sign `message` with [`Domain::sign`] under [`MessageKind::DEVICE_REGISTRATION`]. Works
    /// for every key type.
    Domain {
        /// The signing domain (network id, optional chain id).
        domain: Domain,
        /// The registration message with the backend's nonce:
        /// [`DeviceRegistration::signing_message`] (Cosmos registry) or
        /// [`DeviceRegistration::ledger_signing_message`] (local ledger, bound to its ledger
        /// id).
        message: Vec<u8>,
    },
    /// Sign the EIP-712 `digest` with the device key: a recoverable secp256k1 signature
    /// (`r || s || v`, `v` in {27, 28}, low S, [`RegistrationProof::Eip712`]), or a P-256
    /// signature over the digest (`r || s`, low S, [`RegistrationProof::Eip712P256`]). Ed25519
    /// keys cannot sign for the EVM registry: such devices join through a maker
    /// ([`crate::makers`]).
    ///
    /// The challenge carries the registry's EIP-712 domain and the permit's struct hash, not
    /// only their digest, so that a device (or a wallet showing what it signs) can check which
    /// registry on which chain it authorises.
    Eip712 {
        /// The verifying registry's EIP-712 domain.
        domain: Eip712Binding,
        /// `hashStruct` of the permit the registry checks.
        struct_hash: [u8; 32],
    },
}

/// An EIP-712 domain with the four fields EVM registries use
/// (`EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`):
/// which contract, on which chain, under which name and version, a signature authorises.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Eip712Binding {
    /// The domain name (`"DepinDeviceRegistry"` for the depin-rs EVM registry).
    pub name: String,
    /// The domain version (`"1"`).
    pub version: String,
    /// The EVM chain id.
    pub chain_id: u64,
    /// The verifying contract's address.
    pub verifying_contract: [u8; 20],
}

impl Eip712Binding {
    /// `keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")`.
    pub fn type_hash() -> [u8; 32] {
        keccak(&[
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        ])
    }

    /// The domain separator: `keccak256(typeHash || keccak256(name) || keccak256(version) ||
    /// uint256(chainId) || uint256(verifyingContract))`.
    pub fn separator(&self) -> [u8; 32] {
        let mut chain = [0u8; 32];
        chain[24..].copy_from_slice(&self.chain_id.to_be_bytes());
        let mut contract = [0u8; 32];
        contract[12..].copy_from_slice(&self.verifying_contract);
        keccak(&[
            &Self::type_hash(),
            &keccak(&[self.name.as_bytes()]),
            &keccak(&[self.version.as_bytes()]),
            &chain,
            &contract,
        ])
    }

    /// The digest a signer signs for `struct_hash` in this domain:
    /// `keccak256(0x1901 || separator || structHash)`.
    pub fn digest(&self, struct_hash: &[u8; 32]) -> [u8; 32] {
        keccak(&[&[0x19, 0x01], &self.separator(), struct_hash])
    }
}

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    use sha3::Digest as _;
    let mut h = sha3::Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

impl RegistrationChallenge {
    /// The 32-byte digest the device key signs.
    pub fn digest(&self) -> [u8; 32] {
        match self {
            RegistrationChallenge::Domain { domain, message } => {
                domain.digest(MessageKind::DEVICE_REGISTRATION, message)
            }
            RegistrationChallenge::Eip712 {
                domain,
                struct_hash,
            } => domain.digest(struct_hash),
        }
    }

    /// Sign the challenge with the device key.
    pub fn sign(&self, signer: &dyn DeviceSigner) -> Result<RegistrationProof> {
        let digest = self.digest();
        match self {
            RegistrationChallenge::Domain { .. } => {
                Ok(RegistrationProof::Domain(signer.sign_digest(&digest)?))
            }
            RegistrationChallenge::Eip712 { .. } => match signer.device_id().key_type() {
                KeyType::Secp256k1 => Ok(RegistrationProof::Eip712(
                    signer.sign_digest_recoverable(&digest)?,
                )),
                KeyType::P256 => Ok(RegistrationProof::Eip712P256(
                    signer.sign_digest(&digest)?.to_bytes(),
                )),
                other => Err(Error::Unsupported(format!(
                    "{other} keys cannot sign an EIP-712 registration; onboard the device through a maker"
                ))),
            },
        }
    }
}

/// Proof that the registrant holds the device key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationProof {
    /// A depin-core domain signature (any key type) over the registration message.
    Domain(Signature),
    /// A 65-byte EIP-712 signature `r || s || v` by the device's secp256k1 key.
    Eip712([u8; 65]),
    /// A 64-byte signature `r || s` (low S) by the device's P-256 key over the EIP-712
    /// digest, as OpenZeppelin's `P256.verify` checks it.
    Eip712P256([u8; 64]),
}

/// Something that can sign with a device key: a [`SigningKey`] in memory, a secure element,
/// or a remote device reached over a radio link.
pub trait DeviceSigner: Send + Sync {
    /// The device id of the key.
    fn device_id(&self) -> DeviceId;

    /// Sign a 32-byte digest as depin-core does (ECDSA prehash, Ed25519 over the digest).
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature>;

    /// Sign a digest with a recoverable secp256k1 signature `r || s || v` (`v` in {27, 28}).
    /// The default refuses: only secp256k1 keys can.
    fn sign_digest_recoverable(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        let _ = digest;
        Err(Error::Unsupported(
            "recoverable signatures need a secp256k1 key".into(),
        ))
    }
}

impl DeviceSigner for SigningKey {
    fn device_id(&self) -> DeviceId {
        DeviceId::from(self.public_key())
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature> {
        Ok(self.sign_prehash(digest)?)
    }

    fn sign_digest_recoverable(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        match self.key_type() {
            KeyType::Secp256k1 => Ok(self.sign_prehash_recoverable(digest)?),
            other => Err(Error::Unsupported(format!(
                "recoverable signatures need a secp256k1 key, not {other}"
            ))),
        }
    }
}

/// A registered device as the chain records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredDevice {
    /// The device.
    pub device: DeviceId,
    /// Its current owner.
    pub owner: Account,
    /// The key type recorded at registration.
    pub key_type: KeyType,
    /// SHA-256 of the metadata given at registration.
    pub metadata_hash: [u8; 32],
    /// `false` once revoked, or while suspended with its maker
    /// ([`crate::makers::OnMakerRevoked::SuspendDevices`]).
    pub active: bool,
    /// How far the registry trusts the device ([`crate::makers`]): untrusted on backends
    /// without makers.
    pub trust: crate::makers::DeviceTrust,
}

/// An epoch's reward claim root and total.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochRoot {
    /// The epoch.
    pub epoch: Epoch,
    /// The Merkle root of the cumulative claim tree (in the backend's [`ClaimFormat`]).
    pub root: [u8; 32],
    /// What the tree may pay in all, base units, counting what was already paid: the sum over
    /// the tree's accounts of `max(cumulative amount, claimed)` (for a cumulative tree that
    /// never lowers an account, the sum of its cumulative amounts). Enforced, by the EVM
    /// `RewardDistributor` and the local ledger alike: a total below the total already claimed
    /// is refused at publication, and a claim that would bring the total claimed above the
    /// latest published total is refused (both [`Error::InvalidInput`]). A total may be lower
    /// than the previous one (correcting an inflated total), down to what was paid.
    pub total: u128,
}

impl EpochRoot {
    /// The check every backend makes before anything else when publishing: a zero root (an
    /// empty tree, or a caller's mistake) is refused with [`Error::InvalidInput`].
    pub(crate) fn check_publishable(&self) -> Result<()> {
        if self.root == [0u8; 32] {
            return Err(Error::InvalidInput("zero root".into()));
        }
        Ok(())
    }

    /// Publishing `self` when `existing` is already published for its epoch: the same root and
    /// total is [`PublishOutcome::AlreadyPublished`] (idempotent), anything else
    /// [`Error::EpochAlreadyPublished`].
    pub(crate) fn republish(&self, existing: &EpochRoot) -> Result<PublishOutcome> {
        if existing.root == self.root && existing.total == self.total {
            Ok(PublishOutcome::AlreadyPublished)
        } else {
            Err(Error::EpochAlreadyPublished { epoch: self.epoch })
        }
    }
}

/// Result of publishing a root.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishOutcome {
    /// The root was published by this transaction.
    Published(TxHandle),
    /// The identical root and total were already published for the epoch: nothing was done.
    AlreadyPublished,
}

/// A cumulative claim: `account` has earned `cumulative_amount` in total, proven against the
/// latest published root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The account paid.
    pub account: Account,
    /// Total earned so far, base units. The payout is this minus what was already claimed.
    pub cumulative_amount: u128,
    /// Merkle proof: sibling hashes from the leaf up.
    pub proof: Vec<[u8; 32]>,
}

/// The Merkle tree format a backend's distributor verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimFormat {
    /// OpenZeppelin `StandardMerkleTree` over `(address, uint256)`:
    /// `keccak256(keccak256(abi.encode(account, amount)))` leaves, sorted-pair keccak nodes.
    /// Accounts must be EVM addresses. Not bound to a contract: use it where the root itself
    /// is bound (the local ledger, whose roots live in one ledger).
    OpenZeppelin,
    /// OpenZeppelin `StandardMerkleTree` over `(uint256 chainId, address distributor,
    /// address account, uint256 amount)`: the leaf binds the chain and the distributor
    /// contract, so a root is never valid on another distributor. The EVM backend's format
    /// (see [`depin_rewards::claims::oz::OzBinding`]).
    OpenZeppelinBound {
        /// EIP-155 chain id.
        chain_id: u64,
        /// The distributor contract's address.
        distributor: [u8; 20],
    },
    /// cw20-merkle-airdrop: `sha256(address + amount)` leaves (amount in decimal), sorted-pair
    /// SHA-256 nodes. Accounts are bech32 strings.
    Cw20MerkleAirdrop,
}

/// Which kind of chain a backend talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// The embedded local ledger.
    Local,
    /// An EVM chain.
    Evm,
    /// A Cosmos SDK chain with CosmWasm.
    Cosmos,
    /// A backend written outside the SDK, by its name (see
    /// [`crate::BackendConfig::Custom`]).
    Custom(&'static str),
}

/// A submitted transaction: its 32-byte hash (EVM and Cosmos tx hashes; for the local ledger,
/// the SHA-256 of the committed log record).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxHandle(pub [u8; 32]);

impl fmt::Display for TxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TxHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHandle({self})")
    }
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxStatus {
    /// Executed successfully.
    Success,
    /// Included but reverted.
    Reverted {
        /// The decoded reason, or the raw revert data in hex.
        reason: String,
    },
}

/// A transaction receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction.
    pub tx: TxHandle,
    /// Block height (for the local ledger: the log sequence number of the record).
    pub block: u64,
    /// Outcome.
    pub status: TxStatus,
}

impl Receipt {
    /// `Ok(self)` if the transaction succeeded, [`Error::Reverted`] otherwise.
    pub fn ensure_success(self) -> Result<Self> {
        match &self.status {
            TxStatus::Success => Ok(self),
            TxStatus::Reverted { reason } => Err(Error::Reverted {
                reason: reason.clone(),
            }),
        }
    }
}
