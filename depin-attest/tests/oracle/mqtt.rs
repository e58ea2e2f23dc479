//! The MQTT front end against a real mosquitto broker on a loopback port: devices publish
//! with rumqttc at QoS 1, the oracle answers on their verdict topics and acknowledges only
//! what is stored; the broker's ACL and the oracle's own topic check keep devices to their
//! own topics; a stopped oracle's unacknowledged messages are delivered again and stored
//! once; garbage and bad topics do not stop it.
//!
//! Needs `/usr/sbin/mosquitto` and `/usr/bin/mosquitto_passwd` (Debian's `mosquitto`
//! package): without them these tests fail, they never pass silently.
#![cfg(feature = "mqtt")]

use crate::Switchable;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use depin_attest::ingest::mqtt::{
    device_name, mosquitto_acl, topic, topic_on, MqttConfig, MqttError, MqttIngest, TopicKind,
    VerdictMessage,
};
use depin_attest::ingest::{Channel, EngineConfig, ItemBytes, ItemResult, Source};
use depin_attest::store::sqlite::SqliteStore;
use depin_attest::store::{ItemFormat, LoggedItem, OracleStore};
use depin_attest::{Label, Rejection};
use depin_core::{DeviceId, Epoch};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot};

use crate::{id, sqlite, Net, NOW};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";
const MOSQUITTO_PASSWD: &str = "/usr/bin/mosquitto_passwd";
const PREFIX: &str = "depin";
const ORACLE_USER: &str = "oracle";
const ORACLE_PASSWORD: &str = "oracle-secret";
/// The longest wait for any condition.
const WAIT: Duration = Duration::from_secs(8);

fn device_password(d: usize) -> String {
    format!("device-{d}-secret")
}

// ---- the broker ----

/// Which ACL the broker runs with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Acl {
    /// [`mosquitto_acl`]: each device writes only its own topics.
    Strict,
    /// That, and every user may write every device's frame and envelope topics.
    Permissive,
}

/// A mosquitto process on a free loopback port, with a password for the oracle and each
/// device of a [`Net`], in a temporary directory; killed on drop.
struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    // the child is moved into the broker at once, whose drop kills it and waits for it
    #[allow(clippy::zombie_processes)]
    fn start(net: &Net, acl: Acl) -> Broker {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: install Debian's mosquitto package \
             (apt-get install mosquitto); the MQTT tests cannot run without a broker"
        );
        assert!(
            Path::new(MOSQUITTO_PASSWD).exists(),
            "{MOSQUITTO_PASSWD} is missing: install Debian's mosquitto package"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);

        let passwd = path("passwd");
        add_password(&passwd, ORACLE_USER, ORACLE_PASSWORD, true);
        for (d, key) in net.keys.iter().enumerate() {
            add_password(&passwd, &device_name(&id(key)), &device_password(d), false);
        }

        let mut acl_text = mosquitto_acl(PREFIX, ORACLE_USER);
        if acl == Acl::Permissive {
            acl_text.push_str(&format!(
                "\n# misconfigured: anyone may write any device's items\n\
                 pattern write {PREFIX}/+/frame\n\
                 pattern write {PREFIX}/+/envelope\n"
            ));
        }
        std::fs::write(path("acl"), acl_text).unwrap();
        std::fs::create_dir(path("data")).unwrap();

        let port = free_port();
        let conf = format!(
            "user root\n\
             listener {port} 127.0.0.1\n\
             allow_anonymous false\n\
             set_tcp_nodelay true\n\
             password_file {passwd}\n\
             acl_file {acl}\n\
             persistence true\n\
             persistence_location {data}/\n\
             max_inflight_messages 64\n\
             max_queued_messages 100000\n\
             message_size_limit 60000\n\
             log_dest file {log}\n\
             log_type error\n\
             log_type warning\n\
             log_type notice\n\
             log_type information\n",
            passwd = passwd.display(),
            acl = path("acl").display(),
            data = path("data").display(),
            log = path("mosquitto.log").display(),
        );
        std::fs::write(path("mosquitto.conf"), conf).unwrap();
        let stderr = std::fs::File::create(path("stderr.log")).unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(path("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("{MOSQUITTO} could not be started: {e}"));
        let mut broker = Broker { child, port, dir };
        broker.wait_until_listening();
        broker
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("mosquitto exited at start ({status}):\n{}", self.logs());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on port {} within 5 s:\n{}",
                self.port,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn logs(&self) -> String {
        ["stderr.log", "mosquitto.log"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The oracle's configuration for this broker (session `oracle-1`).
    fn oracle_config(&self) -> MqttConfig {
        let mut config = MqttConfig::new("127.0.0.1", self.port, "oracle-1")
            .with_credentials(ORACLE_USER, ORACLE_PASSWORD);
        config.topic_prefix = PREFIX.into();
        config.connect_timeout = WAIT;
        config.shutdown_timeout = Duration::from_secs(5);
        config
    }

    async fn start_oracle(&self, handle: depin_attest::ingest::IngestHandle) -> MqttIngest {
        match MqttIngest::start(self.oracle_config(), handle).await {
            Ok(ingest) => ingest,
            Err(e) => panic!("the MQTT front end did not start: {e}\n{}", self.logs()),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn add_password(file: &Path, user: &str, password: &str, create: bool) {
    let mut cmd = Command::new(MOSQUITTO_PASSWD);
    cmd.arg("-b");
    if create {
        cmd.arg("-c");
    }
    let status = cmd
        .arg(file)
        .arg(user)
        .arg(password)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{MOSQUITTO_PASSWD} could not be run: {e}"));
    assert!(status.success(), "mosquitto_passwd failed for {user}");
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---- a device client ----

/// A device (or any user) connected with rumqttc, subscribed to a verdict topic.
struct Client {
    client: AsyncClient,
    verdicts: mpsc::Receiver<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connects as `user` and subscribes to `verdicts` (QoS 1), waiting for the SUBACK.
    async fn connect(
        broker: &Broker,
        client_id: &str,
        user: &str,
        password: &str,
        verdicts: String,
    ) -> Client {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port);
        options
            .set_credentials(user, password)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client.subscribe(verdicts, QoS::AtLeastOnce).await.unwrap();
        let (tx, rx) = mpsc::channel(1024);
        let (subscribed_tx, subscribed_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p.payload.to_vec()).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, subscribed_rx)
            .await
            .unwrap_or_else(|_| panic!("{client_id} not subscribed in time:\n{}", broker.logs()))
            .unwrap();
        Client {
            client,
            verdicts: rx,
            task,
        }
    }

    /// Device `d` of `net`, with its own credentials and verdict topic.
    async fn device(broker: &Broker, net: &Net, d: usize) -> Client {
        let device = id(&net.keys[d]);
        Client::connect(
            broker,
            &format!("device-{d}"),
            &device_name(&device),
            &device_password(d),
            topic(PREFIX, &device, TopicKind::Verdict),
        )
        .await
    }

    async fn publish(&self, topic: impl Into<String>, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    async fn next_verdict(&mut self) -> VerdictMessage {
        let payload = tokio::time::timeout(WAIT, self.verdicts.recv())
            .await
            .expect("a verdict in time")
            .expect("the client runs");
        serde_json::from_slice(&payload).unwrap_or_else(|e| {
            panic!(
                "not a verdict message ({e}): {}",
                String::from_utf8_lossy(&payload)
            )
        })
    }

    fn no_verdict_yet(&mut self) -> bool {
        self.verdicts.try_recv().is_err()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- helpers ----

fn epoch(net: &Net) -> Epoch {
    net.config.schedule.epoch_of(NOW).unwrap()
}

fn frame_topic(net: &Net, d: usize) -> String {
    topic(PREFIX, &id(&net.keys[d]), TopicKind::Frame)
}

fn envelope_topic(net: &Net, d: usize) -> String {
    topic(PREFIX, &id(&net.keys[d]), TopicKind::Envelope)
}

/// The accepted items stored in `path` for the epoch of [`NOW`].
fn accepted(path: &Path, net: &Net) -> Vec<LoggedItem> {
    let mut store = SqliteStore::open(path).unwrap();
    let mut out = Vec::new();
    store
        .for_each_accepted(epoch(net), &mut |i| {
            out.push(i);
            Ok(())
        })
        .unwrap();
    out
}

/// Each stored item once: (device, envelope?, seq), asserting none is stored twice.
fn stored_keys(items: &[LoggedItem]) -> BTreeSet<(DeviceId, bool, u64)> {
    let mut keys = BTreeSet::new();
    for i in items {
        let key = (i.device, i.format == ItemFormat::Envelope, i.seq);
        assert!(keys.insert(key), "stored twice: {key:?}");
    }
    keys
}

fn rejections(path: &Path, net: &Net) -> Vec<(Rejection, u64)> {
    SqliteStore::open(path)
        .unwrap()
        .rejections(epoch(net))
        .unwrap()
}

/// The source the front end submits a device's items with.
fn mqtt_source(net: &Net, d: usize) -> Source {
    let device = id(&net.keys[d]);
    Source::new(Channel::Mqtt, device.to_string()).with_device(device)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn stop(ingest: MqttIngest) {
    ingest.shutdown();
    tokio::time::timeout(WAIT, ingest.join())
        .await
        .expect("the MQTT front end stops in time");
}

fn is_accepted(r: &ItemResult) -> bool {
    matches!(r, ItemResult::Accepted { .. })
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_gets_the_verdict_of_the_in_process_engine_and_is_stored_once() {
    let net = Net::new(4);
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let ingest = broker.start_oracle(engine.handle()).await;

    let mut devices = Vec::new();
    for d in 0..4 {
        devices.push(Client::device(&broker, &net, d).await);
    }
    // per device: five frames, then one energy reading
    let mut sent: Vec<(usize, TopicKind, u64, ItemBytes)> = Vec::new();
    for (d, device) in devices.iter().enumerate() {
        for seq in 1..=5u32 {
            let frame = net.frame(d, seq);
            device.publish(frame_topic(&net, d), frame.clone()).await;
            sent.push((d, TopicKind::Frame, u64::from(seq), ItemBytes::Frame(frame)));
        }
        let reading = net.reading(d, 1, 1_000);
        device
            .publish(envelope_topic(&net, d), reading.clone())
            .await;
        sent.push((d, TopicKind::Envelope, 1, ItemBytes::Envelope(reading)));
    }

    // one verdict per item, on its own device's verdict topic
    let mut got: BTreeMap<(usize, TopicKind, u64), ItemResult> = BTreeMap::new();
    for (d, device) in devices.iter_mut().enumerate() {
        for _ in 0..6 {
            let v = device.next_verdict().await;
            assert_eq!(v.error, None, "{v:?}");
            let seq = v.seq.unwrap_or_else(|| panic!("no claimed seq in {v:?}"));
            let result = v
                .result
                .clone()
                .unwrap_or_else(|| panic!("no result in {v:?}"));
            assert!(
                got.insert((d, v.kind, seq), result).is_none(),
                "two verdicts for device {d} {} {seq}",
                v.kind
            );
        }
    }

    // the same items submitted in process to another engine give the same verdicts
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = net.engine(
        sqlite(&reference_dir.path().join("reference.db")),
        EngineConfig::new("reference"),
    );
    let mut expected = BTreeMap::new();
    for (d, kind, seq, item) in &sent {
        let results = reference
            .handle()
            .submit(mqtt_source(&net, *d), vec![item.clone()])
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        expected.insert((*d, *kind, *seq), results[0].clone());
    }
    assert_eq!(got, expected);
    for ((d, kind, seq), result) in &got {
        if *kind == TopicKind::Frame {
            assert!(is_accepted(result), "device {d} frame {seq}: {result:?}");
        }
    }
    assert!(!ingest.is_finished());

    stop(ingest).await;
    engine.join();
    reference.join();
    // the store holds every accepted item, once
    let stored = accepted(&path, &net);
    let keys = stored_keys(&stored);
    let accepted_verdicts = got.values().filter(|r| is_accepted(r)).count();
    assert_eq!(keys.len(), accepted_verdicts);
    for ((d, kind, seq), result) in &got {
        let key = (id(&net.keys[*d]), *kind == TopicKind::Envelope, *seq);
        assert_eq!(keys.contains(&key), is_accepted(result), "{key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_acl_drops_a_publish_to_another_devices_topic() {
    let net = Net::new(2);
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut thief = Client::device(&broker, &net, 0).await;
    let mut victim = Client::device(&broker, &net, 1).await;

    // device 0 publishes its own frame on device 1's topic: mosquitto (MQTT 3.1.1)
    // acknowledges it and drops it
    thief.publish(frame_topic(&net, 1), net.frame(0, 1)).await;
    // then an item on its own topic, on the same connection, so after the first one
    thief.publish(frame_topic(&net, 0), net.frame(0, 2)).await;
    let v = thief.next_verdict().await;
    assert_eq!(v.seq, Some(2), "{v:?}");
    assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");

    stop(ingest).await;
    let metrics = engine.handle().metrics().clone();
    engine.join();
    assert_eq!(metrics.accepted(), 1);
    assert_eq!(metrics.rejected_total(), 0);
    assert!(victim.no_verdict_yet());
    let stored = accepted(&path, &net);
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].device, stored[0].seq), (id(&net.keys[0]), 2));
    assert!(rejections(&path, &net).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_permissive_acl_the_oracle_refuses_another_devices_items_as_wrong_topic() {
    let net = Net::new(2);
    let broker = Broker::start(&net, Acl::Permissive);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut thief = Client::device(&broker, &net, 0).await;
    let mut victim = Client::device(&broker, &net, 1).await;

    // the broker lets it through now; the oracle refuses it before any signature check
    thief.publish(frame_topic(&net, 1), net.frame(0, 1)).await;
    let v = victim.next_verdict().await;
    assert_eq!(v.kind, TopicKind::Frame);
    assert_eq!(v.seq, Some(1));
    assert_eq!(
        v.result,
        Some(ItemResult::Rejected {
            reason: Rejection::WrongTopic
        })
    );
    // it cost device 0 nothing: the same frame on its own topic is accepted
    thief.publish(frame_topic(&net, 0), net.frame(0, 1)).await;
    let v = thief.next_verdict().await;
    assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");

    stop(ingest).await;
    engine.join();
    let stored = accepted(&path, &net);
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].device, stored[0].seq), (id(&net.keys[0]), 1));
    // the refusal is counted in the store
    assert_eq!(rejections(&path, &net), vec![(Rejection::WrongTopic, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_messages_are_delivered_again_after_a_restart_and_stored_once() {
    const DEVICES: usize = 3;
    const SEQS: u32 = 4;
    let net = Net::new(DEVICES as u32);
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let mut config = EngineConfig::new("mqtt");
    config.retry_after = Duration::from_millis(50);

    // an oracle whose store cannot write: every item is refused unavailable and retried,
    // none is acknowledged to the broker
    let down = Arc::new(AtomicBool::new(false));
    let store = Switchable {
        inner: SqliteStore::open(&path).unwrap(),
        down: Arc::clone(&down),
    };
    let engine = net.engine(Box::new(store), config.clone());
    down.store(true, Ordering::SeqCst);
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut devices = Vec::new();
    for d in 0..DEVICES {
        devices.push(Client::device(&broker, &net, d).await);
    }
    for (d, device) in devices.iter().enumerate() {
        for seq in 1..=SEQS {
            device
                .publish(frame_topic(&net, d), net.frame(d, seq))
                .await;
        }
    }
    let total = DEVICES * SEQS as usize;
    let metrics = engine.handle().metrics().clone();
    wait_until(
        "every message was refused unavailable at least once",
        || metrics.refused_count("unavailable") >= total as u64,
    )
    .await;
    assert_eq!(metrics.accepted(), 0);
    assert!(devices.iter_mut().all(Client::no_verdict_yet));

    // the oracle goes away before anything was acknowledged
    stop(ingest).await;
    engine.join();
    assert!(accepted(&path, &net).is_empty());
    assert!(devices.iter_mut().all(Client::no_verdict_yet));

    // restarted over the same file with a working store, on the same MQTT session: the
    // broker delivers every unacknowledged message again
    let engine = net.engine(sqlite(&path), config);
    let ingest = broker.start_oracle(engine.handle()).await;
    for (d, device) in devices.iter_mut().enumerate() {
        let mut seqs = BTreeSet::new();
        for _ in 0..SEQS {
            let v = device.next_verdict().await;
            assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");
            assert!(
                seqs.insert(v.seq.unwrap()),
                "device {d}: two verdicts for {v:?}"
            );
        }
        assert_eq!(seqs, (1..=u64::from(SEQS)).collect::<BTreeSet<_>>());
    }
    stop(ingest).await;
    engine.join();
    let stored = accepted(&path, &net);
    assert_eq!(stored_keys(&stored).len(), total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_bad_topics_do_not_stop_the_front_end() {
    let net = Net::new(2);
    let broker = Broker::start(&net, Acl::Permissive);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let metrics = engine.handle().metrics().clone();
    let max_item = engine.handle().limits().max_item_bytes;
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut honest = Client::device(&broker, &net, 0).await;
    let mut rogue = Client::device(&broker, &net, 1).await;

    // topics that name no device (the permissive ACL lets them through)
    let name = device_name(&id(&net.keys[1]));
    for bad in [
        format!("{PREFIX}/garbage/frame"),
        format!("{PREFIX}/did:key:{name}/frame"),
        format!("{PREFIX}/{name}x/envelope"),
    ] {
        rogue.publish(bad, net.frame(1, 1)).await;
    }
    // garbage on its own topics
    rogue.publish(frame_topic(&net, 1), Vec::new()).await;
    rogue
        .publish(frame_topic(&net, 1), vec![0xab; max_item + 1])
        .await;
    rogue.publish(frame_topic(&net, 1), vec![0x5a; 100]).await;
    rogue
        .publish(envelope_topic(&net, 1), vec![0xff; 100])
        .await;

    wait_until("the three bad topics were counted", || {
        metrics.refused_count("bad_device") == 3
    })
    .await;
    let mut errors = Vec::new();
    let mut rejected = 0;
    for _ in 0..4 {
        let v = rogue.next_verdict().await;
        match (&v.result, &v.error) {
            (None, Some(e)) => errors.push(e.error.clone()),
            (Some(ItemResult::Rejected { .. }), None) => rejected += 1,
            _ => panic!("unexpected verdict {v:?}"),
        }
    }
    errors.sort();
    assert_eq!(errors, vec!["empty".to_string(), "too_large".to_string()]);
    assert_eq!(rejected, 2);
    assert_eq!(metrics.refused_count("too_large"), 1);
    assert_eq!(metrics.refused_count("bad_request"), 1);

    // honest devices are still served
    for seq in 1..=3 {
        honest
            .publish(frame_topic(&net, 0), net.frame(0, seq))
            .await;
    }
    for _ in 0..3 {
        let v = honest.next_verdict().await;
        assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");
    }
    assert!(!ingest.is_finished());
    stop(ingest).await;
    engine.join();
    assert_eq!(metrics.accepted(), 3);
    assert_eq!(accepted(&path, &net).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_start() {
    let net = Net::new(1);
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let engine = net.engine(sqlite(&dir.path().join("o.db")), EngineConfig::new("mqtt"));
    let mut config = broker.oracle_config();
    config.password = Some("not the password".into());
    let started = Instant::now();
    match MqttIngest::start(config, engine.handle()).await {
        Err(MqttError::Refused(_)) => {}
        other => panic!("expected a refused connection, got {other:?}"),
    }
    assert!(started.elapsed() < WAIT);
    engine.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_under_a_topic_level_may_carry_only_that_topics_kinds() {
    let net = Net::new(2);
    // the strict ACL: a device may publish under its own envelope/{topic} levels
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut device = Client::device(&broker, &net, 1).await;
    let me = id(&net.keys[1]);
    let reading = net.reading(1, 1, 1_000);

    // where storage items travel: refused before its signature is checked
    device
        .publish(
            topic_on(PREFIX, &me, Label::new("storage")),
            reading.clone(),
        )
        .await;
    let v = device.next_verdict().await;
    assert_eq!(
        v.result,
        Some(ItemResult::Rejected {
            reason: Rejection::WrongTopic
        }),
        "{v:?}"
    );
    // on its own topic: accepted (the wrong copy used up nothing)
    device
        .publish(topic_on(PREFIX, &me, Label::new("energy")), reading.clone())
        .await;
    let v = device.next_verdict().await;
    assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");
    // a level that is no label is not a device topic at all: counted, no verdict, and
    // the device is still served
    device
        .publish(format!("{}/Not-A-Label", envelope_topic(&net, 1)), reading)
        .await;
    device
        .publish(
            topic_on(PREFIX, &me, Label::new("energy")),
            net.reading(1, 2, 1_005),
        )
        .await;
    let v = device.next_verdict().await;
    assert_eq!(v.seq, Some(2), "{v:?}");
    assert!(v.result.as_ref().is_some_and(is_accepted), "{v:?}");

    stop(ingest).await;
    engine.join();
    let stored = accepted(&path, &net);
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|i| i.device == me));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_messages_reach_the_engine_in_the_order_the_broker_delivered_them() {
    // energy counters must only go up: a reading handled before an earlier one would be
    // refused counter_rollback. Four devices publish 50 readings each without waiting.
    let net = Net::new(4);
    let broker = Broker::start(&net, Acl::Strict);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oracle.db");
    let engine = net.engine(sqlite(&path), EngineConfig::new("mqtt"));
    let ingest = broker.start_oracle(engine.handle()).await;
    let mut devices = Vec::new();
    for d in 0..4 {
        devices.push(Client::device(&broker, &net, d).await);
    }
    for seq in 1..=50u64 {
        for (d, device) in devices.iter().enumerate() {
            let reading = net.reading(d, seq, 1_000 + seq);
            device.publish(envelope_topic(&net, d), reading).await;
        }
    }
    for (d, device) in devices.iter_mut().enumerate() {
        let mut seqs = Vec::new();
        for _ in 0..50 {
            let v = device.next_verdict().await;
            assert!(
                v.result.as_ref().is_some_and(is_accepted),
                "device {d}: {v:?}"
            );
            seqs.push(v.seq.unwrap());
        }
        // answered in order too
        assert_eq!(seqs, (1..=50).collect::<Vec<u64>>(), "device {d}");
    }
    stop(ingest).await;
    engine.join();
    assert_eq!(accepted(&path, &net).len(), 200);
}
