//! Deny lists of keys and of witness edges, updated only by a signed list with a
//! strictly increasing version.
//!
//! Wire format: `postcard(DenyList) || signature(64)`, the signature made by the
//! network's deny-list authority over `Domain::digest(MessageKind::DENY_LIST, body)`.

use depin_core::encoding;
use depin_core::{DeviceId, Domain, MessageKind, PublicKey, Signature, SigningKey};
use serde::{Deserialize, Serialize};

use crate::envelope::decode_signed;
use crate::error::{Error, Result};
use crate::reason::Rejection;

/// Size limit for a signed deny list: 4 MiB.
pub const MAX_DENY_LIST_LEN: usize = 4 << 20;

/// The content of a deny list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyList {
    /// Version; an update must carry a strictly greater one.
    pub version: u64,
    /// Keys whose attestations are all rejected.
    pub keys: Vec<DeviceId>,
    /// Witness edges that are rejected, in either direction: `(a, b)` denies `a`
    /// witnessing `b`'s beacons and `b` witnessing `a`'s.
    pub edges: Vec<(DeviceId, DeviceId)>,
}

impl DenyList {
    /// Encode and sign with the authority key; returns the wire bytes.
    pub fn sign(&self, domain: &Domain, authority: &SigningKey) -> Result<Vec<u8>> {
        let mut bytes = encoding::encode(self)?;
        let sig = domain.sign(authority, MessageKind::DENY_LIST, &bytes)?;
        bytes.extend_from_slice(&sig.to_bytes());
        Ok(bytes)
    }

    /// Decode and verify a signed list (size, decoding, then signature). Does not
    /// check the version.
    pub fn verify_signed(bytes: &[u8], domain: &Domain, authority: &PublicKey) -> Result<DenyList> {
        let (list, body, sig) =
            decode_signed::<DenyList>(bytes, MAX_DENY_LIST_LEN).map_err(Error::DenyList)?;
        let sig = Signature::from_bytes(authority.key_type(), &sig)
            .map_err(|_| Error::DenyList(Rejection::SignatureEncoding))?;
        domain
            .verify(authority, MessageKind::DENY_LIST, body, &sig)
            .map_err(|_| Error::DenyList(Rejection::BadSignature))?;
        Ok(list)
    }
}

/// The active deny list, indexed for lookups (read it with [`crate::Verifier::deny_state`]).
#[derive(Debug, Clone, Default)]
pub struct DenyState {
    pub(crate) version: Option<u64>,
    keys: crate::FastSet<DeviceId>,
    edges: crate::FastSet<(DeviceId, DeviceId)>,
}

impl DenyState {
    /// A list of `version` may replace the active one only if its version is greater.
    pub(crate) fn check_newer(&self, version: u64) -> Result<()> {
        if self.version.is_some_and(|v| version <= v) {
            return Err(Error::DenyList(Rejection::Replayed));
        }
        Ok(())
    }

    pub(crate) fn replace(&mut self, list: DenyList) -> Result<()> {
        self.check_newer(list.version)?;
        self.version = Some(list.version);
        self.keys = list.keys.into_iter().collect();
        self.edges = list
            .edges
            .into_iter()
            .map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
            .collect();
        Ok(())
    }

    /// The active list's version, if any.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Whether `id` is denied.
    pub fn key_denied(&self, id: &DeviceId) -> bool {
        !self.keys.is_empty() && self.keys.contains(id)
    }

    /// Whether the witness edge between `a` and `b` (either direction) is denied.
    pub fn edge_denied(&self, a: &DeviceId, b: &DeviceId) -> bool {
        if self.edges.is_empty() {
            return false;
        }
        let pair = if a <= b { (*a, *b) } else { (*b, *a) };
        self.edges.contains(&pair)
    }
}
