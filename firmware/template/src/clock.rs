//! Unix time on a device without a real-time clock.
//!
//! The network accepts a frame only if its timestamp is inside its freshness window
//! (depin-attest's defaults: at most 15 minutes old, at most 60 seconds ahead). A device
//! with no battery-backed clock asks the network for the time with a nonce that never
//! repeats and accepts only an answer signed by the network's time key
//! (`depin_device::time`):
//!
//! ```ignore
//! let nonce = depin_device::time::request_nonce(&signer.key_hint(), counter.next_seq()?);
//! radio.send(&nonce); // and note the uptime
//! let grant = radio.receive(); // 90 bytes from the network
//! let clock = Clock::from_grant(&grant, &domain, &NETWORK_TIME_KEY, &nonce, board::uptime_ms())?;
//! ```
//!
//! Never take an unauthenticated time from the radio: a clock set ahead makes the device
//! sign readings dated in the future, to be replayed later inside the window. Sync again
//! once a day (a 20 ppm crystal drifts 1.7 s a day).

pub use depin_device::time::Clock;
use depin_device::Timestamp;

/// Stands in for the time a verified grant carried: a fixed 2026-12-01T00:00:00Z, so the
/// QEMU run prints the same frames every time.
pub const SYNCED_UNIX_MS: Timestamp = Timestamp(1_796_083_200_000);
