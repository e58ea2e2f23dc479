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

impl Options {
    /// Parse the flags every example binary accepts: `--seed N`, `--devices N`,
    /// `--epochs N`, `--out DIR` (local ledger directory, default `out/ledgers`),
    /// `--serve DIR` (a real oracle with its store in `DIR`, where the network supports it),
    /// `--quiet`. Unknown flags are an error.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut opts = Options::local("out/ledgers");
        opts.progress = true;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match flag.as_str() {
                "--seed" => opts.seed = parse_num(&value("--seed")?)?,
                "--devices" => opts.devices = parse_num(&value("--devices")?)?,
                "--epochs" => opts.epochs = parse_num(&value("--epochs")?)?,
                "--out" => {
                    opts.chain = ChainOptions::Local {
                        dir: PathBuf::from(value("--out")?),
                    }
                }
                "--quiet" => opts.progress = false,
                "--serve" => opts.serve = Some(PathBuf::from(value("--serve")?)),
                other => {
                    return Err(format!(
                        "unknown flag {other:?} (flags: --seed N --devices N --epochs N --out DIR --serve DIR --quiet)"
                    ))
                }
            }
        }
        check_epochs(opts.epochs)?;
        Ok(opts)
    }
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
