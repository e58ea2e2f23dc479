//! Mapping of node answers onto [`crate::Error`]: contract custom errors (revert data) to the
//! typed variants, JSON-RPC and HTTP failures to retryable or permanent transport errors.

use alloy::primitives::{Address, U256};
use alloy::sol_types::{GenericContractError, SolInterface};
use alloy::transports::{RpcError, TransportErrorKind};
use depin_core::{Epoch, EvmAddress};

use super::bindings::{DeviceRegistry, RewardDistributor};
use std::future::IntoFuture;

use crate::error::Error;
use crate::retry::{retry, RetryPolicy};
use crate::types::Account;

/// Which contract a call went to, so revert data is decoded against the right error set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Registry,
    Distributor,
    Other,
}

pub(crate) fn u256_to_u128(v: U256, what: &str) -> Result<u128, Error> {
    u128::try_from(v).map_err(|_| Error::InvalidInput(format!("{what} {v} does not fit in u128")))
}

fn sat_u128(v: U256) -> u128 {
    u128::try_from(v).unwrap_or(u128::MAX)
}

fn sat_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn account(a: Address) -> Account {
    Account::Evm(EvmAddress(a.into_array()))
}

/// Decode revert `data` returned by `target` into the typed error it stands for.
pub(crate) fn from_revert_data(target: Target, data: &[u8]) -> Error {
    if target == Target::Registry {
        if let Ok(e) = DeviceRegistry::DeviceRegistryErrors::abi_decode(data) {
            return from_registry_error(e);
        }
    }
    if target == Target::Distributor {
        if let Ok(e) = RewardDistributor::RewardDistributorErrors::abi_decode(data) {
            return from_distributor_error(e);
        }
    }
    let reason = match GenericContractError::abi_decode(data) {
        Ok(e) => e.to_string(),
        Err(_) => format!("revert data 0x{}", alloy::hex::encode(data)),
    };
    Error::Reverted { reason }
}

fn from_registry_error(e: DeviceRegistry::DeviceRegistryErrors) -> Error {
    use DeviceRegistry::DeviceRegistryErrors as E;
    match e {
        E::AlreadyRegistered(x) => Error::AlreadyRegistered(format!("device {}", x.device)),
        E::AlreadyRevoked(x) => Error::AlreadyRevoked(format!("device {}", x.device)),
        E::InvalidSignature(_) => Error::InvalidProof,
        E::Expired(x) => Error::Expired {
            deadline: sat_u64(x.deadline),
        },
        E::DeadlineTooFar(x) => Error::DeadlineTooFar {
            deadline: sat_u64(x.deadline),
            max: sat_u64(x.max),
        },
        E::NonceMismatch(x) => Error::InvalidInput(format!(
            "nonce {} of device {} is not its current nonce {} (re-read the nonce and sign again)",
            x.nonce, x.device, x.current
        )),
        E::NotAuthorized(x) => Error::Unauthorized(format!(
            "{} is neither the device owner nor an admin",
            x.caller
        )),
        E::NotFound(x) => Error::NotFound(format!("device {}", x.device)),
        E::ZeroAddress(_) => Error::InvalidInput("zero address".into()),
        E::AccessControlUnauthorizedAccount(x) => {
            Error::Unauthorized(format!("{} lacks role {}", x.account, x.neededRole))
        }
        E::ERC721InvalidReceiver(x) => Error::InvalidInput(format!(
            "owner {} is a contract that does not accept ERC-721 tokens",
            x.receiver
        )),
        E::UnsupportedKeyType(x) => Error::Unsupported(format!(
            "the EVM registry cannot take key type {} this way (Ed25519 devices join through a maker)",
            x.keyType
        )),
        E::MakerExists(x) => Error::AlreadyRegistered(format!("maker {}", x.maker)),
        E::UnknownMaker(x) => Error::NotFound(format!("maker {}", x.maker)),
        E::MakerRevoked(x) => Error::Unauthorized(format!("maker {} was revoked", x.maker)),
        E::QuotaExceeded(x) => Error::QuotaExceeded {
            maker: x.maker.to_string(),
            quota: x.quota,
        },
        E::InvalidMakerName(_) => {
            Error::InvalidInput("maker name must be 1 to 64 bytes".into())
        }
        E::MakersOnly(_) => Error::Unauthorized(
            "this network onboards devices only through approved makers".into(),
        ),
        E::InvalidMakerSignature(_) => Error::InvalidProof,
        E::PublicKeyMismatch(x) => Error::InvalidInput(format!(
            "the public key is not the key of device {}",
            x.device
        )),
        E::DeviceIdMismatch(x) => Error::InvalidInput(format!(
            "device id hash {} is not the one derived from the public key ({})",
            x.deviceId, x.expected
        )),
        E::RevokedDeviceLocked(x) => Error::AlreadyRevoked(format!(
            "device {} is revoked; its token can no longer move",
            x.device
        )),
        E::AccessControlEnforcedDefaultAdminRules(_) => Error::Unauthorized(
            "the default admin role moves only by the two-step delayed handover".into(),
        ),
        E::AccessControlInvalidDefaultAdmin(x) => Error::Unauthorized(format!(
            "{} is not the pending default admin",
            x.defaultAdmin
        )),
        E::AccessControlEnforcedDefaultAdminDelay(x) => Error::Unauthorized(format!(
            "the default admin handover is not allowed before {} (unix seconds)",
            x.schedule
        )),
        E::AccessControlBadConfirmation(_) => {
            Error::Unauthorized("roles can only be renounced by their holder".into())
        }
        other => Error::Reverted {
            reason: format!("{other:?}"),
        },
    }
}

fn from_distributor_error(e: RewardDistributor::RewardDistributorErrors) -> Error {
    use RewardDistributor::RewardDistributorErrors as E;
    match e {
        E::EpochAlreadyPublished(x) => Error::EpochAlreadyPublished {
            epoch: Epoch(x.epoch),
        },
        E::EpochNotIncreasing(x) => Error::EpochNotIncreasing {
            epoch: Epoch(x.epoch),
            latest: Epoch(x.latestEpoch),
        },
        E::ZeroRoot(_) => Error::InvalidInput("zero root".into()),
        E::NoRoot(_) => Error::NoRoot,
        E::InvalidProof(_) => Error::InvalidProof,
        E::NothingToClaim(x) => Error::AlreadyClaimed {
            account: account(x.account),
            cumulative: sat_u128(x.cumulativeAmount),
            claimed: sat_u128(x.alreadyClaimed),
        },
        E::InsufficientFunds(x) => Error::InsufficientFunds {
            available: sat_u128(x.available),
            required: sat_u128(x.required),
        },
        E::ZeroAddress(_) => Error::InvalidInput("zero address".into()),
        E::AccessControlUnauthorizedAccount(x) => {
            Error::Unauthorized(format!("{} lacks role {}", x.account, x.neededRole))
        }
        E::EpochGapTooLarge(x) => Error::EpochGapTooLarge {
            epoch: Epoch(x.epoch),
            max: Epoch(x.latestEpoch.saturating_add(x.maxGap)),
        },
        E::TotalBelowClaimed(x) => Error::InvalidInput(format!(
            "total {} is below the {} already claimed (a total is the sum over the tree of \
             max(cumulative, claimed))",
            x.total, x.totalClaimed
        )),
        E::ZeroAmount(_) => Error::InvalidInput("zero amount".into()),
        E::RecoveryAlreadyProposed(x) => Error::InvalidInput(format!(
            "a recovery of {} to {} is already pending (executable from {}); cancel it first",
            x.amount, x.to, x.executableAt
        )),
        E::NoRecoveryProposed(_) => Error::NotFound("no recovery is pending".into()),
        E::RecoveryNotReady(x) => Error::InvalidInput(format!(
            "the pending recovery cannot be executed before {} (unix seconds)",
            x.executableAt
        )),
        E::TotalExceeded(x) => Error::InvalidInput(format!(
            "the claim would bring the total claimed to {}, above the published total {}",
            x.newTotalClaimed, x.publishedTotal
        )),
        E::EnforcedPause(_) => Error::Paused("the reward distributor is paused".into()),
        E::ExpectedPause(_) => Error::InvalidInput("the reward distributor is not paused".into()),
        E::QuorumRequired(_) => Error::Unauthorized(
            "an oracle set is in effect: roots need a quorum of its signatures".into(),
        ),
        E::NoOracleSet(_) => {
            Error::Unsupported("no oracle set is in effect on this distributor".into())
        }
        E::TotalTooLarge(x) => Error::InvalidInput(format!(
            "total {} does not fit the 128 bits of a root statement",
            x.total
        )),
        E::BadSignatureLength(x) => Error::InvalidInput(format!(
            "{} bytes of signatures is not a whole number of 65-byte signatures",
            x.length
        )),
        E::InvalidSignature(_) => Error::InvalidProof,
        E::SignersNotSorted(x) => Error::InvalidInput(format!(
            "signature {} repeats a signer or is out of address order",
            x.index
        )),
        E::NotAnOracle(x) => {
            Error::Unauthorized(format!("{} is not in the oracle set in effect", x.signer))
        }
        E::QuorumNotReached(x) => Error::Unauthorized(format!(
            "{} oracle signatures, {} needed",
            x.count, x.threshold
        )),
        E::InvalidOracleSet(_) => Error::InvalidInput(
            "an oracle set needs 1 to 64 distinct non-zero oracles, a strict-majority threshold \
             and a network id of 1 to 64 bytes"
                .into(),
        ),
        E::OracleSetTooSoon(x) => Error::InvalidInput(format!(
            "an oracle set takes effect at least 2 days after it is scheduled: {} is before {}",
            x.effectiveAt, x.earliest
        )),
        E::OracleSetOutOfOrder(x) => Error::InvalidInput(format!(
            "an oracle set cannot take effect ({}) before the one in effect",
            x.effectiveAt
        )),
        E::AccessControlEnforcedDefaultAdminRules(_) => Error::Unauthorized(
            "the default admin role moves only by the two-step delayed handover".into(),
        ),
        E::AccessControlInvalidDefaultAdmin(x) => Error::Unauthorized(format!(
            "{} is not the pending default admin",
            x.defaultAdmin
        )),
        E::AccessControlEnforcedDefaultAdminDelay(x) => Error::Unauthorized(format!(
            "the default admin handover is not allowed before {} (unix seconds)",
            x.schedule
        )),
        E::AccessControlBadConfirmation(_) => {
            Error::Unauthorized("roles can only be renounced by their holder".into())
        }
        other => Error::Reverted {
            reason: format!("{other:?}"),
        },
    }
}

/// One node call under `policy`: retried while the failure is retryable, failures mapped with
/// [`from_rpc`] (reverts decoded against `target`'s errors). `call` builds a fresh request for
/// each attempt.
pub(crate) async fn rpc<T, F, C>(
    policy: &RetryPolicy,
    target: Target,
    mut call: F,
) -> Result<T, Error>
where
    F: FnMut() -> C,
    C: IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
{
    retry(policy, || {
        let pending = call().into_future();
        async move { pending.await.map_err(|e| from_rpc(target, e)) }
    })
    .await
}

/// Map an alloy transport error (a failed `eth_call`, `eth_estimateGas`,
/// `eth_sendRawTransaction`, ...) made to `target` onto [`Error`].
pub(crate) fn from_rpc(target: Target, e: RpcError<TransportErrorKind>) -> Error {
    match &e {
        RpcError::ErrorResp(payload) => {
            if let Some(data) = payload.as_revert_data() {
                return from_revert_data(target, &data);
            }
            let msg = payload.message.to_ascii_lowercase();
            if msg.contains("execution reverted") || msg.contains("revert") {
                return Error::Reverted {
                    reason: payload.message.to_string(),
                };
            }
            if msg.contains("insufficient funds") {
                return fee_error(&payload.message);
            }
            // Nonce races and full pools are worth another try (the sender refreshes its nonce).
            let retryable = payload.is_retry_err()
                || msg.contains("nonce too low")
                || msg.contains("nonce too high")
                || msg.contains("replacement transaction underpriced")
                || msg.contains("already known")
                || msg.contains("txpool is full");
            Error::Transport {
                retryable,
                message: format!("JSON-RPC error {}: {}", payload.code, payload.message),
                source: Some(Box::new(e)),
            }
        }
        RpcError::Transport(kind) => {
            let retryable = kind.is_retry_err()
                || match kind {
                    TransportErrorKind::HttpError(h) => h.status >= 500 || h.status == 408,
                    TransportErrorKind::Custom(inner) => {
                        // reqwest failures: refused/reset connections and timeouts are transient.
                        inner
                            .downcast_ref::<reqwest::Error>()
                            .map(|r| r.is_connect() || r.is_timeout() || r.is_request())
                            .unwrap_or(false)
                    }
                    _ => false,
                };
            Error::Transport {
                retryable,
                message: format!("transport: {kind}"),
                source: Some(Box::new(e)),
            }
        }
        RpcError::NullResp => Error::transient("the node returned a null response"),
        _ => Error::Transport {
            retryable: false,
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}

/// [`Error::InsufficientFunds`] for a node's "cannot pay for gas" message. Nodes word it as
/// `insufficient funds for gas * price + value: have X want Y` (geth, anvil); the numbers are
/// kept when they are there, zero otherwise.
fn fee_error(message: &str) -> Error {
    let num_after = |key: &str| -> Option<u128> {
        let start = message.find(key)? + key.len();
        let digits: String = message[start..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    let (available, required) = match (num_after("have"), num_after("want")) {
        (Some(have), Some(want)) => (have, want),
        _ => (0, 0),
    };
    Error::InsufficientFunds {
        available,
        required,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::aliases::U48;
    use alloy::primitives::B256;
    use alloy::sol_types::SolError;

    #[test]
    fn registry_errors_map_to_typed_variants() {
        let dev = Address::repeat_byte(0x11);
        let data = DeviceRegistry::AlreadyRegistered { device: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::AlreadyRegistered(_)
        ));
        let data = DeviceRegistry::InvalidSignature {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::InvalidProof
        ));
        let data = DeviceRegistry::Expired {
            deadline: U256::from(7u64),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::Expired { deadline: 7 }
        ));
        let data = DeviceRegistry::NotFound { device: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::NotFound(_)
        ));
        let data = DeviceRegistry::NotAuthorized { caller: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::Unauthorized(_)
        ));
        let data = DeviceRegistry::AlreadyRevoked { device: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::AlreadyRevoked(_)
        ));
    }

    #[test]
    fn distributor_errors_map_to_typed_variants() {
        let acct = Address::repeat_byte(0x22);
        let data = RewardDistributor::NothingToClaim {
            account: acct,
            cumulativeAmount: U256::from(5u64),
            alreadyClaimed: U256::from(5u64),
        }
        .abi_encode();
        match from_revert_data(Target::Distributor, &data) {
            Error::AlreadyClaimed {
                account: a,
                cumulative,
                claimed,
            } => {
                assert_eq!(a, account(acct));
                assert_eq!((cumulative, claimed), (5, 5));
            }
            other => panic!("unexpected {other:?}"),
        }
        let data = RewardDistributor::InsufficientFunds {
            available: U256::from(1u64),
            required: U256::from(9u64),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::InsufficientFunds {
                available: 1,
                required: 9
            }
        ));
        let data = RewardDistributor::EpochNotIncreasing {
            epoch: 2,
            latestEpoch: 3,
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::EpochNotIncreasing {
                epoch: Epoch(2),
                latest: Epoch(3)
            }
        ));
        let data = RewardDistributor::EpochAlreadyPublished { epoch: 4 }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::EpochAlreadyPublished { epoch: Epoch(4) }
        ));
        for data in [
            RewardDistributor::NoRoot {}.abi_encode(),
            RewardDistributor::InvalidProof {}.abi_encode(),
            RewardDistributor::ZeroRoot {}.abi_encode(),
        ] {
            assert!(matches!(
                from_revert_data(Target::Distributor, &data),
                Error::NoRoot | Error::InvalidProof | Error::InvalidInput(_)
            ));
        }
        let data = RewardDistributor::AccessControlUnauthorizedAccount {
            account: acct,
            neededRole: Default::default(),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::Unauthorized(_)
        ));
    }

    #[test]
    fn hardened_registry_errors_map_to_typed_variants() {
        let dev = Address::repeat_byte(0x11);
        let data = DeviceRegistry::UnsupportedKeyType { keyType: 0 }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::Unsupported(_)
        ));
        let data = DeviceRegistry::PublicKeyMismatch { device: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::InvalidInput(_)
        ));
        let data = DeviceRegistry::DeviceIdMismatch {
            deviceId: B256::repeat_byte(1),
            expected: B256::repeat_byte(2),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::InvalidInput(_)
        ));
        let data = DeviceRegistry::RevokedDeviceLocked { device: dev }.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::AlreadyRevoked(_)
        ));
        for data in [
            DeviceRegistry::AccessControlEnforcedDefaultAdminRules {}.abi_encode(),
            DeviceRegistry::AccessControlInvalidDefaultAdmin { defaultAdmin: dev }.abi_encode(),
            DeviceRegistry::AccessControlEnforcedDefaultAdminDelay {
                schedule: U48::from_limbs([7]),
            }
            .abi_encode(),
        ] {
            assert!(matches!(
                from_revert_data(Target::Registry, &data),
                Error::Unauthorized(_)
            ));
        }
    }

    #[test]
    fn hardened_distributor_errors_map_to_typed_variants() {
        let data = RewardDistributor::TotalBelowClaimed {
            total: U256::from(1u64),
            totalClaimed: U256::from(800u64),
        }
        .abi_encode();
        match from_revert_data(Target::Distributor, &data) {
            Error::InvalidInput(msg) => assert!(msg.contains("800"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
        let data = RewardDistributor::TotalExceeded {
            newTotalClaimed: U256::from(9u64),
            publishedTotal: U256::from(8u64),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::InvalidInput(_)
        ));
        let data = RewardDistributor::EnforcedPause {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::Paused(_)
        ));
        let data = RewardDistributor::ExpectedPause {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::InvalidInput(_)
        ));
        for data in [
            RewardDistributor::AccessControlEnforcedDefaultAdminRules {}.abi_encode(),
            RewardDistributor::AccessControlInvalidDefaultAdmin {
                defaultAdmin: Address::repeat_byte(3),
            }
            .abi_encode(),
            RewardDistributor::AccessControlEnforcedDefaultAdminDelay {
                schedule: U48::from_limbs([7]),
            }
            .abi_encode(),
        ] {
            assert!(matches!(
                from_revert_data(Target::Distributor, &data),
                Error::Unauthorized(_)
            ));
        }
        // Pausing is not a registry error: decoded against the registry it is a plain revert.
        let data = RewardDistributor::EnforcedPause {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::Reverted { .. }
        ));
    }

    #[test]
    fn issue_23_registry_errors_map_to_typed_variants() {
        let dev = Address::repeat_byte(0x11);
        let data = DeviceRegistry::DeadlineTooFar {
            deadline: U256::from(5_000_000u64),
            max: U256::from(4_000_000u64),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::DeadlineTooFar {
                deadline: 5_000_000,
                max: 4_000_000
            }
        ));
        // A deadline of 2^256-1 saturates instead of wrapping.
        let data = DeviceRegistry::DeadlineTooFar {
            deadline: U256::MAX,
            max: U256::from(4_000_000u64),
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Registry, &data),
            Error::DeadlineTooFar {
                deadline: u64::MAX,
                max: 4_000_000
            }
        ));
        let data = DeviceRegistry::NonceMismatch {
            device: dev,
            nonce: U256::from(0u8),
            current: U256::from(1u8),
        }
        .abi_encode();
        match from_revert_data(Target::Registry, &data) {
            Error::InvalidInput(msg) => assert!(msg.contains("nonce 0"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
        // Registry errors are not decoded against the distributor's error set.
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::Reverted { .. }
        ));
    }

    #[test]
    fn issue_23_distributor_errors_map_to_typed_variants() {
        let data = RewardDistributor::EpochGapTooLarge {
            epoch: u64::MAX,
            latestEpoch: 1,
            maxGap: 366,
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::EpochGapTooLarge {
                epoch: Epoch(u64::MAX),
                max: Epoch(367)
            }
        ));
        // The bound saturates at u64::MAX.
        let data = RewardDistributor::EpochGapTooLarge {
            epoch: u64::MAX,
            latestEpoch: u64::MAX - 1,
            maxGap: 366,
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::EpochGapTooLarge {
                max: Epoch(u64::MAX),
                ..
            }
        ));
        let data = RewardDistributor::ZeroAmount {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::InvalidInput(_)
        ));
        let data = RewardDistributor::RecoveryAlreadyProposed {
            to: Address::repeat_byte(4),
            amount: U256::from(10u8),
            executableAt: 99,
        }
        .abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::InvalidInput(_)
        ));
        let data = RewardDistributor::NoRecoveryProposed {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::NotFound(_)
        ));
        let data = RewardDistributor::RecoveryNotReady { executableAt: 1234 }.abi_encode();
        match from_revert_data(Target::Distributor, &data) {
            Error::InvalidInput(msg) => assert!(msg.contains("1234"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_and_string_reverts_keep_a_reason() {
        let data = alloy::sol_types::Revert::from("boom").abi_encode();
        match from_revert_data(Target::Other, &data) {
            Error::Reverted { reason } => assert!(reason.contains("boom"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
        // Registry errors are not decoded against the distributor's error set.
        let data = DeviceRegistry::InvalidSignature {}.abi_encode();
        assert!(matches!(
            from_revert_data(Target::Distributor, &data),
            Error::Reverted { .. }
        ));
        match from_revert_data(Target::Other, &[0xde, 0xad]) {
            Error::Reverted { reason } => assert!(reason.contains("dead"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn fee_errors_keep_their_numbers() {
        let e = fee_error("insufficient funds for gas * price + value: have 10 want 25");
        assert!(matches!(
            e,
            Error::InsufficientFunds {
                available: 10,
                required: 25
            }
        ));
        assert!(matches!(
            fee_error("insufficient funds"),
            Error::InsufficientFunds {
                available: 0,
                required: 0
            }
        ));
    }
}
