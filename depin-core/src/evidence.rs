//! Hardware evidence: "this device key lives in hardware of kind K, made by M, and answered
//! this nonce".
//!
//! An [`EvidenceVerifier`] checks one kind of evidence (a TPM 2.0 certification and quote, an
//! Android Key Attestation chain, a secure element's certificate chain, or a network's own)
//! against an [`EvidenceRequest`]: the device's key, the 32-byte nonce the registry issued for
//! this registration, and the time. Its [`HardwareVerdict`] is what a registry records as the
//! device's trust; the reward rules can then pay by trust level. Verifiers for the standard
//! kinds live in `depin_attest::evidence`; a network's own kind implements the same trait,
//! and a registry (the local ledger's `add_evidence_verifier`) takes either through it.
//!
//! Evidence bytes come from the device or its maker and are untrusted: a verifier must never
//! panic on them and must answer every refusal with a typed [`EvidenceError`].

use alloc::string::String;

use crate::DeviceId;

/// What evidence must prove, given by the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceRequest<'a> {
    /// The device whose key the evidence must be about.
    pub device: &'a DeviceId,
    /// The registration's nonce: the evidence must answer exactly this (a quote's qualifying
    /// data, an attestation challenge, a signature by the device key).
    pub nonce: &'a [u8; 32],
    /// Now, unix seconds (certificate validity is checked against it).
    pub now_secs: u64,
}

/// What a verifier concluded from accepted evidence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HardwareVerdict {
    /// The kind of hardware: the verifier's [`EvidenceVerifier::kind`].
    pub kind: String,
    /// Who made the hardware, as the evidence's trust anchor names it (a maker's name, a
    /// TPM manufacturer, "Google" for Android roots).
    pub vendor: String,
    /// The approved maker whose root the evidence chains to, where the verifier ties roots
    /// to makers (secure elements do); `None` otherwise.
    pub maker: Option<DeviceId>,
    /// A short, stable description of the security the evidence shows (`"strongbox"`,
    /// `"tee"`, `"tpm2"`, `"secure-element"`), for receipts and dashboards.
    pub security: String,
}

/// Why evidence was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The bytes do not decode as this kind of evidence (truncated, bad DER, wrong
    /// structure); the text names the part.
    Malformed(String),
    /// The certificate chain does not end at a configured root.
    UntrustedRoot,
    /// A signature in the chain, or over the nonce, does not verify.
    BadSignature(String),
    /// A certificate is not valid at the request's time.
    Expired(String),
    /// A certificate is on the configured revocation list.
    Revoked(String),
    /// The evidence is about another key than the device's.
    WrongKey,
    /// The evidence answers another nonce.
    WrongNonce,
    /// The evidence is sound but the configured policy refuses it (security level, boot
    /// state, PCR values, key usage, ...); the text names the rule.
    Policy(String),
    /// This verifier does not handle the device's key type.
    UnsupportedKey,
}

impl core::fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EvidenceError::Malformed(what) => write!(f, "malformed evidence: {what}"),
            EvidenceError::UntrustedRoot => f.write_str("chain does not end at a trusted root"),
            EvidenceError::BadSignature(what) => write!(f, "bad signature: {what}"),
            EvidenceError::Expired(what) => write!(f, "certificate not valid now: {what}"),
            EvidenceError::Revoked(what) => write!(f, "certificate revoked: {what}"),
            EvidenceError::WrongKey => f.write_str("evidence is about another key"),
            EvidenceError::WrongNonce => f.write_str("evidence answers another nonce"),
            EvidenceError::Policy(rule) => write!(f, "refused by policy: {rule}"),
            EvidenceError::UnsupportedKey => f.write_str("key type not supported by this verifier"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EvidenceError {}

/// Checks one kind of hardware evidence. Object-safe, so registries hold
/// `Arc<dyn EvidenceVerifier>`; the built-in verifiers implement it the same way.
pub trait EvidenceVerifier: Send + Sync {
    /// The kind of evidence this verifier handles (`"tpm2"`, `"android-key"`,
    /// `"secure-element"`, or a network's own name): evidence is routed to it by this name.
    fn kind(&self) -> &str;

    /// Verify `evidence` for `request`. Never panics on any bytes.
    fn verify(
        &self,
        evidence: &[u8],
        request: &EvidenceRequest<'_>,
    ) -> core::result::Result<HardwareVerdict, EvidenceError>;
}
