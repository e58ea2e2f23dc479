//! `cargo run -p depin-example-storage -- [--seed N] [--devices N] [--epochs N] [--out DIR] [--quiet]`

fn main() -> std::process::ExitCode {
    depin_example_common::cli_main(depin_example_storage::run)
}
