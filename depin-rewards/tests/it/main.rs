//! Integration tests of depin-rewards (one test binary, modules per area).
//!
//! Golden vectors live in `tests/golden/`; set `DEPIN_REWARDS_BLESS=1` to rewrite the files
//! whose expected values are produced by this crate (never the independently generated ones).

// Helpers outside `#[test]` functions fail loudly too (clippy.toml only covers test bodies).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/bench_workload.rs"]
mod bench_workload;
mod claims;
mod custom_evidence;
mod distribution;
mod emission;
mod forged_receipts;
mod golden;
mod ledger;
mod math;
mod owners;
mod oz_interop;
mod policies;
mod pools;
mod receipts;

use std::path::PathBuf;

/// Path of a file under `tests/golden/`.
pub fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name)
}

/// Reads and parses a golden JSON file.
pub fn read_golden(name: &str) -> serde_json::Value {
    let path = golden_path(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Parses a decimal string as u128.
pub fn u(v: &serde_json::Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {v}"))
        .parse()
        .unwrap()
}
