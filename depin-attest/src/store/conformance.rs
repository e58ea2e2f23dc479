//! The store conformance suite: the behaviour every [`OracleStore`] must have, checked on
//! fresh stores. Run it against your own implementation:
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")] {
//! use depin_attest::store::conformance;
//! use depin_attest::store::sqlite::SqliteStore;
//! use depin_attest::store::OracleStore;
//! let report = conformance::run(&mut || -> Box<dyn OracleStore> {
//!     Box::new(SqliteStore::open_in_memory().unwrap())
//! });
//! assert!(report.is_ok(), "{report}");
//! # }
//! ```
//!
//! Each check gets its own store from `make` (it must be empty), and every check runs even
//! when others fail (or panic). The suite itself never panics: failures are reported as
//! text in [`Report::failed`].
//!
//! What it checks: batches come back per origin, in commit order, after a given id, with
//! every field of every item and its verdict as stored; accepted items of an epoch come
//! back in (device text, format, unsigned sequence number) order; duplicates (by device,
//! format and sequence number: resent copies and other items of a used sequence number;
//! across batches and within one) and items of
//! closing epochs are stored as refused and named; epochs close in order, a close resumes
//! by the same closer only; results are stored once (same root again is a no-op, another
//! root a conflict), published once, and listed; receipts, trees, per-device epochs and
//! rejection totals (logged and counted refusals together, sorted by reason); metadata;
//! `u128` totals and policy rejections round-trip.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use depin_core::{DeviceId, Epoch, KeyType, SigningKey, Timestamp};
use sha2::{Digest, Sha256};

use super::{
    BatchId, BatchRecord, CloseStart, Committed, DeviceEpoch, EpochResult, EpochRow, EpochStatus,
    ItemFormat, LoggedItem, OracleStore, RejectionCount, StoreError, StoreResult, StoredVerdict,
};
use crate::bandwidth::SpeedTier;
use crate::kind::{AttestationKind, Label};
use crate::pipeline::Outcome;
use crate::reason::{PolicyRejection, Rejection};

/// What [`run`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The names of the checks that passed, in order.
    pub passed: Vec<&'static str>,
    /// The checks that failed, with what happened instead.
    pub failed: Vec<(&'static str, String)>,
}

impl Report {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "store conformance: {} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        )?;
        for (name, why) in &self.failed {
            write!(f, "\n  {name}: {why}")?;
        }
        Ok(())
    }
}

/// One check's outcome.
type Check = Result<(), String>;
/// One check.
type CheckFn = fn(&mut dyn OracleStore) -> Check;

/// Every check, by name.
const CHECKS: &[(&str, CheckFn)] = &[
    ("health", check_health),
    ("batches_round_trip", check_batches_round_trip),
    ("batches_of_other_origins_hidden", check_other_origins),
    ("batches_after_skips", check_after),
    ("batches_stop_at_first_error", check_batches_stop),
    ("accepted_in_order_with_exact_fields", check_accepted_order),
    ("accepted_stop_at_first_error", check_accepted_stop),
    ("duplicate_copy_in_later_batch", check_duplicate_copy),
    ("duplicate_device_format_seq", check_duplicate_stream),
    ("duplicate_within_one_batch", check_duplicate_within_batch),
    ("refused_items_do_not_count_as_seen", check_refused_not_seen),
    ("closed_through", check_closed_through),
    ("closing_epoch_refuses_items", check_closing_refuses),
    ("epochs_close_in_order", check_close_order),
    ("close_resumes_by_same_closer", check_close_resume),
    ("put_result_once", check_put_result),
    ("put_result_needs_closing", check_put_result_needs_closing),
    ("mark_published", check_mark_published),
    ("latest_result", check_latest_result),
    ("epochs_listing", check_epochs_listing),
    ("tree_and_receipts", check_tree_and_receipts),
    ("device_epochs", check_device_epochs),
    ("items_carry_their_batch_time", check_batch_time),
    ("close_rejections", check_close_rejections),
    ("rejection_totals", check_rejection_totals),
    ("meta", check_meta),
    ("u128_totals_round_trip", check_u128_totals),
    ("policy_rejection_round_trip", check_policy_rejection),
];

/// Run every check, each on a fresh store from `make`.
pub fn run(make: &mut dyn FnMut() -> Box<dyn OracleStore>) -> Report {
    let mut report = Report::default();
    for &(name, check) in CHECKS {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut store = make();
            check(&mut *store)
        }));
        match outcome {
            Ok(Ok(())) => report.passed.push(name),
            Ok(Err(why)) => report.failed.push((name, why)),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-text panic".to_string());
                report.failed.push((name, format!("panicked: {msg}")));
            }
        }
    }
    report
}

// ---- fixtures ----

const ORIGIN: &str = "oracle-a";
const OTHER: &str = "oracle-b";
const NOW: Timestamp = Timestamp(1_700_000_000_000);
const SPEED: Rejection = Rejection::Policy(PolicyRejection::new(
    Label::new("mapping_speed"),
    Label::new("impossible_speed"),
));

/// A device with an Ed25519 key from `seed`.
fn device(seed: u8) -> Result<DeviceId, String> {
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[seed; 32])
        .map_err(|e| format!("fixture key: {e}"))?;
    Ok(DeviceId::from(&key.public_key()))
}

fn devices() -> Result<[DeviceId; 3], String> {
    Ok([device(1)?, device(2)?, device(3)?])
}

/// A digest unique per (device, format, seq, salt).
fn digest(device: &DeviceId, format: ItemFormat, seq: u64, salt: u8) -> [u8; 32] {
    let (id, len) = device.to_bytes();
    let mut h = Sha256::new();
    h.update(b"depin-attest store conformance");
    h.update(&id[..len]);
    h.update([format.code(), salt]);
    h.update(seq.to_le_bytes());
    h.finalize().into()
}

/// A logged item; its bytes hold zero and 0xff bytes to catch text conversions.
fn item(
    index: u32,
    device: DeviceId,
    format: ItemFormat,
    seq: u64,
    epoch: u64,
    verdict: StoredVerdict,
) -> LoggedItem {
    let mut bytes = vec![0x00, 0xff, format.code(), 0x00];
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    LoggedItem {
        index,
        format,
        bytes,
        device,
        kind: AttestationKind(0x0100 + u16::from(format.code())),
        seq,
        timestamp: Timestamp(NOW.0.wrapping_add(u64::from(index))),
        digest: digest(&device, format, seq, 0),
        epoch: Epoch(epoch),
        now: NOW,
        verdict,
        // every level, so that each round trip checks the trust column too
        trust: depin_core::TrustLevel::ALL[(index % 3) as usize],
    }
}

fn acc(outcome: Outcome) -> StoredVerdict {
    StoredVerdict::Accepted(outcome)
}

fn refused(reason: Rejection) -> StoredVerdict {
    StoredVerdict::Rejected(reason)
}

fn record(origin: &str, items: Vec<LoggedItem>, rejections: Vec<RejectionCount>) -> BatchRecord {
    BatchRecord {
        origin: origin.to_string(),
        now: NOW,
        items,
        rejections,
    }
}

fn counted(epoch: u64, device: Option<DeviceId>, reason: Rejection, count: u64) -> RejectionCount {
    RejectionCount {
        epoch: Epoch(epoch),
        device,
        reason,
        count,
    }
}

fn result(root: u8, receipts: Vec<(DeviceId, Vec<u8>)>) -> EpochResult {
    EpochResult {
        root: [root; 32],
        epoch_total: 1_000 + u128::from(root),
        cumulative_total: 5_000 + u128::from(root),
        accepted: 3,
        close_rejections: Vec::new(),
        receipts,
        tree: vec![b't', 0x00, root, 0xff],
        summary: b"{\"summary\":true}".to_vec(),
    }
}

/// The batch as the suite compares it: implementations may leave out the counted
/// rejections when they replay a batch.
fn bare(b: &BatchRecord) -> BatchRecord {
    BatchRecord {
        rejections: Vec::new(),
        ..b.clone()
    }
}

/// `item` with its verdict replaced (as the store rewrites it).
fn rewritten(item: &LoggedItem, reason: Rejection) -> LoggedItem {
    LoggedItem {
        verdict: refused(reason),
        ..item.clone()
    }
}

fn is_accepted_of(items: &[LoggedItem], epoch: u64) -> Vec<LoggedItem> {
    let mut out: Vec<LoggedItem> = items
        .iter()
        .filter(|i| i.verdict.is_accepted() && i.epoch == Epoch(epoch))
        .cloned()
        .collect();
    out.sort_by(|a, b| {
        (a.device.to_string(), a.format.code(), a.seq).cmp(&(
            b.device.to_string(),
            b.format.code(),
            b.seq,
        ))
    });
    out
}

// ---- helpers ----

fn ok<T>(what: &str, r: StoreResult<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: unexpected error: {e}"))
}

fn eq<T: PartialEq + fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn conflict<T: fmt::Debug>(what: &str, r: StoreResult<T>) -> Check {
    match r {
        Err(StoreError::Conflict(_)) => Ok(()),
        other => Err(format!("{what}: want a Conflict error, got {other:?}")),
    }
}

fn commit(s: &mut dyn OracleStore, b: &BatchRecord) -> Result<Committed, String> {
    ok("commit_batch", s.commit_batch(b))
}

/// Commit `b`, which must store every item as given.
fn commit_clean(s: &mut dyn OracleStore, b: &BatchRecord) -> Result<Committed, String> {
    let c = commit(s, b)?;
    eq(
        "duplicates of a clean batch",
        c.duplicates.clone(),
        Vec::new(),
    )?;
    eq("closed of a clean batch", c.closed.clone(), Vec::new())?;
    Ok(c)
}

fn batches(
    s: &mut dyn OracleStore,
    origin: &str,
    after: BatchId,
) -> Result<Vec<(BatchId, BatchRecord)>, String> {
    let mut out = Vec::new();
    let mut push = |id: BatchId, b: BatchRecord| -> StoreResult<()> {
        out.push((id, bare(&b)));
        Ok(())
    };
    ok("for_each_batch", s.for_each_batch(origin, after, &mut push))?;
    Ok(out)
}

fn batch_ids(
    s: &mut dyn OracleStore,
    origin: &str,
    after: BatchId,
) -> Result<Vec<BatchId>, String> {
    Ok(batches(s, origin, after)?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

fn accepted(s: &mut dyn OracleStore, epoch: u64) -> Result<Vec<LoggedItem>, String> {
    let mut out = Vec::new();
    ok(
        "for_each_accepted",
        s.for_each_accepted(Epoch(epoch), &mut |i: LoggedItem| -> StoreResult<()> {
            out.push(i);
            Ok(())
        }),
    )?;
    Ok(out)
}

fn close(s: &mut dyn OracleStore, epoch: u64) -> Check {
    let r = ok(
        "begin_close",
        s.begin_close(Epoch(epoch), ORIGIN, Timestamp(NOW.0 + epoch)),
    )?;
    eq(&format!("begin_close({epoch})"), r, CloseStart::Started)
}

fn row(s: &mut dyn OracleStore, epoch: u64) -> Result<EpochRow, String> {
    ok("epoch", s.epoch(Epoch(epoch)))?.ok_or_else(|| format!("epoch {epoch} has no row"))
}

fn sorted(mut v: Vec<(Rejection, u64)>) -> Vec<(Rejection, u64)> {
    v.sort_by_key(|a| a.0);
    v
}

fn computed_row(epoch: u64, r: &EpochResult, status: EpochStatus) -> EpochRow {
    EpochRow {
        epoch: Epoch(epoch),
        status,
        closer: Some(ORIGIN.to_string()),
        root: Some(r.root),
        epoch_total: Some(r.epoch_total),
        cumulative_total: Some(r.cumulative_total),
        accepted: Some(r.accepted),
        publish_tx: None,
        summary: Some(r.summary.clone()),
    }
}

fn latest(s: &mut dyn OracleStore) -> Result<Option<(Epoch, EpochStatus)>, String> {
    Ok(ok("latest_result", s.latest_result())?.map(|r| (r.epoch, r.status)))
}

fn list(s: &mut dyn OracleStore, from: u64, limit: usize) -> Result<Vec<u64>, String> {
    Ok(ok("epochs", s.epochs(Epoch(from), limit))?
        .into_iter()
        .map(|r| r.epoch.0)
        .collect())
}

fn of(
    s: &mut dyn OracleStore,
    d: &DeviceId,
    from: u64,
    limit: usize,
) -> Result<Vec<DeviceEpoch>, String> {
    ok("device_epochs", s.device_epochs(d, Epoch(from), limit))
}

fn totals(s: &mut dyn OracleStore, epoch: u64) -> Result<Vec<(Rejection, u64)>, String> {
    ok("rejections", s.rejections(Epoch(epoch)))
}

// ---- checks ----

fn check_health(s: &mut dyn OracleStore) -> Check {
    ok("health", s.health())?;
    if s.name().is_empty() {
        return Err("name() is empty".into());
    }
    Ok(())
}

fn check_batches_round_trip(s: &mut dyn OracleStore) -> Check {
    let [a, b, c] = devices()?;
    let first = record(
        ORIGIN,
        vec![
            item(
                0,
                a,
                ItemFormat::Frame,
                1,
                7,
                acc(Outcome::Report { report_kind: 3 }),
            ),
            item(
                1,
                b,
                ItemFormat::Envelope,
                1,
                7,
                refused(Rejection::BeaconTooSoon),
            ),
            item(2, c, ItemFormat::Envelope, u64::MAX, 7, refused(SPEED)),
            item(5, a, ItemFormat::Envelope, 2, 8, acc(Outcome::Accepted)),
        ],
        vec![
            counted(7, Some(b), Rejection::BadSignature, 2),
            counted(7, None, Rejection::Malformed, 5),
        ],
    );
    let second = record(
        ORIGIN,
        vec![item(0, b, ItemFormat::Frame, 9, 8, acc(Outcome::Recorded))],
        Vec::new(),
    );
    let empty = record(ORIGIN, Vec::new(), Vec::new());
    let c1 = commit_clean(s, &first)?;
    let c2 = commit_clean(s, &second)?;
    let c3 = commit_clean(s, &empty)?;
    if c1.id == 0 {
        return Err("batch ids must start above 0 (`after` = 0 replays everything)".into());
    }
    if !(c1.id < c2.id && c2.id < c3.id) {
        return Err(format!(
            "batch ids must increase in commit order: {}, {}, {}",
            c1.id, c2.id, c3.id
        ));
    }
    eq(
        "for_each_batch(origin, 0)",
        batches(s, ORIGIN, 0)?,
        vec![
            (c1.id, bare(&first)),
            (c2.id, bare(&second)),
            (c3.id, bare(&empty)),
        ],
    )
}

fn check_other_origins(s: &mut dyn OracleStore) -> Check {
    let [a, b, _] = devices()?;
    let mine = record(
        ORIGIN,
        vec![item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted))],
        Vec::new(),
    );
    let theirs = record(
        OTHER,
        vec![item(0, b, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted))],
        Vec::new(),
    );
    let mine_again = record(
        ORIGIN,
        vec![item(0, a, ItemFormat::Frame, 2, 7, acc(Outcome::Accepted))],
        Vec::new(),
    );
    let c1 = commit_clean(s, &mine)?;
    let c2 = commit_clean(s, &theirs)?;
    let c3 = commit_clean(s, &mine_again)?;
    eq(
        "batches of ORIGIN",
        batches(s, ORIGIN, 0)?,
        vec![(c1.id, bare(&mine)), (c3.id, bare(&mine_again))],
    )?;
    eq(
        "batches of OTHER",
        batches(s, OTHER, 0)?,
        vec![(c2.id, bare(&theirs))],
    )?;
    eq("batches of nobody", batch_ids(s, "nobody", 0)?, Vec::new())
}

fn check_after(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let mut ids = Vec::new();
    for seq in 1..=3 {
        let b = record(
            ORIGIN,
            vec![item(
                0,
                a,
                ItemFormat::Frame,
                seq,
                7,
                acc(Outcome::Accepted),
            )],
            Vec::new(),
        );
        ids.push(commit_clean(s, &b)?.id);
    }
    let [i1, i2, i3] = <[BatchId; 3]>::try_from(ids).map_err(|ids| format!("batch ids {ids:?}"))?;
    eq("after 0", batch_ids(s, ORIGIN, 0)?, vec![i1, i2, i3])?;
    eq("after the first", batch_ids(s, ORIGIN, i1)?, vec![i2, i3])?;
    eq("after the second", batch_ids(s, ORIGIN, i2)?, vec![i3])?;
    eq("after the last", batch_ids(s, ORIGIN, i3)?, Vec::new())?;
    eq(
        "after u64::MAX",
        batch_ids(s, ORIGIN, u64::MAX)?,
        Vec::new(),
    )
}

fn check_batches_stop(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    for seq in 1..=3 {
        let b = record(
            ORIGIN,
            vec![item(
                0,
                a,
                ItemFormat::Frame,
                seq,
                7,
                acc(Outcome::Accepted),
            )],
            Vec::new(),
        );
        commit_clean(s, &b)?;
    }
    let stop = StoreError::Unavailable("stop here".into());
    let mut calls = 0;
    let r = s.for_each_batch(ORIGIN, 0, &mut |_: BatchId,
                                              _: BatchRecord|
     -> StoreResult<()> {
        calls += 1;
        Err(StoreError::Unavailable("stop here".into()))
    });
    eq("for_each_batch result", r, Err(stop))?;
    eq("calls after the first error", calls, 1)
}

fn check_accepted_order(s: &mut dyn OracleStore) -> Check {
    let [a, b, c] = devices()?;
    let mut last = item(
        2,
        a,
        ItemFormat::Frame,
        1 << 63,
        7,
        acc(Outcome::Report { report_kind: 255 }),
    );
    last.timestamp = Timestamp(u64::MAX);
    last.kind = AttestationKind(u16::MAX);
    let first = record(
        ORIGIN,
        vec![
            item(
                0,
                b,
                ItemFormat::Envelope,
                5,
                7,
                acc(Outcome::Energy { wh: u64::MAX }),
            ),
            item(
                1,
                a,
                ItemFormat::Envelope,
                u64::MAX,
                7,
                acc(Outcome::Credited {
                    policy: Label::new("x"),
                    units: 42,
                }),
            ),
            item(
                2,
                a,
                ItemFormat::Frame,
                3,
                7,
                acc(Outcome::Tier(SpeedTier::Degraded)),
            ),
            item(3, c, ItemFormat::Frame, 1, 8, acc(Outcome::Accepted)),
            item(4, a, ItemFormat::Frame, 4, 7, refused(Rejection::EnergyGap)),
        ],
        Vec::new(),
    );
    let second = record(
        OTHER,
        vec![
            item(
                0,
                a,
                ItemFormat::Envelope,
                1,
                7,
                acc(Outcome::Proven {
                    root: [9; 32],
                    epoch: Epoch(6),
                }),
            ),
            item(
                1,
                b,
                ItemFormat::Frame,
                0,
                7,
                acc(Outcome::PendingSelection),
            ),
            last,
            item(
                3,
                c,
                ItemFormat::Envelope,
                0,
                7,
                acc(Outcome::Energy { wh: 0 }),
            ),
        ],
        Vec::new(),
    );
    commit_clean(s, &first)?;
    commit_clean(s, &second)?;
    let all: Vec<LoggedItem> = first.items.iter().chain(&second.items).cloned().collect();
    eq(
        "accepted of epoch 7",
        accepted(s, 7)?,
        is_accepted_of(&all, 7),
    )?;
    eq(
        "accepted of epoch 8",
        accepted(s, 8)?,
        is_accepted_of(&all, 8),
    )?;
    eq("accepted of epoch 9", accepted(s, 9)?, Vec::new())
}

fn check_accepted_stop(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let b = record(
        ORIGIN,
        (0..3)
            .map(|i| {
                item(
                    i,
                    a,
                    ItemFormat::Frame,
                    u64::from(i),
                    7,
                    acc(Outcome::Accepted),
                )
            })
            .collect(),
        Vec::new(),
    );
    commit_clean(s, &b)?;
    let mut calls = 0;
    let r = s.for_each_accepted(Epoch(7), &mut |_: LoggedItem| -> StoreResult<()> {
        calls += 1;
        Err(StoreError::Unavailable("stop here".into()))
    });
    eq(
        "for_each_accepted result",
        r,
        Err(StoreError::Unavailable("stop here".into())),
    )?;
    eq("calls after the first error", calls, 1)
}

/// The same item sent again (same digest, same sequence number) in a later batch.
fn check_duplicate_copy(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let x = item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    let mut y = x.clone();
    y.index = 3;
    let first = record(ORIGIN, vec![x.clone()], Vec::new());
    let second = record(ORIGIN, vec![y.clone()], Vec::new());
    let c1 = commit_clean(s, &first)?;
    let c2 = commit(s, &second)?;
    eq("duplicates", c2.duplicates.clone(), vec![3])?;
    eq("closed", c2.closed.clone(), Vec::new())?;
    eq(
        "batches as stored",
        batches(s, ORIGIN, 0)?,
        vec![
            (c1.id, bare(&first)),
            (
                c2.id,
                record(ORIGIN, vec![rewritten(&y, Rejection::Replayed)], Vec::new()),
            ),
        ],
    )?;
    eq("accepted of epoch 7", accepted(s, 7)?, vec![x])
}

fn check_duplicate_stream(s: &mut dyn OracleStore) -> Check {
    let [a, b, _] = devices()?;
    let x = item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    let mut y = item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Recorded));
    y.digest = digest(&a, ItemFormat::Frame, 1, 1);
    // the same sequence number in the other format, and of another device: not duplicates
    let z = item(1, a, ItemFormat::Envelope, 1, 7, acc(Outcome::Accepted));
    let w = item(2, b, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    commit_clean(s, &record(ORIGIN, vec![x.clone()], Vec::new()))?;
    let second = record(ORIGIN, vec![y.clone(), z.clone(), w.clone()], Vec::new());
    let c = commit(s, &second)?;
    eq("duplicates", c.duplicates.clone(), vec![0])?;
    eq("closed", c.closed.clone(), Vec::new())?;
    let stored = batches(s, ORIGIN, c.id.saturating_sub(1))?;
    eq(
        "second batch as stored",
        stored,
        vec![(
            c.id,
            record(
                ORIGIN,
                vec![rewritten(&y, Rejection::Replayed), z.clone(), w.clone()],
                Vec::new(),
            ),
        )],
    )?;
    eq(
        "accepted of epoch 7",
        accepted(s, 7)?,
        is_accepted_of(&[x, z, w], 7),
    )
}

fn check_duplicate_within_batch(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let x = item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    let mut y = x.clone();
    y.index = 1;
    let mut z = item(2, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    z.digest = digest(&a, ItemFormat::Frame, 1, 2);
    let b = record(ORIGIN, vec![x.clone(), y.clone(), z.clone()], Vec::new());
    let c = commit(s, &b)?;
    eq("duplicates", c.duplicates.clone(), vec![1, 2])?;
    eq("closed", c.closed.clone(), Vec::new())?;
    eq(
        "batch as stored",
        batches(s, ORIGIN, 0)?,
        vec![(
            c.id,
            record(
                ORIGIN,
                vec![
                    x.clone(),
                    rewritten(&y, Rejection::Replayed),
                    rewritten(&z, Rejection::Replayed),
                ],
                Vec::new(),
            ),
        )],
    )?;
    eq("accepted of epoch 7", accepted(s, 7)?, vec![x])
}

fn check_refused_not_seen(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let r = item(0, a, ItemFormat::Frame, 1, 7, refused(SPEED));
    let x = item(0, a, ItemFormat::Frame, 1, 7, acc(Outcome::Accepted));
    commit_clean(s, &record(ORIGIN, vec![r], Vec::new()))?;
    commit_clean(s, &record(ORIGIN, vec![x.clone()], Vec::new()))?;
    eq("accepted of epoch 7", accepted(s, 7)?, vec![x])
}

fn check_closed_through(s: &mut dyn OracleStore) -> Check {
    eq(
        "closed_through of a new store",
        ok("closed_through", s.closed_through())?,
        None,
    )?;
    close(s, 3)?;
    eq(
        "closed_through",
        ok("closed_through", s.closed_through())?,
        Some(Epoch(3)),
    )?;
    close(s, 4)?;
    eq(
        "closed_through",
        ok("closed_through", s.closed_through())?,
        Some(Epoch(4)),
    )?;
    let r = result(1, Vec::new());
    ok("put_result", s.put_result(Epoch(4), &r))?;
    ok("mark_published", s.mark_published(Epoch(4), None))?;
    eq(
        "closed_through after publishing",
        ok("closed_through", s.closed_through())?,
        Some(Epoch(4)),
    )
}

fn check_closing_refuses(s: &mut dyn OracleStore) -> Check {
    let [a, b, _] = devices()?;
    let first = item(0, a, ItemFormat::Frame, 1, 5, acc(Outcome::Accepted));
    commit_clean(s, &record(ORIGIN, vec![first.clone()], Vec::new()))?;
    close(s, 5)?;
    let late = item(0, a, ItemFormat::Frame, 2, 5, acc(Outcome::Accepted));
    let next = item(1, a, ItemFormat::Frame, 3, 6, acc(Outcome::Accepted));
    let older = item(2, b, ItemFormat::Frame, 1, 4, acc(Outcome::Accepted));
    let policy = item(3, b, ItemFormat::Frame, 2, 5, refused(Rejection::EnergyGap));
    let batch = record(
        ORIGIN,
        vec![late.clone(), next.clone(), older.clone(), policy.clone()],
        Vec::new(),
    );
    let c = commit(s, &batch)?;
    eq("closed", c.closed.clone(), vec![0, 2])?;
    eq("duplicates", c.duplicates.clone(), Vec::new())?;
    eq(
        "batch as stored",
        batches(s, ORIGIN, c.id.saturating_sub(1))?,
        vec![(
            c.id,
            record(
                ORIGIN,
                vec![
                    rewritten(&late, Rejection::EpochClosed),
                    next.clone(),
                    rewritten(&older, Rejection::EpochClosed),
                    policy,
                ],
                Vec::new(),
            ),
        )],
    )?;
    eq("accepted of epoch 5", accepted(s, 5)?, vec![first])?;
    eq("accepted of epoch 6", accepted(s, 6)?, vec![next])?;
    eq("accepted of epoch 4", accepted(s, 4)?, Vec::new())
}

fn check_close_order(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let b = record(
        ORIGIN,
        vec![
            item(0, a, ItemFormat::Frame, 1, 5, acc(Outcome::Accepted)),
            item(1, a, ItemFormat::Frame, 2, 6, acc(Outcome::Accepted)),
        ],
        Vec::new(),
    );
    commit_clean(s, &b)?;
    conflict(
        "begin_close(6) while 5 is open",
        s.begin_close(Epoch(6), ORIGIN, NOW),
    )?;
    eq(
        "epoch 6 row after the refusal",
        ok("epoch", s.epoch(Epoch(6)))?,
        None,
    )?;
    eq(
        "closed_through after the refusal",
        ok("closed_through", s.closed_through())?,
        None,
    )?;
    close(s, 5)?;
    close(s, 6)?;
    // epochs 7 and 8 have no data and no row: they count as closed
    close(s, 9)?;
    eq(
        "closed_through",
        ok("closed_through", s.closed_through())?,
        Some(Epoch(9)),
    )
}

fn check_close_resume(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    commit_clean(
        s,
        &record(
            ORIGIN,
            vec![item(0, a, ItemFormat::Frame, 1, 5, acc(Outcome::Accepted))],
            Vec::new(),
        ),
    )?;
    close(s, 5)?;
    eq(
        "begin_close again by the same closer",
        ok("begin_close", s.begin_close(Epoch(5), ORIGIN, NOW))?,
        CloseStart::Started,
    )?;
    eq(
        "begin_close by another closer",
        ok("begin_close", s.begin_close(Epoch(5), OTHER, NOW))?,
        CloseStart::OwnedBy(ORIGIN.to_string()),
    )?;
    eq(
        "epoch row",
        row(s, 5)?,
        EpochRow {
            epoch: Epoch(5),
            status: EpochStatus::Closing,
            closer: Some(ORIGIN.to_string()),
            root: None,
            epoch_total: None,
            cumulative_total: None,
            accepted: None,
            publish_tx: None,
            summary: None,
        },
    )
}

fn check_put_result(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    commit_clean(
        s,
        &record(
            ORIGIN,
            vec![item(0, a, ItemFormat::Frame, 1, 5, acc(Outcome::Accepted))],
            Vec::new(),
        ),
    )?;
    close(s, 5)?;
    let r = result(1, vec![(a, b"receipt-a".to_vec())]);
    ok("put_result", s.put_result(Epoch(5), &r))?;
    let want = computed_row(5, &r, EpochStatus::Computed);
    eq("epoch row", row(s, 5)?, want.clone())?;
    ok("put_result again", s.put_result(Epoch(5), &r))?;
    conflict(
        "put_result with another root",
        s.put_result(Epoch(5), &result(2, Vec::new())),
    )?;
    eq("epoch row after the conflict", row(s, 5)?, want)?;
    eq(
        "begin_close of a computed epoch",
        ok("begin_close", s.begin_close(Epoch(5), ORIGIN, NOW))?,
        CloseStart::Already(EpochStatus::Computed),
    )?;
    eq(
        "begin_close of a computed epoch by another closer",
        ok("begin_close", s.begin_close(Epoch(5), OTHER, NOW))?,
        CloseStart::Already(EpochStatus::Computed),
    )
}

fn check_put_result_needs_closing(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    conflict(
        "put_result of an epoch with no row",
        s.put_result(Epoch(5), &result(1, Vec::new())),
    )?;
    commit_clean(
        s,
        &record(
            ORIGIN,
            vec![item(0, a, ItemFormat::Frame, 1, 6, acc(Outcome::Accepted))],
            Vec::new(),
        ),
    )?;
    conflict(
        "put_result of an open epoch",
        s.put_result(Epoch(6), &result(1, Vec::new())),
    )?;
    eq("epoch 6 row", ok("epoch", s.epoch(Epoch(6)))?, None)?;
    eq(
        "latest_result",
        ok("latest_result", s.latest_result())?,
        None,
    )
}

fn check_mark_published(s: &mut dyn OracleStore) -> Check {
    conflict(
        "mark_published of an epoch with no row",
        s.mark_published(Epoch(5), Some("0xabc")),
    )?;
    close(s, 5)?;
    conflict(
        "mark_published of a closing epoch",
        s.mark_published(Epoch(5), Some("0xabc")),
    )?;
    let r = result(1, Vec::new());
    ok("put_result", s.put_result(Epoch(5), &r))?;
    ok("mark_published", s.mark_published(Epoch(5), Some("0xabc")))?;
    ok(
        "mark_published again",
        s.mark_published(Epoch(5), Some("0xabc")),
    )?;
    let mut want = computed_row(5, &r, EpochStatus::Published);
    want.publish_tx = Some("0xabc".to_string());
    eq("epoch row", row(s, 5)?, want)?;
    eq(
        "begin_close of a published epoch",
        ok("begin_close", s.begin_close(Epoch(5), ORIGIN, NOW))?,
        CloseStart::Already(EpochStatus::Published),
    )?;
    ok("put_result of the same result", s.put_result(Epoch(5), &r))?;
    conflict(
        "put_result with another root",
        s.put_result(Epoch(5), &result(2, Vec::new())),
    )?;
    // nothing to publish
    close(s, 6)?;
    let r6 = result(0, Vec::new());
    ok("put_result", s.put_result(Epoch(6), &r6))?;
    ok(
        "mark_published without a tx",
        s.mark_published(Epoch(6), None),
    )?;
    eq(
        "epoch row without a tx",
        row(s, 6)?,
        computed_row(6, &r6, EpochStatus::Published),
    )
}

fn check_latest_result(s: &mut dyn OracleStore) -> Check {
    eq("latest_result of a new store", latest(s)?, None)?;
    close(s, 1)?;
    eq("latest_result with only a closing epoch", latest(s)?, None)?;
    ok("put_result", s.put_result(Epoch(1), &result(1, Vec::new())))?;
    eq(
        "latest_result",
        latest(s)?,
        Some((Epoch(1), EpochStatus::Computed)),
    )?;
    close(s, 2)?;
    eq(
        "latest_result with epoch 2 closing",
        latest(s)?,
        Some((Epoch(1), EpochStatus::Computed)),
    )?;
    let r2 = result(2, Vec::new());
    ok("put_result", s.put_result(Epoch(2), &r2))?;
    ok("mark_published", s.mark_published(Epoch(2), Some("tx2")))?;
    close(s, 3)?;
    let mut want = computed_row(2, &r2, EpochStatus::Published);
    want.publish_tx = Some("tx2".to_string());
    eq(
        "latest_result",
        ok("latest_result", s.latest_result())?,
        Some(want),
    )
}

fn check_epochs_listing(s: &mut dyn OracleStore) -> Check {
    for e in 1..=3 {
        close(s, e)?;
    }
    ok("put_result", s.put_result(Epoch(1), &result(1, Vec::new())))?;
    eq("epochs(0, 10)", list(s, 0, 10)?, vec![1, 2, 3])?;
    eq("epochs(2, 10)", list(s, 2, 10)?, vec![2, 3])?;
    eq("epochs(0, 2)", list(s, 0, 2)?, vec![1, 2])?;
    eq("epochs(4, 10)", list(s, 4, 10)?, Vec::new())?;
    eq("epochs(0, 0)", list(s, 0, 0)?, Vec::new())?;
    let rows = ok("epochs", s.epochs(Epoch(1), 1))?;
    eq("epochs(1, 1)", rows, vec![row(s, 1)?])
}

fn check_tree_and_receipts(s: &mut dyn OracleStore) -> Check {
    let [a, b, c] = devices()?;
    eq("tree before the close", ok("tree", s.tree(Epoch(5)))?, None)?;
    close(s, 5)?;
    eq(
        "tree of a closing epoch",
        ok("tree", s.tree(Epoch(5)))?,
        None,
    )?;
    eq(
        "receipt of a closing epoch",
        ok("receipt", s.receipt(Epoch(5), &a))?,
        None,
    )?;
    let r = result(1, vec![(a, b"receipt-a".to_vec()), (b, vec![0x00, 0xff])]);
    ok("put_result", s.put_result(Epoch(5), &r))?;
    eq("tree", ok("tree", s.tree(Epoch(5)))?, Some(r.tree.clone()))?;
    eq(
        "receipt of a",
        ok("receipt", s.receipt(Epoch(5), &a))?,
        Some(b"receipt-a".to_vec()),
    )?;
    eq(
        "receipt of b",
        ok("receipt", s.receipt(Epoch(5), &b))?,
        Some(vec![0x00, 0xff]),
    )?;
    eq(
        "receipt of c",
        ok("receipt", s.receipt(Epoch(5), &c))?,
        None,
    )?;
    eq(
        "receipt of another epoch",
        ok("receipt", s.receipt(Epoch(6), &a))?,
        None,
    )?;
    eq("tree of another epoch", ok("tree", s.tree(Epoch(6)))?, None)
}

fn check_device_epochs(s: &mut dyn OracleStore) -> Check {
    let [a, b, c] = devices()?;
    let first = record(
        ORIGIN,
        vec![
            item(0, a, ItemFormat::Frame, 1, 1, acc(Outcome::Accepted)),
            item(1, a, ItemFormat::Frame, 2, 1, acc(Outcome::Accepted)),
            item(2, a, ItemFormat::Envelope, 1, 2, acc(Outcome::Accepted)),
            item(3, a, ItemFormat::Envelope, 2, 2, refused(SPEED)),
            item(4, b, ItemFormat::Frame, 1, 2, acc(Outcome::Accepted)),
        ],
        vec![
            counted(2, Some(a), Rejection::BadSignature, 3),
            counted(3, Some(a), Rejection::Stale, 2),
            counted(2, None, Rejection::Malformed, 4),
            counted(2, Some(b), Rejection::Stale, 1),
            counted(2, Some(a), SPEED, 1),
        ],
    );
    commit_clean(s, &first)?;
    // a replay of a's first item: stored as refused, and counted for a in epoch 1
    let again = record(
        ORIGIN,
        vec![item(0, a, ItemFormat::Frame, 1, 1, acc(Outcome::Accepted))],
        Vec::new(),
    );
    let c2 = commit(s, &again)?;
    eq("duplicates", c2.duplicates.clone(), vec![0])?;
    close(s, 1)?;
    let r = result(1, vec![(a, b"ra1".to_vec()), (c, b"rc1".to_vec())]);
    ok("put_result", s.put_result(Epoch(1), &r))?;

    let e1 = DeviceEpoch {
        epoch: Epoch(1),
        accepted: 2,
        rejected: vec![(Rejection::Replayed, 1)],
        receipt: Some(b"ra1".to_vec()),
    };
    let e2 = DeviceEpoch {
        epoch: Epoch(2),
        accepted: 1,
        rejected: sorted(vec![(SPEED, 2), (Rejection::BadSignature, 3)]),
        receipt: None,
    };
    let e3 = DeviceEpoch {
        epoch: Epoch(3),
        accepted: 0,
        rejected: vec![(Rejection::Stale, 2)],
        receipt: None,
    };
    eq(
        "device_epochs(a, 0, 10)",
        of(s, &a, 0, 10)?,
        vec![e1.clone(), e2.clone(), e3.clone()],
    )?;
    eq("device_epochs(a, 2, 10)", of(s, &a, 2, 10)?, vec![e2, e3])?;
    eq("device_epochs(a, 0, 1)", of(s, &a, 0, 1)?, vec![e1])?;
    eq("device_epochs(a, 4, 10)", of(s, &a, 4, 10)?, Vec::new())?;
    eq(
        "device_epochs(b, 0, 10)",
        of(s, &b, 0, 10)?,
        vec![DeviceEpoch {
            epoch: Epoch(2),
            accepted: 1,
            rejected: vec![(Rejection::Stale, 1)],
            receipt: None,
        }],
    )?;
    eq(
        "device_epochs(c, 0, 10): a receipt only",
        of(s, &c, 0, 10)?,
        vec![DeviceEpoch {
            epoch: Epoch(1),
            accepted: 0,
            rejected: Vec::new(),
            receipt: Some(b"rc1".to_vec()),
        }],
    )?;
    let d = device(4)?;
    eq(
        "device_epochs of an unknown device",
        of(s, &d, 0, 10)?,
        Vec::new(),
    )
}

/// Every logged item reads back with its batch's processing time, whatever its own field
/// said when committed.
fn check_batch_time(s: &mut dyn OracleStore) -> Check {
    let [a, b, _] = devices()?;
    let later = Timestamp(NOW.0 + 7_777);
    let mut first = record(
        ORIGIN,
        vec![
            item(0, a, ItemFormat::Frame, 1, 1, acc(Outcome::Accepted)),
            item(1, b, ItemFormat::Frame, 1, 1, refused(SPEED)),
        ],
        Vec::new(),
    );
    let mut second = record(
        ORIGIN,
        vec![item(
            0,
            b,
            ItemFormat::Envelope,
            1,
            1,
            acc(Outcome::Accepted),
        )],
        Vec::new(),
    );
    second.now = later;
    // the items' own field is not what is stored
    first.items[0].now = Timestamp(1);
    second.items[0].now = Timestamp(2);
    commit_clean(s, &first)?;
    commit_clean(s, &second)?;
    let replayed = batches(s, ORIGIN, 0)?;
    let times: Vec<Vec<Timestamp>> = replayed
        .iter()
        .map(|(_, b)| b.items.iter().map(|i| i.now).collect())
        .collect();
    eq(
        "items' times in for_each_batch",
        times,
        vec![vec![NOW, NOW], vec![later]],
    )?;
    let mut of_epoch: Vec<(DeviceId, Timestamp)> =
        accepted(s, 1)?.iter().map(|i| (i.device, i.now)).collect();
    of_epoch.sort_by_key(|(d, _)| d.to_string());
    let mut want = vec![(a, NOW), (b, later)];
    want.sort_by_key(|(d, _)| d.to_string());
    eq("items' times in for_each_accepted", of_epoch, want)
}

/// A result's close rejections: shown per device (and taken off its accepted count), not
/// in the epoch's ingest totals, replaced by nothing when the same result is stored again.
fn check_close_rejections(s: &mut dyn OracleStore) -> Check {
    let [a, b, c] = devices()?;
    let batch = record(
        ORIGIN,
        vec![
            item(
                0,
                a,
                ItemFormat::Envelope,
                1,
                1,
                acc(Outcome::PendingSelection),
            ),
            item(
                1,
                a,
                ItemFormat::Envelope,
                2,
                1,
                acc(Outcome::PendingSelection),
            ),
            item(
                2,
                a,
                ItemFormat::Envelope,
                3,
                1,
                acc(Outcome::PendingSelection),
            ),
            item(
                3,
                b,
                ItemFormat::Envelope,
                1,
                1,
                acc(Outcome::PendingSelection),
            ),
        ],
        vec![counted(1, Some(a), Rejection::Stale, 1)],
    );
    commit_clean(s, &batch)?;
    close(s, 1)?;
    let mut r = result(1, vec![(b, b"rb1".to_vec())]);
    r.close_rejections = vec![
        (a, Rejection::TooFar, 2),
        (b, Rejection::DuplicateWitness, 1),
        (c, SPEED, 1),
    ];
    r.accepted = 0;
    ok("put_result", s.put_result(Epoch(1), &r))?;
    ok("put_result again", s.put_result(Epoch(1), &r))?;
    eq(
        "device_epochs(a)",
        of(s, &a, 0, 10)?,
        vec![DeviceEpoch {
            epoch: Epoch(1),
            accepted: 1,
            rejected: sorted(vec![(Rejection::Stale, 1), (Rejection::TooFar, 2)]),
            receipt: None,
        }],
    )?;
    eq(
        "device_epochs(b)",
        of(s, &b, 0, 10)?,
        vec![DeviceEpoch {
            epoch: Epoch(1),
            accepted: 0,
            rejected: vec![(Rejection::DuplicateWitness, 1)],
            receipt: Some(b"rb1".to_vec()),
        }],
    )?;
    eq(
        "device_epochs(c): a close rejection only",
        of(s, &c, 0, 10)?,
        vec![DeviceEpoch {
            epoch: Epoch(1),
            accepted: 0,
            rejected: vec![(SPEED, 1)],
            receipt: None,
        }],
    )?;
    eq(
        "rejections(1): the ingest totals only",
        totals(s, 1)?,
        vec![(Rejection::Stale, 1)],
    )
}

fn check_rejection_totals(s: &mut dyn OracleStore) -> Check {
    let [a, b, _] = devices()?;
    let first = record(
        ORIGIN,
        vec![
            item(0, a, ItemFormat::Frame, 1, 4, refused(Rejection::EnergyGap)),
            item(1, b, ItemFormat::Frame, 1, 4, refused(Rejection::EnergyGap)),
            item(2, a, ItemFormat::Frame, 2, 4, acc(Outcome::Accepted)),
        ],
        vec![
            counted(4, None, Rejection::Malformed, 7),
            counted(4, Some(a), Rejection::Malformed, 1),
            counted(4, Some(b), Rejection::BadSignature, 2),
            counted(5, None, Rejection::Malformed, 100),
        ],
    );
    let second = record(
        OTHER,
        Vec::new(),
        vec![counted(4, None, Rejection::Malformed, 3)],
    );
    commit_clean(s, &first)?;
    commit_clean(s, &second)?;
    eq(
        "rejections(4)",
        totals(s, 4)?,
        sorted(vec![
            (Rejection::EnergyGap, 2),
            (Rejection::Malformed, 11),
            (Rejection::BadSignature, 2),
        ]),
    )?;
    eq(
        "rejections(5)",
        totals(s, 5)?,
        vec![(Rejection::Malformed, 100)],
    )?;
    eq("rejections(6)", totals(s, 6)?, Vec::new())
}

fn check_meta(s: &mut dyn OracleStore) -> Check {
    eq("missing key", ok("meta", s.meta("deny_version"))?, None)?;
    ok("set_meta", s.set_meta("deny_version", b"v1"))?;
    eq(
        "meta",
        ok("meta", s.meta("deny_version"))?,
        Some(b"v1".to_vec()),
    )?;
    ok("set_meta", s.set_meta("deny_version", &[0x00, 0xff, 0x00]))?;
    eq(
        "meta after overwrite",
        ok("meta", s.meta("deny_version"))?,
        Some(vec![0x00, 0xff, 0x00]),
    )?;
    ok("set_meta", s.set_meta("empty", b""))?;
    eq(
        "empty value",
        ok("meta", s.meta("empty"))?,
        Some(Vec::new()),
    )?;
    eq("other key", ok("meta", s.meta("deny"))?, None)
}

fn check_u128_totals(s: &mut dyn OracleStore) -> Check {
    close(s, 5)?;
    let r = EpochResult {
        root: [0xff; 32],
        epoch_total: u128::MAX,
        cumulative_total: u128::MAX,
        accepted: u64::MAX,
        close_rejections: Vec::new(),
        receipts: Vec::new(),
        tree: Vec::new(),
        summary: vec![0x00; 3],
    };
    ok("put_result", s.put_result(Epoch(5), &r))?;
    eq(
        "epoch row",
        row(s, 5)?,
        computed_row(5, &r, EpochStatus::Computed),
    )?;
    close(s, 6)?;
    let zero = EpochResult {
        root: [0; 32],
        epoch_total: 0,
        cumulative_total: u128::MAX - 1,
        accepted: 0,
        close_rejections: Vec::new(),
        receipts: Vec::new(),
        tree: Vec::new(),
        summary: Vec::new(),
    };
    ok("put_result", s.put_result(Epoch(6), &zero))?;
    eq(
        "epoch row",
        row(s, 6)?,
        computed_row(6, &zero, EpochStatus::Computed),
    )
}

fn check_policy_rejection(s: &mut dyn OracleStore) -> Check {
    let [a, _, _] = devices()?;
    let lenient =
        Rejection::Policy(PolicyRejection::new(Label::new("x"), Label::new("y")).without_penalty());
    let b = record(
        ORIGIN,
        vec![
            item(0, a, ItemFormat::Frame, 1, 7, refused(SPEED)),
            item(1, a, ItemFormat::Frame, 2, 7, refused(lenient)),
        ],
        vec![counted(7, Some(a), SPEED, 1), counted(7, None, lenient, 4)],
    );
    let c = commit_clean(s, &b)?;
    let stored = batches(s, ORIGIN, 0)?;
    eq("batch as stored", stored.clone(), vec![(c.id, bare(&b))])?;
    // the penalty flag is not part of a policy rejection's identity (nor of its code)
    let codes: Vec<String> = stored
        .iter()
        .flat_map(|(_, b)| b.items.iter())
        .filter_map(|i| match &i.verdict {
            StoredVerdict::Rejected(r) => Some(r.code().into_owned()),
            StoredVerdict::Accepted(_) => None,
        })
        .collect();
    eq(
        "stored reason codes",
        codes,
        vec![
            "mapping_speed/impossible_speed".to_string(),
            "x/y".to_string(),
        ],
    )?;
    eq(
        "rejections(7)",
        ok("rejections", s.rejections(Epoch(7)))?,
        sorted(vec![(SPEED, 2), (lenient, 5)]),
    )
}
