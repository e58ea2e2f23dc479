//! TPM 2.0: the device key certified by an attestation key (TPM2_Certify), a quote by that
//! attestation key over the registration's nonce and the platform's PCRs (TPM2_Quote), and
//! the attestation key's X.509 certificate chaining to a configured endorsement CA.
//!
//! The TPM structures (TPMS_ATTEST, TPM2B_PUBLIC, TPMT_SIGNATURE, from the TPM 2.0 Library
//! specification, Part 2 "Structures") are decoded by the `tpm2-protocol` crate; signatures
//! are ECDSA P-256 with SHA-256, checked by `p256`.

use std::collections::HashSet;

use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier, HardwareVerdict};
use depin_core::KeyType;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha256};
use tpm2_protocol::data::{
    Tpm2bPublic, TpmAlgId, TpmEccCurve, TpmSt, TpmaObject, TpmsAttest, TpmtPublic, TpmtSignature,
    TpmuAttest, TpmuPublicId, TpmuPublicParms, TpmuSignature,
};
use tpm2_protocol::TpmUnmarshal;

use super::{check_issued_by, check_validity, is_ca, parse_certificate};

/// The evidence kind [`TpmVerifier`] handles.
pub const TPM_KIND: &str = "tpm2";

/// First bytes of [`TpmEvidence::encode`].
const MAGIC: &[u8; 4] = b"DTP1";

/// Largest part accepted, bytes (certificates are about 500-1,500; TPM structures < 300).
const MAX_PART_LEN: usize = 4096;
/// Most certificates in the attestation key's chain (its own and intermediates).
const MAX_CHAIN: usize = 4;
/// PCRs of a TPM 2.0 platform (PC Client profile: 24).
const PCR_COUNT: u8 = 24;

/// TPM_ALG_SHA256, the name algorithm, as it prefixes a TPM name.
const SHA256_ALG: [u8; 2] = 0x000b_u16.to_be_bytes();

/// What a TPM-backed device (or its host) sends as evidence, each part as the TPM and
/// `tpm2-tools` produce it:
///
/// ```text
/// "DTP1"
/// u8 n (1..=4), then n × (u16 BE length || DER certificate):
///     the attestation key's certificate, then intermediates towards a configured CA
/// u16 BE length || endorsement key public area (TPM2B_PUBLIC; `tpm2_createek -u`)
/// u16 BE length || attestation key public area (TPM2B_PUBLIC; `tpm2_readpublic -f tss`)
/// u16 BE length || device key public area (TPM2B_PUBLIC; `tpm2_create -u`)
/// u16 BE length || certify attestation (TPMS_ATTEST; `tpm2_certify -o`)
/// u16 BE length || its signature (TPMT_SIGNATURE; `tpm2_certify -s`)
/// u16 BE length || quote attestation (TPMS_ATTEST; `tpm2_quote -m`)
/// u16 BE length || its signature (TPMT_SIGNATURE; `tpm2_quote -s`)
/// ```
///
/// The quote's qualifying data (`tpm2_quote -q`) is the registration's 32-byte evidence
/// nonce. The certify's qualifying data is not checked (`tpm2_certify` in tpm2-tools 5.4
/// cannot set it): the certification is a lasting fact about the key, and the quote by the
/// same attestation key shows that TPM answering now.
///
/// Every byte is covered by a signature or the certificate: the attestation key's point by
/// its certificate, and its whole public area (its attributes included) by the qualified
/// signer name the TPM writes into each attestation, `QN(AK) = H(QN(EK) || Name(AK))` with
/// `QN(EK) = H(TPM_RH_ENDORSEMENT || Name(EK))`, which the verifier recomputes from the two
/// public areas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmEvidence {
    /// The attestation key's certificate first, then any intermediates.
    pub ak_chain: Vec<Vec<u8>>,
    /// The endorsement key's TPM2B_PUBLIC (the attestation key's parent, a primary key of
    /// the endorsement hierarchy).
    pub ek_public: Vec<u8>,
    /// The attestation key's TPM2B_PUBLIC.
    pub ak_public: Vec<u8>,
    /// The device key's TPM2B_PUBLIC.
    pub device_public: Vec<u8>,
    /// TPMS_ATTEST of TPM2_Certify(device key, attestation key).
    pub certify: Vec<u8>,
    /// TPMT_SIGNATURE of the certification by the attestation key.
    pub certify_signature: Vec<u8>,
    /// TPMS_ATTEST of TPM2_Quote(attestation key, nonce, PCR selection).
    pub quote: Vec<u8>,
    /// TPMT_SIGNATURE of the quote by the attestation key.
    pub quote_signature: Vec<u8>,
}

impl TpmEvidence {
    /// The evidence bytes. Parts longer than 4,096 bytes, and chains of more than four
    /// certificates, are refused when decoded.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(u8::try_from(self.ak_chain.len()).unwrap_or(u8::MAX));
        let parts = self.ak_chain.iter().chain([
            &self.ek_public,
            &self.ak_public,
            &self.device_public,
            &self.certify,
            &self.certify_signature,
            &self.quote,
            &self.quote_signature,
        ]);
        for part in parts {
            let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&part[..usize::from(len).min(part.len())]);
        }
        out
    }

    /// Decode evidence bytes ([`EvidenceError::Malformed`] for anything but exactly the
    /// format above).
    pub fn decode(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("bad magic"))?;
        let (&n, mut rest) = rest
            .split_first()
            .ok_or_else(|| malformed("truncated chain length"))?;
        let n = usize::from(n);
        if n == 0 || n > MAX_CHAIN {
            return Err(malformed("chain length"));
        }
        let mut take = |what: &str| -> Result<Vec<u8>, EvidenceError> {
            let (len, tail) = rest
                .split_first_chunk::<2>()
                .ok_or_else(|| malformed(&format!("truncated {what} length")))?;
            let len = usize::from(u16::from_be_bytes(*len));
            if len == 0 || len > MAX_PART_LEN {
                return Err(malformed(&format!("{what} length")));
            }
            let (part, tail) = tail
                .split_at_checked(len)
                .ok_or_else(|| malformed(&format!("truncated {what}")))?;
            rest = tail;
            Ok(part.to_vec())
        };
        let mut ak_chain = Vec::with_capacity(n);
        for _ in 0..n {
            ak_chain.push(take("certificate")?);
        }
        let evidence = TpmEvidence {
            ak_chain,
            ek_public: take("endorsement key public area")?,
            ak_public: take("attestation key public area")?,
            device_public: take("device key public area")?,
            certify: take("certification")?,
            certify_signature: take("certification signature")?,
            quote: take("quote")?,
            quote_signature: take("quote signature")?,
        };
        if !rest.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        Ok(evidence)
    }
}

fn malformed(what: &str) -> EvidenceError {
    EvidenceError::Malformed(format!("tpm2: {what}"))
}

/// One accepted PCR state: the SHA-256 bank's values of the selected PCRs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PcrState {
    /// TPMS_PCR_SELECTION bitmap (3 bytes: byte i bit j is PCR 8i+j).
    bitmap: [u8; 3],
    /// SHA-256 over the selected PCR values in index order: the quote's pcrDigest.
    digest: [u8; 32],
}

/// A configured endorsement CA: a trust anchor for attestation-key certificates.
#[derive(Clone, Debug)]
struct Anchor {
    name: String,
    der: Vec<u8>,
}

/// Verifies [`TpmEvidence`] for a P-256 device key, failing closed, in this order:
///
/// 1. the attestation key's certificate chains (through any intermediates, each a CA) to a
///    configured endorsement CA; every certificate is valid now and none is revoked;
/// 2. the attestation key's public area is an ECC P-256 ECDSA key that is **restricted**,
///    signing, fixedTPM, fixedParent and sensitiveDataOrigin (a restricted key refuses to
///    sign outside data that starts like a TPM attestation, which is what makes a TPMS_ATTEST
///    mean anything), and its point is the certificate's key;
/// 3. the certification and the quote each carry an ECDSA-SHA256 signature by that key,
///    decode exactly as TPMS_ATTEST (magic `TPM_GENERATED_VALUE`, no trailing bytes), and
///    name as signer the qualified name of the presented attestation key under the
///    presented endorsement key;
/// 4. the certification is of type TPM_ST_ATTEST_CERTIFY and names the presented device
///    public area (`0x000b || SHA-256(TPMT_PUBLIC)`), which is an ECC P-256 signing key with
///    fixedTPM, fixedParent and sensitiveDataOrigin, not restricted, whose point is the
///    device's key ([`EvidenceError::WrongKey`] otherwise);
/// 5. the quote is of type TPM_ST_ATTEST_QUOTE, its qualifying data is the request's nonce
///    ([`EvidenceError::WrongNonce`] otherwise), and its PCR selection and digest are one
///    of the configured PCR states ([`EvidenceError::Policy`] otherwise).
///
/// The verdict names the CA's configured name as vendor and no maker.
///
/// What the CA vouches for: that the certified key is a restricted attestation key of a
/// genuine TPM (a privacy CA checks this with TPM2_MakeCredential/ActivateCredential against
/// the key's name and the TPM's endorsement key before issuing; a manufacturer's IAK
/// certificate says it by construction). The verifier checks that the presented public area
/// is that key and says restricted, but it cannot tell a certificate wrongly issued for an
/// unrestricted key whose owner also forged the public area: configure only CAs that do
/// that check.
#[derive(Clone, Debug, Default)]
pub struct TpmVerifier {
    anchors: Vec<Anchor>,
    pcr_states: Vec<PcrState>,
    any_pcr_state: bool,
    revoked: HashSet<Vec<u8>>,
}

impl TpmVerifier {
    /// A verifier trusting no CA and accepting no PCR state yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `ca_der` (a CA certificate: a TPM manufacturer's or a privacy CA's) as an
    /// endorsement CA for attestation-key certificates, shown as `name`. Refuses a
    /// certificate that does not parse or is not a CA, and a self-issued one whose
    /// self-signature does not verify.
    pub fn with_endorsement_ca(
        mut self,
        name: impl Into<String>,
        ca_der: &[u8],
    ) -> Result<Self, EvidenceError> {
        let ca = parse_certificate(ca_der, "endorsement CA")?;
        if !is_ca(&ca) {
            return Err(EvidenceError::Policy(
                "endorsement CA certificate is not a CA".into(),
            ));
        }
        if ca.subject().as_raw() == ca.issuer().as_raw() {
            check_issued_by(&ca, &ca, "endorsement CA")?;
        }
        self.anchors.push(Anchor {
            name: name.into(),
            der: ca_der.to_vec(),
        });
        Ok(self)
    }

    /// Accept quotes whose SHA-256 bank selection is exactly `pcrs` (ascending PCR indices
    /// below 24, at least one) with these `values` (one 32-byte value per PCR, in the same
    /// order): for example the measurements of an approved firmware. Call it once per
    /// accepted state. Refuses unsorted, repeated or out-of-range indices and a count
    /// mismatch with [`EvidenceError::Policy`].
    pub fn allow_pcr_state(
        mut self,
        pcrs: &[u8],
        values: &[[u8; 32]],
    ) -> Result<Self, EvidenceError> {
        if pcrs.is_empty() || pcrs.len() != values.len() {
            return Err(EvidenceError::Policy(
                "a PCR state needs one value per selected PCR".into(),
            ));
        }
        if pcrs.windows(2).any(|w| w[0] >= w[1]) || pcrs.iter().any(|&p| p >= PCR_COUNT) {
            return Err(EvidenceError::Policy(
                "PCR indices must ascend, without repeats, below 24".into(),
            ));
        }
        let mut bitmap = [0u8; 3];
        for &p in pcrs {
            bitmap[usize::from(p / 8)] |= 1 << (p % 8);
        }
        let mut h = Sha256::new();
        for v in values {
            h.update(v);
        }
        self.pcr_states.push(PcrState {
            bitmap,
            digest: h.finalize().into(),
        });
        Ok(self)
    }

    /// Accept any PCR state (the quote then proves freshness and the TPM only, not what
    /// booted). Without this or [`TpmVerifier::allow_pcr_state`] every quote is refused.
    pub fn allow_any_pcr_state(mut self) -> Self {
        self.any_pcr_state = true;
        self
    }

    /// Refuse certificates in the attestation key's chain with this serial number
    /// (big-endian bytes as in the certificate).
    pub fn revoke_serial(mut self, serial: &[u8]) -> Self {
        self.revoked.insert(serial.to_vec());
        self
    }

    /// The attestation key's chain ends at a configured CA: the CA's name and the attestation
    /// key's certified P-256 point (uncompressed SEC1).
    fn check_chain(
        &self,
        chain: &[Vec<u8>],
        now_secs: u64,
    ) -> Result<(String, Vec<u8>), EvidenceError> {
        let mut certs = Vec::with_capacity(chain.len());
        for (i, der) in chain.iter().enumerate() {
            let what = if i == 0 {
                "attestation key"
            } else {
                "intermediate"
            };
            certs.push(parse_certificate(der, what)?);
        }
        let (ak, _) = certs
            .split_first()
            .ok_or_else(|| malformed("empty chain"))?;
        for pair in certs.windows(2) {
            if !is_ca(&pair[1]) {
                return Err(EvidenceError::Policy(
                    "intermediate certificate is not a CA".into(),
                ));
            }
            check_issued_by(&pair[0], &pair[1], "chain")?;
        }
        let top = certs.last().ok_or_else(|| malformed("empty chain"))?;
        let mut named = false;
        let mut found = None;
        for anchor in &self.anchors {
            let Ok(ca) = parse_certificate(&anchor.der, "endorsement CA") else {
                continue;
            };
            if ca.subject().as_raw() != top.issuer().as_raw() {
                continue;
            }
            named = true;
            if check_issued_by(top, &ca, "chain").is_ok() {
                found = Some((anchor, ca));
                break;
            }
        }
        let (anchor, ca) = match found {
            Some(f) => f,
            None if named => return Err(EvidenceError::BadSignature("chain certificate".into())),
            None => return Err(EvidenceError::UntrustedRoot),
        };
        check_validity(&ca, now_secs, "endorsement CA")?;
        for (i, cert) in certs.iter().enumerate() {
            let what = if i == 0 {
                "attestation key"
            } else {
                "intermediate"
            };
            check_validity(cert, now_secs, what)?;
            if self.revoked.contains(cert.raw_serial()) {
                return Err(EvidenceError::Revoked(format!("{what} certificate")));
            }
        }
        Ok((
            anchor.name.clone(),
            ak.public_key().subject_public_key.data.to_vec(),
        ))
    }

    fn check_pcrs(&self, quote: &TpmsAttest) -> Result<(), EvidenceError> {
        let TpmuAttest::Quote(info) = &quote.attested else {
            return Err(malformed("quote does not carry quote information"));
        };
        if self.any_pcr_state {
            return Ok(());
        }
        let [bank] = &info.pcr_select[..] else {
            return Err(EvidenceError::Policy(
                "quote must select exactly one PCR bank (SHA-256)".into(),
            ));
        };
        if bank.hash != TpmAlgId::Sha256 {
            return Err(EvidenceError::Policy(
                "quote must select the SHA-256 PCR bank".into(),
            ));
        }
        let mut bitmap = [0u8; 3];
        let selected: &[u8] = &bank.pcr_select;
        if selected.len() > bitmap.len() {
            return Err(EvidenceError::Policy("PCR selection above PCR 23".into()));
        }
        bitmap[..selected.len()].copy_from_slice(selected);
        let digest: &[u8] = &info.pcr_digest;
        if self
            .pcr_states
            .iter()
            .any(|s| s.bitmap == bitmap && s.digest.as_slice() == digest)
        {
            Ok(())
        } else {
            Err(EvidenceError::Policy(
                "quoted PCR state is not an accepted one".into(),
            ))
        }
    }
}

/// Decode exactly one `T` from `bytes` (no trailing bytes).
fn exact<T: TpmUnmarshal>(bytes: &[u8], what: &str) -> Result<T, EvidenceError> {
    match T::unmarshal(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(malformed(&format!("{what}: trailing bytes"))),
        Err(e) => Err(malformed(&format!("{what}: {e:?}"))),
    }
}

/// A decoded TPM2B_PUBLIC and the TPM name of its TPMT_PUBLIC (`nameAlg || H(TPMT_PUBLIC)`,
/// computed over the received bytes, not a re-encoding).
fn public_area(bytes: &[u8], what: &str) -> Result<(TpmtPublic, Vec<u8>), EvidenceError> {
    let public = exact::<Tpm2bPublic>(bytes, what)?.inner;
    if public.name_alg != TpmAlgId::Sha256 {
        return Err(EvidenceError::Policy(format!(
            "{what}: name algorithm is not SHA-256"
        )));
    }
    let tpmt = bytes.get(2..).ok_or_else(|| malformed(what))?;
    let mut name = SHA256_ALG.to_vec();
    name.extend_from_slice(&Sha256::digest(tpmt));
    Ok((public, name))
}

/// TPM_RH_ENDORSEMENT, the endorsement hierarchy's handle: its qualified name.
const ENDORSEMENT_HIERARCHY: u32 = 0x4000_000b;

/// The qualified name of an object named `name` under a parent whose qualified name is
/// `parent` (TPM 2.0 Library Part 1, "Qualified Name"): `nameAlg || H(parent || name)`.
fn qualified_name(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(parent);
    h.update(name);
    let mut out = SHA256_ALG.to_vec();
    out.extend_from_slice(&h.finalize());
    out
}

/// The uncompressed SEC1 point of an ECC NIST P-256 public area.
fn p256_point(public: &TpmtPublic, what: &str) -> Result<[u8; 65], EvidenceError> {
    let (TpmuPublicParms::Ecc(parms), TpmuPublicId::Ecc(point)) =
        (&public.parameters, &public.unique)
    else {
        return Err(EvidenceError::Policy(format!("{what}: not an ECC key")));
    };
    if public.object_type != TpmAlgId::Ecc || parms.curve_id != TpmEccCurve::NistP256 {
        return Err(EvidenceError::Policy(format!("{what}: not a P-256 key")));
    }
    let mut out = [0u8; 65];
    out[0] = 0x04;
    for (coordinate, at) in [(&point.x[..], 1), (&point.y[..], 33)] {
        let pad = 32usize
            .checked_sub(coordinate.len())
            .ok_or_else(|| malformed(&format!("{what}: coordinate longer than 32 bytes")))?;
        out[at + pad..at + 32].copy_from_slice(coordinate);
    }
    Ok(out)
}

/// The uncompressed SEC1 point (`0x04 || x || y`) of a TPM2B_PUBLIC holding an ECC NIST
/// P-256 key (as `tpm2_readpublic -f tss` or `tpm2_create -u` write it): what a CA needs to
/// issue an attestation key's certificate, or a host to learn a TPM-held device key.
pub fn tpm_public_point(tpm2b_public: &[u8]) -> Result<[u8; 65], EvidenceError> {
    let (public, _) = public_area(tpm2b_public, "public area")?;
    p256_point(&public, "public area")
}

/// `attest` decodes as a TPMS_ATTEST of type `kind`, signed by `key` with ECDSA-SHA256 in
/// `signature` (a TPMT_SIGNATURE). The signature is checked before any field is trusted.
fn signed_attest(
    attest: &[u8],
    signature: &[u8],
    key: &p256::ecdsa::VerifyingKey,
    kind: TpmSt,
    what: &str,
) -> Result<TpmsAttest, EvidenceError> {
    let signature = exact::<TpmtSignature>(signature, what)?;
    let TpmuSignature::Ecdsa(ecc) = &signature.signature else {
        return Err(EvidenceError::Policy(format!(
            "{what}: not an ECDSA signature"
        )));
    };
    if signature.sig_alg != TpmAlgId::Ecdsa || ecc.hash != TpmAlgId::Sha256 {
        return Err(EvidenceError::Policy(format!(
            "{what}: not an ECDSA-SHA256 signature"
        )));
    }
    let scalar = |part: &[u8]| -> Result<[u8; 32], EvidenceError> {
        let pad = 32usize
            .checked_sub(part.len())
            .ok_or_else(|| malformed(&format!("{what}: signature scalar longer than 32 bytes")))?;
        let mut out = [0u8; 32];
        out[pad..].copy_from_slice(part);
        Ok(out)
    };
    // a TPM's ECDSA signatures are not normalised to low S: both halves verify
    let sig =
        p256::ecdsa::Signature::from_scalars(scalar(&ecc.signature_r)?, scalar(&ecc.signature_s)?)
            .map_err(|_| EvidenceError::BadSignature(format!("{what}: signature out of range")))?;
    key.verify_prehash(&Sha256::digest(attest), &sig)
        .map_err(|_| EvidenceError::BadSignature(what.into()))?;
    let decoded = exact::<TpmsAttest>(attest, what)?;
    if decoded.attest_type != kind {
        return Err(malformed(&format!("{what}: wrong attestation type")));
    }
    Ok(decoded)
}

impl EvidenceVerifier for TpmVerifier {
    fn kind(&self) -> &str {
        TPM_KIND
    }

    fn verify(
        &self,
        evidence: &[u8],
        request: &EvidenceRequest<'_>,
    ) -> Result<HardwareVerdict, EvidenceError> {
        if request.device.key_type() != KeyType::P256 {
            return Err(EvidenceError::UnsupportedKey);
        }
        let evidence = TpmEvidence::decode(evidence)?;

        // 1. the attestation key's certificate chains to a configured endorsement CA
        let (vendor, certified_ak) = self.check_chain(&evidence.ak_chain, request.now_secs)?;

        // 2. the attestation key is a restricted signing key held by the TPM, and certified
        let (ak, ak_name) = public_area(&evidence.ak_public, "attestation key")?;
        let required = TpmaObject::RESTRICTED
            | TpmaObject::SIGN_ENCRYPT
            | TpmaObject::FIXED_TPM
            | TpmaObject::FIXED_PARENT
            | TpmaObject::SENSITIVE_DATA_ORIGIN;
        if !ak.object_attributes.contains(required)
            || ak.object_attributes.contains(TpmaObject::DECRYPT)
        {
            return Err(EvidenceError::Policy(
                "attestation key must be a restricted signing key created in and fixed to the TPM"
                    .into(),
            ));
        }
        let ak_point = p256_point(&ak, "attestation key")?;
        if certified_ak.as_slice() != ak_point.as_slice() {
            return Err(EvidenceError::Policy(
                "attestation key is not the certified key".into(),
            ));
        }
        let ak_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&ak_point)
            .map_err(|_| malformed("attestation key: not a point on P-256"))?;

        // 3. both attestations are signed by it
        let certify = signed_attest(
            &evidence.certify,
            &evidence.certify_signature,
            &ak_key,
            TpmSt::AttestCertify,
            "certification",
        )?;
        let quote = signed_attest(
            &evidence.quote,
            &evidence.quote_signature,
            &ak_key,
            TpmSt::AttestQuote,
            "quote",
        )?;
        // ... under the presented public area: the qualified name the TPM wrote is the one of
        // this attestation key under this endorsement key
        let (_, ek_name) = public_area(&evidence.ek_public, "endorsement key")?;
        let ek_qualified = qualified_name(&ENDORSEMENT_HIERARCHY.to_be_bytes(), &ek_name);
        let ak_qualified = qualified_name(&ek_qualified, &ak_name);
        for (attest, what) in [(&certify, "certification"), (&quote, "quote")] {
            if &attest.qualified_signer[..] != ak_qualified.as_slice() {
                return Err(EvidenceError::Policy(format!(
                    "{what} is not signed by the presented attestation key under the presented endorsement key"
                )));
            }
        }

        // 4. the certification is of the device's key, held by the TPM
        let TpmuAttest::Certify(info) = &certify.attested else {
            return Err(malformed(
                "certification does not carry certify information",
            ));
        };
        let (device, name) = public_area(&evidence.device_public, "device key")?;
        if &info.name[..] != name.as_slice() {
            return Err(EvidenceError::WrongKey);
        }
        let held = TpmaObject::SIGN_ENCRYPT
            | TpmaObject::FIXED_TPM
            | TpmaObject::FIXED_PARENT
            | TpmaObject::SENSITIVE_DATA_ORIGIN;
        if !device.object_attributes.contains(held)
            || device.object_attributes.contains(TpmaObject::RESTRICTED)
        {
            return Err(EvidenceError::Policy(
                "device key must be an unrestricted signing key created in and fixed to the TPM"
                    .into(),
            ));
        }
        let device_point = p256_point(&device, "device key")?;
        let expected = request
            .device
            .public_key()
            .and_then(|k| k.to_uncompressed_sec1())
            .map_err(|_| EvidenceError::UnsupportedKey)?;
        if device_point != expected {
            return Err(EvidenceError::WrongKey);
        }

        // 5. the quote answers this registration's nonce, from an accepted PCR state
        if &quote.extra_data[..] != request.nonce.as_slice() {
            return Err(EvidenceError::WrongNonce);
        }
        self.check_pcrs(&quote)?;

        Ok(HardwareVerdict {
            kind: TPM_KIND.into(),
            vendor,
            maker: None,
            security: TPM_KIND.into(),
        })
    }
}
