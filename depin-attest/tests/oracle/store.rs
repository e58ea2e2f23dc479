//! The SQLite oracle store: it passes the conformance suite (in memory and on disk), keeps
//! its data across a reopen, shares a file between connections, leaves nothing of a failed
//! commit and reports damaged rows as typed errors; and the suite fails broken stores.

use depin_attest::store::conformance;
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::{
    BatchId, BatchRecord, CloseStart, Committed, DeviceEpoch, EpochResult, EpochRow, EpochStatus,
    ItemFormat, LoggedItem, OracleStore, RejectionCount, StoreError, StoreResult, StoredVerdict,
};
use depin_attest::{AttestationKind, Outcome, Rejection};
use depin_core::{DeviceId, Epoch, KeyType, SigningKey, Timestamp};

const ORIGIN: &str = "ingest-1";
const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn device(seed: u8) -> DeviceId {
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[seed; 32]).unwrap();
    DeviceId::from(&key.public_key())
}

fn item(index: u32, device: DeviceId, seq: u64, epoch: u64, verdict: StoredVerdict) -> LoggedItem {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&seq.to_le_bytes());
    digest[8..16].copy_from_slice(&epoch.to_le_bytes());
    digest[16..20].copy_from_slice(&index.to_le_bytes());
    digest[20] = device.key_bytes()[0];
    LoggedItem {
        index,
        format: ItemFormat::Envelope,
        bytes: vec![0x00, 0xff, index as u8],
        device,
        kind: AttestationKind(0x0103),
        seq,
        timestamp: Timestamp(NOW.0 + seq),
        digest,
        epoch: Epoch(epoch),
        now: NOW,
        verdict,
        trust: depin_core::TrustLevel::Untrusted,
    }
}

fn batch(items: Vec<LoggedItem>, rejections: Vec<RejectionCount>) -> BatchRecord {
    BatchRecord {
        origin: ORIGIN.to_string(),
        now: NOW,
        items,
        rejections,
    }
}

fn result(root: u8, receipts: Vec<(DeviceId, Vec<u8>)>) -> EpochResult {
    EpochResult {
        root: [root; 32],
        epoch_total: u128::MAX,
        cumulative_total: u128::MAX,
        accepted: 1,
        close_rejections: Vec::new(),
        receipts,
        tree: b"tree".to_vec(),
        summary: b"{}".to_vec(),
    }
}

fn all_batches(store: &mut dyn OracleStore) -> StoreResult<Vec<(BatchId, BatchRecord)>> {
    let mut out = Vec::new();
    store.for_each_batch(ORIGIN, 0, &mut |id: BatchId,
                                           b: BatchRecord|
     -> StoreResult<()> {
        out.push((id, b));
        Ok(())
    })?;
    Ok(out)
}

fn all_accepted(store: &mut dyn OracleStore, epoch: u64) -> StoreResult<Vec<LoggedItem>> {
    let mut out = Vec::new();
    store.for_each_accepted(Epoch(epoch), &mut |i: LoggedItem| -> StoreResult<()> {
        out.push(i);
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn sqlite_passes_the_conformance_suite() {
    let report = conformance::run(&mut || -> Box<dyn OracleStore> {
        Box::new(SqliteStore::open_in_memory().unwrap())
    });
    assert!(report.is_ok(), "in memory: {report}");
    assert!(report.passed.len() >= 20, "{:?}", report.passed);

    let dir = tempfile::tempdir().unwrap();
    let mut n = 0u32;
    let report = conformance::run(&mut || -> Box<dyn OracleStore> {
        n += 1;
        Box::new(SqliteStore::open(dir.path().join(format!("store-{n}.db"))).unwrap())
    });
    assert!(report.is_ok(), "on disk: {report}");
    assert!(n >= 20, "one fresh store per check");
}

#[test]
fn sqlite_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let a = device(1);
    let first = batch(
        vec![
            item(
                0,
                a,
                42,
                3,
                StoredVerdict::Accepted(Outcome::Energy { wh: 12 }),
            ),
            item(1, a, 43, 3, StoredVerdict::Rejected(Rejection::EnergyGap)),
        ],
        vec![RejectionCount {
            epoch: Epoch(3),
            device: None,
            reason: Rejection::Malformed,
            count: 2,
        }],
    );
    let r = result(9, vec![(a, b"receipt".to_vec())]);
    let id = {
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.name(), "sqlite");
        assert_eq!(store.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
        let c = store.commit_batch(&first).unwrap();
        store.set_meta("config", b"fingerprint").unwrap();
        assert_eq!(
            store.begin_close(Epoch(3), ORIGIN, NOW).unwrap(),
            CloseStart::Started
        );
        store.put_result(Epoch(3), &r).unwrap();
        c.id
    };

    let mut store = SqliteStore::open(&path).unwrap();
    store.health().unwrap();
    assert_eq!(store.schema_version().unwrap(), SqliteStore::SCHEMA_VERSION);
    let batches = all_batches(&mut store).unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].0, id);
    assert_eq!(batches[0].1.items, first.items);
    assert_eq!(batches[0].1.now, first.now);
    assert_eq!(
        all_accepted(&mut store, 3).unwrap(),
        vec![first.items[0].clone()]
    );
    assert_eq!(store.meta("config").unwrap(), Some(b"fingerprint".to_vec()));
    assert_eq!(store.closed_through().unwrap(), Some(Epoch(3)));
    assert_eq!(
        store.epoch(Epoch(3)).unwrap(),
        Some(EpochRow {
            epoch: Epoch(3),
            status: EpochStatus::Computed,
            closer: Some(ORIGIN.to_string()),
            root: Some([9; 32]),
            epoch_total: Some(u128::MAX),
            cumulative_total: Some(u128::MAX),
            accepted: Some(1),
            publish_tx: None,
            summary: Some(b"{}".to_vec()),
        })
    );
    assert_eq!(store.tree(Epoch(3)).unwrap(), Some(b"tree".to_vec()));
    assert_eq!(
        store.receipt(Epoch(3), &a).unwrap(),
        Some(b"receipt".to_vec())
    );
    assert_eq!(
        store.rejections(Epoch(3)).unwrap(),
        vec![(Rejection::Malformed, 2), (Rejection::EnergyGap, 1)]
    );
    assert_eq!(
        store.device_epochs(&a, Epoch(0), 10).unwrap(),
        vec![DeviceEpoch {
            epoch: Epoch(3),
            accepted: 1,
            rejected: vec![(Rejection::EnergyGap, 1)],
            receipt: Some(b"receipt".to_vec()),
        }]
    );
    // ids keep increasing across a reopen
    let next = store.commit_batch(&batch(Vec::new(), Vec::new())).unwrap();
    assert!(next.id > id);
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, i64::from(SqliteStore::SCHEMA_VERSION));
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
    // a version 2 file (no close_counts, no device_counts, the unique index on (device,
    // format, seq)) gets the tables on open, the computed epoch's device counts filled in,
    // and loses the index
    conn.execute_batch(
        "DROP TABLE close_counts; DROP TABLE device_counts; \
         CREATE UNIQUE INDEX items_accepted_stream ON items (device, format, seq) \
         WHERE accepted = 1; PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let mut reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.schema_version().unwrap(),
        SqliteStore::SCHEMA_VERSION
    );
    let explained = reopened.device_epochs(&a, Epoch(0), 10).unwrap();
    assert_eq!(
        (explained.len(), explained[0].epoch, explained[0].accepted),
        (1, Epoch(3), 1),
        "the computed epoch's count, from the filled device_counts"
    );
    drop(reopened);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let gone: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'items_accepted_stream'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gone, 0, "the unique index is dropped");
    // a version 1 file (with its index by epoch and device, and no close_counts) is
    // migrated on open, its data kept
    conn.execute_batch(
        "DROP INDEX items_accepted_by_epoch; DROP TABLE close_counts; DROP TABLE device_counts; \
         CREATE INDEX items_by_epoch ON items (epoch, accepted, device, format, seq); \
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let mut reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.schema_version().unwrap(),
        SqliteStore::SCHEMA_VERSION
    );
    let mut n = 0;
    reopened
        .for_each_accepted(Epoch(3), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 1, "the accepted item of epoch 3 is still there");
    drop(reopened);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        indexes.contains(&"items_accepted_by_epoch".to_string()),
        "{indexes:?}"
    );
    assert!(
        !indexes.contains(&"items_by_epoch".to_string()),
        "{indexes:?}"
    );

    // a version 4 file (no trust column) gets the column on open, its items untrusted
    conn.execute_batch(
        "UPDATE items SET trust = 2; ALTER TABLE items DROP COLUMN trust; PRAGMA user_version = 4;",
    )
    .unwrap();
    drop(conn);
    let mut reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.schema_version().unwrap(),
        SqliteStore::SCHEMA_VERSION
    );
    let mut levels = Vec::new();
    reopened
        .for_each_accepted(Epoch(3), &mut |i| {
            levels.push(i.trust);
            Ok(())
        })
        .unwrap();
    assert_eq!(levels, vec![depin_core::TrustLevel::Untrusted]);
    drop(reopened);
    let conn = rusqlite::Connection::open(&path).unwrap();

    // a file of a newer schema is refused, not misread
    conn.execute_batch("PRAGMA user_version = 99;").unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Corrupt(_)) => {}
        other => panic!("a newer schema must be refused: {other:?}"),
    }
}

#[test]
fn two_connections_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let mut one = SqliteStore::open(&path).unwrap();
    let mut two = SqliteStore::open(&path).unwrap();
    let a = device(1);
    let x = item(0, a, 1, 5, StoredVerdict::Accepted(Outcome::Accepted));
    let c1 = one
        .commit_batch(&batch(vec![x.clone()], Vec::new()))
        .unwrap();
    assert!(c1.duplicates.is_empty());
    // the same item verified by another ingest process counts once
    let c2 = two
        .commit_batch(&batch(vec![x.clone()], Vec::new()))
        .unwrap();
    assert_eq!(c2.duplicates, vec![0]);
    assert!(c2.id > c1.id);
    assert_eq!(all_accepted(&mut one, 5).unwrap(), vec![x]);
    assert_eq!(
        two.begin_close(Epoch(5), "ingest-2", NOW).unwrap(),
        CloseStart::Started
    );
    assert_eq!(
        one.begin_close(Epoch(5), ORIGIN, NOW).unwrap(),
        CloseStart::OwnedBy("ingest-2".to_string())
    );
    let late = item(0, a, 2, 5, StoredVerdict::Accepted(Outcome::Accepted));
    let c3 = one.commit_batch(&batch(vec![late], Vec::new())).unwrap();
    assert_eq!(c3.closed, vec![0]);
}

#[test]
fn a_failed_commit_leaves_nothing() {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let a = device(1);
    let good = item(0, a, 1, 5, StoredVerdict::Accepted(Outcome::Accepted));
    // two items with the same index: the second insert fails, the batch is rolled back
    let clash = item(0, a, 2, 5, StoredVerdict::Accepted(Outcome::Accepted));
    let bad = batch(
        vec![good.clone(), clash],
        vec![RejectionCount {
            epoch: Epoch(5),
            device: None,
            reason: Rejection::Malformed,
            count: 1,
        }],
    );
    match store.commit_batch(&bad) {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a batch with a repeated index must fail: {other:?}"),
    }
    assert!(all_batches(&mut store).unwrap().is_empty());
    assert!(all_accepted(&mut store, 5).unwrap().is_empty());
    assert!(store.rejections(Epoch(5)).unwrap().is_empty());
    // nothing of it counts as seen
    let c = store
        .commit_batch(&batch(vec![good.clone()], Vec::new()))
        .unwrap();
    assert!(c.duplicates.is_empty());
    assert_eq!(all_accepted(&mut store, 5).unwrap(), vec![good]);
}

/// How a [`Mutant`] breaks the store contract.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mutation {
    /// `commit_batch` stores duplicates as refused but does not name them.
    HideDuplicates,
    /// `for_each_batch` ignores `after`.
    IgnoreAfter,
    /// `begin_close` lets another closer take over a closing epoch.
    StealClose,
    /// `put_result` swallows conflicts.
    SwallowConflict,
    /// `for_each_accepted` yields the items in reverse order.
    Reversed,
}

/// A SQLite store with one rule broken.
struct Mutant {
    inner: SqliteStore,
    m: Mutation,
}

impl OracleStore for Mutant {
    fn name(&self) -> &'static str {
        "mutant"
    }
    fn health(&mut self) -> StoreResult<()> {
        self.inner.health()
    }
    fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed> {
        let mut c = self.inner.commit_batch(batch)?;
        if self.m == Mutation::HideDuplicates {
            c.duplicates.clear();
        }
        Ok(c)
    }
    fn for_each_batch(
        &mut self,
        origin: &str,
        after: BatchId,
        f: &mut dyn FnMut(BatchId, BatchRecord) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let after = if self.m == Mutation::IgnoreAfter {
            0
        } else {
            after
        };
        self.inner.for_each_batch(origin, after, f)
    }
    fn for_each_accepted(
        &mut self,
        epoch: Epoch,
        f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
    ) -> StoreResult<()> {
        if self.m != Mutation::Reversed {
            return self.inner.for_each_accepted(epoch, f);
        }
        let mut items = all_accepted(&mut self.inner, epoch.0)?;
        items.reverse();
        for i in items {
            f(i)?;
        }
        Ok(())
    }
    fn closed_through(&mut self) -> StoreResult<Option<Epoch>> {
        self.inner.closed_through()
    }
    fn begin_close(
        &mut self,
        epoch: Epoch,
        closer: &str,
        at: Timestamp,
    ) -> StoreResult<CloseStart> {
        match self.inner.begin_close(epoch, closer, at) {
            Ok(CloseStart::OwnedBy(_)) if self.m == Mutation::StealClose => Ok(CloseStart::Started),
            other => other,
        }
    }
    fn put_result(&mut self, epoch: Epoch, result: &EpochResult) -> StoreResult<()> {
        match self.inner.put_result(epoch, result) {
            Err(StoreError::Conflict(_)) if self.m == Mutation::SwallowConflict => Ok(()),
            other => other,
        }
    }
    fn mark_published(&mut self, epoch: Epoch, tx: Option<&str>) -> StoreResult<()> {
        self.inner.mark_published(epoch, tx)
    }
    fn epoch(&mut self, epoch: Epoch) -> StoreResult<Option<EpochRow>> {
        self.inner.epoch(epoch)
    }
    fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>> {
        self.inner.epochs(from, limit)
    }
    fn latest_result(&mut self) -> StoreResult<Option<EpochRow>> {
        self.inner.latest_result()
    }
    fn tree(&mut self, epoch: Epoch) -> StoreResult<Option<Vec<u8>>> {
        self.inner.tree(epoch)
    }
    fn receipt(&mut self, epoch: Epoch, device: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
        self.inner.receipt(epoch, device)
    }
    fn device_epochs(
        &mut self,
        device: &DeviceId,
        from: Epoch,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEpoch>> {
        self.inner.device_epochs(device, from, limit)
    }
    fn rejections(&mut self, epoch: Epoch) -> StoreResult<Vec<(Rejection, u64)>> {
        self.inner.rejections(epoch)
    }
    fn meta(&mut self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.meta(key)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.inner.set_meta(key, value)
    }
}

#[test]
fn a_broken_store_fails_the_suite() {
    let cases = [
        (Mutation::HideDuplicates, "duplicate_copy_in_later_batch"),
        (Mutation::IgnoreAfter, "batches_after_skips"),
        (Mutation::StealClose, "close_resumes_by_same_closer"),
        (Mutation::SwallowConflict, "put_result_once"),
        (Mutation::Reversed, "accepted_in_order_with_exact_fields"),
    ];
    for (m, check) in cases {
        let report = conformance::run(&mut || -> Box<dyn OracleStore> {
            Box::new(Mutant {
                inner: SqliteStore::open_in_memory().unwrap(),
                m,
            })
        });
        assert!(!report.is_ok(), "{m:?} passed the suite");
        assert!(
            report.failed.iter().any(|(name, _)| *name == check),
            "{m:?} must fail {check}: {report}"
        );
        // the other checks still ran
        assert!(report.passed.len() >= 15, "{m:?}: {report}");
    }
}

/// A store file with data in every table, damaged by `sql` through a raw connection, and
/// the store reopened on it.
fn corrupted(sql: &str) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let a = device(1);
    {
        let mut store = SqliteStore::open(&path).unwrap();
        let b = batch(
            vec![
                item(
                    0,
                    a,
                    1,
                    3,
                    StoredVerdict::Accepted(Outcome::Energy { wh: 5 }),
                ),
                item(1, a, 2, 3, StoredVerdict::Rejected(Rejection::EnergyGap)),
            ],
            vec![RejectionCount {
                epoch: Epoch(3),
                device: Some(a),
                reason: Rejection::Stale,
                count: 2,
            }],
        );
        store.commit_batch(&b).unwrap();
        store.begin_close(Epoch(3), ORIGIN, NOW).unwrap();
        store
            .put_result(Epoch(3), &result(1, vec![(a, b"r".to_vec())]))
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(sql).unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    (dir, store)
}

fn assert_corrupt<T: std::fmt::Debug>(what: &str, r: StoreResult<T>) {
    match r {
        Err(StoreError::Corrupt(msg)) => assert!(!msg.is_empty()),
        other => panic!("{what}: want Corrupt, got {other:?}"),
    }
}

#[test]
fn corrupt_rows_give_typed_errors() {
    let a = device(1);

    let (_dir, mut s) = corrupted("UPDATE items SET reason = 'nonsense' WHERE accepted = 0;");
    assert_corrupt("unknown reason code", all_batches(&mut s));

    let (_dir, mut s) = corrupted("UPDATE items SET device = 'not a did' WHERE accepted = 1;");
    assert_corrupt("bad device text", all_accepted(&mut s, 3));
    assert_corrupt("bad device text in a batch", all_batches(&mut s));

    let (_dir, mut s) = corrupted("UPDATE items SET digest = X'0102' WHERE accepted = 1;");
    assert_corrupt("short digest", all_accepted(&mut s, 3));

    let (_dir, mut s) = corrupted("UPDATE items SET outcome = '{\"bogus\":1}' WHERE accepted = 1;");
    assert_corrupt("undecodable outcome", all_accepted(&mut s, 3));

    let (_dir, mut s) = corrupted("UPDATE items SET outcome = NULL WHERE accepted = 1;");
    assert_corrupt("accepted without an outcome", all_accepted(&mut s, 3));

    let (_dir, mut s) = corrupted("UPDATE items SET format = 9;");
    assert_corrupt("unknown format", all_batches(&mut s));

    let (_dir, mut s) = corrupted("UPDATE items SET seq = 'many' WHERE accepted = 1;");
    assert_corrupt("text sequence number", all_accepted(&mut s, 3));

    let (_dir, mut s) = corrupted("UPDATE items SET epoch = -1 WHERE accepted = 0;");
    assert_corrupt("negative epoch", all_batches(&mut s));

    let (_dir, mut s) = corrupted("UPDATE epochs SET status = 'weird';");
    assert_corrupt("unknown status", s.epoch(Epoch(3)));
    assert_corrupt("unknown status in a listing", s.epochs(Epoch(0), 10));
    assert_corrupt(
        "unknown status on close",
        s.begin_close(Epoch(3), ORIGIN, NOW),
    );
    assert_corrupt(
        "unknown status on put_result",
        s.put_result(Epoch(3), &result(1, Vec::new())),
    );

    let (_dir, mut s) = corrupted("UPDATE epochs SET epoch_total = 'lots';");
    assert_corrupt("bad total", s.epoch(Epoch(3)));
    assert_corrupt("bad total in latest_result", s.latest_result());

    let (_dir, mut s) = corrupted("UPDATE epochs SET root = X'00';");
    assert_corrupt("short root", s.epoch(Epoch(3)));

    let (_dir, mut s) = corrupted("UPDATE counts SET reason = 'nonsense' WHERE reason = 'stale';");
    assert_corrupt("unknown counted reason", s.rejections(Epoch(3)));
    assert_corrupt(
        "unknown counted reason per device",
        s.device_epochs(&a, Epoch(0), 10),
    );

    // the undamaged parts still read
    let (_dir, mut s) = corrupted("UPDATE counts SET reason = 'nonsense' WHERE reason = 'stale';");
    assert_eq!(all_accepted(&mut s, 3).unwrap().len(), 1);
    assert_eq!(s.receipt(Epoch(3), &a).unwrap(), Some(b"r".to_vec()));
}

/// "Counted once" against a model: three connections on one file (two ingest processes and
/// a reader that opens late) commit random batches drawn from a small key space (so
/// copies are frequent, inside a batch and across connections), with one connection
/// reopened now and then (its keys rebuilt from the file) and epochs closed as they go.
/// Every answer matches the model (accepted once per epoch and (device, format, seq),
/// `epoch_closed` once the close began), and so do the stored accepted items and every
/// device's explanation.
#[test]
fn counted_once_holds_across_connections_reopens_and_closes() {
    use std::collections::{BTreeMap, BTreeSet};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.db");
    let devices: Vec<DeviceId> = (1..=4).map(device).collect();
    for seed in 0..6u64 {
        let _ = std::fs::remove_file(&path);
        let mut writers = [
            SqliteStore::open(&path).unwrap(),
            SqliteStore::open(&path).unwrap(),
        ];
        // model: accepted keys per epoch, epochs whose close began
        let mut accepted: BTreeMap<u64, BTreeSet<(usize, u8, u64)>> = BTreeMap::new();
        let mut closed: BTreeSet<u64> = BTreeSet::new();
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut open_epoch = 1u64;
        for round in 0..120 {
            let w = next(2) as usize;
            if next(17) == 0 {
                // a restart: the keys are rebuilt from the file
                writers[w] = SqliteStore::open(&path).unwrap();
            }
            if next(23) == 0 && open_epoch < 4 {
                let c = writers[w]
                    .begin_close(Epoch(open_epoch), ORIGIN, NOW)
                    .unwrap();
                assert_eq!(c, CloseStart::Started, "seed {seed} round {round}");
                closed.insert(open_epoch);
                open_epoch += 1;
            }
            let n = 1 + next(12) as usize;
            let mut items = Vec::new();
            let mut want_dup = Vec::new();
            let mut want_closed = Vec::new();
            let mut batch_keys = BTreeSet::new();
            for i in 0..n {
                let d = next(4) as usize;
                let format = if next(2) == 0 {
                    ItemFormat::Frame
                } else {
                    ItemFormat::Envelope
                };
                let seq = next(6);
                let epoch = open_epoch.saturating_sub(next(2)).max(1);
                let mut it = item(
                    i as u32,
                    devices[d],
                    seq,
                    epoch,
                    StoredVerdict::Accepted(Outcome::Accepted),
                );
                it.format = format;
                let key = (d, format.code(), seq);
                if closed.contains(&epoch) {
                    want_closed.push(i as u32);
                } else if accepted.get(&epoch).is_some_and(|s| s.contains(&key))
                    || !batch_keys.insert((epoch, key))
                {
                    want_dup.push(i as u32);
                }
                items.push(it);
            }
            let c = writers[w].commit_batch(&batch(items, Vec::new())).unwrap();
            assert_eq!(c.duplicates, want_dup, "seed {seed} round {round}");
            assert_eq!(c.closed, want_closed, "seed {seed} round {round}");
            for (epoch, key) in batch_keys {
                if !closed.contains(&epoch) {
                    accepted.entry(epoch).or_default().insert(key);
                }
            }
        }
        // what is stored, and what a late reader explains, is the model
        let mut reader = SqliteStore::open(&path).unwrap();
        for (epoch, keys) in &accepted {
            let stored = all_accepted(&mut reader, *epoch).unwrap();
            assert_eq!(stored.len(), keys.len(), "seed {seed} epoch {epoch}");
            for (d, dev) in devices.iter().enumerate() {
                let n = keys.iter().filter(|k| k.0 == d).count() as u64;
                let record = reader.device_epochs(dev, Epoch(*epoch), 1).unwrap();
                let got = record
                    .first()
                    .filter(|r| r.epoch == Epoch(*epoch))
                    .map_or(0, |r| r.accepted);
                assert_eq!(got, n, "seed {seed} epoch {epoch} device {d}");
            }
        }
    }
}
