//! The embedded local ledger: the contracts' semantics, persisted to one crash-safe file.
//!
//! Every state change is one [`Entry`] appended to a checksummed log and `fdatasync`ed before
//! the call returns ([`log`] describes the file format and the torn-tail rule); opening the
//! file replays the entries. State lives in memory, so reads never touch the disk.
//!
//! Semantics mirror `contracts/src/DeviceRegistry.sol` and `RewardDistributor.sol`, check
//! order included:
//!
//! * **register**: deadline ([`Error::Expired`]), not yet registered
//!   ([`Error::AlreadyRegistered`], also after revocation), then the device signature
//!   ([`Error::InvalidProof`]): a depin-core [`Domain`] signature with
//!   [`depin_core::MessageKind::DEVICE_REGISTRATION`] over
//!   [`DeviceRegistration::signing_message`] with nonce 0. Any key type.
//! * **revoke**: [`Error::NotFound`], then owner or admin ([`Error::Unauthorized`]), then
//!   [`Error::AlreadyRevoked`].
//! * **publish_root**: oracle only, zero root refused, same root and total again is a no-op,
//!   anything else for a published epoch is [`Error::EpochAlreadyPublished`], an unpublished
//!   epoch not after the latest is [`Error::EpochNotIncreasing`].
//! * **claim**: against the latest root only: [`Error::NoRoot`], [`Error::InvalidProof`],
//!   [`Error::AlreadyClaimed`] when the cumulative amount is not above what was claimed,
//!   [`Error::InsufficientFunds`] when the pool is short; pays the difference.
//! * **fund** (local only): the admin adds tokens to the pool, as transferring ERC-20 to the
//!   distributor does on an EVM chain.
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

/// Who may do what on a local ledger; recorded in the first entry of the file.
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
    domain: Domain,
    devices: HashMap<DeviceId, DeviceState>,
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

impl State {
    fn new(genesis: Genesis) -> Result<Self> {
        let network = NetworkId::new(&genesis.network)
            .map_err(|e| Error::Config(format!("network id {:?}: {e}", genesis.network)))?;
        Ok(State {
            domain: Domain::new(network),
            genesis,
            devices: HashMap::new(),
            roots: BTreeMap::new(),
            claimed: HashMap::new(),
            balances: HashMap::new(),
            pool: 0,
            txs: HashMap::new(),
            next_seq: 1,
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
            }
            Entry::Revoke { device, .. } => {
                let d = self
                    .devices
                    .get_mut(device)
                    .ok_or_else(|| Error::Corrupt(format!("revoke of unknown {device}")))?;
                d.active = false;
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
    /// Open or create the ledger at `path`. A new file records `genesis`; an existing file
    /// must have been created with the same genesis ([`Error::Config`] otherwise).
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
        let (mut log, report) = log::Log::open(path)?;
        let mut entries = report.records.iter();
        let state = match entries.next() {
            None => {
                let state = State::new(genesis.clone())?;
                let g = Entry::Genesis {
                    network: genesis.network,
                    admin: genesis.admin,
                    oracle: genesis.oracle,
                    claim_format: genesis.claim_format,
                };
                log.append(&g.encode())?;
                state
            }
            Some(first) => {
                let stored = match Entry::decode(first)? {
                    Entry::Genesis {
                        network,
                        admin,
                        oracle,
                        claim_format,
                    } => Genesis {
                        network,
                        admin,
                        oracle,
                        claim_format,
                    },
                    _ => return Err(Error::Corrupt("first entry is not genesis".into())),
                };
                if stored != genesis {
                    return Err(Error::Config(format!(
                        "ledger {} was created with {stored:?}, not {genesis:?}",
                        path.display()
                    )));
                }
                let mut state = State::new(stored)?;
                for (i, bytes) in entries.enumerate() {
                    let seq = i as u64 + 1;
                    let entry = Entry::decode(bytes)?;
                    state.apply(&entry)?;
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

    /// A handle acting as `caller`.
    pub fn handle(&self, caller: Account) -> LocalBackend {
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

    /// The ledger's genesis (roles, network, claim format).
    pub fn genesis(&self) -> Result<Genesis> {
        Ok(self.lock()?.state.genesis.clone())
    }

    /// The registration signing domain.
    pub fn domain(&self) -> Result<Domain> {
        Ok(self.lock()?.state.domain)
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
    pub fn append_note(&self, bytes: &[u8]) -> Result<u64> {
        let mut inner = self.lock()?;
        let entry = Entry::Note(bytes.to_vec());
        let (_, seq) = commit(&mut inner, &entry)?;
        Ok(seq)
    }

    /// Every entry after genesis with its sequence number, read back from the file (not from
    /// memory), verifying checksums. Used by the crash test and by audits.
    pub fn read_entries(path: impl AsRef<Path>) -> Result<Vec<(u64, Entry)>> {
        let bytes = std::fs::read(path)?;
        let body = bytes
            .strip_prefix(log::MAGIC.as_slice())
            .ok_or_else(|| Error::Corrupt("not a depin-chains ledger file".into()))?;
        let scan = log::scan(body)?;
        scan.records
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, r)| Ok((i as u64, Entry::decode(r)?)))
            .collect()
    }

    /// Add `amount` to the distributor pool; admin only.
    pub fn fund(&self, by: &Account, amount: u128) -> Result<TxHandle> {
        let mut inner = self.lock()?;
        if *by != inner.state.genesis.admin {
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
        let (tx, _) = commit(
            &mut inner,
            &Entry::Fund {
                amount,
                by: by.clone(),
            },
        )?;
        Ok(tx)
    }
}

/// Validate-then-commit: append the entry durably, then apply it in memory.
fn commit(inner: &mut Inner, entry: &Entry) -> Result<(TxHandle, u64)> {
    if inner.poisoned {
        return Err(Error::Corrupt(
            "an earlier write failed; reopen the ledger".into(),
        ));
    }
    let payload = entry.encode();
    if let Err(e) = inner.log.append(&payload) {
        inner.poisoned = true;
        return Err(e);
    }
    let seq = inner.state.next_seq;
    inner.state.apply(entry)?;
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

    fn register_sync(
        &self,
        registration: &DeviceRegistration,
        proof: &RegistrationProof,
    ) -> Result<TxHandle> {
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
        inner
            .state
            .domain
            .verify(
                &key,
                depin_core::MessageKind::DEVICE_REGISTRATION,
                &registration.signing_message(0),
                signature,
            )
            .map_err(|_| Error::InvalidProof)?;
        let (tx, _) = commit(
            &mut inner,
            &Entry::Register {
                device: registration.device,
                owner: registration.owner.clone(),
                metadata: registration.metadata.clone(),
                deadline: registration.deadline,
                by: self.caller.clone(),
            },
        )?;
        Ok(tx)
    }

    fn revoke_sync(&self, device: &DeviceId) -> Result<TxHandle> {
        let mut inner = self.ledger.lock()?;
        let d = inner
            .state
            .devices
            .get(device)
            .ok_or_else(|| Error::NotFound(format!("device {device}")))?;
        if self.caller != d.owner && self.caller != inner.state.genesis.admin {
            return Err(Error::Unauthorized(format!(
                "{} is neither the owner of {device} nor the admin",
                self.caller
            )));
        }
        if !d.active {
            return Err(Error::AlreadyRevoked(device.to_string()));
        }
        let (tx, _) = commit(
            &mut inner,
            &Entry::Revoke {
                device: *device,
                by: self.caller.clone(),
            },
        )?;
        Ok(tx)
    }

    fn publish_sync(&self, root: &EpochRoot) -> Result<PublishOutcome> {
        let mut inner = self.ledger.lock()?;
        let state = &inner.state;
        if self.caller != state.genesis.oracle {
            return Err(Error::Unauthorized(format!(
                "{} is not the oracle",
                self.caller
            )));
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
                by: self.caller.clone(),
            },
        )?;
        Ok(PublishOutcome::Published(tx))
    }

    fn claim_sync(&self, claim: &Claim) -> Result<TxHandle> {
        let mut inner = self.ledger.lock()?;
        let state = &inner.state;
        let latest = state
            .roots
            .last_key_value()
            .map(|(_, root)| root)
            .ok_or(Error::NoRoot)?;
        match verify_claim(state.genesis.claim_format, &latest.root, claim) {
            Ok(true) => {}
            // a wrong-kind account cannot be in the tree: the proof cannot verify
            Ok(false) | Err(Error::InvalidInput(_)) => return Err(Error::InvalidProof),
            Err(e) => return Err(e),
        }
        let already = state.claimed.get(&claim.account).copied().unwrap_or(0);
        if claim.cumulative_amount <= already {
            return Err(Error::AlreadyClaimed {
                account: claim.account.clone(),
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
                account: claim.account.clone(),
                cumulative: claim.cumulative_amount,
                paid,
                by: self.caller.clone(),
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
        let inner = self.ledger.lock()?;
        let nonce = u64::from(inner.state.devices.contains_key(&registration.device));
        Ok(RegistrationChallenge::Domain {
            domain: inner.state.domain,
            message: registration.signing_message(nonce),
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
        Ok(self
            .ledger
            .lock()?
            .state
            .claimed
            .get(account)
            .copied()
            .unwrap_or(0))
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        Ok(Some(self.ledger.lock()?.state.pool))
    }

    async fn token_balance(&self, account: &Account) -> Result<Option<u128>> {
        Ok(Some(
            self.ledger
                .lock()?
                .state
                .balances
                .get(account)
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
