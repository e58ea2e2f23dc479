//! depin-chains integration tests: the conformance suite on the local ledger, ledger
//! persistence and repair, the contracts' rules on the local ledger, typed errors, accounts,
//! configuration and retry, and the chain-following verifier registry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod conformance_local;
#[cfg(feature = "attest")]
mod follow;
mod ledger;
mod local_rules;
mod makers;
mod misc;
mod mutants;
#[cfg(feature = "oracle")]
mod oracle;
mod quorum;
mod repair;
mod replay;
mod security;
#[cfg(feature = "service")]
mod service;
