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
//!   accepted, outcome, reason)`: the logged items with their verdicts as stored (after the
//!   duplicate and closed-epoch checks). `device` is the did:key text, `outcome` the JSON of
//!   the [`Outcome`] of an accepted item, `reason` the [`Rejection::code`] of a refused one.
//!   A partial unique index on `(device, format, seq)` among accepted items enforces
//!   "accepted means counted once"; a partial index on `epoch` among accepted items finds
//!   an epoch's items for its close, which sorts them. Version 1 also had a unique index on
//!   `digest` and one in the close's order (device first); each was written at a random
//!   place per item and together they made a 10M-item epoch several times slower to
//!   ingest. Opening a version 1 file drops them.
//! - `counts(epoch, device, reason, count)`: refused items by epoch, device (`''` for an
//!   unknown sender) and reason; the counted rejections of the batches and the refused
//!   logged items together.
//! - `close_counts(epoch, device, reason, count)`: accepted items the network's rules
//!   refused at close ([`EpochResult::close_rejections`]), written with the result (version
//!   3; opening a version 1 or 2 file adds the table).
//! - `epochs(epoch, status, closer, closed_at, root, epoch_total, cumulative_total,
//!   accepted, publish_tx, summary, tree)`, `receipts(epoch, device, receipt)` and
//!   `meta(key, value)`.
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

use depin_core::{DeviceId, Epoch, Timestamp};
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
    PRIMARY KEY (batch_id, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_accepted_stream
    ON items (device, format, seq) WHERE accepted = 1;
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
        "idx, format, bytes, device, kind, seq, timestamp, digest, epoch, accepted, outcome, reason"
    };
}

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
}

impl SqliteStore {
    /// The schema version this build writes and reads (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: u32 = 3;

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
                tx.execute_batch("PRAGMA user_version = 3;").map_err(db)?;
            }
            1 => {
                // version 1 kept an index of every item by (epoch, accepted, device, format,
                // seq): written at a random place per item, it made large epochs slow
                tx.execute_batch(
                    "DROP INDEX IF EXISTS items_by_epoch; DROP INDEX IF EXISTS items_accepted_digest; \
                     CREATE INDEX IF NOT EXISTS items_accepted_by_epoch ON items (epoch) \
                     WHERE accepted = 1;",
                )
                .map_err(db)?;
                tx.execute_batch(CLOSE_COUNTS).map_err(db)?;
                tx.execute_batch("PRAGMA user_version = 3;").map_err(db)?;
            }
            2 => {
                // version 2 had no close_counts (items refused at close)
                tx.execute_batch(CLOSE_COUNTS).map_err(db)?;
                tx.execute_batch("PRAGMA user_version = 3;").map_err(db)?;
            }
            v if v == i64::from(Self::SCHEMA_VERSION) => {}
            v => {
                return Err(corrupt(format!(
                    "schema version {v}; this build knows version {}",
                    Self::SCHEMA_VERSION
                )))
            }
        }
        tx.commit().map_err(db)?;
        Ok(SqliteStore { conn })
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
            // An accepted row that meets an accepted row with the same (device, format, seq)
            // in the partial unique index inserts nothing (the
            // duplicate check and the insert are one index probe); it is then stored as
            // replayed. Any other constraint (a repeated index in the batch) still fails.
            let mut insert_accepted = tx
                .prepare_cached(&format!("{INSERT_ITEM} ON CONFLICT DO NOTHING"))
                .map_err(db)?;
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
                        let outcome = outcome_json(outcome)?;
                        let row = item_row(id, item, &device, epoch, Some(&outcome), None);
                        if insert_accepted.execute(row).map_err(db)? == 1 {
                            continue;
                        }
                        committed.duplicates.push(item.index);
                        Rejection::Replayed
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
            let now: i64 = row.get(12).map_err(db)?;
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
        let mut epochs = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT epoch FROM ( \
                     SELECT epoch FROM items WHERE device = ?1 AND accepted = 1 \
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
        let mut accepted = self
            .conn
            // the device's own rows, not the whole epoch's
            .prepare(
                "SELECT COUNT(*) FROM items INDEXED BY items_accepted_stream \
                 WHERE device = ?2 AND accepted = 1 AND epoch = ?1",
            )
            .map_err(db)?;
        let mut refused = self
            .conn
            .prepare("SELECT reason, count FROM counts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut refused_at_close = self
            .conn
            .prepare("SELECT reason, count FROM close_counts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut receipt = self
            .conn
            .prepare("SELECT receipt FROM receipts WHERE epoch = ?1 AND device = ?2")
            .map_err(db)?;
        let mut out = Vec::with_capacity(epochs.len());
        for e in epochs {
            let n: i64 = accepted
                .query_row(params![e, device], |r| r.get(0))
                .map_err(db)?;
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
                accepted: (n as u64).saturating_sub(at_close),
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
     timestamp, digest, epoch, accepted, outcome, reason) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

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
