//! Durable oracle state behind one trait: the attestation log with its verdicts, epoch
//! status, epoch results (receipts, claim tree, root) and small metadata.
//!
//! An oracle is a single writer per process: it verifies a batch, then commits the batch
//! and every verdict in **one transaction** ([`OracleStore::commit_batch`]) before it
//! acknowledges anything. What the store holds is therefore exactly what was acknowledged.
//!
//! # What is logged
//! - Every item whose **signature verified** (accepted, or refused afterwards by the replay
//!   window or a policy), with its raw bytes, its device, kind, sequence number, timestamp,
//!   signing digest, the epoch of its timestamp and its verdict ([`LoggedItem`]). These are
//!   the items that changed verifier state (a verified sequence number is consumed even when
//!   a policy refuses the item), so replaying them in batch order with the batch's `now`
//!   rebuilds the replay windows and every policy's state after a restart, with no snapshot
//!   format per policy ([`crate::Verifier::replay_batch`]).
//! - Items refused before their signature verified are not logged (a flood of garbage
//!   stores nothing but counts): they are counted per (epoch, device, reason) when their
//!   device is registered, and per (epoch, reason) otherwise ([`RejectionCount`]).
//!
//! # Accepted means counted once
//! Several ingest processes may share one store. An accepted item whose (device, format,
//! sequence number) is already stored as accepted is stored as [`Rejection::Replayed`]
//! instead, and [`Committed::duplicates`] names it. (A signed item's digest binds its
//! format, signer and sequence number, so a resent copy always meets its first copy this
//! way; the digest is stored but need not be unique: an index on it is written at a random
//! place per item and nearly doubled the write volume of a 10M-item epoch.) An accepted item
//! whose epoch is already closing or closed ([`OracleStore::closed_through`]) is stored as
//! [`Rejection::EpochClosed`] and named in [`Committed::closed`]. Both checks run inside the
//! commit's transaction, serialised with [`OracleStore::begin_close`], so an epoch's set of
//! accepted items never changes once its close has begun.
//!
//! # Implementations
//! [`sqlite::SqliteStore`] (feature `sqlite`: one file, WAL, `synchronous=FULL`) is the
//! embedded default. A PostgreSQL store for several ingest processes implements the same
//! trait (its commit must take the duplicate and closed checks under the same lock as
//! [`OracleStore::begin_close`]). [`conformance`] is the test suite a store must pass; run
//! it against your own store.

use depin_core::{DeviceId, Epoch, Timestamp, TrustLevel};
use serde::{Deserialize, Serialize};

use crate::kind::AttestationKind;
use crate::pipeline::Outcome;
use crate::reason::Rejection;

pub mod conformance;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[allow(unused_imports)]
pub(crate) use sql::{
    add_count, corrupt, digest32, epoch_in, epoch_key, epoch_out, outcome_json, parse_device,
    parse_reason, parse_status, parse_u128, sql_limit,
};
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// A store's result.
pub type StoreResult<T> = core::result::Result<T, StoreError>;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or cannot write now (connection lost, disk full, locked):
    /// nothing of the operation was stored; retry later. An ingest answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The stored data contradicts the operation (an epoch result with another root than the
    /// one already stored, a status that cannot follow the stored one).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// Stored data that does not decode (a row written by something else, or damaged).
    #[error("store data corrupt: {0}")]
    Corrupt(String),
}

/// The wire format of a logged item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemFormat {
    /// A depin-core report frame (replay stream 0).
    Frame,
    /// A signed envelope (replay stream 1).
    Envelope,
}

impl ItemFormat {
    /// The number stored for it: 0 frame, 1 envelope (also its replay stream).
    pub fn code(self) -> u8 {
        match self {
            ItemFormat::Frame => 0,
            ItemFormat::Envelope => 1,
        }
    }

    /// From [`ItemFormat::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ItemFormat::Frame),
            1 => Some(ItemFormat::Envelope),
            _ => None,
        }
    }
}

/// What the oracle decided about a logged item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredVerdict {
    /// Accepted, with what it produced.
    Accepted(Outcome),
    /// Refused after its signature verified.
    Rejected(Rejection),
}

impl StoredVerdict {
    /// Whether it is accepted.
    pub fn is_accepted(&self) -> bool {
        matches!(self, StoredVerdict::Accepted(_))
    }
}

/// One logged item: an item whose signature verified, with its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedItem {
    /// Its position in its batch's input (unique per batch).
    pub index: u32,
    /// Its wire format.
    pub format: ItemFormat,
    /// The raw bytes as received.
    pub bytes: Vec<u8>,
    /// The signing device.
    pub device: DeviceId,
    /// Its attestation kind.
    pub kind: AttestationKind,
    /// Its sequence number (per device and format).
    pub seq: u64,
    /// Its timestamp.
    pub timestamp: Timestamp,
    /// Its signing digest (unique per signed item).
    pub digest: [u8; 32],
    /// The epoch its timestamp falls in: the epoch it counts for.
    pub epoch: Epoch,
    /// The processing time of the batch that verified it ([`BatchRecord::now`]: its
    /// arrival, which rules that order items by arrival, such as coverage witness
    /// selection, need at close). [`OracleStore::commit_batch`] stores the batch's `now`
    /// for every item of the batch, whatever this field says; reads give the batch's.
    pub now: Timestamp,
    /// The verdict.
    pub verdict: StoredVerdict,
    /// The device's trust level when the item was verified ([`crate::Accepted::trust`];
    /// [`TrustLevel::Untrusted`] for refused items): what trust-priced reward rules read at
    /// close, so that payouts stay a function of the stored items.
    #[serde(default)]
    pub trust: TrustLevel,
}

/// Refused items that are not logged, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionCount {
    /// The epoch (of the batch's processing time).
    pub epoch: Epoch,
    /// The registered device it claimed to come from, if any (`None`: unknown or
    /// undecodable sender).
    pub device: Option<DeviceId>,
    /// The reason.
    pub reason: Rejection,
    /// How many.
    pub count: u64,
}

/// One verified batch: what [`OracleStore::commit_batch`] makes durable at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The ingest process that verified it (its replay after a restart is its own).
    pub origin: String,
    /// The processing time the verifier was given.
    pub now: Timestamp,
    /// The items whose signature verified, in input order.
    pub items: Vec<LoggedItem>,
    /// The other refused items, counted.
    pub rejections: Vec<RejectionCount>,
}

/// A batch's identifier: increasing in commit order per store, starting at 1 (so `after =
/// 0` means from the beginning).
pub type BatchId = u64;

/// What [`OracleStore::commit_batch`] stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The batch's id.
    pub id: BatchId,
    /// [`LoggedItem::index`] of accepted items whose device, format and sequence number are
    /// already stored as accepted in the item's epoch (a copy of an item has its
    /// timestamp, so its epoch; PostgreSQL also refuses the key across epochs): stored as
    /// [`Rejection::Replayed`].
    pub duplicates: Vec<u32>,
    /// [`LoggedItem::index`] of accepted items of an epoch whose close has begun: stored as
    /// [`Rejection::EpochClosed`].
    pub closed: Vec<u32>,
}

/// An epoch's status. Epochs close in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochStatus {
    /// Taking data.
    Open,
    /// Its set of accepted items is frozen; the result is being computed.
    Closing,
    /// The result (receipts, tree, root) is stored; not yet known to be published.
    Computed,
    /// The root is published on the chain (or there was nothing to publish).
    Published,
}

impl EpochStatus {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochStatus::Open => "open",
            EpochStatus::Closing => "closing",
            EpochStatus::Computed => "computed",
            EpochStatus::Published => "published",
        }
    }

    /// From [`EpochStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => EpochStatus::Open,
            "closing" => EpochStatus::Closing,
            "computed" => EpochStatus::Computed,
            "published" => EpochStatus::Published,
            _ => return None,
        })
    }
}

/// An epoch's close result, as [`OracleStore::put_result`] stores it. Amounts are base
/// units; the blobs are the caller's serialisation (JSON in the depin-rs oracle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochResult {
    /// The cumulative claim tree's root (all zero if nobody has earned anything yet).
    pub root: [u8; 32],
    /// Credited in this epoch.
    pub epoch_total: u128,
    /// The cumulative total of the tree.
    pub cumulative_total: u128,
    /// Accepted items counted: those logged as accepted, less the ones the rules refused
    /// at close ([`EpochResult::close_rejections`]).
    pub accepted: u64,
    /// Accepted items the network's rules refused at close, by device and reason, with
    /// their counts (a coverage witness that was not selected, say: its verdict at ingest
    /// was "pending selection"). Stored with the result, apart from the ingest counts
    /// ([`OracleStore::rejections`] does not include them, so a recompute from the store
    /// finds the same ones again); [`OracleStore::device_epochs`] shows them. Sorted, a
    /// (device, reason) pair at most once.
    pub close_rejections: Vec<(DeviceId, Rejection, u64)>,
    /// One receipt per rewarded device.
    pub receipts: Vec<(DeviceId, Vec<u8>)>,
    /// The claim tree.
    pub tree: Vec<u8>,
    /// A summary of the epoch (emission, pools, totals by reason, ...).
    pub summary: Vec<u8>,
}

/// An epoch's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochRow {
    /// The epoch.
    pub epoch: Epoch,
    /// Its status.
    pub status: EpochStatus,
    /// Who began its close ([`BatchRecord::origin`] of the closer).
    pub closer: Option<String>,
    /// The root, once computed.
    pub root: Option<[u8; 32]>,
    /// Credited in the epoch, once computed.
    pub epoch_total: Option<u128>,
    /// The cumulative total, once computed.
    pub cumulative_total: Option<u128>,
    /// Accepted items counted, once computed.
    pub accepted: Option<u64>,
    /// The publishing transaction, once published (`None` if nothing needed publishing).
    pub publish_tx: Option<String>,
    /// The summary blob, once computed.
    pub summary: Option<Vec<u8>>,
}

/// What [`OracleStore::begin_close`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseStart {
    /// The caller now owns the close of the epoch (it was open, or it was already closing
    /// by the same closer, which resumes after a crash).
    Started,
    /// Another closer is closing it.
    OwnedBy(String),
    /// Already past closing.
    Already(EpochStatus),
}

/// One device's record of one epoch, for explanations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEpoch {
    /// The epoch.
    pub epoch: Epoch,
    /// Accepted items of the device counted for the epoch (less those refused at close,
    /// once the epoch is computed).
    pub accepted: u64,
    /// Refused items by reason (logged and counted ones at ingest, and those refused at
    /// close once the epoch is computed, together), sorted by reason.
    pub rejected: Vec<(Rejection, u64)>,
    /// The device's receipt, once the epoch is computed and if it was rewarded.
    pub receipt: Option<Vec<u8>>,
}

/// Durable oracle state. Implementations must make every `Ok` durable (committed and, for a
/// local file, fsynced) before returning it, and leave nothing of a failed call.
///
/// Methods take `&mut self`: one connection, one writer. Share a store between tasks behind
/// a mutex, or open one per task (SQLite: one file; PostgreSQL: one database).
pub trait OracleStore: Send {
    /// A short name for logs and metrics (`"sqlite"`, `"postgres"`).
    fn name(&self) -> &'static str;

    /// Cheap liveness check (a round trip): `Err(Unavailable)` while the store cannot
    /// write.
    fn health(&mut self) -> StoreResult<()>;

    /// Store a batch and all its verdicts in one transaction, with the duplicate and
    /// closed-epoch checks of the module documentation.
    fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed>;

    /// Every batch of `origin` with an id above `after`, in id order, with its logged
    /// items as committed (verdicts rewritten by the duplicate and closed checks; the
    /// counted [`BatchRecord::rejections`] may come back empty: they are kept per epoch,
    /// not per batch), to `f`; stops at the first error of `f`. For replay after a
    /// restart.
    fn for_each_batch(
        &mut self,
        origin: &str,
        after: BatchId,
        f: &mut dyn FnMut(BatchId, BatchRecord) -> StoreResult<()>,
    ) -> StoreResult<()>;

    /// The accepted items counted for `epoch`, ordered by (device as did:key text,
    /// format, sequence number), to `f`; stops at the first error of `f`.
    fn for_each_accepted(
        &mut self,
        epoch: Epoch,
        f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
    ) -> StoreResult<()>;

    /// The highest epoch whose close has begun (`None` if none has).
    fn closed_through(&mut self) -> StoreResult<Option<Epoch>>;

    /// Begin closing `epoch` as `closer`: freezes its accepted items. Refused with
    /// `Conflict` if an earlier epoch that has data or a row is still open (epochs close in
    /// order; an epoch with no row and no data counts as closed).
    fn begin_close(&mut self, epoch: Epoch, closer: &str, at: Timestamp)
        -> StoreResult<CloseStart>;

    /// Store the result of a closing epoch (status `computed`), its receipts and its
    /// [`EpochResult::close_rejections`], in one transaction. Storing the same result
    /// again is a no-op; another root for a computed or published epoch is `Conflict`.
    fn put_result(&mut self, epoch: Epoch, result: &EpochResult) -> StoreResult<()>;

    /// Record that a computed epoch's root is published (status `published`); again is a
    /// no-op.
    fn mark_published(&mut self, epoch: Epoch, tx: Option<&str>) -> StoreResult<()>;

    /// One epoch's row.
    fn epoch(&mut self, epoch: Epoch) -> StoreResult<Option<EpochRow>>;

    /// Up to `limit` epoch rows from `from` upwards, in epoch order.
    fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>>;

    /// The latest epoch with a stored result (computed or published).
    fn latest_result(&mut self) -> StoreResult<Option<EpochRow>>;

    /// A computed epoch's claim tree blob.
    fn tree(&mut self, epoch: Epoch) -> StoreResult<Option<Vec<u8>>>;

    /// A device's receipt for a computed epoch.
    fn receipt(&mut self, epoch: Epoch, device: &DeviceId) -> StoreResult<Option<Vec<u8>>>;

    /// A device's epochs from `from` upwards (those where it has accepted or refused items
    /// or a receipt), up to `limit`, in epoch order.
    fn device_epochs(
        &mut self,
        device: &DeviceId,
        from: Epoch,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEpoch>>;

    /// Refused items of an epoch by reason, all senders (logged and counted at ingest; not
    /// the [`EpochResult::close_rejections`]), sorted by reason.
    fn rejections(&mut self, epoch: Epoch) -> StoreResult<Vec<(Rejection, u64)>>;

    /// A metadata value (deny-list version, configuration fingerprint, ...).
    fn meta(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Set a metadata value.
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()>;
}

impl<S: OracleStore + ?Sized> OracleStore for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn health(&mut self) -> StoreResult<()> {
        (**self).health()
    }
    fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed> {
        (**self).commit_batch(batch)
    }
    fn for_each_batch(
        &mut self,
        origin: &str,
        after: BatchId,
        f: &mut dyn FnMut(BatchId, BatchRecord) -> StoreResult<()>,
    ) -> StoreResult<()> {
        (**self).for_each_batch(origin, after, f)
    }
    fn for_each_accepted(
        &mut self,
        epoch: Epoch,
        f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
    ) -> StoreResult<()> {
        (**self).for_each_accepted(epoch, f)
    }
    fn closed_through(&mut self) -> StoreResult<Option<Epoch>> {
        (**self).closed_through()
    }
    fn begin_close(
        &mut self,
        epoch: Epoch,
        closer: &str,
        at: Timestamp,
    ) -> StoreResult<CloseStart> {
        (**self).begin_close(epoch, closer, at)
    }
    fn put_result(&mut self, epoch: Epoch, result: &EpochResult) -> StoreResult<()> {
        (**self).put_result(epoch, result)
    }
    fn mark_published(&mut self, epoch: Epoch, tx: Option<&str>) -> StoreResult<()> {
        (**self).mark_published(epoch, tx)
    }
    fn epoch(&mut self, epoch: Epoch) -> StoreResult<Option<EpochRow>> {
        (**self).epoch(epoch)
    }
    fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>> {
        (**self).epochs(from, limit)
    }
    fn latest_result(&mut self) -> StoreResult<Option<EpochRow>> {
        (**self).latest_result()
    }
    fn tree(&mut self, epoch: Epoch) -> StoreResult<Option<Vec<u8>>> {
        (**self).tree(epoch)
    }
    fn receipt(&mut self, epoch: Epoch, device: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
        (**self).receipt(epoch, device)
    }
    fn device_epochs(
        &mut self,
        device: &DeviceId,
        from: Epoch,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEpoch>> {
        (**self).device_epochs(device, from, limit)
    }
    fn rejections(&mut self, epoch: Epoch) -> StoreResult<Vec<(Rejection, u64)>> {
        (**self).rejections(epoch)
    }
    fn meta(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        (**self).meta(key)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        (**self).set_meta(key, value)
    }
}
