//! What a run did: per-epoch reports, payouts, chain settlement; printable.

use std::fmt;

use depin_attest::{EpochReport, Rejection};
use depin_chains::Account;
use depin_core::DeviceId;

use crate::chain::Settlement;

/// Symbol of the simulated reward token.
pub const TOKEN_SYMBOL: &str = "DPR";
/// Decimals of the simulated reward token (1 DPR = 10^6 base units).
pub const TOKEN_DECIMALS: u32 = 6;

/// Base units as a decimal token amount, e.g. `1234.500000 DPR`.
pub fn format_amount(base: u128) -> String {
    let one = 10u128.pow(TOKEN_DECIMALS);
    format!(
        "{}.{:0width$} {TOKEN_SYMBOL}",
        base / one,
        base % one,
        width = TOKEN_DECIMALS as usize
    )
}

/// One device's role and earnings over the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOutcome {
    /// The device.
    pub id: DeviceId,
    /// `honest` or the cheat it plays (`spoofer`, `ring`, `lost-data`, `rollback`, ...).
    pub role: &'static str,
    /// A short human label (`hotspot-07`, `meter-03`).
    pub label: String,
    /// The owner account its rewards are claimed by.
    pub owner: Account,
    /// Earned over all epochs, base units.
    pub earned: u128,
}

/// One epoch of one network.
#[derive(Debug, Clone)]
pub struct EpochSummary {
    /// The epoch.
    pub epoch: u64,
    /// Devices that sent anything this epoch.
    pub devices: usize,
    /// Accepted and rejected attestations by kind and by reason (depin-attest).
    pub report: EpochReport,
    /// The devices' reward pool of the epoch, base units.
    pub pool: u128,
    /// Paid to devices (sum of the exact distribution), base units.
    pub paid: u128,
    /// Devices with a non-zero payout.
    pub paid_devices: usize,
    /// Receipts verified against the network's published rule set and the epoch's published
    /// summary, each with its inclusion proof (`depin_rewards::verify_receipt`); the epoch as a
    /// whole (every device once, sum == pool, receipts root) was checked before publishing
    /// (`depin_rewards::EpochRewards::publish`).
    pub receipts_verified: usize,
    /// Root, claims and balances on the chain.
    pub settlement: Settlement,
    /// Network-specific facts (valid witnesses, proven bytes, verified kWh, ...).
    pub notes: Vec<String>,
}

impl EpochSummary {
    /// `true` when the distribution paid the pool exactly (sum of payouts == pool).
    pub fn exact(&self) -> bool {
        self.paid == self.pool
    }
}

/// A hotspot on the wireless map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapHotspot {
    /// Label.
    pub label: String,
    /// Role (`honest`, `spoofer`, ...).
    pub role: &'static str,
    /// Centre of the asserted H3 cell (latitude, longitude in degrees).
    pub asserted: (f64, f64),
    /// Where the device really is.
    pub real: (f64, f64),
    /// Earned over the run, base units.
    pub earned: u128,
}

/// A witness link on the wireless map (between asserted cell centres).
#[derive(Debug, Clone, PartialEq)]
pub struct MapLink {
    /// Index of the beaconing hotspot in [`MapData::hotspots`].
    pub beaconer: usize,
    /// Index of the witnessing hotspot.
    pub witness: usize,
    /// `None` for a kept witness, else why it was rejected.
    pub rejected: Option<Rejection>,
}

/// Data for the wireless map picture.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapData {
    /// Title.
    pub title: String,
    /// Hotspots.
    pub hotspots: Vec<MapHotspot>,
    /// Witness links of the last epoch.
    pub links: Vec<MapLink>,
}

/// The result of one network run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Network name (`wireless`, `storage`, `energy`).
    pub network: String,
    /// One line on what it simulates.
    pub title: String,
    /// The chain it settled on.
    pub chain: String,
    /// Every device, its role and earnings.
    pub devices: Vec<DeviceOutcome>,
    /// Per epoch.
    pub epochs: Vec<EpochSummary>,
    /// The wireless map, if the network has one.
    pub map: Option<MapData>,
}

impl Summary {
    /// Sum of the epochs' pools.
    pub fn pool_total(&self) -> u128 {
        self.epochs.iter().map(|e| e.pool).sum()
    }

    /// Sum paid to devices over all epochs.
    pub fn paid_total(&self) -> u128 {
        self.epochs.iter().map(|e| e.paid).sum()
    }

    /// Whether every epoch paid its pool exactly.
    pub fn exact(&self) -> bool {
        self.epochs.iter().all(EpochSummary::exact)
    }

    /// Rejections for `reason` over all epochs.
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.epochs
            .iter()
            .map(|e| e.report.rejected_for(reason))
            .sum()
    }

    /// Accepted attestations over all epochs.
    pub fn accepted_total(&self) -> u64 {
        self.epochs.iter().map(|e| e.report.accepted_total()).sum()
    }

    /// Devices with `role`.
    pub fn with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a DeviceOutcome> + 'a {
        self.devices.iter().filter(move |d| d.role == role)
    }

    /// Total earned by devices with `role`.
    pub fn earned_by_role(&self, role: &str) -> u128 {
        self.with_role(role).map(|d| d.earned).sum()
    }

    /// The last epoch's settlement, if any epoch ran.
    pub fn last_settlement(&self) -> Option<&Settlement> {
        self.epochs.last().map(|e| &e.settlement)
    }
}

fn short_hex(bytes: &[u8]) -> String {
    let h = hex::encode(bytes);
    if h.len() > 16 {
        format!("0x{}…{}", &h[..8], &h[h.len() - 6..])
    } else {
        format!("0x{h}")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut roles: Vec<(&str, usize)> = Vec::new();
        for d in &self.devices {
            match roles.iter_mut().find(|r| r.0 == d.role) {
                Some(r) => r.1 += 1,
                None => roles.push((d.role, 1)),
            }
        }
        let roles: Vec<String> = roles.iter().map(|(r, n)| format!("{n} {r}")).collect();
        writeln!(f, "== {}: {} ==", self.network, self.title)?;
        writeln!(f, "chain:   {}", self.chain)?;
        writeln!(f, "devices: {} ({})", self.devices.len(), roles.join(", "))?;
        for e in &self.epochs {
            let r = &e.report;
            writeln!(
                f,
                "epoch {}: {} devices reporting, {} attestations accepted, {} rejected",
                e.epoch,
                e.devices,
                r.accepted_total(),
                r.rejected_total()
            )?;
            let accepted: Vec<String> = r
                .accepted
                .iter()
                .map(|(k, n)| format!("{} {n}", r.kind_name(*k)))
                .collect();
            writeln!(f, "  accepted: {}", accepted.join(", "))?;
            if !r.rejected.is_empty() {
                let mut rejected: Vec<(&Rejection, &u64)> = r.rejected.iter().collect();
                rejected.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let rejected: Vec<String> = rejected
                    .iter()
                    .map(|(k, n)| format!("{} {n}", k.code()))
                    .collect();
                writeln!(f, "  rejected: {}", rejected.join(", "))?;
            }
            for note in &e.notes {
                writeln!(f, "  {note}")?;
            }
            writeln!(
                f,
                "  rewards: pool {} to {} devices, paid {} ({}), {} receipts verified against the published rules and root",
                format_amount(e.pool),
                e.paid_devices,
                format_amount(e.paid),
                if e.exact() {
                    "exact: sum == pool"
                } else {
                    "NOT EXACT"
                },
                e.receipts_verified
            )?;
            let s = &e.settlement;
            match s.publish_tx {
                Some(tx) => writeln!(
                    f,
                    "  chain: root {} published (tx {}), cumulative total {}",
                    short_hex(&s.root),
                    short_hex(&tx.0),
                    format_amount(s.cumulative_total)
                )?,
                None => writeln!(f, "  chain: no root published (nothing earned yet)")?,
            }
            writeln!(
                f,
                "  claims: {} settled paying {}{}; claimed on chain {} of {}{}",
                s.claims,
                format_amount(s.claimed_now),
                if s.deferred > 0 {
                    format!(", {} owners deferred", s.deferred)
                } else {
                    String::new()
                },
                format_amount(s.claimed_total),
                format_amount(s.cumulative_total),
                if s.double_claim_refused {
                    "; repeated claim refused"
                } else {
                    ""
                }
            )?;
        }
        let mut ranked: Vec<&DeviceOutcome> = self.devices.iter().collect();
        ranked.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.label.cmp(&b.label)));
        let mut by_role: Vec<String> = Vec::new();
        for d in &self.devices {
            if !by_role
                .iter()
                .any(|r| r.starts_with(&format!("{} ", d.role)))
            {
                by_role.push(format!(
                    "{} {}",
                    d.role,
                    format_amount(self.earned_by_role(d.role))
                ));
            }
        }
        writeln!(
            f,
            "total: pool {} paid {} ({}); earned by role: {}",
            format_amount(self.pool_total()),
            format_amount(self.paid_total()),
            if self.exact() {
                "exact in every epoch"
            } else {
                "NOT EXACT"
            },
            by_role.join(", ")
        )?;
        if let Some(top) = ranked.first() {
            writeln!(
                f,
                "top earner: {} ({}, {}) {}",
                top.label,
                top.role,
                top.id,
                format_amount(top.earned)
            )?;
        }
        Ok(())
    }
}

impl Summary {
    /// How `other`, a run of the same network on the same inputs by another path (served by
    /// an oracle, say), differs from this one in what must agree: per epoch the verdicts
    /// (accepted per kind, rejected per reason), the devices reporting, the pool and its
    /// payouts, the receipts verified, the root and claims; per device the earnings.
    /// Transaction hashes and the chain's description may differ. Empty when they agree.
    pub fn differences(&self, other: &Summary) -> Vec<String> {
        let mut out = Vec::new();
        if self.epochs.len() != other.epochs.len() {
            out.push(format!(
                "{} epochs against {}",
                self.epochs.len(),
                other.epochs.len()
            ));
        }
        for (a, b) in self.epochs.iter().zip(&other.epochs) {
            let e = a.epoch;
            let mut differ = |what: &str, x: String, y: String| {
                if x != y {
                    out.push(format!("epoch {e} {what}: {x} against {y}"));
                }
            };
            differ(
                "accepted",
                format!("{:?}", a.report.accepted),
                format!("{:?}", b.report.accepted),
            );
            differ(
                "rejected",
                format!("{:?}", a.report.rejected),
                format!("{:?}", b.report.rejected),
            );
            differ("devices", a.devices.to_string(), b.devices.to_string());
            differ(
                "pool, paid, paid devices",
                format!("{} {} {}", a.pool, a.paid, a.paid_devices),
                format!("{} {} {}", b.pool, b.paid, b.paid_devices),
            );
            differ(
                "receipts verified",
                a.receipts_verified.to_string(),
                b.receipts_verified.to_string(),
            );
            let (x, y) = (&a.settlement, &b.settlement);
            differ("root", hex::encode(x.root), hex::encode(y.root));
            differ(
                "totals and claims",
                format!(
                    "{} {} {} {} {} {} {}",
                    x.epoch_total,
                    x.cumulative_total,
                    x.claims,
                    x.claimed_now,
                    x.claimed_total,
                    x.deferred,
                    x.double_claim_refused
                ),
                format!(
                    "{} {} {} {} {} {} {}",
                    y.epoch_total,
                    y.cumulative_total,
                    y.claims,
                    y.claimed_now,
                    y.claimed_total,
                    y.deferred,
                    y.double_claim_refused
                ),
            );
        }
        let earned = |s: &Summary| -> Vec<(String, u128)> {
            s.devices
                .iter()
                .map(|d| (d.id.to_string(), d.earned))
                .collect()
        };
        if earned(self) != earned(other) {
            out.push("per-device earnings differ".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depin_core::{KeyType, SigningKey};

    fn summary(root: u8, earned: u128) -> Summary {
        let key = SigningKey::from_secret_bytes(KeyType::Ed25519, &[3; 32]).unwrap();
        let owner: Account = "0x0000000000000000000000000000000000000001"
            .parse()
            .unwrap();
        Summary {
            network: "n".into(),
            title: String::new(),
            chain: String::new(),
            devices: vec![DeviceOutcome {
                id: DeviceId::from(key.public_key()),
                role: "honest",
                label: "d".into(),
                owner,
                earned,
            }],
            epochs: vec![EpochSummary {
                epoch: 1,
                devices: 1,
                report: EpochReport::new(depin_core::Epoch(1)),
                pool: 10,
                paid: 10,
                paid_devices: 1,
                receipts_verified: 1,
                settlement: Settlement {
                    epoch: 1,
                    root: [root; 32],
                    publish_tx: None,
                    epoch_total: 10,
                    cumulative_total: 10,
                    claims: 1,
                    claimed_now: 10,
                    claimed_total: 10,
                    deferred: 0,
                    double_claim_refused: true,
                    pool_balance: None,
                },
                notes: Vec::new(),
            }],
            map: None,
        }
    }

    #[test]
    fn differences_name_what_differs_and_nothing_else() {
        assert!(summary(1, 10).differences(&summary(1, 10)).is_empty());
        let roots = summary(1, 10).differences(&summary(2, 10));
        assert_eq!(roots.len(), 1, "{roots:?}");
        assert!(roots[0].starts_with("epoch 1 root"), "{roots:?}");
        let earned = summary(1, 10).differences(&summary(1, 11));
        assert_eq!(earned, vec!["per-device earnings differ".to_string()]);
        let mut other = summary(1, 10);
        other.epochs[0].report.rejected.insert(Rejection::Stale, 1);
        assert_eq!(summary(1, 10).differences(&other).len(), 1);
        other.epochs.clear();
        assert!(!summary(1, 10).differences(&other).is_empty());
    }
}
