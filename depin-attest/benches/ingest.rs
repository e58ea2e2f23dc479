//! HTTP ingest end to end on loopback against the in-process pipeline on the same frames.
//!
//! * `in-process`: a fresh verifier verifies 8,192 signed frames (2,048 Ed25519 devices x
//!   4) in batches of 1,024, as an application embedding the pipeline would.
//! * `http+sqlite`: the same frames POSTed as binary batches of 1,024 (four clients at once)
//!   to the HTTP endpoint of a fresh ingest engine over a fresh SQLite file (WAL,
//!   `synchronous=FULL`): body limits, rate limits, decoding, verification, the durable
//!   commit of every item and verdict, then the JSON answer. Both runs must accept every
//!   frame; the bench panics otherwise.
//!
//! * `http+postgres` (with feature `postgres`): the same over a PostgreSQL 15 store, a fresh
//!   database per run in a throwaway cluster on a loopback port started by the bench (the
//!   tests' fixture, `tests/oracle/pg.rs`), default `synchronous_commit=on`, `fsync=on`.
//!
//! Run: `cargo bench -p depin-attest --features sqlite,http,parallel,postgres --bench ingest -- --warm-up-time 1 --measurement-time 8`
//! The ratios (service / in-process) are printed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use depin_attest::ingest::limits::{Limits, Rate};
use depin_attest::ingest::wire::encode_binary;
use depin_attest::ingest::{Engine, EngineConfig, ItemBytes};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::OracleStore;

#[cfg(feature = "postgres")]
#[allow(dead_code, unreachable_pub)]
#[path = "../tests/oracle/pg.rs"]
mod pg;
use depin_attest::{
    DeviceRecord, Input, KindSet, MemoryRegistry, MemoryReplayStore, Verifier, VerifierConfig,
};
use depin_core::frame::{sign_frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};

const DEVICES: u32 = 2048;
const PER_DEVICE: u32 = 4;
const BATCH: usize = 1024;
/// Concurrent HTTP clients (each sends one batch at a time).
const CLIENTS: usize = 4;
const NOW: Timestamp = Timestamp(1_700_000_000_000);

struct Data {
    registry: MemoryRegistry,
    config: VerifierConfig,
    frames: Vec<Vec<u8>>,
}

fn data() -> Data {
    let domain = Domain::new(NetworkId::new("bench-net").unwrap());
    let mut registry = MemoryRegistry::with_capacity(DEVICES as usize);
    let mut frames = Vec::new();
    let keys: Vec<SigningKey> = (0..DEVICES)
        .map(|i| {
            let mut seed = [3u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap()
        })
        .collect();
    for k in &keys {
        registry
            .insert(
                DeviceId::from(&k.public_key()),
                DeviceRecord::active(KindSet::ALL),
            )
            .unwrap();
    }
    for seq in 1..=PER_DEVICE {
        for k in &keys {
            let mut buf = [0u8; MAX_FRAME_LEN];
            let n = sign_frame(&domain, k, 7, seq, NOW, b"temp=21.5;rh=40", &mut buf).unwrap();
            frames.push(buf[..n].to_vec());
        }
    }
    Data {
        registry,
        config: VerifierConfig::new(domain),
        frames,
    }
}

fn in_process(d: &Data) -> usize {
    let mut v = Verifier::new(
        d.config.clone(),
        d.registry.clone(),
        MemoryReplayStore::new(),
    )
    .unwrap();
    let mut accepted = 0;
    for chunk in d.frames.chunks(BATCH) {
        let inputs: Vec<Input<'_>> = chunk.iter().map(|f| Input::Frame(f)).collect();
        accepted += v
            .verify_batch(&inputs, NOW)
            .iter()
            .filter(|r| r.is_ok())
            .count();
    }
    accepted
}

fn post(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-depin-batch\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp[..64.min(resp.len())])
    );
    resp
}

/// One run through a fresh service over a fresh SQLite file; returns (elapsed, accepted).
fn service(d: &Data, rt: &tokio::runtime::Runtime) -> (Duration, usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("o.db")).unwrap();
    service_on(d, rt, Box::new(store))
}

/// One run through a fresh service over `store`; returns (elapsed, accepted).
fn service_on(
    d: &Data,
    rt: &tokio::runtime::Runtime,
    store: Box<dyn OracleStore>,
) -> (Duration, usize) {
    let mut config = EngineConfig::new("bench");
    config.limits = Limits {
        client_rate: Rate::UNLIMITED,
        device_rate: Rate::UNLIMITED,
        ..Limits::default()
    };
    let (registry, vc) = (d.registry.clone(), d.config.clone());
    let engine = Engine::start(
        config,
        Box::new(move || Verifier::new(vc.clone(), registry.clone(), MemoryReplayStore::new())),
        store,
        Arc::new(|| NOW),
    )
    .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(depin_attest::ingest::http::serve(
        listener,
        engine.handle(),
        async {
            let _ = rx.await;
        },
    ));
    let bodies: Vec<Vec<u8>> = d
        .frames
        .chunks(BATCH)
        .map(|c| encode_binary(&c.iter().cloned().map(ItemBytes::Frame).collect::<Vec<_>>()))
        .collect();
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let q = Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut accepted = 0;
                loop {
                    let next = q.lock().unwrap().next();
                    let Some(body) = next else { break };
                    let resp = post(addr, &body);
                    accepted += resp
                        .windows(19)
                        .filter(|w| w == b"\"status\":\"accepted\"")
                        .count();
                }
                accepted
            })
        })
        .collect();
    let accepted: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = start.elapsed();
    let _ = tx.send(());
    rt.block_on(server).unwrap().unwrap();
    engine.join();
    (elapsed, accepted)
}

fn bench(c: &mut Criterion) {
    let d = data();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let total = d.frames.len();
    assert_eq!(in_process(&d), total);
    assert_eq!(service(&d, &rt).1, total);

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(10);
    let base = Arc::new(Mutex::new(Vec::new()));
    let served = Arc::new(Mutex::new(Vec::new()));
    {
        let base = Arc::clone(&base);
        g.bench_function("in-process", |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let s = Instant::now();
                    assert_eq!(in_process(&d), total);
                    let e = s.elapsed();
                    base.lock().unwrap().push(e);
                    t += e;
                }
                t
            })
        });
    }
    {
        let served = Arc::clone(&served);
        g.bench_function("http+sqlite", |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    let (e, accepted) = service(&d, &rt);
                    assert_eq!(accepted, total);
                    served.lock().unwrap().push(e);
                    t += e;
                }
                t
            })
        });
    }
    #[cfg(feature = "postgres")]
    let on_pg = {
        let cluster = pg::PgCluster::start();
        let mut n = 0u32;
        let mut fresh = move || {
            n += 1;
            let url = cluster.database(&format!("bench{n}"));
            let store: Box<dyn OracleStore> =
                Box::new(depin_attest::store::postgres::PgStore::connect(&url).unwrap());
            store
        };
        assert_eq!(service_on(&d, &rt, fresh()).1, total);
        let pg_runs = Arc::new(Mutex::new(Vec::new()));
        {
            let pg_runs = Arc::clone(&pg_runs);
            g.bench_function("http+postgres", |b| {
                b.iter_custom(|iters| {
                    let mut t = Duration::ZERO;
                    for _ in 0..iters {
                        let (e, accepted) = service_on(&d, &rt, fresh());
                        assert_eq!(accepted, total);
                        pg_runs.lock().unwrap().push(e);
                        t += e;
                    }
                    t
                })
            });
        }
        pg_runs
    };
    g.finish();
    let best = |v: &Mutex<Vec<Duration>>| v.lock().unwrap().iter().min().copied().unwrap();
    let (b, s) = (best(&base), best(&served));
    #[cfg(feature = "postgres")]
    {
        let p = best(&on_pg);
        println!(
            "ingest: http+postgres best {:.1} ms ({:.0} frames/s), service / in-process = {:.2}",
            p.as_secs_f64() * 1e3,
            total as f64 / p.as_secs_f64(),
            b.as_secs_f64() / p.as_secs_f64()
        );
    }
    println!(
        "ingest: in-process best {:.1} ms ({:.0} frames/s), http+sqlite best {:.1} ms ({:.0} frames/s), service / in-process = {:.2}",
        b.as_secs_f64() * 1e3,
        total as f64 / b.as_secs_f64(),
        s.as_secs_f64() * 1e3,
        total as f64 / s.as_secs_f64(),
        b.as_secs_f64() / s.as_secs_f64()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
