//! The embedded oracle store: one SQLite file (bundled SQLite, no set-up), WAL journal,
//! `synchronous=FULL`, so every `Ok` is on disk before it is returned.
//!
//! ```no_run
//! use depin_attest::store::sqlite::SqliteStore;
//! use depin_attest::store::OracleStore;
//! let mut store = SqliteStore::open("oracle.db").unwrap();
//! store.health().unwrap();
//! ```
//!
//! # Schema (version [`SqliteStore::SCHEMA_VERSION`], in `PRAGMA user_version`)
//! - `batches(id, origin, now)`: one row per committed batch; `id` is the [`BatchId`]
//!   (`AUTOINCREMENT`: ids start at 1 and are never reused).
//! - `items(batch_id, idx, format, bytes, device, kind, seq, timestamp, digest, epoch,
//!   accepted, outcome, reason, trust)`: the logged items with their verdicts as stored
//!   (after the duplicate and closed-epoch checks). `device` is the did:key text, `outcome`
//!   the JSON of the [`Outcome`] of an accepted item, `reason` the [`Rejection::code`] of a
//!   refused one, `trust` the device's [`TrustLevel::tag`] when it was verified (version 5;
//!   opening an older file adds the column, its items untrusted).
//!   A partial index on `epoch` among accepted items finds an epoch's items for its close,
//!   which sorts them. No index is written at a random place per item (see "Counted once").
//!   Version 1 had a unique index on `digest` and one in the close's order, versions up to
//!   3 a partial unique index on `(device, format, seq)`; opening an older file drops them.
//! - `counts(epoch, device, reason, count)`: refused items by epoch, device (`''` for an
//!   unknown sender) and reason; the counted rejections of the batches and the refused
//!   logged items together.
//! - `close_counts(epoch, device, reason, count)`: accepted items the network's rules
//!   refused at close ([`EpochResult::close_rejections`]), written with the result (version
//!   3; opening a version 1 or 2 file adds the table).
//! - `device_counts(epoch, device, accepted)`: each device's accepted items of a computed
//!   epoch, written with its result (version 4; opening an older file fills it for the
//!   epochs already computed).
//! - `epochs(epoch, status, closer, closed_at, root, epoch_total, cumulative_total,
//!   accepted, publish_tx, summary, tree)`, `receipts(epoch, device, receipt)` and
//!   `meta(key, value)`.
//!
//! # Counted once
//!
//! An accepted item whose (device, format, sequence number) is already accepted in its
//! epoch is stored as [`Rejection::Replayed`]. The check is made in memory: each store
//! keeps the accepted keys of the epochs whose close has not begun, and each device's
//! accepted count in them (about 20 bytes a key), built on first use from the file (the
//! epochs' accepted items, by the epoch index) and brought up to date at each commit
//! under the write lock, from the item rows other connections added since (by rowid), so
//! two connections (or processes) writing one file still count an item once. A copy of an
//! item has the item's timestamp, so its epoch: a copy of an item of an epoch whose close
//! has begun is [`Rejection::EpochClosed`] whatever the keys say, and the keys of such
//! epochs are dropped. (PostgreSQL enforces the same with a unique index, across epochs,
//! as several processes share it; see its module.)
//!
//! Why not a unique index: devices report in turn, so consecutive items land at random
//! places of an index keyed by device, and SQLite's WAL writes every page a commit
//! dirtied. Once the index outgrows a commit's items, each item costs a whole page
//! written: 80 GiB written for a 4.4 GiB file at 10M items, against 5.7 GiB without it
//! (`docs/benchmarks.md`).
//!
//! # Encodings
//! - `u64` values (sequence numbers, timestamps, counts, accepted totals) are stored as
//!   SQLite's 64-bit signed integers by a bit cast (`v as i64`, read back with `v as u64`):
//!   every value round-trips; sequence numbers are ordered as unsigned in queries.
//! - Epochs are stored as plain integers and compared by SQL, so they must be below 2^63:
//!   a larger epoch (which no epoch schedule of milliseconds reaches) is refused with
//!   [`StoreError::Conflict`] on writes and finds nothing on reads.
//! - `u128` amounts are decimal text.
//! - Anything that does not decode (a bad did:key, an unknown reason code, a negative
//!   epoch, a digest that is not 32 bytes, ...) is [`StoreError::Corrupt`]; SQLite errors
//!   are [`StoreError::Unavailable`] (busy, I/O, disk full), except constraint violations
//!   ([`StoreError::Conflict`]) and a damaged file ([`StoreError::Corrupt`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use depin_core::{DeviceId, Epoch, Timestamp, TrustLevel};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::{
    add_count, corrupt, digest32, epoch_in, epoch_key, epoch_out, outcome_json, parse_device,
    parse_reason, parse_status, parse_u128, sql_limit, BatchId, BatchRecord, CloseStart, Committed,
    DeviceEpoch, EpochResult, EpochRow, EpochStatus, ItemFormat, LoggedItem, OracleStore,
    StoreError, StoreResult, StoredVerdict,
};
use crate::kind::AttestationKind;
use crate::pipeline::Outcome;
use crate::reason::Rejection;

/// How long a write waits for another connection's lock before it is `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page cache of each connection, KiB (SQLite's own default is 2 MiB). The index that
/// makes "counted once" a single probe is written at a random place per item (devices
/// report in turn), so once it outgrows the cache inserts read pages from disk. The cache
/// is filled only as pages are used.
const CACHE_KIB: i64 = 256 * 1024;

/// WAL pages before an automatic checkpoint (SQLite's default is 1,000, 4 MiB). A batch of
/// thousands of items dirties thousands of index pages; checkpointing after every batch
/// would write each hot page to the database file (and fsync it) once per batch instead of
/// once per checkpoint. 65,536 pages: the WAL grows to about 256 MiB between checkpoints.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 65_536;

/// The schema, created in one transaction on a new file.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    now INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_origin ON batches (origin, id);

CREATE TABLE IF NOT EXISTS items (
    batch_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    format INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    device TEXT NOT NULL,
    kind INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    digest BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    outcome TEXT,
    reason TEXT,
    trust INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, idx)
);
CREATE INDEX IF NOT EXISTS items_accepted_by_epoch ON items (epoch) WHERE accepted = 1;

CREATE TABLE IF NOT EXISTS counts (
    epoch INTEGER NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (epoch, device, reason)
);
CREATE INDEX IF NOT EXISTS counts_by_device ON counts (device, epoch);

CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    closer TEXT,
    closed_at INTEGER,
    root BLOB,
    epoch_total TEXT,
    cumulative_total TEXT,
    accepted INTEGER,
    publish_tx TEXT,
    summary BLOB,
    tree BLOB
);

CREATE TABLE IF NOT EXISTS receipts (
    epoch INTEGER NOT NULL,
    device TEXT NOT NULL,
    receipt BLOB NOT NULL,
    PRIMARY KEY (epoch, device)
);
CREATE INDEX IF NOT EXISTS receipts_by_device ON receipts (device, epoch);

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
";

/// Version 4's change: "counted once" in memory (see the module documentation), so the
/// unique index goes, and each device's accepted count of a computed epoch is kept for
/// explanations (filled for the epochs computed before).
const DEVICE_COUNTS: &str = "
DROP INDEX IF EXISTS items_accepted_stream;
CREATE TABLE IF NOT EXISTS device_counts (
    epoch INTEGER NOT NULL,
    device TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    PRIMARY KEY (epoch, device)
);
CREATE INDEX IF NOT EXISTS device_counts_by_device ON device_counts (device, epoch);
INSERT OR IGNORE INTO device_counts (epoch, device, accepted)
    SELECT i.epoch, i.device, COUNT(*) FROM items i
    JOIN epochs e ON e.epoch = i.epoch
    WHERE i.accepted = 1 AND e.status IN ('computed', 'published')
    GROUP BY i.epoch, i.device;
";

/// Version 5's addition: each item's trust level ([`TrustLevel::tag`]).
const ITEM_TRUST: &str = "ALTER TABLE items ADD COLUMN trust INTEGER NOT NULL DEFAULT 0;";

/// Version 3's addition: the items refused at close (a result's close rejections), apart
/// from the ingest counts.
const CLOSE_COUNTS: &str = "
CREATE TABLE IF NOT EXISTS close_counts (
    epoch INTEGER NOT NULL,
    device TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (epoch, device, reason)
);
CREATE INDEX IF NOT EXISTS close_counts_by_device ON close_counts (device, epoch);
";

/// The item columns `RawItem::read` expects, in order.
macro_rules! item_columns {
    () => {
        "idx, format, bytes, device, kind, seq, timestamp, digest, epoch, accepted, outcome, reason, \
         trust"
    };
}

/// How many columns `item_columns!` names (the column after them is at this index).
const ITEM_COLUMNS: usize = 13;

/// The epoch columns `RawEpoch::read` expects, in order.
macro_rules! epoch_columns {
    () => {
        "epoch, status, closer, root, epoch_total, cumulative_total, accepted, publish_tx, summary"
    };
}

/// The embedded SQLite [`OracleStore`]: one file (or memory, for tests), one connection.
///
/// Several processes may open the same file (WAL; writers wait up to 5 s for each other's
/// lock, then the call is [`StoreError::Unavailable`]). Layout and encodings: see the
/// module documentation.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    /// The accepted keys of the epochs not yet closing (see "Counted once"), once used.
    keys: Option<OpenKeys>,
}

impl SqliteStore {
    /// The schema version this build writes and reads (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: u32 = 5;

    /// Open (or create) the store in the file at `path`: WAL journal, `synchronous=FULL`,
    /// a 5 s busy timeout, a page cache of up to 256 MiB (filled as used), and the schema on
    /// a new file. A file of a newer schema version
    /// is [`StoreError::Corrupt`].
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let conn = Connection::open(path.as_ref()).map_err(db)?;
        Self::init(conn)
    }

    /// A store in memory (for tests): gone when dropped.
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(db)?;
        Self::init(conn)
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> StoreResult<u32> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        u32::try_from(v).map_err(|_| corrupt(format!("schema version {v}")))
    }

    fn init(mut conn: Connection) -> StoreResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        // Answers the journal mode now in effect ("memory" for an in-memory database).
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db)?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = FULL; PRAGMA cache_size = -{CACHE_KIB}; \
             PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};"
        ))
        .map_err(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        match version {
            0 => {
                tx.execute_batch(SCHEMA).map_err(db)?;
                tx.execute_batch(CLOSE_COUNTS).map_err(db)?;
                tx.execute_batch(DEVICE_COUNTS).map_err(db)?;
            }
            1..=4 => {
                if version == 1 {
                    // version 1 kept an index of every item by (epoch, accepted, device,
                    // format, seq): written at a random place per item, it made large
                    // epochs slow
                    tx.execute_batch(
                        "DROP INDEX IF EXISTS items_by_epoch; \
                         DROP INDEX IF EXISTS items_accepted_digest; \
                         CREATE INDEX IF NOT EXISTS items_accepted_by_epoch ON items (epoch) \
                         WHERE accepted = 1;",
                    )
                    .map_err(db)?;
                }
                if version <= 2 {
                    // no close_counts (items refused at close) before version 3
                    tx.execute_batch(CLOSE_COUNTS).map_err(db)?;
                }
                if version <= 3 {
                    tx.execute_batch(DEVICE_COUNTS).map_err(db)?;
                }
                // no trust level per item before version 5: those items count as untrusted
                let has_trust: i64 = tx
                    .query_row(
                        "SELECT COUNT(*) FROM pragma_table_info('items') WHERE name = 'trust'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                if has_trust == 0 {
                    tx.execute_batch(ITEM_TRUST).map_err(db)?;
                }
            }
            v if v == i64::from(Self::SCHEMA_VERSION) => {}
            v => {
                return Err(corrupt(format!(
                    "schema version {v}; this build knows version {}",
                    Self::SCHEMA_VERSION
                )))
            }
        }
        tx.execute_batch(&format!("PRAGMA user_version = {};", Self::SCHEMA_VERSION))
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(SqliteStore { conn, keys: None })
    }
}

/// Batches replayed by [`OracleStore::for_each_batch`] carry their items and verdicts as
/// stored, but an empty [`BatchRecord::rejections`]: the counted rejections are merged
/// into per-(epoch, device, reason) totals at commit and are not kept per batch (replay
/// needs only the items).
impl OracleStore for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn health(&mut self) -> StoreResult<()> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let closed_through = closed_through_raw(&tx)?;
        // under the write lock: the keys other connections committed are all visible
        let keys = OpenKeys::refreshed(&mut self.keys, &tx)?;
        // this batch's new keys, kept only if it commits
        let mut added: crate::FastSet<(i64, Key)> = crate::FastSet::default();
        let mut last_rowid = None;
        tx.execute(
            "INSERT INTO batches (origin, now) VALUES (?1, ?2)",
            params![batch.origin, batch.now.0 as i64],
        )
        .map_err(db)?;
        let id = tx.last_insert_rowid();
        let mut committed = Committed {
            id: id as u64,
            ..Committed::default()
        };
        {
            let mut insert = tx.prepare_cached(INSERT_ITEM).map_err(db)?;
            let mut count = tx
                .prepare_cached(
                    "INSERT INTO counts (epoch, device, reason, count) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (epoch, device, reason) \
                     DO UPDATE SET count = count + excluded.count",
                )
                .map_err(db)?;

            for item in &batch.items {
                let epoch = epoch_in(item.epoch)?;
                let device = item.device.to_string();
                let reason = match &item.verdict {
                    StoredVerdict::Rejected(r) => *r,
                    StoredVerdict::Accepted(_) if closed_through.is_some_and(|c| epoch <= c) => {
                        committed.closed.push(item.index);
                        Rejection::EpochClosed
                    }
                    StoredVerdict::Accepted(outcome) => {
                        // an accepted item whose key is already accepted in its epoch (by
                        // an earlier batch, or earlier in this one) is stored as replayed
                        let key = (keys.device(&device), item.format.code(), item.seq);
                        if keys.contains(epoch, &key) || !added.insert((epoch, key)) {
                            committed.duplicates.push(item.index);
                            Rejection::Replayed
                        } else {
                            let outcome = outcome_json(outcome)?;
                            let row = item_row(id, item, &device, epoch, Some(&outcome), None);
                            insert.execute(row).map_err(db)?;
                            last_rowid = Some(tx.last_insert_rowid());
                            continue;
                        }
                    }
                };
                let code = reason.code();
                insert
                    .execute(item_row(
                        id,
                        item,
                        &device,
                        epoch,
                        None,
                        Some(code.as_ref()),
                    ))
                    .map_err(db)?;
                last_rowid = Some(tx.last_insert_rowid());
                count
                    .execute(params![epoch, device, code.as_ref(), 1i64])
                    .map_err(db)?;
            }

            for rc in &batch.rejections {
                let device = rc.device.map(|d| d.to_string()).unwrap_or_default();
                count
                    .execute(params![
                        epoch_in(rc.epoch)?,
                        device,
                        rc.reason.code().into_owned(),
                        rc.count as i64,
                    ])
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)?;
        keys.commit(added, last_rowid);
        Ok(committed)
    }

    fn for_each_batch(
        &mut self,
        origin: &str,
        after: BatchId,
        f: &mut dyn FnMut(BatchId, BatchRecord) -> StoreResult<()>,
    ) -> StoreResult<()> {
        // Ids are at most i64::MAX: nothing lies above a larger `after`.
        let Ok(after) = i64::try_from(after) else {
            return Ok(());
        };
        let mut batches = self
            .conn
            .prepare("SELECT id, now FROM batches WHERE origin = ?1 AND id > ?2 ORDER BY id")
            .map_err(db)?;
        let mut items = self
            .conn
            .prepare(concat!(
                "SELECT ",
                item_columns!(),
                " FROM items WHERE batch_id = ?1 ORDER BY idx"
            ))
            .map_err(db)?;
        let mut rows = batches.query(params![origin, after]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let id: i64 = row.get(0).map_err(db)?;
            let now: i64 = row.get(1).map_err(db)?;
            let logged = {
                let mut item_rows = items.query(params![id]).map_err(db)?;
                let mut logged = Vec::new();
                while let Some(item) = item_rows.next().map_err(db)? {
                    logged.push(RawItem::read(item).map_err(db)?.decode(now)?);
                }
                logged
            };
            f(
                id as u64,
                BatchRecord {
                    origin: origin.to_string(),
                    now: Timestamp(now as u64),
                    items: logged,
                    rejections: Vec::new(),
                },
            )?;
        }
        Ok(())
    }

    fn for_each_accepted(
        &mut self,
        epoch: Epoch,
        f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let Some(epoch) = epoch_key(epoch) else {
            return Ok(());
        };
        // `seq < 0` first orders the bit-cast sequence numbers as unsigned.
        let mut stmt = self
            .conn
            .prepare(concat!(
                "SELECT ",
                item_columns!(),
                ", batches.now FROM items CROSS JOIN batches ON batches.id = items.batch_id \
                 WHERE epoch = ?1 AND accepted = 1 \
                 ORDER BY device, format, seq < 0, seq"
            ))
            .map_err(db)?;
        let mut rows = stmt.query(params![epoch]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let now: i64 = row.get(ITEM_COLUMNS).map_err(db)?;
            let item = RawItem::read(row).map_err(db)?.decode(now)?;
            f(item)?;
        }
        Ok(())
    }

    fn closed_through(&mut self) -> StoreResult<Option<Epoch>> {
        closed_through_raw(&self.conn)?.map(epoch_out).transpose()
    }

    fn begin_close(
        &mut self,
        epoch: Epoch,
        closer: &str,
        at: Timestamp,
    ) -> StoreResult<CloseStart> {
        let e = epoch_in(epoch)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let row: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT status, closer FROM epochs WHERE epoch = ?1",
                params![e],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        if let Some((status, owner)) = row {
            match parse_status(&status)? {
                EpochStatus::Closing => {
                    return Ok(match owner {
                        Some(o) if o == closer => CloseStart::Started,
                        other => CloseStart::OwnedBy(other.unwrap_or_default()),
                    })
                }
                s @ (EpochStatus::Computed | EpochStatus::Published) => {
                    return Ok(CloseStart::Already(s))
                }
                EpochStatus::Open => {}
            }
        }
        // Every epoch up to `closed_through` is closed (or empty): a later commit refuses
        // their items, and their close required the epochs before them closed. So only
        // the epochs between it and `epoch` can hold open data.
        let floor = closed_through_raw(&tx)?.unwrap_or(-1);
        let open_before: i64 = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM epochs WHERE epoch < ?1 AND status = 'open') \
                 OR EXISTS (SELECT 1 FROM items WHERE accepted = 1 AND epoch > ?2 AND epoch < ?1 \
                 AND NOT EXISTS (SELECT 1 FROM epochs WHERE epochs.epoch = items.epoch \
                 AND epochs.status != 'open'))",
                params![e, floor],
                |r| r.get(0),
            )
            .map_err(db)?;
        if open_before != 0 {
            return Err(StoreError::Conflict(format!(
                "cannot close {epoch}: an earlier epoch with data is still open"
            )));
        }
        tx.execute(
            "INSERT INTO epochs (epoch, status, closer, closed_at) VALUES (?1, 'closing', ?2, ?3) \
             ON CONFLICT (epoch) DO UPDATE SET status = 'closing', closer = excluded.closer, \
             closed_at = excluded.closed_at",
            params![e, closer, at.0 as i64],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(CloseStart::Started)
    }

    fn put_result(&mut self, epoch: Epoch, result: &EpochResult) -> StoreResult<()> {
        let e = epoch_in(epoch)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let row: Option<(String, Option<Vec<u8>>)> = tx
            .query_row(
                "SELECT status, root FROM epochs WHERE epoch = ?1",
                params![e],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((status, root)) = row else {
            return Err(StoreError::Conflict(format!(
                "{epoch} has not begun closing"
            )));
        };
        match parse_status(&status)? {
            EpochStatus::Open => Err(StoreError::Conflict(format!(
                "{epoch} has not begun closing"
            ))),
            EpochStatus::Computed | EpochStatus::Published => {
                if root.as_deref() == Some(&result.root[..]) {
                    Ok(())
                } else {
                    Err(StoreError::Conflict(format!(
                        "{epoch} already has a result with another root"
                    )))
                }
            }
            EpochStatus::Closing => {
                tx.execute(
                    "UPDATE epochs SET status = 'computed', root = ?2, epoch_total = ?3, \
                     cumulative_total = ?4, accepted = ?5, summary = ?6, tree = ?7 \
                     WHERE epoch = ?1",
                    params![
                        e,
                        &result.root[..],
                        result.epoch_total.to_string(),
                        result.cumulative_total.to_string(),
                        result.accepted as i64,
                        result.summary,
                        result.tree,
                    ],
                )
                .map_err(db)?;
                tx.execute("DELETE FROM receipts WHERE epoch = ?1", params![e])
                    .map_err(db)?;
                {
                    let mut insert = tx
                        .prepare(
                            "INSERT INTO receipts (epoch, device, receipt) VALUES (?1, ?2, ?3)",
                        )
                        .map_err(db)?;
                    for (device, receipt) in &result.receipts {
                        insert
                            .execute(params![e, device.to_string(), receipt])
                            .map_err(db)?;
                    }
                }
                // each device's accepted items, for explanations once the keys are gone
                tx.execute("DELETE FROM device_counts WHERE epoch = ?1", params![e])
                    .map_err(db)?;
                tx.execute(
                    "INSERT INTO device_counts (epoch, device, accepted) \
                     SELECT epoch, device, COUNT(*) FROM items \
                     WHERE epoch = ?1 AND accepted = 1 GROUP BY device",
                    params![e],
                )
                .map_err(db)?;
                tx.execute("DELETE FROM close_counts WHERE epoch = ?1", params![e])
                    .map_err(db)?;
                {
                    let mut insert = tx
                        .prepare(
                            "INSERT INTO close_counts (epoch, device, reason, count) \
                             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (epoch, device, reason) \
                             DO UPDATE SET count = count + excluded.count",
                        )
                        .map_err(db)?;
                    for (device, reason, count) in &result.close_rejections {
                        insert
                            .execute(params![
                                e,
                                device.to_string(),
                                reason.code().as_ref(),
                                *count as i64
                            ])
                            .map_err(db)?;
                    }
                }
                tx.commit().map_err(db)
            }
        }
    }

    fn mark_published(&mut self, epoch: Epoch, tx_id: Option<&str>) -> StoreResult<()> {
        let e = epoch_in(epoch)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM epochs WHERE epoch = ?1",
                params![e],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(status) = status else {
            return Err(StoreError::Conflict(format!("{epoch} has no result")));
        };
        match parse_status(&status)? {
            EpochStatus::Published => Ok(()),
            EpochStatus::Computed => {
                tx.execute(
                    "UPDATE epochs SET status = 'published', publish_tx = ?2 WHERE epoch = ?1",
                    params![e, tx_id],
                )
                .map_err(db)?;
                tx.commit().map_err(db)
            }
            s @ (EpochStatus::Open | EpochStatus::Closing) => Err(StoreError::Conflict(format!(
                "{epoch} has no result (status {})",
                s.as_str()
            ))),
        }
    }

    fn epoch(&mut self, epoch: Epoch) -> StoreResult<Option<EpochRow>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        self.conn
            .query_row(
                concat!("SELECT ", epoch_columns!(), " FROM epochs WHERE epoch = ?1"),
                params![e],
                RawEpoch::read,
            )
            .optional()
            .map_err(db)?
            .map(RawEpoch::decode)
            .transpose()
    }

    fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>> {
        let Some(from) = epoch_key(from) else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare(concat!(
                "SELECT ",
                epoch_columns!(),
                " FROM epochs WHERE epoch >= ?1 ORDER BY epoch LIMIT ?2"
            ))
            .map_err(db)?;
        let mut rows = stmt.query(params![from, sql_limit(limit)]).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            out.push(RawEpoch::read(row).map_err(db)?.decode()?);
        }
        Ok(out)
    }

    fn latest_result(&mut self) -> StoreResult<Option<EpochRow>> {
        self.conn
            .query_row(
                concat!(
                    "SELECT ",
                    epoch_columns!(),
                    " FROM epochs WHERE status IN ('computed', 'published') \
                     ORDER BY epoch DESC LIMIT 1"
                ),
                [],
                RawEpoch::read,
            )
            .optional()
            .map_err(db)?
            .map(RawEpoch::decode)
            .transpose()
    }

    fn tree(&mut self, epoch: Epoch) -> StoreResult<Option<Vec<u8>>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        let tree: Option<Option<Vec<u8>>> = self
            .conn
            .query_row(
                "SELECT tree FROM epochs WHERE epoch = ?1 \
                 AND status IN ('computed', 'published')",
                params![e],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        Ok(tree.flatten())
    }

    fn receipt(&mut self, epoch: Epoch, device: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT receipt FROM receipts WHERE epoch = ?1 AND device = ?2",
                params![e, device.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
    }

    fn device_epochs(
        &mut self,
        device: &DeviceId,
        from: Epoch,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEpoch>> {
        let Some(from) = epoch_key(from) else {
            return Ok(Vec::new());
        };
        let device = device.to_string();
        // one read transaction: the keys, the rows and the statuses agree
        let tx = self.conn.transaction().map_err(db)?;
        let keys = OpenKeys::refreshed(&mut self.keys, &tx)?;
        let mut epochs: Vec<i64> = keys.epochs_of(&device, from);
        {
            let mut stmt = tx
                .prepare(
                    "SELECT epoch FROM ( \
                     SELECT epoch FROM device_counts WHERE device = ?1 \
                     UNION SELECT epoch FROM counts WHERE device = ?1 \
                     UNION SELECT epoch FROM close_counts WHERE device = ?1 \
                     UNION SELECT epoch FROM receipts WHERE device = ?1 \
                     ) WHERE epoch >= ?2 ORDER BY epoch LIMIT ?3",
                )
                .map_err(db)?;
            let mut rows = stmt
                .query(params![device, from, sql_limit(limit)])
                .map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                epochs.push(row.get::<_, i64>(0).map_err(db)?);
            }
        }
        epochs.sort_unstable();
        epochs.dedup();
        epochs.truncate(limit);
        let mut counted = tx
            .prepare("SELECT accepted FROM device_counts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut refused = tx
            .prepare("SELECT reason, count FROM counts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut refused_at_close = tx
            .prepare("SELECT reason, count FROM close_counts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut receipt = tx
            .prepare("SELECT receipt FROM receipts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut out = Vec::with_capacity(epochs.len());
        for e in epochs {
            // an epoch without a result is held in the keys; one with a result has its
            // device counts (none: the device had no accepted item in it)
            let n: u64 = match keys.accepted_of(e, &device) {
                Some(n) => n,
                None => counted
                    .query_row(params![e, device], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(db)?
                    .map_or(0, |n| n as u64),
            };
            let mut rejected = BTreeMap::new();
            {
                let mut rows = refused.query(params![e, device]).map_err(db)?;
                while let Some(row) = rows.next().map_err(db)? {
                    let reason: String = row.get(0).map_err(db)?;
                    let count: i64 = row.get(1).map_err(db)?;
                    add_count(&mut rejected, parse_reason(&reason)?, count);
                }
            }
            let mut at_close: u64 = 0;
            {
                let mut rows = refused_at_close.query(params![e, device]).map_err(db)?;
                while let Some(row) = rows.next().map_err(db)? {
                    let reason: String = row.get(0).map_err(db)?;
                    let count: i64 = row.get(1).map_err(db)?;
                    add_count(&mut rejected, parse_reason(&reason)?, count);
                    at_close = at_close.saturating_add(count as u64);
                }
            }
            let blob: Option<Vec<u8>> = receipt
                .query_row(params![e, device], |r| r.get(0))
                .optional()
                .map_err(db)?;
            out.push(DeviceEpoch {
                epoch: epoch_out(e)?,
                accepted: n.saturating_sub(at_close),
                rejected: rejected.into_iter().collect(),
                receipt: blob,
            });
        }
        Ok(out)
    }

    fn rejections(&mut self, epoch: Epoch) -> StoreResult<Vec<(Rejection, u64)>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare("SELECT reason, SUM(count) FROM counts WHERE epoch = ?1 GROUP BY reason")
            .map_err(db)?;
        let mut rows = stmt.query(params![e]).map_err(db)?;
        let mut totals = BTreeMap::new();
        while let Some(row) = rows.next().map_err(db)? {
            let reason: String = row.get(0).map_err(db)?;
            let count: i64 = row.get(1).map_err(db)?;
            add_count(&mut totals, parse_reason(&reason)?, count);
        }
        Ok(totals.into_iter().collect())
    }

    fn meta(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db)
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(db)
    }
}

/// An accepted item's key in memory: (device number, format code, sequence number).
type Key = (u32, u8, u64);

/// The accepted keys of one epoch whose close has not begun.
#[derive(Debug, Default)]
struct EpochKeys {
    keys: crate::FastSet<Key>,
    /// Accepted items per device number.
    accepted: crate::FastMap<u32, u64>,
}

/// "Counted once" in memory (see the module documentation): the accepted keys of the
/// epochs without a result yet (open or closing), and the rowid up to which the file has
/// been read.
#[derive(Debug, Default)]
struct OpenKeys {
    /// Item rows up to this rowid are reflected.
    seen: i64,
    /// Epochs at or below it have their result (and `device_counts`): dropped.
    dropped_through: Option<i64>,
    /// Device text to number.
    devices: crate::FastMap<Box<str>, u32>,
    epochs: BTreeMap<i64, EpochKeys>,
}

impl OpenKeys {
    /// `slot`'s keys, built if absent, brought up to date with the item rows committed
    /// since they were last read (by this or another connection), and without the epochs
    /// that have their result.
    fn refreshed<'a>(
        slot: &'a mut Option<OpenKeys>,
        conn: &Connection,
    ) -> StoreResult<&'a mut OpenKeys> {
        // epochs close in order: every epoch up to the highest computed one has a result
        let closed_through: Option<i64> = conn
            .query_row(
                "SELECT MAX(epoch) FROM epochs WHERE status IN ('computed', 'published')",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        let max: i64 = conn
            .query_row("SELECT COALESCE(MAX(rowid), 0) FROM items", [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        let keys = match slot {
            Some(keys) => {
                if max > keys.seen {
                    // rows other connections committed since
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT device, format, seq, epoch FROM items \
                             WHERE rowid > ?1 AND rowid <= ?2 AND accepted = 1",
                        )
                        .map_err(db)?;
                    let mut rows = stmt.query(params![keys.seen, max]).map_err(db)?;
                    while let Some(row) = rows.next().map_err(db)? {
                        keys.add_row(row, closed_through)?;
                    }
                }
                keys
            }
            None => {
                // the open epochs' accepted items, by the epoch index
                let mut keys = OpenKeys::default();
                let mut stmt = conn
                    .prepare(
                        "SELECT device, format, seq, epoch FROM items \
                         WHERE epoch > ?1 AND accepted = 1 AND rowid <= ?2",
                    )
                    .map_err(db)?;
                let mut rows = stmt
                    .query(params![closed_through.unwrap_or(-1), max])
                    .map_err(db)?;
                while let Some(row) = rows.next().map_err(db)? {
                    keys.add_row(row, closed_through)?;
                }
                drop(rows);
                drop(stmt);
                slot.insert(keys)
            }
        };
        keys.seen = keys.seen.max(max);
        if closed_through > keys.dropped_through {
            keys.dropped_through = closed_through;
            if let Some(c) = closed_through {
                keys.epochs.retain(|e, _| *e > c);
            }
        }
        Ok(keys)
    }

    /// Add one `(device, format, seq, epoch)` row of an accepted item.
    fn add_row(&mut self, row: &Row<'_>, closed_through: Option<i64>) -> StoreResult<()> {
        let epoch: i64 = row.get(3).map_err(db)?;
        if closed_through.is_some_and(|c| epoch <= c) {
            return Ok(());
        }
        let device: String = row.get(0).map_err(db)?;
        let format: i64 = row.get(1).map_err(db)?;
        let seq: i64 = row.get(2).map_err(db)?;
        let format = u8::try_from(format).map_err(|_| corrupt(format!("item format {format}")))?;
        let key = (self.device(&device), format, seq as u64);
        self.add(epoch, key);
        Ok(())
    }

    /// The number of a device (given on first sight).
    fn device(&mut self, text: &str) -> u32 {
        if let Some(n) = self.devices.get(text) {
            return *n;
        }
        let n = u32::try_from(self.devices.len()).unwrap_or(u32::MAX);
        self.devices.insert(text.into(), n);
        n
    }

    fn add(&mut self, epoch: i64, key: Key) {
        let slot = self.epochs.entry(epoch).or_default();
        if slot.keys.insert(key) {
            *slot.accepted.entry(key.0).or_insert(0) += 1;
        }
    }

    fn contains(&self, epoch: i64, key: &Key) -> bool {
        self.epochs
            .get(&epoch)
            .is_some_and(|e| e.keys.contains(key))
    }

    /// A batch committed: its new keys are accepted, its rows read.
    fn commit(&mut self, added: crate::FastSet<(i64, Key)>, last_rowid: Option<i64>) {
        for (epoch, key) in added {
            if self.dropped_through.is_some_and(|c| epoch <= c) {
                continue;
            }
            self.add(epoch, key);
        }
        if let Some(r) = last_rowid {
            self.seen = self.seen.max(r);
        }
    }

    /// `device`'s accepted items in `epoch`, if the epoch is held here.
    fn accepted_of(&self, epoch: i64, device: &str) -> Option<u64> {
        let slot = self.epochs.get(&epoch)?;
        let n = self.devices.get(device).and_then(|d| slot.accepted.get(d));
        Some(n.copied().unwrap_or(0))
    }

    /// The epochs held here from `from` on in which `device` has accepted items.
    fn epochs_of(&self, device: &str, from: i64) -> Vec<i64> {
        let Some(d) = self.devices.get(device) else {
            return Vec::new();
        };
        self.epochs
            .range(from..)
            .filter(|(_, e)| e.accepted.contains_key(d))
            .map(|(epoch, _)| *epoch)
            .collect()
    }
}

/// A logged item's columns as SQLite holds them (`item_columns!`).
struct RawItem {
    idx: i64,
    format: i64,
    bytes: Vec<u8>,
    device: String,
    kind: i64,
    seq: i64,
    timestamp: i64,
    digest: Vec<u8>,
    epoch: i64,
    accepted: i64,
    outcome: Option<String>,
    reason: Option<String>,
    trust: i64,
}

impl RawItem {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawItem {
            idx: row.get(0)?,
            format: row.get(1)?,
            bytes: row.get(2)?,
            device: row.get(3)?,
            kind: row.get(4)?,
            seq: row.get(5)?,
            timestamp: row.get(6)?,
            digest: row.get(7)?,
            epoch: row.get(8)?,
            accepted: row.get(9)?,
            outcome: row.get(10)?,
            reason: row.get(11)?,
            trust: row.get(12)?,
        })
    }

    /// The item, logged by a batch processed at `now` (the batch's column).
    fn decode(self, now: i64) -> StoreResult<LoggedItem> {
        let index =
            u32::try_from(self.idx).map_err(|_| corrupt(format!("item index {}", self.idx)))?;
        let format = u8::try_from(self.format)
            .ok()
            .and_then(ItemFormat::from_code)
            .ok_or_else(|| corrupt(format!("item format {}", self.format)))?;
        let kind = u16::try_from(self.kind)
            .map(AttestationKind)
            .map_err(|_| corrupt(format!("attestation kind {}", self.kind)))?;
        let verdict = match (self.accepted, self.outcome, self.reason) {
            (1, Some(json), _) => StoredVerdict::Accepted(
                serde_json::from_str::<Outcome>(&json)
                    .map_err(|e| corrupt(format!("outcome {json:?}: {e}")))?,
            ),
            (0, _, Some(reason)) => StoredVerdict::Rejected(parse_reason(&reason)?),
            (accepted, _, _) => {
                return Err(corrupt(format!(
                    "item verdict (accepted {accepted}) without its outcome or reason"
                )))
            }
        };
        Ok(LoggedItem {
            index,
            format,
            bytes: self.bytes,
            device: parse_device(&self.device)?,
            kind,
            seq: self.seq as u64,
            timestamp: Timestamp(self.timestamp as u64),
            digest: digest32("item digest", &self.digest)?,
            epoch: epoch_out(self.epoch)?,
            now: Timestamp(now as u64),
            verdict,
            trust: u8::try_from(self.trust)
                .ok()
                .and_then(TrustLevel::from_tag)
                .ok_or_else(|| corrupt(format!("item trust level {}", self.trust)))?,
        })
    }
}

/// An epoch row's columns as SQLite holds them (`epoch_columns!`).
struct RawEpoch {
    epoch: i64,
    status: String,
    closer: Option<String>,
    root: Option<Vec<u8>>,
    epoch_total: Option<String>,
    cumulative_total: Option<String>,
    accepted: Option<i64>,
    publish_tx: Option<String>,
    summary: Option<Vec<u8>>,
}

impl RawEpoch {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawEpoch {
            epoch: row.get(0)?,
            status: row.get(1)?,
            closer: row.get(2)?,
            root: row.get(3)?,
            epoch_total: row.get(4)?,
            cumulative_total: row.get(5)?,
            accepted: row.get(6)?,
            publish_tx: row.get(7)?,
            summary: row.get(8)?,
        })
    }

    fn decode(self) -> StoreResult<EpochRow> {
        Ok(EpochRow {
            epoch: epoch_out(self.epoch)?,
            status: parse_status(&self.status)?,
            closer: self.closer,
            root: self.root.map(|r| digest32("epoch root", &r)).transpose()?,
            epoch_total: self
                .epoch_total
                .map(|t| parse_u128("epoch total", &t))
                .transpose()?,
            cumulative_total: self
                .cumulative_total
                .map(|t| parse_u128("cumulative total", &t))
                .transpose()?,
            accepted: self.accepted.map(|a| a as u64),
            publish_tx: self.publish_tx,
            summary: self.summary,
        })
    }
}

/// The highest epoch whose close has begun, as stored.
fn closed_through_raw(conn: &Connection) -> StoreResult<Option<i64>> {
    conn.query_row(
        "SELECT MAX(epoch) FROM epochs WHERE status != 'open'",
        [],
        |r| r.get(0),
    )
    .map_err(db)
}

/// Map a SQLite error: damaged file or undecodable value `Corrupt`, constraint violation
/// `Conflict`, anything else (busy, locked, I/O, full) `Unavailable`.
/// The insert of one logged item (`accepted` is derived from whether `outcome` is set).
const INSERT_ITEM: &str = "INSERT INTO items (batch_id, idx, format, bytes, device, kind, seq, \
     timestamp, digest, epoch, accepted, outcome, reason, trust) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// The parameters of [`INSERT_ITEM`] for `item` of batch `id`.
fn item_row<'a>(
    id: i64,
    item: &'a LoggedItem,
    device: &'a str,
    epoch: i64,
    outcome: Option<&'a str>,
    reason: Option<&'a str>,
) -> impl rusqlite::Params + 'a {
    (
        id,
        i64::from(item.index),
        i64::from(item.format.code()),
        &item.bytes[..],
        device,
        i64::from(item.kind.0),
        // u64 stored bit-cast in SQLite's i64 (see the module docs)
        item.seq as i64,
        item.timestamp.0 as i64,
        &item.digest[..],
        epoch,
        i64::from(outcome.is_some()),
        outcome,
        reason,
        i64::from(item.trust.tag()),
    )
}

fn db(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::FromSqlConversionFailure(..)
        | E::IntegralValueOutOfRange(..)
        | E::InvalidColumnType(..)
        | E::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
        _ => match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Corrupt(e.to_string())
            }
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        },
    }
}
