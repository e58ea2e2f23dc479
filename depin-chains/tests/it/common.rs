use std::path::Path;
use std::sync::Arc;

use depin_chains::local::{Genesis, LocalBackend, LocalLedger};
use depin_chains::{Account, ChainBackend, ClaimFormat};
use depin_core::EvmAddress;

pub(crate) fn evm(b: u8) -> Account {
    Account::Evm(EvmAddress([b; 20]))
}

pub(crate) fn admin() -> Account {
    evm(0xaa)
}

pub(crate) fn oracle() -> Account {
    evm(0x0c)
}

pub(crate) fn genesis(format: ClaimFormat) -> Genesis {
    Genesis {
        network: "conformance-net".into(),
        admin: admin(),
        oracle: oracle(),
        claim_format: format,
    }
}

/// A ledger whose admin is also the oracle (the conformance suite needs one handle with both).
pub(crate) fn admin_oracle_genesis(format: ClaimFormat) -> Genesis {
    Genesis {
        oracle: admin(),
        ..genesis(format)
    }
}

pub(crate) fn open(path: &Path, g: Genesis) -> LocalLedger {
    LocalLedger::open(path, g).unwrap()
}

pub(crate) fn dynb(b: LocalBackend) -> Arc<dyn ChainBackend> {
    Arc::new(b)
}

/// The system clock, unix seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A registration deadline an hour from now: within the ledger's 30-day permit lifetime.
pub(crate) fn soon() -> u64 {
    now() + 3_600
}

/// Give `ledger` a clock the test moves by hand, starting at `start` (unix seconds).
pub(crate) fn manual_clock(ledger: &LocalLedger, start: u64) -> Arc<std::sync::atomic::AtomicU64> {
    let t = Arc::new(std::sync::atomic::AtomicU64::new(start));
    let c = Arc::clone(&t);
    ledger
        .set_clock(move || c.load(std::sync::atomic::Ordering::SeqCst))
        .unwrap();
    t
}

/// Set a clock made by [`manual_clock`].
pub(crate) fn set_time(clock: &std::sync::atomic::AtomicU64, t: u64) {
    clock.store(t, std::sync::atomic::Ordering::SeqCst);
}

/// A further ledger at `path` whose 3-oracle set (one key of each type, threshold 2) is in
/// effect, for the conformance suite's quorum section. Its clock is a manual one moved past
/// the scheduling delay; the returned ledger must outlive the fixture's use.
pub(crate) fn quorum_ledger(
    path: &Path,
    format: ClaimFormat,
) -> (LocalLedger, depin_chains::conformance::QuorumFixture) {
    quorum_ledger_with(path, format, true)
}

/// [`quorum_ledger`], with the oracle set scheduled or (`schedule == false`, for a mutant
/// that pretends to have one) not.
pub(crate) fn quorum_ledger_with(
    path: &Path,
    format: ClaimFormat,
    schedule: bool,
) -> (LocalLedger, depin_chains::conformance::QuorumFixture) {
    use depin_chains::local::ORACLE_SET_DELAY_SECS;
    use depin_chains::quorum::OracleSet;
    use depin_chains::types::DeviceSigner;
    use depin_chains::EpochRoot;
    use depin_core::{Epoch, KeyType, SigningKey};

    let ledger = open(path, genesis(format));
    let start = now();
    let clock = manual_clock(&ledger, start);
    let oracles: Vec<Arc<dyn DeviceSigner>> = (0..3u8)
        .map(|i| {
            let key = SigningKey::from_secret_bytes(KeyType::ALL[usize::from(i)], &[0x51 + i; 32])
                .unwrap();
            Arc::new(key) as Arc<dyn DeviceSigner>
        })
        .collect();
    let set = OracleSet::new(oracles.iter().map(|o| o.device_id()), 2).unwrap();
    if schedule {
        ledger
            .handle(admin())
            .schedule_oracle_set(&set, start + ORACLE_SET_DELAY_SECS)
            .unwrap();
    }
    set_time(&clock, start + ORACLE_SET_DELAY_SECS);
    let relayer = ledger.handle(evm(0x0d));
    let distributor = relayer
        .root_statement(&EpochRoot {
            epoch: Epoch(1),
            root: [1; 32],
            total: 0,
        })
        .unwrap()
        .distributor;
    let fixture = depin_chains::conformance::QuorumFixture {
        relayer: dynb(relayer),
        single_oracle: dynb(ledger.handle(oracle())),
        oracles,
        threshold: 2,
        domain: ledger.domain().unwrap(),
        distributor,
        first_epoch: Epoch(1),
        outsider: Arc::new(SigningKey::from_secret_bytes(KeyType::P256, &[0x5f; 32]).unwrap()),
    };
    (ledger, fixture)
}
