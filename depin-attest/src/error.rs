//! The one error type of depin-attest (configuration and I/O problems; rejections of
//! untrusted input are [`crate::Rejection`]s, not errors).

/// Result alias with [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What can go wrong outside the per-item verdicts: bad configuration, storage I/O,
/// and refused administrative updates (deny lists, commitments).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from depin-core (encoding, keys, time).
    #[error(transparent)]
    Core(#[from] depin_core::Error),
    /// A configuration value is out of its documented range.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The replay store could not be read or written.
    #[error("replay store: {0}")]
    Store(String),
    /// A deny list update was refused.
    #[error("deny list update refused: {0}")]
    DenyList(crate::Rejection),
    /// A device could not be added to the in-memory registry.
    #[error("registry: {0}")]
    Registry(&'static str),
    /// Storage commitment or proof construction failed (prover-side helpers).
    #[error("storage: {0}")]
    Storage(&'static str),
    /// File-system error (file-backed replay store).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A store file failed its integrity check (bad magic, version, length or checksum);
    /// nothing was loaded from it and it was not changed.
    #[error("store file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: &'static str,
    },
    /// Another process (or another store in this process) holds the store's lock.
    #[error("store {path} is in use by another process (lock {lock} is held)")]
    Locked {
        /// The store file.
        path: std::path::PathBuf,
        /// The lock file.
        lock: std::path::PathBuf,
    },
}
