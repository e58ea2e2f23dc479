//! MQTT for a served network: a mosquitto broker on a loopback port, started from the
//! Debian package's binary when it is installed, and a gateway client that publishes
//! devices' items to their topics (QoS 1) and collects the oracle's verdicts.
//!
//! The demo's broker accepts anonymous clients on 127.0.0.1 only. A network's broker
//! authenticates each device and restricts it to its own topics
//! (`depin_attest::ingest::mqtt::mosquitto_acl`); the oracle refuses an item whose signer
//! is not the device of its topic either way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use depin_attest::ingest::mqtt::{parse_topic, topic, topic_on, TopicKind, VerdictMessage};
use depin_attest::ingest::ItemResult;
use depin_attest::Label;
use depin_core::DeviceId;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// The topic prefix the demo's oracles and devices use.
pub const PREFIX: &str = "depin";
/// One item to publish: its device (the topic), its sequence number (to match the
/// verdict), its envelope bytes and the gossip topic it belongs to, if the network checks
/// one (published under `{prefix}/{device}/envelope/{topic}`).
pub type Published = (DeviceId, u64, Vec<u8>, Option<Label>);
/// How long a verdict may take.
const VERDICT_WAIT: Duration = Duration::from_secs(60);

/// Where Debian's `mosquitto` package installs the broker, then the `PATH`.
fn find_mosquitto() -> Option<PathBuf> {
    let debian = PathBuf::from("/usr/sbin/mosquitto");
    if debian.exists() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("mosquitto"))
            .find(|p| p.exists())
    })
}

/// A mosquitto process on a free loopback port; killed when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Broker {
    /// Start mosquitto with its configuration and log in `dir`; `Ok(None)` when no
    /// mosquitto binary is installed (`apt-get install mosquitto`).
    pub fn start(dir: &Path) -> Result<Option<Broker>> {
        let Some(binary) = find_mosquitto() else {
            return Ok(None);
        };
        std::fs::create_dir_all(dir).map_err(|source| Error::File {
            path: dir.to_path_buf(),
            source,
        })?;
        let port = free_port()?;
        let log = dir.join("mosquitto.log");
        let conf_path = dir.join("mosquitto.conf");
        // `user root`: mosquitto started as root otherwise drops to a `mosquitto` user
        // that may not write the log in `dir`
        let user = if is_root() { "user root\n" } else { "" };
        let conf = format!(
            "{user}listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             set_tcp_nodelay true\n\
             persistence false\n\
             max_inflight_messages 256\n\
             max_queued_messages 100000\n\
             message_size_limit 60000\n\
             log_dest file {log}\n\
             log_type error\n\
             log_type warning\n",
            log = log.display()
        );
        std::fs::write(&conf_path, conf).map_err(|source| Error::File {
            path: conf_path.clone(),
            source,
        })?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Served(format!("{} could not start: {e}", binary.display())))?;
        let mut broker = Broker { child, port, log };
        broker.wait_until_listening()?;
        Ok(Some(broker))
    }

    /// The broker's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Served(format!(
                    "mosquitto exited at start ({status}); its log: {}",
                    self.log.display()
                )));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Served(format!(
                    "mosquitto did not listen on port {} within 5 s; its log: {}",
                    self.port,
                    self.log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root (Linux: the real uid in `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().next())
            == Some("0")
    })
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A client publishing for many devices (a gateway in front of them) and reading every
/// device's verdicts.
#[derive(Debug)]
pub struct Gateway {
    client: AsyncClient,
    verdicts: mpsc::Receiver<(String, Vec<u8>)>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Connect to `port` on 127.0.0.1 and subscribe to every verdict topic (QoS 1).
    pub fn connect(runtime: &Runtime, port: u16, client_id: &str) -> Result<Gateway> {
        runtime.block_on(async {
            let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
            options
                .set_keep_alive(Duration::from_secs(5))
                .set_max_packet_size(64 * 1024, 64 * 1024);
            let (client, mut eventloop) = AsyncClient::new(options, 256);
            // small packets leave at once (no Nagle wait for the broker's delayed ACK)
            let mut network = rumqttc::NetworkOptions::new();
            network.set_tcp_nodelay(true);
            eventloop.set_network_options(network);
            client
                .subscribe(format!("{PREFIX}/+/verdict"), QoS::AtLeastOnce)
                .await
                .map_err(|e| Error::Served(format!("MQTT subscribe: {e}")))?;
            let (tx, verdicts) = mpsc::channel(4096);
            let (ready_tx, ready) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(async move {
                let mut ready_tx = Some(ready_tx);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(r) = ready_tx.take() {
                                let _ = r.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if tx
                                .send((p.topic.clone(), p.payload.to_vec()))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            });
            tokio::time::timeout(Duration::from_secs(10), ready)
                .await
                .map_err(|_| Error::Served("MQTT: no SUBACK within 10 s".into()))?
                .map_err(|_| Error::Served("MQTT client stopped".into()))?;
            Ok(Gateway {
                client,
                verdicts,
                task,
            })
        })
    }

    /// Publish each `(device, seq, envelope, topic)` to the device's envelope topic and wait for
    /// all their verdicts (committed by the oracle before it acknowledged the message);
    /// in the order given.
    pub fn send(&mut self, runtime: &Runtime, items: &[Published]) -> Result<Vec<ItemResult>> {
        runtime.block_on(async {
            let mut waiting: BTreeMap<(DeviceId, u64), usize> = BTreeMap::new();
            for (i, (device, seq, bytes, on)) in items.iter().enumerate() {
                if waiting.insert((*device, *seq), i).is_some() {
                    return Err(Error::Check(format!(
                        "{device} sends sequence number {seq} twice in one batch"
                    )));
                }
                self.client
                    .publish(
                        match on {
                            Some(on) => topic_on(PREFIX, device, *on),
                            None => topic(PREFIX, device, TopicKind::Envelope),
                        },
                        QoS::AtLeastOnce,
                        false,
                        bytes.clone(),
                    )
                    .await
                    .map_err(|e| Error::Served(format!("MQTT publish: {e}")))?;
            }
            let mut out: Vec<Option<ItemResult>> = vec![None; items.len()];
            while !waiting.is_empty() {
                let (topic_name, payload) =
                    tokio::time::timeout(VERDICT_WAIT, self.verdicts.recv())
                        .await
                        .map_err(|_| {
                            Error::Served(format!(
                                "{} MQTT verdicts missing after {VERDICT_WAIT:?}",
                                waiting.len()
                            ))
                        })?
                        .ok_or_else(|| Error::Served("MQTT client stopped".into()))?;
                let Ok((device, TopicKind::Verdict)) = parse_topic(PREFIX, &topic_name) else {
                    continue;
                };
                let message: VerdictMessage = serde_json::from_slice(&payload)
                    .map_err(|e| Error::Served(format!("not a verdict message: {e}")))?;
                let Some(seq) = message.seq else { continue };
                let Some(i) = waiting.remove(&(device, seq)) else {
                    continue;
                };
                match (message.result, message.error) {
                    (Some(result), _) => out[i] = Some(result),
                    (None, Some(error)) => {
                        return Err(Error::Served(format!(
                            "MQTT item of {device} refused: {} ({})",
                            error.error, error.message
                        )))
                    }
                    (None, None) => return Err(Error::Served("an empty verdict message".into())),
                }
            }
            Ok(out.into_iter().flatten().collect())
        })
    }

    /// Disconnect.
    pub fn close(self, runtime: &Runtime) {
        runtime.block_on(async {
            let _ = self.client.disconnect().await;
        });
        self.task.abort();
    }
}
