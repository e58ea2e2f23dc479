//! RISC-V (QEMU virt, RV32IMAC): riscv-rt starts us, the 16550 UART is the console, the
//! board's test device ends the run.

use core::ptr::{read_volatile, write_volatile};

use panic_halt as _;

/// The virt board's 16550 UART: transmit register at offset 0.
const UART: usize = 0x1000_0000;
/// The virt board's test device: 0x5555 ends QEMU with status 0, 0x13333 with status 1.
const TEST_DEVICE: usize = 0x0010_0000;
/// The CLINT's mtime register (10 MHz on virt).
const MTIME: usize = 0x0200_bff8;

struct Uart;

impl crate::Console for Uart {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: the UART's transmit register on QEMU virt; a byte write sends it.
            unsafe { write_volatile(UART as *mut u8, b) };
        }
    }
}

/// Milliseconds since boot, from the CLINT's 10 MHz mtime.
pub fn uptime_ms() -> u64 {
    // SAFETY: mtime is a read-only-for-us 64-bit MMIO register on QEMU virt; read the two
    // halves until the high word is stable.
    let ticks = loop {
        let hi = unsafe { read_volatile((MTIME + 4) as *const u32) };
        let lo = unsafe { read_volatile(MTIME as *const u32) };
        if hi == unsafe { read_volatile((MTIME + 4) as *const u32) } {
            break (u64::from(hi) << 32) | u64::from(lo);
        }
    };
    ticks / 10_000
}

#[riscv_rt::entry]
fn main() -> ! {
    let ok = crate::app(&mut Uart);
    // SAFETY: the test device's control register on QEMU virt.
    unsafe { write_volatile(TEST_DEVICE as *mut u32, if ok { 0x5555 } else { 0x1_3333 }) };
    loop {
        core::hint::spin_loop();
    }
}
