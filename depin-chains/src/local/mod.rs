//! The embedded local ledger: the contracts' semantics, persisted to one crash-safe file.
//!
//! Every state change is one [`Entry`] appended to a checksummed log and `fdatasync`ed before
//! the call returns ([`log`] describes the file format and the torn-tail rule); opening the
//! file replays the entries. State lives in memory, so reads never touch the disk.
//!
//! Semantics mirror `contracts/src/DeviceRegistry.sol` and `RewardDistributor.sol`, check
//! order included. Time is the ledger's clock ([`LocalLedger::now`]: the system clock, or the
//! one given to [`LocalLedger::set_clock`]); it plays the part of `block.timestamp`.
//!
//! * **register**: the owner and the submitting account must be valid accounts
//!   ([`Error::InvalidInput`]), then the deadline: passed is [`Error::Expired`], more than
//!   [`MAX_PERMIT_LIFETIME_SECS`] (30 days) after now is [`Error::DeadlineTooFar`]; not yet
//!   registered ([`Error::AlreadyRegistered`], also after revocation), then the device
//!   signature ([`Error::InvalidProof`]): a depin-core [`Domain`] signature with
//!   [`depin_core::MessageKind::DEVICE_REGISTRATION`] over
//!   [`DeviceRegistration::ledger_signing_message`], which binds the ledger's unique id
//!   ([`LocalLedger::ledger_id`]) and the device's registration nonce
//!   ([`LocalLedger::registration_nonce`]). The domain is the genesis network id with the
//!   first 8 bytes of the ledger id (big-endian) as its chain id. Any key type. The entry keeps
//!   the nonce and the device's signature ([`DeviceConsent`]), so the file alone shows that
//!   every device consented.
//! * **cancel a registration nonce** ([`LocalBackend::cancel_registration_nonce`], the
//!   registry's `useNonce`): deadline ([`Error::Expired`], [`Error::DeadlineTooFar`] beyond 30
//!   days), the nonce must be the device's current nonce ([`Error::InvalidInput`], the
//!   registry's `NonceMismatch`), then the device signature over
//!   [`nonce_cancellation_message`] ([`Error::InvalidProof`]). The device's nonce moves on by
//!   one, voiding every registration proof signed for the old nonce. Works whether or not the
//!   device is registered; anyone may submit it.
//! * **revoke**: [`Error::NotFound`], then owner or admin ([`Error::Unauthorized`]), then
//!   [`Error::AlreadyRevoked`]. A revocation moves the device's nonce too.
//! * **publish_root**: oracle only ([`Error::Unauthorized`]), zero root refused
//!   ([`Error::InvalidInput`]), same root and total again is a no-op, anything else for a
//!   published epoch is [`Error::EpochAlreadyPublished`]; an unpublished epoch not after the
//!   latest is [`Error::EpochNotIncreasing`]; an epoch more than [`MAX_EPOCH_GAP`] (366) above
//!   the latest (above 366 for the first root) is [`Error::EpochGapTooLarge`]; a total below
//!   the total claimed so far is [`Error::InvalidInput`] (the distributor's
//!   `TotalBelowClaimed`; a total may be lower than the latest one, correcting an inflated
//!   total, but never below what was paid). The root that was latest becomes the previous
//!   root, claimable for [`CLAIM_GRACE_PERIOD_SECS`] (one day) from the publication time, which
//!   the entry records.
//! * **claim**: [`Error::NoRoot`]; the proof must verify against the latest root or, while
//!   now is at most [`CLAIM_GRACE_PERIOD_SECS`] after the latest root's publication, against
//!   the previous root ([`Error::InvalidProof`] otherwise); [`Error::AlreadyClaimed`] when the
//!   cumulative amount is not above what was claimed; [`Error::InvalidInput`] when the claim
//!   would bring the total claimed above the latest published total (`TotalExceeded`);
//!   [`Error::InsufficientFunds`] when the pool is short. Pays `cumulative - claimed`, never
//!   more, whichever root proved it.
//! * **fund** (local only): the admin adds tokens to the pool, as transferring ERC-20 to the
//!   distributor does on an EVM chain.
//!
//! The registry's `NonceMismatch` and the distributor's `TotalBelowClaimed` and
//! `TotalExceeded` have no variant of their own in [`Error`]; they are [`Error::InvalidInput`]
//! with a message naming the rule, as the EVM backend maps them. The distributor's
//! `closeGracePeriod`, pause and recovery have no local counterpart.
//!
//! **Accounts.** Every account is validated and stored in one canonical form before anything
//! is written: EVM addresses as they are, Cosmos addresses as valid bech32 (20- or 32-byte
//! payload, at most [`crate::types::MAX_COSMOS_ADDRESS_LEN`] characters) in lower case.
//! Role and ownership checks compare canonical forms, so an upper-case bech32 spelling of the
//! admin is the admin, before and after a reopen. An account that is not valid for its kind is
//! [`Error::InvalidInput`] and nothing is written. Every entry is also decoded back before it
//! is written: whatever the ledger acknowledges reopens identically.
//!
//! **Identity.** A ledger is its file: the ledger id lives in the genesis entry, so copying the
//! file clones the ledger's identity. The copy has the same id and signing domain, and every
//! registration proof or nonce cancellation made for the original verifies on the copy too
//! wherever the device's nonce is the same on both. Do not copy a live ledger to run it twice;
//! back it up and restore it in place of the original, or start a new ledger (a new id) with
//! [`LocalLedger::replace`].
//!
//! Handles ([`LocalBackend`]) share one [`LocalLedger`] and act as different accounts. A file
//! is locked exclusively by the process that opened it.

pub mod log;
pub mod record;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use depin_core::evidence::{EvidenceRequest, EvidenceVerifier};
use depin_core::{DeviceId, Domain, Epoch, MessageKind, NetworkId};
use sha2::{Digest, Sha256};

use crate::backend::ChainBackend;
use crate::claims::verify_claim;
use crate::config::LocalConfig;
use crate::error::{Error, Result};
use crate::makers::{
    DeviceTrust, HardwareEvidence, HardwareRecord, Maker, MakerAttestation, MakerRecord,
    OnMakerRevoked, Onboarding, OnboardingChallenge, TrustLevel,
};
use crate::quorum::{OracleSet, Quorum, RootStatement};
use crate::types::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRegistration, DeviceSigner, EpochRoot,
    PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge, RegistrationProof, TxHandle,
    TxStatus,
};
pub use record::{DeviceConsent, Entry, Onboarded, QuorumPublication};

pub use crate::rules::{MAX_EPOCH_GAP, MAX_PERMIT_LIFETIME_SECS};

/// Seconds after a root is published during which claims against the previous root are still
/// accepted, as `RewardDistributor.CLAIM_GRACE_PERIOD` (one day).
pub const CLAIM_GRACE_PERIOD_SECS: u64 = 86_400;

/// First byte (format version) of [`nonce_cancellation_message`]: 3, distinct from the
/// registration messages' 1 ([`DeviceRegistration::signing_message`]) and 2
/// ([`DeviceRegistration::ledger_signing_message`]), which are signed under the same message
/// kind.
pub const NONCE_CANCELLATION_VERSION: u8 = 3;

/// The message a device key signs to cancel its registration nonce `nonce` on the ledger with
/// id `ledger_id`, under the ledger's domain ([`LocalLedger::domain`]) with
/// [`MessageKind::DEVICE_REGISTRATION`]. The exact bytes:
///
/// ```text
/// 0x03                          format version (NONCE_CANCELLATION_VERSION)
/// 0x01                          chain kind: local ledger
/// ledger_id                     32 bytes, the ledger's unique id
/// len(device) || device         u8 length, DeviceId binary form (tag || key bytes)
/// nonce                         u64 big-endian, the nonce being cancelled
/// deadline                      u64 big-endian, unix seconds
/// ```
///
/// [`LocalLedger::nonce_cancellation_challenge`] returns it for the device's current nonce,
/// ready to sign.
///
/// ```
/// use depin_chains::local::nonce_cancellation_message;
/// use depin_core::{DeviceId, KeyType, SigningKey};
/// let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[1; 32]).unwrap();
/// let device = DeviceId::from(key.public_key());
/// let m = nonce_cancellation_message(&[7; 32], &device, 3, 1_800_000_000);
/// assert_eq!(&m[..2], &[0x03, 0x01]);
/// assert_eq!(&m[2..34], &[7; 32]);
/// assert_eq!(&m[m.len() - 16..m.len() - 8], &3u64.to_be_bytes());
/// assert_eq!(&m[m.len() - 8..], &1_800_000_000u64.to_be_bytes());
/// ```
pub fn nonce_cancellation_message(
    ledger_id: &[u8; 32],
    device: &DeviceId,
    nonce: u64,
    deadline: u64,
) -> Vec<u8> {
    let (dev, dev_len) = device.to_bytes();
    let mut out = Vec::with_capacity(2 + 32 + 1 + dev_len + 16);
    out.push(NONCE_CANCELLATION_VERSION);
    out.push(1);
    out.extend_from_slice(ledger_id);
    out.push(u8::try_from(dev_len).unwrap_or(u8::MAX));
    out.extend_from_slice(dev.get(..dev_len).unwrap_or_default());
    out.extend_from_slice(&nonce.to_be_bytes());
    out.extend_from_slice(&deadline.to_be_bytes());
    out
}

/// Who may do what on a local ledger; recorded in the first entry of the file, together with
/// the ledger's unique id (drawn when the file is created, see [`LocalLedger::ledger_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// Network id of the registration signing domain.
    pub network: String,
    /// Network admin: revokes any device, funds the pool.
    pub admin: Account,
    /// Publishes epoch roots.
    pub oracle: Account,
    /// Claim tree format.
    pub claim_format: ClaimFormat,
}

#[derive(Debug, Clone)]
struct DeviceState {
    owner: Account,
    metadata: Vec<u8>,
    /// `false` once revoked.
    active: bool,
    /// Suspended with its maker (reads as inactive, but is not revoked).
    suspended: bool,
    trust: DeviceTrust,
}

#[derive(Debug)]
struct State {
    genesis: Genesis,
    ledger_id: [u8; 32],
    domain: Domain,
    devices: HashMap<DeviceId, DeviceState>,
    makers: HashMap<DeviceId, MakerRecord>,
    /// Devices each maker onboarded, in order (for suspension).
    maker_devices: HashMap<DeviceId, Vec<DeviceId>>,
    onboarding: Onboarding,
    /// Registration nonce per device: committed registrations, revocations and nonce
    /// cancellations of the device.
    nonces: HashMap<DeviceId, u64>,
    /// Published roots by epoch; the last one is the latest (claims go against it), the one
    /// before it the previous root (claimable during the grace period).
    roots: BTreeMap<u64, EpochRoot>,
    /// When the latest root was published (unix seconds); `None` before the first root or if
    /// its entry predates publication times.
    latest_published_at: Option<u64>,
    claimed: HashMap<Account, u128>,
    /// Sum of every claim's payout (the distributor's `totalClaimed()`).
    total_claimed: u128,
    balances: HashMap<Account, u128>,
    pool: u128,
    /// tx hash -> log sequence number (1-based; the genesis entry is 0)
    txs: HashMap<[u8; 32], u64>,
    next_seq: u64,
    /// Scheduled oracle sets, by the time they take effect (ascending): once one is in
    /// effect, roots need a quorum of it.
    oracle_sets: Vec<(u64, OracleSet)>,
}

/// The least time between scheduling an oracle set and its taking effect (two days, unix
/// seconds): long enough for the network to notice a hijacked admin key installing oracles
/// of its own.
pub const ORACLE_SET_DELAY_SECS: u64 = 2 * 86_400;

/// A clock: unix seconds.
type ClockFn = dyn Fn() -> u64 + Send + Sync;

/// The ledger's source of unix seconds: the system clock unless one was set.
#[derive(Clone, Default)]
struct Clock(Option<Arc<ClockFn>>);

impl Clock {
    fn now(&self) -> u64 {
        match &self.0 {
            Some(f) => f(),
            None => now_secs(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "Clock(custom)",
            None => "Clock(system)",
        })
    }
}

struct Inner {
    log: log::Log,
    state: State,
    /// Set when a write failed and could not be rolled back; every later write is refused.
    poisoned: bool,
    clock: Clock,
    /// Bytes of a torn final record removed when the file was opened.
    repaired_bytes: u64,
    /// Hardware evidence verifiers by kind (not persisted: onboarding entries record what
    /// was accepted).
    evidence: HashMap<String, Arc<dyn EvidenceVerifier>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("log", &self.log)
            .field("state", &self.state)
            .field("poisoned", &self.poisoned)
            .field("clock", &self.clock)
            .field("repaired_bytes", &self.repaired_bytes)
            .field("evidence", &self.evidence.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An open local ledger file. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct LocalLedger {
    inner: Arc<Mutex<Inner>>,
}

/// A handle on a [`LocalLedger`] acting as one account; implements [`ChainBackend`].
#[derive(Debug, Clone)]
pub struct LocalBackend {
    ledger: LocalLedger,
    caller: Account,
}

fn tx_hash(seq: u64, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seq.to_be_bytes());
    h.update(payload);
    h.finalize().into()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The one stored form of an account: an EVM address as it is, a Cosmos address validated as
/// bech32 ([`Account::cosmos`]: checksum, 20- or 32-byte payload, length limit) and in lower
/// case. [`Error::InvalidInput`] for anything the ledger could not read back.
fn canonical_account(account: &Account) -> Result<Account> {
    match account {
        Account::Evm(_) => Ok(account.clone()),
        Account::Cosmos(s) => Account::cosmos(s),
    }
}

/// `registration` with its owner in canonical form.
fn canonical_registration(registration: &DeviceRegistration) -> Result<DeviceRegistration> {
    let mut r = registration.clone();
    r.owner = canonical_account(&registration.owner)?;
    Ok(r)
}

/// Validate a genesis (network id, role accounts) and put its accounts in canonical form;
/// [`Error::Config`] otherwise. Nothing is touched on disk before this passes.
fn canonical_genesis(genesis: &Genesis) -> Result<Genesis> {
    NetworkId::new(&genesis.network)
        .map_err(|e| Error::Config(format!("network id {:?}: {e}", genesis.network)))?;
    let role = |what: &str, account: &Account| {
        canonical_account(account)
            .map_err(|e| Error::Config(format!("genesis {what} {account}: {e}")))
    };
    Ok(Genesis {
        network: genesis.network.clone(),
        admin: role("admin", &genesis.admin)?,
        oracle: role("oracle", &genesis.oracle)?,
        claim_format: genesis.claim_format,
    })
}

/// A fresh ledger id: SHA-256 over operating-system randomness (`/dev/urandom` where it
/// exists, and the random keys the standard library seeds its hash maps with on every
/// platform), the time, the process id, a per-process counter and the genesis. Unique per
/// ledger; it is an identifier, not a secret.
fn new_ledger_id(genesis: &Genesis) -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let mut h = Sha256::new();
    h.update(b"depin-rs/local-ledger-id/1");
    let mut os = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut os))
        .is_ok();
    h.update([u8::from(from_os)]);
    h.update(os);
    for i in 0u64..4 {
        let mut s = std::collections::hash_map::RandomState::new().build_hasher();
        s.write_u64(i);
        h.update(s.finish().to_be_bytes());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(nanos.to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    let mut g = Vec::with_capacity(128);
    g.extend_from_slice(genesis.network.as_bytes());
    genesis.admin.encode_into(&mut g);
    genesis.oracle.encode_into(&mut g);
    h.update(&g);
    h.finalize().into()
}

/// Encode `entry` and frame it, refusing (with [`Error::InvalidInput`], before anything is
/// written) an entry that is too large for a record or would not decode back to itself.
/// Returns `(payload, frame)`.
fn checked_frame(entry: &Entry) -> Result<(Vec<u8>, Vec<u8>)> {
    let payload = entry.encode();
    match Entry::decode(&payload) {
        Ok(back) if back == *entry => {}
        Ok(_) => {
            return Err(Error::InvalidInput(
                "entry would not read back identically".into(),
            ))
        }
        Err(e) => {
            return Err(Error::InvalidInput(format!(
                "entry would not read back ({e})"
            )))
        }
    }
    let frame = log::frame(&payload)?;
    Ok((payload, frame))
}

/// `Expired` once `deadline` has passed, too far (more than [`MAX_PERMIT_LIFETIME_SECS`] after
/// `now`) otherwise; the registry's `_checkDeadline`.
/// The onboarding challenge for `registration` (canonical) by `maker` at the device's
/// current nonce.
fn onboarding_challenge(
    state: &State,
    registration: &DeviceRegistration,
    maker: &DeviceId,
) -> OnboardingChallenge {
    let maker_message = onboarding_message(state, registration, maker);
    OnboardingChallenge {
        maker_digest: state
            .domain
            .digest(MessageKind::MAKER_ONBOARDING, &maker_message),
        evidence_nonce: Sha256::digest(&maker_message).into(),
        device: Some(RegistrationChallenge::Domain {
            domain: state.domain,
            message: state.registration_message(registration),
        }),
    }
}

/// What the maker signs for `registration` (canonical) at the device's current nonce.
fn onboarding_message(
    state: &State,
    registration: &DeviceRegistration,
    maker: &DeviceId,
) -> Vec<u8> {
    let nonce = state.nonce(&registration.device);
    registration.onboarding_message(BackendKind::Local, &state.ledger_id, nonce, maker)
}

fn check_deadline(deadline: u64, now: u64) -> Result<()> {
    crate::rules::check_deadline(deadline, now)
}

// The contract errors, in one place (those without a variant of their own are
// `InvalidInput` with the EVM backend's wording).

/// The registry's `NonceMismatch(device, nonce, current)`.
fn nonce_mismatch(device: &DeviceId, nonce: u64, current: u64) -> Error {
    Error::InvalidInput(format!(
        "nonce {nonce} is not the current registration nonce {current} of {device}"
    ))
}

/// The distributor's `TotalExceeded(new_total_claimed, published_total)`.
fn total_exceeded(new_total_claimed: u128, published_total: u128) -> Error {
    Error::InvalidInput(format!(
        "the claim would bring the total claimed to {new_total_claimed}, above the published \
         total {published_total}"
    ))
}

/// Whether `claim` is proven against `root`. An account of the wrong kind for the format
/// cannot be in the tree: not proven (rather than [`Error::InvalidInput`]).
fn proves(format: ClaimFormat, root: &[u8; 32], claim: &Claim) -> Result<bool> {
    match verify_claim(format, root, claim) {
        Ok(proven) => Ok(proven),
        Err(Error::InvalidInput(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Prefix a replay error with the record it came from.
fn at_record(seq: u64, offset: u64, e: Error) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("record {seq} at byte {offset}: {m}")),
        other => other,
    }
}

impl State {
    fn new(genesis: Genesis, ledger_id: [u8; 32]) -> Result<Self> {
        let network = NetworkId::new(&genesis.network)
            .map_err(|e| Error::Config(format!("network id {:?}: {e}", genesis.network)))?;
        let mut chain = [0u8; 8];
        chain.copy_from_slice(&ledger_id[..8]);
        Ok(State {
            domain: Domain::new(network).with_chain_id(u64::from_be_bytes(chain)),
            genesis,
            ledger_id,
            devices: HashMap::new(),
            makers: HashMap::new(),
            maker_devices: HashMap::new(),
            onboarding: Onboarding::default(),
            nonces: HashMap::new(),
            roots: BTreeMap::new(),
            latest_published_at: None,
            claimed: HashMap::new(),
            total_claimed: 0,
            balances: HashMap::new(),
            pool: 0,
            txs: HashMap::new(),
            next_seq: 1,
            oracle_sets: Vec::new(),
        })
    }

    /// The oracle set in effect at `at` (unix seconds), if any was scheduled by then.
    fn oracle_set_at(&self, at: u64) -> Option<&OracleSet> {
        self.oracle_sets
            .iter()
            .rev()
            .find(|(from, _)| *from <= at)
            .map(|(_, set)| set)
    }

    /// `epoch` may follow the latest published epoch.
    fn check_epoch_after_latest(&self, epoch: u64) -> Result<()> {
        if let Some(&latest) = self.roots.keys().next_back() {
            if epoch <= latest {
                return Err(Error::Corrupt(format!(
                    "epoch {epoch} published after epoch {latest}"
                )));
            }
        }
        Ok(())
    }

    fn nonce(&self, device: &DeviceId) -> u64 {
        self.nonces.get(device).copied().unwrap_or(0)
    }

    fn bump_nonce(&mut self, device: &DeviceId) {
        let n = self.nonces.entry(*device).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// What the device key signs to register `registration` (owner already canonical) now.
    fn registration_message(&self, registration: &DeviceRegistration) -> Vec<u8> {
        registration.ledger_signing_message(
            BackendKind::Local,
            &self.ledger_id,
            self.nonce(&registration.device),
        )
    }

    /// The checks every new device passes, in the contracts' order: the deadline at `now`,
    /// then no record yet ([`Error::AlreadyRegistered`]).
    fn check_new_device(&self, registration: &DeviceRegistration, now: u64) -> Result<()> {
        check_deadline(registration.deadline, now)?;
        if self.devices.contains_key(&registration.device) {
            return Err(Error::AlreadyRegistered(registration.device.to_string()));
        }
        Ok(())
    }

    /// The device's consent to `registration` (canonical) at its current nonce: `proof` must
    /// be a domain signature by the device key over [`State::registration_message`]
    /// ([`Error::InvalidProof`] otherwise, also when there is none).
    fn device_consent(
        &self,
        registration: &DeviceRegistration,
        proof: Option<&RegistrationProof>,
    ) -> Result<DeviceConsent> {
        let signature = match proof {
            Some(RegistrationProof::Domain(sig)) => *sig,
            _ => return Err(Error::InvalidProof),
        };
        let key = registration
            .device
            .public_key()
            .map_err(|_| Error::InvalidProof)?;
        self.domain
            .verify(
                &key,
                MessageKind::DEVICE_REGISTRATION,
                &self.registration_message(registration),
                &signature,
            )
            .map_err(|_| Error::InvalidProof)?;
        Ok(DeviceConsent {
            nonce: self.nonce(&registration.device),
            signature,
        })
    }

    /// Apply an entry that was already validated (at write time) or read back from the log.
    /// Consistency violations during replay mean the file was tampered with.
    fn apply(&mut self, entry: &Entry) -> Result<()> {
        match entry {
            Entry::Genesis { .. } => return Err(Error::Corrupt("second genesis entry".into())),
            Entry::Register {
                device,
                owner,
                metadata,
                consent,
                ..
            } => {
                if self.devices.contains_key(device) {
                    return Err(Error::Corrupt(format!("{device} registered twice")));
                }
                if self.onboarding == Onboarding::MakersOnly {
                    return Err(Error::Corrupt(format!(
                        "{device} registered without a maker on a makers-only ledger"
                    )));
                }
                if let Some(c) = consent {
                    let current = self.nonce(device);
                    if c.nonce != current {
                        return Err(Error::Corrupt(format!(
                            "registration of {device} signed for nonce {}, its nonce is {current}",
                            c.nonce
                        )));
                    }
                }
                self.devices.insert(
                    *device,
                    DeviceState {
                        owner: owner.clone(),
                        metadata: metadata.clone(),
                        active: true,
                        suspended: false,
                        trust: DeviceTrust::default(),
                    },
                );
                self.bump_nonce(device);
            }
            Entry::Onboard(o) => {
                if self.devices.contains_key(&o.device) {
                    return Err(Error::Corrupt(format!("{} registered twice", o.device)));
                }
                let current = self.nonce(&o.device);
                if o.consent.nonce != current {
                    return Err(Error::Corrupt(format!(
                        "onboarding of {} signed for nonce {}, its nonce is {current}",
                        o.device, o.consent.nonce
                    )));
                }
                let m = self.makers.get_mut(&o.maker).ok_or_else(|| {
                    Error::Corrupt(format!("onboarding by unknown maker {}", o.maker))
                })?;
                if !m.active || m.onboarded >= m.maker.quota {
                    return Err(Error::Corrupt(format!(
                        "onboarding by maker {} when revoked or over quota",
                        o.maker
                    )));
                }
                m.onboarded += 1;
                self.maker_devices
                    .entry(o.maker)
                    .or_default()
                    .push(o.device);
                self.devices.insert(
                    o.device,
                    DeviceState {
                        owner: o.owner.clone(),
                        metadata: o.metadata.clone(),
                        active: true,
                        suspended: false,
                        trust: DeviceTrust {
                            level: o.trust,
                            maker: Some(o.maker),
                            hardware: o.hardware.clone(),
                        },
                    },
                );
                self.bump_nonce(&o.device);
            }
            Entry::ApproveMaker {
                maker, name, quota, ..
            } => {
                if self.makers.contains_key(maker) {
                    return Err(Error::Corrupt(format!("maker {maker} approved twice")));
                }
                self.makers.insert(
                    *maker,
                    MakerRecord {
                        maker: Maker::new(*maker, name.clone(), *quota),
                        onboarded: 0,
                        active: true,
                        devices_suspended: false,
                    },
                );
            }
            Entry::RevokeMaker {
                maker,
                suspend_devices,
                ..
            } => {
                let m = self
                    .makers
                    .get_mut(maker)
                    .filter(|m| m.active)
                    .ok_or_else(|| {
                        Error::Corrupt(format!("revoke of unknown or revoked maker {maker}"))
                    })?;
                m.active = false;
                m.devices_suspended = *suspend_devices;
                if *suspend_devices {
                    for d in self.maker_devices.get(maker).into_iter().flatten() {
                        if let Some(state) = self.devices.get_mut(d) {
                            state.suspended = true;
                        }
                    }
                }
            }
            Entry::SetOnboarding { onboarding, .. } => self.onboarding = *onboarding,
            Entry::Revoke { device, .. } => {
                let d = self
                    .devices
                    .get_mut(device)
                    .ok_or_else(|| Error::Corrupt(format!("revoke of unknown {device}")))?;
                d.active = false;
                self.bump_nonce(device);
            }
            Entry::CancelNonce { device, nonce, .. } => {
                let current = self.nonce(device);
                if *nonce != current {
                    return Err(Error::Corrupt(format!(
                        "cancellation of nonce {nonce} of {device}, its nonce is {current}"
                    )));
                }
                self.bump_nonce(device);
            }
            Entry::Publish {
                epoch,
                root,
                total,
                published_at,
                ..
            } => {
                self.check_epoch_after_latest(*epoch)?;
                if published_at.is_some_and(|at| self.oracle_set_at(at).is_some()) {
                    return Err(Error::Corrupt(format!(
                        "epoch {epoch} published by one oracle while a quorum was required"
                    )));
                }
                self.roots.insert(
                    *epoch,
                    EpochRoot {
                        epoch: Epoch(*epoch),
                        root: *root,
                        total: *total,
                    },
                );
                self.latest_published_at = *published_at;
            }
            Entry::Claim {
                account,
                cumulative,
                paid,
                ..
            } => {
                let already = self.claimed.get(account).copied().unwrap_or(0);
                if cumulative.checked_sub(already) != Some(*paid) || *paid == 0 {
                    return Err(Error::Corrupt(format!(
                        "claim of {account} pays {paid} for cumulative {cumulative}, \
                         {already} already claimed"
                    )));
                }
                self.pool = self
                    .pool
                    .checked_sub(*paid)
                    .ok_or_else(|| Error::Corrupt("claim exceeds pool".into()))?;
                self.total_claimed = self
                    .total_claimed
                    .checked_add(*paid)
                    .ok_or_else(|| Error::Corrupt("total claimed overflows".into()))?;
                self.claimed.insert(account.clone(), *cumulative);
                let bal = self.balances.entry(account.clone()).or_insert(0);
                *bal = bal.saturating_add(*paid);
            }
            Entry::Fund { amount, .. } => {
                self.pool = self
                    .pool
                    .checked_add(*amount)
                    .ok_or_else(|| Error::Corrupt("pool overflow".into()))?;
            }
            Entry::Note(_) => {}
            Entry::ScheduleOracles {
                oracles,
                threshold,
                effective_at,
                ..
            } => {
                let set = OracleSet::new(oracles.iter().copied(), usize::from(*threshold))
                    .map_err(|e| Error::Corrupt(format!("scheduled oracle set: {e}")))?;
                if self
                    .oracle_sets
                    .last()
                    .is_some_and(|(from, _)| *effective_at < *from)
                {
                    return Err(Error::Corrupt("oracle sets scheduled out of order".into()));
                }
                self.oracle_sets.push((*effective_at, set));
            }
            Entry::PublishQuorum(q) => {
                self.check_epoch_after_latest(q.epoch)?;
                let set = self.oracle_set_at(q.published_at).ok_or_else(|| {
                    Error::Corrupt(format!(
                        "epoch {} published by a quorum of no oracle set",
                        q.epoch
                    ))
                })?;
                let signers: std::collections::BTreeSet<&DeviceId> =
                    q.signatures.iter().map(|(o, _)| o).collect();
                if signers.len() != q.signatures.len()
                    || signers.len() < set.threshold()
                    || !signers.iter().all(|o| set.contains(o))
                {
                    return Err(Error::Corrupt(format!(
                        "epoch {} published without a quorum of the oracle set",
                        q.epoch
                    )));
                }
                self.roots.insert(
                    q.epoch,
                    EpochRoot {
                        epoch: Epoch(q.epoch),
                        root: q.root,
                        total: q.total,
                    },
                );
                self.latest_published_at = Some(q.published_at);
            }
        }
        Ok(())
    }

    /// The latest root and, while its grace period runs at `now`, the previous one.
    fn claimable_roots(&self, now: u64) -> Option<(&EpochRoot, Option<&EpochRoot>)> {
        let mut roots = self.roots.values().rev();
        let latest = roots.next()?;
        let in_grace = self
            .latest_published_at
            .is_some_and(|at| now <= at.saturating_add(CLAIM_GRACE_PERIOD_SECS));
        Some((latest, roots.next().filter(|_| in_grace)))
    }
}

impl LocalLedger {
    /// Open or create the ledger at `path`. A new (empty) file records `genesis` and a fresh
    /// ledger id; an existing file must have been created with the same genesis
    /// ([`Error::Config`] otherwise; accounts are compared in canonical form). An invalid
    /// genesis is [`Error::Config`] before the file is touched.
    ///
    /// A torn final record (the most a crash can leave, see [`log`]) is cut off before the
    /// ledger replays, without an error: that record was never acknowledged. This function
    /// does not log; use [`LocalLedger::open_with_report`] (its
    /// [`log::OpenReport::truncated_bytes`]) or [`LocalLedger::torn_bytes_repaired`] to see and
    /// log a repair. Any other damage, including a file with bytes after the magic but no
    /// intact genesis record, is [`Error::Corrupt`] and leaves the file untouched: a new ledger
    /// is never started in place of a damaged one.
    pub fn open(path: impl AsRef<Path>, genesis: Genesis) -> Result<Self> {
        let (ledger, _) = Self::open_with_report(path, genesis)?;
        Ok(ledger)
    }

    /// [`LocalLedger::open`], also returning what replay found: every intact record and its
    /// offset, and in `truncated_bytes` the length of a torn final record that was cut off
    /// (0 if the file was clean). Callers that keep an operational log should log a non-zero
    /// `truncated_bytes`: it means the last write before a crash was lost (it had not been
    /// acknowledged).
    pub fn open_with_report(
        path: impl AsRef<Path>,
        genesis: Genesis,
    ) -> Result<(Self, log::OpenReport)> {
        let path = path.as_ref();
        let genesis = canonical_genesis(&genesis)?;
        let (log, report) = log::Log::open(path)?;
        let (ledger, report) = Self::from_log(path, log, report, genesis)?;
        ledger.lock()?.repaired_bytes = report.truncated_bytes;
        Ok((ledger, report))
    }

    /// Create a fresh ledger at `path` with `genesis` (and a new ledger id), replacing any
    /// ledger file already there. The file's exclusive lock is taken before anything is
    /// changed, so a ledger another process (or another [`LocalLedger`] in this process) has
    /// open is never touched: that is [`Error::Config`] naming the path, and the file keeps its
    /// content. A file that is not a depin-chains ledger is not replaced either
    /// ([`Error::Config`]).
    pub fn replace(path: impl AsRef<Path>, genesis: Genesis) -> Result<Self> {
        let path = path.as_ref();
        let genesis = canonical_genesis(&genesis)?;
        // the report of an emptied log has no records: `from_log` writes a new genesis
        let (log, report) = log::Log::create_replacing(path)?;
        let (ledger, _) = Self::from_log(path, log, report, genesis)?;
        Ok(ledger)
    }

    /// Build the ledger from an opened log: write the genesis entry into an empty log, or
    /// check and replay an existing one.
    fn from_log(
        path: &Path,
        mut log: log::Log,
        report: log::OpenReport,
        genesis: Genesis,
    ) -> Result<(Self, log::OpenReport)> {
        let mut entries = report.records.iter().zip(report.offsets.iter().copied());
        let state = match entries.next() {
            None => {
                let ledger_id = new_ledger_id(&genesis);
                let state = State::new(genesis.clone(), ledger_id)?;
                let g = Entry::Genesis {
                    network: genesis.network,
                    admin: genesis.admin,
                    oracle: genesis.oracle,
                    claim_format: genesis.claim_format,
                    ledger_id,
                };
                let (_, frame) = checked_frame(&g)?;
                log.append_frame(&frame)?;
                state
            }
            Some((first, offset)) => {
                let (stored, ledger_id) =
                    match Entry::decode(first).map_err(|e| at_record(0, offset, e))? {
                        Entry::Genesis {
                            network,
                            admin,
                            oracle,
                            claim_format,
                            ledger_id,
                        } => (
                            Genesis {
                                network,
                                admin,
                                oracle,
                                claim_format,
                            },
                            ledger_id,
                        ),
                        _ => {
                            return Err(Error::Corrupt(format!(
                                "record 0 at byte {offset}: first entry is not genesis"
                            )))
                        }
                    };
                if stored != genesis {
                    return Err(Error::Config(format!(
                        "ledger {} was created with {stored:?}, not {genesis:?}",
                        path.display()
                    )));
                }
                let mut state = State::new(stored, ledger_id)?;
                for (i, (bytes, offset)) in entries.enumerate() {
                    let seq = i as u64 + 1;
                    let entry = Entry::decode(bytes).map_err(|e| at_record(seq, offset, e))?;
                    state.apply(&entry).map_err(|e| at_record(seq, offset, e))?;
                    state.txs.insert(tx_hash(seq, bytes), seq);
                    state.next_seq = seq + 1;
                }
                state
            }
        };
        Ok((
            LocalLedger {
                inner: Arc::new(Mutex::new(Inner {
                    log,
                    state,
                    poisoned: false,
                    clock: Clock::default(),
                    repaired_bytes: 0,
                    evidence: HashMap::new(),
                })),
            },
            report,
        ))
    }

    /// Accept hardware evidence of `verifier`'s kind at onboarding from now on (replacing a
    /// verifier of the same kind). Not persisted: entries record what was accepted, and a
    /// reopened ledger needs its verifiers added again before it onboards with evidence.
    pub fn add_evidence_verifier(&self, verifier: Arc<dyn EvidenceVerifier>) -> Result<()> {
        let mut inner = self.lock()?;
        inner.evidence.insert(verifier.kind().to_string(), verifier);
        Ok(())
    }

    /// Who may join ([`Onboarding::Open`] until the admin sets otherwise).
    pub fn onboarding(&self) -> Result<Onboarding> {
        Ok(self.lock()?.state.onboarding)
    }

    /// The devices `maker` onboarded, in order.
    pub fn maker_devices(&self, maker: &DeviceId) -> Result<Vec<DeviceId>> {
        Ok(self
            .lock()?
            .state
            .maker_devices
            .get(maker)
            .cloned()
            .unwrap_or_default())
    }

    /// Open the ledger a [`LocalConfig`] names.
    pub fn open_config(config: &LocalConfig) -> Result<Self> {
        Self::open(
            &config.path,
            Genesis {
                network: config.network.clone(),
                admin: config.admin.clone(),
                oracle: config.oracle.clone(),
                claim_format: config.claim_format,
            },
        )
    }

    /// A handle acting as `caller` (kept in canonical form when it is a valid account; an
    /// invalid one can read, and every write it attempts is [`Error::InvalidInput`]).
    pub fn handle(&self, caller: Account) -> LocalBackend {
        let caller = canonical_account(&caller).unwrap_or(caller);
        LocalBackend {
            ledger: self.clone(),
            caller,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| Error::Corrupt("ledger lock poisoned by a panic".into()))
    }

    /// The ledger's genesis (roles, network, claim format), accounts in canonical form.
    pub fn genesis(&self) -> Result<Genesis> {
        Ok(self.lock()?.state.genesis.clone())
    }

    /// The ledger's unique id, drawn when the file was created and stored in its genesis
    /// entry. Registration proofs are bound to it: a proof made for one ledger never verifies
    /// on another, even one with the same genesis. A copy of the file has the same id: it is a
    /// clone of this ledger, not another one (see the module documentation).
    pub fn ledger_id(&self) -> Result<[u8; 32]> {
        Ok(self.lock()?.state.ledger_id)
    }

    /// The registration signing domain: the genesis network id, with the first 8 bytes of the
    /// ledger id (big-endian) as chain id.
    pub fn domain(&self) -> Result<Domain> {
        Ok(self.lock()?.state.domain)
    }

    /// The device's registration nonce: the number of committed registrations, revocations
    /// and nonce cancellations of it (0 for a device the ledger has never seen). Part of the
    /// signed registration message, so a proof verifies for one state of the device only.
    pub fn registration_nonce(&self, device: &DeviceId) -> Result<u64> {
        Ok(self.lock()?.state.nonce(device))
    }

    /// What the device key signs to cancel its current registration nonce with a signature
    /// valid until `deadline`: [`nonce_cancellation_message`] for this ledger, the device and
    /// its current nonce, under the ledger's domain with [`MessageKind::DEVICE_REGISTRATION`].
    /// Sign it with [`RegistrationChallenge::sign`] and pass the proof, the nonce and the
    /// deadline to [`LocalBackend::cancel_registration_nonce`].
    pub fn nonce_cancellation_challenge(
        &self,
        device: &DeviceId,
        deadline: u64,
    ) -> Result<RegistrationChallenge> {
        let inner = self.lock()?;
        let state = &inner.state;
        Ok(RegistrationChallenge::Domain {
            domain: state.domain,
            message: nonce_cancellation_message(
                &state.ledger_id,
                device,
                state.nonce(device),
                deadline,
            ),
        })
    }

    /// Use `clock` (unix seconds) as the ledger's time from now on, in place of the system
    /// clock: it decides registration and cancellation deadlines, stamps published roots and
    /// bounds the claim grace period. For simulations and tests; the clock is not persisted
    /// (a reopened ledger uses the system clock again). `clock` is called with the ledger
    /// locked, so it must not call into the ledger.
    pub fn set_clock(&self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Result<()> {
        let clock: Arc<ClockFn> = Arc::new(clock);
        self.lock()?.clock = Clock(Some(clock));
        Ok(())
    }

    /// The ledger's current time, unix seconds: the system clock, or the clock given to
    /// [`LocalLedger::set_clock`].
    pub fn now(&self) -> Result<u64> {
        Ok(self.lock()?.clock.now())
    }

    /// The last time (unix seconds, ledger clock) at which a claim against the previous root
    /// is accepted: the latest root's publication time plus [`CLAIM_GRACE_PERIOD_SECS`].
    /// `None` if there is no previous root (or the latest root's entry has no publication
    /// time). The distributor's `previousRootClaimableUntil`.
    pub fn previous_root_claimable_until(&self) -> Result<Option<u64>> {
        let inner = self.lock()?;
        let state = &inner.state;
        if state.roots.len() < 2 {
            return Ok(None);
        }
        Ok(state
            .latest_published_at
            .map(|at| at.saturating_add(CLAIM_GRACE_PERIOD_SECS)))
    }

    /// The sum of every payout so far (the distributor's `totalClaimed()`). Claims never bring
    /// it above the latest published total, and no total below it can be published.
    pub fn total_claimed(&self) -> Result<u128> {
        Ok(self.lock()?.state.total_claimed)
    }

    /// Bytes of a torn final record cut off when this ledger was opened (0 if the file was
    /// clean, new or replaced). [`LocalLedger::open`] and [`connect`] repair without logging;
    /// check this to log it.
    pub fn torn_bytes_repaired(&self) -> Result<u64> {
        Ok(self.lock()?.repaired_bytes)
    }

    /// Number of committed entries after genesis (the sequence number of the last one).
    pub fn len(&self) -> Result<u64> {
        Ok(self.lock()?.state.next_seq - 1)
    }

    /// `true` if nothing but the genesis entry is committed.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Committed file length in bytes.
    pub fn file_len(&self) -> Result<u64> {
        Ok(self.lock()?.log.len())
    }

    /// Append an opaque note entry (no effect on state) and return its sequence number once
    /// it is durable. Applications can journal their own records next to the ledger's.
    /// A note too large for one record is [`Error::InvalidInput`] and writes nothing.
    pub fn append_note(&self, bytes: &[u8]) -> Result<u64> {
        let mut inner = self.lock()?;
        let entry = Entry::Note(bytes.to_vec());
        let (_, seq) = commit(&mut inner, &entry)?;
        Ok(seq)
    }

    /// Every entry after genesis with its sequence number, read back from the file (not from
    /// memory), verifying checksums, without changing the file. Used by the crash test and by
    /// audits. Damage is [`Error::Corrupt`] by the same rules as [`LocalLedger::open`]; a torn
    /// final record is left out.
    pub fn read_entries(path: impl AsRef<Path>) -> Result<Vec<(u64, Entry)>> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)?;
        let body = bytes.strip_prefix(log::MAGIC.as_slice()).ok_or_else(|| {
            Error::Corrupt(format!(
                "{} is not a depin-chains ledger file (format 2)",
                path.display()
            ))
        })?;
        let scan = log::scan(body)?;
        if scan.records.is_empty() && !body.is_empty() {
            return Err(Error::Corrupt(format!(
                "{}: {} bytes after the magic but no intact record, not even the genesis",
                path.display(),
                body.len()
            )));
        }
        scan.records
            .iter()
            .zip(scan.starts.iter())
            .enumerate()
            .skip(1)
            .map(|(i, (r, start))| {
                let seq = i as u64;
                let offset = (log::MAGIC.len() + start) as u64;
                Ok((
                    seq,
                    Entry::decode(r).map_err(|e| at_record(seq, offset, e))?,
                ))
            })
            .collect()
    }

    /// Add `amount` to the distributor pool; admin only. `by` must be a valid account
    /// ([`Error::InvalidInput`]); it is compared with the admin in canonical form.
    pub fn fund(&self, by: &Account, amount: u128) -> Result<TxHandle> {
        let by = canonical_account(by)?;
        let mut inner = self.lock()?;
        if by != inner.state.genesis.admin {
            return Err(Error::Unauthorized(format!("{by} is not the admin")));
        }
        if amount == 0 {
            return Err(Error::InvalidInput("zero funding".into()));
        }
        inner
            .state
            .pool
            .checked_add(amount)
            .ok_or_else(|| Error::InvalidInput("pool would overflow".into()))?;
        let (tx, _) = commit(&mut inner, &Entry::Fund { amount, by })?;
        Ok(tx)
    }
}

/// Validate-then-commit: check the entry reads back and fits a record (nothing is written
/// otherwise), append it durably, then apply it in memory.
fn commit(inner: &mut Inner, entry: &Entry) -> Result<(TxHandle, u64)> {
    if inner.poisoned {
        return Err(Error::Corrupt(
            "an earlier write failed; reopen the ledger".into(),
        ));
    }
    let (payload, frame) = checked_frame(entry)?;
    if let Err(e) = inner.log.append_frame(&frame) {
        inner.poisoned = true;
        return Err(e);
    }
    let seq = inner.state.next_seq;
    if let Err(e) = inner.state.apply(entry) {
        // durable but not applied: memory no longer matches the file
        inner.poisoned = true;
        return Err(e);
    }
    let hash = tx_hash(seq, &payload);
    inner.state.txs.insert(hash, seq);
    inner.state.next_seq = seq + 1;
    Ok((TxHandle(hash), seq))
}

/// Connect a [`LocalConfig`]: open the file and return a handle acting as `config.caller`.
pub fn connect(config: &LocalConfig) -> Result<Arc<dyn ChainBackend>> {
    let ledger = LocalLedger::open_config(config)?;
    Ok(Arc::new(ledger.handle(config.caller.clone())))
}

impl LocalBackend {
    /// The shared ledger.
    pub fn ledger(&self) -> &LocalLedger {
        &self.ledger
    }

    /// A handle on the same ledger acting as another account.
    pub fn as_account(&self, caller: Account) -> LocalBackend {
        self.ledger.handle(caller)
    }

    /// Add tokens to the distributor pool (admin only): see [`LocalLedger::fund`].
    pub fn fund(&self, amount: u128) -> Result<TxHandle> {
        self.ledger.fund(&self.caller, amount)
    }

    /// The caller in canonical form: the `by` of every entry this handle writes.
    fn by(&self) -> Result<Account> {
        canonical_account(&self.caller)
    }

    /// Schedule `set` (admin only) as the oracles whose quorum publishes this ledger's roots
    /// from `effective_at` (unix seconds, ledger clock) on. From then on a root needs the
    /// signatures of `set.threshold()` of its oracles ([`crate::DistributorBackend::publish_quorum_root`]) and
    /// the single oracle of the genesis can publish nothing. `effective_at` must be at least
    /// [`ORACLE_SET_DELAY_SECS`] after now, so that a hijacked admin key cannot install
    /// oracles of its own unseen, and not before an already scheduled set. A change never
    /// touches a published epoch. Errors: [`Error::Unauthorized`] for anyone but the admin,
    /// [`Error::InvalidInput`] for a too early or out-of-order time.
    pub fn schedule_oracle_set(&self, set: &OracleSet, effective_at: u64) -> Result<TxHandle> {
        let mut inner = self.ledger.lock()?;
        let by = self.admin(&inner, "only the admin schedules oracle sets")?;
        let now = inner.clock.now();
        if effective_at < now.saturating_add(ORACLE_SET_DELAY_SECS) {
            return Err(Error::InvalidInput(format!(
                "an oracle set takes effect at least {ORACLE_SET_DELAY_SECS} s after it is scheduled"
            )));
        }
        if inner
            .state
            .oracle_sets
            .last()
            .is_some_and(|(from, _)| effective_at < *from)
        {
            return Err(Error::InvalidInput(
                "an oracle set cannot take effect before one already scheduled".into(),
            ));
        }
        let threshold = u8::try_from(set.threshold())
            .map_err(|_| Error::InvalidInput("threshold above 255".into()))?;
        let (tx, _) = commit(
            &mut inner,
            &Entry::ScheduleOracles {
                oracles: set.oracles().copied().collect(),
                threshold,
                effective_at,
                by,
            },
        )?;
        Ok(tx)
    }

    /// The oracle set in effect now, if one is (`None`: the genesis oracle publishes alone).
    pub fn oracle_set(&self) -> Result<Option<OracleSet>> {
        let inner = self.ledger.lock()?;
        let now = inner.clock.now();
        Ok(inner.state.oracle_set_at(now).cloned())
    }

    /// What the oracles sign for `root` on this ledger: a [`RootStatement`] for the
    /// ledger's id as distributor, signed in [`LocalLedger::domain`] (the network, and the
    /// ledger's chain id).
    pub fn root_statement(&self, root: &EpochRoot) -> Result<RootStatement> {
        let inner = self.ledger.lock()?;
        Ok(RootStatement::new(
            inner.state.ledger_id.to_vec(),
            root.epoch,
            root.root,
            root.total,
        ))
    }

    fn publish_quorum_sync(&self, quorum: &Quorum) -> Result<PublishOutcome> {
        let by = self.by()?;
        let mut inner = self.ledger.lock()?;
        let published_at = inner.clock.now();
        let state = &inner.state;
        let set = state.oracle_set_at(published_at).ok_or_else(|| {
            Error::Unsupported(
                "this ledger has no oracle set in effect: its oracle publishes".into(),
            )
        })?;
        let statement = &quorum.statement;
        if statement.distributor != state.ledger_id {
            return Err(Error::InvalidProof);
        }
        if quorum.signers.len() != quorum.signatures.len() {
            return Err(Error::InvalidInput(
                "a quorum has one signature per signer".into(),
            ));
        }
        // every signature checked here, whoever tallied the votes
        let mut signatures: BTreeMap<DeviceId, depin_core::Signature> = BTreeMap::new();
        for (oracle, signature) in quorum.signers.iter().zip(&quorum.signatures) {
            if !set.contains(oracle) {
                return Err(Error::Unauthorized(format!(
                    "{oracle} is not an oracle of this ledger"
                )));
            }
            let vote = crate::quorum::RootVote {
                oracle: *oracle,
                statement: statement.clone(),
                signature: *signature,
            };
            vote.verify(&state.domain)?;
            signatures.insert(*oracle, *signature);
        }
        if signatures.len() < set.threshold() {
            return Err(Error::Unauthorized(format!(
                "{} distinct oracle signatures, {} needed",
                signatures.len(),
                set.threshold()
            )));
        }
        let root = EpochRoot {
            epoch: statement.epoch,
            root: statement.root,
            total: statement.total,
        };
        // the publication rules, in the order every backend applies them
        if let Some(outcome) = crate::rules::check_publication(
            &root,
            state.roots.get(&root.epoch.0),
            state.roots.values().next_back(),
            state.total_claimed,
        )? {
            return Ok(outcome);
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::PublishQuorum(Box::new(QuorumPublication {
                epoch: root.epoch.0,
                root: root.root,
                total: root.total,
                published_at,
                signatures: signatures.into_iter().collect(),
                by,
            })),
        )?;
        Ok(PublishOutcome::Published(tx))
    }

    fn register_sync(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let by = self.by()?;
        let registration = canonical_registration(registration)?;
        let mut inner = self.ledger.lock()?;
        if inner.state.onboarding == Onboarding::MakersOnly {
            return Err(Error::Unauthorized(
                "this network onboards devices only through approved makers".into(),
            ));
        }
        let now = inner.clock.now();
        inner.state.check_new_device(&registration, now)?;
        let consent = inner.state.device_consent(&registration, Some(proof))?;
        let DeviceRegistration {
            device,
            owner,
            metadata,
            deadline,
        } = registration;
        let (tx, _) = commit(
            &mut inner,
            &Entry::Register {
                device,
                owner,
                metadata,
                deadline,
                consent: Some(consent),
                by,
            },
        )?;
        Ok(tx)
    }

    /// Cancel the device's registration nonce `nonce` (which must be its current nonce,
    /// [`LocalLedger::registration_nonce`]): the nonce moves on by one, so no registration
    /// proof signed for `nonce` (one handed to a relayer and no longer wanted, say) can ever
    /// be used. The registry's `useNonce`. `proof` is the device's domain signature over
    /// [`nonce_cancellation_message`]`(ledger id, device, nonce, deadline)`, from
    /// [`LocalLedger::nonce_cancellation_challenge`]. Works whether or not the device is
    /// registered; any valid account may submit it.
    ///
    /// Checks in order: the submitting account ([`Error::InvalidInput`]), the deadline
    /// ([`Error::Expired`], or [`Error::DeadlineTooFar`] more than
    /// [`MAX_PERMIT_LIFETIME_SECS`] ahead), the nonce ([`Error::InvalidInput`] unless it is
    /// the current one), the signature ([`Error::InvalidProof`]). Durable: a
    /// [`Entry::CancelNonce`] keeps the device's signature.
    pub fn cancel_registration_nonce(
        &self,
        device: &DeviceId,
        nonce: u64,
        deadline: u64,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let by = self.by()?;
        let mut inner = self.ledger.lock()?;
        let now = inner.clock.now();
        check_deadline(deadline, now)?;
        let current = inner.state.nonce(device);
        if nonce != current {
            return Err(nonce_mismatch(device, nonce, current));
        }
        let signature = match proof {
            RegistrationProof::Domain(sig) => *sig,
            _ => return Err(Error::InvalidProof),
        };
        let key = device.public_key().map_err(|_| Error::InvalidProof)?;
        let message = nonce_cancellation_message(&inner.state.ledger_id, device, nonce, deadline);
        inner
            .state
            .domain
            .verify(&key, MessageKind::DEVICE_REGISTRATION, &message, &signature)
            .map_err(|_| Error::InvalidProof)?;
        let (tx, _) = commit(
            &mut inner,
            &Entry::CancelNonce {
                device: *device,
                nonce,
                deadline,
                signature,
                by,
            },
        )?;
        Ok(tx)
    }

    /// [`LocalBackend::cancel_registration_nonce`] for the device `signer` holds the key of:
    /// fetch the challenge for its current nonce, sign it, submit it.
    pub fn cancel_registration_nonce_with_signer(
        &self,
        signer: &dyn DeviceSigner,
        deadline: u64,
    ) -> Result<TxHandle> {
        let device = signer.device_id();
        let nonce = self.ledger.registration_nonce(&device)?;
        let challenge = self
            .ledger
            .nonce_cancellation_challenge(&device, deadline)?;
        let proof = challenge.sign(signer)?;
        self.cancel_registration_nonce(&device, nonce, deadline, &proof)
    }

    fn admin(&self, inner: &Inner, what: &str) -> Result<Account> {
        let by = self.by()?;
        if by != inner.state.genesis.admin {
            return Err(Error::Unauthorized(format!(
                "{by} is not the admin: {what}"
            )));
        }
        Ok(by)
    }

    fn approve_maker_sync(&self, maker: &Maker) -> Result<TxHandle> {
        maker.validate()?;
        let mut inner = self.ledger.lock()?;
        let by = self.admin(&inner, "only the admin approves makers")?;
        if inner.state.makers.contains_key(&maker.key) {
            return Err(Error::AlreadyRegistered(format!("maker {}", maker.key)));
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::ApproveMaker {
                maker: maker.key,
                name: maker.name.clone(),
                quota: maker.quota,
                by,
            },
        )?;
        Ok(tx)
    }

    fn revoke_maker_sync(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        let mut inner = self.ledger.lock()?;
        let by = self.admin(&inner, "only the admin revokes makers")?;
        match inner.state.makers.get(maker) {
            None => return Err(Error::NotFound(format!("maker {maker}"))),
            Some(m) if !m.active => return Err(Error::AlreadyRevoked(format!("maker {maker}"))),
            Some(_) => {}
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::RevokeMaker {
                maker: *maker,
                suspend_devices: on_revoked == OnMakerRevoked::SuspendDevices,
                by,
            },
        )?;
        Ok(tx)
    }

    fn set_onboarding_sync(&self, onboarding: Onboarding) -> Result<TxHandle> {
        let mut inner = self.ledger.lock()?;
        let by = self.admin(&inner, "only the admin sets who may join")?;
        let (tx, _) = commit(&mut inner, &Entry::SetOnboarding { onboarding, by })?;
        Ok(tx)
    }

    fn onboarding_challenge_sync(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        let registration = canonical_registration(registration)?;
        let inner = self.ledger.lock()?;
        Ok(onboarding_challenge(&inner.state, &registration, maker))
    }

    fn onboard_sync(
        &self,
        registration: &DeviceRegistration,
        attestation: &MakerAttestation,
        device_proof: Option<&RegistrationProof>,
        evidence: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        let by = self.by()?;
        let registration = canonical_registration(registration)?;
        let mut inner = self.ledger.lock()?;
        let now = inner.clock.now();
        inner.state.check_new_device(&registration, now)?;
        let device = registration.device;
        crate::rules::check_maker_may_onboard(
            &attestation.maker,
            inner.state.makers.get(&attestation.maker),
        )?;
        let maker_message = onboarding_message(&inner.state, &registration, &attestation.maker);
        let evidence_nonce: [u8; 32] = Sha256::digest(&maker_message).into();
        // the maker's attestation, then the device's own proof, both for the nonce now
        let maker_key = attestation
            .maker
            .public_key()
            .map_err(|_| Error::InvalidProof)?;
        inner
            .state
            .domain
            .verify(
                &maker_key,
                MessageKind::MAKER_ONBOARDING,
                &maker_message,
                &attestation.signature,
            )
            .map_err(|_| Error::InvalidProof)?;
        // every key type can be checked here: the device's own proof is required
        let consent = inner.state.device_consent(&registration, device_proof)?;
        let (trust, hardware) = match evidence {
            None => (TrustLevel::Maker, None),
            Some(e) => {
                let verifier = inner.evidence.get(&e.kind).cloned().ok_or_else(|| {
                    Error::Evidence(format!("no verifier for evidence of kind {:?}", e.kind))
                })?;
                let request = EvidenceRequest {
                    device: &device,
                    nonce: &evidence_nonce,
                    now_secs: now,
                };
                let verdict = verifier
                    .verify(&e.bytes, &request)
                    .map_err(|err| Error::Evidence(err.to_string()))?;
                // evidence that chains to a maker's root must be that maker's
                if let Some(root_maker) = verdict.maker {
                    if root_maker != attestation.maker {
                        return Err(Error::Evidence(format!(
                            "evidence chains to maker {root_maker}, not {}",
                            attestation.maker
                        )));
                    }
                }
                (
                    TrustLevel::Hardware,
                    Some(HardwareRecord {
                        kind: e.kind.clone(),
                        evidence_hash: Sha256::digest(&e.bytes).into(),
                    }),
                )
            }
        };
        let DeviceRegistration {
            device,
            owner,
            metadata,
            deadline,
        } = registration;
        let (tx, _) = commit(
            &mut inner,
            &Entry::Onboard(Box::new(Onboarded {
                device,
                owner,
                metadata,
                deadline,
                consent,
                maker: attestation.maker,
                maker_signature: attestation.signature,
                trust,
                hardware,
                by,
            })),
        )?;
        Ok(tx)
    }

    fn revoke_sync(&self, device: &DeviceId) -> Result<TxHandle> {
        let by = self.by()?;
        let mut inner = self.ledger.lock()?;
        let d = inner
            .state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        if by != d.owner && by != inner.state.genesis.admin {
            return Err(Error::Unauthorized(format!(
                "{by} is neither the owner of {device} nor the admin"
            )));
        }
        if !d.active {
            return Err(Error::AlreadyRevoked(device.to_string()));
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::Revoke {
                device: *device,
                by,
            },
        )?;
        Ok(tx)
    }

    fn publish_sync(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        let by = self.by()?;
        let mut inner = self.ledger.lock()?;
        let published_at = inner.clock.now();
        let state = &inner.state;
        if by != state.genesis.oracle {
            return Err(Error::Unauthorized(format!("{by} is not the oracle")));
        }
        if state.oracle_set_at(published_at).is_some() {
            return Err(Error::Unauthorized(
                "this ledger's roots need a quorum of its oracles (publish_quorum_root)".into(),
            ));
        }
        // the publication rules, in the order every backend applies them
        if let Some(outcome) = crate::rules::check_publication(
            root,
            state.roots.get(&root.epoch.0),
            state.roots.values().next_back(),
            state.total_claimed,
        )? {
            return Ok(outcome);
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::Publish {
                epoch: root.epoch.0,
                root: root.root,
                total: root.total,
                published_at: Some(published_at),
                by,
            },
        )?;
        Ok(PublishOutcome::Published(tx))
    }

    fn claim_sync(&self, claim: &Claim) -> Result<TxHandle> {
        let by = self.by()?;
        // the account is paid and recorded in canonical form; the proof is checked for it
        let claim = Claim {
            account: canonical_account(&claim.account)?,
            cumulative_amount: claim.cumulative_amount,
            proof: claim.proof.clone(),
        };
        let mut inner = self.ledger.lock()?;
        let now = inner.clock.now();
        let state = &inner.state;
        let format = state.genesis.claim_format;
        let (latest, previous) = state.claimable_roots(now).ok_or(Error::NoRoot)?;
        // the latest root first; the previous one only during its grace period
        if !proves(format, &latest.root, &claim)? {
            let by_previous = match previous {
                Some(previous) => proves(format, &previous.root, &claim)?,
                None => false,
            };
            if !by_previous {
                return Err(Error::InvalidProof);
            }
        }
        let already = state.claimed.get(&claim.account).copied().unwrap_or(0);
        if claim.cumulative_amount <= already {
            return Err(Error::AlreadyClaimed {
                account: claim.account,
                cumulative: claim.cumulative_amount,
                claimed: already,
            });
        }
        // whichever root proved it, the claim pays the difference and no more
        let paid = claim.cumulative_amount - already;
        match state.total_claimed.checked_add(paid) {
            Some(t) if t <= latest.total => {}
            t => return Err(total_exceeded(t.unwrap_or(u128::MAX), latest.total)),
        }
        if state.pool < paid {
            return Err(Error::InsufficientFunds {
                available: state.pool,
                required: paid,
            });
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::Claim {
                account: claim.account,
                cumulative: claim.cumulative_amount,
                paid,
                by,
            },
        )?;
        Ok(tx)
    }
}

// The ledger's operations are short and synchronous (one fdatasync per write); they run on
// the calling task. Applications with very high write rates can wrap calls in
// `tokio::task::spawn_blocking`.
#[async_trait]
impl crate::backend::ChainHandle for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn account(&self) -> Option<Account> {
        Some(self.caller.clone())
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        let inner = self.ledger.lock()?;
        let seq = inner
            .state
            .txs
            .get(&tx.0)
            .copied()
            .ok_or_else(|| Error::NotFound(format!("transaction {tx}")))?;
        Ok(Receipt {
            tx: *tx,
            block: seq,
            status: TxStatus::Success,
        })
    }
}

#[async_trait]
impl crate::backend::RegistryBackend for LocalBackend {
    async fn registration_challenge(
        &self,
        registration: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        let registration = canonical_registration(registration)?;
        let inner = self.ledger.lock()?;
        Ok(RegistrationChallenge::Domain {
            domain: inner.state.domain,
            message: inner.state.registration_message(&registration),
        })
    }

    async fn register_device(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        self.register_sync(registration, proof)
    }

    async fn revoke_device(&self, device: &DeviceId) -> Result<TxHandle> {
        self.revoke_sync(device)
    }

    async fn approve_maker(&self, maker: &Maker) -> Result<TxHandle> {
        self.approve_maker_sync(maker)
    }

    async fn revoke_maker(&self, maker: &DeviceId, on_revoked: OnMakerRevoked) -> Result<TxHandle> {
        self.revoke_maker_sync(maker, on_revoked)
    }

    async fn maker(&self, maker: &DeviceId) -> Result<MakerRecord> {
        let inner = self.ledger.lock()?;
        inner
            .state
            .makers
            .get(maker)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("maker {maker}")))
    }

    async fn set_onboarding(&self, onboarding: Onboarding) -> Result<TxHandle> {
        self.set_onboarding_sync(onboarding)
    }

    async fn onboarding_challenge(
        &self,
        registration: &DeviceRegistration,
        maker: &DeviceId,
    ) -> Result<OnboardingChallenge> {
        self.onboarding_challenge_sync(registration, maker)
    }

    async fn onboard_device(
        &self,
        registration: &DeviceRegistration,
        attestation: &MakerAttestation,
        device_proof: Option<&RegistrationProof>,
        evidence: Option<&HardwareEvidence>,
    ) -> Result<TxHandle> {
        self.onboard_sync(registration, attestation, device_proof, evidence)
    }

    async fn device(&self, device: &DeviceId) -> Result<RegisteredDevice> {
        let inner = self.ledger.lock()?;
        let d = inner
            .state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        Ok(RegisteredDevice {
            device: *device,
            owner: d.owner.clone(),
            key_type: device.key_type(),
            metadata_hash: Sha256::digest(&d.metadata).into(),
            active: d.active && !d.suspended,
            trust: d.trust.clone(),
        })
    }
}

#[async_trait]
impl crate::backend::DistributorBackend for LocalBackend {
    fn claim_format(&self) -> ClaimFormat {
        self.ledger
            .lock()
            .map(|i| i.state.genesis.claim_format)
            .unwrap_or(ClaimFormat::OpenZeppelin)
    }

    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        self.publish_sync(root)
    }

    async fn publish_quorum_root(&self, quorum: &Quorum) -> Result<PublishOutcome> {
        self.publish_quorum_sync(quorum)
    }

    async fn epoch_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>> {
        Ok(self.ledger.lock()?.state.roots.get(&epoch.0).copied())
    }

    async fn claim(&self, claim: &Claim) -> Result<TxHandle> {
        self.claim_sync(claim)
    }

    async fn claimed(&self, account: &Account) -> Result<u128> {
        let account = canonical_account(account)?;
        Ok(self
            .ledger
            .lock()?
            .state
            .claimed
            .get(&account)
            .copied()
            .unwrap_or(0))
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        Ok(Some(self.ledger.lock()?.state.pool))
    }

    async fn fund_pool(&self, amount: u128) -> Result<TxHandle> {
        self.fund(amount)
    }

    async fn token_balance(&self, account: &Account) -> Result<Option<u128>> {
        let account = canonical_account(account)?;
        Ok(Some(
            self.ledger
                .lock()?
                .state
                .balances
                .get(&account)
                .copied()
                .unwrap_or(0),
        ))
    }
}
