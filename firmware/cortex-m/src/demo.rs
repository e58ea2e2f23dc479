//! The demo both firmwares run (Cortex-M3 in `src/main.rs`, RISC-V in `riscv/src/main.rs`):
//! sign one report frame with depin-device, and format what is printed.
#![cfg_attr(feature = "baseline", allow(dead_code))]

/// TEST-ONLY secret key, public in this repository: never use it for anything real.
/// The same 32 bytes serve as the Ed25519 seed and as the ECDSA scalar (big-endian).
pub const TEST_SECRET: [u8; 32] = *b"depin-rs TEST KEY, never in prod";
/// The network id the demo frame is signed for.
pub const NETWORK_ID: &str = "depin-qemu";
/// Report kind, sequence start, timestamp and payload of the demo frame.
pub const KIND: u8 = 0x01;
/// The counter storage starts as if the device had reserved up to this number before.
pub const SEQ_START: u32 = 1000;
/// Unix milliseconds carried in the frame.
pub const TIMESTAMP_MS: u64 = 1_700_000_000_000;
/// The demo payload.
pub const PAYLOAD: &[u8] = b"temp=21.5C";

/// `bytes` as lower-case hex, written in pieces of at most 64 characters.
#[allow(dead_code)]
pub fn hex(bytes: &[u8], write: &mut dyn FnMut(&[u8])) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut line = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let mut n = 0;
        for b in chunk {
            line[n] = HEX[usize::from(b >> 4)];
            line[n + 1] = HEX[usize::from(b & 0x0f)];
            n += 2;
        }
        write(&line[..n]);
    }
}

/// `v` in decimal.
pub fn decimal(mut v: usize, write: &mut dyn FnMut(&[u8])) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write(&digits[i..]);
}

#[cfg(not(feature = "baseline"))]
pub use signing::sign;

#[cfg(not(feature = "baseline"))]
mod signing {
    use super::{KIND, NETWORK_ID, PAYLOAD, SEQ_START, TEST_SECRET, TIMESTAMP_MS};
    use depin_core::frame::MAX_FRAME_LEN;
    use depin_core::{Domain, NetworkId, Timestamp};
    use depin_device::counter::{RamStorage, SequenceCounter};
    use depin_device::signer::Signer;
    use depin_device::Reporter;

    #[cfg(feature = "ed25519")]
    type DeviceSigner = depin_device::signer::Ed25519Signer;
    #[cfg(all(feature = "secp256k1", not(feature = "ed25519")))]
    type DeviceSigner = depin_device::signer::Secp256k1Signer;
    #[cfg(all(feature = "p256", not(feature = "ed25519"), not(feature = "secp256k1")))]
    type DeviceSigner = depin_device::signer::P256Signer;

    /// Sign the demo frame: returns (key type tag, public key, its length, frame, its length).
    #[inline(never)]
    pub fn sign() -> Result<(u8, [u8; 33], usize, [u8; MAX_FRAME_LEN], usize), depin_device::Error>
    {
        let signer = DeviceSigner::from_secret(&TEST_SECRET)?;
        let key_type = signer.key_type().tag();
        let id = signer.device_id();
        let mut public = [0u8; 33];
        let pk = id.key_bytes();
        let pk_len = pk.len().min(33);
        public[..pk_len].copy_from_slice(&pk[..pk_len]);

        // A real device keeps the counter in flash; RAM storage stands in for it here.
        let counter = SequenceCounter::new(RamStorage::with_value(SEQ_START), 16)?;
        let domain = Domain::new(NetworkId::new(NETWORK_ID)?);
        let mut reporter = Reporter::new(signer, counter, domain);
        let mut frame = [0u8; MAX_FRAME_LEN];
        let report = reporter.report(KIND, Timestamp(TIMESTAMP_MS), PAYLOAD, &mut frame)?;
        Ok((key_type, public, pk_len, frame, report.len))
    }
}
