//! Demo firmware for the QEMU `lm3s6965evb` board (Cortex-M3): signs one depin-rs
//! report frame with depin-device and prints it as hex over semihosting, then exits.
//!
//! Output (one line each):
//!
//! ```text
//! KEYTYPE <tag>
//! PUBKEY <hex of the device public key>
//! FRAME <hex of the signed frame>
//! STACK <peak stack bytes, measured by stack painting>
//! ```
//!
//! The key type is chosen with one cargo feature: `ed25519`, `secp256k1` or `p256`
//! (`baseline` signs nothing and only measures the runtime's own size).
//!
//! Stack measurement: before signing, all free RAM between the end of `.bss`
//! (`__sheap`) and the current stack pointer is painted with a pattern; afterwards the
//! lowest overwritten word gives the peak stack depth (from the top of RAM, so it
//! includes the reset handler and `main`).

#![no_std]
#![no_main]

use core::ptr::{addr_of, read_volatile, write_volatile};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use panic_halt as _;

#[cfg(not(any(
    feature = "ed25519",
    feature = "secp256k1",
    feature = "p256",
    feature = "baseline"
)))]
compile_error!("enable exactly one feature: ed25519, secp256k1, p256 or baseline");

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

const PAINT: u32 = 0xA5A5_A5A5;

extern "C" {
    /// Start of free RAM after .data/.bss (cortex-m-rt's link.x).
    static __sheap: u32;
    /// Top of the stack (cortex-m-rt's link.x).
    static _stack_start: u32;
}

fn ram_free_start() -> usize {
    addr_of!(__sheap) as usize
}

fn stack_top() -> usize {
    addr_of!(_stack_start) as usize
}

/// Paint free RAM below the current stack pointer (minus a margin for this frame).
#[inline(never)]
fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    let end = sp.saturating_sub(64) & !3;
    let mut p = (ram_free_start() + 3) & !3;
    while p < end {
        // SAFETY: [__sheap, sp - 64) is unused RAM: no heap, no other stacks.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Peak stack use in bytes since [`paint_stack`].
#[inline(never)]
fn stack_high_water() -> usize {
    let top = stack_top();
    let mut p = (ram_free_start() + 3) & !3;
    // SAFETY: reading RAM between the end of .bss and the top of the stack.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

fn write(out: &mut hio::HostStream, bytes: &[u8]) {
    let _ = out.write_all(bytes);
}

#[cfg_attr(feature = "baseline", allow(dead_code))]
fn write_hex(out: &mut hio::HostStream, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut line = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let mut n = 0;
        for b in chunk {
            line[n] = HEX[usize::from(b >> 4)];
            line[n + 1] = HEX[usize::from(b & 0x0f)];
            n += 2;
        }
        write(out, &line[..n]);
    }
}

fn write_decimal(out: &mut hio::HostStream, mut v: usize) {
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
    write(out, &digits[i..]);
}

#[cfg(not(feature = "baseline"))]
mod demo {
    use depin_core::frame::MAX_FRAME_LEN;
    use depin_core::{Domain, NetworkId, Timestamp};
    use depin_device::counter::{RamStorage, SequenceCounter};
    use depin_device::signer::Signer;
    use depin_device::Reporter;

    #[cfg(feature = "ed25519")]
    type DeviceSigner = depin_device::signer::Ed25519Signer;
    #[cfg(all(feature = "secp256k1", not(feature = "ed25519")))]
    type DeviceSigner = depin_device::signer::Secp256k1Signer;
    #[cfg(all(
        feature = "p256",
        not(feature = "ed25519"),
        not(feature = "secp256k1")
    ))]
    type DeviceSigner = depin_device::signer::P256Signer;

    /// Sign the demo frame: returns (key type tag, public key, its length, frame, its length).
    #[inline(never)]
    pub fn sign() -> Result<(u8, [u8; 33], usize, [u8; MAX_FRAME_LEN], usize), depin_device::Error>
    {
        let signer = DeviceSigner::from_secret(&super::TEST_SECRET)?;
        let key_type = signer.key_type().tag();
        let id = signer.device_id();
        let mut public = [0u8; 33];
        let pk = id.key_bytes();
        let pk_len = pk.len().min(33);
        public[..pk_len].copy_from_slice(&pk[..pk_len]);

        // A real device keeps the counter in flash; RAM storage stands in for it here.
        let counter = SequenceCounter::new(RamStorage::with_value(super::SEQ_START), 16)?;
        let domain = Domain::new(NetworkId::new(super::NETWORK_ID)?);
        let mut reporter = Reporter::new(signer, counter, domain);
        let mut frame = [0u8; MAX_FRAME_LEN];
        let report = reporter.report(
            super::KIND,
            Timestamp(super::TIMESTAMP_MS),
            super::PAYLOAD,
            &mut frame,
        )?;
        Ok((key_type, public, pk_len, frame, report.len))
    }
}

#[entry]
fn main() -> ! {
    paint_stack();
    let Ok(mut out) = hio::hstdout() else {
        debug::exit(debug::EXIT_FAILURE);
        loop {}
    };

    #[cfg(not(feature = "baseline"))]
    let ok = match demo::sign() {
        Ok((key_type, public, pk_len, frame, len)) => {
            let stack = stack_high_water();
            write(&mut out, b"KEYTYPE ");
            write_decimal(&mut out, usize::from(key_type));
            write(&mut out, b"\nPUBKEY ");
            write_hex(&mut out, &public[..pk_len]);
            write(&mut out, b"\nFRAME ");
            write_hex(&mut out, &frame[..len]);
            write(&mut out, b"\nSTACK ");
            write_decimal(&mut out, stack);
            write(&mut out, b"\n");
            true
        }
        Err(_) => {
            write(&mut out, b"ERROR signing failed\n");
            false
        }
    };
    #[cfg(feature = "baseline")]
    let ok = {
        let stack = stack_high_water();
        write(&mut out, b"BASELINE\nSTACK ");
        write_decimal(&mut out, stack);
        write(&mut out, b"\n");
        true
    };

    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {}
}
