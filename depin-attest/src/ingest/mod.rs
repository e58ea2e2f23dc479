//! The ingest engine: what stands between the network (HTTP, MQTT, gossip) and the
//! durable oracle state.
//!
//! One engine per oracle process owns the [`Verifier`] and one [`OracleStore`] connection on
//! a thread of its own (a single writer). Front ends (`http`, `mqtt`, `gossip`) call
//! [`IngestHandle::submit`] from any task; the engine takes every submission waiting in its
//! queue as one batch, verifies it with one processing time, commits the batch and every
//! verdict in one store transaction, and only then answers each submitter. So:
//!
//! - **An answer is durable.** `Ok` from [`IngestHandle::submit`] (an HTTP 200, an MQTT
//!   PUBACK) means the items and their verdicts are committed ([`OracleStore::commit_batch`]).
//! - **Overload is an answer, never a drop.** A full queue is [`IngestError::Overloaded`]
//!   and a store that cannot write is [`IngestError::Unavailable`], both with a retry-after
//!   (HTTP 503 with `Retry-After`).
//! - **A failed commit forgets the batch.** The verifier has already applied the batch it
//!   could not store, so the engine rebuilds its state from the store before the next
//!   batch (see below) and the items may be sent again.
//! - **Restart rebuilds state from the log.** On start (and after a failed commit) the
//!   engine replays its own logged batches, in commit order and with their processing
//!   times, through [`Verifier::replay_batch`]: the replay windows and every policy's state
//!   are what they were at the last acknowledged batch, with no snapshot format per policy.
//!   A replayed verdict that differs from the stored one is counted
//!   ([`Recovery::divergences`]; the registry changed a device's record, or a policy
//!   changed version); the stored verdict stands.
//!
//! # Which epoch an item counts for
//! An accepted item counts for the epoch of **its own timestamp**. An epoch closes at its
//! end plus a grace window (the oracle's configuration); until then late items still count
//! for it. An item accepted after its epoch's close began is refused with
//! [`Rejection::EpochClosed`] (its sequence number stays consumed). With a grace window at
//! least as long as the freshness window ([`crate::VerifierConfig`]'s `max_age_ms`), only a
//! device whose clock runs ahead can meet that refusal: anything older is already
//! [`Rejection::Stale`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use depin_core::frame::Frame;
use depin_core::{DeviceId, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use tokio::sync::oneshot;

use crate::envelope::decode_parts;
use crate::kind::Label;
use crate::pipeline::{Input, Outcome, Verdict, Verifier};
use crate::reason::Rejection;
use crate::registry::Registry;
use crate::replay::ReplayStore;
use crate::store::{
    BatchRecord, ItemFormat, LoggedItem, OracleStore, RejectionCount, StoreError, StoredVerdict,
};

#[cfg(feature = "p2p")]
pub mod gossip;
#[cfg(feature = "http")]
pub mod http;
pub mod limits;
pub mod metrics;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod wire;

use limits::Limits;
use metrics::IngestMetrics;

/// One item as received: raw bytes and their wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemBytes {
    /// A depin-core report frame.
    Frame(Vec<u8>),
    /// A signed envelope.
    Envelope(Vec<u8>),
}

impl ItemBytes {
    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            ItemBytes::Frame(b) | ItemBytes::Envelope(b) => b,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// Its format.
    pub fn format(&self) -> ItemFormat {
        match self {
            ItemBytes::Frame(_) => ItemFormat::Frame,
            ItemBytes::Envelope(_) => ItemFormat::Envelope,
        }
    }

    /// The key hint of the signer the item claims, read without verifying anything (a
    /// frame's header hint; an envelope signer's [`DeviceId::key_hint`]): for rate limits
    /// and topic checks before any work. `None` if that part does not decode.
    pub fn claimed_sender(&self) -> Option<[u8; 8]> {
        match self {
            ItemBytes::Frame(b) => Frame::parse(b).ok().map(|f| f.header.key_hint),
            ItemBytes::Envelope(b) => decode_parts(b, b.len())
                .ok()
                .map(|(body, _, _)| body.signer.key_hint()),
        }
    }

    fn input(&self) -> Input<'_> {
        match self {
            ItemBytes::Frame(b) => Input::Frame(b),
            ItemBytes::Envelope(b) => Input::Envelope(b),
        }
    }
}

/// The transport an item arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The HTTP endpoint.
    Http,
    /// The MQTT subscription.
    Mqtt,
    /// libp2p gossip.
    Gossip,
}

/// Who submitted a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The transport.
    pub channel: Channel,
    /// The client (peer address, MQTT client id, peer id).
    pub client: String,
    /// The device the transport authenticated, if it did (the device of an MQTT topic the
    /// broker only lets that device publish to): items whose claimed signer is another
    /// device are refused with [`Rejection::WrongTopic`] before any work.
    pub device: Option<DeviceId>,
    /// The gossip topic the items were published on, if the transport has topics per kind
    /// (an MQTT topic's last level, the HTTP `?topic=` parameter, a gossip topic). With a
    /// topic, an envelope may only carry that topic's kinds ([`Verifier::topic_kinds`]) and
    /// a frame may only arrive on the frame topic ([`crate::kind::FRAME_TOPIC`]); anything
    /// else is refused [`Rejection::WrongTopic`] before its signature is checked, so a copy
    /// on the wrong topic cannot use up the real one's sequence number. `None` checks no
    /// topic (a transport without topics).
    pub topic: Option<Label>,
}

impl Source {
    /// A source on `channel` from `client`, with no authenticated device and no topic.
    pub fn new(channel: Channel, client: impl Into<String>) -> Self {
        Source {
            channel,
            client: client.into(),
            device: None,
            topic: None,
        }
    }

    /// The same source with the device its transport authenticated.
    pub fn with_device(mut self, device: DeviceId) -> Self {
        self.device = Some(device);
        self
    }

    /// The same source with the gossip topic its items were published on.
    pub fn on_topic(mut self, topic: Label) -> Self {
        self.topic = Some(topic);
        self
    }
}

/// One item's durable verdict, as the ingest answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemResult {
    /// Accepted and stored; counts for `epoch`.
    Accepted {
        /// The epoch it counts for (of its timestamp).
        epoch: u64,
        /// Its signing digest, hex.
        digest: String,
        /// What it produced.
        outcome: Outcome,
    },
    /// Refused (and, if its signature verified, stored with that verdict).
    Rejected {
        /// Why.
        reason: Rejection,
    },
}

/// Why a submission got no verdicts. Nothing of it was stored; send it again after
/// `retry_after`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The queue is full.
    #[error("ingest queue full; retry after {retry_after:?}")]
    Overloaded {
        /// When to try again.
        retry_after: Duration,
    },
    /// The store cannot write (or the verifier state is being rebuilt after it could not).
    #[error("oracle store unavailable ({reason}); retry after {retry_after:?}")]
    Unavailable {
        /// When to try again.
        retry_after: Duration,
        /// What failed.
        reason: String,
    },
    /// The engine is shutting down.
    #[error("oracle shutting down")]
    ShuttingDown,
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This ingest process's name in the store (its batches are the ones it replays).
    pub origin: String,
    /// Most items verified and committed as one batch (default 4,096).
    pub batch_max_items: usize,
    /// Most items waiting in the queue before submissions are refused as overloaded
    /// (default 65,536).
    pub queue_items: usize,
    /// The retry-after given with [`IngestError::Overloaded`] and
    /// [`IngestError::Unavailable`] (default 1 s).
    pub retry_after: Duration,
    /// The front ends' limits (read by them through [`IngestHandle::limits`]).
    pub limits: Limits,
}

impl EngineConfig {
    /// Defaults for an ingest process named `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        EngineConfig {
            origin: origin.into(),
            batch_max_items: 4_096,
            queue_items: 65_536,
            retry_after: Duration::from_secs(1),
            limits: Limits::default(),
        }
    }
}

/// What rebuilding the verifier state from the store did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Batches replayed.
    pub batches: u64,
    /// Logged items replayed.
    pub items: u64,
    /// Items whose replayed verdict differs from the stored one.
    pub divergences: u64,
    /// The last batch id replayed.
    pub last_batch: u64,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed during recovery.
    #[error("recovery from the store failed: {0}")]
    Store(#[from] StoreError),
    /// The verifier could not be built or replayed.
    #[error("verifier: {0}")]
    Verifier(#[from] crate::Error),
    /// The engine thread could not be started.
    #[error("engine thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Builds a fresh verifier (at start and for every rebuild).
pub type MakeVerifier<R, S> = Box<dyn FnMut() -> crate::Result<Verifier<R, S>> + Send>;

/// The processing-time clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

struct Job {
    source: Source,
    items: Vec<ItemBytes>,
    reply: oneshot::Sender<Result<Vec<ItemResult>, IngestError>>,
    received: Instant,
}

struct Shared {
    queued: AtomicUsize,
    closing: AtomicBool,
    metrics: Arc<IngestMetrics>,
    limits: Limits,
    queue_items: usize,
    retry_after: Duration,
}

/// A handle to submit items to a running engine (cheap to clone).
#[derive(Clone)]
pub struct IngestHandle {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle")
            .field("queued", &self.queue_depth())
            .finish_non_exhaustive()
    }
}

impl IngestHandle {
    /// Submit items; `Ok` once they and their verdicts are durable, one result per item in
    /// order.
    pub async fn submit(
        &self,
        source: Source,
        items: Vec<ItemBytes>,
    ) -> Result<Vec<ItemResult>, IngestError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(IngestError::ShuttingDown);
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let n = items.len();
        let before = self.shared.queued.fetch_add(n, Ordering::AcqRel);
        if before.saturating_add(n) > self.shared.queue_items && before > 0 {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.shared.metrics.refused("overloaded");
            return Err(IngestError::Overloaded {
                retry_after: self.shared.retry_after,
            });
        }
        self.shared
            .metrics
            .set_queue_depth((before.saturating_add(n)) as u64);
        let (reply, rx) = oneshot::channel();
        let job = Job {
            source,
            items,
            reply,
            received: Instant::now(),
        };
        if self.tx.send(job).is_err() {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(IngestError::ShuttingDown);
        }
        rx.await.unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// The engine's metrics.
    pub fn metrics(&self) -> &Arc<IngestMetrics> {
        &self.shared.metrics
    }

    /// The front ends' limits.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Items waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Stop taking submissions: later ones get [`IngestError::ShuttingDown`]; those already
    /// queued are still verified, committed and answered. [`Engine::join`] waits for that.
    pub fn shutdown(&self) {
        self.shared.closing.store(true, Ordering::Release);
    }
}

/// A running engine: its thread and what its start-up recovery did.
#[derive(Debug)]
pub struct Engine {
    thread: Option<std::thread::JoinHandle<()>>,
    committer: Option<std::thread::JoinHandle<()>>,
    recovery: Recovery,
    handle: IngestHandle,
}

impl Engine {
    /// Recover the verifier state of `config.origin` from `store` (replaying its logged
    /// batches), then start the engine thread.
    pub fn start<R, S>(
        config: EngineConfig,
        mut make: MakeVerifier<R, S>,
        mut store: Box<dyn OracleStore>,
        clock: Clock,
    ) -> Result<Engine, EngineError>
    where
        R: Registry + Send + 'static,
        S: ReplayStore + Send + 'static,
    {
        let metrics = Arc::new(IngestMetrics::new());
        let mut verifier = make()?;
        let recovery = recover(&mut verifier, store.as_mut(), &config.origin)?;
        for _ in 0..recovery.divergences {
            metrics.recovery_divergence();
        }
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            metrics,
            limits: config.limits.clone(),
            queue_items: config.queue_items.max(1),
            retry_after: config.retry_after,
        });
        let (tx, rx) = mpsc::channel();
        let handle = IngestHandle {
            tx,
            shared: Arc::clone(&shared),
        };
        let store: SharedStore = Arc::new(Mutex::new(store));
        let pipe = Arc::new(Pipe::default());
        // one verified batch may wait while another commits
        let (to_commit, verified) = mpsc::sync_channel::<Verified>(1);
        let committer = {
            let (store, shared, pipe) =
                (Arc::clone(&store), Arc::clone(&shared), Arc::clone(&pipe));
            std::thread::Builder::new()
                .name("depin-commit".into())
                .spawn(move || commit_loop(&store, &shared, &pipe, verified))?
        };
        let mut worker = Worker {
            config,
            make,
            verifier,
            store,
            clock,
            shared,
            pipe,
            to_commit,
        };
        let thread = std::thread::Builder::new()
            .name("depin-ingest".into())
            .spawn(move || worker.run(rx))?;
        Ok(Engine {
            thread: Some(thread),
            committer: Some(committer),
            recovery,
            handle,
        })
    }

    /// A handle for front ends.
    pub fn handle(&self) -> IngestHandle {
        self.handle.clone()
    }

    /// What start-up recovery replayed.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// Shut down: finish and answer every queued submission, then stop the thread.
    pub fn join(mut self) {
        self.handle.shutdown();
        // the worker stops when every handle is gone or, once shutting down, the queue is
        // empty
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // the committer stops once the verifier thread (its only sender) is gone and every
        // verified batch is committed and answered
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Replay the batches of `origin` into `verifier` (which must be fresh).
pub fn recover<R: Registry, S: ReplayStore>(
    verifier: &mut Verifier<R, S>,
    store: &mut dyn OracleStore,
    origin: &str,
) -> Result<Recovery, EngineError> {
    let mut rec = Recovery::default();
    let mut failure: Option<crate::Error> = None;
    store
        .for_each_batch(origin, 0, &mut |id, batch| {
            let pairs: Vec<(Input<'_>, DeviceId)> = batch
                .items
                .iter()
                .map(|i| {
                    let input = match i.format {
                        ItemFormat::Frame => Input::Frame(&i.bytes),
                        ItemFormat::Envelope => Input::Envelope(&i.bytes),
                    };
                    (input, i.device)
                })
                .collect();
            let verdicts = match verifier.replay_batch(&pairs, batch.now) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    return Err(StoreError::Unavailable("replay store failed".into()));
                }
            };
            for (item, verdict) in batch.items.iter().zip(&verdicts) {
                if !same_verdict(&item.verdict, verdict) {
                    rec.divergences += 1;
                }
            }
            rec.batches += 1;
            rec.items += batch.items.len() as u64;
            rec.last_batch = id;
            Ok(())
        })
        .map_err(|e| match failure.take() {
            Some(v) => EngineError::Verifier(v),
            None => EngineError::Store(e),
        })?;
    Ok(rec)
}

/// Whether a replayed verdict agrees with the stored one. An item stored as replayed or
/// epoch-closed by the store's own checks was accepted by the verifier.
fn same_verdict(stored: &StoredVerdict, replayed: &Verdict) -> bool {
    match (stored, replayed) {
        (StoredVerdict::Accepted(o), Ok(a)) => *o == a.outcome,
        (StoredVerdict::Rejected(Rejection::Replayed | Rejection::EpochClosed), Ok(_)) => true,
        (StoredVerdict::Rejected(r), Err(e)) => r == e,
        _ => false,
    }
}

type SharedStore = Arc<Mutex<Box<dyn OracleStore>>>;

fn lock(store: &SharedStore) -> std::sync::MutexGuard<'_, Box<dyn OracleStore>> {
    // a store that panicked mid-call left no half transaction behind (every call is one)
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state the verifier thread and the committer thread share.
///
/// Batches are verified and committed in a pipeline: while batch `n` commits (and fsyncs),
/// batch `n + 1` is verified. The verifier state then runs ahead of the store by up to two
/// batches, so a commit that fails makes every batch verified after it stale: the committer
/// marks the state `dirty` and answers every batch it receives `Unavailable` until the
/// verifier thread, once nothing is in flight, has rebuilt its state from the store and
/// started a new generation. Nothing verified against a state the store does not have is
/// ever committed or answered as a verdict.
#[derive(Default)]
struct Pipe {
    /// A commit failed (or verification failed): rebuild before verifying more.
    dirty: AtomicBool,
    /// The verifier state's generation; batches of an older one are stale.
    generation: AtomicU64,
    /// Batches sent to the committer and not yet answered.
    in_flight: Mutex<usize>,
    idle: Condvar,
}

impl Pipe {
    fn sent(&self) {
        *self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
    }

    fn done(&self) {
        let mut n = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.idle.notify_all();
        }
    }

    fn wait_idle(&self) {
        let mut n = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A verified batch on its way to the committer.
struct Verified {
    jobs: Vec<Job>,
    results: Vec<ItemResult>,
    record: BatchRecord,
    generation: u64,
}

fn unavailable(shared: &Shared, jobs: Vec<Job>, reason: &str) {
    for j in jobs {
        let _ = j.reply.send(Err(IngestError::Unavailable {
            retry_after: shared.retry_after,
            reason: reason.to_string(),
        }));
    }
}

/// The committer thread: commit each verified batch, then answer its submissions.
fn commit_loop(store: &SharedStore, shared: &Shared, pipe: &Pipe, rx: mpsc::Receiver<Verified>) {
    for v in rx {
        let stale = pipe.dirty.load(Ordering::Acquire)
            || v.generation != pipe.generation.load(Ordering::Acquire);
        if stale {
            unavailable(
                shared,
                v.jobs,
                "verifier state is being rebuilt after a failed commit",
            );
        } else {
            let outcome = lock(store).commit_batch(&v.record);
            match outcome {
                Ok(committed) => answer(shared, v.jobs, v.results, &committed),
                Err(e) => {
                    // the verifier applied batches that are not stored: forget them
                    pipe.dirty.store(true, Ordering::Release);
                    shared.metrics.store_error();
                    unavailable(shared, v.jobs, &e.to_string());
                }
            }
        }
        pipe.done();
    }
}

/// Apply the store's own verdicts (duplicates, closed epochs) and answer.
fn answer(
    shared: &Shared,
    jobs: Vec<Job>,
    mut results: Vec<ItemResult>,
    committed: &crate::store::Committed,
) {
    for (list, reason) in [
        (&committed.duplicates, Rejection::Replayed),
        (&committed.closed, Rejection::EpochClosed),
    ] {
        for &i in list {
            if let Some(r) = results.get_mut(i as usize) {
                *r = ItemResult::Rejected { reason };
            }
        }
    }
    shared.metrics.batch_committed();
    shared.metrics.record_results(&results);
    let mut rest = results.into_iter();
    for j in jobs {
        let mine: Vec<ItemResult> = rest.by_ref().take(j.items.len()).collect();
        shared.metrics.observe_latency(j.received.elapsed());
        let _ = j.reply.send(Ok(mine));
    }
}

struct Worker<R, S> {
    config: EngineConfig,
    make: MakeVerifier<R, S>,
    verifier: Verifier<R, S>,
    store: SharedStore,
    clock: Clock,
    shared: Arc<Shared>,
    pipe: Arc<Pipe>,
    to_commit: mpsc::SyncSender<Verified>,
}

impl<R: Registry, S: ReplayStore> Worker<R, S> {
    fn run(&mut self, rx: mpsc::Receiver<Job>) {
        loop {
            let first = if self.shared.closing.load(Ordering::Acquire) {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            } else {
                // wake up now and then to notice a shutdown with an empty queue
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            };
            let mut jobs = vec![first];
            let mut n = jobs[0].items.len();
            while n < self.config.batch_max_items {
                match rx.try_recv() {
                    Ok(j) => {
                        n += j.items.len();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.shared
                .metrics
                .set_queue_depth(self.shared.queued.load(Ordering::Acquire) as u64);
            self.process(jobs);
        }
    }

    fn unavailable(&self, jobs: Vec<Job>, reason: String) {
        unavailable(&self.shared, jobs, &reason);
    }

    /// Rebuild the verifier state from the store, once nothing is in flight.
    fn rebuild(&mut self) -> Result<(), String> {
        self.pipe.wait_idle();
        let mut store = lock(&self.store);
        store.health().map_err(|e| e.to_string())?;
        let mut fresh = (self.make)().map_err(|e| e.to_string())?;
        let rec =
            recover(&mut fresh, store.as_mut(), &self.config.origin).map_err(|e| e.to_string())?;
        drop(store);
        for _ in 0..rec.divergences {
            self.shared.metrics.recovery_divergence();
        }
        self.verifier = fresh;
        self.pipe.generation.fetch_add(1, Ordering::AcqRel);
        self.pipe.dirty.store(false, Ordering::Release);
        Ok(())
    }

    fn process(&mut self, jobs: Vec<Job>) {
        if self.pipe.dirty.load(Ordering::Acquire) {
            if let Err(reason) = self.rebuild() {
                self.shared.metrics.store_error();
                return self.unavailable(jobs, reason);
            }
        }
        let generation = self.pipe.generation.load(Ordering::Acquire);
        // Pre-work checks: an item whose claimed signer is not the device the transport
        // authenticated is refused before it costs a signature check.
        let mut pre: Vec<Option<Rejection>> = Vec::new();
        let mut inputs: Vec<Input<'_>> = Vec::new();
        for j in &jobs {
            let hint = j.source.device.map(|d| d.key_hint());
            // (the kinds of the topic, whether it carries frames)
            let topic = j.source.topic.map(|t| {
                (
                    self.verifier.topic_kinds(t),
                    self.verifier.topic_carries_frames(t),
                )
            });
            for item in &j.items {
                let refused = match (hint, item, topic) {
                    (Some(h), _, _) if item.claimed_sender() != Some(h) => {
                        Some(Rejection::WrongTopic)
                    }
                    (_, ItemBytes::Frame(_), Some((_, false))) => Some(Rejection::WrongTopic),
                    _ => None,
                };
                if refused.is_none() {
                    inputs.push(match (item, topic) {
                        (ItemBytes::Envelope(b), Some((kinds, _))) => {
                            Input::EnvelopeOf(b.as_slice(), kinds)
                        }
                        _ => item.input(),
                    });
                }
                pre.push(refused);
            }
        }
        let now = (self.clock)();
        let verdicts = match self.verifier.try_verify_batch(&inputs, now) {
            Ok(v) => v,
            Err(e) => {
                self.pipe.dirty.store(true, Ordering::Release);
                self.shared.metrics.store_error();
                return self.unavailable(jobs, e.to_string());
            }
        };
        let schedule = self.verifier.config().schedule;
        let batch_epoch = schedule.epoch_of(now).unwrap_or(depin_core::Epoch(0));

        // Results and the batch record, item by item in submission order.
        let mut results: Vec<ItemResult> = Vec::with_capacity(pre.len());
        let mut record = BatchRecord {
            origin: self.config.origin.clone(),
            now,
            items: Vec::new(),
            rejections: Vec::new(),
        };
        let mut counts: std::collections::BTreeMap<(Option<DeviceId>, Rejection), u64> =
            std::collections::BTreeMap::new();
        let mut next = verdicts.into_iter();
        let mut index: u32 = 0;
        let all_items = jobs.iter().flat_map(|j| j.items.iter());
        for (item, pre) in all_items.zip(&pre) {
            let i = index;
            index = index.saturating_add(1);
            let verdict = match pre {
                Some(r) => Err(*r),
                None => next.next().unwrap_or(Err(Rejection::Malformed)),
            };
            match verdict {
                Ok(a) => {
                    let epoch = schedule.epoch_of(a.timestamp).unwrap_or(batch_epoch);
                    results.push(ItemResult::Accepted {
                        epoch: epoch.0,
                        digest: hex_string(&a.digest),
                        outcome: a.outcome.clone(),
                    });
                    record.items.push(LoggedItem {
                        index: i,
                        format: item.format(),
                        bytes: item.bytes().to_vec(),
                        device: a.device,
                        kind: a.kind,
                        seq: a.seq,
                        timestamp: a.timestamp,
                        digest: a.digest,
                        epoch,
                        now,
                        verdict: StoredVerdict::Accepted(a.outcome),
                        trust: a.trust,
                    });
                }
                Err(r) => {
                    results.push(ItemResult::Rejected { reason: r });
                    let info = if pre.is_some() {
                        None
                    } else {
                        self.verifier.describe(item.input(), now)
                    };
                    match info {
                        Some(info) if r.consumed_sequence() => {
                            let epoch = schedule.epoch_of(info.timestamp).unwrap_or(batch_epoch);
                            record.items.push(LoggedItem {
                                index: i,
                                format: item.format(),
                                bytes: item.bytes().to_vec(),
                                device: info.device,
                                kind: info.kind,
                                seq: info.seq,
                                timestamp: info.timestamp,
                                digest: info.digest,
                                epoch,
                                now,
                                verdict: StoredVerdict::Rejected(r),
                                trust: depin_core::TrustLevel::Untrusted,
                            });
                        }
                        info => {
                            *counts.entry((info.map(|i| i.device), r)).or_insert(0) += 1;
                        }
                    }
                }
            }
        }
        record.rejections = counts
            .into_iter()
            .map(|((device, reason), count)| RejectionCount {
                epoch: batch_epoch,
                device,
                reason,
                count,
            })
            .collect();

        self.pipe.sent();
        let verified = Verified {
            jobs,
            results,
            record,
            generation,
        };
        if let Err(mpsc::SendError(v)) = self.to_commit.send(verified) {
            // the committer is gone (it cannot be while this thread runs; defensive)
            self.pipe.done();
            self.unavailable(v.jobs, "the committer stopped".into());
        }
    }
}

fn hex_string(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}
