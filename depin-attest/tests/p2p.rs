//! Integration tests of the gossip layer: real sockets on 127.0.0.1, several
//! nodes in one process.
//!
//! The validator here is a stand-in for the depin-attest verifier: payloads
//! starting with `ok` are accepted, everything else is rejected. Each test
//! takes a process-wide lock so that the nodes of one test do not compete
//! for the CPU with those of another (the CI machine has two cores).

// Test helpers outside `#[test]` functions unwrap too; this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use depin_attest::p2p::{
    Error, GossipValidator, Inbox, Keypair, Limits, Multiaddr, Node, NodeConfig, NodeHandle,
    OverflowPolicy, PeerId, RateLimit, Verdict,
};

/// Serialises the tests (see the module docs).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KIND: &str = "report";

/// Accepts payloads starting with `ok`, rejects the rest, and remembers every
/// payload it was asked about.
#[derive(Default)]
struct PrefixValidator {
    seen: Mutex<Vec<Vec<u8>>>,
}

impl PrefixValidator {
    fn saw(&self, payload: &[u8]) -> bool {
        self.seen.lock().unwrap().iter().any(|p| p == payload)
    }
    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl GossipValidator for PrefixValidator {
    fn validate(&self, _kind: &str, data: &[u8]) -> Verdict {
        self.seen.lock().unwrap().push(data.to_vec());
        if data.starts_with(b"ok") {
            Verdict::Accept
        } else {
            Verdict::reject("bad-prefix")
        }
    }
}

/// A modified node that accepts anything: used to publish invalid traffic.
struct AcceptAll;

impl GossipValidator for AcceptAll {
    fn validate(&self, _kind: &str, _data: &[u8]) -> Verdict {
        Verdict::Accept
    }
}

struct TestNode {
    handle: NodeHandle,
    inbox: Inbox,
    validator: Arc<PrefixValidator>,
    keypair: Keypair,
}

impl TestNode {
    fn id(&self) -> PeerId {
        self.handle.peer_id()
    }

    /// A TCP address of this node, with its peer id.
    async fn tcp_addr(&self) -> Multiaddr {
        self.addr("/tcp/").await
    }

    /// A QUIC address of this node, with its peer id.
    async fn quic_addr(&self) -> Multiaddr {
        self.addr("/quic-v1").await
    }

    async fn addr(&self, needle: &str) -> Multiaddr {
        self.handle
            .dial_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.to_string().contains(needle))
            .unwrap()
    }
}

fn config(network: &str) -> NodeConfig {
    NodeConfig::new(network)
        .with_loopback()
        .with_kinds([KIND, "storage"])
        .with_heartbeat_interval(Duration::from_millis(200))
}

async fn start_with(config: NodeConfig) -> TestNode {
    let keypair = config
        .keypair
        .clone()
        .unwrap_or_else(Keypair::generate_ed25519);
    let validator = Arc::new(PrefixValidator::default());
    let (handle, inbox) = Node::new(config.with_keypair(keypair.clone()), validator.clone())
        .start()
        .await
        .unwrap();
    TestNode {
        handle,
        inbox,
        validator,
        keypair,
    }
}

/// Polls `check` every 50 ms until it holds, failing the test after `timeout`.
async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the inbox until `payload` arrives; false after `timeout`.
async fn receives(inbox: &mut Inbox, payload: &[u8], timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(a)) if a.data == payload => return true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

async fn topic_peers(node: &NodeHandle) -> usize {
    node.topic_peers(KIND).await.map(|p| p.len()).unwrap_or(0)
}

async fn mesh_peers(node: &NodeHandle) -> usize {
    node.mesh_peers(KIND).await.map(|p| p.len()).unwrap_or(0)
}

/// Starts `n` nodes on `network`: node 0 first, the others bootstrap from it
/// (the last one over QUIC), Kademlia does the rest. Returns once every node
/// sees every other node subscribed and has a gossip mesh.
async fn mesh(network: &str, n: usize) -> Vec<TestNode> {
    let first = start_with(config(network)).await;
    let tcp = first.tcp_addr().await;
    let quic = first.quic_addr().await;
    let mut nodes = vec![first];
    for i in 1..n {
        let boot = if i == n - 1 {
            quic.clone()
        } else {
            tcp.clone()
        };
        nodes.push(start_with(config(network).with_bootstrap(boot)).await);
    }
    for node in &nodes {
        wait_until("full discovery", Duration::from_secs(20), || async {
            topic_peers(&node.handle).await == n - 1
        })
        .await;
    }
    for node in &nodes {
        wait_until("a gossip mesh", Duration::from_secs(10), || async {
            mesh_peers(&node.handle).await >= 2.min(n - 1)
        })
        .await;
    }
    nodes
}

async fn shutdown_all(nodes: &[TestNode]) {
    for node in nodes {
        node.handle.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_attestation_reaches_every_node_of_five_once() {
    let _serial = SERIAL.lock().await;
    let mut nodes = mesh("t-valid", 5).await;

    let payload = b"ok: a signed device report".to_vec();
    let id = nodes[2]
        .handle
        .publish(KIND, payload.clone())
        .await
        .unwrap();
    assert_eq!(id.len(), 32, "message ids are SHA-256 content hashes");

    let origin = nodes[2].id();
    for (i, node) in nodes.iter_mut().enumerate() {
        if i == 2 {
            continue;
        }
        let got = tokio::time::timeout(Duration::from_secs(10), node.inbox.recv())
            .await
            .expect("delivery in time")
            .expect("inbox open");
        assert_eq!(got.data, payload, "node {i}");
        assert_eq!(&*got.kind, KIND);
        assert_eq!(got.origin, Some(origin));
        assert_eq!(got.id, id);
    }

    // Duplicates are dropped: the same bytes published again, by the author or by
    // a node that already relayed them, never reach anyone a second time.
    assert!(matches!(
        nodes[2].handle.publish(KIND, payload.clone()).await,
        Err(Error::Duplicate)
    ));
    assert!(matches!(
        nodes[4].handle.publish(KIND, payload.clone()).await,
        Err(Error::Duplicate)
    ));
    // A later message shows the pipes are still flowing and that nothing else was queued.
    let later = b"ok: a later report".to_vec();
    nodes[0].handle.publish(KIND, later.clone()).await.unwrap();
    for (i, node) in nodes.iter_mut().enumerate().skip(1) {
        let got = tokio::time::timeout(Duration::from_secs(10), node.inbox.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got.data, later,
            "node {i} got something other than the later report"
        );
        assert_eq!(node.handle.stats().rejected, 0);
    }

    // The local validator guards publishing too.
    assert!(matches!(
        nodes[1].handle.publish(KIND, b"forged".to_vec()).await,
        Err(Error::Rejected(_))
    ));
    shutdown_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_attestation_stops_at_the_first_hop() {
    let _serial = SERIAL.lock().await;
    // Line topology: attacker -> hub -> {c, d, e}. The attacker runs no
    // Kademlia, so the others never learn of it and only the hub hears it.
    let hub = start_with(config("t-first-hop")).await;
    let hub_addr = hub.tcp_addr().await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(start_with(config("t-first-hop").with_bootstrap(hub_addr.clone())).await);
    }
    let (attacker, mut attacker_inbox) = Node::new(
        config("t-first-hop")
            .with_kademlia(false)
            .with_bootstrap(hub_addr.clone()),
        Arc::new(AcceptAll),
    )
    .start()
    .await
    .unwrap();

    wait_until("hub sees all four", Duration::from_secs(20), || async {
        topic_peers(&hub.handle).await == 4
    })
    .await;
    wait_until(
        "hub meshes with the honest nodes",
        Duration::from_secs(10),
        || async {
            let mesh = hub.handle.mesh_peers(KIND).await.unwrap();
            others.iter().all(|o| mesh.contains(&o.id()))
        },
    )
    .await;
    wait_until(
        "the attacker to see the hub's subscription",
        Duration::from_secs(10),
        || async { topic_peers(&attacker).await == 1 },
    )
    .await;
    assert_eq!(attacker.connected_peers().await.unwrap(), vec![hub.id()]);

    let before = b"ok: before".to_vec();
    let bad = b"BAD: forged report".to_vec();
    let after = b"ok: after".to_vec();
    attacker.publish(KIND, before.clone()).await.unwrap();
    for o in &mut others {
        assert!(receives(&mut o.inbox, &before, Duration::from_secs(10)).await);
    }
    attacker.publish(KIND, bad.clone()).await.unwrap();
    attacker.publish(KIND, after.clone()).await.unwrap();
    for o in &mut others {
        // Messages travel in order through the hub, so once `after` is here,
        // `bad` would have been too had the hub forwarded it.
        assert!(receives(&mut o.inbox, &after, Duration::from_secs(10)).await);
    }

    assert!(hub.validator.saw(&bad), "the first hop validated it");
    assert_eq!(hub.handle.stats().rejected, 1);
    assert_eq!(
        hub.handle.rejection_reasons(),
        vec![("bad-prefix".to_owned(), 1)]
    );
    for o in &others {
        assert!(
            !o.validator.saw(&bad),
            "an invalid message went past the first hop"
        );
        assert_eq!(o.handle.stats().rejected, 0);
        assert_eq!(o.handle.stats().received, 2);
    }
    let score = hub.handle.peer_score(attacker.peer_id()).await.unwrap();
    assert!(score.is_some_and(|s| s < 0.0), "attacker score {score:?}");
    assert!(attacker_inbox.try_recv().is_none());

    attacker.shutdown().await.unwrap();
    hub.handle.shutdown().await.unwrap();
    shutdown_all(&others).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_restarts_rejoins_and_receives() {
    let _serial = SERIAL.lock().await;
    let mut nodes = mesh("t-restart", 5).await;
    let leaver = nodes.pop().unwrap();
    let leaver_id = leaver.id();
    let keypair = leaver.keypair.clone();

    leaver.handle.shutdown().await.unwrap();
    assert!(!leaver.handle.is_running());
    assert!(matches!(
        leaver.handle.publish(KIND, b"ok".to_vec()).await,
        Err(Error::Shutdown)
    ));
    let mut old_inbox = leaver.inbox;
    assert!(
        old_inbox.recv().await.is_none(),
        "inbox ends after shutdown"
    );

    for node in &nodes {
        wait_until(
            "the leaver's connections to close",
            Duration::from_secs(10),
            || async {
                !node
                    .handle
                    .connected_peers()
                    .await
                    .unwrap()
                    .contains(&leaver_id)
            },
        )
        .await;
    }
    let missed = b"ok: while away".to_vec();
    nodes[0].handle.publish(KIND, missed.clone()).await.unwrap();

    // Same identity, new port, a different bootstrap peer.
    let boot = nodes[1].tcp_addr().await;
    let mut back = start_with(
        config("t-restart")
            .with_keypair(keypair)
            .with_bootstrap(boot),
    )
    .await;
    assert_eq!(back.id(), leaver_id);
    wait_until(
        "the restarted node to rejoin",
        Duration::from_secs(20),
        || async { topic_peers(&back.handle).await == 4 && mesh_peers(&back.handle).await >= 1 },
    )
    .await;
    for node in &nodes {
        wait_until(
            "everyone to see it again",
            Duration::from_secs(10),
            || async {
                node.handle
                    .connected_peers()
                    .await
                    .unwrap()
                    .contains(&leaver_id)
            },
        )
        .await;
    }

    let fresh = b"ok: after the restart".to_vec();
    nodes[0].handle.publish(KIND, fresh.clone()).await.unwrap();
    assert!(receives(&mut back.inbox, &fresh, Duration::from_secs(10)).await);

    back.handle.shutdown().await.unwrap();
    shutdown_all(&nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooder_is_scored_down_and_cut_off_while_honest_traffic_flows() {
    let _serial = SERIAL.lock().await;
    let mut honest = mesh("t-flood", 5).await;
    let (flooder, _flooder_inbox) =
        Node::new(config("t-flood").with_kademlia(false), Arc::new(AcceptAll))
            .start()
            .await
            .unwrap();
    for node in &honest {
        flooder.dial(node.tcp_addr().await).await.unwrap();
    }
    let flooder_id = flooder.peer_id();
    for node in &honest {
        wait_until(
            "honest nodes to see the flooder",
            Duration::from_secs(10),
            || async {
                node.handle
                    .topic_peers(KIND)
                    .await
                    .unwrap()
                    .contains(&flooder_id)
            },
        )
        .await;
    }

    // Flood invalid attestations while an honest node keeps publishing.
    let flood = {
        let flooder = flooder.clone();
        tokio::spawn(async move {
            let mut sent = 0usize;
            for i in 0..1000u32 {
                if flooder
                    .publish(KIND, format!("junk {i}").into_bytes())
                    .await
                    .is_ok()
                {
                    sent += 1;
                }
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            sent
        })
    };
    for i in 0..10u32 {
        let msg = format!("ok: honest {i}").into_bytes();
        honest[0].handle.publish(KIND, msg).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let sent = flood.await.unwrap();
    assert!(sent > 0);
    assert!(sent < 1000, "the flooder was never cut off");

    for (i, node) in honest.iter().enumerate() {
        wait_until(
            "the flooder to be cut off",
            Duration::from_secs(15),
            || async {
                !node
                    .handle
                    .connected_peers()
                    .await
                    .unwrap()
                    .contains(&flooder_id)
            },
        )
        .await;
        let stats = node.handle.stats();
        eprintln!(
            "flood: node {i} rejected {} of {sent} sent, banned {}",
            stats.rejected, stats.peers_banned
        );
        assert_eq!(stats.peers_banned, 1, "node {i}: {stats:?}");
        // The ban comes after about ten rejections (score -n^2 <= -80); what was
        // already queued for validation is still judged, but the flood is cut short.
        assert!(
            stats.rejected >= 1 && stats.rejected <= 100,
            "node {i} validated {} invalid messages",
            stats.rejected
        );
        let score = node.handle.peer_score(flooder_id).await.unwrap();
        assert!(score.is_some_and(|s| s < 0.0), "node {i}: score {score:?}");
    }
    wait_until(
        "the flooder to be alone",
        Duration::from_secs(10),
        || async { flooder.connected_peers().await.unwrap().is_empty() },
    )
    .await;
    // The ban holds: it cannot come back.
    let _ = flooder.dial(honest[1].tcp_addr().await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(flooder.connected_peers().await.unwrap().is_empty());

    // Honest traffic flowed during the flood and still flows after it.
    for (i, node) in honest.iter_mut().enumerate().skip(1) {
        let mut got = 0;
        while let Some(a) = node.inbox.try_recv() {
            assert!(a.data.starts_with(b"ok"));
            got += 1;
        }
        assert!(
            got >= 1,
            "node {i} received no honest traffic during the flood"
        );
    }
    let after = b"ok: after the flood".to_vec();
    honest[0].handle.publish(KIND, after.clone()).await.unwrap();
    for node in honest.iter_mut().skip(1) {
        assert!(receives(&mut node.inbox, &after, Duration::from_secs(10)).await);
    }

    flooder.shutdown().await.unwrap();
    shutdown_all(&honest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_gossip_mode_delivers_without_an_origin() {
    let _serial = SERIAL.lock().await;
    let a = start_with(config("t-anon").with_signed_gossip(false)).await;
    let mut b = start_with(
        config("t-anon")
            .with_signed_gossip(false)
            .with_bootstrap(a.tcp_addr().await),
    )
    .await;
    wait_until("subscription", Duration::from_secs(10), || async {
        topic_peers(&a.handle).await == 1
    })
    .await;
    a.handle.publish(KIND, b"ok anon".to_vec()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), b.inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.data, b"ok anon");
    assert_eq!(got.origin, None);
    assert_eq!(got.via, a.id());
    a.handle.shutdown().await.unwrap();
    b.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_applies_before_validation() {
    let _serial = SERIAL.lock().await;
    let mut limits = Limits::default();
    limits.peer_rate = RateLimit::new(10, 10);
    let receiver = start_with(config("t-rate").with_limits(limits)).await;
    let sender = start_with(config("t-rate").with_bootstrap(receiver.tcp_addr().await)).await;
    wait_until("subscription", Duration::from_secs(10), || async {
        topic_peers(&sender.handle).await == 1
    })
    .await;

    let started = Instant::now();
    for i in 0..100u32 {
        sender
            .handle
            .publish(KIND, format!("ok {i}").into_bytes())
            .await
            .unwrap();
    }
    wait_until("all 100 to arrive", Duration::from_secs(10), || async {
        let s = receiver.handle.stats();
        s.received == 100
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let stats = receiver.handle.stats();
    let allowed = 10.0 + 10.0 * elapsed + 1.0;
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert_eq!(stats.accepted + stats.rate_limited, 100, "{stats:?}");
    assert!(
        (receiver.validator.calls() as f64) <= allowed,
        "validator ran {} times, the limit allows {allowed:.0}",
        receiver.validator.calls()
    );
    // Over-rate messages are ignored, not punished: the sender keeps a clean score.
    let score = receiver.handle.peer_score(sender.id()).await.unwrap();
    assert!(score.is_some_and(|s| s >= 0.0), "{score:?}");

    sender.handle.shutdown().await.unwrap();
    receiver.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_challenge_round_trips_and_times_out() {
    let _serial = SERIAL.lock().await;
    let served = Arc::new(AtomicUsize::new(0));
    let handler = {
        let served = Arc::clone(&served);
        move |_from: &PeerId, request: &[u8]| -> Result<Vec<u8>, String> {
            served.fetch_add(1, Ordering::SeqCst);
            match request {
                b"slow" => {
                    std::thread::sleep(Duration::from_secs(3));
                    Ok(b"too late".to_vec())
                }
                b"unknown" => Err("no commitment for this root".into()),
                _ => {
                    // Stand-in for chunks and Merkle paths.
                    let mut proof = b"proof:".to_vec();
                    proof.extend_from_slice(request);
                    Ok(proof)
                }
            }
        }
    };
    let (prover, _prover_inbox) =
        Node::new(config("t-challenge"), Arc::new(PrefixValidator::default()))
            .with_challenge_handler(Arc::new(handler))
            .start()
            .await
            .unwrap();
    let prover_addr = prover
        .dial_addrs()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.to_string().contains("/tcp/"))
        .unwrap();
    let verifier = start_with(
        config("t-challenge")
            .with_bootstrap(prover_addr)
            .with_challenge_timeout(Duration::from_secs(1)),
    )
    .await;
    wait_until("a connection", Duration::from_secs(10), || async {
        verifier
            .handle
            .connected_peers()
            .await
            .unwrap()
            .contains(&prover.peer_id())
    })
    .await;

    let challenge = b"root=ab12;epoch=7;chunks=3,17,42".to_vec();
    let proof = verifier
        .handle
        .challenge(prover.peer_id(), challenge.clone())
        .await
        .unwrap();
    assert_eq!(proof, [b"proof:".as_slice(), &challenge].concat());

    let refused = verifier
        .handle
        .challenge(prover.peer_id(), b"unknown".to_vec())
        .await;
    assert!(
        matches!(&refused, Err(Error::ChallengeRefused(r)) if r == "no commitment for this root"),
        "{refused:?}"
    );

    let started = Instant::now();
    let late = verifier
        .handle
        .challenge(prover.peer_id(), b"slow".to_vec())
        .await;
    assert!(matches!(late, Err(Error::ChallengeTimeout(_))), "{late:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(started.elapsed() < Duration::from_secs(5));

    // The verifier serves no challenges itself.
    let not_served = prover.challenge(verifier.id(), b"anything".to_vec()).await;
    assert!(
        matches!(not_served, Err(Error::ChallengeRefused(_))),
        "{not_served:?}"
    );

    // The connection survives a timeout: another challenge still works.
    let again = verifier
        .handle
        .challenge(prover.peer_id(), b"chunk 5".to_vec())
        .await
        .unwrap();
    assert_eq!(again, b"proof:chunk 5");
    assert_eq!(served.load(Ordering::SeqCst), 4);
    let stats = verifier.handle.stats();
    assert_eq!(stats.challenges_sent, 4);
    assert_eq!(stats.challenges_answered, 2);
    assert_eq!(stats.challenges_failed, 2);

    verifier.handle.shutdown().await.unwrap();
    prover.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_cannot_grow_memory() {
    let _serial = SERIAL.lock().await;
    const CAPACITY: usize = 16;
    const SENT: usize = 300;
    let mut limits = Limits::default();
    limits.inbox_capacity = CAPACITY;
    limits.inbox_overflow = OverflowPolicy::DropOldest;
    let mut consumer = start_with(config("t-slow").with_limits(limits)).await;
    let producer = start_with(config("t-slow").with_bootstrap(consumer.tcp_addr().await)).await;
    wait_until("subscription", Duration::from_secs(10), || async {
        topic_peers(&producer.handle).await == 1
    })
    .await;

    // The consumer reads nothing while the producer publishes.
    let mut max_len = 0;
    for i in 0..SENT {
        producer
            .handle
            .publish(KIND, format!("ok {i:04}").into_bytes())
            .await
            .unwrap();
        if i % 25 == 0 {
            max_len = max_len.max(consumer.inbox.len());
        }
    }
    wait_until(
        "every message to be validated",
        Duration::from_secs(15),
        || async { consumer.handle.stats().accepted == SENT as u64 },
    )
    .await;
    max_len = max_len.max(consumer.inbox.len());

    let stats = consumer.handle.stats();
    assert_eq!(consumer.inbox.capacity(), CAPACITY);
    assert_eq!(consumer.inbox.len(), CAPACITY);
    assert!(max_len <= CAPACITY);
    assert_eq!(stats.inbox_len, CAPACITY);
    assert_eq!(consumer.inbox.dropped(), (SENT - CAPACITY) as u64);
    assert_eq!(stats.inbox_dropped, (SENT - CAPACITY) as u64);

    // What is left are the newest ones, in order.
    for i in SENT - CAPACITY..SENT {
        let a = consumer.inbox.try_recv().unwrap();
        assert_eq!(a.data, format!("ok {i:04}").into_bytes());
    }
    assert!(consumer.inbox.is_empty());

    producer.handle.shutdown().await.unwrap();
    consumer.handle.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misuse_is_reported_as_typed_errors() {
    let _serial = SERIAL.lock().await;
    let validator = Arc::new(PrefixValidator::default());
    let start = |config: NodeConfig| Node::new(config, validator.clone()).start();

    assert!(matches!(
        start(NodeConfig::new("no spaces allowed")).await,
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        start(NodeConfig::new("ok").with_kinds(Vec::<String>::new())).await,
        Err(Error::InvalidConfig(_))
    ));
    let no_peer_id: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
    assert!(matches!(
        start(
            NodeConfig::new("ok")
                .with_loopback()
                .with_bootstrap(no_peer_id)
        )
        .await,
        Err(Error::InvalidConfig(_))
    ));
    let mut scoring = depin_attest::p2p::ScoringConfig::default();
    scoring.disconnect_threshold = scoring.graylist_threshold - 1.0;
    assert!(matches!(
        start(NodeConfig::new("ok").with_scoring(scoring)).await,
        Err(Error::InvalidConfig(_))
    ));

    let node = start_with(config("t-errors")).await;
    assert!(matches!(
        node.handle.publish("weather", b"ok".to_vec()).await,
        Err(Error::UnknownKind(_))
    ));
    let huge = vec![b'o'; Limits::default().max_message_size + 1];
    assert!(matches!(
        node.handle.publish(KIND, huge).await,
        Err(Error::MessageTooLarge { .. })
    ));
    assert!(matches!(
        node.handle.publish(KIND, b"ok alone".to_vec()).await,
        Err(Error::NoPeers)
    ));
    assert_eq!(node.handle.kinds(), vec![KIND, "storage"]);
    node.handle.shutdown().await.unwrap();
    // Shutting down twice is harmless.
    node.handle.shutdown().await.unwrap();
}
