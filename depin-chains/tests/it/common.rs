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
