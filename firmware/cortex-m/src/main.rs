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

/// The demo's constants (the test key, network, frame fields): in `demo.rs`, shared with the
/// RISC-V firmware. The host test checks the key's bytes in that file.
pub use demo::{KIND, NETWORK_ID, PAYLOAD, SEQ_START, TEST_SECRET, TIMESTAMP_MS};

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
    demo::hex(bytes, &mut |b| write(out, b));
}

fn write_decimal(out: &mut hio::HostStream, v: usize) {
    demo::decimal(v, &mut |b| write(out, b));
}

/// The signing demo and the output formatting, shared with the RISC-V firmware
/// (`riscv/src/main.rs`).
mod demo;

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
        Err(e) => {
            // the compact form: a stable code and a static name, no formatting machinery
            write(&mut out, b"ERROR ");
            write_decimal(&mut out, usize::from(e.code()));
            write(&mut out, b" ");
            write(&mut out, e.name().as_bytes());
            write(&mut out, b"\n");
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
