//! Ready-made scoring policies, each linked to the rule it implements.
//!
//! | module | rule | produces |
//! |---|---|---|
//! | [`hip15`] | Helium HIP-15 beacon / witness reward units | base units |
//! | [`hex_density`] | Helium HIP-17 / HIP-104 hex density scaling (H3) | multiplier |
//! | [`speedtest`] | Helium Mobile speed-test tiers (HIP-74) | multiplier |
//! | [`uptime`] | at least 12 of 24 hourly heartbeats | multiplier (0 or 1) |
//! | [`location`] | Helium HIP-119 location trust | multiplier |
//! | [`trust`] | device trust level (self-registered, maker, hardware evidence) | multiplier |
//! | [`median`] | Helium's lazy distributor: `ceil(n/2)` oracle reports, upper median of cumulative totals | amount due |
//!
//! Each policy's result can be recorded as [`crate::score::Evidence`] inside a receipt, so a
//! verifier re-runs the policy from its raw inputs.

pub mod hex_density;
pub mod hip15;
pub mod location;
pub mod median;
pub mod speedtest;
pub mod trust;
pub mod uptime;
