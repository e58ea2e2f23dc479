//! Android Key Attestation: the certificate chain a KeyStore key comes with, to a configured
//! root (Google's hardware attestation roots), and the KeyDescription extension of its leaf.
//!
//! Format and rules from Android's key attestation documentation
//! (<https://developer.android.com/privacy-and-security/security-key-attestation>): the leaf
//! carries extension OID 1.3.6.1.4.1.11129.2.1.17, a DER `KeyDescription`:
//!
//! ```text
//! KeyDescription ::= SEQUENCE {
//!     attestationVersion       INTEGER,
//!     attestationSecurityLevel SecurityLevel,     -- Software 0, TrustedEnvironment 1, StrongBox 2
//!     keyMintVersion           INTEGER,
//!     keyMintSecurityLevel     SecurityLevel,
//!     attestationChallenge     OCTET STRING,
//!     uniqueId                 OCTET STRING,
//!     softwareEnforced         AuthorizationList,
//!     hardwareEnforced         AuthorizationList }
//! AuthorizationList ::= SEQUENCE { ... rootOfTrust [704] EXPLICIT RootOfTrust OPTIONAL ... }
//! RootOfTrust ::= SEQUENCE {
//!     verifiedBootKey   OCTET STRING,
//!     deviceLocked      BOOLEAN,
//!     verifiedBootState VerifiedBootState,         -- Verified 0, SelfSigned 1, Unverified 2, Failed 3
//!     verifiedBootHash  OCTET STRING OPTIONAL }    -- version 3 and later
//! ```
//!
//! Revocation: Google publishes a status list (JSON, `{"entries": {"<serial, lower-case hex>":
//! {"status": "REVOKED" | "SUSPENDED", "reason": ...}}}`); a certificate of the chain listed
//! with either status is refused.

use std::collections::HashSet;

use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier, HardwareVerdict};
use depin_core::KeyType;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_parser::prelude::X509Certificate;

use super::{check_issued_by, check_validity, is_ca, parse_certificate};

/// The evidence kind [`AndroidKeyVerifier`] handles.
pub const ANDROID_KEY_KIND: &str = "android-key";

/// OID of the key attestation extension, 1.3.6.1.4.1.11129.2.1.17.
pub const KEY_DESCRIPTION_OID: &str = "1.3.6.1.4.1.11129.2.1.17";

/// Tag number of `rootOfTrust` in an `AuthorizationList`.
const ROOT_OF_TRUST_TAG: u32 = 704;

/// First bytes of [`AndroidKeyEvidence::encode`].
const MAGIC: &[u8; 4] = b"DAK1";

/// Most certificates accepted in a chain.
const MAX_CHAIN: usize = 8;

/// Largest certificate accepted, bytes (Google's RSA root is about 1,300).
const MAX_CERT_LEN: usize = 8192;

/// Where the attested key lives, as the KeyDescription says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, der::Enumerated)]
#[repr(u32)]
pub enum SecurityLevel {
    /// In the Android system: no hardware protection.
    Software = 0,
    /// In a trusted execution environment.
    TrustedEnvironment = 1,
    /// In a separate secure element (StrongBox).
    StrongBox = 2,
}

/// The device's verified-boot state, as the KeyDescription's root of trust says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, der::Enumerated)]
#[repr(u32)]
pub enum VerifiedBootState {
    /// Booted an image signed by the device maker's key.
    Verified = 0,
    /// Booted an image signed by a user-installed key.
    SelfSigned = 1,
    /// Bootloader unlocked: anything may have booted.
    Unverified = 2,
    /// Verification failed.
    Failed = 3,
}

/// The DER `KeyDescription` as it is encoded.
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
struct KeyDescriptionDer<'a> {
    attestation_version: i64,
    attestation_security_level: SecurityLevel,
    keymint_version: i64,
    keymint_security_level: SecurityLevel,
    attestation_challenge: &'a OctetStringRef,
    unique_id: &'a OctetStringRef,
    software_enforced: AnyRef<'a>,
    hardware_enforced: AnyRef<'a>,
}

/// The DER `RootOfTrust` as it is encoded.
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
struct RootOfTrustDer<'a> {
    verified_boot_key: &'a OctetStringRef,
    device_locked: bool,
    verified_boot_state: VerifiedBootState,
    #[asn1(optional = "true")]
    verified_boot_hash: Option<&'a OctetStringRef>,
}

/// The device's root of trust (from the hardware-enforced list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootOfTrust {
    /// Hash of the key that verified the boot image.
    pub verified_boot_key: Vec<u8>,
    /// Whether the bootloader is locked.
    pub device_locked: bool,
    /// The verified-boot state.
    pub verified_boot_state: VerifiedBootState,
}

/// What the leaf's KeyDescription says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDescription {
    /// The attestation format version (3, 4, 100, 200, 300, ...).
    pub attestation_version: i64,
    /// Where the attestation was made.
    pub attestation_security_level: SecurityLevel,
    /// Where the key lives.
    pub keymint_security_level: SecurityLevel,
    /// The challenge the app passed when it generated the key.
    pub attestation_challenge: Vec<u8>,
    /// The root of trust in the hardware-enforced list, if present.
    pub root_of_trust: Option<RootOfTrust>,
}

impl KeyDescription {
    /// Decode a DER `KeyDescription` (the extension's value).
    pub fn decode(der: &[u8]) -> Result<Self, EvidenceError> {
        let malformed = |what: &str| EvidenceError::Malformed(format!("KeyDescription: {what}"));
        let raw = KeyDescriptionDer::from_der(der).map_err(|_| malformed("not DER"))?;
        if raw.hardware_enforced.tag() != Tag::Sequence
            || raw.software_enforced.tag() != Tag::Sequence
        {
            return Err(malformed("authorization lists must be sequences"));
        }
        let mut root_of_trust = None;
        let mut r = SliceReader::new(raw.hardware_enforced.value())
            .map_err(|_| malformed("hardware list"))?;
        while !r.is_finished() {
            let field = AnyRef::decode(&mut r).map_err(|_| malformed("hardware list entry"))?;
            let wanted = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(ROOT_OF_TRUST_TAG),
            };
            if field.tag() == wanted {
                if root_of_trust.is_some() {
                    return Err(malformed("two roots of trust"));
                }
                let rot = RootOfTrustDer::from_der(field.value())
                    .map_err(|_| malformed("root of trust"))?;
                root_of_trust = Some(RootOfTrust {
                    verified_boot_key: rot.verified_boot_key.as_bytes().to_vec(),
                    device_locked: rot.device_locked,
                    verified_boot_state: rot.verified_boot_state,
                });
            }
        }
        Ok(KeyDescription {
            attestation_version: raw.attestation_version,
            attestation_security_level: raw.attestation_security_level,
            keymint_security_level: raw.keymint_security_level,
            attestation_challenge: raw.attestation_challenge.as_bytes().to_vec(),
            root_of_trust,
        })
    }

    /// Encode a `KeyDescription` with this content (empty software list; the hardware list
    /// holds only the root of trust): for tests and tools that make attestation certificates.
    pub fn encode(&self) -> Result<Vec<u8>, EvidenceError> {
        let err = |_| EvidenceError::Malformed("KeyDescription: cannot encode".into());
        let mut hardware = Vec::new();
        if let Some(rot) = &self.root_of_trust {
            let inner = RootOfTrustDer {
                verified_boot_key: OctetStringRef::new(&rot.verified_boot_key).map_err(err)?,
                device_locked: rot.device_locked,
                verified_boot_state: rot.verified_boot_state,
                verified_boot_hash: None,
            }
            .to_der()
            .map_err(err)?;
            let inner = AnyRef::from_der(&inner).map_err(err)?;
            der::asn1::ContextSpecific {
                tag_number: TagNumber(ROOT_OF_TRUST_TAG),
                tag_mode: der::TagMode::Explicit,
                value: inner,
            }
            .encode_to_vec(&mut hardware)
            .map_err(err)?;
        }
        let empty: [u8; 0] = [];
        KeyDescriptionDer {
            attestation_version: self.attestation_version,
            attestation_security_level: self.attestation_security_level,
            keymint_version: self.attestation_version,
            keymint_security_level: self.keymint_security_level,
            attestation_challenge: OctetStringRef::new(&self.attestation_challenge).map_err(err)?,
            unique_id: OctetStringRef::new(&empty).map_err(err)?,
            software_enforced: AnyRef::new(Tag::Sequence, &empty).map_err(err)?,
            hardware_enforced: AnyRef::new(Tag::Sequence, &hardware).map_err(err)?,
        }
        .to_der()
        .map_err(err)
    }
}

/// What an Android app sends as evidence: the KeyStore certificate chain of the device key,
/// leaf first (as `KeyStore.getCertificateChain` returns it; the root may be included).
///
/// ```text
/// "DAK1" || count (u8, 1 to 8) || count × (u16 BE length || certificate DER)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidKeyEvidence {
    /// The certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
}

impl AndroidKeyEvidence {
    /// The evidence bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(u8::try_from(self.chain.len()).unwrap_or(u8::MAX));
        for cert in &self.chain {
            let len = u16::try_from(cert.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&cert[..usize::from(len).min(cert.len())]);
        }
        out
    }

    /// Decode evidence bytes ([`EvidenceError::Malformed`] for anything but the format above).
    pub fn decode(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let malformed = |what: &str| EvidenceError::Malformed(format!("android-key: {what}"));
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("bad magic"))?;
        let (&count, mut rest) = rest.split_first().ok_or_else(|| malformed("no count"))?;
        if count == 0 || usize::from(count) > MAX_CHAIN {
            return Err(malformed("chain length"));
        }
        let mut chain = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let (len, tail) = rest
                .split_first_chunk::<2>()
                .ok_or_else(|| malformed("truncated length"))?;
            let len = usize::from(u16::from_be_bytes(*len));
            if len == 0 || len > MAX_CERT_LEN {
                return Err(malformed("certificate length"));
            }
            let (cert, tail) = tail
                .split_at_checked(len)
                .ok_or_else(|| malformed("truncated certificate"))?;
            chain.push(cert.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(AndroidKeyEvidence { chain })
    }
}

/// What the chain says, once it verified to a configured root: the leaf's KeyDescription,
/// its key (uncompressed SEC1) and the root's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndroidAttestation {
    /// The leaf's KeyDescription.
    pub description: KeyDescription,
    /// The attested public key, as the leaf's subject public key bytes.
    pub public_key: Vec<u8>,
    /// The configured name of the root the chain ends at.
    pub root: String,
}

/// Verifies [`AndroidKeyEvidence`]: each certificate issued by the next, every issuer a CA,
/// the last one a configured root or issued by one, all valid now, none on the revocation
/// list; the leaf's KeyDescription answers the registration nonce, from at least the
/// required security level, with a verified boot and a locked bootloader (by default); and
/// the attested key is the device's key (P-256).
#[derive(Clone, Debug)]
pub struct AndroidKeyVerifier {
    roots: Vec<(String, Vec<u8>)>,
    revoked: HashSet<String>,
    min_security: SecurityLevel,
    require_verified_boot: bool,
}

impl Default for AndroidKeyVerifier {
    fn default() -> Self {
        AndroidKeyVerifier {
            roots: Vec::new(),
            revoked: HashSet::new(),
            min_security: SecurityLevel::TrustedEnvironment,
            require_verified_boot: true,
        }
    }
}

impl AndroidKeyVerifier {
    /// A verifier trusting no root yet, requiring a TEE (or StrongBox) attestation and a
    /// verified boot with a locked bootloader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `root_der` (a self-signed CA, such as one of Google's hardware attestation
    /// roots), shown as `name`.
    pub fn with_root(
        mut self,
        name: impl Into<String>,
        root_der: &[u8],
    ) -> Result<Self, EvidenceError> {
        let root = parse_certificate(root_der, "root")?;
        if !is_ca(&root) {
            return Err(EvidenceError::Policy("root certificate is not a CA".into()));
        }
        check_issued_by(&root, &root, "root")?;
        self.roots.push((name.into(), root_der.to_vec()));
        Ok(self)
    }

    /// Refuse chains with a certificate listed as `REVOKED` or `SUSPENDED` in `status_json`,
    /// Google's attestation status list format (serial numbers as lower-case hex).
    pub fn with_status_list(mut self, status_json: &str) -> Result<Self, EvidenceError> {
        let v: serde_json::Value = serde_json::from_str(status_json)
            .map_err(|_| EvidenceError::Malformed("status list: not JSON".into()))?;
        let entries = v
            .get("entries")
            .and_then(|e| e.as_object())
            .ok_or_else(|| EvidenceError::Malformed("status list: no entries".into()))?;
        for (serial, entry) in entries {
            let status = entry.get("status").and_then(|s| s.as_str()).unwrap_or("");
            if status == "REVOKED" || status == "SUSPENDED" {
                self.revoked
                    .insert(serial.trim_start_matches('0').to_lowercase());
            }
        }
        Ok(self)
    }

    /// The least security level accepted (default: [`SecurityLevel::TrustedEnvironment`]).
    pub fn min_security(mut self, level: SecurityLevel) -> Self {
        self.min_security = level;
        self
    }

    /// Whether a verified boot and a locked bootloader are required (default: yes).
    pub fn require_verified_boot(mut self, required: bool) -> Self {
        self.require_verified_boot = required;
        self
    }

    /// Verify the chain at `now_secs` and read the leaf's attestation, without looking at
    /// the nonce, the policy or the device (for tools and dashboards; [`EvidenceVerifier::verify`]
    /// does all of it).
    pub fn inspect(
        &self,
        evidence: &[u8],
        now_secs: u64,
    ) -> Result<AndroidAttestation, EvidenceError> {
        let evidence = AndroidKeyEvidence::decode(evidence)?;
        let certs: Vec<X509Certificate<'_>> = evidence
            .chain
            .iter()
            .map(|der| parse_certificate(der, "chain"))
            .collect::<Result<_, _>>()?;
        let Some((leaf, _)) = certs.split_first() else {
            return Err(EvidenceError::Malformed("android-key: empty chain".into()));
        };
        for pair in certs.windows(2) {
            if let [child, issuer] = pair {
                if !is_ca(issuer) {
                    return Err(EvidenceError::Policy(
                        "an issuer in the chain is not a CA".into(),
                    ));
                }
                check_issued_by(child, issuer, "chain")?;
            }
        }
        let root = self.root_of(&evidence.chain, &certs)?;
        for cert in &certs {
            check_validity(cert, now_secs, "chain")?;
            let serial = cert.tbs_certificate.serial.to_str_radix(16);
            if self.revoked.contains(&serial) {
                return Err(EvidenceError::Revoked(format!("serial {serial}")));
            }
        }
        let ext = leaf
            .iter_extensions()
            .find(|e| e.oid.to_id_string() == KEY_DESCRIPTION_OID)
            .ok_or_else(|| {
                EvidenceError::Malformed("leaf has no key attestation extension".into())
            })?;
        Ok(AndroidAttestation {
            description: KeyDescription::decode(ext.value)?,
            public_key: leaf.public_key().subject_public_key.data.to_vec(),
            root,
        })
    }

    /// The name of the configured root the chain ends at: its last certificate is one, or is
    /// issued by one.
    fn root_of(
        &self,
        ders: &[Vec<u8>],
        certs: &[X509Certificate<'_>],
    ) -> Result<String, EvidenceError> {
        let (Some(last_der), Some(last)) = (ders.last(), certs.last()) else {
            return Err(EvidenceError::UntrustedRoot);
        };
        for (name, root_der) in &self.roots {
            if root_der == last_der {
                return Ok(name.clone());
            }
        }
        for (name, root_der) in &self.roots {
            let Ok(root) = parse_certificate(root_der, "root") else {
                continue;
            };
            if check_issued_by(last, &root, "chain").is_ok() {
                return Ok(name.clone());
            }
        }
        Err(EvidenceError::UntrustedRoot)
    }
}

impl EvidenceVerifier for AndroidKeyVerifier {
    fn kind(&self) -> &str {
        ANDROID_KEY_KIND
    }

    fn verify(
        &self,
        evidence: &[u8],
        request: &EvidenceRequest<'_>,
    ) -> Result<HardwareVerdict, EvidenceError> {
        if request.device.key_type() != KeyType::P256 {
            return Err(EvidenceError::UnsupportedKey);
        }
        let att = self.inspect(evidence, request.now_secs)?;
        let d = &att.description;
        if d.attestation_challenge.as_slice() != request.nonce.as_slice() {
            return Err(EvidenceError::WrongNonce);
        }
        if d.attestation_security_level < self.min_security
            || d.keymint_security_level < self.min_security
        {
            return Err(EvidenceError::Policy(format!(
                "security level {:?} below {:?}",
                d.attestation_security_level.min(d.keymint_security_level),
                self.min_security
            )));
        }
        if self.require_verified_boot {
            match &d.root_of_trust {
                Some(rot)
                    if rot.verified_boot_state == VerifiedBootState::Verified
                        && rot.device_locked => {}
                Some(rot) => {
                    return Err(EvidenceError::Policy(format!(
                        "boot state {:?}, bootloader {}",
                        rot.verified_boot_state,
                        if rot.device_locked {
                            "locked"
                        } else {
                            "unlocked"
                        }
                    )))
                }
                None => return Err(EvidenceError::Policy("no hardware root of trust".into())),
            }
        }
        let key = request
            .device
            .public_key()
            .and_then(|k| k.to_uncompressed_sec1())
            .map_err(|_| EvidenceError::UnsupportedKey)?;
        if att.public_key.as_slice() != key.as_slice() {
            return Err(EvidenceError::WrongKey);
        }
        Ok(HardwareVerdict {
            kind: ANDROID_KEY_KIND.into(),
            vendor: att.root,
            maker: None,
            security: match d.keymint_security_level {
                SecurityLevel::StrongBox => "strongbox".into(),
                _ => "tee".into(),
            },
        })
    }
}
