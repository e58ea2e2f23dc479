//! Run options shared by the four reference networks (wireless, storage, energy, mapping).

use std::path::PathBuf;

use depin_chains::SecretKeyBytes;
use depin_core::{EvmAddress, KeyType};

/// Which chain the rewards are settled on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ChainOptions {
    /// The embedded local ledger: one file per network in `dir` (replaced at each run, but
    /// never while another process has it open).
    Local {
        /// Directory of the ledger files.
        dir: PathBuf,
    },
    /// An EVM node (e.g. anvil) with the depin-rs contracts.
    Evm(EvmOptions),
    /// A Cosmos SDK chain with the CosmWasm registry and cw20-merkle-airdrop distributor.
    Cosmos(CosmosOptions),
}

/// EVM settings.
#[derive(Debug, Clone)]
pub struct EvmOptions {
    /// JSON-RPC URL, e.g. `http://127.0.0.1:8545`.
    pub rpc_url: String,
    /// Chain id the node must report (anvil: 31337).
    pub chain_id: u64,
    /// Key of the account that deploys (or administers), publishes roots and relays claims.
    pub private_key: SecretKeyBytes,
    /// Use these contracts instead of deploying fresh ones: `(registry, distributor)`. The
    /// key must hold the distributor's oracle role.
    pub contracts: Option<(EvmAddress, EvmAddress)>,
    /// The reward token, to fund the distributor when `contracts` are given (the key must
    /// be allowed to mint); `None` assumes the distributor is already funded.
    pub token: Option<EvmAddress>,
}

/// Cosmos settings (see `depin_chains::CosmosConfig`).
#[derive(Debug, Clone)]
pub struct CosmosOptions {
    /// CometBFT RPC URL, e.g. `http://127.0.0.1:26657`.
    pub rpc_url: String,
    /// Chain id.
    pub chain_id: String,
    /// Bech32 account prefix.
    pub account_prefix: String,
    /// Registry contract address.
    pub registry_contract: String,
    /// Distributor (cw20-merkle-airdrop) contract address; fund it before the run.
    pub distributor_contract: String,
    /// Key of the oracle account.
    pub private_key: SecretKeyBytes,
    /// Fee denomination.
    pub fee_denom: String,
    /// Gas price, exact decimal string.
    pub gas_price: String,
}

/// The largest number of epochs a run accepts ([`Options::from_args`] and the demo refuse
/// more): ten years of simulated days. It keeps every epoch computation (`epochs + 1`, epoch
/// start times) far from overflow and a run finite.
pub const MAX_EPOCHS: u64 = 3_650;

/// Options of one network run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of every random choice (placement, keys, weather, cheaters).
    pub seed: u64,
    /// Network size: honest devices (each network adds its cheaters on top). `0` means the
    /// network's default.
    pub devices: usize,
    /// Epochs (simulated days) to run, `1..=MAX_EPOCHS`.
    pub epochs: u64,
    /// Where rewards are settled.
    pub chain: ChainOptions,
    /// Print a progress line per epoch on stderr.
    pub progress: bool,
    /// Force one key type for every device (the EVM registry verifies secp256k1 only);
    /// `None` keeps each network's choice.
    pub key_type: Option<KeyType>,
    /// Serve the network by a real oracle (HTTP ingest, SQLite store in this directory,
    /// epoch closes and claims API: [`crate::served`]) instead of verifying in process.
    /// Networks that cannot be served yet ignore it and say so in their notes.
    pub serve: Option<PathBuf>,
}

impl Options {
    /// Default size and epochs, local ledger files in `dir`, seed 7.
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        Options {
            seed: 7,
            devices: 0,
            epochs: 4,
            chain: ChainOptions::Local { dir: dir.into() },
            progress: false,
            key_type: None,
            serve: None,
        }
    }

    /// A small, fast run (tests): `devices` honest devices, 2 epochs.
    pub fn short(dir: impl Into<PathBuf>, devices: usize) -> Self {
        Options {
            devices,
            epochs: 2,
            ..Options::local(dir)
        }
    }

    /// `self.devices`, or `default` when it is 0.
    pub fn devices_or(&self, default: usize) -> usize {
        if self.devices == 0 {
            default
        } else {
            self.devices
        }
    }
}

/// The flags every example binary accepts (clap).
#[derive(Debug, clap::Parser)]
#[command(about = "A depin-rs reference network, run end to end")]
struct NetworkCli {
    /// Seed of every random choice.
    #[arg(long, value_name = "N", default_value_t = 7)]
    seed: u64,
    /// Honest devices (0: the network's default).
    #[arg(long, value_name = "N", default_value_t = 0)]
    devices: usize,
    /// Epochs (simulated days), 1..=3650.
    #[arg(long, value_name = "N", default_value_t = 4)]
    epochs: u64,
    /// The local ledger directory.
    #[arg(long, value_name = "DIR", default_value = "out/ledgers")]
    out: PathBuf,
    /// Serve the network by a real oracle with its store in DIR (where the network supports
    /// it).
    #[arg(long, value_name = "DIR")]
    serve: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

impl Options {
    /// Parse the flags every example binary accepts: `--seed N`, `--devices N`,
    /// `--epochs N`, `--out DIR` (local ledger directory, default `out/ledgers`),
    /// `--serve DIR` (a real oracle with its store in `DIR`, where the network supports it),
    /// `--quiet`. Unknown flags are an error (clap's message, with the usage); so is
    /// `--help`, whose error text is the help.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let bin = std::iter::once(String::from("depin-example"));
        Self::try_from_args(bin.chain(args)).map_err(|e| match e {
            ArgsError::Clap(e) => e.render().to_string(),
            ArgsError::Invalid(m) => m,
        })
    }

    /// `args` with the binary's name first.
    fn try_from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, ArgsError> {
        let cli = <NetworkCli as clap::Parser>::try_parse_from(args).map_err(ArgsError::Clap)?;
        check_epochs(cli.epochs).map_err(ArgsError::Invalid)?;
        Ok(Options {
            seed: cli.seed,
            devices: cli.devices,
            epochs: cli.epochs,
            chain: ChainOptions::Local { dir: cli.out },
            progress: !cli.quiet,
            key_type: None,
            serve: cli.serve,
        })
    }

    /// [`Options::from_args`] for a binary's `main`: `--help` is printed with exit status
    /// 0, an argument error with the usage and status 2.
    pub(crate) fn from_env_or_exit() -> Result<Self, String> {
        match Self::try_from_args(std::env::args()) {
            Ok(o) => Ok(o),
            Err(ArgsError::Clap(e)) => e.exit(),
            Err(ArgsError::Invalid(m)) => Err(m),
        }
    }
}

/// Why the flags did not parse.
enum ArgsError {
    /// clap's error (unknown flag, bad number, `--help`).
    Clap(clap::Error),
    /// A value clap accepted but the run refuses.
    Invalid(String),
}

/// Check an `--epochs` value: `1..=MAX_EPOCHS`, with a message saying which bound it broke.
pub fn check_epochs(epochs: u64) -> Result<(), String> {
    if epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    if epochs > MAX_EPOCHS {
        return Err(format!(
            "--epochs {epochs} is above the maximum of {MAX_EPOCHS} (ten years of simulated days)"
        ));
    }
    Ok(())
}

/// Parse a decimal number flag value.
pub fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}
