use cosmwasm_std::StdError;
use depin_cosmwasm_msgs::error::ErrorCode;

/// Every error a depin-rs contract returns: its [`ErrorCode`] first, then what happened.
/// (One file, included by both contracts with `#[path]`.)
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A storage or serialization error of the host.
    #[error("{0}")]
    Std(#[from] StdError),
    /// A refusal with its code.
    #[error("{code} {detail}")]
    Refused {
        /// The code clients match on.
        code: ErrorCode,
        /// What happened.
        detail: String,
    },
}

/// A refusal.
pub fn refuse(code: ErrorCode, detail: impl Into<String>) -> ContractError {
    ContractError::Refused {
        code,
        detail: detail.into(),
    }
}
