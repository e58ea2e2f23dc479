//! Plumbing shared by the depin-rs reference networks (`examples/wireless`,
//! `examples/storage`, `examples/energy`, `examples/mapping`) and the demo (`examples/demo`).
//!
//! Nothing here is network logic: the examples do verification (depin-attest), reward math
//! (depin-rewards) and device signing (depin-core, depin-device) themselves, in the open.
//! This crate holds what all four do identically:
//!
//! * [`Options`]: seed, size, epochs and which chain ([`ChainOptions`]);
//! * [`SimRng`]: a seeded ChaCha20 stream, so every run with the same seed is identical;
//! * [`Chain`]: opens the chosen [`depin_chains::ChainBackend`] (a fresh local ledger file,
//!   EVM contracts deployed from the committed artifacts or given, or a Cosmos chain),
//!   registers devices with proof of key possession, and settles each epoch: cumulative
//!   ledger, claim tree, root published, one cumulative claim per owner, balances checked;
//! * [`Summary`]: what a run did, per epoch, printable as the demo's report.

mod chain;
mod device;
mod error;
pub mod mqtt;
mod options;
mod rng;
pub mod served;
mod summary;

pub use chain::{Chain, Settlement};
pub use device::{sign_envelope, AnySigner};
pub use error::{Error, Result};
pub use options::{
    check_epochs, parse_num, ChainOptions, CosmosOptions, EvmOptions, Options, MAX_EPOCHS,
};
pub use rng::SimRng;
pub use summary::{
    format_amount, DeviceOutcome, EpochSummary, MapData, MapHotspot, MapLink, Summary,
    TOKEN_DECIMALS, TOKEN_SYMBOL,
};

use depin_core::{EpochSchedule, Timestamp};

/// Simulated genesis: 2025-06-01T00:00:00Z. Epoch `k` (one UTC day) starts `k` days later;
/// the networks simulate epochs `1..=epochs`.
pub const GENESIS_MS: u64 = 1_748_736_000_000;

/// One simulated day, milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// The simulated epoch schedule: daily epochs counted from [`GENESIS_MS`].
pub fn schedule() -> Result<EpochSchedule> {
    Ok(EpochSchedule::new(Timestamp(GENESIS_MS), DAY_MS)?)
}

/// Start of simulated epoch `epoch` (milliseconds since the Unix epoch).
pub fn epoch_start(epoch: u64) -> Timestamp {
    Timestamp(GENESIS_MS.saturating_add(epoch.saturating_mul(DAY_MS)))
}

/// The command-line entry point of a reference network: parses [`Options`] from the process
/// arguments, runs `run`, prints the [`Summary`] on stdout. Exit code 2 for bad arguments, 1 when
/// the run fails (the error goes to stderr).
///
/// ```no_run
/// use depin_example_common::{cli_main, Error, Options, Result, Summary};
///
/// // a network's run function (the reference networks export theirs as `run`)
/// fn run(opts: &Options) -> Result<Summary> {
///     Err(Error::Options(format!("{} epochs: nothing to simulate here", opts.epochs)))
/// }
///
/// fn main() -> std::process::ExitCode {
///     cli_main(run)
/// }
/// ```
pub fn cli_main(run: impl FnOnce(&Options) -> Result<Summary>) -> std::process::ExitCode {
    let opts = match Options::from_env_or_exit() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The first 4 bytes of a hash in hex (8 characters), as progress lines show roots and
/// challenge randomness.
pub fn hex_prefix(bytes: &[u8]) -> String {
    hex::encode(bytes.get(..4).unwrap_or(bytes))
}

/// Print a progress line on stderr (the summary goes to stdout).
pub fn progress(opts: &Options, network: &str, line: &str) {
    if opts.progress {
        eprintln!("[{network}] {line}");
    }
}
