//! Integration tests of depin-attest (one binary; see each module).

mod bandwidth;
mod common;
mod coverage;
mod energy;
mod pipeline;
mod props;
mod replay;
mod storage;
#[cfg(feature = "parallel")]
mod parallel;
