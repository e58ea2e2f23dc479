//! Gossip throughput and propagation latency through a three-node loopback mesh.
//!
//! It runs twice: with signed gossip (the default, strict mode) and unsigned
//! (anonymous mode). Node A publishes; nodes B and C validate (explicit Gossipsub validation
//! with a prefix-checking validator) and deliver to their inboxes. Criterion
//! measures attestations per second delivered to *both* receivers and the
//! one-message propagation time; a custom loop afterwards prints p50/p95/p99
//! latencies from publish call to delivery, idle and under a steady load.
//!
//! Run: `cargo bench -p depin-attest --features p2p --bench p2p`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench, not library code

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use depin_attest::p2p::{
    GossipValidator, GossipVerdict, Inbox, Limits, Node, NodeConfig, NodeHandle,
};
use futures::StreamExt;
use tokio::{runtime::Runtime, sync::Notify};

const KIND: &str = "report";
/// Typical size of a signed device report with its envelope.
const PAYLOAD_LEN: usize = 200;
/// Concurrent publish calls in the throughput run.
const PUBLISH_CONCURRENCY: usize = 64;

struct Prefix;

impl GossipValidator for Prefix {
    fn validate(&self, _kind: &str, data: &[u8]) -> GossipVerdict {
        if data.starts_with(b"ok") {
            GossipVerdict::Accept
        } else {
            GossipVerdict::reject("bad-prefix")
        }
    }
}

/// Counts deliveries and records latencies (publish to delivery) at one receiver.
#[derive(Default)]
struct Receiver {
    delivered: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

struct Mesh {
    nodes: Vec<NodeHandle>,
    receivers: Vec<Arc<Receiver>>,
    delivered: Arc<Notify>,
    base: Instant,
    seq: AtomicU64,
}

impl Mesh {
    /// A payload starting with `ok`, carrying a unique sequence number and the
    /// send time (nanoseconds since `base`), padded to [`PAYLOAD_LEN`].
    fn payload(&self) -> Vec<u8> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let sent = self.base.elapsed().as_nanos() as u64;
        let mut p = Vec::with_capacity(PAYLOAD_LEN);
        p.extend_from_slice(b"ok");
        p.extend_from_slice(&seq.to_le_bytes());
        p.extend_from_slice(&sent.to_le_bytes());
        p.resize(PAYLOAD_LEN, 0xA5);
        p
    }

    fn delivered_everywhere(&self) -> u64 {
        self.receivers
            .iter()
            .map(|r| r.delivered.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    /// Waits until both receivers have delivered `target` attestations
    /// (woken on every delivery: no timer granularity in the measurement).
    async fn wait_delivered(&self, target: u64) {
        loop {
            let notified = self.delivered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.delivered_everywhere() >= target {
                return;
            }
            notified.await;
        }
    }

    async fn publish(&self) {
        // Retry while the node's queues push back.
        loop {
            match self.nodes[0].publish(KIND, self.payload()).await {
                Ok(_) => return,
                Err(e) => {
                    eprintln!("publish: {e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }

    fn take_latencies(&self) -> Vec<Duration> {
        let mut all = Vec::new();
        for r in &self.receivers {
            all.append(&mut r.latencies.lock().unwrap());
        }
        all
    }
}

fn config(limits: &Limits, signed: bool) -> NodeConfig {
    NodeConfig::new(if signed {
        "bench-signed"
    } else {
        "bench-unsigned"
    })
    .with_signed_gossip(signed)
    .with_loopback()
    .with_kinds([KIND])
    .with_heartbeat_interval(Duration::from_millis(200))
    .with_limits(limits.clone())
}

async fn drain(mut inbox: Inbox, receiver: Arc<Receiver>, notify: Arc<Notify>, base: Instant) {
    while let Some(a) = inbox.next().await {
        if a.data.len() >= 18 {
            let mut sent = [0u8; 8];
            sent.copy_from_slice(&a.data[10..18]);
            let sent = Duration::from_nanos(u64::from_le_bytes(sent));
            let at = a.received_at.duration_since(base);
            receiver
                .latencies
                .lock()
                .unwrap()
                .push(at.saturating_sub(sent));
        }
        receiver.delivered.fetch_add(1, Ordering::Relaxed);
        notify.notify_waiters();
    }
}

async fn start_mesh(signed: bool) -> Mesh {
    let mut limits = Limits::default();
    // The bench measures the pipeline, not the flood protection.
    limits.peer_rate = depin_attest::p2p::RateLimit::new(1_000_000, 1_000_000);
    limits.inbox_capacity = 1 << 16;
    limits.validation_queue = 1 << 14;
    limits.command_queue = 1024;
    let base = Instant::now();
    let delivered = Arc::new(Notify::new());

    let (a, _a_inbox) = Node::new(config(&limits, signed), Arc::new(Prefix))
        .start()
        .await
        .unwrap();
    let boot = a
        .dial_addrs()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.to_string().contains("/tcp/"))
        .unwrap();
    let mut nodes = vec![a];
    let mut receivers = Vec::new();
    for _ in 0..2 {
        let (n, inbox) = Node::new(
            config(&limits, signed).with_bootstrap(boot.clone()),
            Arc::new(Prefix),
        )
        .start()
        .await
        .unwrap();
        let r = Arc::new(Receiver::default());
        tokio::spawn(drain(inbox, Arc::clone(&r), Arc::clone(&delivered), base));
        nodes.push(n);
        receivers.push(r);
    }
    // Wait for a full mesh: every node sees the two others on the topic.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut ready = true;
        for n in &nodes {
            ready &= n.mesh_peers(KIND).await.unwrap().len() == 2;
        }
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "mesh did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Mesh {
        nodes,
        receivers,
        delivered,
        base,
        seq: AtomicU64::new(0),
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn report(mode: &str, label: &str, mut lat: Vec<Duration>) {
    lat.sort_unstable();
    println!(
        "p2p latency {mode} {label}: n={} p50={:?} p95={:?} p99={:?} max={:?}",
        lat.len(),
        percentile(&lat, 50),
        percentile(&lat, 95),
        percentile(&lat, 99),
        lat.last().copied().unwrap_or_default()
    );
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    for signed in [true, false] {
        bench_mesh(c, &rt, signed);
    }
}

fn bench_mesh(c: &mut Criterion, rt: &Runtime, signed: bool) {
    let mode = if signed { "signed" } else { "unsigned" };
    let mesh = rt.block_on(start_mesh(signed));

    let mut group = c.benchmark_group(format!("p2p-3-node-loopback-{mode}"));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(10));

    // Throughput: many publishes in flight, clocked until both receivers have
    // validated and delivered every one.
    group.throughput(Throughput::Elements(1));
    group.bench_function("attestations-delivered-to-all", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let target = mesh.delivered_everywhere() + iters;
                let start = Instant::now();
                futures::stream::iter(0..iters)
                    .for_each_concurrent(PUBLISH_CONCURRENCY, |_| mesh.publish())
                    .await;
                mesh.wait_delivered(target).await;
                start.elapsed()
            })
        })
    });

    // One message at a time: publish call to delivery at the slower receiver.
    group.bench_function("propagation-one-message", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let target = mesh.delivered_everywhere() + 1;
                    let start = Instant::now();
                    mesh.publish().await;
                    mesh.wait_delivered(target).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();

    // Percentiles, outside criterion's statistics.
    rt.block_on(async {
        let _ = mesh.take_latencies();
        for _ in 0..500 {
            let target = mesh.delivered_everywhere() + 1;
            mesh.publish().await;
            mesh.wait_delivered(target).await;
        }
        report(mode, "idle (one in flight)", mesh.take_latencies());

        // A steady 1,000 attestations per second for 3 seconds.
        let start = mesh.delivered_everywhere();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        for _ in 0..3000 {
            tick.tick().await;
            mesh.publish().await;
        }
        mesh.wait_delivered(start + 3000).await;
        report(mode, "loaded (1,000/s)", mesh.take_latencies());

        for n in &mesh.nodes {
            let s = n.stats();
            println!(
                "{mode} node {}: accepted={} rejected={} rate_limited={} validation_overflow={} inbox_dropped={}",
                n.peer_id(),
                s.accepted,
                s.rejected,
                s.rate_limited,
                s.validation_overflow,
                s.inbox_dropped
            );
        }
        for n in &mesh.nodes {
            n.shutdown().await.unwrap();
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
