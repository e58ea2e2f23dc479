//! Cortex-M (QEMU lm3s6965evb): cortex-m-rt starts us, semihosting is the console.

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};
use panic_halt as _;

struct Semihosting(hio::HostStream);

impl crate::Console for Semihosting {
    fn write(&mut self, bytes: &[u8]) {
        let _ = self.0.write_all(bytes);
    }
}

/// Milliseconds since boot. This demo has no timer running and reports 0; on your board,
/// read SysTick, an RTC peripheral in counter mode or the DWT cycle counter.
pub fn uptime_ms() -> u64 {
    0
}

#[entry]
fn main() -> ! {
    let ok = match hio::hstdout() {
        Ok(out) => crate::app(&mut Semihosting(out)),
        Err(()) => false,
    };
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}
