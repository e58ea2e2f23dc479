//! Connection admission: who gets a connection slot, who loses one, and which
//! addresses are refused new identities.
//!
//! - **Inbound and outbound apart.** Outbound connections (dials this node
//!   chose to make) have their own limit, so no amount of inbound crowding
//!   stops the node from dialling a peer.
//! - **Proven peers keep their place.** A peer that delivered a valid message
//!   within [`PROVEN_FOR`] is *proven*: it is never evicted for a newcomer and
//!   may use the reserved inbound slots. Trusted peers (configured and
//!   bootstrap peers) need no slot at all.
//! - **Unproven peers are evicted, not the newcomer refused.** When the
//!   inbound slots are full, a new peer replaces the unproven inbound peer that
//!   has been connected the longest (past its grace period), so idle
//!   identities cannot hold the slots against newcomers.
//! - **Re-entry costs an address.** At most a few identities per address (an
//!   IPv4 address or an IPv6 /64) are let in, and a ban of a peer also bans
//!   its addresses for new identities for a while.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    convert::Infallible,
    fmt,
    net::{IpAddr, Ipv6Addr},
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use libp2p::{
    core::{transport::PortUse, Endpoint},
    multiaddr::Protocol,
    swarm::{
        behaviour::{ConnectionClosed, ConnectionEstablished},
        dummy, CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
        THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};

use super::{
    config::NodeConfig,
    counters::{bump, Counters},
    PeerFilter,
};

/// How long a peer counts as proven after its last valid message.
pub(crate) const PROVEN_FOR: Duration = Duration::from_secs(60 * 60);
/// Most peers remembered as proven; beyond it the one proven longest ago is forgotten.
const MAX_PROVEN: usize = 4096;
/// Most addresses banned at once; beyond it the ban closest to expiry is lifted early.
const MAX_BANNED_ADDRS: usize = 4096;
/// Stand-in for durations too long to add to an [`Instant`].
const FAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `now + duration`, saturating at a year instead of overflowing.
pub(crate) fn deadline(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// The address a connection limit or ban applies to: the IPv4 address, or the
/// /64 prefix of an IPv6 address (IPv4-mapped IPv6 addresses count as IPv4).
pub(crate) fn address_key(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(match ip.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(ip) & !u128::from(u64::MAX))),
        }),
        _ => None,
    })
}

/// Why a connection was refused (carried in the swarm's connection error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused(&'static str);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// One established connection.
#[derive(Debug)]
struct Conn {
    peer: PeerId,
    inbound: bool,
    addr: Option<IpAddr>,
    since: Instant,
}

/// The admission behaviour (see the module docs). It must come before every
/// behaviour that keeps per-connection state in the composed behaviour, since
/// a refusal here stops the others from being asked.
pub(crate) struct Admission {
    max_total: usize,
    max_inbound: usize,
    reserved_inbound: usize,
    max_outbound: usize,
    max_per_ip: usize,
    grace: Duration,
    address_ban: Duration,
    trusted: HashSet<PeerId>,
    filter: Option<Arc<dyn PeerFilter>>,
    connections: HashMap<ConnectionId, Conn>,
    evicting: HashSet<ConnectionId>,
    proven: HashMap<PeerId, Instant>,
    banned: HashMap<IpAddr, Instant>,
    to_close: VecDeque<(PeerId, ConnectionId)>,
    waker: Option<Waker>,
    counters: Arc<Counters>,
}

impl Admission {
    /// Admission for `config` (already validated); `trusted` are the trusted
    /// and bootstrap peers, `filter` the application's peer filter.
    pub(crate) fn new(
        config: &NodeConfig,
        trusted: impl IntoIterator<Item = PeerId>,
        filter: Option<Arc<dyn PeerFilter>>,
        counters: Arc<Counters>,
    ) -> Self {
        let limits = &config.limits;
        Self {
            max_total: limits.max_connections as usize,
            max_inbound: limits.max_inbound_connections as usize,
            reserved_inbound: limits.reserved_inbound_connections as usize,
            max_outbound: limits.max_outbound_connections as usize,
            max_per_ip: limits.max_peers_per_ip as usize,
            grace: limits.eviction_grace,
            address_ban: config.scoring.address_ban_duration,
            trusted: trusted.into_iter().collect(),
            filter,
            connections: HashMap::new(),
            evicting: HashSet::new(),
            proven: HashMap::new(),
            banned: HashMap::new(),
            to_close: VecDeque::new(),
            waker: None,
            counters,
        }
    }

    /// Records that `peer` delivered a valid message (it is proven from now on, for [`PROVEN_FOR`]).
    pub(crate) fn record_valid(&mut self, peer: PeerId, now: Instant) {
        if !self.proven.contains_key(&peer) && self.proven.len() >= MAX_PROVEN {
            self.proven
                .retain(|_, at| now.saturating_duration_since(*at) < PROVEN_FOR);
            if self.proven.len() >= MAX_PROVEN {
                let oldest = self
                    .proven
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(peer, _)| *peer);
                if let Some(oldest) = oldest {
                    self.proven.remove(&oldest);
                }
            }
        }
        self.proven.insert(peer, now);
    }

    /// Called when `peer` is banned: it is no longer proven, and the addresses
    /// it is connected from refuse new identities for the address-ban duration.
    pub(crate) fn ban_addresses_of(&mut self, peer: &PeerId, now: Instant) {
        self.proven.remove(peer);
        if self.address_ban.is_zero() || self.trusted.contains(peer) {
            return;
        }
        let until = deadline(now, self.address_ban);
        let addrs: Vec<IpAddr> = self
            .connections
            .values()
            .filter(|c| c.peer == *peer)
            .filter_map(|c| c.addr)
            .collect();
        for addr in addrs {
            if !self.banned.contains_key(&addr) && self.banned.len() >= MAX_BANNED_ADDRS {
                self.banned.retain(|_, t| *t > now);
                if self.banned.len() >= MAX_BANNED_ADDRS {
                    let soonest = self
                        .banned
                        .iter()
                        .min_by_key(|(_, t)| **t)
                        .map(|(addr, _)| *addr);
                    if let Some(soonest) = soonest {
                        self.banned.remove(&soonest);
                    }
                }
            }
            let entry = self.banned.entry(addr).or_insert(until);
            if *entry < until {
                *entry = until;
            }
        }
    }

    /// Drops expired address bans and proven marks (housekeeping tick).
    pub(crate) fn expire(&mut self, now: Instant) {
        self.banned.retain(|_, until| *until > now);
        self.proven
            .retain(|_, at| now.saturating_duration_since(*at) < PROVEN_FOR);
    }

    fn is_proven(&self, peer: &PeerId, now: Instant) -> bool {
        self.proven
            .get(peer)
            .is_some_and(|at| now.saturating_duration_since(*at) < PROVEN_FOR)
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.connections
            .iter()
            .any(|(id, c)| c.peer == *peer && !self.evicting.contains(id))
    }

    fn is_banned(&self, addr: &IpAddr, now: Instant) -> bool {
        self.banned.get(addr).is_some_and(|until| *until > now)
    }

    /// Live (not being evicted) connections of untrusted peers: (inbound, outbound).
    fn counts(&self) -> (usize, usize) {
        let mut inbound = 0usize;
        let mut outbound = 0usize;
        for (id, c) in &self.connections {
            if self.evicting.contains(id) || self.trusted.contains(&c.peer) {
                continue;
            }
            if c.inbound {
                inbound += 1;
            } else {
                outbound += 1;
            }
        }
        (inbound, outbound)
    }

    /// Distinct untrusted peers connected inbound from `addr`.
    fn inbound_peers_from(&self, addr: &IpAddr) -> usize {
        self.connections
            .iter()
            .filter(|(id, c)| {
                c.inbound
                    && c.addr.as_ref() == Some(addr)
                    && !self.evicting.contains(*id)
                    && !self.trusted.contains(&c.peer)
            })
            .map(|(_, c)| c.peer)
            .collect::<HashSet<PeerId>>()
            .len()
    }

    /// The inbound connection to give up for a newcomer: an unproven,
    /// untrusted peer's, the oldest (the longest without a valid message),
    /// past its grace period unless `ignore_grace`.
    fn eviction_candidate(
        &self,
        now: Instant,
        ignore_grace: bool,
    ) -> Option<(ConnectionId, PeerId)> {
        self.connections
            .iter()
            .filter(|(id, c)| {
                c.inbound
                    && !self.evicting.contains(*id)
                    && !self.trusted.contains(&c.peer)
                    && !self.is_proven(&c.peer, now)
                    && (ignore_grace || now.saturating_duration_since(c.since) >= self.grace)
            })
            .min_by_key(|(_, c)| c.since)
            .map(|(id, c)| (*id, c.peer))
    }

    fn evict(&mut self, id: ConnectionId, peer: PeerId) {
        self.evicting.insert(id);
        self.to_close.push_back((peer, id));
        bump(&self.counters.connections_evicted);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Whether the application's filter lets `peer` in (a panicking filter refuses).
    fn allowed(&self, peer: &PeerId) -> bool {
        match &self.filter {
            None => true,
            Some(filter) => catch_unwind(AssertUnwindSafe(|| filter.allow(peer))).unwrap_or(false),
        }
    }

    fn refuse(&self, reason: &'static str) -> Result<(), ConnectionDenied> {
        bump(&self.counters.connections_refused);
        Err(ConnectionDenied::new(Refused(reason)))
    }

    fn admit_inbound(&mut self, peer: PeerId, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        if self.trusted.contains(&peer) {
            return Ok(());
        }
        if !self.allowed(&peer) {
            return self.refuse("peer not allowed");
        }
        let now = Instant::now();
        let connected = self.is_connected(&peer);
        let proven = self.is_proven(&peer, now);
        if let Some(addr) = address_key(remote) {
            if !connected && !proven && self.is_banned(&addr, now) {
                return self.refuse("address banned");
            }
            if !connected && !proven && self.inbound_peers_from(&addr) >= self.max_per_ip {
                return self.refuse("too many peers from this address");
            }
        }
        let (inbound, outbound) = self.counts();
        let cap = if proven {
            self.max_inbound.saturating_add(self.reserved_inbound)
        } else {
            self.max_inbound
        };
        if inbound < cap && inbound.saturating_add(outbound) < self.max_total {
            return Ok(());
        }
        if connected {
            // A further connection of a connected peer never displaces anyone.
            return self.refuse("inbound connections full");
        }
        match self.eviction_candidate(now, proven) {
            Some((id, victim)) => {
                self.evict(id, victim);
                Ok(())
            }
            None => self.refuse("inbound connections full"),
        }
    }

    fn admit_outbound(&mut self, peer: PeerId, addr: &Multiaddr) -> Result<(), ConnectionDenied> {
        if self.trusted.contains(&peer) {
            return Ok(());
        }
        if !self.allowed(&peer) {
            return self.refuse("peer not allowed");
        }
        let now = Instant::now();
        let known = self.is_connected(&peer) || self.is_proven(&peer, now);
        if !known && address_key(addr).is_some_and(|a| self.is_banned(&a, now)) {
            return self.refuse("address banned");
        }
        let (_, outbound) = self.counts();
        if outbound >= self.max_outbound {
            return self.refuse("outbound connections full");
        }
        Ok(())
    }
}

impl NetworkBehaviour for Admission {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit_inbound(peer, remote_addr)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit_outbound(peer, addr)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                self.connections.insert(
                    connection_id,
                    Conn {
                        peer: peer_id,
                        inbound: endpoint.is_listener(),
                        addr: address_key(endpoint.get_remote_address()),
                        since: Instant::now(),
                    },
                );
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.connections.remove(&connection_id);
                self.evicting.remove(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, connection)) = self.to_close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(connection),
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn address_keys_group_ipv6_by_prefix() {
        let v4: Multiaddr = "/ip4/10.1.2.3/tcp/1".parse().unwrap();
        assert_eq!(address_key(&v4), Some("10.1.2.3".parse().unwrap()));
        let a: Multiaddr = "/ip6/2001:db8:1:2:aaaa::1/udp/1/quic-v1".parse().unwrap();
        let b: Multiaddr = "/ip6/2001:db8:1:2:bbbb::9/tcp/2".parse().unwrap();
        let c: Multiaddr = "/ip6/2001:db8:1:3::1/tcp/2".parse().unwrap();
        assert_eq!(address_key(&a), address_key(&b));
        assert_ne!(address_key(&a), address_key(&c));
        let mapped: Multiaddr = "/ip6/::ffff:192.0.2.7/tcp/1".parse().unwrap();
        assert_eq!(address_key(&mapped), Some("192.0.2.7".parse().unwrap()));
        let dns: Multiaddr = "/dns4/example.org/tcp/1".parse().unwrap();
        assert_eq!(address_key(&dns), None);
    }

    #[test]
    fn deadline_saturates() {
        let now = Instant::now();
        assert!(deadline(now, Duration::MAX) > now);
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }
}
