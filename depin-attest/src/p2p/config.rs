//! Node configuration: identity, addresses, discovery, limits and peer scoring.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use libp2p::{identity::Keypair, Multiaddr, PeerId};

use super::{
    error::{Error, Result},
    inbox::OverflowPolicy,
    rate::RateLimit,
};

/// The attestation kinds a node joins when none are configured.
pub const DEFAULT_KINDS: [&str; 5] = ["report", "coverage", "storage", "energy", "bandwidth"];

/// Longest accepted network id, in bytes.
pub const MAX_NETWORK_ID_LEN: usize = 64;

/// Longest accepted kind label, in bytes.
pub const MAX_KIND_LEN: usize = 32;

/// Bytes reserved in a gossipsub frame for everything that is not the payload
/// (topic, author key and signature, sequence number, protobuf framing).
pub const GOSSIP_FRAME_OVERHEAD: usize = 1024;

/// The gossipsub topic name for `kind` on `network_id`: `depin/<network-id>/<kind>/1`.
pub fn topic_name(network_id: &str, kind: &str) -> String {
    format!("depin/{network_id}/{kind}/1")
}

/// Everything a [`Node`](super::Node) needs to join a network.
///
/// Start from [`NodeConfig::new`] and adjust fields or use the `with_*` helpers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The network to join (ASCII letters, digits, `-`, `_`, `.`; at most 64 bytes).
    /// It namespaces the topics, the Kademlia, Identify and challenge protocols,
    /// so nodes of different networks never mix.
    pub network_id: String,
    /// GossipMessage kinds to subscribe to (one topic each); defaults to [`DEFAULT_KINDS`].
    pub kinds: Vec<String>,
    /// The node's libp2p identity; `None` generates a fresh Ed25519 key.
    /// Keep the key to restart with the same [`PeerId`](libp2p::PeerId).
    pub keypair: Option<Keypair>,
    /// Addresses to listen on (TCP `/ip4/.../tcp/N` and QUIC `/ip4/.../udp/N/quic-v1`).
    pub listen_addrs: Vec<Multiaddr>,
    /// Peers to dial at start and whenever the node finds itself alone; each
    /// must end in `/p2p/<peer id>`. Bootstrap peers are trusted (see
    /// [`NodeConfig::trusted_peers`]).
    pub bootstrap: Vec<Multiaddr>,
    /// Peers the operator vouches for (for example the network's own
    /// gateways). They are never refused or evicted for lack of a connection
    /// slot, are not counted against the connection limits, and are not
    /// caught by address bans; peer-id bans and scoring still apply. Empty by
    /// default (the bootstrap peers are trusted in addition to these).
    pub trusted_peers: Vec<PeerId>,
    /// Discover peers through Kademlia (seeded from the bootstrap peers). On by default.
    pub kademlia: bool,
    /// How often Kademlia re-runs its bootstrap query.
    pub kademlia_bootstrap_interval: Duration,
    /// Discover peers on the local link with mDNS. Off by default.
    pub mdns: bool,
    /// Sign gossip messages with the node key and require signatures on what
    /// arrives (Gossipsub's strict mode; on by default, and the only mode in
    /// which [`GossipMessage::origin`](super::GossipMessage::origin) is known).
    /// Off, messages carry no author, sequence number or signature (anonymous
    /// mode): cheaper per hop, since attestations carry their own device
    /// signatures and the neighbour that delivered a message is still
    /// authenticated by Noise and still penalised for invalid ones. Every node
    /// of a network must use the same setting.
    pub signed_gossip: bool,
    /// Gossipsub heartbeat (mesh maintenance, gossip emission, score decay checks).
    pub heartbeat_interval: Duration,
    /// How long an outbound challenge may wait for its answer.
    pub challenge_timeout: Duration,
    /// Connections without traffic are closed after this long.
    pub idle_connection_timeout: Duration,
    /// Sizes, queues and rates.
    pub limits: Limits,
    /// Gossipsub peer scoring.
    pub scoring: ScoringConfig,
}

impl NodeConfig {
    /// A configuration for `network_id` with defaults: all [`DEFAULT_KINDS`],
    /// a fresh key, TCP and QUIC on all interfaces with OS-chosen ports,
    /// Kademlia on, mDNS off.
    pub fn new(network_id: impl Into<String>) -> Self {
        Self {
            network_id: network_id.into(),
            kinds: DEFAULT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            keypair: None,
            listen_addrs: tcp_and_quic(Ipv4Addr::UNSPECIFIED).into(),
            bootstrap: Vec::new(),
            trusted_peers: Vec::new(),
            kademlia: true,
            kademlia_bootstrap_interval: Duration::from_secs(60),
            mdns: false,
            signed_gossip: true,
            heartbeat_interval: Duration::from_secs(1),
            challenge_timeout: Duration::from_secs(10),
            idle_connection_timeout: Duration::from_secs(60),
            limits: Limits::default(),
            scoring: ScoringConfig::default(),
        }
    }

    /// Uses this identity (for example to restart with the same peer id).
    pub fn with_keypair(mut self, keypair: Keypair) -> Self {
        self.keypair = Some(keypair);
        self
    }

    /// Replaces the listen addresses.
    pub fn with_listen_addrs(mut self, addrs: impl IntoIterator<Item = Multiaddr>) -> Self {
        self.listen_addrs = addrs.into_iter().collect();
        self
    }

    /// Listens on TCP and QUIC on 127.0.0.1 with OS-chosen ports (handy for tests).
    pub fn with_loopback(self) -> Self {
        self.with_listen_addrs(tcp_and_quic(Ipv4Addr::LOCALHOST))
    }

    /// Adds a bootstrap peer (an address ending in `/p2p/<peer id>`).
    pub fn with_bootstrap(mut self, addr: Multiaddr) -> Self {
        self.bootstrap.push(addr);
        self
    }

    /// Adds a trusted peer (see [`NodeConfig::trusted_peers`]).
    pub fn with_trusted_peer(mut self, peer: PeerId) -> Self {
        self.trusted_peers.push(peer);
        self
    }

    /// Replaces the kinds (topics) this node joins.
    pub fn with_kinds<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Turns Kademlia discovery on or off.
    pub fn with_kademlia(mut self, on: bool) -> Self {
        self.kademlia = on;
        self
    }

    /// Turns mDNS discovery on or off.
    pub fn with_mdns(mut self, on: bool) -> Self {
        self.mdns = on;
        self
    }

    /// Turns gossip message signing on (strict mode) or off (anonymous mode).
    pub fn with_signed_gossip(mut self, on: bool) -> Self {
        self.signed_gossip = on;
        self
    }

    /// Sets the outbound challenge timeout.
    pub fn with_challenge_timeout(mut self, timeout: Duration) -> Self {
        self.challenge_timeout = timeout;
        self
    }

    /// Sets the gossipsub heartbeat interval.
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the scoring parameters.
    pub fn with_scoring(mut self, scoring: ScoringConfig) -> Self {
        self.scoring = scoring;
        self
    }

    /// Checks the configuration for consistency.
    pub fn validate(&self) -> Result<()> {
        check_label("network id", &self.network_id, MAX_NETWORK_ID_LEN)?;
        if self.kinds.is_empty() {
            return Err(invalid("at least one attestation kind is required"));
        }
        for (i, kind) in self.kinds.iter().enumerate() {
            check_label("kind", kind, MAX_KIND_LEN)?;
            if self.kinds[..i].contains(kind) {
                return Err(invalid(format!("kind {kind:?} is listed twice")));
            }
        }
        if self.listen_addrs.is_empty() {
            return Err(invalid("at least one listen address is required"));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(invalid("heartbeat interval must be positive"));
        }
        if self.challenge_timeout.is_zero() {
            return Err(invalid("challenge timeout must be positive"));
        }
        self.limits.validate()?;
        self.scoring.validate()
    }
}

/// Sizes, queue depths, rates and connection counts. Every buffer in the node is bounded by one of these.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Largest gossiped attestation payload, in bytes. Gossipsub's
    /// `max_transmit_size` is set to this plus [`GOSSIP_FRAME_OVERHEAD`], so
    /// larger frames are dropped by the codec before any other work.
    pub max_message_size: usize,
    /// Largest challenge request, in bytes.
    pub max_challenge_size: usize,
    /// Largest challenge response (proof), in bytes.
    pub max_challenge_response_size: usize,
    /// Capacity of the application's queue of verified attestations.
    pub inbox_capacity: usize,
    /// What happens when that queue is full.
    pub inbox_overflow: OverflowPolicy,
    /// Capacity of the command queue from [`NodeHandle`](super::NodeHandle)s to the node
    /// (callers wait when it is full).
    pub command_queue: usize,
    /// Messages waiting for the validator; beyond this, new messages are
    /// dropped before Gossipsub records them (not forwarded, not penalised,
    /// and not shadowing a copy from another peer) and counted.
    pub validation_queue: usize,
    /// Most messages handed to the validator in one call.
    pub validation_batch: usize,
    /// Gossip messages taken from one neighbour, checked before Gossipsub's
    /// duplicate filter and before any validation. What is over the rate is
    /// dropped without being recorded, so it shadows no copy of the same
    /// payload from another peer; copies of payloads already accepted or
    /// rejected do not count. See [`ScoringConfig::over_rate_weight`] for what
    /// a sustained excess costs.
    pub peer_rate: RateLimit,
    /// Challenge requests served for one peer.
    pub challenge_rate: RateLimit,
    /// Inbound challenges being answered at once; more are refused as busy.
    pub max_inbound_challenges: usize,
    /// Outbound challenges waiting for answers at once; more fail with `Busy`.
    pub max_outbound_challenges: usize,
    /// Established connections in total, inbound and outbound, trusted peers
    /// not counted (default 256): an inbound connection is let in only while
    /// the total is below this. Outbound connections are bounded by
    /// [`Limits::max_outbound_connections`] alone, so inbound crowding never
    /// stops the node from dialling. The default is the sum of the inbound,
    /// reserved and outbound defaults.
    pub max_connections: u32,
    /// Established inbound connections open to any peer. At this limit a new
    /// inbound peer is let in only in place of an *unproven* one (a peer that
    /// has not delivered a valid message within the last hour), the one
    /// connected longest, provided it is older than
    /// [`Limits::eviction_grace`]; otherwise the newcomer is refused. Idle
    /// identities therefore cannot hold the slots against newcomers, and
    /// peers that deliver valid gossip are never displaced by ones that do not.
    /// Default 160.
    pub max_inbound_connections: u32,
    /// Inbound slots above [`Limits::max_inbound_connections`] that only
    /// proven peers (those that delivered a valid message within the last
    /// hour) may take; trusted peers need no slot at all. Default 32; may be 0.
    pub reserved_inbound_connections: u32,
    /// Established outbound connections (dials made by this node), counted
    /// apart from inbound ones so that inbound crowding never stops the node
    /// from dialling. Trusted peers are not counted. Default 64.
    pub max_outbound_connections: u32,
    /// Distinct peers connected inbound from one address: one IPv4 address,
    /// or one IPv6 /64 (what a single host can usually claim). Trusted peers
    /// are not counted. Applies to every address, loopback and private ones
    /// included; raise it for local test networks of many nodes on one host.
    /// Default 8.
    pub max_peers_per_ip: u32,
    /// How long a newly connected inbound peer is safe from eviction (see
    /// [`Limits::max_inbound_connections`]): the time it has to prove itself.
    /// Default 30 s.
    pub eviction_grace: Duration,
    /// Established connections per peer.
    pub max_connections_per_peer: u32,
    /// Connections being set up (each direction).
    pub max_pending_connections: u32,
    /// Per-connection gossipsub send queue length.
    pub gossip_send_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            max_challenge_size: 64 * 1024,
            max_challenge_response_size: 4 * 1024 * 1024,
            inbox_capacity: 4096,
            inbox_overflow: OverflowPolicy::DropOldest,
            command_queue: 256,
            validation_queue: 4096,
            validation_batch: 64,
            peer_rate: RateLimit::new(500, 1000),
            challenge_rate: RateLimit::new(10, 20),
            max_inbound_challenges: 16,
            max_outbound_challenges: 256,
            max_connections: 256,
            max_inbound_connections: 160,
            reserved_inbound_connections: 32,
            max_outbound_connections: 64,
            max_peers_per_ip: 8,
            eviction_grace: Duration::from_secs(30),
            max_connections_per_peer: 2,
            max_pending_connections: 64,
            gossip_send_queue: 5000,
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("max_message_size", self.max_message_size),
            ("max_challenge_size", self.max_challenge_size),
            (
                "max_challenge_response_size",
                self.max_challenge_response_size,
            ),
            ("inbox_capacity", self.inbox_capacity),
            ("command_queue", self.command_queue),
            ("validation_queue", self.validation_queue),
            ("validation_batch", self.validation_batch),
            ("max_inbound_challenges", self.max_inbound_challenges),
            ("max_outbound_challenges", self.max_outbound_challenges),
            ("gossip_send_queue", self.gossip_send_queue),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(format!("limits.{name} must be positive")));
            }
        }
        let connections = [
            ("max_connections", self.max_connections),
            ("max_inbound_connections", self.max_inbound_connections),
            ("max_outbound_connections", self.max_outbound_connections),
            ("max_peers_per_ip", self.max_peers_per_ip),
            ("max_connections_per_peer", self.max_connections_per_peer),
        ];
        for (name, value) in connections {
            if value == 0 {
                return Err(invalid(format!("limits.{name} must be positive")));
            }
        }
        Ok(())
    }
}

/// Gossipsub peer-scoring parameters.
///
/// Only behaviour that can be judged without trusting anyone moves the score:
/// invalid messages (P4, quadratic in their decaying count), protocol
/// misbehaviour (P7) and crowding from one IP (P6), with a small, capped reward
/// for first deliveries (P2). Mesh-delivery penalties (P3) are off, since
/// attestation traffic is bursty and a quiet peer is not a bad one.
///
/// With the defaults a neighbour that relays about ten invalid attestations in
/// a short time falls below the graylist threshold (its messages are no longer
/// processed) and is disconnected and banned; the count decays by 10% per
/// second, so an honest peer that relays the odd bad message recovers.
///
/// Sending over the per-peer rate costs nothing for a burst but does for a
/// flood: messages refused over the rate are counted (the count decays like
/// the invalid-message one) and the part of the count above
/// `over_rate_tolerance` lowers the score by `over_rate_weight` each (P5,
/// the application-specific score). With the defaults a burst costs nothing, a
/// peer that keeps sending twice the default rate of new messages sinks below
/// the gossip threshold, and one that keeps sending three times the rate is
/// banned after about 20 seconds (five times: after about 6 seconds).
///
/// A ban covers the peer id for `ban_duration` and, for
/// `address_ban_duration`, the addresses the peer was connected from: during
/// that time no *new* identity (one that is neither trusted, nor connected,
/// nor has delivered a valid message within the last hour) is let in from
/// those addresses (an IPv4 address or an IPv6 /64), so coming back under a
/// fresh key also takes a fresh address.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScoringConfig {
    /// Weight of the squared invalid-message counter (P4); must be negative.
    pub invalid_message_weight: f64,
    /// Factor applied to the invalid-message counter every second (0 < decay < 1).
    pub invalid_message_decay: f64,
    /// Weight of each first delivery of a valid message (P2); must be >= 0.
    pub first_delivery_weight: f64,
    /// Cap of the first-delivery counter, which bounds how much credit a peer can bank.
    pub first_delivery_cap: f64,
    /// Below this score no gossip (IHAVE/IWANT) is exchanged with the peer.
    pub gossip_threshold: f64,
    /// Below this score the node does not publish to the peer.
    pub publish_threshold: f64,
    /// Below this score everything the peer sends is ignored.
    pub graylist_threshold: f64,
    /// At or below this score the peer is disconnected and banned; must be
    /// at or above `graylist_threshold` so it is reachable.
    pub disconnect_threshold: f64,
    /// How long a disconnected peer stays banned.
    pub ban_duration: Duration,
    /// How long the addresses of a banned peer refuse new identities (see
    /// above); zero turns address bans off. Default 10 minutes.
    pub address_ban_duration: Duration,
    /// Score per over-rate message beyond `over_rate_tolerance` (P5); must be
    /// <= 0, and 0 turns the penalty off. Default -0.01.
    pub over_rate_weight: f64,
    /// Over-rate messages (a count decaying by `invalid_message_decay` per
    /// second) a peer may send before `over_rate_weight` applies; >= 0.
    /// Default 1000.
    pub over_rate_tolerance: f64,
    /// Peers from more than this many connections on one IP are penalised (P6).
    pub ip_colocation_threshold: f64,
    /// IPs exempt from the colocation penalty (loopback by default).
    pub ip_colocation_whitelist: Vec<IpAddr>,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            invalid_message_weight: -1.0,
            invalid_message_decay: 0.9,
            first_delivery_weight: 0.1,
            first_delivery_cap: 50.0,
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            disconnect_threshold: -80.0,
            ban_duration: Duration::from_secs(10 * 60),
            address_ban_duration: Duration::from_secs(10 * 60),
            over_rate_weight: -0.01,
            over_rate_tolerance: 1000.0,
            ip_colocation_threshold: 10.0,
            ip_colocation_whitelist: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        }
    }
}

impl ScoringConfig {
    fn validate(&self) -> Result<()> {
        let finite = [
            self.invalid_message_weight,
            self.invalid_message_decay,
            self.first_delivery_weight,
            self.first_delivery_cap,
            self.gossip_threshold,
            self.publish_threshold,
            self.graylist_threshold,
            self.disconnect_threshold,
            self.ip_colocation_threshold,
            self.over_rate_weight,
            self.over_rate_tolerance,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err(invalid("scoring parameters must be finite numbers"));
        }
        if self.invalid_message_weight >= 0.0 {
            return Err(invalid("scoring.invalid_message_weight must be negative"));
        }
        if !(self.invalid_message_decay > 0.0 && self.invalid_message_decay < 1.0) {
            return Err(invalid("scoring.invalid_message_decay must be in (0, 1)"));
        }
        if self.first_delivery_weight < 0.0 || self.first_delivery_cap <= 0.0 {
            return Err(invalid(
                "scoring.first_delivery_weight must be >= 0 and the cap positive",
            ));
        }
        if !(self.gossip_threshold <= 0.0
            && self.publish_threshold <= self.gossip_threshold
            && self.graylist_threshold <= self.publish_threshold)
        {
            return Err(invalid(
                "scoring thresholds must satisfy 0 >= gossip >= publish >= graylist",
            ));
        }
        if self.over_rate_weight > 0.0 || self.over_rate_tolerance < 0.0 {
            return Err(invalid(
                "scoring.over_rate_weight must be <= 0 and scoring.over_rate_tolerance >= 0",
            ));
        }
        if self.disconnect_threshold < self.graylist_threshold || self.disconnect_threshold >= 0.0 {
            return Err(invalid(
                "scoring.disconnect_threshold must be negative and >= graylist_threshold",
            ));
        }
        Ok(())
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidConfig(msg.into())
}

fn check_label(what: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(format!("{what} must be 1 to {max} bytes long")));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(format!(
            "{what} {value:?} may only contain ASCII letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

/// Listen addresses on `ip` for TCP and QUIC, ports chosen by the OS.
fn tcp_and_quic(ip: Ipv4Addr) -> [Multiaddr; 2] {
    use libp2p::multiaddr::Protocol;
    [
        Multiaddr::from(ip).with(Protocol::Tcp(0)),
        Multiaddr::from(ip)
            .with(Protocol::Udp(0))
            .with(Protocol::QuicV1),
    ]
}
