//! Demo firmware for QEMU's RISC-V `virt` board (RV32IMAC): signs the same report frame as the
//! Cortex-M firmware (`../cortex-m/src/demo.rs`, shared) and prints it on the board's 16550 UART, then
//! ends QEMU through the board's test device (exit status 0 on success).
//!
//! Output (one line each), as on Cortex-M:
//!
//! ```text
//! KEYTYPE <tag>
//! PUBKEY <hex of the device public key>
//! FRAME <hex of the signed frame>
//! STACK <peak stack bytes, measured by stack painting>
//! ```
//!
//! No runtime crate: the start-up code below sets the stack pointer, clears `.bss` and calls
//! `main` (QEMU's ELF loader has already put `.text`, `.rodata` and `.data` in place).

#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::ptr::{addr_of, read_volatile, write_volatile};

#[cfg(not(any(
    feature = "ed25519",
    feature = "secp256k1",
    feature = "p256",
    feature = "baseline"
)))]
compile_error!("enable exactly one feature: ed25519, secp256k1, p256 or baseline");

/// The signing demo and the output formatting, shared with the Cortex-M firmware.
#[path = "../../cortex-m/src/demo.rs"]
mod demo;

/// The `virt` board's 16550 UART (transmit register at offset 0).
const UART: usize = 0x1000_0000;
/// The `virt` board's test device: 0x5555 ends QEMU with status 0, `(code << 16) | 0x3333`
/// with status `code`.
const TEST_DEVICE: usize = 0x0010_0000;
const PAINT: u32 = 0xA5A5_A5A5;

core::arch::global_asm!(
    ".section .text.start",
    ".global _start",
    "_start:",
    "    la sp, _stack_start",
    "    la t0, __sbss",
    "    la t1, __ebss",
    "1:  bgeu t0, t1, 2f",
    "    sw zero, 0(t0)",
    "    addi t0, t0, 4",
    "    j 1b",
    "2:  call main",
    "3:  j 3b",
);

extern "C" {
    /// End of `.bss`: free RAM starts here (link.x).
    static __sheap: u32;
    /// Top of the stack (link.x).
    static _stack_start: u32;
}

fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: the UART's transmit register; QEMU's 16550 is always ready to send.
        unsafe { write_volatile(UART as *mut u8, b) };
    }
}

fn exit(code: u32) -> ! {
    let value = if code == 0 {
        0x5555
    } else {
        (code << 16) | 0x3333
    };
    // SAFETY: the board's test device: the write ends the emulation.
    unsafe { write_volatile(TEST_DEVICE as *mut u32, value) };
    loop {}
}

fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register only.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    sp
}

/// Paint free RAM below the current stack pointer (minus a margin for this frame).
#[inline(never)]
fn paint_stack() {
    let end = stack_pointer().saturating_sub(64) & !3;
    let mut p = (addr_of!(__sheap) as usize + 3) & !3;
    while p < end {
        // SAFETY: [__sheap, sp - 64) is unused RAM: no heap, no other stacks.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Peak stack use in bytes since [`paint_stack`].
#[inline(never)]
fn stack_high_water() -> usize {
    let top = addr_of!(_stack_start) as usize;
    let mut p = (addr_of!(__sheap) as usize + 3) & !3;
    // SAFETY: reading RAM between the end of .bss and the top of the stack.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

#[no_mangle]
extern "C" fn main() -> ! {
    paint_stack();
    #[cfg(not(feature = "baseline"))]
    let ok = match demo::sign() {
        Ok((key_type, public, pk_len, frame, len)) => {
            let stack = stack_high_water();
            write(b"KEYTYPE ");
            demo::decimal(usize::from(key_type), &mut |b| write(b));
            write(b"\nPUBKEY ");
            demo::hex(&public[..pk_len], &mut |b| write(b));
            write(b"\nFRAME ");
            demo::hex(&frame[..len], &mut |b| write(b));
            write(b"\nSTACK ");
            demo::decimal(stack, &mut |b| write(b));
            write(b"\n");
            true
        }
        Err(e) => {
            // the compact form: a stable code and a static name, no formatting machinery
            write(b"ERROR ");
            demo::decimal(usize::from(e.code()), &mut |b| write(b));
            write(b" ");
            write(e.name().as_bytes());
            write(b"\n");
            false
        }
    };
    #[cfg(feature = "baseline")]
    let ok = {
        let stack = stack_high_water();
        write(b"BASELINE\nSTACK ");
        demo::decimal(stack, &mut |b| write(b));
        write(b"\n");
        true
    };
    exit(if ok { 0 } else { 1 })
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    write(b"ERROR panic\n");
    exit(2)
}
