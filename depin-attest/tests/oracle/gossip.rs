//! Gossip into the engine: a device's libp2p node publishes on the network's topics over
//! real loopback sockets, the oracle's node delivers to its inbox, and
//! `ingest::gossip::forward` submits each attestation with its topic: stored with the
//! engine's verdict, a copy on the wrong topic refused `wrong_topic`.
#![cfg(feature = "p2p")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_attest::ingest::gossip::{forward, ForwardConfig};
use depin_attest::ingest::EngineConfig;
use depin_attest::p2p::{GossipValidator, GossipVerdict, Node, NodeConfig, NodeHandle};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::OracleStore;
use depin_attest::Rejection;

use crate::{id, sqlite, Net, NOW};

/// The oracle node forwards everything it is given and lets the engine judge.
struct AcceptAll;

impl GossipValidator for AcceptAll {
    fn validate(&self, _kind: &str, _data: &[u8]) -> GossipVerdict {
        GossipVerdict::Accept
    }
}

const TOPICS: [&str; 3] = ["report", "energy", "storage"];

fn config() -> NodeConfig {
    NodeConfig::new("depin-oracle-gossip-test")
        .with_loopback()
        .with_kinds(TOPICS)
        .with_heartbeat_interval(Duration::from_millis(200))
}

async fn wait_for_mesh(node: &NodeHandle) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for topic in TOPICS {
        while node.mesh_peers(topic).await.map_or(0, |p| p.len()) == 0 {
            assert!(Instant::now() < deadline, "no gossip mesh on {topic}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossiped_items_get_the_engines_verdicts_under_their_topics() {
    let net = Net::new(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("gossip"));

    let (oracle, inbox) = Node::new(config(), Arc::new(AcceptAll))
        .start()
        .await
        .unwrap();
    let forwarder = tokio::spawn(forward(inbox, engine.handle(), ForwardConfig::default()));
    let boot = oracle
        .dial_addrs()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.to_string().contains("/tcp/"))
        .unwrap();
    let (device, _device_inbox) = Node::new(config().with_bootstrap(boot), Arc::new(AcceptAll))
        .start()
        .await
        .unwrap();
    wait_for_mesh(&device).await;

    // device 0: ten energy readings; device 1: five frames; device 2: a reading where
    // storage items travel, then the same reading where it belongs
    for seq in 1..=10u64 {
        device
            .publish("energy", net.reading(0, seq, 1_000 + seq))
            .await
            .unwrap();
    }
    for seq in 1..=5u32 {
        device.publish("report", net.frame(1, seq)).await.unwrap();
    }
    let reading = net.reading(2, 1, 500);
    device.publish("storage", reading.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    device.publish("energy", reading).await.unwrap();

    // everything reaches the store: 16 accepted, one wrong_topic counted
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let accepted = loop {
        let mut store = SqliteStore::open(&path).unwrap();
        let mut items = Vec::new();
        store
            .for_each_accepted(epoch, &mut |i| {
                items.push(i);
                Ok(())
            })
            .unwrap();
        let wrong = store
            .rejections(epoch)
            .unwrap()
            .into_iter()
            .find(|(r, _)| *r == Rejection::WrongTopic)
            .map_or(0, |(_, n)| n);
        if items.len() == 16 && wrong == 1 {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "stored {} accepted, {wrong} wrong_topic",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (d, n) in [(0usize, 10usize), (1, 5), (2, 1)] {
        let device_id = id(&net.keys[d]);
        assert_eq!(
            accepted.iter().filter(|i| i.device == device_id).count(),
            n,
            "device {d}"
        );
    }

    // the node stops, the inbox ends, the forwarder reports what it did
    device.shutdown().await.unwrap();
    oracle.shutdown().await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(20), forwarder)
        .await
        .expect("the forwarder ends with the node")
        .unwrap();
    assert_eq!(
        (
            stats.submitted,
            stats.accepted,
            stats.rejected,
            stats.bad_topic
        ),
        (17, 16, 1, 0),
        "{stats:?}"
    );
    assert!(!stats.engine_stopped);
    engine.join();
}
