//! Hardware evidence verifiers: implementations of [`depin_core::evidence::EvidenceVerifier`]
//! for the kinds of hardware a DePIN device's key lives in.
//!
//! - [`SecureElementVerifier`] (`"secure-element"`): ATECC608-class secure elements with a
//!   P-256 key, provisioned with a device certificate signed by the maker's signer
//!   certificate, itself signed by the maker's root. Each root is tied to the approved maker
//!   it belongs to, so evidence chaining to one maker's root cannot vouch for a device another
//!   maker onboards.
//! - [`AndroidKeyVerifier`] (`"android-key"`): Android Key Attestation, the KeyStore chain to a
//!   configured root (Google's hardware attestation roots) with the leaf's KeyDescription
//!   (challenge, security level, verified boot) and Google's revocation status list.
//! - [`TpmVerifier`] (`"tpm2"`): TPM 2.0, the device key certified by an attestation key
//!   (TPM2_Certify), a quote by that key over the registration's nonce and the PCRs, and the
//!   attestation key's certificate chaining to a configured endorsement CA (tested against
//!   `swtpm` driven by `tpm2-tools`).
//!
//! Certificates are parsed and their signatures checked by `x509-parser` (with `ring`); no
//! DER is decoded by hand. Every verifier refuses with a typed
//! [`depin_core::evidence::EvidenceError`] and never panics on any bytes (fuzzed:
//! `fuzz/fuzz_targets/fuzz_attest_secure_element.rs`, which covers all three, and property-tested in the crate's tests).

mod android;
mod secure_element;
mod tpm;

pub use android::{
    AndroidAttestation, AndroidKeyEvidence, AndroidKeyVerifier, KeyDescription, RootOfTrust,
    SecurityLevel, VerifiedBootState, ANDROID_KEY_KIND, KEY_DESCRIPTION_OID,
};
pub use secure_element::{SecureElementEvidence, SecureElementVerifier, SECURE_ELEMENT_KIND};
pub use tpm::{tpm_public_point, TpmEvidence, TpmVerifier, TPM_KIND};

use depin_core::evidence::EvidenceError;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

/// Parse one DER certificate that must use all of `der`.
///
/// Twice, on purpose: RustCrypto's `x509-cert` decodes strictly (canonical DER, exact tags,
/// no trailing bytes, the outer signature algorithm equal to the one inside the signed
/// part, a signature of whole bytes), which `x509-parser` alone does not enforce outside the
/// signed part (it accepts, for example, a context-specific tag in place of the outer
/// SEQUENCE, or a signature bit string with one unused bit); `x509-parser` then gives
/// the parsed view and the signature checks.
fn parse_certificate<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, EvidenceError> {
    use x509_cert::der::Decode as _;
    let strict = x509_cert::Certificate::from_der(der)
        .map_err(|_| EvidenceError::Malformed(format!("{what} certificate: not strict DER")))?;
    // a signature is whole bytes: unused bits would let the same certificate be spelled
    // two ways (DER allows them when the padding bits are zero)
    if strict.signature().unused_bits() != 0 {
        return Err(EvidenceError::Malformed(format!(
            "{what} certificate: signature has unused bits"
        )));
    }
    if strict.signature_algorithm() != strict.tbs_certificate().signature() {
        return Err(EvidenceError::Malformed(format!(
            "{what} certificate: outer and signed signature algorithms differ"
        )));
    }
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(EvidenceError::Malformed(format!(
            "{what} certificate: trailing bytes"
        ))),
        Err(_) => Err(EvidenceError::Malformed(format!(
            "{what} certificate: not DER X.509"
        ))),
    }
}

/// `cert` is valid at `now_secs`.
fn check_validity(
    cert: &X509Certificate<'_>,
    now_secs: u64,
    what: &str,
) -> Result<(), EvidenceError> {
    let now = i64::try_from(now_secs)
        .ok()
        .and_then(|t| ASN1Time::from_timestamp(t).ok())
        .ok_or_else(|| EvidenceError::Expired(format!("{what}: time out of range")))?;
    if cert.validity().is_valid_at(now) {
        Ok(())
    } else {
        Err(EvidenceError::Expired(format!("{what} certificate")))
    }
}

/// `cert` is a CA certificate (basic constraints with `cA` true).
fn is_ca(cert: &X509Certificate<'_>) -> bool {
    matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

/// `child` names `issuer` as its issuer and carries a valid signature by `issuer`'s key.
fn check_issued_by(
    child: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    what: &str,
) -> Result<(), EvidenceError> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(EvidenceError::UntrustedRoot);
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|_| EvidenceError::BadSignature(format!("{what} certificate")))
}
