//! Error codes the contracts put at the start of every error, so clients recognise an error
//! by its code, never by the wording of a message.
//!
//! A contract error reads `"[depin:<code>] <explanation>"`; a chain wraps it in its own log
//! (`"failed to execute message; message index: 0: [depin:<code>] ...: execute wasm contract
//! failed"`), and [`ErrorCode::find`] picks the code out of any such text.

/// What went wrong, as the contracts report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The sender may not do this.
    Unauthorized,
    /// A message field is malformed (address, hex, did:key, amount, name).
    InvalidInput,
    /// The device is already registered (registered once: a revoked device stays revoked).
    AlreadyRegistered,
    /// The device or maker is already revoked.
    AlreadyRevoked,
    /// No such device.
    DeviceNotFound,
    /// A device's or maker's signature does not verify (or is not in strict encoding).
    InvalidSignature,
    /// The registration's deadline passed; the message reads `"... deadline <d> ..."`.
    Expired,
    /// The registration's deadline lies further ahead than the registry accepts; the message
    /// reads `"deadline <d> is too far ahead: the latest deadline accepted now is <max>"`.
    DeadlineTooFar,
    /// No such maker.
    MakerNotFound,
    /// The maker already onboarded its quota; the message reads
    /// `"maker <did> onboarded its quota of <quota>"`.
    QuotaExceeded,
    /// The registry takes devices only through makers.
    MakersOnly,
    /// The epoch was already published; the message reads `"epoch <e>"`.
    EpochAlreadyPublished,
    /// The epoch is not above the latest published; the message reads
    /// `"epoch <e> is not after the latest, <latest>"`.
    EpochNotIncreasing,
    /// No root for that epoch.
    EpochNotFound,
    /// Nothing was published yet.
    NoRoot,
    /// The claim's proof does not verify against the epoch's root, or the root is no longer
    /// accepted.
    InvalidProof,
    /// The cumulative amount was already paid.
    AlreadyClaimed,
    /// Paying would exceed the root's total.
    ExceedsTotal,
    /// The admin handover has no pending proposal for the sender.
    NoPendingAdmin,
    /// The distributor holds fewer tokens than the claim pays; the message reads
    /// `"pool holds <available>, the claim pays <required>"`.
    InsufficientPool,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::Unauthorized,
        ErrorCode::InvalidInput,
        ErrorCode::AlreadyRegistered,
        ErrorCode::AlreadyRevoked,
        ErrorCode::DeviceNotFound,
        ErrorCode::InvalidSignature,
        ErrorCode::Expired,
        ErrorCode::DeadlineTooFar,
        ErrorCode::MakerNotFound,
        ErrorCode::QuotaExceeded,
        ErrorCode::MakersOnly,
        ErrorCode::EpochAlreadyPublished,
        ErrorCode::EpochNotIncreasing,
        ErrorCode::EpochNotFound,
        ErrorCode::NoRoot,
        ErrorCode::InvalidProof,
        ErrorCode::AlreadyClaimed,
        ErrorCode::ExceedsTotal,
        ErrorCode::NoPendingAdmin,
        ErrorCode::InsufficientPool,
    ];

    /// The code's stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::AlreadyRegistered => "already_registered",
            ErrorCode::AlreadyRevoked => "already_revoked",
            ErrorCode::DeviceNotFound => "device_not_found",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::Expired => "expired",
            ErrorCode::DeadlineTooFar => "deadline_too_far",
            ErrorCode::MakerNotFound => "maker_not_found",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::MakersOnly => "makers_only",
            ErrorCode::EpochAlreadyPublished => "epoch_already_published",
            ErrorCode::EpochNotIncreasing => "epoch_not_increasing",
            ErrorCode::EpochNotFound => "epoch_not_found",
            ErrorCode::NoRoot => "no_root",
            ErrorCode::InvalidProof => "invalid_proof",
            ErrorCode::AlreadyClaimed => "already_claimed",
            ErrorCode::ExceedsTotal => "exceeds_total",
            ErrorCode::NoPendingAdmin => "no_pending_admin",
            ErrorCode::InsufficientPool => "insufficient_pool",
        }
    }

    /// The first `[depin:<code>]` in `text`, if any names a known code.
    ///
    /// ```
    /// use depin_cosmwasm_msgs::error::ErrorCode;
    /// let log = "failed to execute message; message index: 0: [depin:already_claimed] \
    ///            cumulative 100 already paid: execute wasm contract failed";
    /// assert_eq!(ErrorCode::find(log), Some(ErrorCode::AlreadyClaimed));
    /// assert_eq!(ErrorCode::find("out of gas"), None);
    /// ```
    pub fn find(text: &str) -> Option<ErrorCode> {
        let mut rest = text;
        while let Some(at) = rest.find("[depin:") {
            let tail = rest.get(at + 7..)?;
            let end = tail.find(']')?;
            let name = tail.get(..end)?;
            if let Some(code) = ErrorCode::ALL.into_iter().find(|c| c.as_str() == name) {
                return Some(code);
            }
            rest = tail;
        }
        None
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[depin:{}]", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    #[test]
    fn every_code_is_found_in_its_own_display() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::find(&format!("x: {c} y")), Some(c));
        }
        assert_eq!(
            ErrorCode::find("[depin:nope] [depin:expired]"),
            Some(ErrorCode::Expired)
        );
        assert_eq!(ErrorCode::find("[depin:unterminated"), None);
    }

    proptest::proptest! {
        /// Any log (a chain's, an attacker's) is read without a panic, and a code embedded
        /// in arbitrary text is found unless the text before it already names one.
        #[test]
        fn any_log_is_read_and_an_embedded_code_is_found(
            before in "[^\\[]{0,40}",
            after in "\\PC{0,40}",
            i in 0usize..20,
            noise in "\\PC{0,80}",
        ) {
            let _ = ErrorCode::find(&noise);
            let code = ErrorCode::ALL[i % ErrorCode::ALL.len()];
            proptest::prop_assert_eq!(ErrorCode::find(&format!("{before}{code}{after}")), Some(code));
        }
    }
}
