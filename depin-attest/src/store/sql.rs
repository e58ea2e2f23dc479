//! Value encodings shared by the SQL stores (SQLite and PostgreSQL): the same text and
//! integer forms in both, and the same `Corrupt` messages for what does not decode.

use std::collections::BTreeMap;

use depin_core::{DeviceId, Epoch};

use super::{EpochStatus, StoreError, StoreResult};
use crate::pipeline::Outcome;
use crate::reason::Rejection;

pub(crate) fn corrupt(msg: String) -> StoreError {
    StoreError::Corrupt(msg)
}

/// An epoch to write: refused beyond `i64::MAX` (see the module documentation).
pub(crate) fn epoch_in(e: Epoch) -> StoreResult<i64> {
    i64::try_from(e.0).map_err(|_| {
        StoreError::Conflict(format!(
            "{e} is beyond the largest epoch the store holds (2^63 - 1)"
        ))
    })
}

/// An epoch to look up (`None`: beyond what the store holds, so nothing is stored for it).
pub(crate) fn epoch_key(e: Epoch) -> Option<i64> {
    i64::try_from(e.0).ok()
}

/// A stored epoch.
pub(crate) fn epoch_out(v: i64) -> StoreResult<Epoch> {
    u64::try_from(v)
        .map(Epoch)
        .map_err(|_| corrupt(format!("negative epoch {v}")))
}

pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(crate) fn outcome_json(outcome: &Outcome) -> StoreResult<String> {
    serde_json::to_string(outcome).map_err(|e| corrupt(format!("cannot encode outcome: {e}")))
}

pub(crate) fn parse_status(s: &str) -> StoreResult<EpochStatus> {
    EpochStatus::parse(s).ok_or_else(|| corrupt(format!("epoch status {s:?}")))
}

pub(crate) fn parse_reason(s: &str) -> StoreResult<Rejection> {
    s.parse::<Rejection>()
        .map_err(|e| corrupt(format!("rejection reason: {e}")))
}

pub(crate) fn parse_device(s: &str) -> StoreResult<DeviceId> {
    s.parse::<DeviceId>()
        .map_err(|e| corrupt(format!("device {s:?}: {e}")))
}

pub(crate) fn parse_u128(what: &str, s: &str) -> StoreResult<u128> {
    s.parse::<u128>()
        .map_err(|e| corrupt(format!("{what} {s:?}: {e}")))
}

pub(crate) fn digest32(what: &str, bytes: &[u8]) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| corrupt(format!("{what} of {} bytes, not 32", bytes.len())))
}

pub(crate) fn add_count(map: &mut BTreeMap<Rejection, u64>, reason: Rejection, count: i64) {
    let n = map.entry(reason).or_insert(0);
    *n = n.saturating_add(count as u64);
}
