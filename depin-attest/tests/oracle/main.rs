//! The oracle's parts: the store, the ingest engine and the HTTP endpoint, with real
//! keys, a real SQLite file and real sockets on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub
)]

mod coverage;
mod engine;
mod gossip;
mod http;
mod kill;
mod mqtt;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pgstore;
mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use depin_attest::ingest::limits::Limits;
use depin_attest::ingest::{Engine, EngineConfig, IngestHandle};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::OracleStore;
use depin_attest::types::{EnergyDirection, EnergyReading};
use depin_attest::{
    DeviceRecord, Envelope, EnvelopeBody, KindSet, MemoryRegistry, MemoryReplayStore, Verifier,
    VerifierConfig,
};
use depin_core::frame::{sign_frame, MAX_FRAME_LEN};
use depin_core::{DeviceId, Domain, KeyType, NetworkId, SigningKey, Timestamp};

/// 2023-11-14T22:13:20Z: every item is stamped at it and the engine's clock is fixed at it,
/// so runs are deterministic.
pub(crate) const NOW: Timestamp = Timestamp(1_700_000_000_000);

pub(crate) fn domain() -> Domain {
    Domain::new(NetworkId::new("oracle-net").unwrap())
}

pub(crate) fn key(i: u32) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    SigningKey::from_secret_bytes(KeyType::Ed25519, &seed).unwrap()
}

pub(crate) fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(&k.public_key())
}

/// The network: `n` active Ed25519 energy devices rated 10 kW.
#[derive(Clone)]
pub(crate) struct Net {
    pub(crate) keys: Arc<Vec<SigningKey>>,
    pub(crate) registry: MemoryRegistry,
    pub(crate) config: VerifierConfig,
}

impl Net {
    pub(crate) fn new(n: u32) -> Self {
        let keys: Vec<SigningKey> = (0..n).map(key).collect();
        let mut registry = MemoryRegistry::new();
        for k in &keys {
            let mut rec = DeviceRecord::active(KindSet::ALL);
            rec.rated_power_w = Some(10_000);
            registry.insert(id(k), rec).unwrap();
        }
        Net {
            keys: Arc::new(keys),
            registry,
            config: VerifierConfig::new(domain()),
        }
    }

    pub(crate) fn verifier(&self) -> Verifier<MemoryRegistry, MemoryReplayStore> {
        Verifier::new(
            self.config.clone(),
            self.registry.clone(),
            MemoryReplayStore::new(),
        )
        .unwrap()
    }

    /// A signed report frame of device `d`.
    pub(crate) fn frame(&self, d: usize, seq: u32) -> Vec<u8> {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = sign_frame(
            &domain(),
            &self.keys[d],
            7,
            seq,
            NOW,
            b"temp=21.5",
            &mut buf,
        )
        .unwrap();
        buf[..n].to_vec()
    }

    /// A signed energy reading of device `d` with a cumulative counter, stamped `seq` times
    /// 10 s after ten minutes before [`NOW`] (inside the freshness window for seq < 60).
    pub(crate) fn reading(&self, d: usize, seq: u64, cumulative_wh: u64) -> Vec<u8> {
        let k = &self.keys[d];
        let at = Timestamp(NOW.0 - 600_000 + seq.min(60) * 10_000);
        let body = EnvelopeBody::new(
            id(k),
            seq,
            at,
            &EnergyReading {
                direction: EnergyDirection::Production,
                cumulative_wh,
            },
        )
        .unwrap();
        Envelope::sign(&domain(), k, &body).unwrap()
    }

    /// An engine over `store`, its clock fixed at [`NOW`].
    pub(crate) fn engine(&self, store: Box<dyn OracleStore>, config: EngineConfig) -> Engine {
        let net = self.clone();
        Engine::start(
            config,
            Box::new(move || Ok(net.verifier())),
            store,
            Arc::new(|| NOW),
        )
        .unwrap()
    }
}

pub(crate) fn sqlite(path: &Path) -> Box<dyn OracleStore> {
    Box::new(SqliteStore::open(path).unwrap())
}

/// An oracle serving HTTP on a loopback port, on a SQLite file in a temporary directory.
pub(crate) struct TestOracle {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: IngestHandle,
    pub(crate) net: Net,
    pub(crate) _engine: Option<Engine>,
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestOracle {
    pub(crate) fn frame(&self, device: usize, seq: u32) -> Vec<u8> {
        self.net.frame(device, seq)
    }
    pub(crate) fn envelope(&self, device: usize, seq: u64) -> Vec<u8> {
        self.net.reading(device, seq, seq * 10)
    }
}

pub(crate) async fn start_oracle() -> TestOracle {
    start_oracle_with(Limits::default()).await
}

pub(crate) async fn start_oracle_with(limits: Limits) -> TestOracle {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new("test");
    config.limits = limits;
    let store = sqlite(&dir.path().join("oracle.db"));
    let mut oracle = start_oracle_on(Net::new(8), store, config).await;
    oracle._dir = dir;
    oracle
}

/// An oracle of `net` serving HTTP on a loopback port over `store`.
pub(crate) async fn start_oracle_on(
    net: Net,
    store: Box<dyn OracleStore>,
    config: EngineConfig,
) -> TestOracle {
    let engine = {
        let net = net.clone();
        tokio::task::spawn_blocking(move || net.engine(store, config))
            .await
            .unwrap()
    };
    let handle = engine.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = handle.clone();
    tokio::spawn(async move {
        depin_attest::ingest::http::serve(listener, h, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestOracle {
        addr,
        handle,
        net,
        _engine: Some(engine),
        _dir: tempfile::tempdir().unwrap(),
        _shutdown: tx,
    }
}

pub(crate) use switchable::Switchable;

mod switchable {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use depin_attest::store::sqlite::SqliteStore;
    use depin_attest::store::{
        BatchId, BatchRecord, CloseStart, Committed, DeviceEpoch, EpochResult, EpochRow,
        LoggedItem, OracleStore, StoreError, StoreResult,
    };
    use depin_attest::Rejection;
    use depin_core::{DeviceId, Epoch, Timestamp};

    /// A SQLite store that can be switched off, as a database that went away: while `down` is
    /// set, health, commits and batch reads fail `Unavailable`.
    pub(crate) struct Switchable {
        pub(crate) inner: SqliteStore,
        pub(crate) down: Arc<AtomicBool>,
    }

    impl Switchable {
        fn check(&self) -> StoreResult<()> {
            if self.down.load(Ordering::SeqCst) {
                Err(StoreError::Unavailable("switched off".into()))
            } else {
                Ok(())
            }
        }
    }

    impl OracleStore for Switchable {
        fn name(&self) -> &'static str {
            "switchable"
        }
        fn health(&mut self) -> StoreResult<()> {
            self.check()?;
            self.inner.health()
        }
        fn commit_batch(&mut self, batch: &BatchRecord) -> StoreResult<Committed> {
            self.check()?;
            self.inner.commit_batch(batch)
        }
        fn for_each_batch(
            &mut self,
            origin: &str,
            after: BatchId,
            f: &mut dyn FnMut(BatchId, BatchRecord) -> StoreResult<()>,
        ) -> StoreResult<()> {
            self.check()?;
            self.inner.for_each_batch(origin, after, f)
        }
        fn for_each_accepted(
            &mut self,
            epoch: Epoch,
            f: &mut dyn FnMut(LoggedItem) -> StoreResult<()>,
        ) -> StoreResult<()> {
            self.inner.for_each_accepted(epoch, f)
        }
        fn closed_through(&mut self) -> StoreResult<Option<Epoch>> {
            self.inner.closed_through()
        }
        fn begin_close(&mut self, e: Epoch, c: &str, at: Timestamp) -> StoreResult<CloseStart> {
            self.inner.begin_close(e, c, at)
        }
        fn put_result(&mut self, e: Epoch, r: &EpochResult) -> StoreResult<()> {
            self.inner.put_result(e, r)
        }
        fn mark_published(&mut self, e: Epoch, tx: Option<&str>) -> StoreResult<()> {
            self.inner.mark_published(e, tx)
        }
        fn epoch(&mut self, e: Epoch) -> StoreResult<Option<EpochRow>> {
            self.inner.epoch(e)
        }
        fn epochs(&mut self, from: Epoch, limit: usize) -> StoreResult<Vec<EpochRow>> {
            self.inner.epochs(from, limit)
        }
        fn latest_result(&mut self) -> StoreResult<Option<EpochRow>> {
            self.inner.latest_result()
        }
        fn tree(&mut self, e: Epoch) -> StoreResult<Option<Vec<u8>>> {
            self.inner.tree(e)
        }
        fn receipt(&mut self, e: Epoch, d: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
            self.inner.receipt(e, d)
        }
        fn device_epochs(
            &mut self,
            d: &DeviceId,
            from: Epoch,
            limit: usize,
        ) -> StoreResult<Vec<DeviceEpoch>> {
            self.inner.device_epochs(d, from, limit)
        }
        fn rejections(&mut self, e: Epoch) -> StoreResult<Vec<(Rejection, u64)>> {
            self.inner.rejections(e)
        }
        fn meta(&mut self, k: &str) -> StoreResult<Option<Vec<u8>>> {
            self.inner.meta(k)
        }
        fn set_meta(&mut self, k: &str, v: &[u8]) -> StoreResult<()> {
            self.inner.set_meta(k, v)
        }
    }
}
