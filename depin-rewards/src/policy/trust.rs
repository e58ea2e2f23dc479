//! Device-trust multipliers: what a device earns by how far the registry trusts that it is
//! real hardware.
//!
//! A registry records each device's trust level when it joins (`depin_chains::makers`):
//! `"untrusted"` (registered by itself), `"maker"` (onboarded by an approved maker) or
//! `"hardware"` (onboarded with accepted hardware evidence: a secure element, TPM or TEE).
//! A network publishes one multiplier per level in a [`DeviceTrustPolicy`], named and
//! versioned like every rule it publishes: receipts record the level and the policy
//! ([`crate::score::Evidence::DeviceTrust`]), and a verifier refuses a receipt computed under
//! another policy ([`crate::score::FactorKind::DeviceTrust`]). Levels are carried by their
//! stable names, so this crate needs nothing from the registry's types.

use alloc::string::String;

use crate::error::Error;
use crate::fixed::Fixed;
use crate::Result;

/// The trust levels, by their stable names (lowest first).
pub const LEVELS: [&str; 3] = ["untrusted", "maker", "hardware"];

/// One multiplier per trust level, published by the network under a name and version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceTrustPolicy {
    /// The policy's name, e.g. `"depin.device_trust"`.
    pub name: String,
    /// Its version: any change to a multiplier is a new version.
    pub version: u32,
    /// Multiplier of a device registered by itself.
    pub untrusted: Fixed,
    /// Multiplier of a device onboarded by an approved maker.
    pub maker: Fixed,
    /// Multiplier of a device onboarded with accepted hardware evidence.
    pub hardware: Fixed,
}

impl DeviceTrustPolicy {
    /// `depin.device_trust` version 1: self-registered devices earn nothing, maker-onboarded
    /// devices 0.75, devices with hardware evidence 1 (full rewards). A network choosing
    /// otherwise publishes its own name or version.
    pub fn v1() -> Self {
        DeviceTrustPolicy {
            name: String::from("depin.device_trust"),
            version: 1,
            untrusted: Fixed::ZERO,
            maker: Fixed::from_raw(750_000_000_000_000_000),
            hardware: Fixed::ONE,
        }
    }

    /// The multiplier of the level named `level` ([`Error::InvalidParameter`] for a name not
    /// in [`LEVELS`]).
    ///
    /// ```
    /// use depin_rewards::policy::trust::DeviceTrustPolicy;
    /// let p = DeviceTrustPolicy::v1();
    /// assert_eq!(p.multiplier("hardware").unwrap().to_string(), "1");
    /// assert_eq!(p.multiplier("maker").unwrap().to_string(), "0.75");
    /// assert_eq!(p.multiplier("untrusted").unwrap().to_string(), "0");
    /// assert!(p.multiplier("trusted-by-me").is_err());
    /// ```
    pub fn multiplier(&self, level: &str) -> Result<Fixed> {
        match level {
            "untrusted" => Ok(self.untrusted),
            "maker" => Ok(self.maker),
            "hardware" => Ok(self.hardware),
            _ => Err(Error::InvalidParameter("unknown device trust level")),
        }
    }

    /// Checks the policy: a name, and multipliers that never fall as trust rises and never
    /// exceed 1 (trust can take rewards away, not create them).
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() {
            return Err(Error::InvalidParameter(
                "device trust policy without a name",
            ));
        }
        if !(self.untrusted <= self.maker
            && self.maker <= self.hardware
            && self.hardware <= Fixed::ONE)
        {
            return Err(Error::InvalidParameter(
                "device trust multipliers must rise with trust and stay at most 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::{Evidence, Factor, FactorKind, FactorRule, ScoreBreakdown, ScoreRules};
    use alloc::string::ToString;

    fn trust(policy: &DeviceTrustPolicy, level: &str) -> Result<Factor> {
        Factor::from_evidence(
            "device_trust",
            Evidence::DeviceTrust {
                policy: policy.clone(),
                level: level.into(),
            },
        )
    }

    #[test]
    fn the_published_policy_prices_each_level_and_a_lenient_one_is_refused() {
        let rules = ScoreRules::new(FactorRule::new("units", FactorKind::Given { max: None }))
            .with(FactorRule::new(
                "device_trust",
                FactorKind::DeviceTrust {
                    policy: DeviceTrustPolicy::v1(),
                },
            ));
        rules.validate().unwrap();
        let base = Factor::given("units", Fixed::from_int(8).unwrap());
        for (level, share) in [("untrusted", "0"), ("maker", "6"), ("hardware", "8")] {
            let s = ScoreBreakdown::new(base.clone())
                .with(trust(&DeviceTrustPolicy::v1(), level).unwrap())
                .unwrap();
            assert_eq!(s.share.to_string(), share);
            rules.verify(&s, None).unwrap();
        }
        // the same name and version, paying makers' devices in full: not the published rule
        let lenient = DeviceTrustPolicy {
            maker: Fixed::ONE,
            ..DeviceTrustPolicy::v1()
        };
        let forged = ScoreBreakdown::new(base.clone())
            .with(trust(&lenient, "maker").unwrap())
            .unwrap();
        forged.verify().unwrap();
        assert_eq!(
            rules.verify(&forged, None),
            Err(Error::FactorMismatch {
                factor: 1,
                reason: "policy parameters"
            })
        );
        // a level the registry never records
        assert_eq!(
            trust(&DeviceTrustPolicy::v1(), "gold").err(),
            Some(Error::InvalidParameter("unknown device trust level"))
        );
    }

    #[test]
    fn a_policy_must_not_pay_more_for_less_trust_or_more_than_full() {
        DeviceTrustPolicy::v1().validate().unwrap();
        let bad = [
            DeviceTrustPolicy {
                untrusted: Fixed::ONE,
                ..DeviceTrustPolicy::v1()
            },
            DeviceTrustPolicy {
                hardware: Fixed::from_int(2).unwrap(),
                ..DeviceTrustPolicy::v1()
            },
            DeviceTrustPolicy {
                name: String::new(),
                ..DeviceTrustPolicy::v1()
            },
        ];
        for p in bad {
            assert!(p.validate().is_err(), "{p:?}");
            let rules =
                ScoreRules::new(FactorRule::new("t", FactorKind::DeviceTrust { policy: p }));
            assert!(rules.validate().is_err());
        }
    }
}
