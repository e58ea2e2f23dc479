//! The crate's single error type.

/// Everything that can go wrong in reward math, receipts, ledgers and claim trees.
///
/// Every variant is a plain value (no generic device id inside), so the type stays
/// `Copy`-cheap, `no_std` friendly and stable across device-id types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A checked integer operation overflowed (sum of shares, amount, emission, ...).
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// A division by zero was requested (zero denominator or zero ratio).
    #[error("division by zero in {0}")]
    DivisionByZero(&'static str),
    /// The epoch has no devices at all: nothing can be distributed, the whole pool stays
    /// with the caller (carry it over or burn it, by policy).
    #[error("empty epoch: no devices to reward")]
    EmptyEpoch,
    /// Every device has zero shares: nothing can be distributed, the whole pool stays with
    /// the caller.
    #[error("total shares are zero")]
    ZeroTotalShares,
    /// The same device (or account) appears more than once in an input that requires
    /// unique entries. `index` is the position of the second occurrence in the sorted input.
    #[error("duplicate entry for the same device or account (sorted position {index})")]
    DuplicateEntry {
        /// Position of the repeated entry after sorting by id.
        index: usize,
    },
    /// Input that must be sorted strictly ascending by id was not.
    #[error("entries are not sorted strictly ascending by id (position {index})")]
    NotSorted {
        /// Position of the first out-of-order entry.
        index: usize,
    },
    /// A parameter is outside its documented range (basis points not summing to 10 000,
    /// zero-length halving interval, ratio above one, ...).
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// A decimal string could not be parsed as a fixed-point value or amount.
    #[error("invalid decimal string")]
    InvalidDecimal,
    /// A category named in a pool operation does not exist.
    #[error("unknown pool category")]
    UnknownCategory,
    /// An H3 cell index is invalid or too coarse for the hex density rules.
    #[error("invalid H3 cell index")]
    InvalidCell,
    /// A cumulative ledger update used an epoch that is not strictly after the last one.
    #[error("epoch {epoch} is not after the last applied epoch {last}")]
    EpochNotIncreasing {
        /// Epoch that was offered.
        epoch: u64,
        /// Last epoch already applied.
        last: u64,
    },
    /// A receipt does not reproduce: `0` names the first field that disagrees.
    #[error("receipt does not recompute: {0} differs")]
    ReceiptMismatch(&'static str),
    /// A claim tree needs at least one claim.
    #[error("a claim tree needs at least one claim")]
    EmptyTree,
    /// A proof was requested for an index that is not in the tree.
    #[error("claim index {index} out of range (tree has {len} claims)")]
    IndexOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of claims in the tree.
        len: usize,
    },
    /// A claim tree has more leaves than its index type supports (`u32::MAX`).
    #[error("too many claims for one tree")]
    TooManyClaims,
    /// A hexadecimal string (root or proof element) is malformed.
    #[error("invalid hex string")]
    InvalidHex,
    /// A value has no canonical encoding to hash (floating point, a sequence of unknown
    /// length, a custom serialisation error): `0` says which.
    #[error("no canonical encoding: {0}")]
    Encoding(&'static str),
    /// The rule set offered does not hash to the rule-set commitment the epoch was published
    /// under.
    #[error("rule set does not match the epoch's published rule-set commitment")]
    RuleSetMismatch,
    /// A score has another number of multipliers than the published rules of its category
    /// (a multiplier deleted or added).
    #[error("score has {found} multipliers, the published rules have {expected}")]
    FactorCountMismatch {
        /// Multipliers in the published rules.
        expected: usize,
        /// Multipliers in the score.
        found: usize,
    },
    /// A factor does not follow its published rule: another name, evidence kind, policy
    /// parameters or epoch time, implausible evidence, or a `Given` value above the published
    /// maximum.
    #[error("factor {factor} breaks the published rules: {reason}")]
    FactorMismatch {
        /// Position of the factor: 0 is the base, `i` the `i`-th multiplier.
        factor: usize,
        /// What differs.
        reason: &'static str,
    },
    /// A factor carries `Given` evidence (a value nobody can recompute) where the published
    /// rules require evidence that is re-run.
    #[error("factor {factor} carries Given evidence the published rules do not allow")]
    GivenNotAllowed {
        /// Position of the factor: 0 is the base, `i` the `i`-th multiplier.
        factor: usize,
    },
    /// A receipt is not bound to the published epoch: `0` names the first field (epoch,
    /// category, pool, ...) that differs from the published summary.
    #[error("receipt is not bound to the published epoch: {0} differs")]
    EpochBinding(&'static str),
    /// A published epoch summary contradicts its rule set or itself: `0` says how.
    #[error("published epoch summary is inconsistent: {0}")]
    PublishedMismatch(&'static str),
    /// A receipt is not one of the epoch's published receipts: its inclusion proof does not
    /// lead to the published root (any changed field, another device, a forged receipt).
    #[error("receipt is not in the published epoch (inclusion proof does not verify)")]
    NotInEpoch,
    /// An epoch was checked with another number of receipts than were published.
    #[error("epoch has {found} receipts, {expected} were published")]
    ReceiptCountMismatch {
        /// Receipts published for the epoch.
        expected: u64,
        /// Receipts offered.
        found: u64,
    },
    /// A sum over an epoch's receipts differs from the published value (shares from the
    /// total shares, amounts from the amount paid, which is the pool in largest-remainder
    /// mode).
    #[error("the epoch's receipt {what} sum to {found}, {expected} was published")]
    EpochTotalMismatch {
        /// `"shares"` or `"amounts"`.
        what: &'static str,
        /// Published value.
        expected: u128,
        /// Sum over the receipts offered.
        found: u128,
    },
    /// The receipt tree over an epoch's receipts does not have the published root.
    #[error("the epoch's receipts do not hash to the published root")]
    EpochRootMismatch,
    /// Custom evidence names a network-defined evidence rule that is not registered with the
    /// verifier (or was evaluated without any registry at all).
    #[error("evidence rule not registered (custom evidence needs its rule)")]
    UnknownEvidenceRule,
    /// The registered evidence rule of the requested name has another version than the one
    /// the published rules require.
    #[error("evidence rule version {registered} is registered, {required} is required")]
    EvidenceRuleVersion {
        /// Version of the registered rule.
        registered: u32,
        /// Version the published rules (and the evidence) require.
        required: u32,
    },
    /// An evidence rule of the same name is already registered.
    #[error("an evidence rule of this name is already registered")]
    DuplicateEvidenceRule,
    /// Devices without an owner were rolled up where every device must have one.
    #[error("{count} devices have no owner")]
    UnownedDevices {
        /// Number of devices without an owner.
        count: usize,
    },
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// [`Error::DuplicateEntry`] for the first pair of equal neighbours in `sorted` (by `same`),
/// `index` being the position of the second one; `Ok` when all neighbours differ.
pub(crate) fn ensure_no_duplicates<T>(sorted: &[T], same: impl Fn(&T, &T) -> bool) -> Result<()> {
    match sorted.windows(2).position(|w| same(&w[0], &w[1])) {
        Some(i) => Err(Error::DuplicateEntry { index: i + 1 }),
        None => Ok(()),
    }
}
