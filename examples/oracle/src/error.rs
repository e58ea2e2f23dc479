//! The binary's one error type: every failure is exit status 1 with a message that names the
//! file, setting or value at fault.

use std::fmt;
use std::path::PathBuf;

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// A file could not be read, created or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A configuration setting, or a file a setting names, is wrong.
    Config {
        /// The file at fault (the configuration file, or the file a setting names).
        path: PathBuf,
        /// What is wrong, naming the setting.
        message: String,
    },
    /// A command-line value is wrong (an account, a did, a network id, a key file's content).
    Input(String),
    /// A frame does not parse or does not verify.
    Frame(String),
    /// The thing asked for does not exist (no such epoch, no published root, no claim).
    NotFound(String),
    /// The oracle store failed.
    Store(String),
    /// An epoch computation failed.
    Compute(String),
    /// The chain (ledger) failed.
    Chain(String),
    /// The oracle service failed to start, run or stop.
    Service(String),
}

impl Error {
    /// A failed file operation on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A wrong setting in (or a wrong file named by) `path`.
    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Config { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Input(m) => write!(f, "{m}"),
            Error::Frame(m) => write!(f, "invalid frame: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Store(m) => write!(f, "oracle store: {m}"),
            Error::Compute(m) => write!(f, "epoch computation: {m}"),
            Error::Chain(m) => write!(f, "chain: {m}"),
            Error::Service(m) => write!(f, "oracle service: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
