//! `follow::ChainRegistry` on the local ledger: registrations and revocations reach the
//! verifier's registry after a sync, untracked devices are auto-followed or unknown, stale
//! entries and failing backends answer Unavailable, and the auto-follow queue is bounded.

use depin_chains::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depin_attest::registry::{
    DeviceRecord as AttestRecord, DeviceStatus, KindSet, Lookup, Registry,
};
use depin_chains::follow::{ChainRegistry, Untracked};
use depin_chains::local::{LocalBackend, LocalLedger};
use depin_chains::{
    async_trait, Account, BackendKind, ClaimFormat, DeviceRegistration, Error, Receipt,
    RegisteredDevice, RegistrationChallenge, RegistrationProof, Result, TxHandle,
};
use depin_core::{DeviceId, KeyType, SigningKey};

use crate::common::*;

const STALENESS: Duration = Duration::from_secs(60);

/// A clock the test moves by hand.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap();
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// The local ledger behind a switch: `down` fails every device lookup, `broken` fails the
/// lookups of some devices (retryable transport errors, as an unreachable RPC node gives).
struct Flaky {
    inner: LocalBackend,
    down: AtomicBool,
    broken: Mutex<HashSet<DeviceId>>,
}

/// `Flaky` offers the registry role only (no distributor): the chain-following registry
/// needs nothing else.
impl Flaky {
    fn new(inner: LocalBackend) -> Self {
        Flaky {
            inner,
            down: AtomicBool::new(false),
            broken: Mutex::new(HashSet::new()),
        }
    }
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
        let fail = self.down.load(Ordering::SeqCst) || self.broken.lock().unwrap().contains(d);
        if fail {
            return Err(Error::transient("rpc node unreachable"));
        }
        self.inner.device(d).await
    }
}

fn ledger() -> (tempfile::TempDir, LocalLedger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(
        &dir.path().join("ledger.log"),
        genesis(ClaimFormat::OpenZeppelin),
    );
    (dir, ledger)
}

fn key(b: u8) -> SigningKey {
    SigningKey::from_secret_bytes(KeyType::Ed25519, &[b; 32]).unwrap()
}

fn id(k: &SigningKey) -> DeviceId {
    DeviceId::from(k.public_key())
}

async fn register(ledger: &LocalLedger, k: &SigningKey) -> DeviceId {
    let reg = DeviceRegistration::new(id(k), evm(1), b"meta".to_vec(), soon());
    ledger
        .handle(evm(1))
        .register_with_signer(&reg, k)
        .await
        .unwrap();
    reg.device
}

async fn revoke(ledger: &LocalLedger, device: &DeviceId) {
    ledger.handle(admin()).revoke_device(device).await.unwrap();
}

fn registry(backend: Arc<dyn RegistryBackend>, clock: &ManualClock) -> ChainRegistry {
    let c = clock.clone();
    ChainRegistry::builder(backend, KindSet::ALL)
        .max_staleness(STALENESS)
        .clock(move || c.now())
        .build()
        .unwrap()
}

fn status(registry: &ChainRegistry, device: &DeviceId) -> Option<DeviceStatus> {
    registry.device(device).found().map(|r| r.status)
}

#[tokio::test]
async fn follows_registrations_and_revocations() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let mut ids = Vec::new();
    for b in 1..=3 {
        ids.push(register(&ledger, &key(b)).await);
    }
    let reg = registry(dynb(ledger.handle(admin())), &clock);
    assert_eq!(reg.follow_many(ids.iter().copied()).unwrap(), 3);
    assert!(!reg.follow(ids[0]).unwrap(), "already followed");
    assert_eq!(reg.tracked().unwrap(), 3);
    // followed but not read yet
    assert_eq!(reg.device(&ids[0]), Lookup::Unavailable);
    assert_eq!(reg.resolve_hint(&ids[0].key_hint()), Lookup::Unavailable);
    assert_eq!(reg.last_synced().unwrap(), None);

    let report = reg.sync().await.unwrap();
    assert_eq!(
        (
            report.read,
            report.active,
            report.revoked,
            report.absent,
            report.failed
        ),
        (3, 3, 0, 0, 0)
    );
    assert_eq!(reg.last_synced().unwrap(), Some(clock.now()));
    for d in &ids {
        let record = reg.device(d).found().unwrap();
        assert_eq!(record.status, DeviceStatus::Active);
        assert_eq!(record.allowed, KindSet::ALL);
        assert_eq!(reg.resolve_hint(&d.key_hint()), Lookup::Found(*d));
    }

    revoke(&ledger, &ids[1]).await;
    // the snapshot is as of the last sync
    assert_eq!(status(&reg, &ids[1]), Some(DeviceStatus::Active));
    clock.advance(Duration::from_secs(5));
    let report = reg.sync().await.unwrap();
    assert_eq!((report.active, report.revoked), (2, 1));
    assert_eq!(status(&reg, &ids[1]), Some(DeviceStatus::Revoked));
    assert_eq!(status(&reg, &ids[0]), Some(DeviceStatus::Active));
    assert_eq!(status(&reg, &ids[2]), Some(DeviceStatus::Active));
    // the hint still names the revoked device; its record says it is revoked
    assert_eq!(reg.resolve_hint(&ids[1].key_hint()), Lookup::Found(ids[1]));
}

#[tokio::test]
async fn followed_device_not_on_chain_is_unknown_until_registered() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let reg = registry(dynb(ledger.handle(admin())), &clock);
    let k = key(4);
    assert!(reg.follow(id(&k)).unwrap());
    let report = reg.sync().await.unwrap();
    assert_eq!((report.read, report.absent), (1, 1));
    assert_eq!(reg.device(&id(&k)), Lookup::Unknown);
    assert_eq!(reg.resolve_hint(&id(&k).key_hint()), Lookup::Unknown);

    register(&ledger, &k).await;
    clock.advance(Duration::from_secs(1));
    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &id(&k)), Some(DeviceStatus::Active));
}

#[tokio::test]
async fn auto_follow_picks_up_new_devices() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let reg = registry(dynb(ledger.handle(admin())), &clock);
    assert_eq!(reg.untracked(), Untracked::AutoFollow);

    // registered after the registry started, never followed by hand
    let late = register(&ledger, &key(5)).await;
    assert_eq!(reg.device(&late), Lookup::Unavailable);
    assert_eq!(reg.queued().unwrap(), 1);
    assert!(!reg.is_tracked(&late).unwrap());
    let report = reg.sync().await.unwrap();
    assert_eq!((report.admitted, report.active), (1, 1));
    assert_eq!(reg.queued().unwrap(), 0);
    assert!(reg.is_tracked(&late).unwrap());
    assert_eq!(status(&reg, &late), Some(DeviceStatus::Active));
    assert_eq!(reg.resolve_hint(&late.key_hint()), Lookup::Found(late));

    // an id nobody registered: Unavailable, then Unknown once the chain said so; registered
    // later, it is found by the next sync
    let k = key(6);
    assert_eq!(reg.device(&id(&k)), Lookup::Unavailable);
    clock.advance(Duration::from_secs(1));
    let report = reg.sync().await.unwrap();
    assert_eq!((report.admitted, report.absent), (1, 1));
    assert_eq!(reg.device(&id(&k)), Lookup::Unknown);
    register(&ledger, &k).await;
    clock.advance(Duration::from_secs(1));
    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &id(&k)), Some(DeviceStatus::Active));

    // a hint of an untracked device cannot be queued
    let other = register(&ledger, &key(7)).await;
    assert_eq!(reg.resolve_hint(&other.key_hint()), Lookup::Unknown);
    assert_eq!(reg.queued().unwrap(), 0);
}

#[tokio::test]
async fn closed_registry_knows_only_followed_devices() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let followed = register(&ledger, &key(1)).await;
    let other = register(&ledger, &key(2)).await;
    let c = clock.clone();
    let reg = ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::ALL)
        .closed()
        .max_staleness(STALENESS)
        .clock(move || c.now())
        .build()
        .unwrap();
    assert_eq!(reg.untracked(), Untracked::Closed);
    reg.follow(followed).unwrap();
    assert_eq!(reg.device(&other), Lookup::Unknown);
    assert_eq!(reg.queued().unwrap(), 0);
    let report = reg.sync().await.unwrap();
    assert_eq!(report.read, 1);
    assert_eq!(status(&reg, &followed), Some(DeviceStatus::Active));
    assert_eq!(reg.device(&other), Lookup::Unknown);
    assert_eq!(reg.resolve_hint(&other.key_hint()), Lookup::Unknown);

    assert!(reg.unfollow(&followed).unwrap());
    assert!(!reg.unfollow(&followed).unwrap());
    assert_eq!(reg.device(&followed), Lookup::Unknown);
    assert_eq!(reg.resolve_hint(&followed.key_hint()), Lookup::Unknown);
}

#[tokio::test]
async fn stale_entries_are_unavailable() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let d = register(&ledger, &key(1)).await;
    let absent = id(&key(2));
    let reg = registry(dynb(ledger.handle(admin())), &clock);
    reg.follow_many([d, absent]).unwrap();
    reg.sync().await.unwrap();
    let synced = clock.now();
    assert_eq!(status(&reg, &d), Some(DeviceStatus::Active));
    assert_eq!(reg.device(&absent), Lookup::Unknown);

    // exactly max_staleness old: still answered
    clock.advance(STALENESS);
    assert_eq!(status(&reg, &d), Some(DeviceStatus::Active));
    // older, with no sync since: fail closed, for ids and hints alike
    clock.advance(Duration::from_millis(1));
    assert_eq!(reg.device(&d), Lookup::Unavailable);
    assert_eq!(reg.device(&absent), Lookup::Unavailable);
    assert_eq!(reg.resolve_hint(&d.key_hint()), Lookup::Unavailable);
    // the `_at` variants answer as of the instant given
    assert!(reg.device_at(&d, synced).found().is_some());
    assert_eq!(reg.resolve_hint_at(&d.key_hint(), synced), Lookup::Found(d));

    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &d), Some(DeviceStatus::Active));
    assert_eq!(reg.device(&absent), Lookup::Unknown);
}

#[tokio::test]
async fn failing_backend_keeps_entries_until_they_go_stale() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let a = register(&ledger, &key(1)).await;
    let b = register(&ledger, &key(2)).await;
    let flaky = Arc::new(Flaky::new(ledger.handle(admin())));
    let backend: Arc<dyn RegistryBackend> = flaky.clone();
    let reg = registry(backend, &clock);
    reg.follow_many([a, b]).unwrap();
    reg.sync().await.unwrap();
    let first_sync = clock.now();

    // the chain is unreachable: the sync fails as a whole, entries keep their state
    flaky.down.store(true, Ordering::SeqCst);
    revoke(&ledger, &a).await;
    clock.advance(Duration::from_secs(30));
    let err = reg.sync().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(reg.last_synced().unwrap(), Some(first_sync));
    assert_eq!(status(&reg, &a), Some(DeviceStatus::Active));
    assert_eq!(status(&reg, &b), Some(DeviceStatus::Active));
    // ... but their confirmation was not refreshed: past max_staleness since the last good
    // read they are unavailable, so the missed revocation is never acted on for longer
    clock.advance(Duration::from_secs(31));
    assert_eq!(reg.device(&a), Lookup::Unavailable);
    assert_eq!(reg.device(&b), Lookup::Unavailable);

    // back up: the revocation arrives
    flaky.down.store(false, Ordering::SeqCst);
    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &a), Some(DeviceStatus::Revoked));
    assert_eq!(status(&reg, &b), Some(DeviceStatus::Active));

    // one device's reads fail: only that one ages
    flaky.broken.lock().unwrap().insert(a);
    clock.advance(Duration::from_secs(40));
    let report = reg.sync().await.unwrap();
    assert_eq!((report.read, report.failed, report.active), (2, 1, 1));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].0, a);
    clock.advance(Duration::from_secs(30));
    assert_eq!(reg.device(&a), Lookup::Unavailable);
    assert_eq!(status(&reg, &b), Some(DeviceStatus::Active));
}

#[tokio::test]
async fn auto_follow_queue_is_bounded() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let c = clock.clone();
    let reg = ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::ALL)
        .max_staleness(STALENESS)
        .max_queued(2)
        .clock(move || c.now())
        .build()
        .unwrap();
    let random: Vec<DeviceId> = (10..15).map(|b| id(&key(b))).collect();
    for d in &random {
        // beyond the bound: still Unavailable, just not queued
        assert_eq!(reg.device(d), Lookup::Unavailable);
    }
    assert_eq!(reg.queued().unwrap(), 2);
    let report = reg.sync().await.unwrap();
    assert_eq!((report.admitted, report.absent, report.dropped), (2, 2, 0));
    assert_eq!(reg.tracked().unwrap(), 2);

    // the two admitted are known to be absent; the others queue again, but the snapshot
    // already keeps two unconfirmed auto-followed ids, so the next sync drops them
    let mut unknown = 0;
    for d in &random {
        match reg.device(d) {
            Lookup::Unknown => unknown += 1,
            Lookup::Unavailable => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(unknown, 2);
    assert_eq!(reg.queued().unwrap(), 2);
    clock.advance(Duration::from_secs(1));
    let report = reg.sync().await.unwrap();
    assert_eq!((report.admitted, report.dropped, report.read), (0, 2, 2));
    assert_eq!(reg.tracked().unwrap(), 2);

    // unconfirmed auto-followed ids expire after max_staleness, making room
    clock.advance(STALENESS + Duration::from_secs(1));
    for d in &random[2..4] {
        assert_eq!(reg.device(d), Lookup::Unavailable);
    }
    let report = reg.sync().await.unwrap();
    assert_eq!(report.expired, 2);
    assert!(report.admitted <= 2);
    assert!(reg.tracked().unwrap() <= 2);

    // a followed device is never subject to the bound
    let real = register(&ledger, &key(20)).await;
    assert!(reg.follow(real).unwrap());
    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &real), Some(DeviceStatus::Active));
}

#[tokio::test]
async fn custom_mapping_cannot_revive_a_revoked_device() {
    let (_dir, ledger) = ledger();
    let clock = ManualClock::new();
    let d = register(&ledger, &key(1)).await;
    let c = clock.clone();
    let reg = ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::NONE)
        .map_with(|_record: &RegisteredDevice| {
            let mut r = AttestRecord::active(KindSet::ALL);
            r.rated_power_w = Some(7_000);
            r
        })
        .max_staleness(STALENESS)
        .clock(move || c.now())
        .build()
        .unwrap();
    reg.follow(d).unwrap();
    reg.sync().await.unwrap();
    let record = reg.device(&d).found().unwrap();
    assert_eq!(record.status, DeviceStatus::Active);
    assert_eq!(record.rated_power_w, Some(7_000));
    assert_eq!(record.allowed, KindSet::ALL);

    revoke(&ledger, &d).await;
    reg.sync().await.unwrap();
    assert_eq!(status(&reg, &d), Some(DeviceStatus::Revoked));
}

#[tokio::test]
async fn default_mapping_of_a_revoked_device() {
    let (_dir, ledger) = ledger();
    let d = register(&ledger, &key(1)).await;
    revoke(&ledger, &d).await;
    let record = ledger.handle(admin()).device(&d).await.unwrap();
    let mapped = depin_chains::follow::default_record(&record, KindSet::ALL);
    assert_eq!(mapped.status, DeviceStatus::Revoked);
    assert_eq!(mapped.allowed, KindSet::NONE);
}

#[tokio::test]
async fn builder_and_loop_refuse_bad_settings() {
    let (_dir, ledger) = ledger();
    let zero = ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::ALL)
        .max_staleness(Duration::ZERO)
        .build();
    assert!(matches!(zero, Err(Error::Config(_))));
    let reg = Arc::new(
        ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::ALL)
            .max_staleness(STALENESS)
            .build()
            .unwrap(),
    );
    assert!(matches!(
        Arc::clone(&reg).spawn_sync_loop(STALENESS),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Arc::clone(&reg).spawn_sync_loop(Duration::ZERO),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn sync_loop_follows_the_chain_and_stops_with_the_registry() {
    let (_dir, ledger) = ledger();
    let d = register(&ledger, &key(1)).await;
    // the system clock: this test runs the real loop
    let reg = Arc::new(
        ChainRegistry::builder(dynb(ledger.handle(admin())), KindSet::ALL)
            .max_staleness(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    reg.follow(d).unwrap();
    let handle = Arc::clone(&reg)
        .spawn_sync_loop(Duration::from_millis(10))
        .unwrap();

    let wait_for = |want: DeviceStatus| {
        let reg = Arc::clone(&reg);
        async move {
            for _ in 0..500 {
                if status(&reg, &d) == Some(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("device never became {want:?}");
        }
    };
    wait_for(DeviceStatus::Active).await;
    revoke(&ledger, &d).await;
    wait_for(DeviceStatus::Revoked).await;

    drop(reg);
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the loop ends once the registry is dropped")
        .unwrap();
}
