//! `depin-oracle`: a DePIN's oracle as one binary.
//!
//! ```text
//! depin-oracle serve --config oracle.toml
//! depin-oracle keys new --type ed25519|p256|secp256k1 --out FILE
//! depin-oracle keys show --key FILE
//! depin-oracle frame sign --key FILE --network ID --kind N --seq N [--at UNIX_MS] --payload TEXT
//! depin-oracle frame verify --network ID --did DID --frame HEX
//! depin-oracle recompute --config oracle.toml --epoch N
//! depin-oracle claim --config oracle.toml --account ACCOUNT
//! depin-oracle receipt --config oracle.toml --epoch N --device DID
//! ```
//!
//! Exit status: 0 success; 1 any error (bad arguments or configuration, a file that cannot
//! be read or written, an invalid frame, nothing found, a store or chain failure), with a
//! message on stderr naming the file or setting at fault; 2 only from `recompute` and
//! `receipt`: the recomputation differs from what is stored (or on the chain).

mod audit;
mod chain;
mod config;
mod error;
mod frame;
mod keys;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use depin_core::KeyType;

use crate::error::Error;

/// What an audit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The recomputation equals what is stored (exit 0).
    Same,
    /// It does not (exit 2).
    Differs,
}

const EXIT_STATUS: &str = "\
Exit status:
  0  success (`frame verify`: the frame is valid; `recompute`, `receipt`: the
     recomputation equals the stored result)
  1  error: bad arguments or configuration, a file that cannot be read or written,
     an invalid frame, nothing found, a store or chain failure (the message on
     stderr names the file or setting at fault)
  2  `recompute`, `receipt` only: the recomputation differs from the stored result
     or from the root on the chain

Logs go to stderr; the level comes from RUST_LOG (default: info).";

/// A DePIN's oracle: verifies signed device reports, closes reward epochs, publishes each
/// epoch's claim root on the chain and answers claims; plus the tools around it (device
/// keys, frames, audits).
#[derive(Debug, Parser)]
#[command(name = "depin-oracle", version, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `--config`: the one configuration file
#[derive(Debug, Args)]
struct ConfigArg {
    /// The oracle's configuration file: TOML with the service's settings (listen, name and
    /// the store, epochs, ingest and mqtt sections) and this binary's network and chain
    /// sections; see oracle.example.toml. Environment variables named
    /// DEPIN_ORACLE__SECTION__SETTING (DEPIN_ORACLE__SETTING at the top level) override it.
    #[arg(long, short, value_name = "FILE", env = "DEPIN_ORACLE_CONFIG")]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the oracle: devices POST signed frames and envelopes (or publish them over MQTT),
    /// each epoch is closed at its end plus the grace window, its rewards split and its claim
    /// root published on the ledger; owners fetch claims from the same port.
    ///
    /// Prints one line, `serving on http://ADDR`, once it is listening, then runs until
    /// SIGINT (ctrl-c) or SIGTERM and shuts down cleanly (exit 0).
    #[command(after_help = EXIT_STATUS)]
    Serve(ConfigArg),

    /// Make or inspect a device key file.
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Sign a report frame with a device key, or check one.
    #[command(subcommand)]
    Frame(FrameCommand),

    /// Compute a closed epoch again from the store and compare it with the stored result and
    /// the root on the ledger (exit 2 if anything differs).
    #[command(after_help = EXIT_STATUS)]
    Recompute {
        #[command(flatten)]
        config: ConfigArg,
        /// The epoch number.
        #[arg(long, value_name = "N")]
        epoch: u64,
    },

    /// Print an account's claim (cumulative amount, epoch, root, Merkle proof) against the
    /// latest published root, as JSON.
    #[command(after_help = EXIT_STATUS)]
    Claim {
        #[command(flatten)]
        config: ConfigArg,
        /// The owner account (0x... for EVM, bech32 for Cosmos).
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },

    /// Print a device's stored receipt for an epoch (JSON on stdout) and check it against a
    /// recompute (exit 2 if it differs).
    #[command(after_help = EXIT_STATUS)]
    Receipt {
        #[command(flatten)]
        config: ConfigArg,
        /// The epoch number.
        #[arg(long, value_name = "N")]
        epoch: u64,
        /// The device (did:key:...).
        #[arg(long, value_name = "DID")]
        device: String,
    },
}

/// A key type on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeyTypeArg {
    /// Ed25519 (most devices).
    Ed25519,
    /// ECDSA over NIST P-256 (secure elements, TPMs).
    P256,
    /// ECDSA over secp256k1 (the key also has EVM and Cosmos addresses).
    Secp256k1,
}

impl From<KeyTypeArg> for KeyType {
    fn from(k: KeyTypeArg) -> Self {
        match k {
            KeyTypeArg::Ed25519 => KeyType::Ed25519,
            KeyTypeArg::P256 => KeyType::P256,
            KeyTypeArg::Secp256k1 => KeyType::Secp256k1,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a key from the operating system's random source and write it to a new file
    /// (mode 0600; an existing file is never overwritten). Prints the key's did:key (and for
    /// secp256k1 its EVM and Cosmos addresses); never the secret.
    #[command(after_help = EXIT_STATUS)]
    New {
        /// The signature scheme.
        #[arg(long = "type", value_name = "TYPE")]
        key_type: KeyTypeArg,
        /// The key file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print what `keys new` printed for an existing key file.
    #[command(after_help = EXIT_STATUS)]
    Show {
        /// The key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The key's type, for a file holding only the 64 hex digits of the secret.
        #[arg(long = "type", value_name = "TYPE")]
        key_type: Option<KeyTypeArg>,
    },
}

#[derive(Debug, Subcommand)]
enum FrameCommand {
    /// Sign a report frame (24-byte header, payload, 64-byte signature) and print it as hex.
    #[command(after_help = EXIT_STATUS)]
    Sign {
        /// The device's key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The key's type, for a file holding only the 64 hex digits of the secret.
        #[arg(long = "type", value_name = "TYPE")]
        key_type: Option<KeyTypeArg>,
        /// The network id the frame is signed for (the oracle's network id setting).
        #[arg(long, value_name = "ID")]
        network: String,
        /// The application-defined report kind (0-255).
        #[arg(long, value_name = "N")]
        kind: u8,
        /// The sequence number (strictly increasing per device; the oracle refuses replays).
        #[arg(long, value_name = "N")]
        seq: u32,
        /// The report's time, unix milliseconds (default: now; the oracle accepts reports up
        /// to 15 minutes old).
        #[arg(long, value_name = "UNIX_MS")]
        at: Option<u64>,
        /// The payload, as text (at most 200 bytes).
        #[arg(long, value_name = "TEXT", default_value = "")]
        payload: String,
    },
    /// Parse a hex frame, print its header, and check its signature against a device's key
    /// for a network (exit 0 if valid, 1 if not).
    #[command(after_help = EXIT_STATUS)]
    Verify {
        /// The network id the frame should be signed for.
        #[arg(long, value_name = "ID")]
        network: String,
        /// The device that should have signed it (did:key:...).
        #[arg(long, value_name = "DID")]
        did: String,
        /// The frame, hex.
        #[arg(long, value_name = "HEX")]
        frame: String,
    },
}

fn run(command: Command) -> Result<Verdict, Error> {
    match command {
        Command::Serve(args) => serve::run(&args.config).map(|()| Verdict::Same),
        Command::Keys(KeysCommand::New { key_type, out }) => {
            let key = keys::create(key_type.into(), &out)?;
            print!("{}", keys::describe(&key)?);
            eprintln!("secret written to {} (mode 0600)", out.display());
            Ok(Verdict::Same)
        }
        Command::Keys(KeysCommand::Show { key, key_type }) => {
            let key = keys::load(&key, key_type.map(KeyType::from))?;
            print!("{}", keys::describe(&key)?);
            Ok(Verdict::Same)
        }
        Command::Frame(FrameCommand::Sign {
            key,
            key_type,
            network,
            kind,
            seq,
            at,
            payload,
        }) => {
            let key = keys::load(&key, key_type.map(KeyType::from))?;
            let frame = frame::sign(&key, &network, kind, seq, at, payload.as_bytes())?;
            println!("{}", hex::encode(frame));
            Ok(Verdict::Same)
        }
        Command::Frame(FrameCommand::Verify {
            network,
            did,
            frame,
        }) => frame::verify(&network, &did, &frame).map(|()| Verdict::Same),
        Command::Recompute { config, epoch } => audit::recompute(&config.config, epoch),
        Command::Claim { config, account } => {
            audit::claim(&config.config, &account).map(|()| Verdict::Same)
        }
        Command::Receipt {
            config,
            epoch,
            device,
        } => audit::receipt(&config.config, epoch, &device),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; bad arguments are exit 1, like every
            // other error (2 means "differs")
            let code = u8::from(e.use_stderr());
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging();
    match run(cli.command) {
        Ok(Verdict::Same) => ExitCode::SUCCESS,
        Ok(Verdict::Differs) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
