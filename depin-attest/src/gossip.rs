//! Adapter that lets the p2p layer validate gossip with the pipeline (feature `p2p`).
//!
//! [`SharedVerifier`] wraps a [`Verifier`] in a mutex and implements
//! [`crate::p2p::GossipValidator`]: topic `"report"` carries report frames, every other
//! topic carries envelopes whose kind must belong to the topic (`"coverage"`: beacons
//! and witnesses; `"storage"`: commitments and proofs; `"energy"`: readings and
//! sessions; `"bandwidth"`: speed tests); an envelope of another kind is rejected as
//! `wrong_topic` at decoding, before it can touch replay windows or reports. Batches go through
//! [`Verifier::verify_batch`], so signatures are batch-verified.
//!
//! Verdict mapping: accepted items are [`Verdict::Accept`]; items that may be honest
//! but late or repeated (stale, replayed, from the future, replay store down) are
//! [`Verdict::Ignore`] (no peer penalty); everything else is [`Verdict::Reject`] with
//! the [`Rejection::code`] as reason.

use std::sync::{Arc, Mutex};

use depin_core::Timestamp;

use crate::p2p::{GossipValidator, Verdict};
use crate::pipeline::{Input, Verifier};
use crate::reason::Rejection;
use crate::registry::{KindSet, Registry};
use crate::replay::ReplayStore;
use crate::types::AttestationKind;

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

/// Whether an attestation kind may travel on the gossip topic `topic`.
pub fn kind_matches_topic(topic: &str, kind: AttestationKind) -> bool {
    use AttestationKind::*;
    matches!(
        (topic, kind),
        ("report", DeviceReport)
            | ("coverage", CoverageBeacon | CoverageWitness)
            | ("storage", StorageCommitment | StorageProof)
            | ("energy", EnergyReading | ChargingSession)
            | ("bandwidth", BandwidthTest)
    )
}

/// The kinds that may travel on the gossip topic `topic` (see [`kind_matches_topic`]).
pub fn topic_kinds(topic: &str) -> KindSet {
    AttestationKind::ALL
        .into_iter()
        .filter(|k| kind_matches_topic(topic, *k))
        .fold(KindSet::NONE, KindSet::with)
}

fn to_verdict(v: crate::pipeline::Verdict) -> Verdict {
    match v {
        Ok(_) => Verdict::Accept,
        Err(
            Rejection::Stale
            | Rejection::Replayed
            | Rejection::FromFuture
            | Rejection::ReplayStoreUnavailable,
        ) => Verdict::Ignore,
        Err(reason) => Verdict::reject(reason.code()),
    }
}

impl<R, S> GossipValidator for SharedVerifier<R, S>
where
    R: Registry + 'static,
    S: ReplayStore + 'static,
{
    fn validate(&self, kind: &str, data: &[u8]) -> Verdict {
        self.validate_batch(&[(kind, data)])
            .pop()
            .unwrap_or(Verdict::Ignore)
    }

    fn validate_batch(&self, batch: &[(&str, &[u8])]) -> Vec<Verdict> {
        let inputs: Vec<Input<'_>> = batch
            .iter()
            .map(|(topic, data)| {
                if *topic == "report" {
                    Input::Frame(data)
                } else {
                    // the topic check runs at decoding, before any state changes
                    Input::EnvelopeOf(data, topic_kinds(topic))
                }
            })
            .collect();
        let Ok(mut verifier) = self.inner.lock() else {
            return vec![Verdict::Ignore; batch.len()];
        };
        verifier
            .verify_batch(&inputs, Timestamp::now())
            .into_iter()
            .map(to_verdict)
            .collect()
    }
}
