//! `serve`: the runnable oracle of depin-chains (HTTP and MQTT ingest, epoch closes on a
//! timer, the claims API) on the local ledger, from one configuration file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use depin_attest::{MemoryReplayStore, VerifierBuilder};
use depin_chains::local::{LocalLedger, MAX_EPOCH_GAP};
use depin_chains::oracle::service::Oracle;
use depin_chains::oracle::CloseReport;
use depin_chains::ChainBackend;
use depin_core::Timestamp;

use crate::chain;
use crate::config::{Devices, OracleConfig};
use crate::error::Error;

/// Load the configuration at `path`, start the oracle, print `serving on http://ADDR`, and
/// run until SIGINT or SIGTERM; then shut down cleanly (requests in flight are answered,
/// queued items committed, the closer stopped between two closes).
pub(crate) fn run(path: &Path) -> Result<(), Error> {
    let config = OracleConfig::load(path, std::env::vars())?;
    let devices = Devices::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Service(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(config, devices))
}

async fn serve(config: OracleConfig, devices: Devices) -> Result<(), Error> {
    // handlers first: a signal that arrives once the address is printed must stop us cleanly
    let mut stop = StopSignals::new()?;

    let ledger = LocalLedger::open(&config.chain.ledger, config.genesis()).map_err(|e| {
        Error::Chain(format!(
            "ledger {} ([chain] of {}): {e}",
            config.chain.ledger.display(),
            config.path.display()
        ))
    })?;
    check_first_root(&config)?;
    let backend: Arc<dyn ChainBackend> = Arc::new(ledger.handle(config.chain.oracle.clone()));
    let vconfig = config.verifier_config()?;
    let Devices { registry, owners } = devices;
    let closer = config.closer(backend, owners)?;
    let devices_count = registry.len();
    tracing::info!(
        network = %config.network.id,
        devices = devices_count,
        emission_per_epoch = %config.network.emission_per_epoch,
        ledger = %config.chain.ledger.display(),
        "starting the oracle"
    );

    let oracle = Oracle::builder(
        config.service,
        // tables sized for the registry up front: no rehashing while devices first report
        Box::new(move || {
            VerifierBuilder::new(vconfig.clone())
                .expected_devices(devices_count)
                .build(
                    registry.clone(),
                    MemoryReplayStore::with_capacity(devices_count),
                )
        }),
        closer,
    )
    .on_close(|report: &CloseReport| {
        tracing::info!(
            epoch = report.epoch.0,
            accepted = report.accepted,
            devices_paid = report.devices_paid,
            epoch_total = %report.epoch_total,
            "rewards of the epoch are claimable"
        );
    })
    .start()
    .await
    .map_err(|e| Error::Service(format!("{e} (configuration {})", config.path.display())))?;

    println!("serving on http://{}", oracle.addr());
    // the line is what scripts wait for: never leave it in a buffer
    let _ = std::io::stdout().flush();

    let signal = stop.wait().await;
    tracing::info!(signal, "stopping");
    oracle
        .shutdown()
        .await
        .map_err(|e| Error::Service(format!("shutdown: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// Refuse a schedule whose first root the ledger would refuse: a ledger with no root yet
/// accepts one only for an epoch up to [`MAX_EPOCH_GAP`] (so do the EVM and CosmWasm
/// distributors). Epochs counted from the default `genesis_ms = 0` are far beyond it.
fn check_first_root(config: &OracleConfig) -> Result<(), Error> {
    let ledger = &config.chain.ledger;
    let roots = chain::published_roots(ledger)
        .map_err(|e| Error::Chain(format!("ledger {}: {e}", ledger.display())))?;
    let epochs = &config.service.epochs;
    if !roots.is_empty() || epochs.first.is_some_and(|f| f <= MAX_EPOCH_GAP) {
        return Ok(());
    }
    let schedule = epochs
        .schedule()
        .map_err(|e| Error::config(&config.path, e.to_string()))?;
    let now = Timestamp::now();
    let current = schedule.epoch_of(now).map_or(0, |e| e.0);
    if current > MAX_EPOCH_GAP {
        return Err(Error::config(
            &config.path,
            format!(
                "[epochs]: the current epoch is {current}, but the ledger has no root yet and \
                 accepts a first root only for an epoch up to {MAX_EPOCH_GAP}: set \
                 epochs.genesis_ms to the network's start (unix milliseconds; now is {})",
                now.0
            ),
        ));
    }
    Ok(())
}

/// SIGINT (ctrl-c) and SIGTERM, registered when made.
#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn new() -> Result<Self, Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let failed = |e: std::io::Error| Error::Service(format!("cannot handle signals: {e}"));
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).map_err(failed)?,
            terminate: signal(SignalKind::terminate()).map_err(failed)?,
        })
    }

    /// Wait for either; its name.
    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Ctrl-c, where there are no Unix signals.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn new() -> Result<Self, Error> {
        Ok(StopSignals)
    }

    async fn wait(&mut self) -> &'static str {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "ctrl-c",
            Err(_) => "a failed signal handler",
        }
    }
}
