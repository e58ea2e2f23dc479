//! `cargo run -p depin-example-energy -- [--seed N] [--devices N] [--epochs N] [--out DIR] [--quiet]`

fn main() -> std::process::ExitCode {
    depin_example_common::cli_main(depin_example_energy::run)
}
