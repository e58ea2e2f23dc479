//! The depin-rs main demo: the wireless, storage, energy and mapping reference networks,
//! settled on one chain backend, with a summary per network and epoch and two SVG pictures.
//! (The mapping network draws no map of its own: it appears in the reward-distribution
//! picture like the others.)
//!
//! ```text
//! depin-demo [--backend local|evm|cosmos] [--out DIR] [--seed N] [--epochs N] [--short]
//!            [--networks wireless,storage,energy,mapping] [--quiet] [--in-process]
//! ```
//!
//! See the README for the EVM and Cosmos flags.
//!
//! Every failure is a non-zero exit with a message on stderr naming what failed (and the path,
//! for files): 2 for bad arguments, 1 for everything else. A run holds an exclusive lock on
//! `DIR/depin-demo.lock` for its whole duration, so a second run on the same `--out` is
//! refused instead of replacing the first run's ledgers under it.

mod svg;

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use depin_chains::SecretKeyBytes;
use depin_core::{EvmAddress, KeyType};
use depin_example_common::{
    check_epochs, format_amount, parse_num, ChainOptions, CosmosOptions, EvmOptions, Options,
    Summary, MAX_EPOCHS,
};

/// The reference networks, in the order a default run runs them.
const NETWORKS: [&str; 4] = ["wireless", "storage", "energy", "mapping"];

/// The lock file, inside the output directory, that one run at a time holds.
const LOCK_FILE: &str = "depin-demo.lock";

// The --epochs help spells out the maximum; this keeps the two together.
const _: () = assert!(MAX_EPOCHS == 3_650, "update the --epochs help");

/// After the options in `--help`: the chain backends' flags.
const BACKEND_HELP: &str = "\
evm (build with --features evm to deploy; anvil: chain id 31337):
  --rpc-url URL --private-key HEX [--chain-id N]
  [--registry ADDR --distributor ADDR [--token ADDR]]   use deployed contracts (one network)
cosmos (build with --features cosmos; needs a node with the contracts):
  --rpc-url URL --private-key HEX --chain-id ID --prefix HRP
  --registry-contract ADDR --distributor-contract ADDR [--fee-denom D] [--gas-price G]";

/// The command line (clap); [`Args`] is what a run uses.
#[derive(Debug, clap::Parser)]
#[command(
    name = "depin-demo",
    about = "The wireless, storage, energy and mapping reference networks of depin-rs",
    after_help = BACKEND_HELP
)]
struct Cli {
    /// Where rewards are settled.
    #[arg(long, default_value = "local", value_parser = ["local", "evm", "cosmos"])]
    backend: String,
    /// Output directory: ledgers/, the oracle's store, SVG pictures.
    #[arg(long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
    /// Seed of every random choice.
    #[arg(long, value_name = "N", default_value_t = 7)]
    seed: u64,
    /// Epochs (simulated days) per network, 1..=3650 [default: 4, or 2 with --short].
    #[arg(long, value_name = "N")]
    epochs: Option<u64>,
    /// A small, fast run (few devices, 2 epochs).
    #[arg(long)]
    short: bool,
    /// Comma-separated subset of wireless,storage,energy,mapping.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    networks: Option<Vec<String>>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// Verify in this process instead of through the served oracle (served by default: HTTP
    /// ingest, store in DIR/oracle, epoch closes and the claims API of a real oracle on a
    /// loopback port).
    #[arg(long)]
    in_process: bool,
    /// EVM or Cosmos: the node's JSON-RPC URL.
    #[arg(long, value_name = "URL")]
    rpc_url: Option<String>,
    /// EVM or Cosmos: the sending account's 32-byte secret key, hex.
    #[arg(long, value_name = "HEX")]
    private_key: Option<String>,
    /// EVM or Cosmos: the chain id.
    #[arg(long)]
    chain_id: Option<String>,
    /// A deployed registry contract.
    #[arg(long, alias = "registry-contract", value_name = "ADDR")]
    registry: Option<String>,
    /// A deployed distributor contract.
    #[arg(long, alias = "distributor-contract", value_name = "ADDR")]
    distributor: Option<String>,
    /// EVM: the reward token of the given distributor.
    #[arg(long, value_name = "ADDR")]
    token: Option<String>,
    /// Cosmos: the bech32 prefix.
    #[arg(long, value_name = "HRP")]
    prefix: Option<String>,
    /// Cosmos: the fee denomination.
    #[arg(long, default_value = "stake")]
    fee_denom: String,
    /// Cosmos: the gas price.
    #[arg(long, default_value = "0.025")]
    gas_price: String,
}

#[derive(Debug)]
struct Args {
    backend: String,
    out: PathBuf,
    seed: u64,
    epochs: u64,
    short: bool,
    networks: Vec<String>,
    quiet: bool,
    in_process: bool,
    rpc_url: Option<String>,
    private_key: Option<String>,
    chain_id: Option<String>,
    registry: Option<String>,
    distributor: Option<String>,
    token: Option<String>,
    prefix: Option<String>,
    fee_denom: String,
    gas_price: String,
}

/// The checked run settings from the parsed command line.
fn args_from(cli: Cli) -> Result<Args, String> {
    let epochs = cli.epochs.unwrap_or(if cli.short { 2 } else { 4 });
    check_epochs(epochs)?;
    let networks: Vec<String> = match cli.networks {
        Some(list) => list.into_iter().map(|n| n.trim().to_string()).collect(),
        None => NETWORKS.iter().map(|n| n.to_string()).collect(),
    };
    for n in &networks {
        if !NETWORKS.contains(&n.as_str()) {
            return Err(format!("unknown network {n:?}"));
        }
    }
    Ok(Args {
        backend: cli.backend,
        out: cli.out,
        seed: cli.seed,
        epochs,
        short: cli.short,
        networks,
        quiet: cli.quiet,
        in_process: cli.in_process,
        rpc_url: cli.rpc_url,
        private_key: cli.private_key,
        chain_id: cli.chain_id,
        registry: cli.registry,
        distributor: cli.distributor,
        token: cli.token,
        prefix: cli.prefix,
        fee_denom: cli.fee_denom,
        gas_price: cli.gas_price,
    })
}

fn secret(hex_key: &str) -> Result<SecretKeyBytes, String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_key.trim_start_matches("0x"), &mut out)
        .map_err(|_| "--private-key must be 32 bytes of hex".to_string())?;
    Ok(SecretKeyBytes(out))
}

fn required(v: &Option<String>, flag: &str, backend: &str) -> Result<String, String> {
    v.clone()
        .ok_or_else(|| format!("--backend {backend} needs {flag}"))
}

fn chain_options(a: &Args) -> Result<(ChainOptions, Option<KeyType>), String> {
    match a.backend.as_str() {
        "local" => Ok((
            ChainOptions::Local {
                dir: a.out.join("ledgers"),
            },
            None,
        )),
        "evm" => {
            let contracts = match (&a.registry, &a.distributor) {
                (Some(r), Some(d)) => {
                    if a.networks.len() != 1 {
                        return Err(
                            "with given contracts, choose one network (--networks ...): \
                                    each network needs its own distributor"
                                .into(),
                        );
                    }
                    let parse = |s: &String| {
                        s.parse::<EvmAddress>()
                            .map_err(|e| format!("bad address {s}: {e}"))
                    };
                    Some((parse(r)?, parse(d)?))
                }
                (None, None) => None,
                _ => return Err("give both --registry and --distributor, or neither".into()),
            };
            let token = match &a.token {
                Some(t) => Some(
                    t.parse::<EvmAddress>()
                        .map_err(|e| format!("bad address {t}: {e}"))?,
                ),
                None => None,
            };
            let options = EvmOptions {
                rpc_url: required(&a.rpc_url, "--rpc-url", "evm")?,
                chain_id: match &a.chain_id {
                    Some(c) => parse_num(c)?,
                    None => 31_337,
                },
                private_key: secret(&required(&a.private_key, "--private-key", "evm")?)?,
                contracts,
                token,
            };
            // The EVM registry verifies secp256k1 registration signatures only.
            Ok((ChainOptions::Evm(options), Some(KeyType::Secp256k1)))
        }
        "cosmos" => {
            let options = CosmosOptions {
                rpc_url: required(&a.rpc_url, "--rpc-url", "cosmos")?,
                chain_id: required(&a.chain_id, "--chain-id", "cosmos")?,
                account_prefix: required(&a.prefix, "--prefix", "cosmos")?,
                registry_contract: required(&a.registry, "--registry-contract", "cosmos")?,
                distributor_contract: required(&a.distributor, "--distributor-contract", "cosmos")?,
                private_key: secret(&required(&a.private_key, "--private-key", "cosmos")?)?,
                fee_denom: a.fee_denom.clone(),
                gas_price: a.gas_price.clone(),
            };
            Ok((ChainOptions::Cosmos(options), None))
        }
        other => Err(format!("unknown backend {other:?} (local, evm or cosmos)")),
    }
}

/// A clear explanation for chain errors a user can act on.
fn explain(backend: &str, e: &depin_example_common::Error) -> Option<String> {
    use depin_chains::Error as C;
    use depin_example_common::Error as E;
    match e {
        E::Chain(C::FeatureNotCompiled(f)) => Some(format!(
            "this build has no `{f}` backend: run `cargo run --release -p depin-demo --features {f} -- --backend {f} ...`"
        )),
        E::Chain(C::Transport { message, .. }) if backend == "cosmos" => Some(format!(
            "the Cosmos backend needs a running node (CometBFT RPC) with the registry and \
             cw20-merkle-airdrop contracts deployed; none answered: {message}. Nothing was \
             broadcast. Without a node, use --backend local (default) or --backend evm with anvil."
        )),
        E::Chain(C::Transport { message, .. }) => Some(format!(
            "no node answered ({message}). For EVM, start anvil first: \
             contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
        )),
        _ => None,
    }
}

/// Why a run stopped. Every variant is a non-zero exit; the message names what failed.
#[derive(Debug)]
enum DemoError {
    /// A file or directory could not be created or written.
    Io {
        /// What was being done (`"create"`, `"write"`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// Another run holds the output directory's lock.
    Busy {
        /// The lock file.
        lock: PathBuf,
    },
    /// One network's run failed.
    Network {
        /// The network.
        network: String,
        /// The error, with an explanation where one helps.
        message: String,
    },
    /// Some pictures could not be written (the summary was printed).
    Pictures(Vec<(PathBuf, std::io::Error)>),
    /// A pool was not paid out exactly.
    NotExact,
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            DemoError::Busy { lock } => write!(
                f,
                "another depin-demo run is using this output directory (it holds {}); \
                 wait for it or choose another --out",
                lock.display()
            ),
            DemoError::Network { network, message } => {
                write!(f, "in the {network} network: {message}")
            }
            DemoError::Pictures(failed) => {
                for (i, (path, e)) in failed.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\nerror: ")?;
                    }
                    write!(f, "cannot write {}: {e}", path.display())?;
                }
                Ok(())
            }
            DemoError::NotExact => f.write_str("a reward pool was not paid out exactly"),
        }
    }
}

/// Take the output directory's run lock (held until the returned file is dropped).
fn lock_out_dir(out: &Path) -> Result<File, DemoError> {
    let path = out.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| DemoError::Io {
            action: "create",
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(DemoError::Busy { lock: path }),
        Err(TryLockError::Error(source)) => Err(DemoError::Io {
            action: "lock",
            path,
            source,
        }),
    }
}

/// Write the two pictures; every failure is collected with its path.
fn write_pictures(out: &Path, summaries: &[Summary]) -> Result<Vec<PathBuf>, DemoError> {
    let mut pictures = Vec::new();
    if let Some(map) = summaries.iter().find_map(|s| s.map.as_ref()) {
        pictures.push((out.join("wireless-map.svg"), svg::wireless_map(map)));
    }
    if !summaries.is_empty() {
        pictures.push((
            out.join("reward-distribution.svg"),
            svg::reward_distribution(summaries),
        ));
    }
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for (path, text) in pictures {
        match std::fs::write(&path, text) {
            Ok(()) => written.push(path),
            Err(e) => failed.push((path, e)),
        }
    }
    if failed.is_empty() {
        Ok(written)
    } else {
        Err(DemoError::Pictures(failed))
    }
}

fn run(args: &Args, chain: ChainOptions, key_type: Option<KeyType>) -> Result<(), DemoError> {
    std::fs::create_dir_all(&args.out).map_err(|source| DemoError::Io {
        action: "create",
        path: args.out.clone(),
        source,
    })?;
    // held to the end of the run: a second run on the same --out stops here
    let _lock = lock_out_dir(&args.out)?;
    let started = Instant::now();
    let mut summaries: Vec<Summary> = Vec::new();
    for network in &args.networks {
        let devices = match (args.short, network.as_str()) {
            (true, "wireless") => 9,
            (true, _) => 4,
            (false, _) => 0,
        };
        let opts = Options {
            seed: args.seed,
            devices,
            epochs: args.epochs,
            chain: chain.clone(),
            progress: !args.quiet,
            key_type,
            serve: (!args.in_process).then(|| args.out.join("oracle")),
        };
        let t = Instant::now();
        let result = match network.as_str() {
            "wireless" => depin_example_wireless::run(&opts),
            "storage" => depin_example_storage::run(&opts),
            "mapping" => depin_example_mapping::run(&opts),
            _ => depin_example_energy::run(&opts),
        };
        match result {
            Ok(s) => {
                println!("{s}");
                if !args.quiet {
                    eprintln!("[{network}] done in {:.1} s", t.elapsed().as_secs_f64());
                }
                summaries.push(s);
            }
            Err(e) => {
                let message = match explain(&args.backend, &e) {
                    Some(help) => format!("{e}\n{help}"),
                    None => e.to_string(),
                };
                return Err(DemoError::Network {
                    network: network.clone(),
                    message,
                });
            }
        }
    }

    println!("== all networks ==");
    println!(
        "{:<10} {:>7} {:>6} {:>9} {:>9} {:>22} {:>6} {:>22}",
        "network", "devices", "epochs", "accepted", "rejected", "paid", "exact", "claimed on chain"
    );
    let mut all_exact = true;
    for s in &summaries {
        let rejected: u64 = s.epochs.iter().map(|e| e.report.rejected_total()).sum();
        let claimed = s.last_settlement().map(|x| x.claimed_total).unwrap_or(0);
        all_exact &= s.exact();
        println!(
            "{:<10} {:>7} {:>6} {:>9} {:>9} {:>22} {:>6} {:>22}",
            s.network,
            s.devices.len(),
            s.epochs.len(),
            s.accepted_total(),
            rejected,
            format_amount(s.paid_total()),
            if s.exact() { "yes" } else { "NO" },
            format_amount(claimed)
        );
    }
    println!(
        "every pool paid exactly (sum of payouts == pool): {}",
        if all_exact { "yes" } else { "NO" }
    );

    let written = write_pictures(&args.out, &summaries)?;
    println!("pictures:");
    for p in &written {
        println!("  {}", p.display());
    }
    println!(
        "finished in {:.1} s (seed {}; the same seed gives the same run)",
        started.elapsed().as_secs_f64(),
        args.seed
    );
    if all_exact {
        Ok(())
    } else {
        Err(DemoError::NotExact)
    }
}

fn main() -> ExitCode {
    // clap prints --help (exit 0) and argument errors with the usage (exit 2)
    let cli = <Cli as clap::Parser>::parse();
    let args = match args_from(cli) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "error: {e}\n\n{}",
                <Cli as clap::CommandFactory>::command().render_usage()
            );
            return ExitCode::from(2);
        }
    };
    let (chain, key_type) = match chain_options(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: {e}\n\n{}",
                <Cli as clap::CommandFactory>::command().render_usage()
            );
            return ExitCode::from(2);
        }
    };
    match run(&args, chain, key_type) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
