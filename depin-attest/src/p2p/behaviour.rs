//! The composed libp2p behaviour and the challenge wire format.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use libp2p::{
    allow_block_list, connection_limits,
    gossipsub::{self, IdentTopic, MessageAuthenticity, TopicHash},
    identify,
    identity::Keypair,
    kad, mdns,
    request_response::{self, ProtocolSupport},
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    PeerId, StreamProtocol,
};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{
    admission::Admission,
    config::{topic_name, NodeConfig, GOSSIP_FRAME_OVERHEAD},
    counters::Counters,
    guard::{Guard, Retries},
    PeerFilter,
};

/// How long Gossipsub remembers message ids (its duplicate cache), and so how
/// long an ignored payload keeps its re-issued ids.
pub(crate) const SEEN_TTL: Duration = Duration::from_secs(120);

/// Opaque bytes on the challenge wire, encoded as one CBOR byte string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WireBytes(pub(crate) Vec<u8>);

impl Serialize for WireBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> de::Visitor<'de> for Visit {
            type Value = WireBytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<WireBytes, E> {
                Ok(WireBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<WireBytes, E> {
                Ok(WireBytes(v))
            }
        }
        deserializer.deserialize_bytes(Visit)
    }
}

/// The answer to a challenge on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireResponse {
    /// The prover's answer (for a storage challenge: chunks and Merkle paths).
    Proof(WireBytes),
    /// The prover declined, with a short reason.
    Refused(String),
}

/// Longest refusal reason sent over the wire, in bytes.
pub(crate) const MAX_REFUSAL_LEN: usize = 256;

/// The libp2p behaviours a node runs, polled together by one swarm.
///
/// The behaviours that may refuse a connection come first (`limits`,
/// `blocked`, `admission`): a refusal stops the later ones from being asked,
/// so none of them keeps state for a connection that never comes up.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) admission: Admission,
    pub(crate) identify: identify::Behaviour,
    pub(crate) kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) gossipsub: Guard,
    pub(crate) challenge: request_response::cbor::Behaviour<WireBytes, WireResponse>,
}

/// Protocol names derived from the network id (built once per node: the behaviour speaks them
/// and the node checks peers' identify answers against them).
pub(crate) struct Protocols {
    pub(crate) identify: String,
    pub(crate) kad: StreamProtocol,
    pub(crate) challenge: StreamProtocol,
}

impl Protocols {
    pub(crate) fn new(network_id: &str) -> Result<Self, String> {
        let proto = |name: &str| {
            StreamProtocol::try_from_owned(format!("/depin/{network_id}/{name}"))
                .map_err(|e| e.to_string())
        };
        Ok(Self {
            identify: format!("/depin/{network_id}/1"),
            kad: proto("kad/1.0.0")?,
            challenge: proto("challenge/1")?,
        })
    }
}

/// Content id: SHA-256 over the topic and the payload (topic length-prefixed).
///
/// It is the Gossipsub message id of a payload unless a copy of it was ignored
/// (see [`Retries`]). Content addressing drops duplicates however many times
/// and by whomever the same attestation is published. The topic is included so
/// that a copy pushed on the wrong topic (and rejected there) cannot shadow the
/// real one.
pub(crate) fn content_id(topic: &TopicHash, data: &[u8]) -> Vec<u8> {
    let topic = topic.as_str().as_bytes();
    let mut hasher = Sha256::new();
    hasher.update((topic.len() as u64).to_be_bytes());
    hasher.update(topic);
    hasher.update(data);
    hasher.finalize().to_vec()
}

/// Who [`build`]'s admission lets in beyond the limits: trusted peers (trusted
/// and bootstrap), and the application's filter, if any.
pub(crate) struct Admitted {
    pub(crate) trusted: Vec<PeerId>,
    pub(crate) filter: Option<Arc<dyn PeerFilter>>,
}

/// What [`build`] returns next to the behaviour: each topic's hash and its kind.
pub(crate) type TopicKinds = HashMap<TopicHash, Arc<str>>;

/// Builds the behaviour for `config` (already validated) and subscribes to every kind's topic.
///
/// `admitted` says who is trusted and filtered; `retries` decides message
/// ids; `counters` are the node's statistics.
pub(crate) fn build(
    key: &Keypair,
    config: &NodeConfig,
    protocols: &Protocols,
    admitted: Admitted,
    retries: &Arc<Retries>,
    counters: &Arc<Counters>,
) -> Result<(Behaviour, TopicKinds), Box<dyn std::error::Error + Send + Sync>> {
    let peer_id = key.public().to_peer_id();
    let limits = &config.limits;

    // Totals, directions, per-address limits and bans are the admission
    // behaviour's; this one bounds connections per peer and handshakes.
    let connection_limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(limits.max_connections_per_peer))
            .with_max_pending_incoming(Some(limits.max_pending_connections))
            .with_max_pending_outgoing(Some(limits.max_pending_connections)),
    );
    let admission = Admission::new(
        config,
        admitted.trusted,
        admitted.filter,
        Arc::clone(counters),
    );

    let identify = identify::Behaviour::new(
        identify::Config::new(protocols.identify.clone(), key.public())
            .with_agent_version(format!("depin-attest/{}", env!("CARGO_PKG_VERSION")))
            .with_cache_size(limits.max_connections as usize),
    );

    let kad = config.kademlia.then(|| {
        let mut kad_config = kad::Config::new(protocols.kad.clone());
        kad_config
            .set_periodic_bootstrap_interval(Some(config.kademlia_bootstrap_interval))
            // We store no records; never let peers write into our store.
            .set_record_filtering(kad::StoreInserts::FilterBoth)
            .set_query_timeout(Duration::from_secs(30));
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        // Answer queries from the start: nodes on private or loopback
        // addresses never get a confirmed external address to switch on their own.
        kad.set_mode(Some(kad::Mode::Server));
        kad
    });

    let mdns = if config.mdns {
        Some(mdns::tokio::Behaviour::new(
            mdns::Config::default(),
            peer_id,
        )?)
    } else {
        None
    };

    let gossip_config = gossipsub::ConfigBuilder::default()
        .validate_messages()
        .validation_mode(if config.signed_gossip {
            gossipsub::ValidationMode::Strict
        } else {
            gossipsub::ValidationMode::Anonymous
        })
        .message_id_fn({
            let retries = Arc::clone(retries);
            move |m: &gossipsub::Message| retries.message_id(&m.topic, &m.data)
        })
        .max_transmit_size(
            limits
                .max_message_size
                .saturating_add(GOSSIP_FRAME_OVERHEAD),
        )
        .heartbeat_interval(config.heartbeat_interval)
        .heartbeat_initial_delay(config.heartbeat_interval.min(Duration::from_millis(500)))
        .duplicate_cache_time(SEEN_TTL)
        // Never send IDONTWANT: it is sent for a copy before that copy is
        // validated, and would ask the mesh to withhold the other copies of a
        // payload whose first copy then turns out to be ignored.
        .idontwant_message_size_threshold(usize::MAX)
        .connection_handler_queue_len(limits.gossip_send_queue)
        .flood_publish(true)
        .build()
        .map_err(|e| e.to_string())?;
    let authenticity = if config.signed_gossip {
        MessageAuthenticity::Signed(key.clone())
    } else {
        MessageAuthenticity::Anonymous
    };
    let mut gossipsub = gossipsub::Behaviour::new(authenticity, gossip_config)?;

    let mut topics = TopicKinds::new();
    let mut score_params = peer_score_params(config);
    for kind in &config.kinds {
        let topic = IdentTopic::new(topic_name(&config.network_id, kind));
        score_params
            .topics
            .insert(topic.hash(), topic_score_params(config));
        gossipsub.subscribe(&topic).map_err(|e| e.to_string())?;
        topics.insert(topic.hash(), Arc::from(kind.as_str()));
    }
    gossipsub.with_peer_score(score_params, peer_score_thresholds(config))?;

    let codec = request_response::cbor::codec::Codec::<WireBytes, WireResponse>::default()
        // CBOR adds a few bytes of framing around the opaque payloads.
        .set_request_size_maximum(limits.max_challenge_size as u64 + 16)
        .set_response_size_maximum(
            (limits.max_challenge_response_size + MAX_REFUSAL_LEN) as u64 + 16,
        );
    let challenge = request_response::Behaviour::with_codec(
        codec,
        [(protocols.challenge.clone(), ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.challenge_timeout)
            .with_max_concurrent_streams(
                limits
                    .max_inbound_challenges
                    .saturating_add(limits.max_outbound_challenges),
            ),
    );

    Ok((
        Behaviour {
            limits: connection_limits,
            blocked: allow_block_list::Behaviour::default(),
            admission,
            identify,
            kad: Toggle::from(kad),
            mdns: Toggle::from(mdns),
            gossipsub: Guard::new(gossipsub, config, Arc::clone(retries), Arc::clone(counters)),
            challenge,
        },
        topics,
    ))
}

fn peer_score_params(config: &NodeConfig) -> gossipsub::PeerScoreParams {
    let s = &config.scoring;
    gossipsub::PeerScoreParams {
        // Positive topic contributions (first deliveries) are capped low so a
        // flooder cannot bank credit with valid traffic.
        topic_score_cap: 10.0,
        // P5 carries the over-rate penalty, already in score units (see `guard`).
        app_specific_weight: 1.0,
        ip_colocation_factor_threshold: s.ip_colocation_threshold,
        ip_colocation_factor_whitelist: s.ip_colocation_whitelist.iter().copied().collect(),
        behaviour_penalty_threshold: 6.0,
        ..Default::default()
    }
}

fn topic_score_params(config: &NodeConfig) -> gossipsub::TopicScoreParams {
    let s = &config.scoring;
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P1 off: time in the mesh earns nothing.
        time_in_mesh_weight: 0.0,
        // P2: a little credit for first deliveries, capped.
        first_message_deliveries_weight: s.first_delivery_weight,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: s.first_delivery_cap,
        // P3 and P3b off: quiet is not malicious.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: invalid messages, quadratic.
        invalid_message_deliveries_weight: s.invalid_message_weight,
        invalid_message_deliveries_decay: s.invalid_message_decay,
        ..Default::default()
    }
}

fn peer_score_thresholds(config: &NodeConfig) -> gossipsub::PeerScoreThresholds {
    let s = &config.scoring;
    gossipsub::PeerScoreThresholds {
        gossip_threshold: s.gossip_threshold,
        publish_threshold: s.publish_threshold,
        graylist_threshold: s.graylist_threshold,
        ..Default::default()
    }
}
