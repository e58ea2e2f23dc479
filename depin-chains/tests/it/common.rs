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
