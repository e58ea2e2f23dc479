//! The one configuration file of the oracle, and what every command builds from it.
//!
//! The file is TOML. Its top-level settings are those of depin-chains'
//! [`ServiceConfig`] (`listen`, `name`, `[store]`, `[epochs]`, `[ingest]`, `[mqtt]`), and two
//! sections belong to this binary:
//!
//! ```toml
//! [network]
//! id = "my-network"              # the depin-core network id devices sign for
//! devices = "devices.json"       # the device registry file
//! emission_per_epoch = 1000000   # base units split every epoch (or a decimal string)
//!
//! [[network.pools]]              # optional: reward pools by attestation kind
//! name = "solar"
//! bps = 6000                     # basis points of the emission
//! kinds = ["energy_reading"]     # built-in kind names; [] = every kind no pool lists
//!
//! [chain]
//! ledger = "chain.ledger"        # the local ledger file (created on first `serve`)
//! admin = "0x..."                # the network admin account
//! oracle = "0x..."               # the account that publishes roots
//! claim_format = "openzeppelin"  # or "cw20"
//! ```
//!
//! Environment variables override settings with one rule for the whole file:
//! `DEPIN_ORACLE__` followed by the setting's path in upper case, `__` between levels
//! (`DEPIN_ORACLE__LISTEN`, `DEPIN_ORACLE__STORE__PATH`, `DEPIN_ORACLE__NETWORK__ID`,
//! `DEPIN_ORACLE__CHAIN__LEDGER`). The service's settings are applied by
//! [`ServiceConfig::from_toml`] (integers and booleans typed, the rest strings); the
//! `[network]` and `[chain]` ones here, always as strings (every one of them is text, and
//! `emission_per_epoch` accepts a decimal string). Pools are set in the file only. Unknown
//! settings, in the file or the environment, are errors that name the setting.
//!
//! Without pools, the whole emission is one pool over every kind (the units of
//! [`UnitsScoring`](depin_chains::oracle::UnitsScoring)); with pools, each gets its basis
//! points of the emission and pays its kinds' units (`KindPools`), and receipts list the
//! pools.
//!
//! Relative paths (`store.path`, `network.devices`, `chain.ledger`) are relative to the
//! working directory, as the store's path is for the service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use depin_attest::store::OracleStore;
use depin_attest::{
    AttestationKind, DeviceRecord, KindSet, MemoryRegistry, MemoryReplayStore, VerifierBuilder,
    VerifierConfig,
};
use depin_chains::local::Genesis;
use depin_chains::oracle::service::{ServiceConfig, StoreConfig, ENV_PREFIX};
use depin_chains::oracle::{EpochCloser, KindPools, DEFAULT_POOL};
use depin_chains::{Account, ChainBackend, ClaimFormat};
use depin_core::{DeviceId, Domain, NetworkId};
use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// The binary's own sections, with their settings.
const NETWORK: &str = "network";
const NETWORK_KEYS: [&str; 3] = ["id", "devices", "emission_per_epoch"];
const CHAIN: &str = "chain";
const CHAIN_KEYS: [&str; 4] = ["ledger", "admin", "oracle", "claim_format"];

/// The whole configuration.
#[derive(Debug)]
pub(crate) struct OracleConfig {
    /// The file it was read from (for messages).
    pub(crate) path: PathBuf,
    /// The service's settings.
    pub(crate) service: ServiceConfig,
    /// `[network]`.
    pub(crate) network: NetworkConfig,
    /// `[chain]`.
    pub(crate) chain: ChainConfig,
}

/// `[network]`, checked.
#[derive(Debug)]
pub(crate) struct NetworkConfig {
    /// The network id devices sign for.
    pub(crate) id: NetworkId,
    /// The registry file.
    pub(crate) devices: PathBuf,
    /// Base units split every epoch.
    pub(crate) emission_per_epoch: u128,
    /// `[[network.pools]]`: (name, basis points, kinds); empty: one pool of every kind.
    pub(crate) pools: Vec<(String, u16, Vec<AttestationKind>)>,
}

/// The claim tree formats a local ledger can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// OpenZeppelin `StandardMerkleTree` over `(address, uint256)`: EVM accounts.
    OpenZeppelin,
    /// cw20-merkle-airdrop: bech32 accounts.
    Cw20,
}

impl Format {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "openzeppelin" => Some(Format::OpenZeppelin),
            "cw20" => Some(Format::Cw20),
            _ => None,
        }
    }

    /// The depin-chains claim format.
    pub(crate) fn claim_format(self) -> ClaimFormat {
        match self {
            Format::OpenZeppelin => ClaimFormat::OpenZeppelin,
            Format::Cw20 => ClaimFormat::Cw20MerkleAirdrop,
        }
    }

    /// Whether the format's trees can hold `account`.
    fn pays(self, account: &Account) -> bool {
        match self {
            Format::OpenZeppelin => account.as_evm().is_some(),
            Format::Cw20 => account.as_cosmos().is_some(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::OpenZeppelin => "openzeppelin (EVM accounts)",
            Format::Cw20 => "cw20 (bech32 accounts)",
        }
    }
}

/// `[chain]`, checked.
#[derive(Debug)]
pub(crate) struct ChainConfig {
    /// The local ledger file.
    pub(crate) ledger: PathBuf,
    /// The network admin.
    pub(crate) admin: Account,
    /// The account publishing roots.
    pub(crate) oracle: Account,
    /// The claim tree format.
    pub(crate) format: Format,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    id: String,
    devices: PathBuf,
    #[serde(deserialize_with = "amount")]
    emission_per_epoch: u128,
    #[serde(default)]
    pools: Vec<PoolSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolSection {
    name: String,
    bps: u16,
    #[serde(default)]
    kinds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainSection {
    ledger: PathBuf,
    admin: String,
    oracle: String,
    claim_format: String,
}

/// A non-negative TOML integer, or a decimal string for amounts above `i64::MAX`.
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    use serde::de::Error as _;
    match toml::Value::deserialize(d)? {
        toml::Value::Integer(i) => u128::try_from(i).map_err(|_| {
            D::Error::custom(format!(
                "emission_per_epoch {i} is negative: expected base units"
            ))
        }),
        toml::Value::String(s) => s.trim().parse::<u128>().map_err(|_| {
            D::Error::custom(format!(
                "emission_per_epoch {s:?} is not a whole number of base units (decimal digits \
                 only)"
            ))
        }),
        other => Err(D::Error::custom(format!(
            "emission_per_epoch: expected an integer or a decimal string, found {}",
            other.type_str()
        ))),
    }
}

/// The scoring of `pools` (none: one [`DEFAULT_POOL`] of every kind, which pays as
/// [`depin_chains::oracle::UnitsScoring`] does).
fn scoring(
    emission: u128,
    pools: &[(String, u16, Vec<AttestationKind>)],
) -> Result<KindPools, depin_rewards::Error> {
    if pools.is_empty() {
        return KindPools::new(emission, [(DEFAULT_POOL, 10_000, Vec::new())]);
    }
    KindPools::new(emission, pools.iter().cloned())
}

/// Resolve the pools' kind names against the kinds the oracle's verifier knows (the
/// built-in ones), and check the pools.
fn resolve_pools(
    service: &ServiceConfig,
    id: NetworkId,
    pools: Vec<PoolSection>,
    emission: u128,
) -> Result<Vec<(String, u16, Vec<AttestationKind>)>, String> {
    if pools.is_empty() {
        return Ok(Vec::new());
    }
    let mut config = VerifierConfig::new(Domain::new(id));
    config.schedule = service.epochs.schedule().map_err(|e| e.to_string())?;
    let known = VerifierBuilder::new(config)
        .build(MemoryRegistry::new(), MemoryReplayStore::new())
        .map_err(|e| e.to_string())?
        .kinds();
    let mut out = Vec::with_capacity(pools.len());
    for pool in pools {
        let mut kinds = Vec::with_capacity(pool.kinds.len());
        for name in &pool.kinds {
            let kind = known
                .iter()
                .find(|k| k.name.as_str() == name.as_str())
                .map(|k| k.kind)
                .ok_or_else(|| {
                    let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
                    format!(
                        "pool {:?}: unknown kind {name:?} (the kinds are {})",
                        pool.name,
                        names.join(", ")
                    )
                })?;
            kinds.push(kind);
        }
        out.push((pool.name, pool.bps, kinds));
    }
    scoring(emission, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

impl OracleConfig {
    /// Read and check the file at `path`, with overrides from `env` (pass
    /// [`std::env::vars`]).
    pub(crate) fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text, env)
    }

    /// Check `text`, read from `path`.
    fn parse(
        path: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, Error> {
        let bad = |message: String| Error::config(path, message);
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| bad(format!("not valid TOML: {e}")))?;

        // split the overrides: ours, and the service's (applied by ServiceConfig::from_toml)
        let mut ours: Vec<(String, String, String)> = Vec::new();
        let mut theirs: Vec<(String, String)> = Vec::new();
        for (key, value) in env {
            let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            match parts.first().map(String::as_str) {
                Some(section @ (NETWORK | CHAIN)) => {
                    let known: &[&str] = if section == NETWORK {
                        &NETWORK_KEYS
                    } else {
                        &CHAIN_KEYS
                    };
                    match parts.as_slice() {
                        [_, setting] if known.contains(&setting.as_str()) => {
                            ours.push((section.to_string(), setting.clone(), value));
                        }
                        _ => {
                            return Err(bad(format!(
                                "environment variable {key}: [{section}] has no such setting \
                                 (its settings are {})",
                                known.join(", ")
                            )))
                        }
                    }
                }
                _ => theirs.push((key, value)),
            }
        }
        ours.sort();
        for (section, setting, value) in ours {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => {
                    t.insert(setting, toml::Value::String(value));
                }
                other => {
                    return Err(bad(format!(
                        "`{section}` must be a [{section}] section, not a {}",
                        other.type_str()
                    )))
                }
            }
        }

        let network = take_section(&mut table, NETWORK).map_err(|m| Error::config(path, m))?;
        let chain = take_section(&mut table, CHAIN).map_err(|m| Error::config(path, m))?;
        let network: NetworkSection = network
            .try_into()
            .map_err(|e: toml::de::Error| bad(format!("[{NETWORK}]: {}", e.message())))?;
        let chain: ChainSection = chain
            .try_into()
            .map_err(|e: toml::de::Error| bad(format!("[{CHAIN}]: {}", e.message())))?;

        // the rest is the service's
        let rest = toml::to_string(&table)
            .map_err(|e| bad(format!("the service settings do not serialise: {e}")))?;
        let service = ServiceConfig::from_toml(&rest, theirs)
            .map_err(|e| bad(e.to_string().trim_end().replace('\n', " ")))?;

        let id = NetworkId::new(&network.id)
            .map_err(|e| bad(format!("[{NETWORK}] id {:?}: {e}", network.id)))?;
        let format = Format::parse(&chain.claim_format).ok_or_else(|| {
            bad(format!(
                "[{CHAIN}] claim_format {:?}: expected \"openzeppelin\" or \"cw20\"",
                chain.claim_format
            ))
        })?;
        let account = |setting: &str, text: &str| {
            text.parse::<Account>()
                .map_err(|e| bad(format!("[{CHAIN}] {setting} {text:?}: {e}")))
        };
        let admin = account("admin", &chain.admin)?;
        let oracle = account("oracle", &chain.oracle)?;
        let pools = resolve_pools(&service, id, network.pools, network.emission_per_epoch)
            .map_err(|m| bad(format!("[[{NETWORK}.pools]]: {m}")))?;
        Ok(OracleConfig {
            path: path.to_path_buf(),
            service,
            network: NetworkConfig {
                id,
                devices: network.devices,
                emission_per_epoch: network.emission_per_epoch,
                pools,
            },
            chain: ChainConfig {
                ledger: chain.ledger,
                admin,
                oracle,
                format,
            },
        })
    }

    /// The local ledger's genesis (a ledger file created with another one is refused).
    pub(crate) fn genesis(&self) -> Genesis {
        Genesis {
            network: self.network.id.as_str().to_string(),
            admin: self.chain.admin.clone(),
            oracle: self.chain.oracle.clone(),
            claim_format: self.chain.format.claim_format(),
        }
    }

    /// The verifier configuration: the network's domain and the service's epoch schedule.
    pub(crate) fn verifier_config(&self) -> Result<VerifierConfig, Error> {
        let mut config = VerifierConfig::new(Domain::new(self.network.id));
        config.schedule = self
            .service
            .epochs
            .schedule()
            .map_err(|e| Error::config(&self.path, e.to_string()))?;
        Ok(config)
    }

    /// The closer `serve` closes epochs with, and the audits recompute them with: the
    /// configured pools (or one pool of every kind) over the configured emission, the
    /// owners of the registry file, under the service's name.
    pub(crate) fn closer(
        &self,
        backend: Arc<dyn ChainBackend>,
        owners: HashMap<DeviceId, Account>,
    ) -> Result<EpochCloser<KindPools>, Error> {
        let scoring = scoring(self.network.emission_per_epoch, &self.network.pools)
            .map_err(|e| Error::config(&self.path, format!("[[{NETWORK}.pools]]: {e}")))?;
        Ok(EpochCloser::new(
            scoring,
            backend,
            self.chain.format.claim_format(),
            self.service.name.clone(),
        )
        .owners(move |device: &DeviceId| owners.get(device).cloned()))
    }

    /// Open the store of an oracle that has run before (the audits: a SQLite file that is
    /// not there is an error here, not a new empty store).
    pub(crate) fn open_existing_store(&self) -> Result<Box<dyn OracleStore>, Error> {
        if let StoreConfig::Sqlite { path } = &self.service.store {
            if !path.exists() {
                return Err(Error::config(
                    &self.path,
                    format!(
                        "store.path {} does not exist (has `depin-oracle serve` run with this \
                         configuration?)",
                        path.display()
                    ),
                ));
            }
        }
        self.service
            .store
            .open()
            .map_err(|e| Error::Store(format!("{e} (the [store] of {})", self.path.display())))
    }
}

/// Remove `[name]` from `table` (it must be there, and be a table).
fn take_section(table: &mut toml::Table, name: &str) -> Result<toml::Value, String> {
    match table.remove(name) {
        Some(value @ toml::Value::Table(_)) => Ok(value),
        Some(other) => Err(format!(
            "`{name}` must be a [{name}] section, not a {}",
            other.type_str()
        )),
        None => Err(format!(
            "the [{name}] section is missing (its settings are {})",
            if name == NETWORK {
                NETWORK_KEYS.join(", ")
            } else {
                CHAIN_KEYS.join(", ")
            }
        )),
    }
}

/// One device of the registry file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    did: String,
    owner: String,
    #[serde(default)]
    rated_power_w: Option<u64>,
}

/// The registry file, loaded: the verifier's registry and the owners the closer credits.
#[derive(Debug)]
pub(crate) struct Devices {
    /// Every device, active, allowed every kind.
    pub(crate) registry: MemoryRegistry,
    /// Who owns each device.
    pub(crate) owners: HashMap<DeviceId, Account>,
}

impl Devices {
    /// Read the registry file that `[network] devices` names: a JSON list of
    /// `{"did": "did:key:...", "owner": "<account>", "rated_power_w": 10000}`
    /// (`rated_power_w` optional).
    pub(crate) fn load(config: &OracleConfig) -> Result<Self, Error> {
        let path = &config.network.devices;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(
                &config.path,
                format!("[network] devices {}: {e}", path.display()),
            )
        })?;
        let entries: Vec<DeviceEntry> = serde_json::from_str(&text).map_err(|e| {
            Error::config(
                path,
                format!(
                    "not a device list ([{{\"did\": ..., \"owner\": ..., \"rated_power_w\": ...}}]): \
                     {e}"
                ),
            )
        })?;
        let format = config.chain.format;
        let mut registry = MemoryRegistry::with_capacity(entries.len());
        let mut owners = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let at = |message: String| Error::config(path, format!("device {i}: {message}"));
            let device: DeviceId = entry
                .did
                .parse()
                .map_err(|e| at(format!("did {:?}: {e}", entry.did)))?;
            let owner: Account = entry
                .owner
                .parse()
                .map_err(|e| at(format!("owner {:?}: {e}", entry.owner)))?;
            if !format.pays(&owner) {
                return Err(at(format!(
                    "owner {owner} cannot be paid in claim_format {}",
                    format.name()
                )));
            }
            if owners.insert(device, owner).is_some() {
                return Err(at(format!("{device} is listed twice")));
            }
            let mut record = DeviceRecord::active(KindSet::ALL);
            record.rated_power_w = entry.rated_power_w;
            registry
                .insert(device, record)
                .map_err(|e| at(format!("{device}: {e}")))?;
        }
        Ok(Devices { registry, owners })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        listen = "127.0.0.1:0"
        [store]
        kind = "sqlite"
        path = "o.db"
        [network]
        id = "test-net"
        devices = "d.json"
        emission_per_epoch = 1000
        [chain]
        ledger = "c.ledger"
        admin = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        oracle = "0x0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"
        claim_format = "openzeppelin"
    "#;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<OracleConfig, Error> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OracleConfig::parse(Path::new("oracle.toml"), text, env)
    }

    #[test]
    fn reads_both_parts_and_the_overrides_of_both() {
        let c = parse(BASE, &[]).unwrap();
        assert_eq!(c.network.id.as_str(), "test-net");
        assert_eq!(c.network.emission_per_epoch, 1000);
        assert_eq!(c.chain.format, Format::OpenZeppelin);
        assert_eq!(c.service.listen.port(), 0);

        let c = parse(
            BASE,
            &[
                (
                    "DEPIN_ORACLE__NETWORK__EMISSION_PER_EPOCH",
                    "340282366920938463463374607431768211455",
                ),
                ("DEPIN_ORACLE__CHAIN__CLAIM_FORMAT", "cw20"),
                ("DEPIN_ORACLE__NAME", "other"),
            ],
        )
        .unwrap();
        assert_eq!(c.network.emission_per_epoch, u128::MAX);
        assert_eq!(c.chain.format, Format::Cw20);
        assert_eq!(c.service.name, "other");
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let c = parse(include_str!("../oracle.example.toml"), &[]).unwrap();
        assert_eq!(c.network.id.as_str(), "my-network");
        assert_eq!(c.chain.format, Format::OpenZeppelin);
        assert!(c.service.mqtt.is_none());
    }

    #[test]
    fn unknown_settings_are_named() {
        let e = parse(&format!("colour = 1\n{BASE}"), &[]).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = parse(&BASE.replace("[chain]", "[chain]\nfee = 3"), &[]).unwrap_err();
        assert!(e.to_string().contains("fee"), "{e}");
        let e = parse(BASE, &[("DEPIN_ORACLE__NETWORK__NAME", "x")]).unwrap_err();
        assert!(e.to_string().contains("DEPIN_ORACLE__NETWORK__NAME"), "{e}");
        let e = parse(&BASE.replace("= 1000", "= -1"), &[]).unwrap_err();
        assert!(e.to_string().contains("emission_per_epoch"), "{e}");
    }

    #[test]
    fn pools_by_kind_are_read_and_checked() {
        let pools = r#"
            [[network.pools]]
            name = "solar"
            bps = 6000
            kinds = ["energy_reading"]
            [[network.pools]]
            name = "rest"
            bps = 4000
        "#;
        let c = parse(&format!("{BASE}{pools}"), &[]).unwrap();
        assert_eq!(
            c.network.pools,
            vec![
                (
                    "solar".to_string(),
                    6000,
                    vec![AttestationKind::ENERGY_READING]
                ),
                ("rest".to_string(), 4000, vec![]),
            ]
        );
        assert!(parse(BASE, &[]).unwrap().network.pools.is_empty());

        let e = parse(
            &format!("{BASE}{}", pools.replace("energy_reading", "sunshine")),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown kind \"sunshine\"") && e.contains("energy_reading"),
            "{e}"
        );
        let e = parse(&format!("{BASE}{}", pools.replace("4000", "5000")), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[network.pools]]"), "{e}");
        let e = parse(
            &format!(
                "{BASE}{}",
                pools.replace("bps = 4000", "bps = 4000\ncolour = 1")
            ),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = parse(BASE, &[("DEPIN_ORACLE__NETWORK__POOLS", "x")]).unwrap_err();
        assert!(
            e.to_string().contains("DEPIN_ORACLE__NETWORK__POOLS"),
            "{e}"
        );
    }
}
