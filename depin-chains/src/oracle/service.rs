//! The runnable oracle (feature `service`): the ingest engine, its HTTP endpoint (and, with
//! feature `mqtt`, its MQTT subscription), the claims and explanations API on the same
//! port, and a closer that closes every epoch at its end plus the grace window, from one
//! configuration.
//!
//! A network's oracle is a short `main`: its [`VerifierConfig`](depin_attest::VerifierConfig)
//! and registry (the verifier factory), its [`EpochScoring`], a [`ChainBackend`](crate::ChainBackend) acting as
//! the oracle account, and a [`ServiceConfig`] (read from TOML with environment
//! overrides by [`ServiceConfig::load`]):
//!
//! ```no_run
//! # async fn run(
//! #     make: depin_attest::ingest::MakeVerifier<depin_attest::MemoryRegistry, depin_attest::MemoryReplayStore>,
//! #     backend: std::sync::Arc<dyn depin_chains::ChainBackend>,
//! #     stop: impl std::future::Future<Output = ()>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use depin_chains::oracle::service::{Oracle, ServiceConfig};
//! use depin_chains::oracle::{EpochCloser, UnitsScoring};
//! let config = ServiceConfig::load("oracle.toml".as_ref(), std::env::vars())?;
//! let closer = EpochCloser::new(
//!     UnitsScoring::new(1_000_000),
//!     backend.clone(),
//!     backend.claim_format(),
//!     config.name.clone(),
//! );
//! let oracle = Oracle::builder(config, make, closer).start().await?;
//! println!("serving on {}", oracle.addr());
//! stop.await; // tokio::signal::ctrl_c(), say
//! oracle.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Connections to the store
//! The service opens the store three times: the ingest engine's connection (its writes
//! are the durable acknowledgements), the closer's (a close of ten million items never
//! holds up the API) and the API's. The SQLite store is a file that several connections
//! share; PostgreSQL is a server. An in-memory store cannot be shared this way.
//!
//! # Which epochs are closed, and when
//! Epoch `e` (of [`EpochSchedule`]) is closed once `now >= end_of(e) + grace`. The closer
//! checks every `epochs.check_ms`; when it finds several epochs due (after downtime) it
//! closes them in order. The first epoch it ever closes is `epochs.first` if set, else the
//! epoch of the time the store was first served minus the grace window (recorded in the
//! store's metadata under `oracle.service.first_epoch`, so every restart agrees). A close
//! that fails is retried at the next check ([`EpochCloser::close`] is idempotent and
//! resumable); the failure is logged and counted in `/metrics`.
//!
//! # Shutdown
//! [`Oracle::shutdown`] stops taking requests (the HTTP server drains the requests in
//! flight), then lets the engine answer every queued submission, then stops the closer
//! between two closes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use depin_attest::ingest::limits::{Limits, Rate};
use depin_attest::ingest::{Clock, Engine, EngineConfig, EngineError, IngestHandle, MakeVerifier};
use depin_attest::registry::Registry;
use depin_attest::replay::ReplayStore;
use depin_attest::store::{OracleStore, StoreError, StoreResult};
use depin_core::{Epoch, EpochSchedule, Timestamp};
use serde::{Deserialize, Serialize};

use super::{api, CloseError, CloseReport, EpochCloser, EpochScoring};

/// The metadata key holding the first epoch the service closes (decimal text).
pub const FIRST_EPOCH_KEY: &str = "oracle.service.first_epoch";

/// The prefix of environment variables that override the configuration file
/// ([`ServiceConfig::load`]).
pub const ENV_PREFIX: &str = "DEPIN_ORACLE__";

/// Where the oracle keeps its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// The embedded SQLite store: one file, created if absent.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A PostgreSQL database (feature `postgres`), shared by any number of oracles.
    Postgres {
        /// A libpq connection string (`host=127.0.0.1 port=5432 user=oracle dbname=oracle`
        /// or `postgresql://...`).
        url: String,
    },
}

impl StoreConfig {
    /// Open one connection to the store.
    pub fn open(&self) -> StoreResult<Box<dyn OracleStore>> {
        match self {
            StoreConfig::Sqlite { path } => Ok(Box::new(
                depin_attest::store::sqlite::SqliteStore::open(path)?,
            )),
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres { url } => Ok(Box::new(
                depin_attest::store::postgres::PgStore::connect(url)?,
            )),
            #[cfg(not(feature = "postgres"))]
            StoreConfig::Postgres { .. } => Err(StoreError::Unavailable(
                "this build has no PostgreSQL store (depin-chains feature `postgres`)".into(),
            )),
        }
    }
}

/// The epoch schedule and the close rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochConfig {
    /// The start of epoch 0, unix milliseconds (default 0).
    #[serde(default)]
    pub genesis_ms: u64,
    /// The epoch length in milliseconds (default one day).
    #[serde(default = "default_epoch_ms")]
    pub length_ms: u64,
    /// How long after an epoch's end late items still count for it (default 0).
    #[serde(default)]
    pub grace_ms: u64,
    /// The first epoch to close (default: see the [module documentation](self)).
    #[serde(default)]
    pub first: Option<u64>,
    /// How often the closer looks for due epochs, milliseconds (default 1000).
    #[serde(default = "default_check_ms")]
    pub check_ms: u64,
}

fn default_epoch_ms() -> u64 {
    depin_core::time::DAY_MS
}

fn default_check_ms() -> u64 {
    1_000
}

impl Default for EpochConfig {
    fn default() -> Self {
        EpochConfig {
            genesis_ms: 0,
            length_ms: default_epoch_ms(),
            grace_ms: 0,
            first: None,
            check_ms: default_check_ms(),
        }
    }
}

impl EpochConfig {
    /// The schedule these settings describe.
    pub fn schedule(&self) -> Result<EpochSchedule, ServiceError> {
        EpochSchedule::new(Timestamp(self.genesis_ms), self.length_ms)
            .map_err(|e| ServiceError::Config(format!("epochs: {e}")))
    }
}

/// The ingest engine's and the front ends' settings (defaults: [`EngineConfig::new`] and
/// [`Limits::default`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Most items verified and committed as one batch.
    pub batch_max_items: usize,
    /// Most items queued before submissions are refused as overloaded.
    pub queue_items: usize,
    /// The retry-after of overload and store-unavailable answers, milliseconds.
    pub retry_after_ms: u64,
    /// The largest request body, bytes.
    pub max_body_bytes: usize,
    /// The most items in one request.
    pub max_items_per_request: usize,
    /// The largest single item, bytes.
    pub max_item_bytes: usize,
    /// How long a client may take to send its body, milliseconds.
    pub body_timeout_ms: u64,
    /// Items per second per client address (0: unlimited).
    pub client_per_second: u32,
    /// The per-client burst.
    pub client_burst: u32,
    /// Items per second per claimed device (0: unlimited).
    pub device_per_second: u32,
    /// The per-device burst.
    pub device_burst: u32,
    /// The most keys each rate limiter tracks.
    pub max_tracked: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let e = EngineConfig::new("");
        let l = Limits::default();
        IngestConfig {
            batch_max_items: e.batch_max_items,
            queue_items: e.queue_items,
            retry_after_ms: duration_ms(e.retry_after),
            max_body_bytes: l.max_body_bytes,
            max_items_per_request: l.max_items_per_request,
            max_item_bytes: l.max_item_bytes,
            body_timeout_ms: duration_ms(l.body_timeout),
            client_per_second: l.client_rate.per_second,
            client_burst: l.client_rate.burst,
            device_per_second: l.device_rate.per_second,
            device_burst: l.device_rate.burst,
            max_tracked: l.max_tracked,
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl IngestConfig {
    /// The engine configuration of an ingest process named `origin`.
    pub fn engine(&self, origin: &str) -> EngineConfig {
        let mut e = EngineConfig::new(origin);
        e.batch_max_items = self.batch_max_items.max(1);
        e.queue_items = self.queue_items.max(1);
        e.retry_after = Duration::from_millis(self.retry_after_ms);
        e.limits = self.limits();
        e
    }

    /// The front ends' limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_items_per_request: self.max_items_per_request,
            max_item_bytes: self.max_item_bytes,
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            client_rate: Rate::new(self.client_per_second, self.client_burst),
            device_rate: Rate::new(self.device_per_second, self.device_burst),
            max_tracked: self.max_tracked,
        }
    }
}

/// The MQTT subscription (feature `mqtt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// The broker's host.
    pub host: String,
    /// The broker's port (default 1883).
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// The oracle's client id (its persistent session at the broker; default the service
    /// name).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The oracle's user name at the broker.
    #[serde(default)]
    pub username: Option<String>,
    /// The oracle's password at the broker.
    #[serde(default)]
    pub password: Option<String>,
    /// The topic prefix (default `depin`).
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
}

fn default_mqtt_port() -> u16 {
    1883
}

fn default_prefix() -> String {
    "depin".into()
}

/// The whole service configuration (TOML; see `docs/oracle.md` for a complete file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The address the HTTP server listens on (default `127.0.0.1:8080`; port 0 picks a
    /// free port).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// This oracle's name: its ingest origin and its closer name in the store (default
    /// `oracle`). Two processes sharing one store need two names.
    #[serde(default = "default_name")]
    pub name: String,
    /// Where state is kept.
    pub store: StoreConfig,
    /// The epoch schedule and close rule.
    #[serde(default)]
    pub epochs: EpochConfig,
    /// Ingest settings and limits.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// The MQTT subscription, if any.
    #[serde(default)]
    pub mqtt: Option<MqttSection>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_name() -> String {
    "oracle".into()
}

impl ServiceConfig {
    /// A configuration with every default, on `store`.
    pub fn new(store: StoreConfig) -> Self {
        ServiceConfig {
            listen: default_listen(),
            name: default_name(),
            store,
            epochs: EpochConfig::default(),
            ingest: IngestConfig::default(),
            mqtt: None,
        }
    }

    /// Parse TOML text, then apply overrides from `env` (pass [`std::env::vars`]).
    ///
    /// An override is a variable named [`ENV_PREFIX`] followed by the setting's path in
    /// upper case, `__` between levels: `DEPIN_ORACLE__LISTEN=0.0.0.0:80`,
    /// `DEPIN_ORACLE__STORE__PATH=/var/lib/oracle.db`, `DEPIN_ORACLE__EPOCHS__GRACE_MS=60000`,
    /// `DEPIN_ORACLE__MQTT__PASSWORD=...`. A value that reads as an integer or as
    /// `true`/`false` is set as one, anything else as a string. Unknown settings (in the
    /// file or the environment) are errors, not ignored.
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ServiceError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| ServiceError::Config(format!("TOML: {e}")))?;
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        overrides.sort();
        for (key, value) in overrides {
            let path: Vec<String> = key[ENV_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            set_path(&mut table, &path, typed(&value))
                .map_err(|e| ServiceError::Config(format!("{key}: {e}")))?;
        }
        let config: ServiceConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ServiceError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Read the TOML file at `path`, then apply overrides as [`ServiceConfig::from_toml`].
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ServiceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServiceError::Config(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text, env)
    }

    /// Check what types cannot: a valid schedule, a name, positive intervals.
    pub fn validate(&self) -> Result<(), ServiceError> {
        self.epochs.schedule()?;
        if self.name.trim().is_empty() {
            return Err(ServiceError::Config("name must not be empty".into()));
        }
        if self.epochs.check_ms == 0 {
            return Err(ServiceError::Config(
                "epochs.check_ms must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// An environment value as TOML: integer, boolean or string.
fn typed(value: &str) -> toml::Value {
    if let Ok(i) = value.parse::<i64>() {
        toml::Value::Integer(i)
    } else if value == "true" || value == "false" {
        toml::Value::Boolean(value == "true")
    } else {
        toml::Value::String(value.to_string())
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty setting name".into()),
        [last] if !last.is_empty() => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [head, rest @ ..] if !head.is_empty() => {
            let entry = table
                .entry(head.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("{head} is not a section")),
            }
        }
        _ => Err("empty part in the setting name".into()),
    }
}

/// Why the service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The engine could not start (recovery failed).
    #[error("ingest engine: {0}")]
    Engine(#[from] EngineError),
    /// A socket or thread could not be set up.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The MQTT front end could not start.
    #[error("MQTT: {0}")]
    Mqtt(String),
    /// A task of the service failed.
    #[error("service task: {0}")]
    Task(String),
}

/// Called after each epoch close the service completes (new closes and resumed ones):
/// for a network's per-epoch work, such as issuing the next epoch's storage challenges
/// from the published root, or logging.
pub type CloseHook = Box<dyn Fn(&CloseReport) + Send + 'static>;

/// Called when an epoch close fails (it is retried at the next check): for alerting, or
/// for a driver that must not wait for a close that keeps failing.
pub type CloseFailedHook = Box<dyn Fn(Epoch, &CloseError) + Send + 'static>;

/// Sets up an [`Oracle`]: [`Oracle::builder`], then [`OracleBuilder::start`].
pub struct OracleBuilder<R, S, C: EpochScoring> {
    config: ServiceConfig,
    make: MakeVerifier<R, S>,
    closer: EpochCloser<C>,
    clock: Clock,
    hooks: Vec<CloseHook>,
    failed_hooks: Vec<CloseFailedHook>,
    routes: Option<axum::Router>,
}

impl<R, S, C: EpochScoring> std::fmt::Debug for OracleBuilder<R, S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleBuilder")
            .field("config", &self.config)
            .field("closer", &self.closer)
            .finish_non_exhaustive()
    }
}

impl<R, S, C> OracleBuilder<R, S, C>
where
    R: Registry + Send + 'static,
    S: ReplayStore + Send + 'static,
    C: EpochScoring + 'static,
{
    /// The processing-time clock (default: the system clock). Tests fix it or drive it.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Run `hook` after every epoch close.
    #[must_use]
    pub fn on_close(mut self, hook: impl Fn(&CloseReport) + Send + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Run `hook` whenever an epoch close fails (the close is retried at the next check).
    #[must_use]
    pub fn on_close_failed(mut self, hook: impl Fn(Epoch, &CloseError) + Send + 'static) -> Self {
        self.failed_hooks.push(Box::new(hook));
        self
    }

    /// Serve more routes on the same port (a network's own pages or endpoints).
    #[must_use]
    pub fn routes(mut self, routes: axum::Router) -> Self {
        self.routes = Some(routes);
        self
    }

    /// Open the store, recover the engine's state from it, bind the listener and start
    /// the HTTP server, the MQTT subscription (if configured) and the closer.
    pub async fn start(self) -> Result<Oracle, ServiceError> {
        let OracleBuilder {
            config,
            make,
            closer,
            clock,
            hooks,
            failed_hooks,
            routes,
        } = self;
        config.validate()?;
        let schedule = config.epochs.schedule()?;
        // stores are opened (and dropped) off the runtime's threads: a blocking client
        // (PostgreSQL's) may not run on them
        let (engine_store, close_store, api_store, first) = {
            let config = config.clone();
            let now = clock();
            tokio::task::spawn_blocking(move || -> Result<_, ServiceError> {
                let engine_store = config.store.open()?;
                let mut close_store = config.store.open()?;
                let api_store = config.store.open()?;
                let first = first_epoch(close_store.as_mut(), &config, &schedule, now)?;
                Ok((engine_store, close_store, api_store, first))
            })
            .await
            .map_err(|e| ServiceError::Task(e.to_string()))??
        };
        let api_store: SharedStore = Arc::new(Mutex::new(api_store));

        // the verdicts' epochs and the closer's must be the same epochs
        let mut make = make;
        let expected = schedule;
        let make: MakeVerifier<R, S> = Box::new(move || {
            let verifier = make()?;
            if verifier.config().schedule != expected {
                return Err(depin_attest::Error::Config(
                    "the verifier's epoch schedule differs from the service's [epochs]",
                ));
            }
            Ok(verifier)
        });
        let engine_config = config.ingest.engine(&config.name);
        let engine_clock = Arc::clone(&clock);
        let engine = tokio::task::spawn_blocking(move || {
            Engine::start(engine_config, make, engine_store, engine_clock)
        })
        .await
        .map_err(|e| ServiceError::Task(e.to_string()))??;
        let handle = engine.handle();

        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let format = closer.format();
        let mut app = depin_attest::ingest::http::router(handle.clone())
            .merge(api::router(Arc::clone(&api_store), format));
        if let Some(extra) = routes {
            app = app.merge(extra);
        }
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(depin_attest::ingest::http::serve_router(
            listener,
            app,
            async move {
                let _ = http_stopped.await;
            },
        ));

        let mqtt = start_mqtt(&config, &handle).await?;

        let (stop_closer, closer_stop) = std_mpsc::channel::<()>();
        let loop_state = CloseLoop {
            closer,
            store: close_store,
            schedule,
            grace_ms: config.epochs.grace_ms,
            check: Duration::from_millis(config.epochs.check_ms),
            first,
            clock,
            hooks,
            failed_hooks,
            handle: handle.clone(),
            rt: tokio::runtime::Handle::current(),
        };
        let closer_thread = std::thread::Builder::new()
            .name("depin-closer".into())
            .spawn(move || loop_state.run(closer_stop))?;
        tracing::info!(%addr, name = %config.name, first_epoch = first.0, "oracle serving");
        Ok(Oracle {
            addr,
            handle,
            engine: Some(engine),
            http: Some(http),
            stop_http: Some(stop_http),
            stop_closer,
            closer_thread: Some(closer_thread),
            mqtt,
            api_store: Some(api_store),
        })
    }
}

/// The first epoch to close: configured, or recorded, or recorded now.
fn first_epoch(
    store: &mut dyn OracleStore,
    config: &ServiceConfig,
    schedule: &EpochSchedule,
    now: Timestamp,
) -> Result<Epoch, ServiceError> {
    if let Some(e) = config.epochs.first {
        return Ok(Epoch(e));
    }
    if let Some(bytes) = store.meta(FIRST_EPOCH_KEY)? {
        let text = String::from_utf8(bytes)
            .map_err(|_| StoreError::Corrupt(format!("{FIRST_EPOCH_KEY} is not text")))?;
        let e = text
            .parse::<u64>()
            .map_err(|_| StoreError::Corrupt(format!("{FIRST_EPOCH_KEY} is not a number")))?;
        return Ok(Epoch(e));
    }
    let at = Timestamp(now.0.saturating_sub(config.epochs.grace_ms));
    let e = schedule.epoch_of(at).unwrap_or(Epoch(0));
    store.set_meta(FIRST_EPOCH_KEY, e.0.to_string().as_bytes())?;
    Ok(e)
}

#[cfg(feature = "mqtt")]
type MqttPart = Option<depin_attest::ingest::mqtt::MqttIngest>;
#[cfg(not(feature = "mqtt"))]
type MqttPart = Option<std::convert::Infallible>;

#[cfg(feature = "mqtt")]
async fn start_mqtt(
    config: &ServiceConfig,
    handle: &IngestHandle,
) -> Result<MqttPart, ServiceError> {
    use depin_attest::ingest::mqtt::{MqttConfig, MqttIngest};
    let Some(m) = &config.mqtt else {
        return Ok(None);
    };
    let client_id = m.client_id.clone().unwrap_or_else(|| config.name.clone());
    let mut c = MqttConfig::new(m.host.clone(), m.port, client_id);
    c.username = m.username.clone();
    c.password = m.password.clone();
    c.topic_prefix = m.topic_prefix.clone();
    let ingest = MqttIngest::start(c, handle.clone())
        .await
        .map_err(|e| ServiceError::Mqtt(e.to_string()))?;
    Ok(Some(ingest))
}

#[cfg(not(feature = "mqtt"))]
async fn start_mqtt(config: &ServiceConfig, _: &IngestHandle) -> Result<MqttPart, ServiceError> {
    match config.mqtt {
        Some(_) => Err(ServiceError::Config(
            "an [mqtt] section is set but this build has no MQTT (depin-chains feature `mqtt`)"
                .into(),
        )),
        None => Ok(None),
    }
}

/// The closer thread's state.
struct CloseLoop<C: EpochScoring> {
    closer: EpochCloser<C>,
    store: Box<dyn OracleStore>,
    schedule: EpochSchedule,
    grace_ms: u64,
    check: Duration,
    first: Epoch,
    clock: Clock,
    hooks: Vec<CloseHook>,
    failed_hooks: Vec<CloseFailedHook>,
    handle: IngestHandle,
    rt: tokio::runtime::Handle,
}

impl<C: EpochScoring> CloseLoop<C> {
    fn run(mut self, stop: std_mpsc::Receiver<()>) {
        loop {
            self.close_due(&stop);
            match stop.recv_timeout(self.check) {
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    /// Close every due epoch in order; stop at the first failure (retried next time).
    fn close_due(&mut self, stop: &std_mpsc::Receiver<()>) {
        let now = (self.clock)();
        let Some(due) = due_through(&self.schedule, self.grace_ms, now) else {
            return;
        };
        let next = match self.store.closed_through() {
            Ok(Some(through)) => match self.store.epoch(through) {
                // an unfinished close is resumed first
                Ok(Some(row)) if row.status != depin_attest::store::EpochStatus::Published => {
                    through
                }
                Ok(_) => Epoch(through.0.saturating_add(1)),
                Err(e) => return self.failed(through, &CloseError::Store(e)),
            },
            Ok(None) => self.first,
            Err(e) => return self.failed(self.first, &CloseError::Store(e)),
        };
        let mut epoch = next.max(self.first);
        while epoch <= due {
            if !matches!(stop.try_recv(), Err(std_mpsc::TryRecvError::Empty)) {
                return;
            }
            match self.closer.close(self.store.as_mut(), epoch, now, &self.rt) {
                Ok(report) => {
                    if !report.already {
                        self.handle.metrics().observe_epoch_close(report.duration);
                        self.handle.metrics().epoch_closed();
                    }
                    tracing::info!(
                        epoch = report.epoch.0,
                        root = %hex::encode(report.root),
                        epoch_total = %report.epoch_total,
                        cumulative_total = %report.cumulative_total,
                        accepted = report.accepted,
                        devices_paid = report.devices_paid,
                        tx = report.published_tx.as_deref().unwrap_or("-"),
                        already = report.already,
                        ms = duration_ms(report.duration),
                        "epoch closed"
                    );
                    for hook in &self.hooks {
                        hook(&report);
                    }
                }
                Err(e) => return self.failed(epoch, &e),
            }
            epoch = Epoch(epoch.0.saturating_add(1));
        }
    }

    fn failed(&self, epoch: Epoch, error: &CloseError) {
        self.handle.metrics().refused("epoch_close_failed");
        tracing::warn!(epoch = epoch.0, %error, "epoch close failed; retrying at the next check");
        for hook in &self.failed_hooks {
            hook(epoch, error);
        }
    }
}

/// The last epoch due for closing at `now`: the last `e` with `end_of(e) + grace <= now`.
pub fn due_through(schedule: &EpochSchedule, grace_ms: u64, now: Timestamp) -> Option<Epoch> {
    let cutoff = Timestamp(now.0.checked_sub(grace_ms)?);
    let current = schedule.epoch_of(cutoff).ok()?;
    current.0.checked_sub(1).map(Epoch)
}

type HttpTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// A running oracle service.
pub struct Oracle {
    addr: SocketAddr,
    handle: IngestHandle,
    engine: Option<Engine>,
    http: Option<HttpTask>,
    stop_http: Option<tokio::sync::oneshot::Sender<()>>,
    stop_closer: std_mpsc::Sender<()>,
    closer_thread: Option<std::thread::JoinHandle<()>>,
    mqtt: MqttPart,
    /// Kept so that the API's connection is dropped here, off the runtime's threads.
    api_store: Option<SharedStore>,
}

type SharedStore = Arc<Mutex<Box<dyn OracleStore>>>;

/// Drop a store connection on a plain thread (a blocking client may not be dropped on a
/// runtime thread).
fn drop_off_runtime(store: SharedStore) {
    let _ = std::thread::Builder::new()
        .name("depin-store-drop".into())
        .spawn(move || drop(store));
}

impl std::fmt::Debug for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Oracle {
    /// Set up an oracle from its configuration, its verifier factory (called at start and
    /// whenever the engine rebuilds its state) and its closer.
    pub fn builder<R, S, C>(
        config: ServiceConfig,
        make: MakeVerifier<R, S>,
        closer: EpochCloser<C>,
    ) -> OracleBuilder<R, S, C>
    where
        C: EpochScoring,
    {
        let clock: Clock = Arc::new(Timestamp::now);
        OracleBuilder {
            config,
            make,
            closer,
            clock,
            hooks: Vec::new(),
            failed_hooks: Vec::new(),
            routes: None,
        }
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ingest engine's handle (its metrics, its queue, in-process submissions).
    pub fn ingest(&self) -> &IngestHandle {
        &self.handle
    }

    /// Stop: drain HTTP requests in flight, answer every queued submission, stop the MQTT
    /// subscription (unacknowledged messages stay with the broker) and the closer.
    pub async fn shutdown(mut self) -> Result<(), ServiceError> {
        self.stop_parts().await
    }

    /// Run until `signal` completes, then shut down.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send,
    ) -> Result<(), ServiceError> {
        signal.await;
        self.shutdown().await
    }

    async fn stop_parts(&mut self) -> Result<(), ServiceError> {
        #[cfg(feature = "mqtt")]
        if let Some(m) = self.mqtt.take() {
            m.shutdown();
            m.join().await;
        }
        #[cfg(not(feature = "mqtt"))]
        let _ = self.mqtt.take();
        if let Some(tx) = self.stop_http.take() {
            let _ = tx.send(());
        }
        let mut result = Ok(());
        if let Some(http) = self.http.take() {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(ServiceError::Io(e)),
                Err(e) => result = Err(ServiceError::Task(e.to_string())),
            }
        }
        if let Some(engine) = self.engine.take() {
            let joined = tokio::task::spawn_blocking(move || engine.join()).await;
            if let Err(e) = joined {
                result = Err(ServiceError::Task(e.to_string()));
            }
        }
        if let Some(store) = self.api_store.take() {
            drop_off_runtime(store);
        }
        let _ = self.stop_closer.send(());
        if let Some(t) = self.closer_thread.take() {
            let joined = tokio::task::spawn_blocking(move || t.join()).await;
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(_)) => result = Err(ServiceError::Task("the closer thread panicked".into())),
                Err(e) => result = Err(ServiceError::Task(e.to_string())),
            }
        }
        result
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_http.take() {
            let _ = tx.send(());
        }
        let _ = self.stop_closer.send(());
        self.handle.shutdown();
        if let Some(store) = self.api_store.take() {
            drop_off_runtime(store);
        }
    }
}
