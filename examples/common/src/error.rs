//! The error type of the examples.

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What can stop an example run. Rejected attestations are not errors: they are counted in
/// the per-epoch reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// depin-core (keys, encoding, time).
    #[error(transparent)]
    Core(#[from] depin_core::Error),
    /// depin-attest configuration or registry errors.
    #[error(transparent)]
    Attest(#[from] depin_attest::Error),
    /// depin-rewards (reward math, claim trees).
    #[error(transparent)]
    Rewards(#[from] depin_rewards::Error),
    /// depin-chains (the chain backend).
    #[error(transparent)]
    Chain(#[from] depin_chains::Error),
    /// File system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file or directory could not be created, read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The local ledger file could not be created, opened or written (for example: another
    /// process holds its lock).
    #[error("local ledger {}: {source}", path.display())]
    Ledger {
        /// The ledger file.
        path: std::path::PathBuf,
        /// What the ledger said.
        source: depin_chains::Error,
    },
    /// The served oracle (start, HTTP, close) failed.
    #[error("oracle: {0}")]
    Served(String),
    /// Bad options (sizes, backend arguments).
    #[error("invalid options: {0}")]
    Options(String),
    /// A check the run makes on itself failed (e.g. the claimed total differs from the
    /// ledger). Never expected; reported instead of silently continuing.
    #[error("consistency check failed: {0}")]
    Check(String),
}
