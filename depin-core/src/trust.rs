//! How far a registry trusts that a device is the hardware it claims to be.

/// A device's trust level, recorded by the registry when the device joins. Ordered:
/// `Untrusted < Maker < Hardware`. The stable names ([`TrustLevel::as_str`]) are what
/// receipts and the reward rules carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TrustLevel {
    /// Registered by itself: nothing vouches for it but its key.
    #[default]
    Untrusted,
    /// Onboarded by a maker the network approved.
    Maker,
    /// Onboarded by an approved maker with hardware evidence that its key lives in a secure
    /// element, TPM or TEE ([`crate::evidence`]).
    Hardware,
}

impl TrustLevel {
    /// Every level, lowest first.
    pub const ALL: [TrustLevel; 3] = [
        TrustLevel::Untrusted,
        TrustLevel::Maker,
        TrustLevel::Hardware,
    ];

    /// The stable lower-case name: `"untrusted"`, `"maker"`, `"hardware"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Untrusted => "untrusted",
            TrustLevel::Maker => "maker",
            TrustLevel::Hardware => "hardware",
        }
    }

    /// The level named by [`TrustLevel::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        TrustLevel::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// Its one-byte tag in binary records (0, 1, 2).
    pub const fn tag(self) -> u8 {
        match self {
            TrustLevel::Untrusted => 0,
            TrustLevel::Maker => 1,
            TrustLevel::Hardware => 2,
        }
    }

    /// The level of a tag ([`TrustLevel::tag`]); `None` for any other byte.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(TrustLevel::Untrusted),
            1 => Some(TrustLevel::Maker),
            2 => Some(TrustLevel::Hardware),
            _ => None,
        }
    }
}

impl core::fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
