//! The audits, from the store (and the ledger file) an oracle left: `recompute` (an epoch's
//! result again, compared with the stored one and the chain's root), `claim` (an account's
//! claim against the latest published root) and `receipt` (a device's stored receipt,
//! compared with a recompute). They open the store as another connection and read the
//! ledger file without its lock, so they also work while `serve` runs.

use depin_chains::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use depin_attest::store::{EpochResult, EpochRow, EpochStatus, OracleStore, StoreError};
use depin_chains::oracle::{ClaimIndex, CloseError, DeviceReceipt, EpochCloser, KindPools};
use depin_chains::{Account, EpochRoot};
use depin_core::{DeviceId, Epoch};
use indicatif::ProgressBar;

use crate::chain::LedgerView;
use crate::config::{Devices, OracleConfig};
use crate::error::Error;
use crate::Verdict;

fn store_error(e: StoreError) -> Error {
    Error::Store(e.to_string())
}

fn close_error(e: CloseError) -> Error {
    match e {
        CloseError::Store(e) => store_error(e),
        other => Error::Compute(other.to_string()),
    }
}

/// Lowercase hex of a root, `none` for none.
fn hex_root(root: Option<[u8; 32]>) -> String {
    root.map_or_else(|| "none".to_string(), hex::encode)
}

fn number<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "none".to_string(), |v| v.to_string())
}

/// A stored JSON blob, indented (as stored if it is not JSON).
fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Two receipt blobs say the same (as receipts when both decode, else byte for byte).
fn same_receipt(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<DeviceReceipt>(a),
        serde_json::from_slice::<DeviceReceipt>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// What every audit of a computed epoch needs.
struct Audit {
    config: OracleConfig,
    store: Box<dyn OracleStore>,
    closer: EpochCloser<KindPools>,
    view: LedgerView,
}

impl Audit {
    /// The configuration at `path`, its store and the closer `serve` uses (on a read-only
    /// view of the ledger).
    fn open(path: &Path) -> Result<Self, Error> {
        let config = OracleConfig::load(path, std::env::vars())?;
        let devices = Devices::load(&config)?;
        let store = config.open_existing_store()?;
        let view = LedgerView::new(
            config.chain.ledger.clone(),
            config.chain.format.claim_format(),
        );
        let closer = config.closer(Arc::new(view.clone()), devices.owners)?;
        Ok(Audit {
            config,
            store,
            closer,
            view,
        })
    }

    /// The epoch's row, which must hold a result.
    fn computed_row(&mut self, epoch: Epoch) -> Result<EpochRow, Error> {
        let row = self
            .store
            .epoch(epoch)
            .map_err(store_error)?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "epoch {} has no record in the store (no data, or not closed yet)",
                    epoch.0
                ))
            })?;
        match row.status {
            EpochStatus::Computed | EpochStatus::Published => Ok(row),
            status => Err(Error::NotFound(format!(
                "epoch {} is {}: it has no result yet",
                epoch.0,
                status.as_str()
            ))),
        }
    }

    /// Compute the epoch again, as the closer did, writing nothing (a spinner on a
    /// terminal's stderr meanwhile).
    fn recompute(&mut self, epoch: Epoch) -> Result<EpochResult, Error> {
        let spinner = ProgressBar::new_spinner();
        spinner.set_message(format!("recomputing epoch {}", epoch.0));
        spinner.enable_steady_tick(Duration::from_millis(100));
        let result = self.closer.recompute(self.store.as_mut(), epoch);
        spinner.finish_and_clear();
        result.map_err(close_error)
    }

    /// The root the ledger has for the epoch.
    fn chain_root(&self, epoch: Epoch) -> Result<Option<EpochRoot>, Error> {
        let chain_error = |e: String| {
            Error::Chain(format!(
                "ledger {}: {e}",
                self.config.chain.ledger.display()
            ))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| chain_error(format!("cannot start the async runtime: {e}")))?;
        runtime
            .block_on(self.view.epoch_root(epoch))
            .map_err(|e| chain_error(e.to_string()))
    }
}

/// `recompute`: the epoch's result computed again, compared with the stored one (root,
/// totals, accepted count, claim tree, receipts) and with the ledger's root.
pub(crate) fn recompute(path: &Path, epoch: u64) -> Result<Verdict, Error> {
    let mut audit = Audit::open(path)?;
    let e = Epoch(epoch);
    let row = audit.computed_row(e)?;
    let result = audit.recompute(e)?;
    let chain = audit.chain_root(e)?;
    let stored_tree = audit.store.tree(e).map_err(store_error)?;
    let mut receipts_differing = 0usize;
    for (device, recomputed) in &result.receipts {
        let stored = audit.store.receipt(e, device).map_err(store_error)?;
        if !stored.is_some_and(|s| same_receipt(&s, recomputed)) {
            receipts_differing += 1;
        }
    }

    let mut differences: Vec<&str> = Vec::new();
    if row.root != Some(result.root) {
        differences.push("root");
    }
    if row.epoch_total != Some(result.epoch_total) {
        differences.push("epoch_total");
    }
    if row.cumulative_total != Some(result.cumulative_total) {
        differences.push("cumulative_total");
    }
    if row.accepted != Some(result.accepted) {
        differences.push("accepted");
    }
    if stored_tree.as_deref() != Some(result.tree.as_slice()) {
        differences.push("claim tree");
    }
    if receipts_differing > 0 {
        differences.push("receipts");
    }
    let empty = result.root == [0u8; 32];
    let chain_agrees = match &chain {
        Some(r) => r.root == result.root && r.total == result.cumulative_total,
        // an empty tree is never published; a computed epoch may not be yet
        None => empty || row.status != EpochStatus::Published,
    };
    if !chain_agrees {
        differences.push("chain root");
    }

    println!(
        "epoch {epoch}: {}, closed by {}",
        row.status.as_str(),
        row.closer.as_deref().unwrap_or("?")
    );
    println!(
        "stored:     root {}  epoch_total {}  cumulative_total {}  accepted {}",
        hex_root(row.root),
        number(row.epoch_total),
        number(row.cumulative_total),
        number(row.accepted)
    );
    println!(
        "recomputed: root {}  epoch_total {}  cumulative_total {}  accepted {}",
        hex_root(Some(result.root)),
        result.epoch_total,
        result.cumulative_total,
        result.accepted
    );
    match &chain {
        Some(r) => println!(
            "chain:      root {}  total {}",
            hex_root(Some(r.root)),
            r.total
        ),
        None if empty => println!("chain:      no root (an empty tree is never published)"),
        None => println!("chain:      no root published for epoch {epoch}"),
    }
    println!(
        "receipts:   {} recomputed, {receipts_differing} differ from the stored ones",
        result.receipts.len()
    );
    if differences.is_empty() {
        println!("result: match (the recomputed epoch equals the stored result and the chain)");
        Ok(Verdict::Same)
    } else {
        println!("result: MISMATCH in {}", differences.join(", "));
        Ok(Verdict::Differs)
    }
}

/// `claim`: the account's claim against the latest published root, as JSON.
pub(crate) fn claim(path: &Path, account: &str) -> Result<(), Error> {
    let config = OracleConfig::load(path, std::env::vars())?;
    let account: Account = account
        .parse()
        .map_err(|e| Error::Input(format!("--account {account:?}: {e}")))?;
    let mut store = config.open_existing_store()?;
    let index = ClaimIndex::load(store.as_mut(), config.chain.format.claim_format())
        .map_err(close_error)?
        .ok_or_else(|| Error::NotFound("no epoch root is published yet".to_string()))?;
    let answer = index.claim(&account).map_err(close_error)?.ok_or_else(|| {
        Error::NotFound(format!(
            "{account} has no claim in the tree of epoch {} (the latest published)",
            index.epoch().0
        ))
    })?;
    let json = serde_json::to_string_pretty(&answer)
        .map_err(|e| Error::Compute(format!("the claim does not serialise: {e}")))?;
    println!("{json}");
    Ok(())
}

/// `receipt`: the device's stored receipt for the epoch (JSON on stdout), compared with a
/// recompute (the verdict on stderr).
pub(crate) fn receipt(path: &Path, epoch: u64, did: &str) -> Result<Verdict, Error> {
    let device: DeviceId = did
        .parse()
        .map_err(|e| Error::Input(format!("--device {did:?}: {e}")))?;
    let mut audit = Audit::open(path)?;
    let e = Epoch(epoch);
    audit.computed_row(e)?;
    let stored = audit.store.receipt(e, &device).map_err(store_error)?;
    let result = audit.recompute(e)?;
    let recomputed = result
        .receipts
        .iter()
        .find(|(d, _)| *d == device)
        .map(|(_, bytes)| bytes.as_slice());
    match (stored.as_deref(), recomputed) {
        (None, None) => Err(Error::NotFound(format!(
            "{device} has no receipt for epoch {epoch}: it scored nothing (GET \
             /v1/devices/{device}/epochs on the oracle says why)"
        ))),
        (Some(s), Some(r)) if same_receipt(s, r) => {
            println!("{}", pretty(s));
            eprintln!("receipt: matches the recompute of epoch {epoch}");
            Ok(Verdict::Same)
        }
        (s, r) => {
            println!("{}", s.map_or_else(|| "null".to_string(), pretty));
            eprintln!(
                "receipt: MISMATCH: the recompute of epoch {epoch} gives {}",
                r.map_or_else(|| "no receipt".to_string(), pretty)
            );
            Ok(Verdict::Differs)
        }
    }
}
