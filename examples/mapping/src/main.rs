//! `cargo run -p depin-example-mapping -- [--seed N] [--devices N] [--epochs N] [--out DIR] [--quiet]`

const USAGE: &str = "\
depin-example-mapping: dashcam street mapping on depin-rs (signed captures on declared routes, rewards by tile freshness)

usage: depin-example-mapping [options]
  --seed N      seed of every random choice (default: 7)
  --devices N   honest dashcams (default: 8; five cheaters are added)
  --epochs N    epochs (simulated days), 1..=3650 (default: 4)
  --out DIR     directory of the local ledger file (default: out/ledgers)
  --quiet       no progress lines on stderr";

fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    depin_example_common::cli_main(depin_example_mapping::run)
}
