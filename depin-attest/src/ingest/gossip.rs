//! Gossip into the engine (features `p2p` and `ingest`): a task that takes what a libp2p
//! node delivers ([`Inbox`]) and submits it to the ingest engine with the gossip topic it
//! arrived on, so an oracle on the gossip network stores and answers exactly what it would
//! over HTTP or MQTT.
//!
//! - **The topic is the item's.** Each attestation is submitted with
//!   `Source { channel: Gossip, topic: Some(its topic) }` ([`Source::topic`]): an envelope
//!   of a kind of another topic, or a frame off the frame topic
//!   ([`FRAME_TOPIC`]), is refused `wrong_topic` before its signature
//!   is checked, as the in-process verifier refuses [`crate::Input::EnvelopeOf`]. Items on
//!   the frame topic are frames, on every other topic envelopes. A topic that is not a
//!   [`Label`] is counted (`bad_topic`) and dropped: no kind travels there.
//! - **Nothing is dropped here.** Gossip has no acknowledgement to hold back, so an
//!   overloaded or failing engine ([`IngestError::Overloaded`],
//!   [`IngestError::Unavailable`]) is waited out: the same submission is retried after its
//!   retry-after, and meanwhile the node's bounded inbox is the backpressure (its
//!   [`OverflowPolicy`](crate::p2p::OverflowPolicy) decides, and counts, what it sheds).
//!   A duplicate delivery is stored once and answered `replayed`.
//! - **Order.** Attestations are submitted in the order the inbox delivers them, one
//!   submission at a time (consecutive ones of one topic together, up to
//!   [`ForwardConfig::max_batch`]), so one device's items keep their gossip order.
//!
//! The node's own [`GossipValidator`](crate::p2p::GossipValidator) decides what it forwards
//! to its peers; the engine's verdict is what the oracle stores. A cheap validator (decode
//! and key check) in front of the engine is enough: the engine verifies everything again.

use std::time::Duration;

use crate::kind::{Label, FRAME_TOPIC};
use crate::p2p::{GossipMessage, Inbox};

use super::{Channel, IngestError, IngestHandle, ItemBytes, ItemResult, Source};

/// How [`forward`] batches.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ForwardConfig {
    /// Most attestations in one submission (default 512).
    pub max_batch: usize,
    /// The longest wait between two attempts of a refused submission, whatever its
    /// retry-after says (default 5 s).
    pub max_retry_wait: Duration,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            max_batch: 512,
            max_retry_wait: Duration::from_secs(5),
        }
    }
}

/// What [`forward`] did, when it returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardStats {
    /// Attestations submitted and answered.
    pub submitted: u64,
    /// Of those, accepted and stored.
    pub accepted: u64,
    /// Of those, refused (with a durable verdict, or counted).
    pub rejected: u64,
    /// Attestations on a topic that is not a label (dropped, counted `bad_topic`).
    pub bad_topic: u64,
    /// Submissions tried again after an overloaded or unavailable engine.
    pub retries: u64,
    /// Whether the engine was shutting down (the attestations not yet submitted were
    /// left in the inbox).
    pub engine_stopped: bool,
}

/// Submit everything `inbox` delivers to the engine behind `handle`, until the node shuts
/// down (the inbox ends) or the engine does ([`IngestError::ShuttingDown`]). Run it as a
/// task next to the node; see the [module documentation](self).
pub async fn forward(
    mut inbox: Inbox,
    handle: IngestHandle,
    config: ForwardConfig,
) -> ForwardStats {
    let max_batch = config.max_batch.max(1);
    let mut stats = ForwardStats::default();
    let mut held: Option<GossipMessage> = None;
    loop {
        let first = match held.take() {
            Some(a) => a,
            None => match inbox.recv().await {
                Some(a) => a,
                None => return stats,
            },
        };
        let Ok(topic) = Label::parse(&first.kind) else {
            handle.metrics().refused("bad_topic");
            stats.bad_topic += 1;
            continue;
        };
        // what is already waiting on the same topic joins the submission
        let peer = first.origin.unwrap_or(first.via);
        let mut items = vec![item(topic, first.data)];
        while items.len() < max_batch {
            match inbox.try_recv() {
                Some(next) if *next.kind == *topic.as_str() => items.push(item(topic, next.data)),
                Some(next) => {
                    held = Some(next);
                    break;
                }
                None => break,
            }
        }
        let source = Source::new(Channel::Gossip, peer.to_string()).on_topic(topic);
        loop {
            match handle.submit(source.clone(), items.clone()).await {
                Ok(results) => {
                    stats.submitted += results.len() as u64;
                    for r in &results {
                        match r {
                            ItemResult::Accepted { .. } => stats.accepted += 1,
                            ItemResult::Rejected { .. } => stats.rejected += 1,
                        }
                    }
                    break;
                }
                Err(
                    IngestError::Overloaded { retry_after }
                    | IngestError::Unavailable { retry_after, .. },
                ) => {
                    stats.retries += 1;
                    tokio::time::sleep(retry_after.min(config.max_retry_wait)).await;
                }
                Err(IngestError::ShuttingDown) => {
                    stats.engine_stopped = true;
                    return stats;
                }
            }
        }
    }
}

/// An attestation's bytes as the item its topic carries.
fn item(topic: Label, data: Vec<u8>) -> ItemBytes {
    if topic == FRAME_TOPIC {
        ItemBytes::Frame(data)
    } else {
        ItemBytes::Envelope(data)
    }
}
