//! The PostgreSQL store on a real PostgreSQL 15 cluster: the same conformance suite as
//! SQLite; two oracles sharing one database count every item once; the database stopped
//! mid-run makes ingest answer 503 (never 2xx for what it cannot store) and ingest resumes
//! by itself when the database is back, with nothing acknowledged lost.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use depin_attest::ingest::{EngineConfig, ItemBytes, ItemResult, Source};
use depin_attest::store::postgres::PgStore;
use depin_attest::store::{conformance, OracleStore, StoreError};
use depin_attest::Rejection;

use crate::http::{header, post};
use crate::pg::PgCluster;
use crate::Net;

static DB: AtomicU32 = AtomicU32::new(0);

fn fresh(cluster: &PgCluster) -> String {
    cluster.database(&format!("t{}", DB.fetch_add(1, Ordering::SeqCst)))
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let cluster = PgCluster::start();
    let mut n = 0u32;
    let report = conformance::run(&mut || -> Box<dyn OracleStore> {
        n += 1;
        Box::new(PgStore::connect(&fresh(&cluster)).unwrap())
    });
    assert!(report.is_ok(), "{report}");
    assert!(n >= 20, "one fresh database per check");
}

#[test]
fn a_store_reopened_on_the_same_database_sees_everything_and_keeps_its_schema() {
    let cluster = PgCluster::start();
    let url = fresh(&cluster);
    let net = Net::new(2);
    {
        let mut a = PgStore::connect(&url).unwrap();
        a.set_meta("k", b"v").unwrap();
        let engine = net.engine(Box::new(a), EngineConfig::new("a"));
        let h = engine.handle();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let r = rt
            .block_on(h.submit(src(), vec![ItemBytes::Frame(net.frame(0, 1))]))
            .unwrap();
        assert!(matches!(r[0], ItemResult::Accepted { .. }), "{r:?}");
        engine.join();
    }
    let mut b = PgStore::connect(&url).unwrap();
    assert_eq!(b.meta("k").unwrap().unwrap(), b"v".to_vec());
    let mut batches = 0;
    b.for_each_batch("a", 0, &mut |_, _| {
        batches += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(batches, 1);
    assert_eq!(b.schema_version().unwrap(), PgStore::SCHEMA_VERSION);
    drop(b);

    // a version 2 database (no close_counts) gets the table when a process connects
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.batch_execute(
        "DROP TABLE close_counts; DELETE FROM schema_version; \
         INSERT INTO schema_version (version) VALUES (2);",
    )
    .unwrap();
    drop(raw);
    let mut c = PgStore::connect(&url).unwrap();
    assert_eq!(c.schema_version().unwrap(), PgStore::SCHEMA_VERSION);
    let device = crate::id(&net.keys[0]);
    assert_eq!(
        c.device_epochs(&device, depin_core::Epoch(0), 10)
            .unwrap()
            .len(),
        1,
        "the device's epoch is read through the new table"
    );
}

fn src() -> Source {
    Source::new(depin_attest::ingest::Channel::Http, "test")
}

#[test]
fn two_oracles_sharing_one_database_count_every_item_once() {
    let cluster = PgCluster::start();
    let url = fresh(&cluster);
    let net = Net::new(16);
    let a = net.engine(
        Box::new(PgStore::connect(&url).unwrap()),
        EngineConfig::new("a"),
    );
    let b = net.engine(
        Box::new(PgStore::connect(&url).unwrap()),
        EngineConfig::new("b"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    // both oracles get every frame of every device (a gateway that uploads to both), at
    // the same time
    let frames: Vec<ItemBytes> = (0..16)
        .flat_map(|d| (1..=8).map(move |s| (d, s)))
        .map(|(d, s)| ItemBytes::Frame(net.frame(d, s)))
        .collect();
    let (ra, rb) = rt.block_on(async {
        let (ha, hb) = (a.handle(), b.handle());
        let mut ta = Vec::new();
        let mut tb = Vec::new();
        for chunk in frames.chunks(8) {
            let (ha, hb) = (ha.clone(), hb.clone());
            let (ca, cb) = (chunk.to_vec(), chunk.to_vec());
            ta.push(tokio::spawn(async move { ha.submit(src(), ca).await }));
            tb.push(tokio::spawn(async move { hb.submit(src(), cb).await }));
        }
        let mut ra = Vec::new();
        let mut rb = Vec::new();
        for t in ta {
            ra.extend(t.await.unwrap().unwrap());
        }
        for t in tb {
            rb.extend(t.await.unwrap().unwrap());
        }
        (ra, rb)
    });
    a.join();
    b.join();
    // each frame is accepted by exactly one of the two; the other answers it replayed
    for (x, y) in ra.iter().zip(&rb) {
        let accepted = [x, y]
            .iter()
            .filter(|r| matches!(r, ItemResult::Accepted { .. }))
            .count();
        assert_eq!(accepted, 1, "{x:?} / {y:?}");
        for r in [x, y] {
            if let ItemResult::Rejected { reason } = r {
                assert_eq!(*reason, Rejection::Replayed, "{r:?}");
            }
        }
    }
    let mut store = PgStore::connect(&url).unwrap();
    let mut accepted = 0u64;
    store
        .for_each_accepted(depin_core::Epoch(epoch_of_now()), &mut |_| {
            accepted += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(accepted, 16 * 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_stopped_mid_run_gives_503_and_ingest_resumes_with_nothing_lost() {
    let cluster = PgCluster::start();
    let url = fresh(&cluster);
    let net = Net::new(4);
    let mut config = EngineConfig::new("pg");
    config.retry_after = Duration::from_secs(1);
    let u = url.clone();
    let store = tokio::task::spawn_blocking(move || PgStore::connect(&u).unwrap())
        .await
        .unwrap();
    let oracle = crate::start_oracle_on(net.clone(), Box::new(store), config).await;
    let addr = oracle.addr;
    let mut acknowledged = Vec::new();

    let mut seq = 0u32;
    let mut send = |d: usize| {
        seq += 1;
        (d, seq, net.frame(d, seq))
    };
    for d in 0..4 {
        let (d, s, f) = send(d);
        let (status, _, body) = post(addr, "/v1/frames", "application/octet-stream", &f).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        acknowledged.push((d, s));
    }

    // the database goes away: every answer is 503 with Retry-After, never 2xx
    cluster.down();
    let mut refused = Vec::new();
    for d in 0..4 {
        let (d, s, f) = send(d);
        let (status, headers, body) =
            post(addr, "/v1/frames", "application/octet-stream", &f).await;
        assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
        assert!(header(&headers, "retry-after").is_some());
        refused.push((d, s, f));
    }

    // back: the same frames are sent again and accepted (nothing of them was stored)
    cluster.up();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (d, s, f) in refused {
        loop {
            let (status, _, body) = post(addr, "/v1/frames", "application/octet-stream", &f).await;
            if status == 200 {
                let text = String::from_utf8_lossy(&body);
                assert!(text.contains("accepted"), "{text}");
                acknowledged.push((d, s));
                break;
            }
            assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
            assert!(Instant::now() < deadline, "ingest did not resume");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(oracle);

    // every acknowledged frame is in the database, once
    let check = tokio::task::spawn_blocking(move || {
        let mut store = PgStore::connect(&url).unwrap();
        let mut seen = Vec::new();
        store
            .for_each_accepted(depin_core::Epoch(epoch_of_now()), &mut |item| {
                seen.push(item.seq);
                Ok(())
            })
            .unwrap();
        seen
    })
    .await
    .unwrap();
    let mut want: Vec<u64> = acknowledged.iter().map(|(_, s)| u64::from(*s)).collect();
    let mut got = check;
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn a_database_that_is_down_is_unavailable_not_corrupt() {
    let cluster = PgCluster::start();
    let url = fresh(&cluster);
    let mut store = PgStore::connect(&url).unwrap();
    store.health().unwrap();
    cluster.down();
    assert!(matches!(store.health(), Err(StoreError::Unavailable(_))));
    assert!(matches!(store.meta("x"), Err(StoreError::Unavailable(_))));
    cluster.up();
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.health().is_err() {
        assert!(Instant::now() < deadline, "the store did not reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    store.set_meta("x", b"1").unwrap();
}

/// The epoch (daily UTC) of [`crate::NOW`], which every test item is stamped with.
fn epoch_of_now() -> u64 {
    depin_core::EpochSchedule::daily_utc()
        .epoch_of(crate::NOW)
        .unwrap()
        .0
}
