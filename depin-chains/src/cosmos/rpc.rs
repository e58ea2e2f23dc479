//! A minimal CometBFT JSON-RPC client over HTTP (reqwest 0.13, the client alloy uses too):
//! `abci_query` (account, simulation, contract queries), `broadcast_tx_sync` and `tx`.
//!
//! Why not cosmrs's `rpc` feature: it pulls `tendermint-rpc` 0.40 with its own HTTP/TLS stack
//! (a second reqwest, hyper and rustls generation besides the one alloy already brings); the
//! three calls we need are plain JSON over HTTP. See `docs/chains-evm-cosmos.md`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::retry::{retry, RetryPolicy};

/// Timeout of one HTTP request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The result of an `abci_query`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbciResponse {
    /// ABCI code, 0 on success.
    pub code: u32,
    /// Log (the error text when `code != 0`).
    pub log: String,
    /// The answer bytes.
    pub value: Vec<u8>,
}

/// The result of `broadcast_tx_sync` (CheckTx).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckTxResponse {
    /// ABCI code, 0 when the transaction entered the mempool.
    pub code: u32,
    /// Codespace of a failure (`sdk`, `wasm`, ...).
    pub codespace: String,
    /// Log (the error text when `code != 0`).
    pub log: String,
}

/// A committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxResult {
    /// Block height.
    pub height: u64,
    /// DeliverTx / FinalizeBlock code, 0 on success.
    pub code: u32,
    /// Log (the error text when `code != 0`).
    pub log: String,
}

/// CometBFT RPC client.
#[derive(Debug)]
pub struct CometRpc {
    client: reqwest::Client,
    url: reqwest::Url,
    retry: RetryPolicy,
    next_id: AtomicU64,
}

fn transport(retryable: bool, message: String, source: Option<reqwest::Error>) -> Error {
    Error::Transport {
        retryable,
        message,
        source: source.map(|e| Box::new(e) as crate::error::BoxError),
    }
}

fn as_u32(v: &Value) -> u32 {
    match v {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(u32::MAX),
        Value::String(s) => s.parse().unwrap_or(u32::MAX),
        _ => 0,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

impl CometRpc {
    /// A client for `url` (`http://host:26657`).
    pub fn new(url: &str, retry: RetryPolicy) -> Result<Self> {
        let url: reqwest::Url = url
            .parse()
            .map_err(|e| Error::Config(format!("invalid RPC URL {url:?}: {e}")))?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => {
                return Err(Error::Config(
                    "https RPC URLs need the `tls` cargo feature of depin-chains".into(),
                ))
            }
            other => {
                return Err(Error::Config(format!(
                    "unsupported RPC URL scheme {other:?}"
                )))
            }
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(CometRpc {
            client,
            url,
            retry,
            next_id: AtomicU64::new(1),
        })
    }

    /// One JSON-RPC call, retried on retryable transport errors. Returns `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        retry(&self.retry, || self.call_once(method, params.clone())).await
    }

    async fn call_once(&self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                let retryable = e.is_connect() || e.is_timeout() || e.is_request();
                transport(retryable, format!("{method}: {e}"), Some(e))
            })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport(true, format!("{method}: reading the body: {e}"), Some(e)))?;
        if !status.is_success() {
            let retryable =
                status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
            return Err(transport(
                retryable,
                format!(
                    "{method}: HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
                None,
            ));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            transport(
                false,
                format!("{method}: the answer is not JSON: {e}"),
                None,
            )
        })?;
        if let Some(err) = v.get("error") {
            let data = err.get("data").map(as_string).unwrap_or_default();
            let message = err.get("message").map(as_string).unwrap_or_default();
            return Err(transport(
                false,
                format!("{method}: JSON-RPC error: {message} {data}"),
                None,
            ));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| transport(false, format!("{method}: no result"), None))
    }

    /// `abci_query` at the latest height.
    pub async fn abci_query(&self, path: &str, data: &[u8]) -> Result<AbciResponse> {
        let result = self
            .call(
                "abci_query",
                json!({"path": path, "data": hex::encode(data), "prove": false}),
            )
            .await?;
        let r = &result["response"];
        let value = match r.get("value") {
            Some(Value::String(s)) => B64.decode(s).map_err(|e| {
                transport(
                    false,
                    format!("abci_query {path}: value is not base64: {e}"),
                    None,
                )
            })?,
            _ => Vec::new(),
        };
        Ok(AbciResponse {
            code: r.get("code").map(as_u32).unwrap_or(0),
            log: r.get("log").map(as_string).unwrap_or_default(),
            value,
        })
    }

    /// `broadcast_tx_sync`: submit and wait for CheckTx.
    pub async fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<CheckTxResponse> {
        let r = self
            .call("broadcast_tx_sync", json!({"tx": B64.encode(tx)}))
            .await?;
        Ok(CheckTxResponse {
            code: r.get("code").map(as_u32).unwrap_or(0),
            codespace: r.get("codespace").map(as_string).unwrap_or_default(),
            log: r.get("log").map(as_string).unwrap_or_default(),
        })
    }

    /// `tx` by hash: `None` while the node does not know it as committed.
    pub async fn tx(&self, hash: &[u8; 32]) -> Result<Option<TxResult>> {
        match self
            .call("tx", json!({"hash": B64.encode(hash), "prove": false}))
            .await
        {
            Ok(r) => {
                let res = &r["tx_result"];
                Ok(Some(TxResult {
                    height: r.get("height").and_then(as_u64).unwrap_or(0),
                    code: res.get("code").map(as_u32).unwrap_or(0),
                    log: res.get("log").map(as_string).unwrap_or_default(),
                }))
            }
            Err(Error::Transport {
                retryable: false,
                message,
                ..
            }) if message.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(matches!(
            CometRpc::new("ftp://x", RetryPolicy::none()),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            CometRpc::new("not a url", RetryPolicy::none()),
            Err(Error::Config(_))
        ));
        assert!(CometRpc::new("http://127.0.0.1:26657", RetryPolicy::none()).is_ok());
    }

    #[test]
    fn numbers_come_as_numbers_or_strings() {
        assert_eq!(as_u32(&json!(5)), 5);
        assert_eq!(as_u32(&json!("32")), 32);
        assert_eq!(as_u32(&Value::Null), 0);
        assert_eq!(as_u64(&json!("123")), Some(123));
        assert_eq!(as_u64(&json!(-1)), None);
    }
}
