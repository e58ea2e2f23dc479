//! Integration tests of depin-attest (one binary; see each module).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod bandwidth;
mod common;
mod coverage;
mod energy;
#[cfg(feature = "p2p")]
mod gossip;
mod open;
#[cfg(feature = "parallel")]
mod parallel;
mod pipeline;
mod props;
mod replay;
mod scale;
mod storage;
mod sybil;
