//! The embedded local ledger: the contracts' semantics, persisted to one crash-safe file.
//!
//! Every state change is one [`Entry`] appended to a checksummed log and `fdatasync`ed before
//! the call returns ([`log`] describes the file format and the torn-tail rule); opening the
//! file replays the entries. State lives in memory, so reads never touch the disk.
//!
//! Semantics mirror `contracts/src/DeviceRegistry.sol` and `RewardDistributor.sol`, check
//! order included:
//!
//! * **register**: the owner and the submitting account must be valid accounts
//!   ([`Error::InvalidInput`]), then the deadline ([`Error::Expired`]), not yet registered
//!   ([`Error::AlreadyRegistered`], also after revocation), then the device signature
//!   ([`Error::InvalidProof`]): a depin-core [`Domain`] signature with
//!   [`depin_core::MessageKind::DEVICE_REGISTRATION`] over
//!   [`DeviceRegistration::ledger_signing_message`], which binds the ledger's unique id
//!   ([`LocalLedger::ledger_id`]) and the device's registration nonce
//!   ([`LocalLedger::registration_nonce`]). The domain is the genesis network id with the
//!   first 8 bytes of the ledger id (big-endian) as its chain id. Any key type.
//! * **revoke**: [`Error::NotFound`], then owner or admin ([`Error::Unauthorized`]), then
//!   [`Error::AlreadyRevoked`]. A revocation moves the device's nonce too.
//! * **publish_root**: oracle only, zero root refused, same root and total again is a no-op,
//!   anything else for a published epoch is [`Error::EpochAlreadyPublished`], an unpublished
//!   epoch not after the latest is [`Error::EpochNotIncreasing`].
//! * **claim**: against the latest root only: [`Error::NoRoot`], [`Error::InvalidProof`],
//!   [`Error::AlreadyClaimed`] when the cumulative amount is not above what was claimed,
//!   [`Error::InsufficientFunds`] when the pool is short; pays the difference.
//! * **fund** (local only): the admin adds tokens to the pool, as transferring ERC-20 to the
//!   distributor does on an EVM chain.
//!
//! **Accounts.** Every account is validated and stored in one canonical form before anything
//! is written: EVM addresses as they are, Cosmos addresses as valid bech32 (20- or 32-byte
//! payload, at most [`crate::types::MAX_COSMOS_ADDRESS_LEN`] characters) in lower case.
//! Role and ownership checks compare canonical forms, so an upper-case bech32 spelling of the
//! admin is the admin, before and after a reopen. An account that is not valid for its kind is
//! [`Error::InvalidInput`] and nothing is written. Every entry is also decoded back before it
//! is written: whatever the ledger acknowledges reopens identically.
//!
//! Handles ([`LocalBackend`]) share one [`LocalLedger`] and act as different accounts. A file
//! is locked exclusively by the process that opened it.

pub mod log;
pub mod record;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use depin_core::{DeviceId, Domain, Epoch, NetworkId};
use sha2::{Digest, Sha256};

use crate::backend::ChainBackend;
use crate::claims::verify_claim;
use crate::config::LocalConfig;
use crate::error::{Error, Result};
use crate::types::{
    Account, BackendKind, Claim, ClaimFormat, DeviceRecord, DeviceRegistration, EpochRoot,
    PublishOutcome, Receipt, RegistrationChallenge, RegistrationProof, TxHandle, TxStatus,
};
pub use record::Entry;

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
    active: bool,
}

#[derive(Debug)]
struct State {
    genesis: Genesis,
    ledger_id: [u8; 32],
    domain: Domain,
    devices: HashMap<DeviceId, DeviceState>,
    /// Registration nonce per device: committed registrations and revocations of the device.
    nonces: HashMap<DeviceId, u64>,
    /// Published roots by epoch; the last one is the latest (claims go against it).
    roots: BTreeMap<u64, EpochRoot>,
    claimed: HashMap<Account, u128>,
    balances: HashMap<Account, u128>,
    pool: u128,
    /// tx hash -> log sequence number (1-based; the genesis entry is 0)
    txs: HashMap<[u8; 32], u64>,
    next_seq: u64,
}

#[derive(Debug)]
struct Inner {
    log: log::Log,
    state: State,
    /// Set when a write failed and could not be rolled back; every later write is refused.
    poisoned: bool,
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
            nonces: HashMap::new(),
            roots: BTreeMap::new(),
            claimed: HashMap::new(),
            balances: HashMap::new(),
            pool: 0,
            txs: HashMap::new(),
            next_seq: 1,
        })
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

    /// Apply an entry that was already validated (at write time) or read back from the log.
    /// Consistency violations during replay mean the file was tampered with.
    fn apply(&mut self, entry: &Entry) -> Result<()> {
        match entry {
            Entry::Genesis { .. } => return Err(Error::Corrupt("second genesis entry".into())),
            Entry::Register {
                device,
                owner,
                metadata,
                ..
            } => {
                if self.devices.contains_key(device) {
                    return Err(Error::Corrupt(format!("{device} registered twice")));
                }
                self.devices.insert(
                    *device,
                    DeviceState {
                        owner: owner.clone(),
                        metadata: metadata.clone(),
                        active: true,
                    },
                );
                self.bump_nonce(device);
            }
            Entry::Revoke { device, .. } => {
                let d = self
                    .devices
                    .get_mut(device)
                    .ok_or_else(|| Error::Corrupt(format!("revoke of unknown {device}")))?;
                d.active = false;
                self.bump_nonce(device);
            }
            Entry::Publish {
                epoch, root, total, ..
            } => {
                self.roots.insert(
                    *epoch,
                    EpochRoot {
                        epoch: Epoch(*epoch),
                        root: *root,
                        total: *total,
                    },
                );
            }
            Entry::Claim {
                account,
                cumulative,
                paid,
                ..
            } => {
                self.pool = self
                    .pool
                    .checked_sub(*paid)
                    .ok_or_else(|| Error::Corrupt("claim exceeds pool".into()))?;
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
        }
        Ok(())
    }
}

impl LocalLedger {
    /// Open or create the ledger at `path`. A new file records `genesis` and a fresh ledger id;
    /// an existing file must have been created with the same genesis ([`Error::Config`]
    /// otherwise; accounts are compared in canonical form). An invalid genesis is
    /// [`Error::Config`] before the file is touched.
    pub fn open(path: impl AsRef<Path>, genesis: Genesis) -> Result<Self> {
        let (ledger, _) = Self::open_with_report(path, genesis)?;
        Ok(ledger)
    }

    /// [`LocalLedger::open`], also returning what replay found (entries, torn bytes removed).
    pub fn open_with_report(
        path: impl AsRef<Path>,
        genesis: Genesis,
    ) -> Result<(Self, log::OpenReport)> {
        let path = path.as_ref();
        let genesis = canonical_genesis(&genesis)?;
        let (log, report) = log::Log::open(path)?;
        Self::from_log(path, log, report, genesis)
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
                })),
            },
            report,
        ))
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
    /// on another, even one with the same genesis.
    pub fn ledger_id(&self) -> Result<[u8; 32]> {
        Ok(self.lock()?.state.ledger_id)
    }

    /// The registration signing domain: the genesis network id, with the first 8 bytes of the
    /// ledger id (big-endian) as chain id.
    pub fn domain(&self) -> Result<Domain> {
        Ok(self.lock()?.state.domain)
    }

    /// The device's registration nonce: the number of committed registrations and
    /// revocations of it (0 for a device the ledger has never seen). Part of the signed
    /// registration message, so a proof verifies for one state of the device only.
    pub fn registration_nonce(&self, device: &DeviceId) -> Result<u64> {
        Ok(self.lock()?.state.nonce(device))
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
    /// memory), verifying checksums. Used by the crash test and by audits.
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

    fn register_sync(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
        let by = self.by()?;
        let registration = canonical_registration(registration)?;
        let mut inner = self.ledger.lock()?;
        if registration.deadline < now_secs() {
            return Err(Error::Expired {
                deadline: registration.deadline,
            });
        }
        if inner.state.devices.contains_key(&registration.device) {
            return Err(Error::AlreadyRegistered(registration.device.to_string()));
        }
        let signature = match proof {
            RegistrationProof::Domain(sig) => sig,
            _ => return Err(Error::InvalidProof),
        };
        let key = registration
            .device
            .public_key()
            .map_err(|_| Error::InvalidProof)?;
        let message = inner.state.registration_message(&registration);
        inner
            .state
            .domain
            .verify(
                &key,
                depin_core::MessageKind::DEVICE_REGISTRATION,
                &message,
                signature,
            )
            .map_err(|_| Error::InvalidProof)?;
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
                by,
            },
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
        let state = &inner.state;
        if by != state.genesis.oracle {
            return Err(Error::Unauthorized(format!("{by} is not the oracle")));
        }
        root.check_publishable()?;
        if let Some(existing) = state.roots.get(&root.epoch.0) {
            return root.republish(existing);
        }
        if let Some(&latest) = state.roots.keys().next_back() {
            if root.epoch.0 <= latest {
                return Err(Error::EpochNotIncreasing {
                    epoch: root.epoch,
                    latest: Epoch(latest),
                });
            }
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::Publish {
                epoch: root.epoch.0,
                root: root.root,
                total: root.total,
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
        let state = &inner.state;
        let latest = state
            .roots
            .last_key_value()
            .map(|(_, root)| root)
            .ok_or(Error::NoRoot)?;
        match verify_claim(state.genesis.claim_format, &latest.root, &claim) {
            Ok(true) => {}
            // a wrong-kind account cannot be in the tree: the proof cannot verify
            Ok(false) | Err(Error::InvalidInput(_)) => return Err(Error::InvalidProof),
            Err(e) => return Err(e),
        }
        let already = state.claimed.get(&claim.account).copied().unwrap_or(0);
        if claim.cumulative_amount <= already {
            return Err(Error::AlreadyClaimed {
                account: claim.account,
                cumulative: claim.cumulative_amount,
                claimed: already,
            });
        }
        let paid = claim.cumulative_amount - already;
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
impl ChainBackend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn account(&self) -> Option<Account> {
        Some(self.caller.clone())
    }

    fn claim_format(&self) -> ClaimFormat {
        self.ledger
            .lock()
            .map(|i| i.state.genesis.claim_format)
            .unwrap_or(ClaimFormat::OpenZeppelin)
    }

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

    async fn device(&self, device: &DeviceId) -> Result<DeviceRecord> {
        let inner = self.ledger.lock()?;
        let d = inner
            .state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        Ok(DeviceRecord {
            device: *device,
            owner: d.owner.clone(),
            key_type: device.key_type(),
            metadata_hash: Sha256::digest(&d.metadata).into(),
            active: d.active,
        })
    }

    async fn publish_root(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        self.publish_sync(root)
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
