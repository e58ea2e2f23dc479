//! The node: one swarm task, one validation worker, and cheap cloneable handles.
//!
//! ```text
//!  NodeHandle --commands (bounded)--> swarm task --pending (bounded, try_send)--> validation worker
//!                                         ^  |                                      | spawn_blocking(validator)
//!                                         |  +--verified--> Inbox (bounded)          |
//!                                         +----------verdicts (bounded)-------------+
//! ```
//!
//! The swarm task never waits on a queue it feeds. Before Gossipsub records a
//! message's id, the gossip guard (see `guard`) drops what is over its sender's
//! rate or what the validation queue has no room for, so neither can suppress
//! the same payload arriving from another peer; the inbox drops by policy and
//! counts.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use futures::StreamExt;
use libp2p::{
    identity::Keypair, multiaddr::Protocol, noise, swarm::SwarmEvent, tcp, yamux, Multiaddr,
    PeerId, Swarm, SwarmBuilder,
};
use tokio::sync::{mpsc, watch};

use super::handle::{Inner, NodeHandle, Reasons};
use super::task::{validation_worker, Task};
use super::{
    behaviour::{self, Behaviour, TopicKinds},
    config::NodeConfig,
    counters::Counters,
    error::{Error, Result},
    guard::Retries,
    inbox::{self, Inbox},
    rate::PeerLimiter,
    ChallengeHandler, GossipValidator, PeerFilter,
};

/// How long [`Node::start`] waits for every listener to report an address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A node that has not started yet: configuration, validator, optional
/// challenge handler and optional peer filter.
pub struct Node {
    config: NodeConfig,
    validator: Arc<dyn GossipValidator>,
    challenges: Option<Arc<dyn ChallengeHandler>>,
    peer_filter: Option<Arc<dyn PeerFilter>>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("config", &self.config)
            .field("challenge_handler", &self.challenges.is_some())
            .field("peer_filter", &self.peer_filter.is_some())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node for `config` whose gossip is checked by `validator`.
    pub fn new(config: NodeConfig, validator: Arc<dyn GossipValidator>) -> Self {
        Self {
            config,
            validator,
            challenges: None,
            peer_filter: None,
        }
    }

    /// Serves challenges from other peers with `handler` (without one, every
    /// challenge is refused).
    pub fn with_challenge_handler(mut self, handler: Arc<dyn ChallengeHandler>) -> Self {
        self.challenges = Some(handler);
        self
    }

    /// Lets only the peers `filter` allows connect, in either direction (for
    /// example only peers whose key is registered with the network): the
    /// strongest answer to identities that cost nothing. Trusted and bootstrap
    /// peers are not asked. Without a filter every peer may connect, within
    /// the connection limits.
    pub fn with_peer_filter(mut self, filter: Arc<dyn PeerFilter>) -> Self {
        self.peer_filter = Some(filter);
        self
    }

    /// Binds the listen addresses, dials the bootstrap peers, subscribes to
    /// every kind's topic and spawns the node's tasks on the current tokio
    /// runtime.
    ///
    /// Returns once every listener has an address, with a handle to control
    /// the node and the bounded queue of verified attestations.
    pub async fn start(self) -> Result<(NodeHandle, Inbox)> {
        let Node {
            config,
            validator,
            challenges,
            peer_filter,
        } = self;
        config.validate()?;
        tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;

        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| {
                peer_of(addr)
                    .map(|peer| (peer, addr.clone()))
                    .ok_or_else(|| {
                        Error::InvalidConfig(format!(
                            "bootstrap address {addr} must end in /p2p/<peer id>"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;

        let keypair = config
            .keypair
            .clone()
            .unwrap_or_else(Keypair::generate_ed25519);
        let protocols =
            behaviour::Protocols::new(&config.network_id).map_err(Error::InvalidConfig)?;
        let counters = Arc::new(Counters::default());
        let retries = Arc::new(Retries::new(behaviour::SEEN_TTL));
        let trusted: Vec<PeerId> = bootstrap
            .iter()
            .map(|(peer, _)| *peer)
            .chain(config.trusted_peers.iter().copied())
            .collect();
        let mut topics: Option<TopicKinds> = None;
        let mut swarm = SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| Error::Transport(e.to_string()))?
            .with_quic()
            .with_behaviour(|key| {
                let admitted = behaviour::Admitted {
                    trusted,
                    filter: peer_filter,
                };
                let (behaviour, kinds) =
                    behaviour::build(key, &config, &protocols, admitted, &retries, &counters)?;
                topics = Some(kinds);
                Ok(behaviour)
            })
            .map_err(|e| Error::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
            .build();
        let topics = topics.ok_or_else(|| Error::Transport("behaviour was not built".into()))?;
        let peer_id = *swarm.local_peer_id();

        listen(&mut swarm, &config.listen_addrs).await?;

        let reasons = Arc::new(Reasons::default());
        let limits = config.limits.clone();
        let (inbox_tx, inbox) = inbox::inbox(limits.inbox_capacity, limits.inbox_overflow);
        let inbox_counters = inbox_tx.counters();
        let (command_tx, command_rx) = mpsc::channel(limits.command_queue);
        let (pending_tx, pending_rx) = mpsc::channel(limits.validation_queue);
        let (verdict_tx, verdict_rx) = mpsc::channel(limits.validation_queue);
        let (done_tx, done_rx) = mpsc::channel(limits.max_inbound_challenges);
        let (stopped_tx, stopped_rx) = watch::channel(false);

        let worker = tokio::spawn(validation_worker(
            Arc::clone(&validator),
            pending_rx,
            verdict_tx,
            limits.validation_batch,
            Arc::clone(&counters),
        ));

        let mut task = Task {
            swarm,
            topics: topics.clone(),
            identify_protocol: protocols.identify,
            kad_protocol: protocols.kad,
            bootstrap,
            last_redial: None,
            retries,
            challenge_limiter: PeerLimiter::new(
                limits.challenge_rate,
                limits.max_connections as usize,
            ),
            pending_tx,
            inbox: inbox_tx,
            counters: Arc::clone(&counters),
            reasons: Arc::clone(&reasons),
            handler: challenges,
            inbound_in_flight: 0,
            done_tx,
            outbound: HashMap::new(),
            banned: HashMap::new(),
            scoring: config.scoring.clone(),
            limits: limits.clone(),
            challenge_timeout: config.challenge_timeout,
        };
        task.join_network();
        tokio::spawn(task.run(command_rx, verdict_rx, done_rx, worker, stopped_tx));

        let kinds = topics
            .iter()
            .map(|(hash, kind)| (Arc::clone(kind), hash.clone()))
            .collect();
        let handle = NodeHandle {
            inner: Arc::new(Inner {
                peer_id,
                network_id: config.network_id.clone(),
                commands: command_tx,
                validator,
                kinds,
                max_message_size: limits.max_message_size,
                max_challenge_size: limits.max_challenge_size,
                challenge_timeout: config.challenge_timeout,
                counters,
                reasons,
                inbox: inbox_counters,
                stopped: stopped_rx,
            }),
        };
        Ok((handle, inbox))
    }
}

/// Binds every address and waits until each listener reports one.
async fn listen(swarm: &mut Swarm<Behaviour>, addrs: &[Multiaddr]) -> Result<()> {
    let mut waiting = HashMap::new();
    for addr in addrs {
        let id = swarm.listen_on(addr.clone()).map_err(|e| Error::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        waiting.insert(id, addr.clone());
    }
    let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
    while !waiting.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| Error::Listen {
                addr: waiting
                    .values()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: "no address reported in time".into(),
            })?;
        match event {
            SwarmEvent::NewListenAddr { listener_id, .. } => {
                waiting.remove(&listener_id);
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr: addr.to_string(),
                        reason: error.to_string(),
                    });
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Some(addr) = waiting.remove(&listener_id) {
                    return Err(Error::Listen {
                        addr: addr.to_string(),
                        reason: match reason {
                            Ok(()) => "listener closed".into(),
                            Err(e) => e.to_string(),
                        },
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The peer id at the end of an address (`.../p2p/<peer id>`), if any.
pub(super) fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The address without its `/p2p/<peer id>` part.
pub(super) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_suffix_round_trip() {
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = addr.clone().with(Protocol::P2p(peer));
        assert_eq!(peer_of(&full), Some(peer));
        assert_eq!(without_peer(&full), addr);
        assert_eq!(peer_of(&addr), None);
    }
}
