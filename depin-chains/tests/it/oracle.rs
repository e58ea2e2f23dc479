//! `oracle`: the epoch close on a real SQLite oracle store and the local ledger. The root
//! published is the chain's, a second close does nothing, a crash between publishing and
//! recording publishes once, a recompute equals the stored result, claims from the stored
//! tree pay once, and the HTTP API answers claims, device pages and epoch rows.

use depin_chains::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use depin_attest::kind::{AttestationKind, Label};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::{
    BatchRecord, EpochStatus, ItemFormat, LoggedItem, OracleStore, RejectionCount, StoredVerdict,
};
use depin_attest::{Outcome, Rejection};
use depin_chains::local::{LocalBackend, LocalLedger};
use depin_chains::oracle::{
    api, claim_for, default_payouts, CloseError, DeviceReceipt, EpochCloser, EpochPayouts,
    EpochScoring, UnitsScoring,
};
use depin_chains::{
    async_trait, Account, BackendKind, ChainBackend, Claim, ClaimFormat, DeviceRegistration,
    EpochRoot, Error, PublishOutcome, Receipt, RegisteredDevice, RegistrationChallenge,
    RegistrationProof, Result, TxHandle,
};
use depin_core::{DeviceId, Epoch, KeyType, SigningKey, Timestamp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use crate::common::{admin, evm, genesis, open, oracle};

const NOW: Timestamp = Timestamp(1_700_000_000_000);
const EMISSION: u128 = 1_000;
const FORMAT: ClaimFormat = ClaimFormat::OpenZeppelin;

/// The local ledger as the oracle sees it, with a `wait_for_receipt` that can fail once
/// (the process "crashes" after publishing, before recording) and a count of publications.
struct Flaky {
    inner: LocalBackend,
    fail_next_wait: AtomicBool,
    publishes: AtomicUsize,
}

#[async_trait]
impl depin_chains::ChainHandle for Flaky {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn account(&self) -> Option<Account> {
        self.inner.account()
    }

    async fn wait_for_receipt(&self, tx: &TxHandle) -> Result<Receipt> {
        if self.fail_next_wait.swap(false, Ordering::SeqCst) {
            return Err(Error::transient(
                "connection reset while waiting for the receipt",
            ));
        }
        self.inner.wait_for_receipt(tx).await
    }
}

#[async_trait]
impl depin_chains::RegistryBackend for Flaky {
    async fn registration_challenge(
        &self,
        r: &DeviceRegistration,
    ) -> Result<RegistrationChallenge> {
        self.inner.registration_challenge(r).await
    }

    async fn register_device(
        &self,
        r: &DeviceRegistration,
        p: &RegistrationProof,
    ) -> Result<TxHandle> {
        self.inner.register_device(r, p).await
    }

    async fn revoke_device(&self, d: &DeviceId) -> Result<TxHandle> {
        self.inner.revoke_device(d).await
    }

    async fn device(&self, d: &DeviceId) -> Result<RegisteredDevice> {
        self.inner.device(d).await
    }
}

#[async_trait]
impl depin_chains::DistributorBackend for Flaky {
    fn claim_format(&self) -> ClaimFormat {
        self.inner.claim_format()
    }

    async fn publish_root(&self, r: &EpochRoot) -> Result<PublishOutcome> {
        let out = self.inner.publish_root(r).await?;
        if matches!(out, PublishOutcome::Published(_)) {
            self.publishes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(out)
    }

    async fn epoch_root(&self, e: Epoch) -> Result<Option<EpochRoot>> {
        self.inner.epoch_root(e).await
    }

    async fn claim(&self, c: &Claim) -> Result<TxHandle> {
        self.inner.claim(c).await
    }

    async fn claimed(&self, a: &Account) -> Result<u128> {
        self.inner.claimed(a).await
    }

    async fn pool_balance(&self) -> Result<Option<u128>> {
        self.inner.pool_balance().await
    }

    async fn token_balance(&self, a: &Account) -> Result<Option<u128>> {
        self.inner.token_balance(a).await
    }
}

fn device(seed: u8) -> DeviceId {
    let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[seed; 32]).unwrap();
    DeviceId::from(key.public_key())
}

/// Devices: `a` and `c` owned by `evm(1)`, `b` by `evm(2)`, `d` by nobody, `e` only ever
/// rejected.
struct Devices {
    a: DeviceId,
    b: DeviceId,
    c: DeviceId,
    d: DeviceId,
    e: DeviceId,
}

fn devices() -> Devices {
    Devices {
        a: device(1),
        b: device(2),
        c: device(3),
        d: device(4),
        e: device(5),
    }
}

fn item(index: u32, device: DeviceId, seq: u64, epoch: u64, outcome: Outcome) -> LoggedItem {
    let (id, len) = device.to_bytes();
    let mut h = Sha256::new();
    h.update(b"depin-chains oracle test");
    h.update(&id[..len]);
    h.update(seq.to_be_bytes());
    h.update(epoch.to_be_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let mut bytes = vec![0x01, 0x02];
    bytes.extend_from_slice(&seq.to_be_bytes());
    LoggedItem {
        index,
        format: ItemFormat::Envelope,
        bytes,
        device,
        kind: AttestationKind(0x0100),
        seq,
        timestamp: Timestamp(NOW.0 + u64::from(index)),
        digest,
        epoch: Epoch(epoch),
        now: NOW,
        verdict: StoredVerdict::Accepted(outcome),
        trust: depin_core::TrustLevel::Untrusted,
    }
}

fn commit(store: &mut dyn OracleStore, items: Vec<LoggedItem>, rejections: Vec<RejectionCount>) {
    let committed = store
        .commit_batch(&BatchRecord {
            origin: "ingest-a".into(),
            now: NOW,
            items,
            rejections,
        })
        .unwrap();
    assert!(committed.duplicates.is_empty(), "{committed:?}");
    assert!(committed.closed.is_empty(), "{committed:?}");
}

/// Epoch 1: scores a 40 (30 Wh + 10 credited units), b 2 (two other accepted items), c 8,
/// d 20; e has 12 stale and 3 bad-signature refusals. Emission 1000 over 70 points:
/// floors a 571 (remainder 30), b 28 (40), c 114 (20), d 285 (50); the 2 units left go to
/// d and b. So a 571, b 29, c 114, d 286 (forfeited: no owner): evm(1) 685, evm(2) 29.
fn commit_epoch_1(store: &mut dyn OracleStore, dev: &Devices) {
    let uptime = Label::new("uptime");
    commit(
        store,
        vec![
            item(0, dev.a, 1, 1, Outcome::Energy { wh: 30 }),
            item(
                1,
                dev.a,
                2,
                1,
                Outcome::Credited {
                    policy: uptime,
                    units: 10,
                },
            ),
            item(2, dev.b, 1, 1, Outcome::Accepted),
            item(3, dev.b, 2, 1, Outcome::Report { report_kind: 3 }),
            item(4, dev.c, 1, 1, Outcome::Energy { wh: 8 }),
            item(5, dev.d, 1, 1, Outcome::Energy { wh: 20 }),
        ],
        vec![
            RejectionCount {
                epoch: Epoch(1),
                device: Some(dev.e),
                reason: Rejection::Stale,
                count: 12,
            },
            RejectionCount {
                epoch: Epoch(1),
                device: Some(dev.e),
                reason: Rejection::BadSignature,
                count: 3,
            },
        ],
    );
}

struct Net {
    _dir: tempfile::TempDir,
    ledger: LocalLedger,
    flaky: Arc<Flaky>,
    rt: tokio::runtime::Runtime,
    store: SqliteStore,
    dev: Devices,
    closer: EpochCloser<UnitsScoring>,
}

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(&dir.path().join("ledger.log"), genesis(FORMAT));
    ledger.fund(&admin(), 1_000_000).unwrap();
    let flaky = Arc::new(Flaky {
        inner: ledger.handle(oracle()),
        fail_next_wait: AtomicBool::new(false),
        publishes: AtomicUsize::new(0),
    });
    let dev = devices();
    let owners: HashMap<DeviceId, Account> = [(dev.a, evm(1)), (dev.b, evm(2)), (dev.c, evm(1))]
        .into_iter()
        .collect();
    let backend: Arc<dyn ChainBackend> = flaky.clone();
    let closer = EpochCloser::new(UnitsScoring::new(EMISSION), backend, FORMAT, "closer-1")
        .owners(move |d: &DeviceId| owners.get(d).cloned());
    Net {
        _dir: dir,
        ledger,
        flaky,
        rt: tokio::runtime::Runtime::new().unwrap(),
        store: SqliteStore::open_in_memory().unwrap(),
        dev,
        closer,
    }
}

/// A closer of `scoring` on `net`'s chain as "closer-1", with `owners` (device, account).
fn closer_with<C: EpochScoring>(
    net: &Net,
    scoring: C,
    owners: &[(DeviceId, Account)],
) -> EpochCloser<C> {
    let owners: HashMap<DeviceId, Account> = owners.iter().cloned().collect();
    let backend: Arc<dyn ChainBackend> = net.flaky.clone();
    EpochCloser::new(scoring, backend, FORMAT, "closer-1")
        .owners(move |d: &DeviceId| owners.get(d).cloned())
}

/// The usual owners: a and c with evm(1), b with evm(2), d and e with none.
fn usual_owners(dev: &Devices) -> [(DeviceId, Account); 3] {
    [(dev.a, evm(1)), (dev.b, evm(2)), (dev.c, evm(1))]
}

fn receipt(store: &mut dyn OracleStore, epoch: u64, device: &DeviceId) -> Option<DeviceReceipt> {
    store
        .receipt(Epoch(epoch), device)
        .unwrap()
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn close_publishes_the_root_once_and_its_claims_pay_once() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);

    let report = net
        .closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch, Epoch(1));
    assert_eq!(report.epoch_total, 714);
    assert_eq!(report.cumulative_total, 714);
    assert_eq!(report.accepted, 6);
    assert_eq!(report.devices_paid, 3);
    assert!(!report.already);
    assert!(report.published_tx.is_some());
    assert_ne!(report.root, [0u8; 32]);

    // the chain has our root and total
    let on_chain = net.rt.block_on(net.flaky.epoch_root(Epoch(1))).unwrap();
    assert_eq!(
        on_chain,
        Some(EpochRoot {
            epoch: Epoch(1),
            root: report.root,
            total: 714
        })
    );
    assert_eq!(net.flaky.publishes.load(Ordering::SeqCst), 1);
    let row = net.store.epoch(Epoch(1)).unwrap().unwrap();
    assert_eq!(row.status, EpochStatus::Published);
    assert_eq!(row.root, Some(report.root));
    assert_eq!(row.publish_tx, report.published_tx);

    // receipts and summary
    let a = receipt(&mut net.store, 1, &net.dev.a).unwrap();
    assert_eq!(
        (a.score.as_str(), a.amount.as_str()),
        ("40", "571"),
        "{a:?}"
    );
    assert_eq!(a.owner, Some(evm(1).to_string()));
    let b = receipt(&mut net.store, 1, &net.dev.b).unwrap();
    assert_eq!((b.score.as_str(), b.amount.as_str()), ("2", "29"));
    let c = receipt(&mut net.store, 1, &net.dev.c).unwrap();
    assert_eq!((c.score.as_str(), c.amount.as_str()), ("8", "114"));
    let d = receipt(&mut net.store, 1, &net.dev.d).unwrap();
    assert_eq!(d.owner, None);
    assert_eq!(d.amount, "0");
    assert_eq!(d.forfeited.as_deref(), Some("286"));
    assert!(receipt(&mut net.store, 1, &net.dev.e).is_none());
    let summary: Value = serde_json::from_slice(row.summary.as_deref().unwrap()).unwrap();
    assert_eq!(summary["emission"], "1000");
    assert_eq!(summary["paid"], "714");
    assert_eq!(summary["paid_devices"], 3);
    assert_eq!(summary["scored_devices"], 4);
    assert_eq!(summary["forfeited"], "286");
    assert_eq!(summary["accepted"], 6);
    assert_eq!(summary["unowned_devices"], json!([net.dev.d.to_string()]));
    assert_eq!(summary["rejected"]["stale"], 12);
    assert_eq!(summary["rejected"]["bad_signature"], 3);

    // closing again does nothing
    let again = net
        .closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert!(again.already);
    assert_eq!(again.root, report.root);
    assert_eq!(again.cumulative_total, 714);
    assert_eq!(again.devices_paid, 3);
    assert_eq!(again.published_tx, report.published_tx);
    assert_eq!(net.flaky.publishes.load(Ordering::SeqCst), 1);

    // a recompute equals what is stored
    let recomputed = net.closer.recompute(&mut net.store, Epoch(1)).unwrap();
    assert_eq!(recomputed.root, report.root);
    assert_eq!(recomputed.epoch_total, 714);
    assert_eq!(recomputed.cumulative_total, 714);
    assert_eq!(recomputed.accepted, 6);
    assert_eq!(
        Some(recomputed.tree.clone()),
        net.store.tree(Epoch(1)).unwrap()
    );
    assert_eq!(Some(recomputed.summary.clone()), row.summary);
    assert_eq!(recomputed.receipts.len(), 4);
    for (device, bytes) in &recomputed.receipts {
        assert_eq!(
            net.store.receipt(Epoch(1), device).unwrap().as_ref(),
            Some(bytes)
        );
    }

    // the stored tree's proof is accepted by the chain, once
    let answer = claim_for(&mut net.store, FORMAT, &evm(1)).unwrap().unwrap();
    assert_eq!(answer.epoch, 1);
    assert_eq!(answer.cumulative, "685");
    assert_eq!(answer.root, hex::encode(report.root));
    assert_eq!(answer.account, evm(1).to_string());
    assert_eq!(answer.claim.cumulative_amount, 685);
    let relayer = net.ledger.handle(evm(1));
    let tx = net.rt.block_on(relayer.claim(&answer.claim)).unwrap();
    net.rt
        .block_on(relayer.wait_for_receipt(&tx))
        .unwrap()
        .ensure_success()
        .unwrap();
    assert_eq!(net.rt.block_on(relayer.claimed(&evm(1))).unwrap(), 685);
    match net.rt.block_on(relayer.claim(&answer.claim)) {
        Err(Error::AlreadyClaimed { .. }) => {}
        other => panic!("a second claim must be refused, got {other:?}"),
    }
    assert!(claim_for(&mut net.store, FORMAT, &evm(9))
        .unwrap()
        .is_none());
}

#[test]
fn a_crash_between_publishing_and_recording_publishes_once() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    net.closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    // epoch 2: only b scores, and earns the whole emission
    commit(
        &mut net.store,
        vec![item(0, net.dev.b, 3, 2, Outcome::Energy { wh: 5 })],
        vec![],
    );

    // the root is published, then waiting for its receipt fails
    net.flaky.fail_next_wait.store(true, Ordering::SeqCst);
    let err = net
        .closer
        .close(&mut net.store, Epoch(2), NOW, net.rt.handle())
        .unwrap_err();
    assert!(matches!(err, CloseError::Chain(_)), "{err}");
    assert_eq!(net.flaky.publishes.load(Ordering::SeqCst), 2);
    let row = net.store.epoch(Epoch(2)).unwrap().unwrap();
    assert_eq!(row.status, EpochStatus::Computed);
    let on_chain = net
        .rt
        .block_on(net.flaky.epoch_root(Epoch(2)))
        .unwrap()
        .unwrap();
    assert_eq!(Some(on_chain.root), row.root);

    // a later epoch waits for this one
    match net
        .closer
        .close(&mut net.store, Epoch(3), NOW, net.rt.handle())
    {
        Err(CloseError::Unfinished { epoch }) => assert_eq!(epoch, Epoch(2)),
        other => panic!("expected Unfinished, got {other:?}"),
    }

    // closing again records what the chain has, without publishing again
    let report = net
        .closer
        .close(&mut net.store, Epoch(2), NOW, net.rt.handle())
        .unwrap();
    assert!(!report.already);
    assert_eq!(net.flaky.publishes.load(Ordering::SeqCst), 2);
    assert_eq!(report.root, on_chain.root);
    assert_eq!(report.epoch_total, 1_000);
    assert_eq!(report.cumulative_total, 1_714);
    assert_eq!(on_chain.total, 1_714);
    assert!(report.published_tx.is_some(), "the pending tx was recorded");
    let row = net.store.epoch(Epoch(2)).unwrap().unwrap();
    assert_eq!(row.status, EpochStatus::Published);
    assert_eq!(row.publish_tx, report.published_tx);

    // cumulative: evm(2) has 29 + 1000, evm(1) keeps 685
    let answer = claim_for(&mut net.store, FORMAT, &evm(2)).unwrap().unwrap();
    assert_eq!((answer.epoch, answer.cumulative.as_str()), (2, "1029"));
    let one = claim_for(&mut net.store, FORMAT, &evm(1)).unwrap().unwrap();
    assert_eq!(one.cumulative, "685");
    let relayer = net.ledger.handle(evm(2));
    net.rt.block_on(relayer.claim(&answer.claim)).unwrap();
    assert_eq!(net.rt.block_on(relayer.claimed(&evm(2))).unwrap(), 1_029);

    // the recompute of epoch 1 still builds on nothing, of epoch 2 on epoch 1
    let first = net.closer.recompute(&mut net.store, Epoch(1)).unwrap();
    assert_eq!(first.cumulative_total, 714);
    let second = net.closer.recompute(&mut net.store, Epoch(2)).unwrap();
    assert_eq!(Some(second.root), row.root);
}

/// GET `uri` on the router: status and JSON body (`null` if the body is not JSON).
fn get(rt: &tokio::runtime::Runtime, app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    rt.block_on(async {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    })
}

#[test]
fn the_api_answers_claims_device_pages_and_epochs() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    let report = net
        .closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    let dev = devices();
    let store: Box<dyn OracleStore> = Box::new(net.store);
    let shared = Arc::new(Mutex::new(store));
    let app = api::router(Arc::clone(&shared), FORMAT);
    let rt = &net.rt;

    // claims
    let (status, body) = get(rt, &app, &format!("/v1/claims/{}", evm(1)));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cumulative"], "685");
    assert_eq!(body["epoch"], 1);
    assert_eq!(body["root"], hex::encode(report.root));
    assert!(body["proof"].is_array());
    let (status, body) = get(rt, &app, &format!("/v1/claims/{}", evm(9)));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (status, body) = get(rt, &app, "/v1/claims/not-an-account");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "bad_request");

    // device pages
    let (status, body) = get(rt, &app, &format!("/v1/devices/{}/epochs", dev.e));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device"], dev.e.to_string());
    let page = &body["epochs"][0];
    assert_eq!(page["epoch"], 1);
    assert_eq!(page["accepted"], 0);
    assert_eq!(page["rejected"]["stale"], 12);
    assert!(page["receipt"].is_null());
    assert_eq!(
        page["explanation"],
        "no accepted reports: 12 rejected as stale, 3 as bad_signature"
    );
    let (_, body) = get(rt, &app, &format!("/v1/devices/{}/epochs", dev.d));
    assert_eq!(
        body["epochs"][0]["explanation"],
        "scored 20 but has no owner account: its 286 were not paid"
    );
    let (_, body) = get(rt, &app, &format!("/v1/devices/{}/epochs", dev.a));
    assert_eq!(
        body["epochs"][0]["explanation"],
        format!("earned 571 for score 40 (credited to {})", evm(1))
    );
    assert_eq!(body["epochs"][0]["receipt"]["amount"], "571");
    let (status, _) = get(rt, &app, "/v1/devices/did:key:nope/epochs");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(rt, &app, &format!("/v1/devices/{}/epochs?limit=x", dev.a));
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // an epoch still open
    {
        let mut guard = shared.lock().unwrap();
        commit(
            &mut **guard,
            vec![item(0, dev.a, 3, 2, Outcome::Energy { wh: 1 })],
            vec![],
        );
    }
    let (_, body) = get(rt, &app, &format!("/v1/devices/{}/epochs?from=2", dev.a));
    assert_eq!(body["epochs"][0]["epoch"], 2);
    assert_eq!(
        body["epochs"][0]["explanation"],
        "epoch not closed yet: 1 accepted so far"
    );

    // epochs
    let (status, body) = get(rt, &app, "/v1/epochs");
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["epochs"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "published");
    assert_eq!(rows[0]["root"], hex::encode(report.root));
    assert_eq!(rows[0]["cumulative_total"], "714");
    assert_eq!(rows[0]["summary"]["paid"], "714");
    let (status, body) = get(rt, &app, "/v1/epochs/1");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["epoch"], 1);
    assert_eq!(
        body["publish_tx"],
        json!(report.published_tx.clone().unwrap())
    );
    let (status, body) = get(rt, &app, "/v1/epochs/7");
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (status, _) = get(rt, &app, "/v1/epochs/seven");
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Two pools, as a network with its own reward math splits them: 600 to energy (by Wh),
/// 400 to everything else (by units), each split exactly with `default_payouts`.
struct TwoPools {
    /// Add this to the first line's amount (a broken network's payouts).
    overpay: u128,
    /// List the first device twice in its pool.
    twice: bool,
}

impl EpochScoring for TwoPools {
    type Tally = (Vec<(DeviceId, u128)>, Vec<(DeviceId, u128)>);

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        if let StoredVerdict::Accepted(outcome) = &item.verdict {
            match outcome {
                Outcome::Energy { wh } => tally.0.push((item.device, u128::from(*wh))),
                other => tally.1.push((item.device, UnitsScoring::units(other))),
            }
        }
    }

    fn scores(&self, _epoch: Epoch, _tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        Vec::new()
    }

    fn emission(&self, _epoch: Epoch) -> u128 {
        EMISSION
    }

    fn payouts(
        &self,
        _epoch: Epoch,
        tally: Self::Tally,
    ) -> std::result::Result<EpochPayouts, depin_rewards::Error> {
        let mut lines = Vec::new();
        for (pool, amount, scores) in [("solar", 600, tally.0), ("other", 400, tally.1)] {
            for mut line in default_payouts(amount, scores)?.lines {
                line.pool = pool.to_string();
                lines.push(line);
            }
        }
        if let Some(first) = lines.first_mut() {
            first.amount += self.overpay;
        }
        if self.twice {
            let copy = lines[0].clone();
            lines.push(copy);
        }
        Ok(EpochPayouts {
            emission: EMISSION,
            lines,
            rejected: Vec::new(),
        })
    }
}

fn two_pool_closer(net: &Net, scoring: TwoPools) -> EpochCloser<TwoPools> {
    closer_with(net, scoring, &usual_owners(&net.dev))
}

/// Solar (600 over a 30, c 8, d 20 Wh): a 310, c 83, d 207 (the 2 units left go to d and
/// c, the largest remainders). Other (400 over a 10, b 2 units): a 333, b 67. So a earns
/// 643 in two pools, evm(1) 643 + 83 = 726, evm(2) 67, d's 207 are forfeited.
#[test]
fn a_network_with_its_own_pools_is_paid_per_pool_with_receipts_per_pool() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    let closer = two_pool_closer(
        &net,
        TwoPools {
            overpay: 0,
            twice: false,
        },
    );
    let report = closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch_total, 726 + 67);
    assert_eq!(report.devices_paid, 3);
    let on_chain = net.rt.block_on(net.flaky.epoch_root(Epoch(1))).unwrap();
    assert_eq!(
        on_chain.map(|r| (r.root, r.total)),
        Some((report.root, 793))
    );

    let a = receipt(&mut net.store, 1, &net.dev.a).unwrap();
    assert_eq!((a.score.as_str(), a.amount.as_str()), ("10+30", "643"));
    let pools: Vec<(&str, &str, &str)> = a
        .pools
        .iter()
        .map(|p| (p.pool.as_str(), p.score.as_str(), p.amount.as_str()))
        .collect();
    assert_eq!(pools, [("other", "10", "333"), ("solar", "30", "310")]);
    let b = receipt(&mut net.store, 1, &net.dev.b).unwrap();
    assert_eq!((b.amount.as_str(), b.pools.len()), ("67", 1));
    let c = receipt(&mut net.store, 1, &net.dev.c).unwrap();
    assert_eq!(c.amount, "83");
    let d = receipt(&mut net.store, 1, &net.dev.d).unwrap();
    assert_eq!(
        (d.owner.as_deref(), d.forfeited.as_deref()),
        (None, Some("207"))
    );

    // the JSON of a pooled receipt, and the explanation an owner reads
    let blob = net.store.receipt(Epoch(1), &net.dev.a).unwrap().unwrap();
    let json: Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(
        json["pools"][1],
        json!({"pool": "solar", "score": "30", "amount": "310"})
    );
    let record = net.store.device_epochs(&net.dev.a, Epoch(1), 1).unwrap();
    let text = depin_chains::oracle::explain(EpochStatus::Published, &record[0]);
    assert!(
        text.contains("earned 643: other 333 for score 10, solar 310 for score 30"),
        "{text}"
    );

    // the owners claim what the pools paid
    let one = claim_for(&mut net.store, FORMAT, &evm(1)).unwrap().unwrap();
    assert_eq!(one.cumulative, "726");
    let two = claim_for(&mut net.store, FORMAT, &evm(2)).unwrap().unwrap();
    assert_eq!(two.cumulative, "67");
}

/// Payouts that pay more than the emission, or list a device twice in a pool, are refused
/// before anything is stored or published; a corrected network closes the epoch after.
#[test]
fn invalid_payouts_are_refused_before_anything_is_stored() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    for (overpay, twice) in [(1, false), (0, true)] {
        let closer = two_pool_closer(&net, TwoPools { overpay, twice });
        let err = closer
            .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
            .unwrap_err();
        assert!(matches!(err, CloseError::Payouts(_)), "{err:?}");
        let row = net.store.epoch(Epoch(1)).unwrap().unwrap();
        assert!(row.root.is_none(), "{row:?}");
        assert!(receipt(&mut net.store, 1, &net.dev.a).is_none());
        assert_eq!(
            net.rt.block_on(net.flaky.epoch_root(Epoch(1))).unwrap(),
            None
        );
    }
    let closer = two_pool_closer(
        &net,
        TwoPools {
            overpay: 0,
            twice: false,
        },
    );
    let report = closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch_total, 793);
}

/// Rules that decide some items only at close (as witness selection does): the first
/// `refuse` accepted items (in the closer's order) are refused as `witness_limit`, every
/// other accepted item scores 1.
struct RefusesAtClose {
    refuse: usize,
}

impl EpochScoring for RefusesAtClose {
    type Tally = Vec<DeviceId>;

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        tally.push(item.device);
    }

    fn scores(&self, _epoch: Epoch, _tally: Self::Tally) -> Vec<(DeviceId, u128)> {
        Vec::new()
    }

    fn emission(&self, _epoch: Epoch) -> u128 {
        EMISSION
    }

    fn payouts(
        &self,
        epoch: Epoch,
        tally: Self::Tally,
    ) -> std::result::Result<EpochPayouts, depin_rewards::Error> {
        let cut = self.refuse.min(tally.len());
        let refused: Vec<(DeviceId, Rejection)> = tally[..cut]
            .iter()
            .map(|d| (*d, Rejection::WitnessLimit))
            .collect();
        // past the end: one refusal more than there are items (a broken network)
        let mut refused = refused;
        if self.refuse > tally.len() {
            refused.push((tally[0], Rejection::WitnessLimit));
        }
        let scores = tally[cut..].iter().map(|d| (*d, 1u128)).collect();
        let mut payouts = default_payouts(self.emission(epoch), scores)?;
        payouts.rejected = refused;
        Ok(payouts)
    }
}

/// Epoch 1 has 6 accepted items (a 2, b 2, c 1, d 1, in the closer's order by did:key
/// text). Refusing the first 3 at close: the epoch counts 3 accepted, its summary 3 more
/// `witness_limit` rejections, the devices' explanations show them (and take them off
/// their accepted counts), a recompute finds the same, and the epoch's ingest totals are
/// unchanged. Refusing more items than were accepted is invalid payouts: nothing stored.
#[test]
fn items_refused_at_close_are_counted_and_explained() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    let broken = closer_with(&net, RefusesAtClose { refuse: 7 }, &[]);
    let err = broken
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap_err();
    assert!(matches!(err, CloseError::Payouts(_)), "{err:?}");
    assert!(net.store.epoch(Epoch(1)).unwrap().unwrap().root.is_none());

    let closer = closer_with(&net, RefusesAtClose { refuse: 3 }, &[]);
    let mut order = Vec::new();
    net.store
        .for_each_accepted(Epoch(1), &mut |i| {
            order.push(i.device);
            Ok(())
        })
        .unwrap();
    let report = closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.accepted, 3);
    let row = net.store.epoch(Epoch(1)).unwrap().unwrap();
    assert_eq!(row.accepted, Some(3));
    let summary: Value = serde_json::from_slice(&row.summary.unwrap()).unwrap();
    assert_eq!(summary["accepted"], 3);
    assert_eq!(summary["rejected_at_close"], 3);
    assert_eq!(summary["rejected"]["witness_limit"], 3);
    assert_eq!(summary["rejected"]["stale"], 12, "the ingest counts stay");
    // the ingest totals do not include what the close refused
    assert!(net
        .store
        .rejections(Epoch(1))
        .unwrap()
        .iter()
        .all(|(r, _)| *r != Rejection::WitnessLimit));

    let mut refused: BTreeMap<DeviceId, u64> = BTreeMap::new();
    for d in &order[..3] {
        *refused.entry(*d).or_insert(0) += 1;
    }
    let mut all: BTreeMap<DeviceId, u64> = BTreeMap::new();
    for d in &order {
        *all.entry(*d).or_insert(0) += 1;
    }
    for (device, n) in &all {
        let record = net.store.device_epochs(device, Epoch(1), 1).unwrap();
        let gone = refused.get(device).copied().unwrap_or(0);
        assert_eq!(record[0].accepted, n - gone, "{device}");
        let shown = record[0]
            .rejected
            .iter()
            .find(|(r, _)| *r == Rejection::WitnessLimit)
            .map(|(_, c)| *c)
            .unwrap_or(0);
        assert_eq!(shown, gone, "{device}");
    }
    let again = closer.recompute(&mut net.store, Epoch(1)).unwrap();
    assert_eq!(again.root, report.root);
    assert_eq!(again.accepted, 3);
    let expected: Vec<(DeviceId, Rejection, u64)> = refused
        .iter()
        .map(|(d, n)| (*d, Rejection::WitnessLimit, *n))
        .collect();
    assert_eq!(again.close_rejections, expected);
    assert_eq!(again.summary, {
        let row = net.store.epoch(Epoch(1)).unwrap().unwrap();
        row.summary.unwrap()
    });
}

/// Scores a device of the closed epoch by 1 + its accepted items of the epoch before
/// (rules with history, as tile freshness needs).
struct WithHistory;

impl EpochScoring for WithHistory {
    type Tally = (BTreeMap<DeviceId, u128>, BTreeMap<DeviceId, u128>);

    fn history_epochs(&self) -> u64 {
        1
    }

    fn tally_history(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        *tally.0.entry(item.device).or_insert(0) += 1;
    }

    fn tally(&self, tally: &mut Self::Tally, item: &LoggedItem) {
        *tally.1.entry(item.device).or_insert(0) += 1;
    }

    fn scores(&self, _epoch: Epoch, (history, current): Self::Tally) -> Vec<(DeviceId, u128)> {
        current
            .into_iter()
            .map(|(d, n)| (d, n + history.get(&d).copied().unwrap_or(0)))
            .collect()
    }

    fn emission(&self, _epoch: Epoch) -> u128 {
        EMISSION
    }
}

/// Epoch 1 has a 2 items, c 1; epoch 2 one each for a and c: with one epoch of history a
/// scores 3 and c 2, so 600 and 400 (without it, 500 each). A recompute gives the same.
#[test]
fn rules_with_history_see_the_earlier_epochs_items() {
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    net.closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    commit(
        &mut net.store,
        vec![
            item(0, net.dev.a, 10, 2, Outcome::Accepted),
            item(1, net.dev.c, 10, 2, Outcome::Accepted),
        ],
        Vec::new(),
    );
    let closer = closer_with(
        &net,
        WithHistory,
        &[(net.dev.a, evm(1)), (net.dev.c, evm(3))],
    );
    let report = closer
        .close(&mut net.store, Epoch(2), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch_total, 1_000);
    let a = receipt(&mut net.store, 2, &net.dev.a).unwrap();
    assert_eq!((a.score.as_str(), a.amount.as_str()), ("3", "600"));
    let c = receipt(&mut net.store, 2, &net.dev.c).unwrap();
    assert_eq!((c.score.as_str(), c.amount.as_str()), ("2", "400"));
    let again = closer.recompute(&mut net.store, Epoch(2)).unwrap();
    assert_eq!(again.root, report.root);
}

/// `KindPools`: pool "work" (70 %) pays the 0x0100 items' units (a 40, b 2, c 8, d 20:
/// exactly 400, 20, 80, 200), pool "data" (20 %) has no items, and 10 % is unassigned; so
/// owners get 500, d's 200 are forfeited and 300 stay undistributed.
#[test]
fn kind_pools_pay_each_pool_its_share_over_its_kinds() {
    use depin_chains::oracle::KindPools;
    let mut net = net();
    commit_epoch_1(&mut net.store, &net.dev);
    let scoring = KindPools::new(
        EMISSION,
        [
            ("work", 7_000, vec![AttestationKind(0x0100)]),
            ("data", 2_000, vec![AttestationKind(0x0200)]),
        ],
    )
    .unwrap();
    let closer = closer_with(&net, scoring, &usual_owners(&net.dev));
    let report = closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch_total, 500);
    let amounts: Vec<String> = [net.dev.a, net.dev.b, net.dev.c]
        .iter()
        .map(|d| receipt(&mut net.store, 1, d).unwrap().amount)
        .collect();
    assert_eq!(amounts, ["400", "20", "80"]);
    let a = receipt(&mut net.store, 1, &net.dev.a).unwrap();
    assert_eq!(a.pools.len(), 1);
    assert_eq!(
        (a.pools[0].pool.as_str(), a.pools[0].score.as_str()),
        ("work", "40")
    );
    let d = receipt(&mut net.store, 1, &net.dev.d).unwrap();
    assert_eq!(d.forfeited.as_deref(), Some("200"));
    let row = net.store.epoch(Epoch(1)).unwrap().unwrap();
    let summary: Value = serde_json::from_slice(&row.summary.unwrap()).unwrap();
    assert_eq!(summary["undistributed"], json!("300"));
    assert_eq!(summary["forfeited"], json!("200"));

    // a kind in two pools, or more than 10 000 basis points, is refused
    let k = AttestationKind(0x0100);
    assert!(KindPools::new(1, [("x", 1_000, vec![k]), ("y", 1_000, vec![k])]).is_err());
    assert!(KindPools::new(1, [("x", 6_000, vec![k]), ("y", 5_000, vec![])]).is_err());
    assert!(KindPools::new(1, [("x", 1_000, vec![]), ("y", 1_000, vec![])]).is_err());
}

/// One catch-all pool named like the default, with every basis point, pays and roots
/// exactly as `UnitsScoring` does.
#[test]
fn one_catch_all_kind_pool_is_units_scoring() {
    use depin_chains::oracle::{KindPools, DEFAULT_POOL};
    let mut units = net();
    commit_epoch_1(&mut units.store, &units.dev);
    let expected = units
        .closer
        .close(&mut units.store, Epoch(1), NOW, units.rt.handle())
        .unwrap();
    let mut pooled = net();
    commit_epoch_1(&mut pooled.store, &pooled.dev);
    let scoring = KindPools::new(EMISSION, [(DEFAULT_POOL, 10_000, vec![])]).unwrap();
    let closer = closer_with(&pooled, scoring, &usual_owners(&pooled.dev));
    let report = closer
        .close(&mut pooled.store, Epoch(1), NOW, pooled.rt.handle())
        .unwrap();
    assert_eq!(
        (report.root, report.epoch_total),
        (expected.root, expected.epoch_total)
    );
    for d in [units.dev.a, units.dev.b, units.dev.c, units.dev.d] {
        assert_eq!(
            receipt(&mut pooled.store, 1, &d),
            receipt(&mut units.store, 1, &d)
        );
    }
}

/// `TrustWeighted` prices each device's units by the trust level stored with its accepted
/// items (the lowest of them): under `depin.device_trust` v1, a (untrusted, 100 Wh) earns
/// nothing, b (maker, 100 Wh) scores 75, and c (200 Wh, one item verified while it had
/// hardware trust and one while it had only its maker's) scores 150 as a maker's device.
/// 1000 over 225: b 333, c 666 plus the remaining unit (largest remainder) = 667.
#[test]
fn trust_weighted_rules_pay_by_the_trust_stored_with_the_items() {
    use depin_chains::oracle::TrustWeighted;
    use depin_core::TrustLevel;
    use depin_rewards::policy::trust::DeviceTrustPolicy;
    let with_trust = |index, device, seq, wh, trust| LoggedItem {
        trust,
        ..item(index, device, seq, 1, Outcome::Energy { wh })
    };
    let items = |dev: &Devices| {
        vec![
            with_trust(0, dev.a, 1, 100, TrustLevel::Untrusted),
            with_trust(1, dev.b, 1, 100, TrustLevel::Maker),
            with_trust(2, dev.c, 1, 100, TrustLevel::Hardware),
            with_trust(3, dev.c, 2, 100, TrustLevel::Maker),
        ]
    };
    let mut net = net();
    commit(&mut net.store, items(&net.dev), vec![]);
    let scoring = TrustWeighted::new(UnitsScoring::new(EMISSION), DeviceTrustPolicy::v1()).unwrap();
    let closer = closer_with(&net, scoring, &usual_owners(&net.dev));
    let report = closer
        .close(&mut net.store, Epoch(1), NOW, net.rt.handle())
        .unwrap();
    assert_eq!(report.epoch_total, 1_000);
    let b = receipt(&mut net.store, 1, &net.dev.b).unwrap();
    let c = receipt(&mut net.store, 1, &net.dev.c).unwrap();
    assert_eq!((b.amount.as_str(), c.amount.as_str()), ("333", "667"));
    let a = receipt(&mut net.store, 1, &net.dev.a).map(|r| r.amount);
    assert!(a.is_none() || a.as_deref() == Some("0"), "{a:?}");

    // the same items without trust-pricing pay by units alone (a 250, b 250, c 500)
    let mut plain = self::net();
    commit(&mut plain.store, items(&plain.dev), vec![]);
    plain
        .closer
        .close(&mut plain.store, Epoch(1), NOW, plain.rt.handle())
        .unwrap();
    let amounts: Vec<String> = [plain.dev.a, plain.dev.b, plain.dev.c]
        .iter()
        .map(|d| receipt(&mut plain.store, 1, d).unwrap().amount)
        .collect();
    assert_eq!(amounts, ["250", "250", "500"]);

    // a policy that does not validate is refused
    let mut bad = DeviceTrustPolicy::v1();
    bad.untrusted = depin_rewards::Fixed::ONE;
    bad.maker = depin_rewards::Fixed::ZERO;
    assert!(TrustWeighted::new(UnitsScoring::new(EMISSION), bad).is_err());
}

/// Three oracles, one of which computes another root (here: another emission), close epoch 1
/// through a quorum of two on a ledger whose oracle set is in effect. The first to close
/// waits for votes; the liar's vote agrees with nobody; the second honest oracle forms the
/// quorum and publishes; the first then finds its root on the chain; the liar is refused its
/// root. Every vote is kept for audit and served by the claims API, and the published
/// root's claims pay.
#[test]
fn three_oracles_publish_through_a_quorum_and_the_liar_is_kept_as_dissent() {
    three_oracles(false);
}

/// The same, with each oracle's claims API served on a loopback socket and the peers' votes
/// fetched over HTTP ([`depin_chains::oracle::HttpVotes`]); a fourth peer whose address
/// answers nothing is only a missing vote.
#[cfg(feature = "service")]
#[test]
fn three_oracles_exchange_their_votes_over_http() {
    three_oracles(true);
}

fn three_oracles(http: bool) {
    use depin_chains::oracle::quorum::{stored_votes, VoteJson};
    use depin_chains::oracle::{OracleQuorum, StoreVotes, VoteSource};
    use depin_chains::quorum::OracleSet;

    let dir = tempfile::tempdir().unwrap();
    // a ledger whose 3-oracle set (one key of each type, threshold 2) is in effect
    let (ledger, fixture) = crate::common::quorum_ledger(&dir.path().join("ledger.log"), FORMAT);
    ledger.fund(&admin(), 1_000_000).unwrap();
    let keys = fixture.oracles;
    let set = OracleSet::new(keys.iter().map(|k| k.device_id()), fixture.threshold).unwrap();
    let domain = fixture.domain;
    let distributor = fixture.distributor;

    let dev = devices();
    let stores: Vec<Arc<Mutex<Box<dyn OracleStore>>>> = (0..3)
        .map(|_| {
            let mut store: Box<dyn OracleStore> = Box::new(SqliteStore::open_in_memory().unwrap());
            commit_epoch_1(store.as_mut(), &dev);
            Arc::new(Mutex::new(store))
        })
        .collect();
    let owners: HashMap<DeviceId, Account> = usual_owners(&dev).into_iter().collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let peer = |j: usize| -> Arc<dyn VoteSource> { Arc::new(StoreVotes(Arc::clone(&stores[j]))) };
    #[cfg(feature = "service")]
    let urls: Vec<String> = if http {
        stores
            .iter()
            .map(|store| {
                let listener = rt
                    .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                    .unwrap();
                let url = format!("http://{}", listener.local_addr().unwrap());
                let app = api::router(Arc::clone(store), FORMAT);
                rt.spawn(async move { axum::serve(listener, app).await });
                url
            })
            .collect()
    } else {
        Vec::new()
    };
    #[cfg(not(feature = "service"))]
    assert!(!http, "HTTP votes need the service feature");
    let closers: Vec<EpochCloser<UnitsScoring>> = (0..3)
        .map(|i| {
            let mut peers: Vec<Arc<dyn VoteSource>> = Vec::new();
            for j in (0..3).filter(|&j| j != i) {
                #[cfg(feature = "service")]
                if http {
                    peers.push(Arc::new(
                        depin_chains::oracle::HttpVotes::new(
                            urls[j].clone(),
                            std::time::Duration::from_secs(5),
                        )
                        .unwrap(),
                    ));
                    continue;
                }
                peers.push(peer(j));
            }
            #[cfg(feature = "service")]
            if http {
                // an oracle that is down: nothing listens there
                let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let url = format!("http://{}", dead.local_addr().unwrap());
                drop(dead);
                peers.push(Arc::new(
                    depin_chains::oracle::HttpVotes::new(url, std::time::Duration::from_secs(2))
                        .unwrap(),
                ));
            }
            // oracle 2 lies: it pays one token more than the network emits
            let emission = if i == 2 { EMISSION + 1 } else { EMISSION };
            let owners = owners.clone();
            // any account submits: the signatures are the authority
            let backend: Arc<dyn ChainBackend> = Arc::new(ledger.handle(evm(0x40 + i as u8)));
            EpochCloser::new(
                UnitsScoring::new(emission),
                backend,
                FORMAT,
                format!("oracle-{i}"),
            )
            .owners(move |d: &DeviceId| owners.get(d).cloned())
            .quorum(OracleQuorum {
                signer: Arc::clone(&keys[i]),
                set: set.clone(),
                domain,
                distributor: distributor.clone(),
                peers,
            })
        })
        .collect();
    let close = |i: usize| {
        let mut store = stores[i].lock().unwrap();
        closers[i].close(store.as_mut(), Epoch(1), NOW, rt.handle())
    };
    let on_chain = || {
        rt.block_on(ledger.handle(evm(9)).epoch_root(Epoch(1)))
            .unwrap()
    };

    // the first honest oracle: only its own vote
    match close(0) {
        Err(CloseError::QuorumPending {
            votes: 1,
            needed: 2,
            ..
        }) => {}
        other => panic!("expected QuorumPending, got {other:?}"),
    }
    // the liar: two votes, for two statements
    match close(2) {
        Err(CloseError::QuorumPending { votes: 2, .. }) => {}
        other => panic!("expected QuorumPending, got {other:?}"),
    }
    assert_eq!(on_chain(), None);
    // the second honest oracle: a quorum of two, published
    let report = close(1).unwrap();
    assert!(report.published_tx.is_some());
    assert_eq!(report.epoch_total, 714);
    assert_eq!(
        on_chain(),
        Some(EpochRoot {
            epoch: Epoch(1),
            root: report.root,
            total: 714
        })
    );
    // every vote it saw, the liar's marked as dissent
    let audit = stored_votes(stores[1].lock().unwrap().as_mut(), Epoch(1)).unwrap();
    assert_eq!(audit.len(), 3);
    let dissent: Vec<&VoteJson> = audit.iter().filter(|v| v.agreed == Some(false)).collect();
    assert_eq!(dissent.len(), 1);
    assert_eq!(dissent[0].oracle, keys[2].device_id().to_string());
    // the first oracle closes again: its root is on the chain, nothing is sent twice
    let first = close(0).unwrap();
    assert_eq!(first.root, report.root);
    assert_eq!(
        stores[0]
            .lock()
            .unwrap()
            .epoch(Epoch(1))
            .unwrap()
            .unwrap()
            .status,
        EpochStatus::Published
    );
    // the liar cannot have its root: the chain holds the quorum's
    match close(2) {
        Err(CloseError::ChainConflict { ours, theirs, .. }) => {
            assert_ne!(ours, theirs);
            assert_eq!(theirs, report.root);
        }
        other => panic!("expected ChainConflict, got {other:?}"),
    }

    // the claims API serves each oracle's vote (what peers on other machines fetch) and the
    // audit record
    let app = api::router(Arc::clone(&stores[2]), FORMAT);
    let (status, vote) = get(&rt, &app, "/v1/epochs/1/vote");
    assert_eq!(status, StatusCode::OK, "{vote}");
    let vote: VoteJson = serde_json::from_value(vote).unwrap();
    let vote = vote.to_vote().unwrap();
    assert_eq!(vote.oracle, keys[2].device_id());
    vote.verify(&domain).unwrap();
    assert_ne!(
        vote.statement.root, report.root,
        "the liar's vote, as it signed it"
    );
    let (status, _) = get(&rt, &app, "/v1/epochs/2/vote");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let app = api::router(Arc::clone(&stores[1]), FORMAT);
    let (status, votes) = get(&rt, &app, "/v1/epochs/1/votes");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(votes["votes"].as_array().unwrap().len(), 3);
    let (status, _) = get(&rt, &app, "/v1/epochs/x/votes");
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // the quorum's root pays
    let answer = claim_for(stores[0].lock().unwrap().as_mut(), FORMAT, &evm(1))
        .unwrap()
        .unwrap();
    let relayer = ledger.handle(evm(1));
    let tx = rt.block_on(relayer.claim(&answer.claim)).unwrap();
    rt.block_on(relayer.wait_for_receipt(&tx))
        .unwrap()
        .ensure_success()
        .unwrap();
    assert_eq!(rt.block_on(relayer.claimed(&evm(1))).unwrap(), 685);
}
