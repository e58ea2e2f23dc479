//! depin-attest: attestation formats and the verification pipeline (work in progress).

#[cfg(feature = "p2p")]
pub mod p2p;
