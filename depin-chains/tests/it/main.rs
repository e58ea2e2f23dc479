//! depin-chains integration tests: the conformance suite on the local ledger, ledger
//! persistence and repair, typed errors, accounts, configuration and retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod conformance_local;
mod ledger;
mod misc;
mod mutants;
mod replay;
mod security;
