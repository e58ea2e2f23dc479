#![doc = include_str!("../README.md")]
#![no_std]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod challenge;
pub mod counter;
mod error;
pub mod fragment;
mod pattern;
mod report;
pub mod signer;
pub mod time;

pub use error::{Error, Result};
pub use report::{frame_header, frame_len, write_frame, Report, Reporter};

/// The shared frame format (re-exported from depin-core: one definition for device
/// and network).
pub use depin_core::frame;

/// The flash traits [`counter::NorFlashStorage`] is written against (re-exported so a
/// firmware implements the same version).
pub use embedded_storage;

/// The depin-core types a firmware names (the signing domain, the network id, frame time,
/// key types), so that it can depend on depin-device alone for them.
pub use depin_core::{Domain, KeyType, NetworkId, Timestamp};

/// The firmware guide (`docs/guide-firmware.md`), whose snippets run as doc tests so that
/// they keep compiling against this crate.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide-firmware.md")]
pub struct FirmwareGuide;
