//! Transaction submission: simulation, fees, nonce assignment, signing and broadcast.
//!
//! Nonces are assigned under one async mutex per handle, and only the assignment, signing and
//! `eth_sendRawTransaction` happen under it: simulation (`eth_estimateGas`) and fee estimation run
//! before it, concurrently, and receipts are awaited after it. The cached nonce advances only when
//! the node accepted the transaction, so a simulation failure or a rejected send never leaves a
//! gap; on any send failure the cache is dropped and re-read from the node (`pending`) next time.
//! This is what alloy's `CachedNonceManager` does not do (it advances before the send), which
//! is why the nonce is managed here and not by alloy's nonce filler.
//!
//! Retries go through [`crate::retry`] (backon), not alloy's `RetryBackoffLayer`: that layer
//! retries rate-limited requests (HTTP 429 and the providers' rate-limit codes), while the
//! policy here also covers refused connections, timeouts and 5xx answers, with one
//! configuration (`RetryPolicy`) for the EVM and Cosmos backends alike.

use std::time::Duration;

use alloy::eips::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use tokio::sync::Mutex;

use super::revert::{from_rpc, rpc, Target};
use crate::error::{Error, Result};
use crate::retry::{retry, RetryPolicy};

/// Gas limit = estimate * this / 100, plus [`GAS_HEADROOM`].
const GAS_MULTIPLIER_PERCENT: u64 = 120;
/// Added to every gas limit (covers warm/cold slot differences between estimate and inclusion).
const GAS_HEADROOM: u64 = 10_000;
/// Attempts to re-read the nonce and resend after the node reported a nonce conflict.
const NONCE_RESYNC_ATTEMPTS: u32 = 3;

/// Signs and submits transactions as one account.
pub(crate) struct Sender {
    provider: RootProvider<Ethereum>,
    wallet: EthereumWallet,
    from: Address,
    chain_id: u64,
    retry: RetryPolicy,
    /// Next nonce to use, `None` until read from the node (or after a failed send).
    nonce: Mutex<Option<u64>>,
}

impl Sender {
    pub(crate) fn new(
        provider: RootProvider<Ethereum>,
        wallet: EthereumWallet,
        from: Address,
        chain_id: u64,
        retry: RetryPolicy,
    ) -> Self {
        Sender {
            provider,
            wallet,
            from,
            chain_id,
            retry,
            nonce: Mutex::new(None),
        }
    }

    pub(crate) fn from(&self) -> Address {
        self.from
    }

    /// Read-only call; reverts are decoded against `target`'s errors.
    pub(crate) async fn call(&self, target: Target, to: Address, input: Vec<u8>) -> Result<Bytes> {
        let tx = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(input);
        rpc(&self.retry, target, || self.provider.call(tx.clone())).await
    }

    /// Simulate, sign and broadcast a call to `to` (or a contract creation when `to` is
    /// `None`). Returns the transaction hash once the node accepted it.
    pub(crate) async fn send(
        &self,
        target: Target,
        to: Option<Address>,
        input: Vec<u8>,
    ) -> Result<B256> {
        let mut base = TransactionRequest::default()
            .with_from(self.from)
            .with_chain_id(self.chain_id);
        base = match to {
            Some(to) => base.with_to(to).with_input(input),
            None => base.with_deploy_code(input),
        };

        // Simulation: every expected revert surfaces here as a typed error, before a nonce is
        // taken.
        let estimate = rpc(&self.retry, target, || {
            self.provider.estimate_gas(base.clone())
        })
        .await?;
        let gas_limit = estimate
            .saturating_mul(GAS_MULTIPLIER_PERCENT)
            .checked_div(100)
            .unwrap_or(estimate)
            .saturating_add(GAS_HEADROOM);
        let fees = rpc(&self.retry, Target::Other, || {
            self.provider.estimate_eip1559_fees()
        })
        .await?;
        let unsigned = base
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);

        let mut slot = self.nonce.lock().await;
        let mut resyncs = 0u32;
        loop {
            let nonce = match *slot {
                Some(n) => n,
                None => self.pending_nonce().await?,
            };
            let envelope = unsigned
                .clone()
                .with_nonce(nonce)
                .build(&self.wallet)
                .await
                .map_err(|e| Error::InvalidInput(format!("cannot sign the transaction: {e}")))?;
            let hash = *envelope.tx_hash();
            let raw = envelope.encoded_2718();
            match self.broadcast(target, &raw, hash).await {
                Ok(()) => {
                    *slot = Some(nonce.saturating_add(1));
                    return Ok(hash);
                }
                Err(e) => {
                    *slot = None;
                    let conflict = is_nonce_conflict(&e);
                    resyncs += 1;
                    if !conflict {
                        return Err(e);
                    }
                    if resyncs > NONCE_RESYNC_ATTEMPTS {
                        return Err(Error::Transport {
                            retryable: true,
                            message: format!(
                                "nonce conflict persisted after {NONCE_RESYNC_ATTEMPTS} resyncs"
                            ),
                            source: Some(Box::new(e)),
                        });
                    }
                    // Another sender used this key (or our cache was stale): re-read and retry.
                }
            }
        }
    }

    async fn pending_nonce(&self) -> Result<u64> {
        rpc(&self.retry, Target::Other, || {
            self.provider.get_transaction_count(self.from).pending()
        })
        .await
    }

    /// `eth_sendRawTransaction` with retries. A retried send may find its first attempt already
    /// accepted ("already known", or "nonce too low" because it was mined): that is success.
    async fn broadcast(&self, target: Target, raw: &[u8], hash: B256) -> Result<()> {
        let mut attempt = 0u32;
        retry(&self.retry, || {
            attempt += 1;
            let first = attempt == 1;
            async move {
                match self.provider.send_raw_transaction(raw).await {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let mapped = from_rpc(target, e);
                        if !first && self.node_knows(hash).await {
                            return Ok(());
                        }
                        if is_already_known(&mapped) {
                            return Ok(());
                        }
                        if is_nonce_conflict(&mapped) {
                            // Resending the same bytes cannot help: let `send` re-read the nonce.
                            return Err(Error::Transport {
                                retryable: false,
                                message: transport_message(&mapped).unwrap_or_default(),
                                source: Some(Box::new(mapped)),
                            });
                        }
                        Err(mapped)
                    }
                }
            }
        })
        .await
    }

    async fn node_knows(&self, hash: B256) -> bool {
        matches!(
            self.provider.get_transaction_by_hash(hash).await,
            Ok(Some(_))
        )
    }

    /// The provider, for receipts and reads.
    pub(crate) fn provider(&self) -> &RootProvider<Ethereum> {
        &self.provider
    }

    /// The retry policy.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }
}

fn transport_message(e: &Error) -> Option<String> {
    match e {
        Error::Transport { message, .. } => Some(message.to_ascii_lowercase()),
        _ => None,
    }
}

/// Recognised by the message, not a code: nodes report nonce and pool conflicts with generic
/// JSON-RPC codes (geth and reth `-32000`, anvil `-32003`, others `-32010`) and agree only on
/// these phrases, so there is no typed error to match (alloy's own `is_retry_err` reads
/// messages the same way). Reverts, which do have data, are decoded by type
/// (`revert::from_rpc`).
fn is_nonce_conflict(e: &Error) -> bool {
    transport_message(e).is_some_and(|m| {
        m.contains("nonce too low")
            || m.contains("nonce too high")
            || m.contains("replacement transaction underpriced")
            || m.contains("invalid nonce")
    })
}

fn is_already_known(e: &Error) -> bool {
    transport_message(e).is_some_and(|m| m.contains("already known"))
}

/// Poll interval while waiting for receipts.
pub(crate) const RECEIPT_POLL: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_conflicts_are_recognised() {
        assert!(is_nonce_conflict(&Error::transient(
            "JSON-RPC error -32003: nonce too low: next nonce 5, tx nonce 4"
        )));
        assert!(is_nonce_conflict(&Error::permanent(
            "replacement transaction underpriced"
        )));
        assert!(!is_nonce_conflict(&Error::InvalidProof));
        assert!(is_already_known(&Error::transient("already known")));
        assert!(!is_already_known(&Error::transient("nonce too low")));
    }
}
