//! The claims and explanations HTTP API (axum) over an oracle store: what wallets and
//! device owners call.
//!
//! | method and path | 200 response |
//! | --- | --- |
//! | `GET /v1/claims/{account}` | [`ClaimAnswer`]: the account's cumulative total and proof against the latest **published** root |
//! | `GET /v1/devices/{did}/epochs?from=0&limit=50` | `{"device": did, "epochs": [{"epoch", "status", "accepted", "rejected": {reason: count}, "receipt", "explanation"}]}`: the device's epochs from `from` on, `receipt` its [receipt](super::DeviceReceipt) or `null` |
//! | `GET /v1/epochs?from=0&limit=50` | `{"epochs": [<epoch row>, ...]}` in epoch order |
//! | `GET /v1/epochs/{n}` | `<epoch row>` |
//! | `GET /v1/epochs/{n}/vote` | this oracle's signed vote for the epoch ([`super::quorum::VoteJson`]: `oracle` did:key, `distributor`, `epoch`, `root`, `total`, `signature`), when it publishes through a quorum: what the other oracles fetch; 404 before it voted |
//! | `GET /v1/epochs/{n}/votes` | `{"epoch", "votes": [<vote with "agreed": bool>, ...]}`: every vote this oracle saw when the quorum formed, the dissenting ones with `"agreed": false` (empty before) |
//!
//! An epoch row is `{"epoch", "status" ("open", "closing", "computed", "published"),
//! "closer", "root" (hex or null), "epoch_total", "cumulative_total" (decimal strings or
//! null), "accepted", "publish_tx", "summary" (the summary JSON, see [`super`], or null)}`.
//! `limit` defaults to 50 and is capped at 500. The explanation is a one-line answer to
//! "why did my device earn nothing?" ([`explain`]).
//!
//! Errors are JSON `{"error": code, "message": text}`:
//!
//! | status | `error` | when |
//! | --- | --- | --- |
//! | 400 | `bad_request` | an account, device id, epoch number or query parameter that does not parse |
//! | 404 | `not_found` | nothing published yet, an account not in the tree, an unknown epoch |
//! | 503 | `unavailable` (with `Retry-After`) | the store cannot be reached now |
//! | 500 | `internal` | inconsistent stored data, a failed task |
//!
//! Every handler does its store work on the blocking pool ([`tokio::task::spawn_blocking`])
//! behind the one store mutex. A mutex poisoned by a panicking handler is taken over as is:
//! every store call is one transaction, so a panic cannot leave half of one behind. The
//! latest published claim tree is rebuilt once per published epoch and kept.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::{
    extract::{
        rejection::{PathRejection, QueryRejection},
        Path, Query, State,
    },
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use depin_attest::store::{DeviceEpoch, EpochRow, EpochStatus, OracleStore, StoreError};
use depin_core::{DeviceId, Epoch};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{explain, latest_published, ClaimAnswer, ClaimIndex, CloseError};
use crate::types::{Account, ClaimFormat};

/// The default page size.
const DEFAULT_LIMIT: usize = 50;
/// The largest page size.
const MAX_LIMIT: usize = 500;
/// `Retry-After` of a 503, seconds.
const RETRY_AFTER_SECS: u64 = 1;

/// The store shared by the handlers.
type SharedStore = Arc<Mutex<Box<dyn OracleStore>>>;

#[derive(Clone)]
struct ApiState {
    store: SharedStore,
    format: ClaimFormat,
    /// The latest published tree, rebuilt when another epoch is published.
    index: Arc<Mutex<Option<Arc<ClaimIndex>>>>,
}

/// The API's routes (see the [module documentation](self)) over `store`, answering claims
/// in `format` (the closer's and the chain's claim format). Serve it with `axum::serve`, or
/// [`Router::merge`] it into another router (the ingest endpoint's).
pub fn router(store: Arc<Mutex<Box<dyn OracleStore>>>, format: ClaimFormat) -> Router {
    let state = ApiState {
        store,
        format,
        index: Arc::new(Mutex::new(None)),
    };
    Router::new()
        .route("/v1/claims/{account}", get(claim))
        .route("/v1/devices/{did}/epochs", get(device_epochs))
        .route("/v1/epochs", get(epochs))
        .route("/v1/epochs/{n}", get(epoch))
        .route("/v1/epochs/{n}/vote", get(vote))
        .route("/v1/epochs/{n}/votes", get(votes))
        .with_state(state)
}

/// A refusal: status, code and message (JSON), `Retry-After` for 503.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::Unavailable(_) => ApiError::unavailable(message),
            _ => ApiError::internal(message),
        }
    }
}

impl From<CloseError> for ApiError {
    fn from(e: CloseError) -> Self {
        match e {
            CloseError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::SERVICE_UNAVAILABLE;
        let body = json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// `?from=&limit=`.
#[derive(Debug, Default, Deserialize)]
struct Page {
    from: Option<u64>,
    limit: Option<usize>,
}

impl Page {
    fn bounds(&self) -> (Epoch, usize) {
        (
            Epoch(self.from.unwrap_or(0)),
            self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
        )
    }
}

/// Run `f` on the store on the blocking pool.
async fn with_store<T, F>(state: &ApiState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn OracleStore, &ApiState) -> Result<T, ApiError> + Send + 'static,
{
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = state.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut **guard, &state)
    })
    .await
    .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
}

fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn page_param(page: Result<Query<Page>, QueryRejection>) -> Result<Page, ApiError> {
    page.map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The tree of `row`, from the cache when it is that epoch's.
fn index_for(
    store: &mut dyn OracleStore,
    state: &ApiState,
    row: &EpochRow,
) -> Result<Arc<ClaimIndex>, ApiError> {
    let cached = state
        .index
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(index) = cached {
        if index.epoch() == row.epoch && Some(index.root()) == row.root {
            return Ok(index);
        }
    }
    let index = Arc::new(ClaimIndex::from_row(store, state.format, row)?);
    *state.index.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&index));
    Ok(index)
}

/// `GET /v1/claims/{account}`.
async fn claim(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ClaimAnswer>, ApiError> {
    let text = path_param(path)?;
    let account = text
        .parse::<Account>()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not an account: {e}")))?;
    let answer = with_store(&state, move |store, state| {
        let row = latest_published(store)?
            .ok_or_else(|| ApiError::not_found("no epoch root is published yet"))?;
        let index = index_for(store, state, &row)?;
        index.claim(&account)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "{account} has no claim in the tree of {} (the latest published)",
                row.epoch
            ))
        })
    })
    .await?;
    Ok(Json(answer))
}

/// `GET /v1/devices/{did}/epochs`.
async fn device_epochs(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let text = path_param(path)?;
    let (from, limit) = page_param(page)?.bounds();
    let device = text
        .parse::<DeviceId>()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not a device id: {e}")))?;
    let epochs = with_store(&state, move |store, _| {
        let records = store.device_epochs(&device, from, limit)?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let status = store
                .epoch(record.epoch)?
                .map_or(EpochStatus::Open, |r| r.status);
            out.push(device_epoch_json(status, &record));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(
        json!({ "device": device.to_string(), "epochs": epochs }),
    ))
}

/// `GET /v1/epochs`.
async fn epochs(
    State(state): State<ApiState>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (from, limit) = page_param(page)?.bounds();
    let rows = with_store(&state, move |store, _| Ok(store.epochs(from, limit)?)).await?;
    let rows: Vec<Value> = rows.iter().map(row_json).collect();
    Ok(Json(json!({ "epochs": rows })))
}

/// `GET /v1/epochs/{n}`.
async fn epoch(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let text = path_param(path)?;
    let n = text
        .parse::<u64>()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not an epoch number: {e}")))?;
    let row = with_store(&state, move |store, _| Ok(store.epoch(Epoch(n))?)).await?;
    match row {
        Some(row) => Ok(Json(row_json(&row))),
        None => Err(ApiError::not_found(format!("no record of epoch {n}"))),
    }
}

fn epoch_param(path: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let text = path_param(path)?;
    text.parse::<u64>()
        .map_err(|e| ApiError::bad_request(format!("{text:?} is not an epoch number: {e}")))
}

async fn vote(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<super::quorum::VoteJson>, ApiError> {
    let n = epoch_param(path)?;
    let vote = with_store(&state, move |store, _| {
        Ok(super::quorum::stored_vote(store, Epoch(n))?)
    })
    .await?;
    match vote {
        Some(v) => Ok(Json(super::quorum::VoteJson::from_vote(&v))),
        None => Err(ApiError::not_found(format!("no vote for epoch {n} yet"))),
    }
}

async fn votes(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let n = epoch_param(path)?;
    let votes = with_store(&state, move |store, _| {
        Ok(super::quorum::stored_votes(store, Epoch(n))?)
    })
    .await?;
    Ok(Json(json!({ "epoch": n, "votes": votes })))
}

fn rejected_json(rejected: &[(depin_attest::Rejection, u64)]) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (reason, count) in rejected {
        let slot = out.entry(reason.code().into_owned()).or_insert(0);
        *slot = slot.saturating_add(*count);
    }
    out
}

fn device_epoch_json(status: EpochStatus, record: &DeviceEpoch) -> Value {
    let receipt = record.receipt.as_deref().map_or(Value::Null, |r| {
        serde_json::from_slice::<Value>(r).unwrap_or(Value::Null)
    });
    json!({
        "epoch": record.epoch.0,
        "status": status.as_str(),
        "accepted": record.accepted,
        "rejected": rejected_json(&record.rejected),
        "receipt": receipt,
        "explanation": explain(status, record),
    })
}

fn row_json(row: &EpochRow) -> Value {
    let summary = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_slice::<Value>(s).ok())
        .unwrap_or(Value::Null);
    json!({
        "epoch": row.epoch.0,
        "status": row.status.as_str(),
        "closer": row.closer,
        "root": row.root.map(hex::encode),
        "epoch_total": row.epoch_total.map(|v| v.to_string()),
        "cumulative_total": row.cumulative_total.map(|v| v.to_string()),
        "accepted": row.accepted,
        "publish_tx": row.publish_tx,
        "summary": summary,
    })
}
