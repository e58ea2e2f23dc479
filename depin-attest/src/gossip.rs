//! Adapter that lets the p2p layer validate gossip with the pipeline (feature `p2p`).
//!
//! [`SharedVerifier`] wraps a [`Verifier`] in a mutex and implements
//! [`crate::p2p::GossipValidator`]. Topics derive from the verifier's registered kinds
//! ([`crate::kind::Kind::topic`], [`Verifier::topics`]): frames of every kind travel on the
//! frame topic (`"report"`, [`crate::kind::FRAME_TOPIC`]); every other topic carries
//! envelopes whose kind must belong to the topic (built-in: `"coverage"`: beacons and
//! witnesses; `"storage"`: commitments and proofs; `"energy"`: readings and sessions;
//! `"bandwidth"`: speed tests; a network's own kinds on theirs); an envelope of another
//! kind is rejected as `wrong_topic` at decoding (counted in the report), before it can
//! touch keys, signatures or replay windows. Batches go through [`Verifier::verify_batch`], so signatures are
//! batch-verified.
//!
//! Verdict mapping ([`gossip_verdict`]): accepted items are [`GossipVerdict::Accept`]; items that
//! may be honest but late, repeated or not checkable now are [`GossipVerdict::Ignore`] (no peer
//! penalty); everything else is [`GossipVerdict::Reject`] with the [`crate::Rejection::code`] as reason.
//! Network-defined policy rejections follow the same rule.

use std::sync::{Arc, Mutex};

use depin_core::Timestamp;

use crate::kind::{KindSet, Label};
use crate::p2p::{GossipValidator, GossipVerdict};
use crate::pipeline::{Input, Verifier};
use crate::registry::Registry;
use crate::replay::ReplayStore;

/// A verifier shared between the gossip layer and the application.
#[derive(Debug)]
pub struct SharedVerifier<R, S> {
    inner: Arc<Mutex<Verifier<R, S>>>,
}

impl<R, S> Clone for SharedVerifier<R, S> {
    fn clone(&self) -> Self {
        SharedVerifier {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R, S> SharedVerifier<R, S> {
    /// Share `verifier`.
    pub fn new(verifier: Verifier<R, S>) -> Self {
        SharedVerifier {
            inner: Arc::new(Mutex::new(verifier)),
        }
    }

    /// The shared verifier (to finalize coverage, read reports, update deny lists).
    pub fn inner(&self) -> &Arc<Mutex<Verifier<R, S>>> {
        &self.inner
    }
}

/// The gossip verdict of a pipeline verdict: the one rule for built-in and network-defined
/// reasons alike ([`crate::Rejection::penalises_sender`]): accepted items are
/// [`GossipVerdict::Accept`], rejections that penalise are [`GossipVerdict::Reject`] with the
/// [`crate::Rejection::code`] as reason, every other rejection is [`GossipVerdict::Ignore`].
pub fn gossip_verdict(v: &crate::pipeline::Verdict) -> GossipVerdict {
    match v {
        Ok(_) => GossipVerdict::Accept,
        Err(reason) if reason.penalises_sender() => GossipVerdict::Reject(reason.code()),
        Err(_) => GossipVerdict::Ignore,
    }
}

impl<R, S> GossipValidator for SharedVerifier<R, S>
where
    R: Registry + 'static,
    S: ReplayStore + 'static,
{
    fn validate(&self, kind: &str, data: &[u8]) -> GossipVerdict {
        self.validate_batch(&[(kind, data)])
            .pop()
            .unwrap_or(GossipVerdict::Ignore)
    }

    fn validate_batch(&self, batch: &[(&str, &[u8])]) -> Vec<GossipVerdict> {
        let Ok(mut verifier) = self.inner.lock() else {
            return vec![GossipVerdict::Ignore; batch.len()];
        };
        let inputs: Vec<Input<'_>> = batch
            .iter()
            .map(|(topic, data)| match Label::parse(topic) {
                Ok(t) if verifier.topic_carries_frames(t) => Input::Frame(data),
                // the topic check runs at decoding, before any state changes; an unknown
                // topic carries no kind, so everything on it is `wrong_topic`
                Ok(t) => Input::EnvelopeOf(data, verifier.topic_kinds(t)),
                Err(_) => Input::EnvelopeOf(data, KindSet::NONE),
            })
            .collect();
        verifier
            .verify_batch(&inputs, Timestamp::now())
            .iter()
            .map(gossip_verdict)
            .collect()
    }
}
