//! The HTTP ingest endpoint (axum; feature `http`).
//!
//! | method and path | request body | 200 response |
//! | --- | --- | --- |
//! | `POST /v1/frames` | one raw frame, `Content-Type: application/octet-stream` | [`OneResponse`] |
//! | `POST /v1/envelopes` | one raw envelope, `Content-Type: application/octet-stream` | [`OneResponse`] |
//! | `POST /v1/batch` | a [`JsonBatch`] (`application/json`) or a binary batch (`application/x-depin-batch`, see [`wire`]) | [`BatchResponse`], one verdict per item, in order |
//! | `GET /healthz` | | `ok` |
//!
//! `POST /v1/envelopes` and `POST /v1/batch` take an optional query parameter
//! `?topic={label}`: the gossip topic the items were published on ([`Source::topic`]).
//! With it, an envelope may carry only that topic's kinds and a frame only arrive on the
//! frame topic; anything else is refused `wrong_topic` before its signature is checked,
//! as on gossip (a network whose rules depend on the topic gets the gossip verdicts over
//! HTTP). A client sends the items of each topic in their own request.
//! | `GET /metrics` | | [`IngestMetrics::render`](super::metrics::IngestMetrics::render) with the prefix [`METRICS_PREFIX`], `text/plain; version=0.0.4` |
//!
//! **A 200 is durable.** It is sent only after the batch and every item's verdict are
//! committed to the oracle's store, so a crash after it loses nothing. A *rejected* item is
//! still answered with 200: its rejection is a durable verdict too (sending the item again
//! earns a rejection again, as a replay if it had been accepted).
//!
//! Every other status is a refusal of the whole request, with an [`ErrorBody`] (JSON).
//! Nothing of a refused request was recorded, so it may be sent again as is (after
//! `Retry-After` where there is one):
//!
//! | status | `error` | when | `Retry-After` |
//! | --- | --- | --- | --- |
//! | 400 | `malformed`, `empty`, `too_many_items`, `item_too_large` ([`WireError::code`]) or `bad_request` (the body could not be read) | the body is not a valid request | |
//! | 400 | `bad_topic` | a `topic` parameter that is not a label, given twice, or given to `/v1/frames`; an unknown query parameter | |
//! | 408 | `timeout` | the body took longer than [`Limits::body_timeout`] | |
//! | 413 | `too_large` | `Content-Length` or the body is over [`Limits::max_body_bytes`] (a batch) or [`Limits::max_item_bytes`] (a single item) | |
//! | 415 | `unsupported_media_type` | a `Content-Type` other than those above | |
//! | 429 | `rate_limited` | the client, or a device claimed by an item, is over its rate | yes |
//! | 503 | `overloaded`, `unavailable`, `shutting_down` | the engine's queue is full, its store is failing, or it is stopping | yes |
//! | 500 | `internal` | the engine answered without a verdict (a bug) | |
//!
//! # Limits before work
//!
//! Checked in this order, each before the work it protects (every refusal is counted in
//! [`IngestMetrics`] under its cause):
//!
//! 1. `Content-Type` (415), then a declared `Content-Length` over the cap (413, without
//!    reading the body);
//! 2. the client's bucket (by peer IP, IPv6 by its /64) must hold at least one token (429,
//!    without reading the body);
//! 3. the body is read with the cap (413 as soon as it is exceeded) within
//!    [`Limits::body_timeout`] (408);
//! 4. the body is decoded (400); decoding is bounded and far cheaper than one verification.
//!    The client's bucket is then charged one token per item (one for an undecodable body)
//!    (429);
//! 5. every item's claimed sender (`ItemBytes::claimed_sender`, an unverified key hint) is
//!    charged against its device's bucket, all or nothing: if any device is over its rate
//!    the **whole request** is refused (429), which is simple to reason about and honest
//!    (no item of the request was recorded). Clients should not mix a flooding device
//!    into batches of others;
//! 6. the items are submitted to the engine (503 if it cannot take them).
//!
//! Slow *headers* are not bounded here (`axum::serve` sets no header-read timeout): put
//! the endpoint behind a reverse proxy if that matters.
//!
//! # Serving
//!
//! [`serve`] serves [`router`] with the peer addresses the client limiter needs. To add
//! routes (say, a claims API), [`Router::merge`] them into [`router`]'s result and serve
//! that with [`serve_router`]. A router served without
//! `into_make_service_with_connect_info::<SocketAddr>()` cannot see peer addresses, and
//! then every client shares one bucket.
//!
//! [`OneResponse`]: super::wire::OneResponse
//! [`BatchResponse`]: super::wire::BatchResponse
//! [`JsonBatch`]: super::wire::JsonBatch
//! [`ErrorBody`]: super::wire::ErrorBody
//! [`WireError::code`]: super::wire::WireError::code
//! [`wire`]: super::wire
//! [`Limits::body_timeout`]: super::limits::Limits::body_timeout
//! [`Limits::max_body_bytes`]: super::limits::Limits::max_body_bytes
//! [`Limits::max_item_bytes`]: super::limits::Limits::max_item_bytes

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use futures::StreamExt as _;

use crate::kind::Label;

use super::{
    limits::{Limits, RateLimiter},
    metrics::IngestMetrics,
    wire::{self, BatchResponse, ErrorBody, OneResponse, WireError},
    Channel, IngestError, IngestHandle, ItemBytes, Source,
};

/// The prefix of the metrics served at `GET /metrics`.
pub const METRICS_PREFIX: &str = "depin_ingest";

/// The content type of `GET /metrics` (Prometheus text exposition format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// What the handlers share: the engine, its limits and the rate limiters.
struct HttpState {
    handle: IngestHandle,
    limits: Limits,
    clients: RateLimiter<IpAddr>,
    devices: RateLimiter<[u8; 8]>,
}

/// The ingest routes (the table in the module docs), their limiters built from
/// `handle.limits()`.
///
/// Serve it with [`serve`], or with
/// `into_make_service_with_connect_info::<SocketAddr>()` so that clients are told apart.
pub fn router(handle: IngestHandle) -> Router {
    let limits = handle.limits().clone();
    let state = Arc::new(HttpState {
        clients: RateLimiter::new(limits.client_rate, limits.max_tracked),
        devices: RateLimiter::new(limits.device_rate, limits.max_tracked),
        limits,
        handle,
    });
    Router::new()
        .route("/v1/frames", post(post_frame))
        .route("/v1/envelopes", post(post_envelope))
        .route("/v1/batch", post(post_batch))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the requests
/// under way (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: IngestHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(handle), shutdown).await
}

/// Serves any router (for instance [`router`] merged with more routes) with peer
/// addresses, until `shutdown` completes.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn post_frame(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    respond(&state, Endpoint::Frame, req).await
}

async fn post_envelope(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    respond(&state, Endpoint::Envelope, req).await
}

async fn post_batch(State(state): State<Arc<HttpState>>, req: Request) -> Response {
    respond(&state, Endpoint::Batch, req).await
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let mut response = state
        .handle
        .metrics()
        .render(METRICS_PREFIX)
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    response
}

/// Which ingest route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Frame,
    Envelope,
    Batch,
}

/// How the body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Raw,
    Json,
    Binary,
}

async fn respond(state: &HttpState, endpoint: Endpoint, req: Request) -> Response {
    match ingest(state, endpoint, req).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(state.handle.metrics()),
    }
}

/// The checks in the order of the module docs, then the engine.
async fn ingest(state: &HttpState, endpoint: Endpoint, req: Request) -> Result<Response, Refusal> {
    let limits = &state.limits;
    let topic = query_topic(endpoint, req.uri().query())?;
    let format = media_format(endpoint, req.headers())?;
    let cap = match endpoint {
        Endpoint::Batch => limits.max_body_bytes,
        Endpoint::Frame | Endpoint::Envelope => limits.max_item_bytes.min(limits.max_body_bytes),
    };
    let declared = content_length(req.headers());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(Refusal::too_large(cap));
    }
    let peer = peer_ip(&req);
    let client = client_key(peer);
    state
        .clients
        .peek(&client, 1, Instant::now())
        .map_err(|wait| Refusal::rate_limited(wait, "this client is over its rate"))?;

    let body = read_body(req.into_body(), cap, declared, limits.body_timeout).await?;

    let decoded = decode(endpoint, format, body, limits);
    let cost = match &decoded {
        Ok(items) => u32::try_from(items.len()).unwrap_or(u32::MAX),
        Err(_) => 1,
    };
    state
        .clients
        .check(&client, cost, Instant::now())
        .map_err(|wait| Refusal::rate_limited(wait, "this client is over its rate"))?;
    let items = decoded.map_err(Refusal::wire)?;
    check_devices(state, &items)?;

    let mut source = Source::new(
        Channel::Http,
        peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
    );
    source.topic = topic;
    let results = state
        .handle
        .submit(source, items)
        .await
        .map_err(Refusal::ingest)?;
    match endpoint {
        Endpoint::Batch => Ok(Json(BatchResponse { results }).into_response()),
        Endpoint::Frame | Endpoint::Envelope => match results.into_iter().next() {
            Some(result) => Ok(Json(OneResponse { result }).into_response()),
            None => Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal",
                "the engine returned no verdict",
            )),
        },
    }
}

/// The `topic` query parameter, the only one there is.
fn query_topic(endpoint: Endpoint, query: Option<&str>) -> Result<Option<Label>, Refusal> {
    let bad =
        |message: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_topic", "bad_topic", message);
    let mut topic = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let shown: String = pair.chars().take(80).collect();
        let Some(value) = pair.strip_prefix("topic=") else {
            return Err(bad(format!(
                "unknown query parameter {shown:?} (only topic)"
            )));
        };
        if endpoint == Endpoint::Frame {
            return Err(bad(
                "frames travel on the frame topic: no topic parameter".into()
            ));
        }
        if topic.is_some() {
            return Err(bad("the topic parameter is given twice".into()));
        }
        let label =
            Label::parse(value).map_err(|_| bad(format!("{shown:?} is not a topic label")))?;
        topic = Some(label);
    }
    Ok(topic)
}

/// The body's format from its `Content-Type` (parameters such as `charset` ignored).
fn media_format(endpoint: Endpoint, headers: &HeaderMap) -> Result<Format, Refusal> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim());
    let is = |want: &str| media.is_some_and(|m| m.eq_ignore_ascii_case(want));
    let expected = match endpoint {
        Endpoint::Frame | Endpoint::Envelope => {
            if is(wire::RAW_CONTENT_TYPE) {
                return Ok(Format::Raw);
            }
            wire::RAW_CONTENT_TYPE
        }
        Endpoint::Batch => {
            if is(wire::JSON_CONTENT_TYPE) {
                return Ok(Format::Json);
            }
            if is(wire::BINARY_CONTENT_TYPE) {
                return Ok(Format::Binary);
            }
            "application/json or application/x-depin-batch"
        }
    };
    let got: String = media.unwrap_or("none").chars().take(80).collect();
    Err(Refusal::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "unsupported_media_type",
        format!("expected Content-Type {expected}, got {got}"),
    ))
}

/// The declared `Content-Length`, if it parses.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The peer's IP, if the router is served with connect info.
fn peer_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client limiter's key: the IPv4 address (IPv4-mapped IPv6 included), or the /64
/// of an IPv6 address (one subscriber's usual allocation, so a host cannot escape its
/// bucket by hopping addresses). Without a peer address every client shares one key.
fn client_key(peer: Option<IpAddr>) -> IpAddr {
    const PREFIX_64: u128 = 0xFFFF_FFFF_FFFF_FFFF_0000_0000_0000_0000;
    match peer {
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(IpAddr::V4(v4)) => IpAddr::V4(v4),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & PREFIX_64)),
        },
    }
}

/// Reads the body, at most `cap` bytes, within `timeout`.
async fn read_body(
    body: Body,
    cap: usize,
    declared: Option<u64>,
    timeout: Duration,
) -> Result<Vec<u8>, Refusal> {
    match tokio::time::timeout(timeout, read_capped(body, cap, declared)).await {
        Ok(read) => read,
        Err(_elapsed) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "timeout",
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        )),
    }
}

/// Reads the body frame by frame, refusing as soon as it passes `cap` (a chunked body
/// declares no length; a declared one was checked already, and hyper stops at it).
async fn read_capped(body: Body, cap: usize, declared: Option<u64>) -> Result<Vec<u8>, Refusal> {
    let initial = declared
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(cap)
        .min(64 * 1024);
    let mut out = Vec::with_capacity(initial);
    let mut stream = std::pin::pin!(body.into_data_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "bad_request",
                format!("the body could not be read: {e}"),
            )
        })?;
        if chunk.len() > cap.saturating_sub(out.len()) {
            return Err(Refusal::too_large(cap));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The items of a body.
fn decode(
    endpoint: Endpoint,
    format: Format,
    body: Vec<u8>,
    limits: &Limits,
) -> Result<Vec<ItemBytes>, WireError> {
    match (endpoint, format) {
        (_, Format::Json) => wire::decode_json(&body, limits),
        (_, Format::Binary) => wire::decode_binary(&body, limits),
        _ if body.is_empty() => Err(WireError::Empty),
        (Endpoint::Envelope, Format::Raw) => Ok(vec![ItemBytes::Envelope(body)]),
        (Endpoint::Frame | Endpoint::Batch, Format::Raw) => Ok(vec![ItemBytes::Frame(body)]),
    }
}

/// Charges each claimed sender one token per item, all or nothing.
fn check_devices(state: &HttpState, items: &[ItemBytes]) -> Result<(), Refusal> {
    if state.limits.device_rate.is_unlimited() {
        return Ok(());
    }
    let costs: Vec<([u8; 8], u32)> = items
        .iter()
        .filter_map(ItemBytes::claimed_sender)
        .map(|sender| (sender, 1))
        .collect();
    state
        .devices
        .check_all(&costs, Instant::now())
        .map_err(|wait| {
            Refusal::rate_limited(
                wait,
                "a device claimed by an item of this request is over its rate; \
                 the whole request was refused",
            )
        })
}

/// A refused request: its status, the metrics cause, the [`ErrorBody`] code and message.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    cause: &'static str,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
    /// Already counted in the metrics (by the engine, which counts its own overload).
    counted: bool,
}

impl Refusal {
    fn new(
        status: StatusCode,
        cause: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Refusal {
            status,
            cause,
            code,
            message: message.into(),
            retry_after: None,
            counted: false,
        }
    }

    fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    fn too_large(cap: usize) -> Self {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "too_large",
            format!("the body is over {cap} bytes"),
        )
    }

    fn rate_limited(wait: Duration, message: &str) -> Self {
        Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "rate_limited",
            message,
        )
        .retry_after(wait)
    }

    fn wire(e: WireError) -> Self {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.code(),
            e.to_string(),
        )
    }

    fn ingest(e: IngestError) -> Self {
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        let message = e.to_string();
        match e {
            // `IngestHandle::submit` counts this refusal itself (for every channel).
            IngestError::Overloaded { retry_after } => Refusal {
                counted: true,
                ..Refusal::new(unavailable, "overloaded", "overloaded", message)
                    .retry_after(retry_after)
            },
            IngestError::Unavailable {
                retry_after,
                reason,
            } => Refusal::new(unavailable, "unavailable", "unavailable", reason)
                .retry_after(retry_after),
            IngestError::ShuttingDown => {
                Refusal::new(unavailable, "shutting_down", "shutting_down", message)
                    .retry_after(Duration::from_secs(1))
            }
            #[allow(unreachable_patterns)]
            _ => Refusal::new(unavailable, "unavailable", "unavailable", message)
                .retry_after(Duration::from_secs(1)),
        }
    }

    /// The response, counting the refusal.
    fn into_response(self, metrics: &IngestMetrics) -> Response {
        if !self.counted {
            metrics.refused(self.cause);
        }
        let retry_secs = self.retry_after.map(retry_after_secs);
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            retry_after_secs: retry_secs,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = retry_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    #[test]
    fn client_keys() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(client_key(Some(v4)), v4);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(client_key(Some(mapped)), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        assert_ne!(client_key(Some(a)), client_key(Some(c)));
        assert_eq!(
            client_key(Some(a)),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_key(None), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn media_types() {
        let headers = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h
        };
        let format = |e, ct: &str| media_format(e, &headers(ct)).ok();
        assert_eq!(
            format(Endpoint::Frame, "application/octet-stream"),
            Some(Format::Raw)
        );
        assert_eq!(
            format(Endpoint::Envelope, "Application/Octet-Stream"),
            Some(Format::Raw)
        );
        assert_eq!(
            format(Endpoint::Batch, "application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            format(Endpoint::Batch, "application/x-depin-batch"),
            Some(Format::Binary)
        );
        assert_eq!(format(Endpoint::Frame, "application/json"), None);
        assert_eq!(format(Endpoint::Batch, "application/octet-stream"), None);
        assert_eq!(format(Endpoint::Batch, "text/plain"), None);
        let refusal = media_format(Endpoint::Frame, &HeaderMap::new()).unwrap_err();
        assert_eq!(refusal.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(refusal.code, "unsupported_media_type");
    }

    #[test]
    fn single_bodies() {
        let l = Limits::default();
        assert_eq!(
            decode(Endpoint::Frame, Format::Raw, vec![], &l).unwrap_err(),
            WireError::Empty
        );
        let items = decode(Endpoint::Envelope, Format::Raw, vec![1, 2], &l).unwrap();
        assert!(
            matches!(items.as_slice(), [ItemBytes::Envelope(b)] if b.as_slice() == [1u8, 2].as_slice())
        );
        let items = decode(Endpoint::Frame, Format::Raw, vec![3], &l).unwrap();
        assert!(
            matches!(items.as_slice(), [ItemBytes::Frame(b)] if b.as_slice() == [3u8].as_slice())
        );
    }
}
