//! A reference network served by a real oracle: the oracle service of depin-chains
//! (`depin_chains::oracle::service`) on a loopback port, with its embedded SQLite store, and
//! the network's devices sending to it over HTTP.
//!
//! The simulation's time is the oracle's processing-time clock: the simulator sets it
//! before each request ([`ServedOracle::send`]) and moves it past an epoch's end and grace
//! window to have the oracle close that epoch itself ([`ServedOracle::close`]). Everything
//! else is what an operator runs: the ingest endpoint (`POST /v1/batch`, binary batches; a
//! 2xx means the items and their verdicts are committed), the closer (scores, exact split,
//! receipts, cumulative claim tree, root published on the chain) and the claims API that
//! owners fetch their proofs from ([`settle_served`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use depin_attest::ingest::wire::{encode_binary, BatchResponse, BINARY_CONTENT_TYPE, MAGIC};
use depin_attest::ingest::{Clock, ItemBytes, ItemResult, MakeVerifier};
use depin_attest::{
    EpochReport, Input, KindSet, Label, Outcome, Registry, Rejection, ReplayStore, Verifier,
};
use depin_chains::oracle::service::{EpochConfig, MqttSection, Oracle, ServiceConfig, StoreConfig};
use depin_chains::oracle::{CloseError, CloseReport, EpochCloser, EpochScoring};
use depin_chains::{Account, ChainBackend, Claim, TxHandle};
use depin_core::{Epoch, Timestamp};
use tokio::runtime::Runtime;

use crate::chain::Settlement;
use crate::error::{Error, Result};
use crate::{Chain, DAY_MS, GENESIS_MS};

/// The grace window after each simulated epoch (late reports still count), milliseconds.
pub const GRACE_MS: u64 = 60_000;
/// Items per HTTP request (the endpoint's default limit is larger).
const REQUEST_ITEMS: usize = 512;
/// How long a close may take before the run gives up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts of one request answered 429/503 before the run gives up.
const ATTEMPTS: u32 = 50;

/// A running oracle serving one simulated network (see the [module documentation](self)).
pub struct ServedOracle {
    runtime: Runtime,
    oracle: Option<Oracle>,
    clock: Arc<AtomicU64>,
    closes: mpsc::Receiver<core::result::Result<CloseReport, String>>,
    client: reqwest::Client,
    base: String,
    store: PathBuf,
    /// Items per request at most.
    max_items: usize,
    /// Body bytes per request at most.
    max_body: usize,
    /// The broker and the devices' gateway client, when MQTT is on.
    mqtt: Option<(crate::mqtt::Broker, crate::mqtt::Gateway)>,
}

impl std::fmt::Debug for ServedOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedOracle")
            .field("base", &self.base)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn service_error(e: impl std::fmt::Display) -> Error {
    Error::Served(e.to_string())
}

impl ServedOracle {
    /// Start an oracle for `network` on `127.0.0.1:0` with a fresh SQLite store
    /// `DIR/{network}.oracle.sqlite` (an older one, and its WAL, are removed first: every
    /// run starts a fresh network), the simulation's daily epochs from epoch 0 with a
    /// [`GRACE_MS`] grace window, the network's verifier factory and its closer.
    pub fn start<R, S, C>(
        network: &str,
        dir: &Path,
        make: MakeVerifier<R, S>,
        closer: EpochCloser<C>,
    ) -> Result<Self>
    where
        R: Registry + Send + 'static,
        S: ReplayStore + Send + 'static,
        C: EpochScoring + 'static,
    {
        Self::start_with(network, dir, make, closer, false, |_| {})
    }

    /// [`ServedOracle::start`], with `configure` changing the service's configuration
    /// first (the ingest limits of a network whose items are large, say). With `mqtt`, a
    /// mosquitto broker is started too (when one is installed: see
    /// [`ServedOracle::mqtt_port`]), the oracle subscribes to it, and
    /// [`ServedOracle::publish`] sends through it.
    pub fn start_with<R, S, C>(
        network: &str,
        dir: &Path,
        make: MakeVerifier<R, S>,
        closer: EpochCloser<C>,
        mqtt: bool,
        configure: impl FnOnce(&mut ServiceConfig),
    ) -> Result<Self>
    where
        R: Registry + Send + 'static,
        S: ReplayStore + Send + 'static,
        C: EpochScoring + 'static,
    {
        std::fs::create_dir_all(dir).map_err(|source| Error::File {
            path: dir.to_path_buf(),
            source,
        })?;
        let store = dir.join(format!("{network}.oracle.sqlite"));
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", store.display()));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::File { path, source }),
            }
        }
        let mut config = ServiceConfig::new(StoreConfig::Sqlite {
            path: store.clone(),
        });
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.name = format!("{network}-oracle");
        config.epochs = EpochConfig {
            genesis_ms: GENESIS_MS,
            length_ms: DAY_MS,
            grace_ms: GRACE_MS,
            // the day before epoch 1 is closed too (a network's set-up items, such as
            // storage commitments, may fall in it; it pays nothing and publishes nothing)
            first: Some(0),
            check_ms: 10,
        };
        // every simulated device sends from this one loopback client, a day's reports in
        // seconds: the per-client and per-device rates are set for that
        config.ingest.client_per_second = 1_000_000;
        config.ingest.client_burst = 1_000_000;
        config.ingest.device_per_second = 1_000_000;
        config.ingest.device_burst = 1_000_000;
        let broker = match mqtt {
            true => crate::mqtt::Broker::start(&dir.join(format!("{network}.mqtt")))?,
            false => None,
        };
        if let Some(b) = &broker {
            config.mqtt = Some(MqttSection {
                host: "127.0.0.1".into(),
                port: b.port(),
                client_id: Some(format!("{network}-oracle")),
                username: None,
                password: None,
                topic_prefix: crate::mqtt::PREFIX.into(),
            });
        }
        configure(&mut config);
        let (max_items, max_body) = (
            config.ingest.max_items_per_request.clamp(1, REQUEST_ITEMS),
            config.ingest.max_body_bytes,
        );

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let clock_ms = Arc::new(AtomicU64::new(GENESIS_MS));
        let read = Arc::clone(&clock_ms);
        let clock: Clock = Arc::new(move || Timestamp(read.load(Ordering::SeqCst)));
        let (tx, closes) = mpsc::channel::<core::result::Result<CloseReport, String>>();
        let failed = tx.clone();
        let oracle = runtime
            .block_on(
                Oracle::builder(config, make, closer)
                    .clock(clock)
                    .on_close(move |report: &CloseReport| {
                        let _ = tx.send(Ok(report.clone()));
                    })
                    .on_close_failed(move |epoch: Epoch, error: &CloseError| {
                        let _ = failed.send(Err(format!("closing {epoch} failed: {error}")));
                    })
                    .start(),
            )
            .map_err(service_error)?;
        let base = format!("http://{}", oracle.addr());
        let gateway = match &broker {
            Some(b) => Some(crate::mqtt::Gateway::connect(
                &runtime,
                b.port(),
                &format!("{network}-gateway"),
            )?),
            None => None,
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(service_error)?;
        Ok(ServedOracle {
            runtime,
            oracle: Some(oracle),
            clock: clock_ms,
            closes,
            client,
            base,
            store,
            max_items,
            max_body,
            mqtt: broker.zip(gateway),
        })
    }

    /// The oracle's HTTP address (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The SQLite store file.
    pub fn store_path(&self) -> &Path {
        &self.store
    }

    /// The MQTT broker's port, when the oracle also ingests over MQTT.
    pub fn mqtt_port(&self) -> Option<u16> {
        self.mqtt.as_ref().map(|(b, _)| b.port())
    }

    /// Publish `(device, seq, envelope, topic)` items at `now` to their devices' MQTT topics and
    /// return their verdicts in order (each committed before the oracle acknowledged its
    /// message). [`Error::Served`] when MQTT is off.
    pub fn publish(
        &mut self,
        items: &[crate::mqtt::Published],
        now: Timestamp,
    ) -> Result<Vec<ItemResult>> {
        self.set_time(now);
        let Some((_, gateway)) = self.mqtt.as_mut() else {
            return Err(Error::Served("this oracle has no MQTT broker".into()));
        };
        let results = gateway.send(&self.runtime, items)?;
        if results.len() != items.len() {
            return Err(Error::Served(format!(
                "{} MQTT verdicts for {} items",
                results.len(),
                items.len()
            )));
        }
        Ok(results)
    }

    /// Move the oracle's clock to `now` (never backwards).
    pub fn set_time(&self, now: Timestamp) {
        self.clock.fetch_max(now.0, Ordering::SeqCst);
    }

    /// Send items at `now` over HTTP (binary batches of at most 512 items, within the
    /// endpoint's body limit) and return
    /// their verdicts in order, each committed to the oracle's store before it was
    /// answered. A 429 or 503 is retried after its `Retry-After`; any other refusal is an
    /// error.
    pub fn send(&self, items: &[ItemBytes], now: Timestamp) -> Result<Vec<ItemResult>> {
        self.send_on(items, None, now)
    }

    /// [`ServedOracle::send`] with the gossip topic the items were published on
    /// (`POST /v1/batch?topic=`): the oracle refuses an envelope of a kind of another
    /// topic `wrong_topic`, as gossip does.
    pub fn send_on(
        &self,
        items: &[ItemBytes],
        topic: Option<Label>,
        now: Timestamp,
    ) -> Result<Vec<ItemResult>> {
        self.set_time(now);
        let mut out = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            // as many items as fit the endpoint's item and body limits
            let (mut end, mut bytes) = (start, MAGIC.len());
            while end < items.len() && end - start < self.max_items {
                let len = 3 + item_len(&items[end]);
                if end > start && bytes + len > self.max_body {
                    break;
                }
                bytes += len;
                end += 1;
            }
            let chunk = &items[start..end];
            let body = encode_binary(chunk);
            let results = self.runtime.block_on(self.post_batch(body, topic))?;
            if results.len() != chunk.len() {
                return Err(Error::Served(format!(
                    "{} verdicts for {} items",
                    results.len(),
                    chunk.len()
                )));
            }
            out.extend(results);
            start = end;
        }
        Ok(out)
    }

    async fn post_batch(&self, body: Vec<u8>, topic: Option<Label>) -> Result<Vec<ItemResult>> {
        let url = match topic {
            Some(t) => format!("{}/v1/batch?topic={t}", self.base),
            None => format!("{}/v1/batch", self.base),
        };
        for _ in 0..ATTEMPTS {
            let response = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, BINARY_CONTENT_TYPE)
                .body(body.clone())
                .send()
                .await
                .map_err(service_error)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let bytes = response.bytes().await.map_err(service_error)?;
            match status {
                200 => {
                    let parsed: BatchResponse =
                        serde_json::from_slice(&bytes).map_err(service_error)?;
                    return Ok(parsed.results);
                }
                429 | 503 => {
                    let wait = retry_after.unwrap_or(1).clamp(0, 5);
                    tokio::time::sleep(Duration::from_millis(100 + 1_000 * wait)).await;
                }
                _ => {
                    return Err(Error::Served(format!(
                        "POST /v1/batch answered {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    )))
                }
            }
        }
        Err(Error::Served(format!(
            "POST /v1/batch still refused after {ATTEMPTS} attempts"
        )))
    }

    /// Move the clock past `epoch`'s end and grace window and wait until the oracle has
    /// closed it (root computed, published and recorded). A failed close is an error (the
    /// oracle would retry it; a simulation stops and says why).
    pub fn close(&self, epoch: u64) -> Result<CloseReport> {
        let end = GENESIS_MS.saturating_add(epoch.saturating_add(1).saturating_mul(DAY_MS));
        self.set_time(Timestamp(end.saturating_add(GRACE_MS)));
        loop {
            match self.closes.recv_timeout(CLOSE_TIMEOUT) {
                Ok(Ok(report)) if report.epoch == Epoch(epoch) => return Ok(report),
                Ok(Ok(report)) if report.epoch.0 < epoch => continue,
                Ok(Err(message)) => return Err(Error::Served(message)),
                Ok(Ok(report)) => {
                    return Err(Error::Served(format!(
                        "the oracle closed {} while epoch {epoch} was awaited",
                        report.epoch
                    )))
                }
                Err(_) => {
                    return Err(Error::Served(format!(
                        "the oracle did not close epoch {epoch} within {CLOSE_TIMEOUT:?}"
                    )))
                }
            }
        }
    }

    /// `GET path` on the oracle: the status and the JSON body.
    pub fn get(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let response = self.client.get(&url).send().await.map_err(service_error)?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(service_error)?;
            let json = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Served(format!("GET {path} answered {status} with no JSON: {e}"))
            })?;
            Ok((status, json))
        })
    }

    /// `account`'s cumulative claim against the latest published root, from the claims API
    /// (`GET /v1/claims/{account}`), as a wallet fetches it; `None` when the account is not
    /// in the tree.
    pub fn claim(&self, account: &Account) -> Result<Option<Claim>> {
        let (status, json) = self.get(&format!("/v1/claims/{account}"))?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => {
                return Err(Error::Served(format!(
                    "GET /v1/claims/{account} answered {status}: {json}"
                )))
            }
        }
        let bad = |what: &str| Error::Served(format!("claim answer without {what}: {json}"));
        let cumulative_amount = json["cumulative"]
            .as_str()
            .and_then(|s| s.parse::<u128>().ok())
            .ok_or_else(|| bad("a cumulative amount"))?;
        let mut proof = Vec::new();
        for node in json["proof"].as_array().ok_or_else(|| bad("a proof"))? {
            let text = node.as_str().ok_or_else(|| bad("hex proof nodes"))?;
            let text = text.strip_prefix("0x").unwrap_or(text);
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash).map_err(|_| bad("32-byte proof nodes"))?;
            proof.push(hash);
        }
        Ok(Some(Claim {
            account: account.clone(),
            cumulative_amount,
            proof,
        }))
    }

    /// Check that the oracle's stored receipts for `epoch` pay each device what the
    /// network's rules pay it (`earned`), read over its HTTP API
    /// (`GET /v1/devices/{did}/epochs`) as an owner would: [`Error::Check`] otherwise.
    pub fn check_receipts(
        &self,
        epoch: u64,
        earned: &BTreeMap<depin_core::DeviceId, u128>,
    ) -> Result<()> {
        for (device, amount) in earned {
            let path = format!("/v1/devices/{device}/epochs?from={epoch}&limit=1");
            let (status, json) = self.get(&path)?;
            let stored = json["epochs"][0]["receipt"]["amount"]
                .as_str()
                .and_then(|a| a.parse::<u128>().ok());
            if status != 200 || stored != Some(*amount) {
                return Err(Error::Check(format!(
                    "the oracle's receipt of {device} for epoch {epoch} is {stored:?} \
                     ({status}), the network's rules pay {amount}"
                )));
            }
        }
        Ok(())
    }

    /// Stop the oracle: requests in flight answered, queued items committed, the closer
    /// stopped.
    pub fn shutdown(mut self) -> Result<()> {
        if let Some((broker, gateway)) = self.mqtt.take() {
            gateway.close(&self.runtime);
            drop(broker);
        }
        if let Some(oracle) = self.oracle.take() {
            self.runtime
                .block_on(oracle.shutdown())
                .map_err(service_error)?;
        }
        Ok(())
    }
}

impl Drop for ServedOracle {
    fn drop(&mut self) {
        if let Some((broker, gateway)) = self.mqtt.take() {
            gateway.close(&self.runtime);
            drop(broker);
        }
        if let Some(oracle) = self.oracle.take() {
            let _ = self.runtime.block_on(oracle.shutdown());
        }
    }
}

/// Settle an epoch the oracle closed: every owner in `owners` with something new to claim
/// fetches its cumulative claim from the oracle's claims API and submits it to the chain
/// (owners in `deferring` skip odd epochs unless it is the `last`, so their next claim
/// covers two). Checks, and fails with [`Error::Check`] otherwise: the chain has the
/// oracle's root, each claim pays the account up to its cumulative total, and the same
/// claim again is refused.
pub fn settle_served(
    chain: &Chain,
    oracle: &ServedOracle,
    report: &CloseReport,
    owners: &BTreeSet<Account>,
    deferring: &BTreeSet<Account>,
    last: bool,
) -> Result<Settlement> {
    let epoch = report.epoch.0;
    let backend: Arc<dyn ChainBackend> = Arc::clone(chain.backend());
    let mut out = Settlement {
        epoch,
        root: report.root,
        publish_tx: report.published_tx.as_deref().and_then(parse_tx),
        epoch_total: report.epoch_total,
        cumulative_total: report.cumulative_total,
        claims: 0,
        claimed_now: 0,
        claimed_total: 0,
        deferred: 0,
        double_claim_refused: false,
        pool_balance: None,
    };
    if report.root == [0u8; 32] {
        return Ok(out);
    }
    let on_chain = chain.block_on(backend.epoch_root(report.epoch))?;
    if on_chain.map(|r| (r.root, r.total)) != Some((report.root, report.cumulative_total)) {
        return Err(Error::Check(format!(
            "the chain does not hold the oracle's root of epoch {epoch}"
        )));
    }
    let mut first_claim = None;
    for account in owners {
        let already = chain.block_on(backend.claimed(account))?;
        let Some(claim) = oracle.claim(account)? else {
            out.claimed_total = out.claimed_total.saturating_add(already);
            continue;
        };
        let total = claim.cumulative_amount;
        if total <= already || (deferring.contains(account) && !last && epoch % 2 == 1) {
            out.deferred += usize::from(total > already);
            out.claimed_total = out.claimed_total.saturating_add(already);
            continue;
        }
        let tx = chain.block_on(backend.claim(&claim))?;
        chain
            .block_on(backend.wait_for_receipt(&tx))?
            .ensure_success()?;
        let now = chain.block_on(backend.claimed(account))?;
        if now != total {
            return Err(Error::Check(format!(
                "{account} claimed {now} on chain, the oracle's total is {total}"
            )));
        }
        out.claims += 1;
        out.claimed_now += total - already;
        out.claimed_total = out.claimed_total.saturating_add(now);
        first_claim.get_or_insert(claim);
    }
    if let Some(claim) = first_claim {
        match chain.block_on(backend.claim(&claim)) {
            Err(depin_chains::Error::AlreadyClaimed { .. }) => out.double_claim_refused = true,
            Ok(_) => return Err(Error::Check("a repeated claim was paid".into())),
            Err(e) => return Err(e.into()),
        }
    }
    out.pool_balance = chain.block_on(backend.pool_balance())?;
    Ok(out)
}

/// The bytes of an item.
fn item_len(item: &ItemBytes) -> usize {
    match item {
        ItemBytes::Frame(b) | ItemBytes::Envelope(b) => b.len(),
    }
}

/// A transaction hash as the closer reports it (`0x` and 64 hex digits).
fn parse_tx(text: &str) -> Option<TxHandle> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.strip_prefix("0x").unwrap_or(text), &mut bytes).ok()?;
    Some(TxHandle(bytes))
}

/// Where a network's devices send: the verifier in this process, or a served oracle over
/// HTTP. Both answer the same verdicts for the same inputs (the served oracle runs the
/// same verifier, built by the same factory).
#[derive(Debug)]
// one value per network run, never moved in a loop: boxing a variant would buy nothing
#[allow(clippy::large_enum_variant)]
pub enum Pipeline<R: Registry, S: ReplayStore> {
    /// The verification pipeline, in process.
    InProcess(Verifier<R, S>),
    /// A real oracle on a loopback port.
    Served {
        /// The oracle.
        oracle: ServedOracle,
        /// A verifier built by the same factory, used only to name what was sent (kinds,
        /// for the epoch reports), never to judge it.
        names: Verifier<R, S>,
        /// Counts per processing-time epoch, from the oracle's answers.
        reports: BTreeMap<Epoch, EpochReport>,
        /// Devices that publish over MQTT (when the oracle has a broker); the others
        /// send over HTTP.
        mqtt: BTreeSet<depin_core::DeviceId>,
    },
}

impl<R: Registry + Send + 'static, S: ReplayStore + Send + 'static> Pipeline<R, S> {
    /// A pipeline served by a real oracle for `network` ([`ServedOracle::start_with`], its
    /// store in `dir`): `make` builds the oracle's verifiers (and, called once here, the
    /// verifier that names what is sent), the closer `closer_name` applies `scoring` and
    /// publishes on `chain`, crediting each device to its owner in `owners`. With `mqtt`,
    /// a mosquitto broker is started too and those devices publish through it.
    #[allow(clippy::too_many_arguments)]
    pub fn serve<C: EpochScoring + 'static>(
        network: &str,
        dir: &Path,
        chain: &Chain,
        mut make: MakeVerifier<R, S>,
        scoring: C,
        closer_name: &str,
        owners: BTreeMap<depin_core::DeviceId, Account>,
        mqtt: Option<BTreeSet<depin_core::DeviceId>>,
        configure: impl FnOnce(&mut ServiceConfig),
    ) -> Result<Self> {
        let closer = EpochCloser::new(
            scoring,
            Arc::clone(chain.backend()),
            chain.claim_format(),
            closer_name,
        )
        .owners(move |d: &depin_core::DeviceId| owners.get(d).cloned());
        let names = make()?;
        let oracle =
            ServedOracle::start_with(network, dir, make, closer, mqtt.is_some(), configure)?;
        Ok(Pipeline::Served {
            oracle,
            names,
            reports: BTreeMap::new(),
            mqtt: mqtt.unwrap_or_default(),
        })
    }
}

impl<R: Registry, S: ReplayStore> Pipeline<R, S> {
    /// Verify `inputs` at `now`: their outcomes, or why each was refused. Served, an
    /// [`Input::EnvelopeOf`] is sent with the gossip topic whose kinds its set is (HTTP
    /// `?topic=`, or the MQTT topic level), so the oracle applies the same topic rule.
    pub fn verify(&mut self, inputs: &[Input<'_>], now: Timestamp) -> Result<Vec<Checked>> {
        self.verify_ordered(inputs, now, false)
    }

    /// [`Pipeline::verify`] for a network whose verdicts at ingest depend only on each
    /// device's own earlier items (replay windows, per-device counters; no "first device
    /// wins" rule across devices): served, the items of each way (HTTP with one topic, or
    /// MQTT) go in one request or burst, each device's items in their order, instead of one
    /// request per run of consecutive items of one way. The verdicts come back in input
    /// order and are those of [`Pipeline::verify`] for such a network; a network with a
    /// rule across devices (a storage root committed first, an image already seen) must
    /// use [`Pipeline::verify`].
    pub fn verify_per_device(
        &mut self,
        inputs: &[Input<'_>],
        now: Timestamp,
    ) -> Result<Vec<Checked>> {
        self.verify_ordered(inputs, now, true)
    }

    fn verify_ordered(
        &mut self,
        inputs: &[Input<'_>],
        now: Timestamp,
        per_device: bool,
    ) -> Result<Vec<Checked>> {
        match self {
            Pipeline::InProcess(verifier) => Ok(verifier
                .verify_batch(inputs, now)
                .into_iter()
                .map(|v| v.map(|a| a.outcome))
                .collect()),
            Pipeline::Served {
                oracle,
                names,
                reports,
                mqtt,
            } => {
                // each item over its device's transport, with its gossip topic; in runs of
                // consecutive items that go the same way (one HTTP request per run, or one
                // burst of MQTT publishes, whose front end keeps each device's order), each
                // run answered before the next is sent: the oracle sees the inputs in the
                // order given, as the in-process verifier does
                let mut results: Vec<ItemResult> = Vec::with_capacity(inputs.len());
                let mut run: Vec<Sent> = Vec::new();
                // per device: each way's items, with their input positions
                let mut ways: Vec<(Vec<usize>, Vec<Sent>)> = Vec::new();
                // each item's kind, as the report counts it (described once)
                let mut kinds: Vec<Option<depin_attest::AttestationKind>> =
                    Vec::with_capacity(inputs.len());
                for (position, input) in inputs.iter().enumerate() {
                    let info = names.describe(*input, now);
                    kinds.push(info.map(|i| i.kind));
                    let on = match input {
                        Input::EnvelopeOf(_, kinds) => Some(topic_of(names, *kinds)?),
                        Input::Frame(_) | Input::Envelope(_) => None,
                    };
                    let sent = match (input, info) {
                        (Input::Envelope(b) | Input::EnvelopeOf(b, _), Some(info))
                            if oracle.mqtt_port().is_some() && mqtt.contains(&info.device) =>
                        {
                            Sent::Mqtt((info.device, info.seq, b.to_vec(), on))
                        }
                        (Input::Frame(b), _) => Sent::Http(on, ItemBytes::Frame(b.to_vec())),
                        (Input::Envelope(b) | Input::EnvelopeOf(b, _), _) => {
                            Sent::Http(on, ItemBytes::Envelope(b.to_vec()))
                        }
                    };
                    if per_device {
                        match ways
                            .iter_mut()
                            .find(|(_, w)| w.first().is_some_and(|f| f.same_way(&sent)))
                        {
                            Some((positions, way)) => {
                                positions.push(position);
                                way.push(sent);
                            }
                            None => ways.push((vec![position], vec![sent])),
                        }
                        continue;
                    }
                    if run.last().is_some_and(|last| !last.same_way(&sent)) {
                        results.extend(send_run(oracle, std::mem::take(&mut run), now)?);
                    }
                    run.push(sent);
                }
                results.extend(send_run(oracle, run, now)?);
                if per_device {
                    let mut placed: Vec<Option<ItemResult>> = vec![None; inputs.len()];
                    for (positions, way) in ways {
                        let answers = send_run(oracle, way, now)?;
                        if answers.len() != positions.len() {
                            return Err(Error::Served("a run got fewer verdicts".into()));
                        }
                        for (p, answer) in positions.into_iter().zip(answers) {
                            if let Some(slot) = placed.get_mut(p) {
                                *slot = Some(answer);
                            }
                        }
                    }
                    results = placed.into_iter().flatten().collect();
                }
                if results.len() != inputs.len() {
                    return Err(Error::Served("an item got no verdict".into()));
                }
                let epoch = names.config().schedule.epoch_of(now)?;
                let report = reports.entry(epoch).or_insert_with(|| {
                    let mut r = EpochReport::new(epoch);
                    r.kind_names = names
                        .kinds()
                        .into_iter()
                        .map(|k| (k.kind, k.name))
                        .collect();
                    r
                });
                let mut out = Vec::with_capacity(results.len());
                for (kind, result) in kinds.into_iter().zip(results) {
                    match result {
                        ItemResult::Accepted { outcome, .. } => {
                            let kind = kind.ok_or_else(|| {
                                Error::Check("an accepted item does not describe".into())
                            })?;
                            *report.accepted.entry(kind).or_insert(0) += 1;
                            out.push(Ok(outcome));
                        }
                        ItemResult::Rejected { reason } => {
                            *report.rejected.entry(reason).or_insert(0) += 1;
                            out.push(Err(reason));
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// The counts of what was processed during `epoch` (an empty report if nothing was).
    pub fn take_report(&mut self, epoch: Epoch) -> EpochReport {
        let report = match self {
            Pipeline::InProcess(verifier) => verifier.take_report(epoch),
            Pipeline::Served { reports, .. } => reports.remove(&epoch),
        };
        report.unwrap_or_else(|| EpochReport::new(epoch))
    }

    /// The served oracle, if this pipeline is one.
    pub fn oracle(&self) -> Option<&ServedOracle> {
        match self {
            Pipeline::InProcess(_) => None,
            Pipeline::Served { oracle, .. } => Some(oracle),
        }
    }

    /// The served oracle, if this pipeline is one, after printing the progress line that says
    /// where it listens and stores (`served by an oracle at URL (store PATH)`).
    pub fn announce(&self, opts: &crate::Options, network: &str) -> Option<&ServedOracle> {
        let oracle = self.oracle()?;
        crate::progress(
            opts,
            network,
            &format!(
                "served by an oracle at {} (store {})",
                oracle.base_url(),
                oracle.store_path().display()
            ),
        );
        Some(oracle)
    }

    /// Settle `epoch` on `chain`. In process: `credits` (owner, amount) are published and
    /// claimed through the chain ([`Chain::settle`]). Served: the oracle closes the epoch
    /// itself ([`ServedOracle::close`]); it must have counted the accepted items this
    /// pipeline's `report` counts and stored receipts paying each device what the
    /// network's rules pay it (`earned`), and the owners then claim with the proofs its API
    /// serves ([`settle_served`]). `owners` are every owner (served claims are fetched per
    /// owner), `deferring` those who claim only at the `last` epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn settle(
        &self,
        chain: &mut Chain,
        epoch: u64,
        report: &EpochReport,
        credits: Vec<(Account, u128)>,
        earned: &BTreeMap<depin_core::DeviceId, u128>,
        owners: &BTreeSet<Account>,
        deferring: &BTreeSet<Account>,
        last: bool,
    ) -> Result<Settlement> {
        match self.oracle() {
            None => chain.settle(epoch, credits, deferring, last),
            Some(oracle) => {
                let closed = oracle.close(epoch)?;
                if closed.accepted != report.accepted_total() {
                    return Err(Error::Check(format!(
                        "the oracle counted {} accepted items, its answers {}",
                        closed.accepted,
                        report.accepted_total()
                    )));
                }
                oracle.check_receipts(epoch, earned)?;
                settle_served(chain, oracle, &closed, owners, deferring, last)
            }
        }
    }

    /// The in-process verifier (its policies' state, for notes), if this pipeline is one;
    /// served, that state is the oracle's.
    pub fn in_process(&self) -> Option<&Verifier<R, S>> {
        match self {
            Pipeline::InProcess(verifier) => Some(verifier),
            Pipeline::Served { .. } => None,
        }
    }

    /// [`Pipeline::in_process`], mutably (to finalize a round the verifier keeps, such as
    /// proof of coverage's witness selection).
    pub fn in_process_mut(&mut self) -> Option<&mut Verifier<R, S>> {
        match self {
            Pipeline::InProcess(verifier) => Some(verifier),
            Pipeline::Served { .. } => None,
        }
    }
}

/// One item on its way to a served oracle.
enum Sent {
    /// Over HTTP, with its gossip topic if it has one.
    Http(Option<Label>, ItemBytes),
    /// Over MQTT.
    Mqtt(crate::mqtt::Published),
}

impl Sent {
    /// Whether `other` can go in the same request or burst.
    fn same_way(&self, other: &Sent) -> bool {
        match (self, other) {
            (Sent::Http(a, _), Sent::Http(b, _)) => a == b,
            (Sent::Mqtt(_), Sent::Mqtt(_)) => true,
            _ => false,
        }
    }
}

/// Sends one run of items that go the same way and returns their verdicts in order.
fn send_run(oracle: &mut ServedOracle, run: Vec<Sent>, now: Timestamp) -> Result<Vec<ItemResult>> {
    let Some(first) = run.first() else {
        return Ok(Vec::new());
    };
    match first {
        Sent::Http(on, _) => {
            let on = *on;
            let items: Vec<ItemBytes> = run
                .into_iter()
                .filter_map(|s| match s {
                    Sent::Http(_, item) => Some(item),
                    Sent::Mqtt(_) => None,
                })
                .collect();
            oracle.send_on(&items, on, now)
        }
        Sent::Mqtt(_) => {
            let items: Vec<crate::mqtt::Published> = run
                .into_iter()
                .filter_map(|s| match s {
                    Sent::Mqtt(p) => Some(p),
                    Sent::Http(..) => None,
                })
                .collect();
            oracle.publish(&items, now)
        }
    }
}

/// The gossip topic of `names` whose kinds are `kinds` (what an [`Input::EnvelopeOf`]
/// names).
fn topic_of<R: Registry, S: ReplayStore>(names: &Verifier<R, S>, kinds: KindSet) -> Result<Label> {
    names
        .topics()
        .into_iter()
        .find(|t| names.topic_kinds(*t) == kinds)
        .ok_or_else(|| Error::Check(format!("no gossip topic carries exactly {kinds:?}")))
}

/// One item's verdict as a network's simulator uses it.
pub type Checked = core::result::Result<Outcome, Rejection>;

/// Check a served run against its oracle's store, `DIR/{network}.oracle.sqlite` as
/// [`ServedOracle::start`] made it: every epoch of `summary` published there, with the
/// summary's root and as many accepted items as the oracle acknowledged.
pub fn check_store(dir: &Path, network: &str, summary: &crate::Summary) -> Result<()> {
    use depin_attest::store::{sqlite::SqliteStore, EpochStatus, OracleStore};
    let path = dir.join(format!("{network}.oracle.sqlite"));
    let mut store =
        SqliteStore::open(&path).map_err(|e| Error::Served(format!("{}: {e}", path.display())))?;
    for e in &summary.epochs {
        let row = store
            .epoch(Epoch(e.epoch))
            .map_err(|err| Error::Served(err.to_string()))?
            .ok_or_else(|| Error::Check(format!("epoch {} is not in the store", e.epoch)))?;
        let expected = (
            EpochStatus::Published,
            Some(e.settlement.root),
            Some(e.report.accepted_total()),
        );
        if (row.status, row.root, row.accepted) != expected {
            return Err(Error::Check(format!(
                "epoch {} in the store: {:?}, the run: {expected:?}",
                e.epoch,
                (row.status, row.root, row.accepted)
            )));
        }
    }
    Ok(())
}

/// The check every reference network's served test makes: run the network in process
/// (ledgers in `DIR/in-process`) and served by an oracle (ledgers in `DIR/served`, the
/// oracle's store in `DIR/oracle`) with otherwise the same `options`, and require
/// ([`Error::Check`] otherwise) that the two runs agree on everything
/// [`crate::Summary::differences`] compares (verdicts per kind and reason, pools,
/// payouts, receipts, roots and claims), that every served epoch has a root, its
/// publishing transaction and a refused second claim, and that the oracle's store holds
/// what it acknowledged ([`check_store`]). Returns the served run's summary for the
/// network's own checks.
pub fn check_served_matches_in_process(
    dir: &Path,
    network: &str,
    options: &crate::Options,
    run: impl Fn(&crate::Options) -> Result<crate::Summary>,
) -> Result<crate::Summary> {
    let with = |name: &str, serve: Option<PathBuf>| crate::Options {
        chain: crate::ChainOptions::Local {
            dir: dir.join(name),
        },
        serve,
        ..options.clone()
    };
    let local = run(&with("in-process", None))?;
    let served = run(&with("served", Some(dir.join("oracle"))))?;
    let differences = local.differences(&served);
    if !differences.is_empty() {
        return Err(Error::Check(format!(
            "served and in-process runs differ: {}",
            differences.join("; ")
        )));
    }
    if !served.chain.contains("served by a real oracle") {
        return Err(Error::Check(format!(
            "the served run says it was not served: {}",
            served.chain
        )));
    }
    for e in &served.epochs {
        let s = &e.settlement;
        if s.root == [0u8; 32] || s.publish_tx.is_none() || !s.double_claim_refused {
            return Err(Error::Check(format!(
                "served epoch {}: root {}, publish tx {:?}, second claim refused {}",
                e.epoch,
                hex::encode(s.root),
                s.publish_tx,
                s.double_claim_refused
            )));
        }
    }
    check_store(&dir.join("oracle"), network, &served)?;
    Ok(served)
}
