//! `oracle::service`: the runnable oracle on a real SQLite file, a real socket and the local
//! ledger. Devices post over HTTP; the closer closes the epoch once its end plus the grace
//! window has passed (on a clock the test drives); the root is on the chain; owners fetch
//! their claims from the same port; late items are `epoch_closed`; a restart closes
//! nothing twice; the configuration reads TOML with environment overrides.

use depin_chains::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_attest::types::{EnergyDirection, EnergyReading};
use depin_attest::{
    DeviceRecord, Envelope, EnvelopeBody, KindSet, MemoryRegistry, MemoryReplayStore, Verifier,
    VerifierConfig,
};
use depin_chains::local::LocalLedger;
use depin_chains::oracle::service::{
    due_through, Oracle, ServiceConfig, ServiceError, StoreConfig, FIRST_EPOCH_KEY,
};
use depin_chains::oracle::{EpochCloser, UnitsScoring};
use depin_chains::{Account, ChainBackend, ClaimFormat};
use depin_core::{
    DeviceId, Domain, Epoch, EpochSchedule, KeyType, NetworkId, SigningKey, Timestamp,
};
use serde_json::Value;

use crate::common::{evm, genesis, oracle as oracle_account};

/// Epoch 0 starts here; epochs last a minute; late items count for 5 s after the end.
const GENESIS: u64 = 1_700_000_000_000;
const LENGTH: u64 = 60_000;
const GRACE: u64 = 5_000;
const EMISSION: u128 = 1_000_003;
const DEVICES: u32 = 5;

fn domain() -> Domain {
    Domain::new(NetworkId::new("service-net").unwrap())
}

fn schedule() -> EpochSchedule {
    EpochSchedule::new(Timestamp(GENESIS), LENGTH).unwrap()
}

fn key(i: u32) -> SigningKey {
    let mut seed = [9u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap()
}

fn did(i: u32) -> DeviceId {
    DeviceId::from(&key(i).public_key())
}

fn owner(i: u32) -> Account {
    evm(0x40 + i as u8)
}

/// A signed cumulative energy reading of device `i` stamped `at`.
fn reading(i: u32, seq: u64, at: u64, wh: u64) -> Vec<u8> {
    let body = EnvelopeBody::new(
        did(i),
        seq,
        Timestamp(at),
        &EnergyReading {
            direction: EnergyDirection::Production,
            cumulative_wh: wh,
        },
    )
    .unwrap();
    Envelope::sign(&domain(), &key(i), &body).unwrap()
}

struct World {
    dir: tempfile::TempDir,
    ledger: LocalLedger,
    clock: Arc<AtomicU64>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LocalLedger::open(
            dir.path().join("chain.ledger"),
            genesis(ClaimFormat::OpenZeppelin),
        )
        .unwrap();
        World {
            dir,
            ledger,
            clock: Arc::new(AtomicU64::new(GENESIS + 10_000)),
        }
    }

    fn set(&self, t: u64) {
        self.clock.store(t, Ordering::SeqCst);
    }

    fn config(&self) -> ServiceConfig {
        let text = format!(
            r#"
            listen = "127.0.0.1:0"
            name = "oracle-a"
            [store]
            kind = "sqlite"
            path = "{}"
            [epochs]
            genesis_ms = {GENESIS}
            length_ms = {LENGTH}
            grace_ms = {GRACE}
            check_ms = 20
            "#,
            self.dir.path().join("oracle.db").display()
        );
        ServiceConfig::from_toml(&text, Vec::new()).unwrap()
    }

    async fn start(&self, config: ServiceConfig) -> Result<Oracle, ServiceError> {
        let mut registry = MemoryRegistry::new();
        let mut owners = HashMap::new();
        for i in 0..DEVICES {
            let mut rec = DeviceRecord::active(KindSet::ALL);
            rec.rated_power_w = Some(10_000);
            registry.insert(did(i), rec).unwrap();
            owners.insert(did(i), owner(i));
        }
        let mut vconfig = VerifierConfig::new(domain());
        vconfig.schedule = schedule();
        let backend: Arc<dyn ChainBackend> = Arc::new(self.ledger.handle(oracle_account()));
        let closer = EpochCloser::new(
            UnitsScoring::new(EMISSION),
            backend,
            ClaimFormat::OpenZeppelin,
            config.name.clone(),
        )
        .owners(move |d: &DeviceId| owners.get(d).cloned());
        let clock = Arc::clone(&self.clock);
        Oracle::builder(
            config,
            Box::new(move || {
                Verifier::new(vconfig.clone(), registry.clone(), MemoryReplayStore::new())
            }),
            closer,
        )
        .clock(Arc::new(move || Timestamp(clock.load(Ordering::SeqCst))))
        .start()
        .await
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_envelope(addr: SocketAddr, bytes: Vec<u8>) -> (u16, Value) {
    let r = client()
        .post(format!("http://{addr}/v1/envelopes"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    (status, v.get("result").cloned().unwrap_or(v))
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Wait until epoch `n`'s row says published.
async fn published(addr: SocketAddr, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(addr, &format!("/v1/epochs/{n}")).await;
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["status"] == "published" {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "epoch {n} not published: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_ingests_closes_on_time_publishes_and_answers_claims() {
    let w = World::new();
    let oracle = w.start(w.config()).await.unwrap();
    let addr = oracle.addr();

    // every device reports twice inside epoch 0: 10 Wh, then 10 + 3i Wh more
    for i in 0..DEVICES {
        for (seq, wh) in [(1u64, 10u64), (2, 20 + 3 * u64::from(i))] {
            let (status, v) = post_envelope(
                addr,
                reading(i, seq, GENESIS + 1_000 + (seq - 1) * 29_000, wh),
            )
            .await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["status"], "accepted", "{v}");
            assert_eq!(v["epoch"], 0);
        }
    }
    // the epoch has ended but the grace window has not: nothing closes, late items count
    w.set(GENESIS + LENGTH + GRACE - 1_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = get(addr, "/v1/epochs/0").await;
    assert_ne!(status, 200, "epoch 0 closed before its grace window ended");
    let (status, v) = post_envelope(addr, reading(0, 3, GENESIS + LENGTH - 1, 40)).await;
    assert_eq!(
        (status, v["status"].clone()),
        (200, "accepted".into()),
        "{v}"
    );

    // past the grace window: the closer closes epoch 0 and publishes its root
    w.set(GENESIS + LENGTH + GRACE);
    let row = published(addr, 0).await;
    let root = row["root"].as_str().unwrap().to_string();
    let on_chain = w
        .ledger
        .handle(oracle_account())
        .epoch_root(Epoch(0))
        .await
        .unwrap()
        .expect("the root is on the chain");
    assert_eq!(hex::encode(on_chain.root), root);

    // a late item for epoch 0 is now refused, typed
    let (status, v) = post_envelope(addr, reading(1, 3, GENESIS + LENGTH - 1, 30)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "rejected", "{v}");
    assert_eq!(v["reason"], "epoch_closed", "{v}");

    // owners' claims add up to the emission exactly; each is what its wh earned
    let mut total = 0u128;
    for i in 0..DEVICES {
        let (status, body) = get(addr, &format!("/v1/claims/{}", owner(i))).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        total += v["cumulative"].as_str().unwrap().parse::<u128>().unwrap();
        assert_eq!(v["root"].as_str().unwrap(), root);
    }
    assert_eq!(total, EMISSION);

    // the metrics count one close
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("epochs_closed") && l.trim_end().ends_with(" 1")),
        "{metrics}"
    );
    oracle.shutdown().await.unwrap();

    // a restart on the same store recovers, keeps the first epoch and closes nothing twice
    let oracle = w.start(w.config()).await.unwrap();
    let addr = oracle.addr();
    assert_eq!(published(addr, 0).await["root"].as_str().unwrap(), root);
    w.set(GENESIS + 2 * LENGTH + GRACE);
    let row1 = published(addr, 1).await;
    // nothing earned in epoch 1: the cumulative tree is unchanged
    assert_eq!(row1["root"].as_str().unwrap(), root);
    // the replayed verifier still refuses a replayed item
    let (_, v) = post_envelope(addr, reading(2, 1, GENESIS + 2 * LENGTH, 10)).await;
    assert_eq!(v["status"], "rejected", "{v}");
    oracle.shutdown().await.unwrap();
    let mut store =
        depin_attest::store::sqlite::SqliteStore::open(w.dir.path().join("oracle.db")).unwrap();
    use depin_attest::store::OracleStore;
    assert_eq!(store.meta(FIRST_EPOCH_KEY).unwrap().unwrap(), b"0".to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_on_another_schedule_is_refused_at_start() {
    let w = World::new();
    let mut config = w.config();
    config.epochs.length_ms = LENGTH * 2;
    let err = w.start(config).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Engine(_)),
        "expected an engine error, got {err:?}"
    );
    assert!(err.to_string().contains("schedule"), "{err}");
}

#[test]
fn configuration_reads_toml_with_environment_overrides_and_refuses_unknown_settings() {
    let text = r#"
        [store]
        kind = "sqlite"
        path = "a.db"
        [epochs]
        length_ms = 3600000
    "#;
    let env = vec![
        (
            "DEPIN_ORACLE__LISTEN".to_string(),
            "0.0.0.0:9000".to_string(),
        ),
        (
            "DEPIN_ORACLE__STORE__PATH".to_string(),
            "/var/lib/b.db".to_string(),
        ),
        (
            "DEPIN_ORACLE__EPOCHS__GRACE_MS".to_string(),
            "120000".to_string(),
        ),
        (
            "DEPIN_ORACLE__INGEST__DEVICE_PER_SECOND".to_string(),
            "5".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let c = ServiceConfig::from_toml(text, env).unwrap();
    assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(
        c.store,
        StoreConfig::Sqlite {
            path: "/var/lib/b.db".into()
        }
    );
    assert_eq!(c.epochs.grace_ms, 120_000);
    assert_eq!(c.epochs.length_ms, 3_600_000);
    assert_eq!(c.ingest.limits().device_rate.per_second, 5);
    assert_eq!(c.name, "oracle");

    // unknown settings, in the file or in the environment, are errors
    let bad = format!("{text}\n[ingest]\nbatch_max = 5\n");
    assert!(ServiceConfig::from_toml(&bad, Vec::new()).is_err());
    let env = vec![("DEPIN_ORACLE__EPOCHS__GRACE".to_string(), "1".to_string())];
    assert!(ServiceConfig::from_toml(text, env).is_err());
    // a missing store and a zero epoch length are errors
    assert!(ServiceConfig::from_toml("", Vec::new()).is_err());
    let zero = format!("{text}\n").replace("3600000", "0");
    assert!(ServiceConfig::from_toml(&zero, Vec::new()).is_err());
    // a file that is not there names itself
    let err = ServiceConfig::load(Path::new("/nonexistent/oracle.toml"), Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/oracle.toml"),
        "{err}"
    );
}

#[test]
fn an_epoch_is_due_once_its_end_plus_grace_has_passed() {
    let s = schedule();
    assert_eq!(
        due_through(&s, GRACE, Timestamp(GENESIS + LENGTH + GRACE - 1)),
        None
    );
    assert_eq!(
        due_through(&s, GRACE, Timestamp(GENESIS + LENGTH + GRACE)),
        Some(Epoch(0))
    );
    assert_eq!(
        due_through(&s, GRACE, Timestamp(GENESIS + 3 * LENGTH + GRACE + 1)),
        Some(Epoch(2))
    );
    assert_eq!(
        due_through(&s, 0, Timestamp(GENESIS + LENGTH)),
        Some(Epoch(0))
    );
    assert_eq!(due_through(&s, GRACE, Timestamp(0)), None);
}
