//! A verifier registry that follows a chain: [`ChainRegistry`] implements the attestation
//! verifier's [`Registry`] from any chain registry ([`crate::RegistryBackend`]: a whole [`crate::ChainBackend`] or the registry role alone), so devices registered or revoked on the
//! chain reach the verifier without anyone copying them by hand.
//!
//! Lookups ([`Registry::device`], [`Registry::resolve_hint`]) never touch the chain: they
//! are answered from an in-memory snapshot under a read lock. [`ChainRegistry::sync`]
//! (driven by [`ChainRegistry::spawn_sync_loop`] or by the caller) re-reads every tracked
//! device with [`crate::RegistryBackend::device`] and applies the whole round to the snapshot in one
//! step. Each entry remembers when the chain last confirmed it.
//!
//! # Which devices are tracked
//!
//! - Devices given to [`ChainRegistry::follow`] / [`ChainRegistry::follow_many`] (an
//!   onboarding feed), until [`ChainRegistry::unfollow`].
//! - With [`Untracked::AutoFollow`] (the default), any device id looked up by
//!   [`Registry::device`]: the lookup answers [`Lookup::Unavailable`] and queues the id; the
//!   next sync reads it. Found on chain, it stays tracked from then on. Not found, it answers
//!   [`Lookup::Unknown`] and is re-read by every sync for `max_staleness`, then dropped (the
//!   next lookup queues it again), so ids nobody registered do not pile up.
//! - With [`Untracked::Closed`], only followed devices exist: any other id is
//!   [`Lookup::Unknown`] at once, and nothing is queued.
//!
//! Hints are only known for tracked devices (a chain cannot be asked "which key has this
//! hint"): a device that sends only hint-named frames must be followed, or be looked up by
//! id once, before its hint resolves.
//!
//! # Memory bound
//!
//! At most `max_queued` ids wait in the queue, and at most `max_queued` auto-followed ids
//! that the chain has not (yet) confirmed are kept in the snapshot. Beyond the queue bound a
//! lookup of an untracked id still answers [`Lookup::Unavailable`] (never a guess, and never
//! a rejection of a device that may be registered) but is not queued; it is queued by a
//! lookup after the next sync has drained the queue. So a flood of random ids costs at most
//! `2 × max_queued` ids of memory and `2 × max_queued` extra chain reads per sync, and can
//! delay the pick-up of auto-followed new devices (followed devices are never affected).
//!
//! # Staleness bound
//!
//! Write `I` for the sync interval, `D` for the duration of one sync (about `tracked /
//! concurrency × read latency`) and `F` for how far behind the chain head the backend's reads
//! are (its finality setting; zero for the local ledger).
//!
//! - A registration or revocation of a tracked (or queued) device at time `t` is reflected in
//!   lookups by `t + F + I + D`, when syncs run every `I` and take no longer than `I` (if a
//!   sync takes longer than `I`, the next one starts right after it and the bound is
//!   `t + F + 2D`). A device first looked up at time `t` under [`Untracked::AutoFollow`] is
//!   answered from the chain by the same bound.
//! - Every [`Lookup::Found`] or [`Lookup::Unknown`] answer is based on a chain read that
//!   *started* at most `max_staleness` before the lookup. An entry whose last confirmation is
//!   older answers [`Lookup::Unavailable`] (fail closed). A read that fails leaves the entry
//!   as it was without refreshing its confirmation, so when syncing fails the verifier never
//!   acts on chain state older than `max_staleness`: a revocation is never missed for longer
//!   than `max_staleness` (plus `F`).
//!
//! Pick `max_staleness` above `I + 2D` (with margin for a failed read or two), or healthy
//! entries will flicker to [`Lookup::Unavailable`] between syncs;
//! [`ChainRegistry::spawn_sync_loop`] refuses an interval that is not below `max_staleness`.
//!
//! # Determinism
//!
//! Answers change only when a sync applies its round (one write-locked step), when devices
//! are followed or unfollowed, and when an entry's confirmation crosses `max_staleness`. For
//! a batch that must see one time, pass the same instant to [`ChainRegistry::device_at`] and
//! [`ChainRegistry::resolve_hint_at`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use depin_attest::registry::{
    DeviceRecord as AttestRecord, DeviceStatus, KindSet, Lookup, Registry,
};
use depin_core::{DeviceId, KeyHint};

use crate::backend::RegistryBackend;
use crate::error::{Error, Result};
use crate::types::RegisteredDevice as ChainRecord;

/// Default [`Builder::max_staleness`]: ten minutes.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(600);

/// Default [`Builder::max_queued`]: 100 000 ids.
pub const DEFAULT_MAX_QUEUED: usize = 100_000;

/// Default [`Builder::concurrency`]: chain reads in flight at once during a sync.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Most per-device errors a [`SyncReport`] keeps (the rest are only counted).
pub const MAX_REPORTED_ERRORS: usize = 8;

/// Maps the chain's record of a device to the verifier's: configure one with
/// [`Builder::map_with`]; the default is [`default_record`].
pub type MapFn = dyn Fn(&ChainRecord) -> AttestRecord + Send + Sync;

/// The registry's clock: configure one with [`Builder::clock`]; the default is
/// [`Instant::now`].
pub type ClockFn = dyn Fn() -> Instant + Send + Sync;

/// What a lookup of a device that is not tracked answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Untracked {
    /// [`Lookup::Unavailable`], and the id is queued for the next sync (within the queue
    /// bound, see the [module documentation](self)). A hint of an untracked device is
    /// [`Lookup::Unknown`].
    #[default]
    AutoFollow,
    /// [`Lookup::Unknown`]: only followed devices exist.
    Closed,
}

/// The default mapping from the chain's record to the verifier's: an active device is
/// [`DeviceStatus::Active`] and may send `allowed`; a revoked one is
/// [`DeviceStatus::Revoked`] and may send nothing. No rated power, gain, location or
/// registration time (the chain does not record them). The trust level the chain recorded
/// ([`crate::makers`]) is carried over, so policies and reward rules can price it.
pub fn default_record(record: &ChainRecord, allowed: KindSet) -> AttestRecord {
    let mut mapped = if record.active {
        AttestRecord::active(allowed)
    } else {
        let mut revoked = AttestRecord::active(KindSet::NONE);
        revoked.status = DeviceStatus::Revoked;
        revoked
    };
    mapped.trust = record.trust.level;
    mapped
}

/// Configures a [`ChainRegistry`]; from [`ChainRegistry::builder`].
pub struct Builder {
    backend: Arc<dyn RegistryBackend>,
    map: Arc<MapFn>,
    untracked: Untracked,
    max_staleness: Duration,
    max_queued: usize,
    concurrency: usize,
    clock: Arc<ClockFn>,
}

impl Builder {
    /// Map chain records with `map` instead of [`default_record`] (to add kinds, rated power
    /// or a location from the network's own data). A device revoked on chain is
    /// [`DeviceStatus::Revoked`] whatever `map` returns. `map` runs during
    /// [`ChainRegistry::sync`] and must not panic or block.
    pub fn map_with<F>(mut self, map: F) -> Self
    where
        F: Fn(&ChainRecord) -> AttestRecord + Send + Sync + 'static,
    {
        let map: Arc<MapFn> = Arc::new(map);
        self.map = map;
        self
    }

    /// What lookups of untracked devices answer (default [`Untracked::AutoFollow`]).
    pub fn untracked(mut self, untracked: Untracked) -> Self {
        self.untracked = untracked;
        self
    }

    /// Shorthand for [`Builder::untracked`] with [`Untracked::Closed`].
    pub fn closed(self) -> Self {
        self.untracked(Untracked::Closed)
    }

    /// How old an entry's last confirmation from the chain may be before its lookups answer
    /// [`Lookup::Unavailable`] (default [`DEFAULT_MAX_STALENESS`]; must not be zero).
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// Bound of the auto-follow queue, and of the auto-followed ids not confirmed on chain
    /// that the snapshot keeps (default [`DEFAULT_MAX_QUEUED`]; 0 disables queueing).
    pub fn max_queued(mut self, max_queued: usize) -> Self {
        self.max_queued = max_queued;
        self
    }

    /// Chain reads in flight at once during a sync (default [`DEFAULT_CONCURRENCY`]; 0 is
    /// taken as 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Use `clock` instead of [`Instant::now`] for confirmation times and staleness (tests,
    /// simulations). It is called on every lookup, so it must be cheap.
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> Instant + Send + Sync + 'static,
    {
        let clock: Arc<ClockFn> = Arc::new(clock);
        self.clock = clock;
        self
    }

    /// The registry, tracking nothing yet. [`Error::Config`] for a zero `max_staleness`.
    pub fn build(self) -> Result<ChainRegistry> {
        if self.max_staleness.is_zero() {
            return Err(Error::Config(
                "chain registry: max_staleness must be above zero".into(),
            ));
        }
        Ok(ChainRegistry::from_builder(self))
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("backend", &self.backend.kind())
            .field("untracked", &self.untracked)
            .field("max_staleness", &self.max_staleness)
            .field("max_queued", &self.max_queued)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// What one [`ChainRegistry::sync`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct SyncReport {
    /// When the sync started (registry clock).
    pub started: Instant,
    /// When it finished (registry clock).
    pub finished: Instant,
    /// Devices read from the chain.
    pub read: usize,
    /// Of those, found and active on chain.
    pub active: usize,
    /// Of those, found and revoked on chain.
    pub revoked: usize,
    /// Of those, not registered on chain (now [`Lookup::Unknown`]).
    pub absent: usize,
    /// Of those, reads that failed: the entry was left as it was, its confirmation not
    /// refreshed.
    pub failed: usize,
    /// The first [`MAX_REPORTED_ERRORS`] failures.
    pub errors: Vec<(DeviceId, Error)>,
    /// Queued ids taken into the snapshot (and read by this sync).
    pub admitted: usize,
    /// Queued ids dropped because the snapshot already held `max_queued` auto-followed ids
    /// not confirmed on chain.
    pub dropped: usize,
    /// Auto-followed ids dropped because the chain had not confirmed them for
    /// `max_staleness`.
    pub expired: usize,
    /// Reads not applied: the device was unfollowed meanwhile, or an overlapping sync had
    /// already applied a newer read.
    pub skipped: usize,
}

impl SyncReport {
    fn new(started: Instant) -> Self {
        SyncReport {
            started,
            finished: started,
            read: 0,
            active: 0,
            revoked: 0,
            absent: 0,
            failed: 0,
            errors: Vec::new(),
            admitted: 0,
            dropped: 0,
            expired: 0,
            skipped: 0,
        }
    }

    fn note_failure(&mut self, device: DeviceId, error: Error) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push((device, error));
        }
    }

    fn into_first_error(self) -> Error {
        self.errors
            .into_iter()
            .next()
            .map(|(_, e)| e)
            .unwrap_or_else(|| Error::transient("every chain read of the sync failed"))
    }
}

/// Why a device is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Given to `follow`: tracked until `unfollow`.
    Followed,
    /// Queued by a lookup: dropped if the chain does not confirm it for `max_staleness`.
    Auto,
}

/// What the chain last said about a tracked device.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Never read successfully; tracked since `since`.
    Pending { since: Instant },
    /// Registered (active or revoked), mapped.
    Found(AttestRecord),
    /// Not registered; first found absent at `since`.
    Absent { since: Instant },
}

/// A successful chain read.
#[derive(Debug, Clone, Copy)]
enum Read {
    Found(AttestRecord),
    Absent,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    origin: Origin,
    state: State,
    /// When the read behind `state` started; `None` before the first successful read.
    confirmed: Option<Instant>,
}

impl Entry {
    fn pending(origin: Origin, since: Instant) -> Self {
        Entry {
            origin,
            state: State::Pending { since },
            confirmed: None,
        }
    }

    /// Auto-followed and not found on chain: counts against `max_queued`.
    fn counts_against_cap(&self) -> bool {
        self.origin == Origin::Auto && !matches!(self.state, State::Found(_))
    }

    /// Auto-followed and not confirmed on chain for longer than `max_staleness`.
    fn expired(&self, now: Instant, max_staleness: Duration) -> bool {
        if self.origin != Origin::Auto {
            return false;
        }
        match self.state {
            State::Pending { since } | State::Absent { since } => {
                now.saturating_duration_since(since) > max_staleness
            }
            State::Found(_) => false,
        }
    }

    fn answer(&self, now: Instant, max_staleness: Duration) -> Lookup<AttestRecord> {
        let Some(confirmed) = self.confirmed else {
            return Lookup::Unavailable;
        };
        if now.saturating_duration_since(confirmed) > max_staleness {
            return Lookup::Unavailable;
        }
        match self.state {
            State::Found(record) => Lookup::Found(record),
            State::Absent { .. } => Lookup::Unknown,
            State::Pending { .. } => Lookup::Unavailable,
        }
    }

    /// Apply a read that started at `asked`; `false` if a newer read was already applied.
    fn apply(&mut self, asked: Instant, read: Read) -> bool {
        if self.confirmed.is_some_and(|c| asked < c) {
            return false;
        }
        self.state = match (read, self.state) {
            (Read::Found(record), _) => State::Found(record),
            (Read::Absent, State::Absent { since }) => State::Absent { since },
            (Read::Absent, _) => State::Absent { since: asked },
        };
        self.confirmed = Some(asked);
        true
    }
}

/// The tracked devices and their hint index.
#[derive(Debug, Default)]
struct Snapshot {
    entries: HashMap<DeviceId, Entry>,
    /// Hint -> the first tracked device with it.
    hints: HashMap<KeyHint, DeviceId>,
    /// Hint -> further tracked devices with the same hint (8-byte hints can collide).
    shared_hints: HashMap<KeyHint, Vec<DeviceId>>,
    /// Entries for which `counts_against_cap` holds.
    auto_unconfirmed: usize,
    /// Start of the last sync in which a read succeeded (or there was nothing to read).
    last_synced: Option<Instant>,
}

impl Snapshot {
    /// Track `device` (which must not be tracked yet).
    fn insert(&mut self, device: DeviceId, entry: Entry) {
        if entry.counts_against_cap() {
            self.auto_unconfirmed += 1;
        }
        if let Some(old) = self.entries.insert(device, entry) {
            // not reached (callers check first); keep the count exact anyway
            if old.counts_against_cap() {
                self.auto_unconfirmed = self.auto_unconfirmed.saturating_sub(1);
            }
            return;
        }
        self.index_hint(device);
    }

    fn remove(&mut self, device: &DeviceId) -> Option<Entry> {
        let entry = self.entries.remove(device)?;
        if entry.counts_against_cap() {
            self.auto_unconfirmed = self.auto_unconfirmed.saturating_sub(1);
        }
        self.unindex_hint(device);
        Some(entry)
    }

    /// Change a tracked entry, keeping `auto_unconfirmed` exact; `None` if not tracked.
    fn update<R>(&mut self, device: &DeviceId, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let entry = self.entries.get_mut(device)?;
        let before = entry.counts_against_cap();
        let out = f(&mut *entry);
        let after = entry.counts_against_cap();
        match (before, after) {
            (true, false) => self.auto_unconfirmed = self.auto_unconfirmed.saturating_sub(1),
            (false, true) => self.auto_unconfirmed += 1,
            _ => {}
        }
        Some(out)
    }

    fn index_hint(&mut self, device: DeviceId) {
        let hint = device.key_hint();
        match self.hints.get(&hint).copied() {
            None => {
                self.hints.insert(hint, device);
            }
            Some(first) if first == device => {}
            Some(_) => {
                let shared = self.shared_hints.entry(hint).or_default();
                if !shared.contains(&device) {
                    shared.push(device);
                }
            }
        }
    }

    fn unindex_hint(&mut self, device: &DeviceId) {
        let hint = device.key_hint();
        if self.hints.get(&hint) == Some(device) {
            let next = self
                .shared_hints
                .get_mut(&hint)
                .and_then(|shared| (!shared.is_empty()).then(|| shared.remove(0)));
            match next {
                Some(next) => {
                    self.hints.insert(hint, next);
                }
                None => {
                    self.hints.remove(&hint);
                }
            }
        } else if let Some(shared) = self.shared_hints.get_mut(&hint) {
            shared.retain(|d| d != device);
        }
        if self.shared_hints.get(&hint).is_some_and(|s| s.is_empty()) {
            self.shared_hints.remove(&hint);
        }
    }
}

/// A [`Registry`] that follows a chain registry ([`crate::RegistryBackend`])'s registrations and revocations: lookups
/// are served from an in-memory snapshot, [`ChainRegistry::sync`] refreshes it from the
/// chain, and entries not confirmed for `max_staleness` answer [`Lookup::Unavailable`]. See
/// the [module documentation](self) for the staleness and memory bounds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), depin_chains::Error> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use depin_attest::registry::{DeviceStatus, KindSet, Registry};
/// use depin_chains::follow::ChainRegistry;
/// use depin_chains::local::{Genesis, LocalLedger};
/// use depin_chains::prelude::*;
/// use depin_chains::{Account, ClaimFormat, DeviceRegistration};
/// use depin_core::{DeviceId, EvmAddress, KeyType, SigningKey};
///
/// let dir = tempfile::tempdir()?;
/// let admin = Account::Evm(EvmAddress([0xaa; 20]));
/// let ledger = LocalLedger::open(dir.path().join("ledger.log"), Genesis {
///     network: "demo-net".into(),
///     admin: admin.clone(),
///     oracle: admin.clone(),
///     claim_format: ClaimFormat::OpenZeppelin,
/// })?;
/// let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[7; 32])?;
/// let device = DeviceId::from(key.public_key());
/// let reg = DeviceRegistration::new(device, admin.clone(), Vec::new(), ledger.now()? + 3_600);
/// ledger.handle(admin.clone()).register_with_signer(&reg, &key).await?;
///
/// let registry = ChainRegistry::builder(Arc::new(ledger.handle(admin.clone())), KindSet::ALL)
///     .max_staleness(Duration::from_secs(300))
///     .build()?;
/// registry.follow(device)?;
/// registry.sync().await?;
/// assert_eq!(registry.device(&device).found().map(|r| r.status), Some(DeviceStatus::Active));
///
/// ledger.handle(admin).revoke_device(&device).await?;
/// registry.sync().await?;
/// assert_eq!(registry.device(&device).found().map(|r| r.status), Some(DeviceStatus::Revoked));
/// # Ok(()) }
/// ```
pub struct ChainRegistry {
    backend: Arc<dyn RegistryBackend>,
    map: Arc<MapFn>,
    untracked: Untracked,
    max_staleness: Duration,
    max_queued: usize,
    concurrency: usize,
    clock: Arc<ClockFn>,
    snapshot: RwLock<Snapshot>,
    queue: Mutex<HashSet<DeviceId>>,
}

fn poisoned() -> Error {
    Error::Corrupt("chain registry lock poisoned by a panic".into())
}

impl ChainRegistry {
    /// A builder reading from `backend`, mapping active devices to [`DeviceStatus::Active`]
    /// with `allowed` kinds ([`default_record`]); the other settings at their defaults.
    pub fn builder(backend: Arc<dyn RegistryBackend>, allowed: KindSet) -> Builder {
        let map: Arc<MapFn> = Arc::new(move |record: &ChainRecord| default_record(record, allowed));
        let clock: Arc<ClockFn> = Arc::new(Instant::now);
        Builder {
            backend,
            map,
            untracked: Untracked::default(),
            max_staleness: DEFAULT_MAX_STALENESS,
            max_queued: DEFAULT_MAX_QUEUED,
            concurrency: DEFAULT_CONCURRENCY,
            clock,
        }
    }

    /// A registry with every setting at its default (see [`ChainRegistry::builder`]).
    pub fn new(backend: Arc<dyn RegistryBackend>, allowed: KindSet) -> Self {
        Self::from_builder(Self::builder(backend, allowed))
    }

    fn from_builder(b: Builder) -> Self {
        ChainRegistry {
            backend: b.backend,
            map: b.map,
            untracked: b.untracked,
            max_staleness: b.max_staleness,
            max_queued: b.max_queued,
            concurrency: b.concurrency.max(1),
            clock: b.clock,
            snapshot: RwLock::new(Snapshot::default()),
            queue: Mutex::new(HashSet::new()),
        }
    }

    fn now(&self) -> Instant {
        (self.clock)()
    }

    fn read_snapshot(&self) -> Result<RwLockReadGuard<'_, Snapshot>> {
        self.snapshot.read().map_err(|_| poisoned())
    }

    fn write_snapshot(&self) -> Result<RwLockWriteGuard<'_, Snapshot>> {
        self.snapshot.write().map_err(|_| poisoned())
    }

    /// The configured staleness bound.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
    }

    /// What lookups of untracked devices answer.
    pub fn untracked(&self) -> Untracked {
        self.untracked
    }

    /// Track `device` from now on; it answers [`Lookup::Unavailable`] until a sync has read
    /// it. `true` if it was not tracked before (an auto-followed device becomes followed and
    /// gives `false`). [`Error::Corrupt`] only if a panic poisoned the registry's lock.
    pub fn follow(&self, device: DeviceId) -> Result<bool> {
        Ok(self.follow_many([device])? == 1)
    }

    /// Track every device of `devices`; returns how many were not tracked before. See
    /// [`ChainRegistry::follow`].
    pub fn follow_many(&self, devices: impl IntoIterator<Item = DeviceId>) -> Result<usize> {
        // collected first: the caller's iterator never runs under the lock
        let devices: Vec<DeviceId> = devices.into_iter().collect();
        let now = self.now();
        let mut snap = self.write_snapshot()?;
        let mut added = 0;
        for device in devices {
            if snap.entries.contains_key(&device) {
                snap.update(&device, |e| e.origin = Origin::Followed);
            } else {
                snap.insert(device, Entry::pending(Origin::Followed, now));
                added += 1;
            }
        }
        Ok(added)
    }

    /// Stop tracking `device`; `true` if it was tracked or queued.
    pub fn unfollow(&self, device: &DeviceId) -> Result<bool> {
        let queued = self.queue.lock().map_err(|_| poisoned())?.remove(device);
        let tracked = self.write_snapshot()?.remove(device).is_some();
        Ok(tracked || queued)
    }

    /// Whether `device` is tracked (followed, or auto-followed and admitted by a sync).
    pub fn is_tracked(&self, device: &DeviceId) -> Result<bool> {
        Ok(self.read_snapshot()?.entries.contains_key(device))
    }

    /// Number of tracked devices.
    pub fn tracked(&self) -> Result<usize> {
        Ok(self.read_snapshot()?.entries.len())
    }

    /// Number of ids waiting in the auto-follow queue for the next sync.
    pub fn queued(&self) -> Result<usize> {
        Ok(self.queue.lock().map_err(|_| poisoned())?.len())
    }

    /// When the last sync in which at least one chain read succeeded (or that had nothing to
    /// read) started, registry clock; `None` before the first. For health checks: while
    /// `now - last_synced` stays below `max_staleness`, entries that sync refreshed answer
    /// from the chain.
    pub fn last_synced(&self) -> Result<Option<Instant>> {
        Ok(self.read_snapshot()?.last_synced)
    }

    /// [`Registry::device`] as of `now` (registry clock) instead of the clock's current
    /// time. An untracked device is queued as by [`Registry::device`].
    pub fn device_at(&self, device: &DeviceId, now: Instant) -> Lookup<AttestRecord> {
        let Ok(snap) = self.snapshot.read() else {
            return Lookup::Unavailable;
        };
        if let Some(entry) = snap.entries.get(device) {
            return entry.answer(now, self.max_staleness);
        }
        drop(snap);
        match self.untracked {
            Untracked::Closed => Lookup::Unknown,
            Untracked::AutoFollow => {
                self.enqueue(device);
                Lookup::Unavailable
            }
        }
    }

    /// [`Registry::resolve_hint`] as of `now` (registry clock).
    ///
    /// The hint's tracked devices decide: two or more found on chain make the hint ambiguous,
    /// [`Lookup::Unknown`] (a registry must not resolve a hint two keys share); otherwise, if
    /// any of them is stale or not read yet, [`Lookup::Unavailable`]; otherwise the one found
    /// on chain, or [`Lookup::Unknown`]. A hint no tracked device has is [`Lookup::Unknown`]
    /// (in both [`Untracked`] modes: a hint cannot be queued).
    pub fn resolve_hint_at(&self, hint: &KeyHint, now: Instant) -> Lookup<DeviceId> {
        let Ok(snap) = self.snapshot.read() else {
            return Lookup::Unavailable;
        };
        let first = snap.hints.get(hint);
        let shared = snap.shared_hints.get(hint).into_iter().flatten();
        let mut found: Option<DeviceId> = None;
        let mut ambiguous = false;
        let mut unavailable = false;
        for device in first.into_iter().chain(shared) {
            match snap
                .entries
                .get(device)
                .map(|e| e.answer(now, self.max_staleness))
            {
                Some(Lookup::Found(_)) => {
                    if found.is_some() {
                        ambiguous = true;
                    } else {
                        found = Some(*device);
                    }
                }
                Some(Lookup::Unknown) => {}
                _ => unavailable = true,
            }
        }
        if ambiguous {
            Lookup::Unknown
        } else if unavailable {
            Lookup::Unavailable
        } else {
            Lookup::from_option(found)
        }
    }

    fn enqueue(&self, device: &DeviceId) {
        let Ok(mut queue) = self.queue.lock() else {
            return;
        };
        if queue.len() < self.max_queued {
            queue.insert(*device);
        }
    }

    /// The verifier's record of a chain record: the configured mapping, with a device
    /// revoked on chain always [`DeviceStatus::Revoked`].
    fn map_record(&self, record: &ChainRecord) -> AttestRecord {
        let mut mapped = (self.map)(record);
        if !record.active {
            mapped.status = DeviceStatus::Revoked;
        }
        mapped
    }

    /// Re-read every tracked device from the chain and apply the results to the snapshot in
    /// one step.
    ///
    /// First the auto-follow queue is drained into the snapshot (up to `max_queued`
    /// auto-followed ids not confirmed on chain) and auto-followed ids the chain has not
    /// confirmed for `max_staleness` are dropped. Then every tracked device is read with
    /// [`crate::RegistryBackend::device`], `concurrency` reads at a time. A record is mapped (a device
    /// revoked on chain becomes [`DeviceStatus::Revoked`]); [`Error::NotFound`] and
    /// [`Error::Unsupported`] (a key the chain cannot hold) mean the device is not
    /// registered ([`Lookup::Unknown`]). Each entry read successfully is confirmed as of the
    /// moment its read *started*. A failed read leaves its entry as it was and does not
    /// refresh it, so it turns [`Lookup::Unavailable`] once its last confirmation is older
    /// than `max_staleness`; a record the backend returns for another device is such a
    /// failure ([`Error::Corrupt`]).
    ///
    /// Returns what happened. If there were devices to read and every read failed, returns
    /// the first error instead (the chain is unreachable). Calls may overlap (a manual sync
    /// beside [`ChainRegistry::spawn_sync_loop`]): each entry keeps the read that started
    /// last.
    pub async fn sync(&self) -> Result<SyncReport> {
        let started = self.now();
        let mut report = SyncReport::new(started);

        let queued: Vec<DeviceId> = {
            let mut queue = self.queue.lock().map_err(|_| poisoned())?;
            queue.drain().collect()
        };
        let devices: Vec<DeviceId> = {
            let mut snap = self.write_snapshot()?;
            let expired: Vec<DeviceId> = snap
                .entries
                .iter()
                .filter(|(_, e)| e.expired(started, self.max_staleness))
                .map(|(d, _)| *d)
                .collect();
            for device in &expired {
                snap.remove(device);
            }
            report.expired = expired.len();
            for device in queued {
                if snap.entries.contains_key(&device) {
                    continue;
                }
                if snap.auto_unconfirmed >= self.max_queued {
                    report.dropped += 1;
                    continue;
                }
                snap.insert(device, Entry::pending(Origin::Auto, started));
                report.admitted += 1;
            }
            snap.entries.keys().copied().collect()
        };

        let mut reads: Vec<(DeviceId, Instant, Read)> = Vec::with_capacity(devices.len());
        let mut pending = devices.iter();
        let mut in_flight = Vec::with_capacity(self.concurrency.min(devices.len()));
        loop {
            while in_flight.len() < self.concurrency {
                let Some(device) = pending.next() else {
                    break;
                };
                let asked = self.now();
                in_flight.push((
                    *device,
                    asked,
                    RegistryBackend::device(&*self.backend, device),
                ));
            }
            if in_flight.is_empty() {
                break;
            }
            let (index, result) = poll_fn(|cx| {
                for (i, (_, _, read)) in in_flight.iter_mut().enumerate() {
                    if let Poll::Ready(result) = read.as_mut().poll(cx) {
                        return Poll::Ready((i, result));
                    }
                }
                Poll::Pending
            })
            .await;
            let (device, asked, _) = in_flight.swap_remove(index);
            report.read += 1;
            match result {
                Ok(record) if record.device == device => {
                    if record.active {
                        report.active += 1;
                    } else {
                        report.revoked += 1;
                    }
                    reads.push((device, asked, Read::Found(self.map_record(&record))));
                }
                Ok(record) => report.note_failure(
                    device,
                    Error::Corrupt(format!(
                        "the backend answered a lookup of device {device} with the record of {}",
                        record.device
                    )),
                ),
                Err(Error::NotFound(_)) | Err(Error::Unsupported(_)) => {
                    report.absent += 1;
                    reads.push((device, asked, Read::Absent));
                }
                Err(e) => report.note_failure(device, e),
            }
        }
        drop(in_flight);

        let all_failed = report.read > 0 && report.failed == report.read;
        {
            let mut snap = self.write_snapshot()?;
            for (device, asked, read) in reads {
                match snap.update(&device, |e| e.apply(asked, read)) {
                    Some(true) => {}
                    Some(false) | None => report.skipped += 1,
                }
            }
            if !all_failed {
                let newest = match snap.last_synced {
                    Some(last) if last > started => last,
                    _ => started,
                };
                snap.last_synced = Some(newest);
            }
        }
        report.finished = self.now();
        if all_failed {
            return Err(report.into_first_error());
        }
        Ok(report)
    }

    /// Run [`ChainRegistry::sync`] every `interval` on the current tokio runtime (the first
    /// right away; a sync that overruns the interval is followed by the next at once). A
    /// failed sync is not retried early: its entries simply age, and answer
    /// [`Lookup::Unavailable`] past `max_staleness`.
    ///
    /// The task holds the registry weakly: it ends once every other `Arc` of the registry is
    /// dropped (or when the handle is aborted). [`Error::Config`] if `interval` is zero or not
    /// below `max_staleness`, or if there is no tokio runtime; the runtime needs its time
    /// driver (`enable_time`).
    pub fn spawn_sync_loop(
        self: Arc<Self>,
        interval: Duration,
    ) -> Result<tokio::task::JoinHandle<()>> {
        if interval.is_zero() || interval >= self.max_staleness {
            return Err(Error::Config(format!(
                "chain registry: sync interval {interval:?} must be above zero and below \
                 max_staleness {:?}",
                self.max_staleness
            )));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config("chain registry: spawn_sync_loop needs a tokio runtime".into())
        })?;
        let registry = Arc::downgrade(&self);
        drop(self);
        Ok(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(registry) = registry.upgrade() else {
                    break;
                };
                // a failed round shows as staleness: its entries keep their last confirmation
                let _ = registry.sync().await;
            }
        }))
    }
}

impl Registry for ChainRegistry {
    fn device(&self, device: &DeviceId) -> Lookup<AttestRecord> {
        self.device_at(device, self.now())
    }

    fn resolve_hint(&self, hint: &KeyHint) -> Lookup<DeviceId> {
        self.resolve_hint_at(hint, self.now())
    }
}

impl fmt::Debug for ChainRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainRegistry")
            .field("backend", &self.backend.kind())
            .field("untracked", &self.untracked)
            .field("max_staleness", &self.max_staleness)
            .field("max_queued", &self.max_queued)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}
