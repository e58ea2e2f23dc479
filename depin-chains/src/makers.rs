//! Makers: manufacturers a network approves to onboard devices, and the trust a device joins
//! with.
//!
//! The hardest fraud in a DePIN is the fake device: a script that pretends to be a hotspot or
//! a meter. A network answers it by letting devices join only through **makers** it approved
//! (Helium's makers, IoTeX's and peaq's vendors): the network admin approves a maker's key
//! with a name and an onboarding quota ([`Maker`]), and a device is onboarded with the maker's
//! signature over everything the device's own registration proof covers (device key and key
//! type, owner, metadata hash, deadline, the registry's chain binding and the device's
//! registration nonce) plus the maker's own id ([`DeviceRegistration::onboarding_message`]).
//! Where the chain can check the device's key type, the device's own proof of possession is
//! required too.
//!
//! - A maker onboards at most `quota` devices; the one after is [`crate::Error::QuotaExceeded`].
//! - A revoked maker onboards nothing more; the admin chooses ([`OnMakerRevoked`]) whether
//!   its devices already onboarded are suspended (their records read `active: false` and the
//!   verifier refuses their items) or keep working.
//! - The network chooses whether a device may still register by itself, without a maker
//!   ([`Onboarding::Open`], the default, recorded as [`TrustLevel::Untrusted`]), or only
//!   through a maker ([`Onboarding::MakersOnly`]).
//!
//! A device's [`DeviceTrust`] is kept in its [`crate::RegisteredDevice`] and reaches the reward
//! rules through `depin_rewards::policy::trust` (a named, versioned multiplier).

use depin_core::DeviceId;

use crate::types::{BackendKind, DeviceRegistration};

/// First byte of [`DeviceRegistration::onboarding_message`]: separates a maker's attestation
/// from a device's registration proof (version 2) and nonce cancellation (version 3).
pub const ONBOARDING_MESSAGE_VERSION: u8 = 4;

/// Longest maker name accepted, bytes of UTF-8.
pub const MAX_MAKER_NAME_LEN: usize = 64;

/// A manufacturer the network admin approves to onboard devices.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Maker {
    /// The maker's signing key (any key type), named like a device by its did:key id. Its
    /// signatures are depin-core domain signatures under
    /// [`depin_core::MessageKind::MAKER_ONBOARDING`].
    pub key: DeviceId,
    /// A display name, 1 to [`MAX_MAKER_NAME_LEN`] bytes, no control characters.
    pub name: String,
    /// How many devices the maker may onboard in all.
    pub quota: u64,
}

impl Maker {
    /// A maker with this key, name and quota.
    pub fn new(key: DeviceId, name: impl Into<String>, quota: u64) -> Self {
        Maker {
            key,
            name: name.into(),
            quota,
        }
    }

    /// Checks the name ([`crate::Error::InvalidInput`] if empty, too long or with control
    /// characters).
    pub fn validate(&self) -> crate::Result<()> {
        if self.name.is_empty()
            || self.name.len() > MAX_MAKER_NAME_LEN
            || self.name.chars().any(char::is_control)
        {
            return Err(crate::Error::InvalidInput(format!(
                "maker name must be 1 to {MAX_MAKER_NAME_LEN} bytes without control characters"
            )));
        }
        Ok(())
    }
}

/// A maker as the registry holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MakerRecord {
    /// What the admin approved.
    pub maker: Maker,
    /// Devices onboarded so far (never more than the quota).
    pub onboarded: u64,
    /// `false` once revoked: it onboards nothing more.
    pub active: bool,
    /// Whether its devices were suspended when it was revoked.
    pub devices_suspended: bool,
}

/// What happens to a revoked maker's devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnMakerRevoked {
    /// They keep working (the maker was retired, not found cheating).
    KeepDevices,
    /// They are suspended: their records read `active: false`.
    SuspendDevices,
}

/// Who may join the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Onboarding {
    /// Devices may also register by themselves, as [`TrustLevel::Untrusted`] devices (the
    /// reward rules decide what those earn).
    #[default]
    Open,
    /// Devices join only through an approved maker: a registration without one is
    /// [`crate::Error::Unauthorized`].
    MakersOnly,
}

/// How far the registry trusts a device (defined in depin-core, shared with the verifier's
/// registry and the reward rules).
pub use depin_core::TrustLevel;

/// Why the registry trusts a device as far as it does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DeviceTrust {
    /// The level.
    pub level: TrustLevel,
    /// The maker that onboarded it, if one did.
    pub maker: Option<DeviceId>,
    /// The hardware evidence accepted at onboarding, if any: its kind (`"tpm2"`,
    /// `"android-key"`, `"secure-element"`, or a network's own) and a digest of the evidence.
    pub hardware: Option<HardwareRecord>,
}

/// Hardware evidence accepted at onboarding, as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HardwareRecord {
    /// The kind of hardware (the evidence verifier's name).
    pub kind: String,
    /// SHA-256 of the evidence bytes.
    pub evidence_hash: [u8; 32],
}

/// A maker's attestation that it made the device, for [`crate::RegistryBackend::onboard_device`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MakerAttestation {
    /// The maker.
    pub maker: DeviceId,
    /// The maker key's domain signature over [`DeviceRegistration::onboarding_message`]
    /// under [`depin_core::MessageKind::MAKER_ONBOARDING`].
    pub signature: depin_core::Signature,
}

impl DeviceRegistration {
    /// What a maker signs to onboard this registration on a backend of `kind` whose registry
    /// binding is `ledger_id` (the local ledger's id; other backends hash their chain id and
    /// contract into it), for the device's registration `nonce`:
    ///
    /// ```text
    /// 0x04 || kind || [custom name length || name] || ledger_id (32)
    ///      || device id length || device id || owner || metadata_hash (32)
    ///      || nonce (u64 BE) || deadline (u64 BE) || maker id length || maker id
    /// ```
    ///
    /// The device id carries the key type and key; the rest is what the device's own
    /// registration proof covers ([`DeviceRegistration::ledger_signing_message`]), so a
    /// relayer cannot reuse an attestation for another owner, metadata, registry or nonce.
    pub fn onboarding_message(
        &self,
        kind: BackendKind,
        ledger_id: &[u8; 32],
        nonce: u64,
        maker: &DeviceId,
    ) -> Vec<u8> {
        let mut out = self.ledger_signing_message(kind, ledger_id, nonce);
        if let Some(first) = out.first_mut() {
            *first = ONBOARDING_MESSAGE_VERSION;
        }
        let (id, len) = maker.to_bytes();
        out.push(u8::try_from(len).unwrap_or(u8::MAX));
        out.extend_from_slice(&id[..len]);
        out
    }
}

/// Hardware evidence offered at onboarding: the kind (which routes it to the registry's
/// [`depin_core::evidence::EvidenceVerifier`] of that name) and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareEvidence {
    /// The evidence kind (`"secure-element"`, `"tpm2"`, `"android-key"`, or a network's own).
    pub kind: String,
    /// The evidence, in the verifier's format.
    pub bytes: Vec<u8>,
}

/// What the maker and the device sign to onboard one registration, from
/// [`crate::RegistryBackend::onboarding_challenge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingChallenge {
    /// The 32-byte digest the maker's key signs (as depin-core signs digests: an ECDSA
    /// prehash, or the Ed25519 message). The local ledger's is the domain digest of
    /// [`DeviceRegistration::onboarding_message`] under
    /// [`depin_core::MessageKind::MAKER_ONBOARDING`]; the EVM registry's the EIP-712 digest of
    /// its `Onboard` attestation.
    pub maker_digest: [u8; 32],
    /// What the device signs: its ordinary registration challenge for the same nonce; `None`
    /// where the chain cannot check the device's key type (Ed25519 devices on EVM), which then
    /// join on the maker's word alone.
    pub device: Option<crate::RegistrationChallenge>,
    /// The nonce hardware evidence must answer, bound to this registration and maker.
    pub evidence_nonce: [u8; 32],
}

impl OnboardingChallenge {
    /// The maker's attestation: the maker's key (in memory, or in an HSM behind
    /// [`crate::DeviceSigner`]) signs [`OnboardingChallenge::maker_digest`].
    pub fn attest(&self, maker: &dyn crate::DeviceSigner) -> crate::Result<MakerAttestation> {
        Ok(MakerAttestation {
            maker: maker.device_id(),
            signature: maker.sign_digest(&self.maker_digest)?,
        })
    }

    /// The device's proof for [`OnboardingChallenge::device`], or `None` if the chain needs
    /// none.
    pub fn device_proof(
        &self,
        signer: &dyn crate::DeviceSigner,
    ) -> crate::Result<Option<crate::RegistrationProof>> {
        self.device.as_ref().map(|c| c.sign(signer)).transpose()
    }
}
