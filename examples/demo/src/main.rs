//! The depin-rs main demo: the wireless, storage and energy reference networks, settled on
//! one chain backend, with a summary per network and epoch and two SVG pictures.
//!
//! ```text
//! depin-demo [--backend local|evm|cosmos] [--out DIR] [--seed N] [--epochs N] [--short]
//!            [--networks wireless,storage,energy] [--quiet]
//! ```
//!
//! See the README for the EVM and Cosmos flags.

mod svg;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use depin_chains::SecretKeyBytes;
use depin_core::{EvmAddress, KeyType};
use depin_example_common::{
    format_amount, parse_num, ChainOptions, CosmosOptions, EvmOptions, Options, Summary,
};

const USAGE: &str = "\
depin-demo: the wireless, storage and energy reference networks of depin-rs

usage: depin-demo [options]
  --backend local|evm|cosmos   where rewards are settled (default: local)
  --out DIR                    output directory (default: out): ledgers/, SVG pictures
  --seed N                     seed of every random choice (default: 7)
  --epochs N                   epochs (simulated days) per network (default: 4)
  --short                      a small, fast run (few devices, 2 epochs)
  --networks LIST              comma-separated subset of wireless,storage,energy
  --quiet                      no progress lines
 evm (build with --features evm to deploy; anvil: chain id 31337):
  --rpc-url URL --private-key HEX [--chain-id N]
  [--registry ADDR --distributor ADDR [--token ADDR]]   use deployed contracts (one network)
 cosmos (build with --features cosmos; needs a node with the contracts):
  --rpc-url URL --private-key HEX --chain-id ID --prefix HRP
  --registry-contract ADDR --distributor-contract ADDR [--fee-denom D] [--gas-price G]";

#[derive(Debug)]
struct Args {
    backend: String,
    out: PathBuf,
    seed: u64,
    epochs: u64,
    short: bool,
    networks: Vec<String>,
    quiet: bool,
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

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        backend: "local".into(),
        out: PathBuf::from("out"),
        seed: 7,
        epochs: 4,
        short: false,
        networks: vec!["wireless".into(), "storage".into(), "energy".into()],
        quiet: false,
        rpc_url: None,
        private_key: None,
        chain_id: None,
        registry: None,
        distributor: None,
        token: None,
        prefix: None,
        fee_denom: "stake".into(),
        gas_price: "0.025".into(),
    };
    let mut epochs_given = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => a.backend = value()?,
            "--out" => a.out = PathBuf::from(value()?),
            "--seed" => a.seed = parse_num(&value()?)?,
            "--epochs" => {
                a.epochs = parse_num(&value()?)?;
                epochs_given = true;
            }
            "--short" => a.short = true,
            "--quiet" => a.quiet = true,
            "--networks" => {
                a.networks = value()?.split(',').map(|s| s.trim().to_string()).collect()
            }
            "--rpc-url" => a.rpc_url = Some(value()?),
            "--private-key" => a.private_key = Some(value()?),
            "--chain-id" => a.chain_id = Some(value()?),
            "--registry" | "--registry-contract" => a.registry = Some(value()?),
            "--distributor" | "--distributor-contract" => a.distributor = Some(value()?),
            "--token" => a.token = Some(value()?),
            "--prefix" => a.prefix = Some(value()?),
            "--fee-denom" => a.fee_denom = value()?,
            "--gas-price" => a.gas_price = value()?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if a.short && !epochs_given {
        a.epochs = 2;
    }
    if a.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    for n in &a.networks {
        if !["wireless", "storage", "energy"].contains(&n.as_str()) {
            return Err(format!("unknown network {n:?}"));
        }
    }
    Ok(a)
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

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (chain, key_type) = match chain_options(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
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
        };
        let t = Instant::now();
        let result = match network.as_str() {
            "wireless" => depin_example_wireless::run(&opts),
            "storage" => depin_example_storage::run(&opts),
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
                match explain(&args.backend, &e) {
                    Some(help) => eprintln!("error in the {network} network: {e}\n{help}"),
                    None => eprintln!("error in the {network} network: {e}"),
                }
                return ExitCode::FAILURE;
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

    let mut written = Vec::new();
    if let Some(map) = summaries.iter().find_map(|s| s.map.as_ref()) {
        let path = args.out.join("wireless-map.svg");
        match std::fs::write(&path, svg::wireless_map(map)) {
            Ok(()) => written.push(path),
            Err(e) => eprintln!("error: cannot write {}: {e}", path.display()),
        }
    }
    if !summaries.is_empty() {
        let path = args.out.join("reward-distribution.svg");
        match std::fs::write(&path, svg::reward_distribution(&summaries)) {
            Ok(()) => written.push(path),
            Err(e) => eprintln!("error: cannot write {}: {e}", path.display()),
        }
    }
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
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
