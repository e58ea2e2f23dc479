//! The PostgreSQL oracle store: several ingest processes (and the closer) share one
//! database; every `Ok` is committed, with `synchronous_commit` on, before it is returned.
//!
//! ```no_run
//! use depin_attest::store::postgres::PgStore;
//! use depin_attest::store::OracleStore;
//! let mut store = PgStore::connect("postgresql://oracle@localhost/oracle").unwrap();
//! store.health().unwrap();
//! ```
//!
//! It uses the synchronous `postgres` client (no TLS; PostgreSQL 10 or later), which drives
//! its connection on a small runtime of its own: open, use and drop the store on a plain
//! thread (the ingest engine's) or in `spawn_blocking`, never on an async task's thread.
//! The tables go in the first schema of the connection's `search_path` (a connection
//! string with `options=-c search_path=oracle` picks one).
//!
//! # Schema (version [`PgStore::SCHEMA_VERSION`], in `schema_version(version)`)
//! Created if absent by the first process that connects, in one transaction under the
//! advisory transaction lock `0x6465_7069_6e5f_7363`, so processes starting together do
//! not race; a database of a newer version is [`StoreError::Corrupt`].
//! - `batches(id, origin, now)`: one row per committed batch; `id` is the [`BatchId`]
//!   (`GENERATED ALWAYS AS IDENTITY`: ids start at 1 and increase, but a rolled-back
//!   commit leaves a gap, and two processes' ids follow the order of their inserts, not of
//!   their commits; each origin has one writer, so its own ids are in commit order).
//! - `items(batch_id, idx, format, bytes, device, kind, seq, ts, digest, epoch, accepted,
//!   outcome, reason, trust)`: the logged items with their verdicts as stored (after the
//!   duplicate and closed-epoch checks). `device` is the did:key text (collation `"C"`:
//!   byte order), `ts` the timestamp, `outcome` the JSON of the [`Outcome`] of an accepted
//!   item, `reason` the [`Rejection::code`] of a refused one, `trust` the device's
//!   [`TrustLevel::tag`] when it was verified (version 4; opening an older database adds
//!   the column, its items untrusted). A partial unique index on
//!   `(device, format, seq)` among accepted items enforces "accepted means counted once"
//!   across every connection; a partial index on `epoch` finds an epoch's accepted items
//!   (the close sorts them). Version 1 also indexed `digest` and the close's order, each
//!   written at a random place per item; opening a version 1 database drops them.
//! - `counts(epoch, device, reason, count)`: refused items by epoch, device (`''` for an
//!   unknown sender) and reason; the counted rejections of the batches and the refused
//!   logged items together.
//! - `close_counts(epoch, device, reason, count)`: accepted items the network's rules
//!   refused at close ([`EpochResult::close_rejections`]), written with the result (version
//!   3; opening a version 1 or 2 database adds the table).
//! - `epochs(epoch, status, closer, closed_at, root, epoch_total, cumulative_total,
//!   accepted, publish_tx, summary, tree)`, `receipts(epoch, device, receipt)` and
//!   `meta(key, value)`.
//!
//! # Encodings
//! - `u64` values (sequence numbers, timestamps, counts, accepted totals) are stored as
//!   `BIGINT` by a bit cast (`v as i64`, read back with `v as u64`): every value
//!   round-trips; sequence numbers are ordered as unsigned in queries (`seq < 0` first).
//! - Epochs are stored as plain `BIGINT` and compared by SQL, so they must be below 2^63:
//!   a larger epoch is refused with [`StoreError::Conflict`] on writes and finds nothing
//!   on reads.
//! - `u128` amounts are decimal `TEXT`; bytes are `BYTEA`.
//! - Anything that does not decode (a bad did:key, an unknown reason code, a negative
//!   epoch, a digest that is not 32 bytes, a column of another type, ...) is
//!   [`StoreError::Corrupt`], naming the table and column.
//!
//! # Concurrency
//! Every write is one transaction; commits, closes and results run `READ COMMITTED`
//! whatever the session's default.
//! - **Accepted once.** An accepted item is inserted with `ON CONFLICT DO NOTHING`, which
//!   covers the partial unique index: if another accepted row has its (device, format,
//!   seq), nothing is inserted and the item is stored as
//!   [`Rejection::Replayed`] ([`Committed::duplicates`]). When another transaction is
//!   inserting the same key, the insert waits for it: it then does nothing if that one
//!   committed, and inserts if it rolled back. So two processes never both count an item.
//! - **Close versus commit.** [`OracleStore::commit_batch`] takes the advisory transaction
//!   lock `0x6465_7069_6e5f_636c` shared and [`OracleStore::begin_close`] takes it
//!   exclusive, each as the first statement of its transaction; the closed-epoch check
//!   and the close's checks run in later statements, so on fresh snapshots. A close thus
//!   waits for the commits in progress, and a commit that starts meanwhile waits for the
//!   close and then sees it: an epoch's accepted items never change once its close began.
//! - [`OracleStore::put_result`] and [`OracleStore::mark_published`] lock the epoch's row
//!   (`FOR UPDATE`).
//! - Two commits inserting the same accepted items in opposite orders can deadlock (each
//!   waits for the other's uncommitted row); PostgreSQL aborts one after its
//!   `deadlock_timeout`, and that commit is retried from the start, up to 3 times, before
//!   it is [`StoreError::Unavailable`]. The counts of a batch are summed first and upserted
//!   in key order, so they add no deadlock.
//!
//! # Connection loss
//! The store keeps its [`Config`] (with a 2 s connect timeout unless one is set). A call
//! that fails because the connection is gone (I/O error, closed connection, server shut
//! down) drops the client and is [`StoreError::Unavailable`]; the next call connects
//! again (one attempt, which also checks the schema version). So an oracle whose database
//! stopped answers 503 and resumes by itself when the database is back. A session whose
//! `synchronous_commit` is `off` is switched to `on` when it connects.
//!
//! # Errors
//! Connection, I/O, timeouts, serialisation failures, deadlocks and anything else the
//! server reports are [`StoreError::Unavailable`], except integrity constraint violations
//! and values the schema cannot hold (SQLSTATE classes 23 and 22:
//! [`StoreError::Conflict`]) and damaged data (`XX001`, `XX002`: [`StoreError::Corrupt`]).
//! A connection string that does not parse is [`StoreError::Unavailable`] too.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use ::postgres::types::{FromSql, ToSql};
use ::postgres::{Client, Config, GenericClient, IsolationLevel, NoTls, Row, Transaction};
use depin_core::{DeviceId, Epoch, Timestamp, TrustLevel};

use super::{
    add_count, corrupt, digest32, epoch_in, epoch_key, epoch_out, outcome_json, parse_device,
    parse_reason, parse_status, parse_u128, sql_limit, BatchId, BatchRecord, CloseStart, Committed,
    DeviceEpoch, EpochResult, EpochRow, EpochStatus, ItemFormat, LoggedItem, OracleStore,
    StoreError, StoreResult, StoredVerdict,
};
use crate::kind::AttestationKind;
use crate::pipeline::Outcome;
use crate::reason::Rejection;

/// The connect timeout used when the configuration sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The `application_name` used when the configuration sets none.
const APPLICATION_NAME: &str = "depin-attest";

/// The advisory lock that serialises schema creation ("depin_sc").
const SCHEMA_LOCK: i64 = 0x6465_7069_6e5f_7363;

/// The advisory lock that commits take shared and closes exclusive ("depin_cl").
const CLOSE_LOCK: i64 = 0x6465_7069_6e5f_636c;

/// How many times a commit aborted by a deadlock (or a serialisation failure) is run again.
const COMMIT_RETRIES: u32 = 3;

/// Rows fetched per round trip by the long reads (replay, accepted items of an epoch).
const PAGE_ROWS: i32 = 1024;

/// The schema, created in one transaction on a new database.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS batches (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    origin TEXT NOT NULL,
    now BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_origin ON batches (origin, id);

CREATE TABLE IF NOT EXISTS items (
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    idx BIGINT NOT NULL,
    format SMALLINT NOT NULL,
    bytes BYTEA NOT NULL,
    device TEXT COLLATE "C" NOT NULL,
    kind INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    digest BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    accepted BOOLEAN NOT NULL,
    outcome TEXT,
    reason TEXT,
    trust SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS items_accepted_stream
    ON items (device, format, seq) WHERE accepted;
CREATE INDEX IF NOT EXISTS items_accepted_epoch ON items (epoch) WHERE accepted;

CREATE TABLE IF NOT EXISTS counts (
    epoch BIGINT NOT NULL,
    device TEXT COLLATE "C" NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (epoch, device, reason)
);
CREATE INDEX IF NOT EXISTS counts_by_device ON counts (device, epoch);

CREATE TABLE IF NOT EXISTS epochs (
    epoch BIGINT PRIMARY KEY,
    status TEXT NOT NULL,
    closer TEXT,
    closed_at BIGINT,
    root BYTEA,
    epoch_total TEXT,
    cumulative_total TEXT,
    accepted BIGINT,
    publish_tx TEXT,
    summary BYTEA,
    tree BYTEA
);

CREATE TABLE IF NOT EXISTS receipts (
    epoch BIGINT NOT NULL,
    device TEXT COLLATE "C" NOT NULL,
    receipt BYTEA NOT NULL,
    PRIMARY KEY (epoch, device)
);
CREATE INDEX IF NOT EXISTS receipts_by_device ON receipts (device, epoch);

CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT NOT NULL
);
"#;

/// Version 3's addition, created after [`SCHEMA`] on a new database and added to one of
/// an earlier version: the items refused at close.
const CLOSE_COUNTS: &str = r#"
CREATE TABLE IF NOT EXISTS close_counts (
    epoch BIGINT NOT NULL,
    device TEXT COLLATE "C" NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (epoch, device, reason)
);
CREATE INDEX IF NOT EXISTS close_counts_by_device ON close_counts (device, epoch);
"#;

/// The item columns `logged_item` expects, in order.
macro_rules! item_columns {
    () => {
        "idx, format, bytes, device, kind, seq, ts, digest, epoch, accepted, outcome, reason, trust"
    };
}

/// How many columns `item_columns!` names (the column after them is at this index).
const ITEM_COLUMNS: usize = 13;

/// The epoch columns `epoch_row` expects, in order.
macro_rules! epoch_columns {
    () => {
        "epoch, status, closer, root, epoch_total, cumulative_total, accepted, publish_tx, summary"
    };
}

/// The insert of a batch's items, one statement for many rows: the columns arrive as
/// arrays (`$2`.. in [`Rows`] order), unnested in item order. `accepted` is whether
/// `outcome` is set.
macro_rules! insert_items {
    () => {
        "INSERT INTO items (batch_id, idx, format, bytes, device, kind, seq, ts, digest, \
         epoch, accepted, outcome, reason, trust) \
         SELECT $1, t.idx, t.format, t.bytes, t.device, t.kind, t.seq, t.ts, t.digest, \
         t.epoch, t.outcome IS NOT NULL, t.outcome, t.reason, t.trust \
         FROM UNNEST($2::BIGINT[], $3::SMALLINT[], $4::BYTEA[], $5::TEXT[], $6::INTEGER[], \
         $7::BIGINT[], $8::BIGINT[], $9::BYTEA[], $10::BIGINT[], $11::TEXT[], $12::TEXT[], \
         $13::SMALLINT[]) \
         WITH ORDINALITY AS t(idx, format, bytes, device, kind, seq, ts, digest, epoch, \
         outcome, reason, trust, ord) \
         ORDER BY t.ord"
    };
}

/// The insert of refused items (any conflict is an error).
const INSERT_REFUSED: &str = insert_items!();

/// The insert of accepted items: a row meeting an accepted row with the same (device,
/// format, seq) in the partial unique index, committed or earlier in the same statement, inserts nothing (the duplicate check and the insert are one index
/// probe, atomic across connections); the indexes of the rows inserted come back.
const INSERT_ACCEPTED: &str = concat!(insert_items!(), " ON CONFLICT DO NOTHING RETURNING idx");

/// Add refused-item totals, one statement for many keys (each key once, in key order, so
/// two commits upserting the same totals cannot deadlock).
const UPSERT_COUNTS: &str = "INSERT INTO counts (epoch, device, reason, count) \
     SELECT t.epoch, t.device, t.reason, t.count \
     FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) WITH ORDINALITY \
     AS t(epoch, device, reason, count, ord) ORDER BY t.ord \
     ON CONFLICT (epoch, device, reason) DO UPDATE SET count = counts.count + EXCLUDED.count";

/// An origin's batches above an id with their items (`NULL` items for an empty batch), in
/// batch then item order.
const BATCHES_OF: &str = "SELECT b.id, b.now, i.idx, i.format, i.bytes, i.device, i.kind, \
     i.seq, i.ts, i.digest, i.epoch, i.accepted, i.outcome, i.reason, i.trust \
     FROM batches b LEFT JOIN items i ON i.batch_id = b.id \
     WHERE b.origin = $1 AND b.id > $2 ORDER BY b.id, i.idx";

/// An epoch's accepted items by (device text in byte order, format, unsigned seq).
const ACCEPTED_OF: &str = concat!(
    "SELECT ",
    item_columns!(),
    ", b.now FROM items JOIN batches b ON b.id = items.batch_id \
     WHERE epoch = $1 AND accepted \
     ORDER BY device COLLATE \"C\", format, (seq < 0), seq"
);

/// Whether an epoch below `$1` that has a row or data is still open, given that every
/// epoch up to `$2` is closed.
const OPEN_BEFORE: &str =
    "SELECT EXISTS (SELECT 1 FROM epochs WHERE epoch < $1 AND status = 'open') \
     OR EXISTS (SELECT 1 FROM items WHERE accepted AND epoch > $2 AND epoch < $1 \
     AND NOT EXISTS (SELECT 1 FROM epochs WHERE epochs.epoch = items.epoch \
     AND epochs.status <> 'open'))";

/// A device's epochs from `$2` upwards, up to `$3`.
const DEVICE_EPOCHS: &str =
    "SELECT epoch FROM items WHERE device = $1 AND accepted AND epoch >= $2 \
     UNION SELECT epoch FROM counts WHERE device = $1 AND epoch >= $2 \
     UNION SELECT epoch FROM close_counts WHERE device = $1 AND epoch >= $2 \
     UNION SELECT epoch FROM receipts WHERE device = $1 AND epoch >= $2 \
     ORDER BY epoch LIMIT $3";

/// The PostgreSQL [`OracleStore`]: one connection (re-opened after it is lost), shared
/// database.
///
/// Several processes may use the same database at once: uniqueness of accepted items and
/// the order of commits and closes are enforced by the database. Layout, encodings,
/// concurrency and reconnection: see the module documentation.
pub struct PgStore {
    config: Config,
    client: Option<Client>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Config`'s Debug redacts the password.
        f.debug_struct("PgStore")
            .field("config", &self.config)
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl PgStore {
    /// The schema version this build writes and reads (table `schema_version`).
    pub const SCHEMA_VERSION: u32 = 4;

    /// Connect with a connection string, libpq style: a URL
    /// (`postgresql://user:password@host:5432/db?options=...`) or `key=value` pairs
    /// (`host=localhost user=oracle dbname=oracle`); no TLS. See
    /// [`PgStore::connect_with`]. A string that does not parse is
    /// [`StoreError::Unavailable`].
    pub fn connect(url: &str) -> StoreResult<Self> {
        let config = url
            .parse::<Config>()
            .map_err(|e| StoreError::Unavailable(format!("postgres connection string: {e}")))?;
        Self::connect_with(config)
    }

    /// Connect with `config` (no TLS; a 2 s connect timeout unless it sets one) and create
    /// the schema if absent. The configuration is kept to connect again after the
    /// connection is lost. A database of a newer schema version is
    /// [`StoreError::Corrupt`]; an unreachable one [`StoreError::Unavailable`].
    pub fn connect_with(mut config: Config) -> StoreResult<Self> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let client = open(&config).map_err(Fail::into_store)?;
        Ok(PgStore {
            config,
            client: Some(client),
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&mut self) -> StoreResult<u32> {
        self.with(|c| {
            let row = c.query_one("SELECT MAX(version) FROM schema_version", &[])?;
            let v: Option<i64> = get(&row, 0, "schema_version.version")?;
            let v = v.ok_or_else(|| corrupt("schema_version has no row".to_string()))?;
            Ok(u32::try_from(v).map_err(|_| corrupt(format!("schema version {v}")))?)
        })
    }

    /// The connection, connecting first if there is none or it is closed (one attempt).
    fn client(&mut self) -> StoreResult<&mut Client> {
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => open(&self.config).map_err(Fail::into_store)?,
        };
        Ok(self.client.insert(client))
    }

    /// Run `op` on the connection; a database error that lost the connection drops it
    /// (the next call connects again).
    fn with<T>(&mut self, op: impl FnOnce(&mut Client) -> Result<T, Fail>) -> StoreResult<T> {
        let client = self.client()?;
        match op(&mut *client) {
            Ok(v) => Ok(v),
            Err(Fail::Store(e)) => Err(e),
            Err(Fail::Pg(e)) => {
                if connection_lost(&e) || client.is_closed() {
                    self.client = None;
                }
                Err(db(&e))
            }
        }
    }
}

/// Batches replayed by [`OracleStore::for_each_batch`] carry their items and verdicts as
/// stored, but an empty [`BatchRecord::rejections`]: the counted rejections are merged
/// into per-(epoch, device, reason) totals at commit and are not kept per batch (replay
/// needs only the items).
impl OracleStore for PgStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn health(&mut self) -> StoreResult<()> {
        self.with(|c| c.batch_execute("SELECT 1").map_err(Fail::Pg))
    }

    fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed> {
        self.with(|c| {
            let mut retries = 0;
            loop {
                match commit(c, batch) {
                    // The transaction was rolled back whole: run it again.
                    Err(Fail::Pg(e)) if retries < COMMIT_RETRIES && retryable(&e) => {
                        retries += 1;
                    }
                    other => return other,
                }
            }
        })
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
        self.with(|c| batches_of(c, origin, after, f))
    }

    fn for_each_accepted(
        &mut self,
        epoch: Epoch,
        f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let Some(epoch) = epoch_key(epoch) else {
            return Ok(());
        };
        self.with(|c| accepted_of(c, epoch, f))
    }

    fn closed_through(&mut self) -> StoreResult<Option<Epoch>> {
        self.with(closed_through_raw::<Client>)?
            .map(epoch_out)
            .transpose()
    }

    fn begin_close(
        &mut self,
        epoch: Epoch,
        closer: &str,
        at: Timestamp,
    ) -> StoreResult<CloseStart> {
        let e = epoch_in(epoch)?;
        self.with(|c| begin_close(c, epoch, e, closer, at))
    }

    fn put_result(&mut self, epoch: Epoch, result: &EpochResult) -> StoreResult<()> {
        let e = epoch_in(epoch)?;
        self.with(|c| put_result(c, epoch, e, result))
    }

    fn mark_published(&mut self, epoch: Epoch, tx_id: Option<&str>) -> StoreResult<()> {
        let e = epoch_in(epoch)?;
        self.with(|c| mark_published(c, epoch, e, tx_id))
    }

    fn epoch(&mut self, epoch: Epoch) -> StoreResult<Option<EpochRow>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        self.with(|c| {
            let row = c.query_opt(
                concat!("SELECT ", epoch_columns!(), " FROM epochs WHERE epoch = $1"),
                &[&e],
            )?;
            row.as_ref().map(epoch_row).transpose().map_err(Fail::Store)
        })
    }

    fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>> {
        let Some(from) = epoch_key(from) else {
            return Ok(Vec::new());
        };
        let limit = sql_limit(limit);
        self.with(|c| {
            let rows = c.query(
                concat!(
                    "SELECT ",
                    epoch_columns!(),
                    " FROM epochs WHERE epoch >= $1 ORDER BY epoch LIMIT $2"
                ),
                &[&from, &limit],
            )?;
            rows.iter()
                .map(epoch_row)
                .collect::<StoreResult<Vec<_>>>()
                .map_err(Fail::Store)
        })
    }

    fn latest_result(&mut self) -> StoreResult<Option<EpochRow>> {
        self.with(|c| {
            let row = c.query_opt(
                concat!(
                    "SELECT ",
                    epoch_columns!(),
                    " FROM epochs WHERE status IN ('computed', 'published') \
                     ORDER BY epoch DESC LIMIT 1"
                ),
                &[],
            )?;
            row.as_ref().map(epoch_row).transpose().map_err(Fail::Store)
        })
    }

    fn tree(&mut self, epoch: Epoch) -> StoreResult<Option<Vec<u8>>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        self.with(|c| {
            let row = c.query_opt(
                "SELECT tree FROM epochs WHERE epoch = $1 \
                 AND status IN ('computed', 'published')",
                &[&e],
            )?;
            let tree: Option<Option<Vec<u8>>> =
                row.as_ref().map(|r| get(r, 0, "epochs.tree")).transpose()?;
            Ok(tree.flatten())
        })
    }

    fn receipt(&mut self, epoch: Epoch, device: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(None);
        };
        let device = device.to_string();
        self.with(|c| {
            let row = c.query_opt(
                "SELECT receipt FROM receipts WHERE epoch = $1 AND device = $2",
                &[&e, &device],
            )?;
            let receipt: Option<Vec<u8>> = row
                .as_ref()
                .map(|r| get(r, 0, "receipts.receipt"))
                .transpose()?;
            Ok(receipt)
        })
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
        let limit = sql_limit(limit);
        self.with(|c| device_epochs(c, &device, from, limit))
    }

    fn rejections(&mut self, epoch: Epoch) -> StoreResult<Vec<(Rejection, u64)>> {
        let Some(e) = epoch_key(epoch) else {
            return Ok(Vec::new());
        };
        self.with(|c| {
            let rows = c.query(
                "SELECT reason, SUM(count)::BIGINT FROM counts WHERE epoch = $1 GROUP BY reason",
                &[&e],
            )?;
            let mut totals = BTreeMap::new();
            for row in &rows {
                let reason: &str = get(row, 0, "counts.reason")?;
                let count: i64 = get(row, 1, "counts.count (sum)")?;
                add_count(&mut totals, parse_reason(reason)?, count);
            }
            Ok(totals.into_iter().collect())
        })
    }

    fn meta(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.with(|c| {
            let row = c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?;
            let value: Option<Vec<u8>> =
                row.as_ref().map(|r| get(r, 0, "meta.value")).transpose()?;
            Ok(value)
        })
    }

    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            )?;
            Ok(())
        })
    }
}

/// Why an operation on the connection failed: a database error (mapped by `db`, and
/// perhaps a lost connection), or a store error passed on as it is (undecodable data, a
/// refused operation, or the caller's own error from a callback).
enum Fail {
    Pg(::postgres::Error),
    Store(StoreError),
}

impl From<::postgres::Error> for Fail {
    fn from(e: ::postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn into_store(self) -> StoreError {
        match self {
            Fail::Pg(e) => db(&e),
            Fail::Store(e) => e,
        }
    }
}

/// Connect, make sure commits wait for the WAL flush, and check (or create) the schema.
fn open(config: &Config) -> Result<Client, Fail> {
    let mut client = config.connect(NoTls)?;
    client.execute(
        "SELECT set_config('synchronous_commit', 'on', false) \
         WHERE current_setting('synchronous_commit') = 'off'",
        &[],
    )?;
    init(&mut client)?;
    Ok(client)
}

/// Version 4's addition: each item's trust level ([`TrustLevel::tag`]); the items of an
/// older database count as untrusted.
const ITEM_TRUST: &str =
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS trust SMALLINT NOT NULL DEFAULT 0;";

/// Create the schema if absent, or check its version, in one transaction under the schema
/// lock.
fn init(client: &mut Client) -> Result<(), Fail> {
    let mut tx = write_tx(client)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let row = tx.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?;
    let exists: bool = get(&row, 0, "to_regclass(schema_version)")?;
    let version = if exists {
        let row = tx.query_one("SELECT MAX(version) FROM schema_version", &[])?;
        let v: Option<i64> = get(&row, 0, "schema_version.version")?;
        v.unwrap_or(0)
    } else {
        0
    };
    let current = i64::from(PgStore::SCHEMA_VERSION);
    if version == 0 {
        tx.batch_execute(SCHEMA)?;
        tx.batch_execute(CLOSE_COUNTS)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&current],
        )?;
    } else if version == 1 || version == 2 {
        if version == 1 {
            // version 1 kept an index in the close's order (epoch, device, ...): written at
            // a random place per item, it made large epochs slow to ingest; the close sorts
            tx.batch_execute(
                "DROP INDEX IF EXISTS items_accepted_by_epoch; \
                 DROP INDEX IF EXISTS items_accepted_digest; \
                 CREATE INDEX IF NOT EXISTS items_accepted_epoch ON items (epoch) WHERE accepted;",
            )?;
        }
        // version 2 had no close_counts (items refused at close)
        tx.batch_execute(CLOSE_COUNTS)?;
        tx.batch_execute(ITEM_TRUST)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&current],
        )?;
    } else if version == 3 {
        tx.batch_execute(ITEM_TRUST)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&current],
        )?;
    } else if version != current {
        return Err(Fail::Store(corrupt(format!(
            "schema version {version}; this build knows version {current}"
        ))));
    }
    tx.commit()?;
    Ok(())
}

/// A read-write transaction, `READ COMMITTED` whatever the session's default (the locking
/// of the module documentation relies on a fresh snapshot per statement).
fn write_tx(client: &mut Client) -> Result<Transaction<'_>, ::postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
}

/// A read-only transaction (for portals: the long reads fetch their rows page by page).
fn read_tx(client: &mut Client) -> Result<Transaction<'_>, ::postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .read_only(true)
        .start()
}

fn commit(client: &mut Client, batch: &BatchRecord) -> Result<Committed, Fail> {
    let mut tx = write_tx(client)?;
    // Shared with other commits, exclusive with `begin_close`. It must be its own
    // statement: `closed_through` below then reads a snapshot taken after the lock, which
    // sees any close that began before it.
    tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&CLOSE_LOCK])?;
    let closed_through = closed_through_raw(&mut tx)?;
    // u64 stored bit-cast in BIGINT (see the module docs)
    let now = batch.now.0 as i64;
    let row = tx.query_one(
        "INSERT INTO batches (origin, now) VALUES ($1, $2) RETURNING id",
        &[&batch.origin, &now],
    )?;
    let id: i64 = get(&row, 0, "batches.id")?;
    let mut committed = Committed {
        id: id as u64,
        ..Committed::default()
    };
    let mut counts = BTreeMap::new();

    // Accepted items of open epochs first, in one statement; what it did not insert is a
    // duplicate. Then every refused item (and those duplicates) in another.
    let mut accepted = Rows::default();
    let mut refused = Rows::default();
    for item in &batch.items {
        let epoch = epoch_in(item.epoch)?;
        match &item.verdict {
            StoredVerdict::Accepted(_) if closed_through.is_some_and(|c| epoch <= c) => {
                committed.closed.push(item.index);
                refused.push(item, epoch, None, Some(Rejection::EpochClosed))?;
            }
            StoredVerdict::Accepted(outcome) => {
                accepted.push(item, epoch, Some(outcome), None)?;
            }
            StoredVerdict::Rejected(r) => refused.push(item, epoch, None, Some(*r))?,
        }
    }
    if !accepted.is_empty() {
        let inserted: std::collections::HashSet<i64> = tx
            .query(INSERT_ACCEPTED, &accepted.params(&id))?
            .iter()
            .map(|row| get::<i64>(row, 0, "items.idx"))
            .collect::<StoreResult<_>>()?;
        for item in &batch.items {
            let is_candidate = matches!(item.verdict, StoredVerdict::Accepted(_))
                && !committed.closed.contains(&item.index);
            if is_candidate && !inserted.contains(&i64::from(item.index)) {
                // Another accepted row (committed, or earlier in this batch) has its digest
                // or its (device, format, seq). Any other constraint (a repeated index in
                // the batch) still fails on the insert below.
                committed.duplicates.push(item.index);
                let epoch = epoch_in(item.epoch)?;
                refused.push(item, epoch, None, Some(Rejection::Replayed))?;
            }
        }
    }
    if !refused.is_empty() {
        tx.execute(INSERT_REFUSED, &refused.params(&id))?;
    }
    for (i, reason) in refused.reasons.iter().enumerate() {
        if let (Some(code), Some(epoch), Some(device)) =
            (reason, refused.epoch.get(i), refused.device.get(i))
        {
            add_to(&mut counts, (*epoch, device.clone(), code.clone()), 1);
        }
    }

    for rc in &batch.rejections {
        let device = rc.device.map(|d| d.to_string()).unwrap_or_default();
        let key = (epoch_in(rc.epoch)?, device, rc.reason.code().into_owned());
        add_to(&mut counts, key, rc.count);
    }

    if !counts.is_empty() {
        let mut epochs = Vec::with_capacity(counts.len());
        let mut devices = Vec::with_capacity(counts.len());
        let mut reasons = Vec::with_capacity(counts.len());
        let mut ns = Vec::with_capacity(counts.len());
        for ((epoch, device, reason), n) in counts {
            epochs.push(epoch);
            devices.push(device);
            reasons.push(reason);
            ns.push(n as i64);
        }
        tx.execute(UPSERT_COUNTS, &[&epochs, &devices, &reasons, &ns])?;
    }
    tx.commit()?;
    Ok(committed)
}

/// Logged items as column arrays, for one `insert_items!` statement. Values as the module
/// documentation says: u64 bit-cast in BIGINT.
#[derive(Default)]
struct Rows<'a> {
    idx: Vec<i64>,
    format: Vec<i16>,
    bytes: Vec<&'a [u8]>,
    device: Vec<String>,
    kind: Vec<i32>,
    seq: Vec<i64>,
    ts: Vec<i64>,
    digest: Vec<&'a [u8]>,
    epoch: Vec<i64>,
    outcome: Vec<Option<String>>,
    /// Rejection codes (`None` for accepted rows).
    reasons: Vec<Option<String>>,
    trust: Vec<i16>,
}

impl<'a> Rows<'a> {
    fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    fn push(
        &mut self,
        item: &'a LoggedItem,
        epoch: i64,
        outcome: Option<&Outcome>,
        reason: Option<Rejection>,
    ) -> StoreResult<()> {
        self.idx.push(i64::from(item.index));
        self.format.push(i16::from(item.format.code()));
        self.bytes.push(&item.bytes);
        self.device.push(item.device.to_string());
        self.kind.push(i32::from(item.kind.0));
        self.seq.push(item.seq as i64);
        self.ts.push(item.timestamp.0 as i64);
        self.digest.push(&item.digest);
        self.epoch.push(epoch);
        self.outcome.push(outcome.map(outcome_json).transpose()?);
        self.reasons.push(reason.map(|r| r.code().into_owned()));
        self.trust.push(i16::from(item.trust.tag()));
        Ok(())
    }

    /// The statement's parameters after the batch id.
    fn params<'s>(&'s self, batch_id: &'s i64) -> [&'s (dyn ToSql + Sync); 13] {
        [
            batch_id,
            &self.idx,
            &self.format,
            &self.bytes,
            &self.device,
            &self.kind,
            &self.seq,
            &self.ts,
            &self.digest,
            &self.epoch,
            &self.outcome,
            &self.reasons,
            &self.trust,
        ]
    }
}

/// An (epoch, device text, reason code) key of the `counts` table.
type CountKey = (i64, String, String);

fn add_to(counts: &mut BTreeMap<CountKey, u64>, key: CountKey, n: u64) {
    let total = counts.entry(key).or_insert(0);
    *total = total.saturating_add(n);
}

/// A batch being read back: its id, processing time and items so far.
struct Pending {
    id: i64,
    now: i64,
    items: Vec<LoggedItem>,
}

fn batches_of<F>(client: &mut Client, origin: &str, after: i64, f: &mut F) -> Result<(), Fail>
where
    F: FnMut(BatchId, BatchRecord) -> StoreResult<()> + ?Sized,
{
    let mut tx = read_tx(client)?;
    let portal = tx.bind(BATCHES_OF, &[&origin, &after])?;
    let mut pending: Option<Pending> = None;
    loop {
        let rows = tx.query_portal(&portal, PAGE_ROWS)?;
        for row in &rows {
            let id: i64 = get(row, 0, "batches.id")?;
            let mut batch = match pending.take() {
                Some(p) if p.id == id => p,
                done => {
                    if let Some(done) = done {
                        emit(origin, done, f)?;
                    }
                    Pending {
                        id,
                        now: get(row, 1, "batches.now")?,
                        items: Vec::new(),
                    }
                }
            };
            // An empty batch comes as one row without an item.
            let idx: Option<i64> = get(row, 2, "items.idx")?;
            if idx.is_some() {
                batch.items.push(logged_item(row, 2, batch.now)?);
            }
            pending = Some(batch);
        }
        if last_page(&rows) {
            break;
        }
    }
    if let Some(done) = pending {
        emit(origin, done, f)?;
    }
    tx.commit()?;
    Ok(())
}

/// Whether a page of a portal is its last: a portal stops short of the page size only
/// when it has run to completion (it is not executed again then).
fn last_page(rows: &[Row]) -> bool {
    rows.len() < PAGE_ROWS as usize
}

fn emit<F>(origin: &str, batch: Pending, f: &mut F) -> StoreResult<()>
where
    F: FnMut(BatchId, BatchRecord) -> StoreResult<()> + ?Sized,
{
    f(
        batch.id as u64,
        BatchRecord {
            origin: origin.to_string(),
            now: Timestamp(batch.now as u64),
            items: batch.items,
            rejections: Vec::new(),
        },
    )
}

fn accepted_of<F>(client: &mut Client, epoch: i64, f: &mut F) -> Result<(), Fail>
where
    F: FnMut(LoggedItem) -> StoreResult<()> + ?Sized,
{
    let mut tx = read_tx(client)?;
    let portal = tx.bind(ACCEPTED_OF, &[&epoch])?;
    loop {
        let rows = tx.query_portal(&portal, PAGE_ROWS)?;
        for row in &rows {
            let now: i64 = get(row, ITEM_COLUMNS, "batches.now")?;
            f(logged_item(row, 0, now)?)?;
        }
        if last_page(&rows) {
            break;
        }
    }
    tx.commit()?;
    Ok(())
}

fn begin_close(
    client: &mut Client,
    epoch: Epoch,
    e: i64,
    closer: &str,
    at: Timestamp,
) -> Result<CloseStart, Fail> {
    let mut tx = write_tx(client)?;
    // Exclusive: waits for the commits in progress; commits that start now wait for this
    // transaction, then see the close. Its own statement, so the checks below read a
    // snapshot taken after the lock, with every earlier commit in it.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLOSE_LOCK])?;
    let row = tx.query_opt("SELECT status, closer FROM epochs WHERE epoch = $1", &[&e])?;
    if let Some(row) = row {
        let status: &str = get(&row, 0, "epochs.status")?;
        let owner: Option<String> = get(&row, 1, "epochs.closer")?;
        match parse_status(status)? {
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
    // their items, and their close required the epochs before them closed. So only the
    // epochs between it and `epoch` can hold open data.
    let floor = closed_through_raw(&mut tx)?.unwrap_or(-1);
    let row = tx.query_one(OPEN_BEFORE, &[&e, &floor])?;
    let open_before: bool = get(&row, 0, "open epochs before")?;
    if open_before {
        return Err(StoreError::Conflict(format!(
            "cannot close {epoch}: an earlier epoch with data is still open"
        ))
        .into());
    }
    let at = at.0 as i64;
    tx.execute(
        "INSERT INTO epochs (epoch, status, closer, closed_at) VALUES ($1, 'closing', $2, $3) \
         ON CONFLICT (epoch) DO UPDATE SET status = 'closing', closer = EXCLUDED.closer, \
         closed_at = EXCLUDED.closed_at",
        &[&e, &closer, &at],
    )?;
    tx.commit()?;
    Ok(CloseStart::Started)
}

fn put_result(client: &mut Client, epoch: Epoch, e: i64, result: &EpochResult) -> Result<(), Fail> {
    let mut tx = write_tx(client)?;
    let row = tx.query_opt(
        "SELECT status, root FROM epochs WHERE epoch = $1 FOR UPDATE",
        &[&e],
    )?;
    let Some(row) = row else {
        return Err(StoreError::Conflict(format!("{epoch} has not begun closing")).into());
    };
    let status: &str = get(&row, 0, "epochs.status")?;
    let stored_root: Option<&[u8]> = get(&row, 1, "epochs.root")?;
    match parse_status(status)? {
        EpochStatus::Open => {
            Err(StoreError::Conflict(format!("{epoch} has not begun closing")).into())
        }
        EpochStatus::Computed | EpochStatus::Published => {
            if stored_root == Some(&result.root[..]) {
                Ok(())
            } else {
                Err(
                    StoreError::Conflict(format!("{epoch} already has a result with another root"))
                        .into(),
                )
            }
        }
        EpochStatus::Closing => {
            let root: &[u8] = &result.root;
            let epoch_total = result.epoch_total.to_string();
            let cumulative_total = result.cumulative_total.to_string();
            let accepted = result.accepted as i64;
            tx.execute(
                "UPDATE epochs SET status = 'computed', root = $2, epoch_total = $3, \
                 cumulative_total = $4, accepted = $5, summary = $6, tree = $7 \
                 WHERE epoch = $1",
                &[
                    &e,
                    &root,
                    &epoch_total,
                    &cumulative_total,
                    &accepted,
                    &result.summary,
                    &result.tree,
                ],
            )?;
            tx.execute("DELETE FROM receipts WHERE epoch = $1", &[&e])?;
            if !result.receipts.is_empty() {
                let insert = tx
                    .prepare("INSERT INTO receipts (epoch, device, receipt) VALUES ($1, $2, $3)")?;
                for (device, receipt) in &result.receipts {
                    let device = device.to_string();
                    tx.execute(&insert, &[&e, &device, receipt])?;
                }
            }
            tx.execute("DELETE FROM close_counts WHERE epoch = $1", &[&e])?;
            if !result.close_rejections.is_empty() {
                let insert = tx.prepare(
                    "INSERT INTO close_counts (epoch, device, reason, count) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (epoch, device, reason) \
                     DO UPDATE SET count = close_counts.count + EXCLUDED.count",
                )?;
                for (device, reason, count) in &result.close_rejections {
                    let device = device.to_string();
                    let reason = reason.code().into_owned();
                    let count = *count as i64;
                    tx.execute(&insert, &[&e, &device, &reason, &count])?;
                }
            }
            tx.commit()?;
            Ok(())
        }
    }
}

fn mark_published(
    client: &mut Client,
    epoch: Epoch,
    e: i64,
    tx_id: Option<&str>,
) -> Result<(), Fail> {
    let mut tx = write_tx(client)?;
    let row = tx.query_opt(
        "SELECT status FROM epochs WHERE epoch = $1 FOR UPDATE",
        &[&e],
    )?;
    let Some(row) = row else {
        return Err(StoreError::Conflict(format!("{epoch} has no result")).into());
    };
    let status: &str = get(&row, 0, "epochs.status")?;
    match parse_status(status)? {
        EpochStatus::Published => Ok(()),
        EpochStatus::Computed => {
            tx.execute(
                "UPDATE epochs SET status = 'published', publish_tx = $2 WHERE epoch = $1",
                &[&e, &tx_id],
            )?;
            tx.commit()?;
            Ok(())
        }
        s @ (EpochStatus::Open | EpochStatus::Closing) => Err(StoreError::Conflict(format!(
            "{epoch} has no result (status {})",
            s.as_str()
        ))
        .into()),
    }
}

fn device_epochs(
    client: &mut Client,
    device: &str,
    from: i64,
    limit: i64,
) -> Result<Vec<DeviceEpoch>, Fail> {
    let rows = client.query(DEVICE_EPOCHS, &[&device, &from, &limit])?;
    let mut epochs = Vec::with_capacity(rows.len());
    for row in &rows {
        let e: i64 = get(row, 0, "device epoch")?;
        epochs.push(e);
    }
    if epochs.is_empty() {
        return Ok(Vec::new());
    }
    let accepted = client
        .prepare("SELECT COUNT(*) FROM items WHERE epoch = $1 AND accepted AND device = $2")?;
    let refused =
        client.prepare("SELECT reason, count FROM counts WHERE epoch = $1 AND device = $2")?;
    let refused_at_close = client
        .prepare("SELECT reason, count FROM close_counts WHERE epoch = $1 AND device = $2")?;
    let receipt =
        client.prepare("SELECT receipt FROM receipts WHERE epoch = $1 AND device = $2")?;
    let mut out = Vec::with_capacity(epochs.len());
    for e in epochs {
        let row = client.query_one(&accepted, &[&e, &device])?;
        let n: i64 = get(&row, 0, "items (accepted count)")?;
        let mut rejected = BTreeMap::new();
        for row in client.query(&refused, &[&e, &device])? {
            let reason: &str = get(&row, 0, "counts.reason")?;
            let count: i64 = get(&row, 1, "counts.count")?;
            add_count(&mut rejected, parse_reason(reason)?, count);
        }
        let mut at_close: u64 = 0;
        for row in client.query(&refused_at_close, &[&e, &device])? {
            let reason: &str = get(&row, 0, "close_counts.reason")?;
            let count: i64 = get(&row, 1, "close_counts.count")?;
            add_count(&mut rejected, parse_reason(reason)?, count);
            at_close = at_close.saturating_add(count as u64);
        }
        let row = client.query_opt(&receipt, &[&e, &device])?;
        let blob: Option<Vec<u8>> = row
            .as_ref()
            .map(|r| get(r, 0, "receipts.receipt"))
            .transpose()?;
        out.push(DeviceEpoch {
            epoch: epoch_out(e)?,
            accepted: (n as u64).saturating_sub(at_close),
            rejected: rejected.into_iter().collect(),
            receipt: blob,
        });
    }
    Ok(out)
}

/// The highest epoch whose close has begun, as stored.
fn closed_through_raw<C: GenericClient>(c: &mut C) -> Result<Option<i64>, Fail> {
    let row = c.query_one("SELECT MAX(epoch) FROM epochs WHERE status <> 'open'", &[])?;
    get(&row, 0, "epochs.epoch (max)").map_err(Fail::Store)
}

/// Column `idx` of `row`, or `StoreError::Corrupt` naming it (`what`, as
/// `table.column`).
fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, what: &str) -> StoreResult<T> {
    row.try_get(idx)
        .map_err(|e| corrupt(format!("{what}: {e}")))
}

/// A logged item from the `item_columns!` of `row`, from column `at` on, of a batch
/// processed at `now`.
fn logged_item(row: &Row, at: usize, now: i64) -> StoreResult<LoggedItem> {
    let idx: i64 = get(row, at, "items.idx")?;
    let format: i16 = get(row, at + 1, "items.format")?;
    let bytes: Vec<u8> = get(row, at + 2, "items.bytes")?;
    let device: &str = get(row, at + 3, "items.device")?;
    let kind: i32 = get(row, at + 4, "items.kind")?;
    let seq: i64 = get(row, at + 5, "items.seq")?;
    let ts: i64 = get(row, at + 6, "items.ts")?;
    let digest: &[u8] = get(row, at + 7, "items.digest")?;
    let epoch: i64 = get(row, at + 8, "items.epoch")?;
    let accepted: bool = get(row, at + 9, "items.accepted")?;
    let outcome: Option<&str> = get(row, at + 10, "items.outcome")?;
    let reason: Option<&str> = get(row, at + 11, "items.reason")?;
    let trust: i16 = get(row, at + 12, "items.trust")?;

    let index = u32::try_from(idx).map_err(|_| corrupt(format!("items.idx {idx}")))?;
    let format = u8::try_from(format)
        .ok()
        .and_then(ItemFormat::from_code)
        .ok_or_else(|| corrupt(format!("items.format {format}")))?;
    let kind = u16::try_from(kind)
        .map(AttestationKind)
        .map_err(|_| corrupt(format!("items.kind {kind}")))?;
    let verdict = match (accepted, outcome, reason) {
        (true, Some(json), _) => StoredVerdict::Accepted(
            serde_json::from_str::<Outcome>(json)
                .map_err(|e| corrupt(format!("items.outcome {json:?}: {e}")))?,
        ),
        (false, _, Some(reason)) => StoredVerdict::Rejected(parse_reason(reason)?),
        (accepted, _, _) => {
            return Err(corrupt(format!(
                "items row (accepted {accepted}) without its outcome or reason"
            )))
        }
    };
    Ok(LoggedItem {
        index,
        format,
        bytes,
        device: parse_device(device)?,
        kind,
        // u64 stored bit-cast in BIGINT (see the module docs)
        seq: seq as u64,
        timestamp: Timestamp(ts as u64),
        digest: digest32("item digest", digest)?,
        epoch: epoch_out(epoch)?,
        now: Timestamp(now as u64),
        verdict,
        trust: u8::try_from(trust)
            .ok()
            .and_then(TrustLevel::from_tag)
            .ok_or_else(|| corrupt(format!("items.trust {trust}")))?,
    })
}

/// An epoch row from the `epoch_columns!` of `row`.
fn epoch_row(row: &Row) -> StoreResult<EpochRow> {
    let epoch: i64 = get(row, 0, "epochs.epoch")?;
    let status: &str = get(row, 1, "epochs.status")?;
    let closer: Option<String> = get(row, 2, "epochs.closer")?;
    let root: Option<&[u8]> = get(row, 3, "epochs.root")?;
    let epoch_total: Option<&str> = get(row, 4, "epochs.epoch_total")?;
    let cumulative_total: Option<&str> = get(row, 5, "epochs.cumulative_total")?;
    let accepted: Option<i64> = get(row, 6, "epochs.accepted")?;
    let publish_tx: Option<String> = get(row, 7, "epochs.publish_tx")?;
    let summary: Option<Vec<u8>> = get(row, 8, "epochs.summary")?;
    Ok(EpochRow {
        epoch: epoch_out(epoch)?,
        status: parse_status(status)?,
        closer,
        root: root.map(|r| digest32("epoch root", r)).transpose()?,
        epoch_total: epoch_total
            .map(|t| parse_u128("epoch total", t))
            .transpose()?,
        cumulative_total: cumulative_total
            .map(|t| parse_u128("cumulative total", t))
            .transpose()?,
        accepted: accepted.map(|a| a as u64),
        publish_tx,
        summary,
    })
}

/// Whether `e` means the connection is gone (anything but an error the server reported on
/// a live session, or a report that it is ending the session): the client is dropped.
fn connection_lost(e: &::postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            // 08: connection exception; 57P01..57P05: shutdown, crash, cannot connect
            // now, database dropped, idle session timeout; 25P03: idle in transaction
            // timeout.
            c.starts_with("08") || c.starts_with("57P") || c == "25P03"
        }
    }
}

/// Whether a transaction failed on a deadlock (`40P01`) or a serialisation failure
/// (`40001`): it was rolled back whole and may simply run again.
fn retryable(e: &::postgres::Error) -> bool {
    matches!(e.code().map(|c| c.code()), Some("40P01" | "40001"))
}

/// Map a PostgreSQL error: integrity constraint violation (class 23) or a value the schema
/// cannot hold (class 22) `Conflict`, damaged data (`XX001`, `XX002`) `Corrupt`, anything
/// else (connection, I/O, timeouts, serialisation failures, deadlocks, ...) `Unavailable`.
fn db(e: &::postgres::Error) -> StoreError {
    let msg = e.to_string();
    let Some(code) = e.code() else {
        return StoreError::Unavailable(msg);
    };
    match code.code() {
        "XX001" | "XX002" => StoreError::Corrupt(msg),
        c if c.starts_with("23") || c.starts_with("22") => StoreError::Conflict(msg),
        _ => StoreError::Unavailable(msg),
    }
}
