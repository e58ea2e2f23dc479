//! The embedded local ledger (work in progress: the persistent implementation lands next).

use crate::config::LocalConfig;
use crate::error::{Error, Result};
use crate::types::Account;

/// The local ledger (placeholder while the log-backed implementation is written).
#[derive(Debug)]
pub struct LocalLedger {
    _private: (),
}

impl LocalLedger {
    /// Open the ledger a [`LocalConfig`] names.
    pub fn open_config(_config: &LocalConfig) -> Result<Self> {
        Err(Error::Unsupported("local ledger not implemented yet".into()))
    }

    /// A handle acting as `caller`.
    pub fn handle(&self, _caller: Account) -> LocalBackend {
        LocalBackend { _private: () }
    }
}

/// A handle on a [`LocalLedger`] acting as one account.
#[derive(Debug)]
pub struct LocalBackend {
    _private: (),
}

/// Open the ledger `config` names and return a handle acting as `config.caller`.
pub fn connect(config: &LocalConfig) -> Result<std::sync::Arc<dyn crate::ChainBackend>> {
    let _ledger = LocalLedger::open_config(config)?;
    Err(Error::Unsupported("local ledger not implemented yet".into()))
}
