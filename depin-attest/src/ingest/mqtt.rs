//! The MQTT ingest front end (rumqttc over plain TCP; feature `mqtt`).
//!
//! Devices publish their signed items to an MQTT broker (mosquitto, say); the oracle
//! subscribes with QoS 1 on a persistent session and acknowledges (PUBACK) each message
//! to the broker **only after the item and its verdict are committed** to the oracle's
//! store ([`IngestHandle::submit`] answered). A message not acknowledged when the oracle
//! stops or dies stays with the broker, which delivers it again once the oracle's session
//! reconnects.
//!
//! # Topics
//!
//! | topic | who publishes | payload |
//! | --- | --- | --- |
//! | `{prefix}/{device}/frame` | the device | one depin-core report frame |
//! | `{prefix}/{device}/envelope` | the device | one signed envelope |
//! | `{prefix}/{device}/envelope/{topic}` | the device | one signed envelope of a kind of gossip topic `{topic}` |
//! | `{prefix}/{device}/verdict` | the oracle | a [`VerdictMessage`] (JSON) |
//!
//! `{prefix}` is [`MqttConfig::topic_prefix`] (default `depin`) and `{device}` is
//! [`device_name`]: the device's `did:key` text **without** its `did:key:` prefix, that
//! is the multibase key `z6Mk…` (base58btc: letters and digits only, so never `+`, `#`
//! or `/`). The full did text would be a legal topic level, but it contains `:`, which a
//! mosquitto password file cannot hold in a username (`mosquitto_passwd` refuses it), and
//! the broker's ACL needs the username to be the topic level. [`topic`] builds the topics,
//! [`parse_topic`] reads them back (strictly: only the canonical encoding of a key).
//!
//! An envelope published under a topic level (`…/envelope/captures`, [`topic_on`]) is
//! submitted with that topic ([`Source::topic`]): it may carry only the kinds of that
//! gossip topic ([`Verifier::topic_kinds`](crate::Verifier::topic_kinds)), else it is
//! refused [`Rejection::WrongTopic`](crate::Rejection::WrongTopic) before its signature is
//! checked, as on gossip. A network whose rules depend on the topic (a capture published
//! where route declarations travel is suspect) gets the same verdicts over MQTT as over
//! gossip. A topic level that is not a [`Label`] is `bad_topic`.
//!
//! # Who may publish what
//!
//! The broker authenticates each device with [`device_name`] as its username, and its ACL
//! ([`mosquitto_acl`]) lets a device write only under its own name and read only its own
//! verdicts. The oracle does not rely on that alone: it submits each item with
//! `Source { device: Some(device of the topic) }`, so an item whose claimed signer is not
//! the topic's device is refused [`Rejection::WrongTopic`](crate::Rejection::WrongTopic)
//! before any signature work, and counted in the store (a misconfigured broker still
//! cannot let one device submit another's items). The verdict of such an item goes to the
//! verdict topic of the device the topic names (MQTT 3.1.1 does not tell who published).
//!
//! # What each message gets
//!
//! Checked in this order, each before the work it protects; every refusal is counted in
//! [`IngestMetrics`](super::metrics::IngestMetrics) under its cause:
//!
//! 1. the topic must parse ([`parse_topic`]) and be a frame or envelope topic; otherwise
//!    the message is counted (`bad_topic`, or `bad_device` for a device level that is not
//!    a key), logged at debug and acknowledged: it can never succeed, and there is no
//!    device to answer;
//! 2. an empty payload is refused `empty` (cause `bad_request`), one over
//!    [`Limits::max_item_bytes`](super::limits::Limits::max_item_bytes) `too_large`;
//! 3. the topic's device must have a token in its bucket
//!    ([`Limits::device_rate`](super::limits::Limits::device_rate), keyed by the device of
//!    the topic, which the broker authenticated), else it is refused `rate_limited` with
//!    a retry-after;
//! 4. the item is submitted to the engine. `Ok` publishes the verdict, then acknowledges.
//!    [`IngestError::Overloaded`] and [`IngestError::Unavailable`] are not acknowledged:
//!    the item is submitted again after the engine's retry-after, until it is answered or
//!    the front end stops, so nothing is dropped and the broker's window of unacknowledged
//!    messages is the backpressure. [`IngestError::ShuttingDown`] is not acknowledged
//!    either and stops the front end (the broker keeps the message for the session).
//!
//! A refusal of steps 2 and 3 is published as a [`VerdictMessage`] with an
//! [`ErrorBody`] (the codes of the HTTP endpoint) and acknowledged: like an HTTP 4xx,
//! nothing of the item was recorded and the device may publish it again (after
//! `retry_after_secs`). A rate-limited item is refused rather than held back because the
//! broker's window is shared by every device: holding one flooding device's messages
//! unacknowledged would fill the window and stall every other device behind it, while the
//! HTTP endpoint answers the same case 429 and lets the client resend.
//!
//! # Order
//!
//! Messages of different devices are handled concurrently (up to
//! [`MqttConfig::max_in_flight`]); **one device's messages reach the engine one after the
//! other, in the order the broker delivered them** (the order the device published them,
//! on one connection with QoS 1). Rules that depend on a device's order (an energy
//! counter that may only grow, the speed between two captures) so get the verdicts the
//! device's own order gives, as over HTTP with one request at a time.
//!
//! # Verdicts and duplicates
//!
//! A verdict is published with QoS 1 **before** its message is acknowledged, but it is a
//! courtesy: the durable verdict is the store's. The client keeps an unacknowledged verdict
//! in memory only, so an oracle that dies may lose verdicts of items it stored. A message
//! delivered twice (the broker redelivers after a lost connection, or the device
//! republished) is stored once; its second verdict is `replayed`.
//!
//! Acknowledgements are tied to the connection that delivered the message: after a
//! reconnection the broker delivers unacknowledged messages again with the same packet
//! id, and the new delivery is the one acknowledged. (An acknowledgement queued in the
//! instant between the client dropping the old connection and the front end noticing may
//! still be sent on the new one; it then acknowledges the redelivered copy of a stored
//! message, which is harmless while the broker does not reuse that packet id in the
//! meantime, and mosquitto hands out packet ids in sequence.)
//!
//! # Concurrency
//!
//! The event loop is polled by one task that never waits for a submission (keep-alives
//! go on under load). Each message is handled by a task of its own, at most
//! [`MqttConfig::max_in_flight`] of them at once (a semaphore); the broker's window of
//! unacknowledged messages bounds the rest.
//!
//! # Broker set-up
//!
//! - A persistent session needs a fixed [`MqttConfig::client_id`] and, for the broker to
//!   survive its own restarts, `persistence true`.
//! - `max_inflight_messages` (mosquitto's window per client, default 20) should be
//!   nonzero and at most [`MqttConfig::max_in_flight`]; `max_queued_messages` (default
//!   1000) is what the broker holds for the oracle beyond that window, and it **drops**
//!   messages over it: size it for the longest outage to ride out (or 0, unlimited).
//! - `message_size_limit` should be well below [`MqttConfig::max_packet_bytes`]: a
//!   packet larger than the client accepts breaks the connection, and the broker would
//!   deliver it again on every reconnection.
//! - Devices must publish with QoS 1 (QoS 0 gets no redelivery) and without retain.
//! - `set_tcp_nodelay true`: the oracle's own connection turns Nagle's algorithm off
//!   (acknowledgements and verdicts are small packets); with it on at the broker, each
//!   verdict it forwards to a device waits for a delayed ACK (about 40 ms on Linux).
//!
//! # Stopping
//!
//! [`MqttIngest::shutdown`] stops taking messages (those delivered from then on stay
//! unacknowledged, for the session), lets the ones being handled finish and be
//! acknowledged, then disconnects; [`MqttIngest::join`] waits for that. A message still
//! waiting for a store that cannot write is left unacknowledged.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use depin_core::did::DID_KEY_PREFIX;
use depin_core::frame::Frame;
use depin_core::DeviceId;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS,
    SubAck, SubscribeFilter, SubscribeReasonCode,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::{JoinError, JoinSet};

use super::limits::RateLimiter;
use super::wire::ErrorBody;
use super::{Channel, IngestError, IngestHandle, ItemBytes, ItemResult, Source};
use crate::envelope::decode_parts;
use crate::kind::Label;

/// The default topic prefix.
pub const DEFAULT_PREFIX: &str = "depin";

/// The first wait after a lost connection.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The shortest wait before submitting again after the engine refused.
const MIN_RETRY: Duration = Duration::from_millis(10);
/// The wait before trying again to queue an acknowledgement (the request queue was full).
const ACK_RETRY: Duration = Duration::from_millis(5);
/// How long a shutdown waits for the broker to take the DISCONNECT.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most characters of a topic written to a log line or an error.
const MAX_SHOWN: usize = 96;

/// Which of a device's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicKind {
    /// `{prefix}/{device}/frame`: a depin-core report frame, published by the device.
    Frame,
    /// `{prefix}/{device}/envelope`: a signed envelope, published by the device.
    Envelope,
    /// `{prefix}/{device}/verdict`: the oracle's answers ([`VerdictMessage`]).
    Verdict,
}

impl TopicKind {
    /// The topic's last level: `frame`, `envelope` or `verdict`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TopicKind::Frame => "frame",
            TopicKind::Envelope => "envelope",
            TopicKind::Verdict => "verdict",
        }
    }

    fn from_level(level: &str) -> Option<Self> {
        match level {
            "frame" => Some(TopicKind::Frame),
            "envelope" => Some(TopicKind::Envelope),
            "verdict" => Some(TopicKind::Verdict),
            _ => None,
        }
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a topic is not one of a device's topics under the prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic does not start with `{prefix}/`.
    #[error("the topic is not under the prefix")]
    Prefix,
    /// Not two levels (device and kind) after the prefix, or three for an envelope
    /// under a gossip topic.
    #[error("expected {{prefix}}/{{device}}/{{kind}} or {{prefix}}/{{device}}/envelope/{{topic}}")]
    Shape,
    /// The gossip-topic level of an envelope topic is not a label (lowercase letters,
    /// digits and `_`, starting with a letter).
    #[error("the topic level {0:?} is not a gossip topic label")]
    Label(String),
    /// The last level is not `frame`, `envelope` or `verdict`.
    #[error("unknown topic kind {0:?} (frame, envelope or verdict)")]
    Kind(String),
    /// The device level is not the canonical [`device_name`] of a key.
    #[error("the device level is not a device key: {0}")]
    Device(String),
}

impl TopicError {
    /// The cause it is counted under in the metrics: `bad_device` for
    /// [`TopicError::Device`], `bad_topic` otherwise.
    pub fn cause(&self) -> &'static str {
        match self {
            TopicError::Device(_) => "bad_device",
            TopicError::Prefix | TopicError::Shape | TopicError::Kind(_) | TopicError::Label(_) => {
                "bad_topic"
            }
        }
    }
}

/// A device's name on the broker: its topic level and its username, the `did:key` text
/// without the `did:key:` prefix (`z6Mk…` for an Ed25519 key).
pub fn device_name(device: &DeviceId) -> String {
    let mut buf = [0u8; 64];
    let did = device.write_did(&mut buf);
    did.strip_prefix(DID_KEY_PREFIX).unwrap_or(did).to_owned()
}

/// The topic of `kind` for `device`: `{prefix}/{device_name}/{kind}`.
pub fn topic(prefix: &str, device: &DeviceId, kind: TopicKind) -> String {
    let name = device_name(device);
    format!("{prefix}/{name}/{kind}")
}

/// The topic of an envelope of a kind of gossip topic `on` for `device`:
/// `{prefix}/{device_name}/envelope/{on}`.
pub fn topic_on(prefix: &str, device: &DeviceId, on: Label) -> String {
    let name = device_name(device);
    format!("{prefix}/{name}/{}/{on}", TopicKind::Envelope)
}

/// Reads a device topic back: the device and the kind.
///
/// Strict: exactly `{prefix}/{device}/{kind}`, the device level being the canonical
/// [`device_name`] of a supported key (a full `did:key:` text is refused, as the broker's
/// ACL could not have let a device publish there). An envelope topic with a gossip-topic
/// level is [`TopicError::Shape`] here: read those with [`parse_topic_on`].
pub fn parse_topic(prefix: &str, topic: &str) -> Result<(DeviceId, TopicKind), TopicError> {
    match parse_topic_on(prefix, topic)? {
        (device, kind, None) => Ok((device, kind)),
        (_, _, Some(_)) => Err(TopicError::Shape),
    }
}

/// Reads a device topic back, with the gossip topic of an envelope published under one
/// ([`topic_on`]): `{prefix}/{device}/{kind}` or `{prefix}/{device}/envelope/{topic}`.
pub fn parse_topic_on(
    prefix: &str,
    topic: &str,
) -> Result<(DeviceId, TopicKind, Option<Label>), TopicError> {
    let rest = topic
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or(TopicError::Prefix)?;
    let mut levels = rest.split('/');
    let (Some(device), Some(kind), on, None) =
        (levels.next(), levels.next(), levels.next(), levels.next())
    else {
        return Err(TopicError::Shape);
    };
    let kind =
        TopicKind::from_level(kind).ok_or_else(|| TopicError::Kind(shown(kind).to_owned()))?;
    let on = match (kind, on) {
        (_, None) => None,
        (TopicKind::Envelope, Some(level)) => {
            Some(Label::parse(level).map_err(|_| TopicError::Label(shown(level).to_owned()))?)
        }
        (TopicKind::Frame | TopicKind::Verdict, Some(_)) => return Err(TopicError::Shape),
    };
    Ok((parse_device(device)?, kind, on))
}

/// The device of a topic's device level.
fn parse_device(level: &str) -> Result<DeviceId, TopicError> {
    if level.starts_with(DID_KEY_PREFIX) {
        return Err(TopicError::Device(
            "the topic names a device by its key, without the did:key: prefix".into(),
        ));
    }
    // base58 of a multicodec key is at most 48 characters; from_did caps it at 60
    if level.len() > 64 {
        return Err(TopicError::Device("too long".into()));
    }
    let did = format!("{DID_KEY_PREFIX}{level}");
    let device = DeviceId::from_did(&did).map_err(|e| TopicError::Device(e.to_string()))?;
    if device_name(&device) != level {
        return Err(TopicError::Device(
            "not the canonical encoding of the key".into(),
        ));
    }
    Ok(device)
}

/// The first characters of `s`, for logs and errors.
fn shown(s: &str) -> &str {
    match s.char_indices().nth(MAX_SHOWN) {
        Some((end, _)) => s.get(..end).unwrap_or(s),
        None => s,
    }
}

/// The text of a mosquitto `acl_file` for the oracle user `oracle_user` and the topics
/// under `prefix`.
///
/// The oracle may read every device's frames and envelopes and write every device's
/// verdicts; each device (its username being its [`device_name`]) may write only its own
/// frames and envelopes and read only its own verdicts. mosquitto 2 with MQTT 3.1.1
/// acknowledges a publish the ACL denies and drops it. `prefix` and `oracle_user` are
/// written as given: they must not contain whitespace or line breaks.
pub fn mosquitto_acl(prefix: &str, oracle_user: &str) -> String {
    format!(
        "# depin oracle: reads every device's items, writes every device's verdicts\n\
         user {oracle_user}\n\
         topic read {prefix}/+/frame\n\
         topic read {prefix}/+/envelope\n\
         topic read {prefix}/+/envelope/+\n\
         topic write {prefix}/+/verdict\n\
         \n\
         # devices (username = the did:key text without \"did:key:\"): their own topics only\n\
         pattern write {prefix}/%u/frame\n\
         pattern write {prefix}/%u/envelope\n\
         pattern write {prefix}/%u/envelope/+\n\
         pattern read {prefix}/%u/verdict\n"
    )
}

/// What the oracle publishes on `{prefix}/{device}/verdict` for each message it answers
/// (JSON; absent fields are left out).
///
/// Exactly one of `result` and `error` is present. `result` is the item's durable verdict
/// (as the HTTP endpoint's `OneResponse`); `error` is a refusal before the engine (the
/// HTTP endpoint's [`ErrorBody`] codes: `empty`, `too_large`, `rate_limited`, `internal`),
/// after which nothing of the item was recorded and it may be published again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictMessage {
    /// The topic the item arrived on ([`TopicKind::Frame`] or [`TopicKind::Envelope`]).
    pub kind: TopicKind,
    /// The sequence number the item claims (read without verifying anything), when it
    /// decodes that far: to match verdicts to messages, which may be answered out of
    /// order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The durable verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ItemResult>,
    /// The refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// How to reach the broker, and the front end's bounds.
///
/// Build it with [`MqttConfig::new`] and set the other fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct MqttConfig {
    /// The broker's host name or IP address.
    pub host: String,
    /// The broker's port (1883 is the usual one for plain TCP).
    pub port: u16,
    /// The oracle's client id. Fixed and unique to this oracle process: the broker keeps
    /// the persistent session (subscriptions, unacknowledged messages) under it.
    pub client_id: String,
    /// The oracle's username on the broker.
    pub username: Option<String>,
    /// The oracle's password (only with a username).
    pub password: Option<String>,
    /// The topic prefix (default [`DEFAULT_PREFIX`]): one or more non-empty levels,
    /// without wildcards and not starting with `$`.
    pub topic_prefix: String,
    /// The MQTT keep-alive (default 10 s): zero (none) or at least one second.
    pub keep_alive: Duration,
    /// The most messages handled at once (default 256), and the most verdicts the client
    /// has published unacknowledged. Should be at least the broker's window of
    /// unacknowledged messages per client.
    pub max_in_flight: usize,
    /// The largest MQTT packet accepted or sent, in bytes (default 64 KiB). The broker
    /// must not deliver larger ones (see the module docs).
    pub max_packet_bytes: usize,
    /// How long [`MqttIngest::start`] waits for the connection and the subscription
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// How long a shutdown waits for the messages being handled (default 10 s). Tasks
    /// still running then are aborted; their messages are not acknowledged.
    pub shutdown_timeout: Duration,
}

impl MqttConfig {
    /// A broker at `host:port`, the oracle's session named `client_id`, with the
    /// defaults: prefix `depin`, keep-alive 10 s, 256 messages in flight, packets up to
    /// 64 KiB, no credentials.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttConfig {
            host: host.into(),
            port,
            client_id: client_id.into(),
            username: None,
            password: None,
            topic_prefix: DEFAULT_PREFIX.to_owned(),
            keep_alive: Duration::from_secs(10),
            max_in_flight: 256,
            max_packet_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
        }
    }

    /// Sets the username and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Checks what the client would otherwise panic on or get wrong.
    fn validate(&self) -> Result<(), MqttError> {
        let bad = |what: &str| Err(MqttError::Config(what.to_owned()));
        if self.host.is_empty() {
            return bad("the broker host is empty");
        }
        if self.client_id.is_empty() {
            return bad("a persistent session needs a client id");
        }
        validate_prefix(&self.topic_prefix)?;
        if !self.keep_alive.is_zero() && self.keep_alive < Duration::from_secs(1) {
            return bad("the keep-alive must be zero or at least one second");
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight must be at least 1");
        }
        if self.max_packet_bytes == 0 {
            return bad("max_packet_bytes must be at least 1");
        }
        if self.password.is_some() && self.username.is_none() {
            return bad("a password needs a username");
        }
        if self.connect_timeout.is_zero() {
            return bad("the connect timeout is zero");
        }
        Ok(())
    }
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("topic_prefix", &self.topic_prefix)
            .field("keep_alive", &self.keep_alive)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_packet_bytes", &self.max_packet_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

/// A topic prefix must be one or more non-empty levels without wildcards, not a `$` topic.
fn validate_prefix(prefix: &str) -> Result<(), MqttError> {
    let bad = |what: &str| Err(MqttError::Config(format!("topic prefix: {what}")));
    if prefix.is_empty() {
        return bad("empty");
    }
    if prefix.contains(['+', '#', '\0']) {
        return bad("contains a wildcard or a NUL");
    }
    if prefix.starts_with('$') {
        return bad("starts with '$' (reserved for the broker)");
    }
    if prefix.split('/').any(str::is_empty) {
        return bad("has an empty level");
    }
    Ok(())
}

/// Why the front end could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MqttError {
    /// The configuration is not usable.
    #[error("MQTT configuration: {0}")]
    Config(String),
    /// The broker refused the connection (bad credentials, not authorised, ...).
    #[error("the MQTT broker refused the connection: {0}")]
    Refused(String),
    /// The broker did not grant both subscriptions with QoS 1.
    #[error("the MQTT broker did not grant the subscriptions with QoS 1: {0}")]
    Subscribe(String),
    /// No connection and subscription within [`MqttConfig::connect_timeout`].
    #[error(
        "no MQTT connection and subscription within {:?} (last error: {})",
        .after,
        .last_error.as_deref().unwrap_or("none")
    )]
    Timeout {
        /// The timeout.
        after: Duration,
        /// The last connection error, if any.
        last_error: Option<String>,
    },
}

/// What the tasks share.
struct Shared {
    prefix: String,
    handle: IngestHandle,
    client: AsyncClient,
    /// Per-device buckets, keyed by the device of the topic.
    devices: RateLimiter<DeviceId>,
    /// One permit per message being handled.
    permits: Arc<Semaphore>,
    /// The connection generation: bumped when a connection is lost. An acknowledgement
    /// is queued only on the generation that delivered the message.
    generation: Mutex<u64>,
    /// The event loop is gone: nothing more can be sent.
    closed: AtomicBool,
    /// Set to stop the front end.
    stop: watch::Sender<bool>,
    /// The last connection error, for [`MqttError::Timeout`].
    last_error: Mutex<Option<String>>,
    /// Per device level of a topic, the turn of its latest delivered message (see
    /// [`Turn`]); an entry lives while a message of that device is being handled.
    turns: Mutex<HashMap<String, (u64, Arc<Notify>)>>,
    /// The id of the next [`Turn`].
    next_turn: AtomicU64,
}

/// A message's place in its device's order: it is handled after the device's previous
/// message (`after`) is done, and signals `done` when it is (also when it is dropped
/// early, at a stop). So one device's messages reach the engine in the order the broker
/// delivered them (policies such as energy counters and capture speeds depend on it),
/// while different devices' messages are handled concurrently.
struct Turn {
    shared: Arc<Shared>,
    key: String,
    id: u64,
    after: Option<Arc<Notify>>,
    done: Arc<Notify>,
}

impl Turn {
    /// The next turn of the device of `topic` (taken in delivery order, on the event loop).
    fn take(shared: &Arc<Shared>, topic: &str) -> Turn {
        // the device level (the whole topic if it has none): the order is per device
        let key = topic
            .strip_prefix(shared.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(topic)
            .to_owned();
        let id = shared.next_turn.fetch_add(1, Ordering::Relaxed);
        let done = Arc::new(Notify::new());
        let after = lock(&shared.turns)
            .insert(key.clone(), (id, Arc::clone(&done)))
            .map(|(_, previous)| previous);
        Turn {
            shared: Arc::clone(shared),
            key,
            id,
            after,
            done,
        }
    }

    /// Waits until the device's previous message is done.
    async fn wait(&mut self) {
        if let Some(after) = self.after.take() {
            after.notified().await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // a stored permit: the next message's wait completes even if it starts later
        self.done.notify_one();
        let mut turns = lock(&self.shared.turns);
        if turns.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            turns.remove(&self.key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resolves once the front end is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // an error means every sender is gone: stop as well
    let _ = stop.wait_for(|s| *s).await;
}

/// What to do with a handled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Acknowledge it: it is answered (or can never be).
    Ack,
    /// Leave it unacknowledged: the broker delivers it again after a reconnection.
    Leave,
}

impl Shared {
    fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    fn generation(&self) -> u64 {
        *lock(&self.generation)
    }

    /// A connection was lost: acknowledgements of earlier deliveries are void.
    fn next_generation(&self) -> u64 {
        let mut g = lock(&self.generation);
        *g = g.wrapping_add(1);
        *g
    }

    /// Handles one delivered message: the checks of the module docs, the engine, the
    /// verdict, then the acknowledgement.
    async fn serve(self: Arc<Self>, publish: Publish, generation: u64, mut turn: Turn) {
        let mut stop = self.stop.subscribe();
        // the device's previous message first (before a permit: a message waiting for
        // its turn must not hold one its predecessor needs)
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            () = turn.wait() => {}
        }
        let permit = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            permit = Arc::clone(&self.permits).acquire_owned() => permit,
        };
        let Ok(_permit) = permit else {
            return;
        };
        if self.answer(&publish, &mut stop).await == Disposition::Ack {
            self.ack(&publish, generation).await;
        }
    }

    async fn answer(&self, publish: &Publish, stop: &mut watch::Receiver<bool>) -> Disposition {
        let metrics = self.handle.metrics();
        let (device, kind, on) = match parse_topic_on(&self.prefix, &publish.topic) {
            Ok((device, kind @ (TopicKind::Frame | TopicKind::Envelope), on)) => (device, kind, on),
            Ok((_, TopicKind::Verdict, _)) => {
                metrics.refused("bad_topic");
                tracing::debug!(
                    topic = shown(&publish.topic),
                    "a verdict topic delivered to the oracle: ignored"
                );
                return Disposition::Ack;
            }
            Err(e) => {
                metrics.refused(e.cause());
                tracing::debug!(topic = shown(&publish.topic), error = %e, "message on a topic that is no device's: ignored");
                return Disposition::Ack;
            }
        };
        let payload = &publish.payload;
        if payload.is_empty() {
            let refusal = Refusal::new("bad_request", "empty", "the message has no payload");
            return self.refuse(&device, kind, refusal).await;
        }
        let limits = self.handle.limits();
        let max = limits.max_item_bytes.min(limits.max_body_bytes);
        if payload.len() > max {
            let refusal = Refusal::new(
                "too_large",
                "too_large",
                format!("the payload is over {max} bytes"),
            );
            return self.refuse(&device, kind, refusal).await;
        }
        if let Err(wait) = self.devices.check(&device, 1, Instant::now()) {
            let refusal = Refusal {
                retry_after: Some(wait),
                ..Refusal::new(
                    "rate_limited",
                    "rate_limited",
                    "this device is over its rate; publish the item again later",
                )
            };
            return self.refuse(&device, kind, refusal).await;
        }

        let item = match kind {
            TopicKind::Envelope => ItemBytes::Envelope(payload.to_vec()),
            TopicKind::Frame | TopicKind::Verdict => ItemBytes::Frame(payload.to_vec()),
        };
        let seq = claimed_seq(&item);
        let mut source = Source::new(Channel::Mqtt, device.to_string()).with_device(device);
        source.topic = on;
        loop {
            let wait = match self.handle.submit(source.clone(), vec![item.clone()]).await {
                Ok(results) => {
                    let Some(result) = results.into_iter().next() else {
                        let refusal =
                            Refusal::new("internal", "internal", "the engine returned no verdict");
                        return self.refuse(&device, kind, refusal).await;
                    };
                    let message = VerdictMessage {
                        kind,
                        seq,
                        result: Some(result),
                        error: None,
                    };
                    self.publish_verdict(&device, &message).await;
                    return Disposition::Ack;
                }
                // `IngestHandle::submit` counts this refusal itself
                Err(IngestError::Overloaded { retry_after }) => retry_after,
                Err(IngestError::Unavailable {
                    retry_after,
                    reason,
                }) => {
                    metrics.refused("unavailable");
                    tracing::debug!(%reason, "the engine cannot store: the item is submitted again");
                    retry_after
                }
                Err(IngestError::ShuttingDown) => {
                    metrics.refused("shutting_down");
                    tracing::debug!("the engine is shutting down: the MQTT front end stops");
                    self.request_stop();
                    return Disposition::Leave;
                }
            };
            tokio::select! {
                biased;
                () = stopped(stop) => return Disposition::Leave,
                () = tokio::time::sleep(wait.max(MIN_RETRY)) => {}
            }
        }
    }

    /// Counts and publishes a refusal; the message is acknowledged.
    async fn refuse(&self, device: &DeviceId, kind: TopicKind, refusal: Refusal) -> Disposition {
        self.handle.metrics().refused(refusal.cause);
        let message = VerdictMessage {
            kind,
            seq: None,
            result: None,
            error: Some(ErrorBody {
                error: refusal.code.to_owned(),
                message: refusal.message,
                retry_after_secs: refusal.retry_after.map(retry_after_secs),
            }),
        };
        self.publish_verdict(device, &message).await;
        Disposition::Ack
    }

    async fn publish_verdict(&self, device: &DeviceId, message: &VerdictMessage) {
        let payload = match serde_json::to_vec(message) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "a verdict could not be encoded");
                return;
            }
        };
        let topic = topic(&self.prefix, device, TopicKind::Verdict);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            tracing::debug!(error = %e, "a verdict was not published: the client is closed");
        }
    }

    /// Queues the acknowledgement, if the connection that delivered the message is still
    /// the current one (otherwise the broker delivers it again).
    async fn ack(&self, publish: &Publish, generation: u64) {
        loop {
            {
                let current = lock(&self.generation);
                if *current != generation {
                    tracing::debug!(
                        pkid = publish.pkid,
                        "the connection changed: the broker delivers the message again"
                    );
                    return;
                }
                // queued under the lock, so that it is on the connection checked above
                if self.client.try_ack(publish).is_ok() {
                    return;
                }
            }
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            // the request queue is full: the event loop drains it
            tokio::time::sleep(ACK_RETRY).await;
        }
    }
}

/// A refusal before the engine: the metrics cause, the [`ErrorBody`] code and message.
struct Refusal {
    cause: &'static str,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl Refusal {
    fn new(cause: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            cause,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Retry-after in whole seconds: rounded up, at least 1 (as the HTTP endpoint's).
fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// The sequence number an item claims, without verifying anything.
fn claimed_seq(item: &ItemBytes) -> Option<u64> {
    match item {
        ItemBytes::Frame(b) => Frame::parse(b).ok().map(|f| u64::from(f.header.seq)),
        ItemBytes::Envelope(b) => decode_parts(b, b.len()).ok().map(|(body, _, _)| body.seq),
    }
}

/// The oracle's subscriptions.
fn filters(prefix: &str) -> Vec<SubscribeFilter> {
    [
        format!("{prefix}/+/{}", TopicKind::Frame),
        format!("{prefix}/+/{}", TopicKind::Envelope),
        format!("{prefix}/+/{}/+", TopicKind::Envelope),
    ]
    .into_iter()
    .map(|filter| SubscribeFilter::new(filter, QoS::AtLeastOnce))
    .collect()
}

/// The subscriptions of [`filters`].
const FILTERS: usize = 3;

/// Every subscription granted with QoS 1 or more.
fn check_suback(suback: &SubAck) -> Result<(), MqttError> {
    let granted = suback.return_codes.len() == FILTERS
        && suback.return_codes.iter().all(
            |code| matches!(code, SubscribeReasonCode::Success(qos) if *qos != QoS::AtMostOnce),
        );
    if granted {
        Ok(())
    } else {
        Err(MqttError::Subscribe(format!("{:?}", suback.return_codes)))
    }
}

fn report(done: Result<(), JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!("an MQTT ingest task panicked; its message stays unacknowledged");
        }
    }
}

/// The event loop: polls the client (never waiting for a submission), spawns a task per
/// delivered message, reconnects with a backoff; on stop, waits for the tasks and
/// disconnects.
async fn run(
    shared: Arc<Shared>,
    mut eventloop: EventLoop,
    ready: oneshot::Sender<Result<(), MqttError>>,
    shutdown_timeout: Duration,
) {
    let mut ready = Some(ready);
    let mut stop = shared.stop.subscribe();
    let mut workers: JoinSet<()> = JoinSet::new();
    let mut backoff = MIN_BACKOFF;
    let mut generation = shared.generation();
    let mut connected = false;
    // a SUBSCRIBE is owed: on the first connection, and whenever the broker lost the session
    let mut subscribe = false;
    let mut subscribed_once = false;
    'run: loop {
        // The poll future is dropped only here, on stop: the client's poll is not
        // documented as cancel safe, and at shutdown a lost write only means a redelivery.
        let event = tokio::select! {
            biased;
            () = stopped(&mut stop) => break 'run,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let turn = Turn::take(&shared, &publish.topic);
                workers.spawn(Arc::clone(&shared).serve(publish, generation, turn));
            }
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                connected = true;
                backoff = MIN_BACKOFF;
                if !subscribed_once || !connack.session_present {
                    subscribe = true;
                }
                tracing::debug!(
                    session_present = connack.session_present,
                    "connected to the MQTT broker"
                );
            }
            Ok(Event::Incoming(Packet::SubAck(suback))) => {
                let granted = check_suback(&suback);
                match ready.take() {
                    Some(tx) => {
                        let _ = tx.send(granted);
                    }
                    None => {
                        if let Err(e) = granted {
                            tracing::warn!(error = %e, "MQTT subscription not granted");
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                connected = false;
                generation = shared.next_generation();
                let text = e.to_string();
                if let ConnectionError::ConnectionRefused(code) = &e {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Err(MqttError::Refused(format!("{code:?}"))));
                    }
                }
                tracing::warn!(
                    error = %text,
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    "MQTT connection lost; reconnecting"
                );
                *lock(&shared.last_error) = Some(text);
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => break 'run,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            }
        }
        if subscribe
            && connected
            && shared
                .client
                .try_subscribe_many(filters(&shared.prefix))
                .is_ok()
        {
            subscribe = false;
            subscribed_once = true;
        }
        while let Some(done) = workers.try_join_next() {
            report(done);
        }
    }

    // Stopping: messages delivered from now on are left unacknowledged; the tasks under
    // way finish (their acknowledgements still go out while the connection holds).
    let deadline = deadline_after(shutdown_timeout);
    while !workers.is_empty() {
        tokio::select! {
            biased;
            done = workers.join_next() => {
                if let Some(done) = done {
                    report(done);
                }
            }
            event = eventloop.poll(), if connected => match event {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    tracing::debug!(pkid = publish.pkid, "stopping: message left for redelivery");
                }
                Ok(_) => {}
                Err(e) => {
                    connected = false;
                    shared.next_generation();
                    tracing::debug!(error = %e, "MQTT connection lost while stopping");
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    tasks = workers.len(),
                    "MQTT ingest tasks still running at the shutdown timeout: aborted, \
                     their messages stay unacknowledged"
                );
                workers.abort_all();
                while workers.join_next().await.is_some() {}
            }
        }
    }
    if connected {
        disconnect(&shared, &mut eventloop).await;
    }
    shared.closed.store(true, Ordering::Release);
}

/// Now plus `after`, or a day from now if that is past the clock's range.
fn deadline_after(after: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Sends DISCONNECT and polls until it is written (or the connection fails, or
/// [`DISCONNECT_TIMEOUT`]).
async fn disconnect(shared: &Shared, eventloop: &mut EventLoop) {
    let deadline = deadline_after(DISCONNECT_TIMEOUT);
    let mut sent = false;
    loop {
        if !sent {
            sent = shared.client.try_disconnect().is_ok();
        }
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// The running MQTT front end.
///
/// [`MqttIngest::start`] connects, subscribes and runs the event loop on a task of its
/// own; [`MqttIngest::shutdown`] stops it and [`MqttIngest::join`] waits for it to finish.
/// Dropping it stops it too (without waiting).
pub struct MqttIngest {
    shared: Arc<Shared>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for MqttIngest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttIngest")
            .field("prefix", &self.shared.prefix)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl MqttIngest {
    /// Connects to the broker, subscribes to `{prefix}/+/frame` and `{prefix}/+/envelope`
    /// with QoS 1 (persistent session, manual acknowledgements), waits for the broker to
    /// grant both, and runs the front end for `handle`'s engine.
    ///
    /// Connection errors are retried with a backoff until
    /// [`MqttConfig::connect_timeout`]; a broker that refuses the connection (bad
    /// credentials, say) fails at once. Must be called within a Tokio runtime.
    pub async fn start(config: MqttConfig, handle: IngestHandle) -> Result<MqttIngest, MqttError> {
        config.validate()?;
        let mut options =
            MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
        options
            .set_keep_alive(config.keep_alive)
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(config.max_packet_bytes, config.max_packet_bytes)
            .set_inflight(
                u16::try_from(config.max_in_flight)
                    .unwrap_or(u16::MAX)
                    .max(1),
            );
        if let Some(username) = &config.username {
            options.set_credentials(
                username.clone(),
                config.password.clone().unwrap_or_default(),
            );
        }
        // every task queues at most a verdict and an acknowledgement; room for those
        // of every task at once, and the subscription and disconnection
        let capacity = config.max_in_flight.saturating_mul(2).saturating_add(16);
        let (client, mut eventloop) = AsyncClient::new(options, capacity);
        // acknowledgements and verdicts are small packets that must leave at once: with
        // Nagle's algorithm on, each waited for the broker's delayed ACK (about 40 ms on
        // Linux) before it was sent
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let limits = handle.limits().clone();
        let (stop, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            prefix: config.topic_prefix.clone(),
            devices: RateLimiter::new(limits.device_rate, limits.max_tracked),
            permits: Arc::new(Semaphore::new(
                config.max_in_flight.min(Semaphore::MAX_PERMITS),
            )),
            handle,
            client,
            generation: Mutex::new(0),
            closed: AtomicBool::new(false),
            stop,
            last_error: Mutex::new(None),
            turns: Mutex::new(HashMap::new()),
            next_turn: AtomicU64::new(0),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(run(
            Arc::clone(&shared),
            eventloop,
            ready_tx,
            config.shutdown_timeout,
        ));
        let mut ingest = MqttIngest {
            shared,
            task: Some(task),
        };
        let failure = match tokio::time::timeout(config.connect_timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => return Ok(ingest),
            Ok(Ok(Err(e))) => e,
            // the loop ended before the subscription was granted, or the time is up
            Ok(Err(_)) | Err(_) => MqttError::Timeout {
                after: config.connect_timeout,
                last_error: lock(&ingest.shared.last_error).clone(),
            },
        };
        ingest.shared.request_stop();
        if let Some(task) = ingest.task.take() {
            task.abort();
        }
        Err(failure)
    }

    /// Stops the front end: messages delivered from now on are left unacknowledged (the
    /// broker keeps them for the session), those being handled are finished and
    /// acknowledged (for at most [`MqttConfig::shutdown_timeout`]), then the client
    /// disconnects. Returns at once; [`MqttIngest::join`] waits for it.
    pub fn shutdown(&self) {
        self.shared.request_stop();
    }

    /// Waits until the front end has stopped: after [`MqttIngest::shutdown`], or after the
    /// engine answered [`IngestError::ShuttingDown`].
    pub async fn join(mut self) {
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                if e.is_panic() {
                    tracing::error!("the MQTT ingest event loop panicked");
                }
            }
        }
    }

    /// Whether the front end has stopped.
    pub fn is_finished(&self) -> bool {
        self.task
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
    }
}

impl Drop for MqttIngest {
    fn drop(&mut self) {
        self.shared.request_stop();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use depin_core::{KeyType, SigningKey};

    fn device(i: u8) -> DeviceId {
        let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[i; 32]).unwrap();
        DeviceId::from(&key.public_key())
    }

    #[test]
    fn topics_round_trip() {
        let d = device(7);
        let name = device_name(&d);
        assert!(name.starts_with("z6Mk"), "{name}");
        assert!(!name.contains([':', '/', '+', '#']));
        for kind in [TopicKind::Frame, TopicKind::Envelope, TopicKind::Verdict] {
            let t = topic("depin", &d, kind);
            assert_eq!(t, format!("depin/{name}/{kind}"));
            assert_eq!(parse_topic("depin", &t).unwrap(), (d, kind));
        }
        let t = topic("acme/oracle", &d, TopicKind::Frame);
        assert_eq!(
            parse_topic("acme/oracle", &t).unwrap(),
            (d, TopicKind::Frame)
        );
    }

    #[test]
    fn topics_under_a_gossip_topic_round_trip() {
        let d = device(9);
        let t = topic_on("depin", &d, Label::new("captures"));
        assert!(t.ends_with("/envelope/captures"), "{t}");
        assert_eq!(
            parse_topic_on("depin", &t).unwrap(),
            (d, TopicKind::Envelope, Some(Label::new("captures")))
        );
        // the plain topics read back without one
        let plain = topic("depin", &d, TopicKind::Frame);
        assert_eq!(
            parse_topic_on("depin", &plain).unwrap(),
            (d, TopicKind::Frame, None)
        );
        // parse_topic knows only the plain topics
        assert_eq!(parse_topic("depin", &t), Err(TopicError::Shape));
        // only envelopes take the level; a level must be a label; no fifth level
        let name = device_name(&d);
        for (bad, want) in [
            (format!("depin/{name}/frame/captures"), TopicError::Shape),
            (format!("depin/{name}/verdict/captures"), TopicError::Shape),
            (
                format!("depin/{name}/envelope/Captures"),
                TopicError::Label("Captures".into()),
            ),
            (
                format!("depin/{name}/envelope/"),
                TopicError::Label(String::new()),
            ),
            (format!("depin/{name}/envelope/a/b"), TopicError::Shape),
        ] {
            let got = parse_topic_on("depin", &bad).unwrap_err();
            assert_eq!(got, want, "{bad}");
            assert_eq!(got.cause(), "bad_topic");
        }
    }

    #[test]
    fn bad_topics() {
        let d = device(7);
        let name = device_name(&d);
        let err = |t: &str| parse_topic("depin", t).unwrap_err();
        assert_eq!(err(&format!("other/{name}/frame")), TopicError::Prefix);
        assert_eq!(err(&format!("depinx/{name}/frame")), TopicError::Prefix);
        assert_eq!(err("depin"), TopicError::Prefix);
        assert_eq!(err(&format!("depin/{name}")), TopicError::Shape);
        assert_eq!(err(&format!("depin/{name}/frame/x")), TopicError::Shape);
        assert!(matches!(
            err(&format!("depin/{name}/beacon")),
            TopicError::Kind(_)
        ));
        for level in [
            "garbage".to_string(),
            String::new(),
            format!("did:key:{name}"),
            "z".repeat(500),
            format!("{name}x"),
        ] {
            let e = err(&format!("depin/{level}/frame"));
            assert!(matches!(e, TopicError::Device(_)), "{level}: {e:?}");
            assert_eq!(e.cause(), "bad_device");
        }
        assert_eq!(TopicError::Shape.cause(), "bad_topic");
    }

    #[test]
    fn acl_text() {
        let acl = mosquitto_acl("depin", "oracle");
        for line in [
            "user oracle",
            "topic read depin/+/frame",
            "topic read depin/+/envelope",
            "topic write depin/+/verdict",
            "pattern write depin/%u/frame",
            "pattern write depin/%u/envelope",
            "pattern read depin/%u/verdict",
        ] {
            assert!(acl.lines().any(|l| l == line), "{line} missing in\n{acl}");
        }
    }

    #[test]
    fn config_validation() {
        let ok = MqttConfig::new("127.0.0.1", 1883, "oracle");
        ok.validate().unwrap();
        let mut c = ok.clone();
        c.client_id.clear();
        assert!(c.validate().is_err());
        for prefix in ["", "a/+", "#", "$SYS", "a//b", "a/", "/a"] {
            let mut c = ok.clone();
            c.topic_prefix = prefix.into();
            assert!(c.validate().is_err(), "{prefix:?}");
        }
        let mut c = ok.clone();
        c.keep_alive = Duration::from_millis(500);
        assert!(c.validate().is_err());
        c.keep_alive = Duration::ZERO;
        c.validate().unwrap();
        let mut c = ok.clone();
        c.max_in_flight = 0;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.password = Some("p".into());
        assert!(c.validate().is_err());
        let c = ok.with_credentials("oracle", "secret");
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn verdict_json() {
        let m = VerdictMessage {
            kind: TopicKind::Frame,
            seq: Some(3),
            result: Some(ItemResult::Rejected {
                reason: crate::Rejection::Replayed,
            }),
            error: None,
        };
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["kind"], "frame");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["result"]["status"], "rejected");
        assert!(v.get("error").is_none());
        let back: VerdictMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn shown_cuts_long_topics() {
        let long = "é".repeat(500);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN);
        assert_eq!(shown("short"), "short");
    }
}
