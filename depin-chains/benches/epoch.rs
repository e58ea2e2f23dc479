//! A Helium-sized epoch through the oracle's own parts: `n` registered Ed25519 devices send
//! 10 frames each into the ingest engine (verification in batches of 4,096 on both cores,
//! durable commit of every item and verdict to a SQLite file, `synchronous=FULL`), then
//! the epoch is closed (`EpochCloser::close`: the accepted items streamed out of the store
//! into the scoring tally, the exact split, one receipt per device, the cumulative claim
//! tree over one owner per device, the root published on the local ledger).
//!
//! Prints per step: devices, items, ingest wall time (verify + store, the frames signed
//! beforehand and not counted), close wall time, their sum, items/s, the store file's
//! size, and peak resident memory (`VmHWM`, which includes the benchmark's own keys and
//! one round of signed frames). Every frame must be accepted and the close must pay the
//! whole emission; the bench panics otherwise.
//!
//! Run: `cargo bench -p depin-chains --features service --bench epoch` (10k and 100k);
//! the 1M-device, 10M-attestation step: `DEPIN_EPOCH_LADDER=1000000 cargo bench ...`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_attest::ingest::limits::{Limits, Rate};
use depin_attest::ingest::{Channel, Engine, EngineConfig, ItemBytes, ItemResult, Source};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::{
    DeviceRecord, KindSet, MemoryRegistry, MemoryReplayStore, VerifierBuilder, VerifierConfig,
};
use depin_chains::local::{Genesis, LocalLedger};
use depin_chains::oracle::{EpochCloser, UnitsScoring};
use depin_chains::{Account, ChainBackend, ClaimFormat};
use depin_core::frame::{sign_frame, MAX_FRAME_LEN};
use depin_core::{
    DeviceId, Domain, EpochSchedule, EvmAddress, KeyType, NetworkId, SigningKey, Timestamp,
};
use rayon::prelude::*;

const FRAMES_PER_DEVICE: u32 = 10;
const BATCH: usize = 16_384;
/// Submissions in flight at once (as many gateways would upload concurrently).
const IN_FLIGHT: usize = 4;
const NOW: Timestamp = Timestamp(1_700_000_000_000);
const EMISSION: u128 = 1_000_000_000_000;

fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Bytes this process has caused to be written to storage (`write_bytes` of `/proc/self/io`).
fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[8] = 0xe9;
    SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap()
}

/// The owner of device `i`: one account per device (the largest claim tree).
fn owner(i: usize) -> Account {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    a[19] = 0x77;
    Account::Evm(EvmAddress(a))
}

fn step(devices: usize) {
    let domain = Domain::new(NetworkId::new("epoch-net").unwrap());
    let keys: Vec<SigningKey> = (0..devices).into_par_iter().map(key).collect();
    let ids: Vec<DeviceId> = keys
        .par_iter()
        .map(|k| DeviceId::from(&k.public_key()))
        .collect();
    let mut registry = MemoryRegistry::with_capacity(devices);
    let mut owners: HashMap<DeviceId, Account> = HashMap::with_capacity(devices);
    for (i, id) in ids.iter().enumerate() {
        let mut rec = DeviceRecord::active(KindSet::ALL);
        rec.key_checked = true;
        registry.insert_trusted(*id, rec).unwrap();
        owners.insert(*id, owner(i));
    }
    drop(ids);
    let mut vconfig = VerifierConfig::new(domain);
    vconfig.parallel_threshold = 256;
    // daily epochs from an hour before the frames: they count for epoch 0 (the local
    // ledger takes a first root only for an epoch near its start)
    vconfig.schedule =
        EpochSchedule::new(Timestamp(NOW.0 - 3_600_000), depin_core::time::DAY_MS).unwrap();
    let schedule = vconfig.schedule;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("oracle.db");
    let mut config = EngineConfig::new("bench");
    config.batch_max_items = BATCH;
    config.queue_items = BATCH * (IN_FLIGHT + 1);
    config.limits = Limits {
        client_rate: Rate::UNLIMITED,
        device_rate: Rate::UNLIMITED,
        ..Limits::default()
    };
    let engine = Engine::start(
        config,
        Box::new(move || {
            VerifierBuilder::new(vconfig.clone())
                .expected_devices(devices)
                .build(registry.clone(), MemoryReplayStore::with_capacity(devices))
        }),
        Box::new(SqliteStore::open(&db).unwrap()),
        Arc::new(|| NOW),
    )
    .unwrap();
    let handle = engine.handle();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let written_before = written_bytes();
    let mut ingest = Duration::ZERO;
    let mut signing = Duration::ZERO;
    let mut accepted = 0usize;
    for seq in 1..=FRAMES_PER_DEVICE {
        let t = Instant::now();
        let frames: Vec<ItemBytes> = keys
            .par_iter()
            .map(|k| {
                let mut buf = [0u8; MAX_FRAME_LEN];
                let n = sign_frame(&domain, k, 1, seq, NOW, &[0x5a; 24], &mut buf).unwrap();
                ItemBytes::Frame(buf[..n].to_vec())
            })
            .collect();
        signing += t.elapsed();
        let t = Instant::now();
        let h = handle.clone();
        accepted += rt.block_on(async move {
            let mut chunks = frames.chunks(BATCH).map(<[ItemBytes]>::to_vec);
            let mut tasks = tokio::task::JoinSet::new();
            let mut n = 0usize;
            loop {
                while tasks.len() < IN_FLIGHT {
                    let Some(chunk) = chunks.next() else { break };
                    let h = h.clone();
                    tasks.spawn(async move {
                        let source = Source::new(Channel::Http, "bench");
                        h.submit(source, chunk).await.unwrap()
                    });
                }
                let Some(done) = tasks.join_next().await else {
                    break;
                };
                n += done
                    .unwrap()
                    .iter()
                    .filter(|r| matches!(r, ItemResult::Accepted { .. }))
                    .count();
            }
            n
        });
        ingest += t.elapsed();
    }
    let items = devices * FRAMES_PER_DEVICE as usize;
    assert_eq!(accepted, items, "every frame must be accepted");
    engine.join();
    let written = written_bytes().saturating_sub(written_before);
    drop(keys);

    let ledger = LocalLedger::open(
        dir.path().join("chain.ledger"),
        Genesis {
            network: "epoch-net".into(),
            admin: owner(usize::MAX - 1),
            oracle: owner(usize::MAX - 2),
            claim_format: ClaimFormat::OpenZeppelin,
        },
    )
    .unwrap();
    let backend: Arc<dyn ChainBackend> = Arc::new(ledger.handle(owner(usize::MAX - 2)));
    let closer = EpochCloser::new(
        UnitsScoring::new(EMISSION),
        backend,
        ClaimFormat::OpenZeppelin,
        "bench",
    )
    .owners(move |d: &DeviceId| owners.get(d).cloned());
    let mut store = SqliteStore::open(&db).unwrap();
    let epoch = schedule.epoch_of(NOW).unwrap();
    let close_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let report = closer
        .close(&mut store, epoch, NOW, close_rt.handle())
        .unwrap();
    let close = t.elapsed();
    assert_eq!(report.accepted, items as u64);
    assert_eq!(report.epoch_total, EMISSION, "the whole emission is paid");
    assert_eq!(report.devices_paid, devices as u64);
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("oracle.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let total = ingest + close;
    println!(
        "epoch: {devices} devices, {items} items | ingest (verify + store) {:.1} s ({:.0} items/s) | close {:.1} s | verify+store+close {:.1} s | signing beforehand {:.1} s | store {:.0} MiB, {:.1} GiB written while ingesting | peak RSS {:.0} MiB",
        ingest.as_secs_f64(),
        items as f64 / ingest.as_secs_f64(),
        close.as_secs_f64(),
        total.as_secs_f64(),
        signing.as_secs_f64(),
        db_bytes as f64 / (1 << 20) as f64,
        written as f64 / (1u64 << 30) as f64,
        peak_rss() as f64 / (1 << 20) as f64,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs the smallest step only
    let quick = !std::env::args().any(|a| a == "--bench");
    let ladder: Vec<usize> = match std::env::var("DEPIN_EPOCH_LADDER") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse().expect("DEPIN_EPOCH_LADDER: device counts"))
            .collect(),
        Err(_) if quick => vec![1_000],
        Err(_) => vec![10_000, 100_000],
    };
    for devices in ladder {
        step(devices);
    }
}
