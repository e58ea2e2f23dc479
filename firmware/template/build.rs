//! Put the memory map of the target's board where the runtime's `link.x` looks for
//! `memory.x`.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let memory: &[u8] = match arch.as_str() {
        "arm" => include_bytes!("memory-cortex-m.x"),
        "riscv32" => include_bytes!("memory-riscv.x"),
        // host builds (cargo check without --target) need no linker script
        _ => b"",
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-cortex-m.x");
    println!("cargo:rerun-if-changed=memory-riscv.x");
    println!("cargo:rerun-if-changed=build.rs");
}
