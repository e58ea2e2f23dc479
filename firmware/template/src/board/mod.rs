//! One file per target: start-up (through the runtime crate), the console, the uptime
//! timer and how the run ends. Add yours beside them.

#[cfg(target_arch = "arm")]
mod cortex_m;
#[cfg(target_arch = "arm")]
pub use self::cortex_m::uptime_ms;

#[cfg(target_arch = "riscv32")]
mod riscv;
#[cfg(target_arch = "riscv32")]
pub use self::riscv::uptime_ms;
