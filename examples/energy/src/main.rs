//! `cargo run -p depin-example-energy -- [--seed N] [--devices N] [--epochs N] [--out DIR] [--quiet]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let opts = match depin_example_energy::Options::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match depin_example_energy::run(&opts) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
