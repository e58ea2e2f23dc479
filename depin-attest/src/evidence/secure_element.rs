//! Secure elements (ATECC608-class, P-256): device certificate, signer certificate, maker
//! root.

use std::collections::HashSet;

use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier, HardwareVerdict};
use depin_core::{DeviceId, KeyType, Signature};

use super::{check_issued_by, check_validity, is_ca, parse_certificate};

/// The evidence kind [`SecureElementVerifier`] handles.
pub const SECURE_ELEMENT_KIND: &str = "secure-element";

/// First bytes of [`SecureElementEvidence::encode`].
const MAGIC: &[u8; 4] = b"DSE1";

/// Largest certificate accepted, bytes (a P-256 certificate is about 500).
const MAX_CERT_LEN: usize = 4096;

/// What a secure element's host sends as evidence:
///
/// ```text
/// "DSE1" || u16 BE length || device certificate (DER)
///        || u16 BE length || signer certificate (DER)
///        || 64 bytes: the device key's ECDSA P-256 signature r || s (low S) over the
///           32-byte nonce as the message digest (the secure element's "sign digest")
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecureElementEvidence {
    /// The device certificate: the secure element's P-256 key, issued by the signer.
    pub device_certificate: Vec<u8>,
    /// The maker's signer certificate (a CA), issued by the maker's root.
    pub signer_certificate: Vec<u8>,
    /// The device key's signature over the registration's evidence nonce.
    pub nonce_signature: [u8; 64],
}

impl SecureElementEvidence {
    /// The evidence bytes. Certificates longer than 4,096 bytes are refused when decoded.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            8 + self.device_certificate.len() + self.signer_certificate.len() + 64,
        );
        out.extend_from_slice(MAGIC);
        for cert in [&self.device_certificate, &self.signer_certificate] {
            let len = u16::try_from(cert.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&cert[..usize::from(len).min(cert.len())]);
        }
        out.extend_from_slice(&self.nonce_signature);
        out
    }

    /// Decode evidence bytes ([`EvidenceError::Malformed`] for anything but exactly the
    /// format above).
    pub fn decode(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let malformed = |what: &str| EvidenceError::Malformed(format!("secure-element: {what}"));
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("bad magic"))?;
        let mut rest = rest;
        let mut take_cert = || -> Result<Vec<u8>, EvidenceError> {
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
            rest = tail;
            Ok(cert.to_vec())
        };
        let device_certificate = take_cert()?;
        let signer_certificate = take_cert()?;
        let nonce_signature: [u8; 64] = rest
            .try_into()
            .map_err(|_| malformed("signature must be the last 64 bytes"))?;
        Ok(SecureElementEvidence {
            device_certificate,
            signer_certificate,
            nonce_signature,
        })
    }
}

/// One maker's root, tied to the approved maker it belongs to.
#[derive(Clone, Debug)]
struct MakerRoot {
    maker: DeviceId,
    name: String,
    der: Vec<u8>,
}

/// Verifies [`SecureElementEvidence`]: the device certificate's key is the device's key, the
/// device certificate is signed by the signer certificate (a CA), the signer certificate by a
/// configured maker root, all three valid now, neither leaf nor signer on the revocation
/// list, and the device key signed the registration's nonce. The verdict names the root's
/// maker, which the registry checks against the maker that onboards the device.
#[derive(Clone, Debug, Default)]
pub struct SecureElementVerifier {
    roots: Vec<MakerRoot>,
    revoked: HashSet<Vec<u8>>,
}

impl SecureElementVerifier {
    /// A verifier trusting no root yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `root_der` (a self-signed CA certificate) as the root of `maker`'s secure
    /// elements, shown as `name`. Refuses a root that does not parse, is not a CA or whose
    /// self-signature does not verify.
    pub fn with_maker_root(
        mut self,
        maker: DeviceId,
        name: impl Into<String>,
        root_der: &[u8],
    ) -> Result<Self, EvidenceError> {
        let root = parse_certificate(root_der, "root")?;
        if !is_ca(&root) {
            return Err(EvidenceError::Policy("root certificate is not a CA".into()));
        }
        check_issued_by(&root, &root, "root")?;
        self.roots.push(MakerRoot {
            maker,
            name: name.into(),
            der: root_der.to_vec(),
        });
        Ok(self)
    }

    /// Refuse certificates (signer or device) with this serial number (big-endian bytes as
    /// in the certificate).
    pub fn revoke_serial(mut self, serial: &[u8]) -> Self {
        self.revoked.insert(serial.to_vec());
        self
    }
}

impl EvidenceVerifier for SecureElementVerifier {
    fn kind(&self) -> &str {
        SECURE_ELEMENT_KIND
    }

    fn verify(
        &self,
        evidence: &[u8],
        request: &EvidenceRequest<'_>,
    ) -> Result<HardwareVerdict, EvidenceError> {
        if request.device.key_type() != KeyType::P256 {
            return Err(EvidenceError::UnsupportedKey);
        }
        let evidence = SecureElementEvidence::decode(evidence)?;
        let device = parse_certificate(&evidence.device_certificate, "device")?;
        let signer = parse_certificate(&evidence.signer_certificate, "signer")?;

        // the chain: a configured root, then the signer (a CA), then the device
        let mut named = false;
        let mut found = None;
        for entry in &self.roots {
            let Ok(root) = parse_certificate(&entry.der, "root") else {
                continue;
            };
            if root.subject().as_raw() != signer.issuer().as_raw() {
                continue;
            }
            named = true;
            // two makers' roots may share a name: the one whose key signed the signer counts
            if check_issued_by(&signer, &root, "signer").is_ok() {
                found = Some((entry, root));
                break;
            }
        }
        let (root_entry, root) = match found {
            Some(f) => f,
            None if named => return Err(EvidenceError::BadSignature("signer certificate".into())),
            None => return Err(EvidenceError::UntrustedRoot),
        };
        if !is_ca(&signer) {
            return Err(EvidenceError::Policy(
                "signer certificate is not a CA".into(),
            ));
        }
        check_issued_by(&device, &signer, "device")?;
        for (cert, what) in [(&root, "root"), (&signer, "signer"), (&device, "device")] {
            check_validity(cert, request.now_secs, what)?;
        }
        for (cert, what) in [(&signer, "signer"), (&device, "device")] {
            if self.revoked.contains(cert.raw_serial()) {
                return Err(EvidenceError::Revoked(format!("{what} certificate")));
            }
        }

        // the certified key is the device's key
        let key = request
            .device
            .public_key()
            .map_err(|_| EvidenceError::UnsupportedKey)?;
        let expected = key
            .to_uncompressed_sec1()
            .map_err(|_| EvidenceError::UnsupportedKey)?;
        if device.public_key().subject_public_key.data.as_ref() != expected.as_slice() {
            return Err(EvidenceError::WrongKey);
        }

        // and it answered this registration's nonce
        let signature = Signature::from_bytes(KeyType::P256, &evidence.nonce_signature)
            .map_err(|_| EvidenceError::Malformed("secure-element: nonce signature".into()))?;
        key.verify_prehash(request.nonce, &signature)
            .map_err(|_| EvidenceError::WrongNonce)?;

        Ok(HardwareVerdict {
            kind: SECURE_ELEMENT_KIND.into(),
            vendor: root_entry.name.clone(),
            maker: Some(root_entry.maker),
            security: SECURE_ELEMENT_KIND.into(),
        })
    }
}
