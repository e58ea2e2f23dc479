//! Ledger entries and their binary encoding (one entry per log record).
//!
//! ```text
//! entry   = tag (u8) || fields
//! 0 Genesis   network (str) || admin (account) || oracle (account) || claim format
//!             || ledger id (32 bytes, unique per ledger, drawn at creation)
//! 1 Register  device (bytes) || owner (account) || metadata (bytes) || deadline (u64) || by (account)
//!             (no device consent recorded: written by earlier builds, read back as `consent: None`)
//! 2 Revoke    device (bytes) || by (account)
//! 3 Publish   epoch (u64) || root (32) || total (u128) || by (account)
//!             (no publication time: written by earlier builds, read back as `published_at: None`)
//! 4 Claim     account || cumulative (u128) || paid (u128) || by (account)
//! 5 Fund      amount (u128) || by (account)
//! 6 Note      bytes (an opaque application entry; the crash test writes these)
//! 7 Register  device (bytes) || owner (account) || metadata (bytes) || deadline (u64)
//!             || nonce (u64) || signature (64 bytes) || by (account)
//!             (with the device's consent: what the ledger writes now)
//! 8 Publish   epoch (u64) || root (32) || total (u128) || published at (u64, unix seconds)
//!             || by (account)   (with the publication time: what the ledger writes now)
//! 9 CancelNonce device (bytes) || nonce (u64) || deadline (u64) || signature (64 bytes)
//!             || by (account)
//! 10 ApproveMaker maker (bytes, its did:key id) || name (str) || quota (u64) || by (account)
//! 11 RevokeMaker  maker (bytes) || suspend devices (u8: 0 or 1) || by (account)
//! 12 SetOnboarding  0x00 open | 0x01 makers only || by (account)
//! 13 Onboard  device (bytes) || owner (account) || metadata (bytes) || deadline (u64)
//!             || nonce (u64) || device signature (64 bytes) || maker (bytes)
//!             || maker signature (64 bytes, of the maker's key type) || trust (u8)
//!             || hardware (0x00 | 0x01 || kind (str) || evidence hash (32)) || by (account)
//! 14 ScheduleOracles  n (u8, 1..=64) || n × oracle (bytes) || threshold (u8)
//!             || effective at (u64, unix seconds) || by (account)
//! 15 PublishQuorum  epoch (u64) || root (32) || total (u128) || published at (u64)
//!             || n (u8, 1..=64) || n × (oracle (bytes) || signature (64 bytes)) || by (account)
//! str, bytes = u32 big-endian length || bytes;  u64, u128 big-endian;
//! account    = 0x00 || 20 bytes  |  0x01 || u8 length || bech32 bytes
//! signature  = the 64 bytes of a depin-core signature (R || S, or r || s) of the device's key
//!              type (strict encoding: low S, canonical R)
//! claim format = 0x00 OpenZeppelin | 0x01 cw20-merkle-airdrop
//!              | 0x02 || chain id (u64) || distributor (20 bytes)   (OpenZeppelin, bound)
//! ```
//!
//! Each variant has one encoding: [`Entry::Register`] is tag 7 with a [`DeviceConsent`] and
//! tag 1 without, [`Entry::Publish`] tag 8 with a publication time and tag 3 without. Files
//! written before tags 7 to 9 existed (same format version, `DPNLOG02`) read back unchanged.
//!
//! The decoder never panics: every read is bounds-checked, trailing bytes are an error.
//! Cosmos accounts must be valid bech32 (20- or 32-byte payload, at most
//! [`crate::types::MAX_COSMOS_ADDRESS_LEN`] characters) in canonical lower case; the ledger
//! validates and canonicalises every account before it writes an entry, so whatever it
//! acknowledged decodes to the identical value.

use depin_core::{DeviceId, EvmAddress, Signature};

use crate::error::{Error, Result};
use crate::makers::{HardwareRecord, Onboarding, TrustLevel};
use crate::types::{Account, ClaimFormat};

/// A device's signed consent to one registration, kept in the [`Entry::Register`] entry so
/// that the ledger file alone proves every registered device agreed to its owner.
///
/// To audit an entry: rebuild the [`crate::DeviceRegistration`] from the entry's device,
/// owner, metadata and deadline, and verify `signature` with the device's public key under the
/// ledger's signing domain ([`super::LocalLedger::domain`]) with
/// [`depin_core::MessageKind::DEVICE_REGISTRATION`] over
/// [`crate::DeviceRegistration::ledger_signing_message`]`(BackendKind::Local, ledger id,
/// nonce)`. On replay the ledger checks that `nonce` is the device's nonce at that point of
/// the log ([`crate::Error::Corrupt`] otherwise); it does not re-verify signatures on open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceConsent {
    /// The registration nonce the device signed for: its nonce when the entry was written.
    pub nonce: u64,
    /// The device's signature over the registration message (see above).
    pub signature: Signature,
}

/// A device onboarded through a maker (tag 13), already verified when it was written: the
/// device's own consent (as in [`Entry::Register`]) and the maker's attestation over
/// [`crate::DeviceRegistration::onboarding_message`] for the same nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarded {
    /// The device.
    pub device: DeviceId,
    /// Its owner.
    pub owner: Account,
    /// Metadata bytes.
    pub metadata: Vec<u8>,
    /// The signed deadline.
    pub deadline: u64,
    /// The device's nonce and signature.
    pub consent: DeviceConsent,
    /// The maker.
    pub maker: DeviceId,
    /// The maker's signature.
    pub maker_signature: Signature,
    /// The trust level the device joined with ([`TrustLevel::Maker`] or
    /// [`TrustLevel::Hardware`]).
    pub trust: TrustLevel,
    /// The hardware evidence accepted, if any.
    pub hardware: Option<HardwareRecord>,
    /// Who submitted it.
    pub by: Account,
}

/// One committed ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// The first entry of every ledger: who may do what.
    Genesis {
        /// Network id of the registration signing domain.
        network: String,
        /// Network admin.
        admin: Account,
        /// Root publisher.
        oracle: Account,
        /// Claim tree format.
        claim_format: ClaimFormat,
        /// The ledger's unique id, drawn when the file was created. Registration proofs are
        /// bound to it ([`crate::DeviceRegistration::ledger_signing_message`]).
        ledger_id: [u8; 32],
    },
    /// A device registration (already verified when it was written).
    Register {
        /// The device.
        device: DeviceId,
        /// Its owner.
        owner: Account,
        /// Metadata bytes.
        metadata: Vec<u8>,
        /// The signed deadline.
        deadline: u64,
        /// The nonce and signature the device registered with. Every registration the ledger
        /// writes records it (tag 7); `None` only for entries written by earlier builds
        /// (tag 1).
        consent: Option<DeviceConsent>,
        /// Who submitted it.
        by: Account,
    },
    /// A revocation.
    Revoke {
        /// The device.
        device: DeviceId,
        /// Who revoked it.
        by: Account,
    },
    /// A published epoch root.
    Publish {
        /// The epoch number.
        epoch: u64,
        /// The root.
        root: [u8; 32],
        /// The epoch total: the most that may have been claimed in total while this root is
        /// the latest.
        total: u128,
        /// When the root was published (unix seconds, the ledger's clock): the claim grace
        /// period for the previous root runs from here. Every root the ledger writes records
        /// it (tag 8); `None` only for entries written by earlier builds (tag 3), after which
        /// the previous root is not claimable.
        published_at: Option<u64>,
        /// The oracle.
        by: Account,
    },
    /// A paid claim.
    Claim {
        /// The account paid.
        account: Account,
        /// Its new cumulative claimed total.
        cumulative: u128,
        /// The amount paid by this claim.
        paid: u128,
        /// Who submitted it.
        by: Account,
    },
    /// Tokens added to the distributor pool.
    Fund {
        /// Amount added.
        amount: u128,
        /// Who added it.
        by: Account,
    },
    /// An opaque application note (no effect on ledger state).
    Note(Vec<u8>),
    /// The device cancelled its registration nonce `nonce`: the device's nonce moves to
    /// `nonce + 1`, so no registration proof signed for `nonce` can be used any more
    /// (the registry's `useNonce`). Already verified when it was written; see
    /// [`super::nonce_cancellation_message`] for the signed bytes.
    CancelNonce {
        /// The device.
        device: DeviceId,
        /// The cancelled nonce (the device's nonce when the entry was written).
        nonce: u64,
        /// The signed deadline.
        deadline: u64,
        /// The device's signature over the cancellation message.
        signature: Signature,
        /// Who submitted it.
        by: Account,
    },
    /// The admin approved a maker.
    ApproveMaker {
        /// The maker's key.
        maker: DeviceId,
        /// Its name.
        name: String,
        /// Its onboarding quota.
        quota: u64,
        /// The admin.
        by: Account,
    },
    /// The admin revoked a maker.
    RevokeMaker {
        /// The maker's key.
        maker: DeviceId,
        /// Whether its devices are suspended.
        suspend_devices: bool,
        /// The admin.
        by: Account,
    },
    /// The admin chose who may join.
    SetOnboarding {
        /// The rule.
        onboarding: Onboarding,
        /// The admin.
        by: Account,
    },
    /// A device onboarded through a maker.
    Onboard(Box<Onboarded>),
    /// The admin scheduled the oracle set whose quorum publishes roots from `effective_at`
    /// on (already checked when it was written: a strict majority, a delay).
    ScheduleOracles {
        /// The oracles (distinct, in key order).
        oracles: Vec<DeviceId>,
        /// How many must sign a root.
        threshold: u8,
        /// From when (unix seconds, ledger clock).
        effective_at: u64,
        /// The admin.
        by: Account,
    },
    /// A root published with the signatures of a quorum of the oracle set in effect.
    PublishQuorum(Box<QuorumPublication>),
}

/// A root published by a quorum ([`Entry::PublishQuorum`]); the signatures were verified
/// when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumPublication {
    /// The epoch number.
    pub epoch: u64,
    /// The root.
    pub root: [u8; 32],
    /// The epoch total.
    pub total: u128,
    /// When it was published (unix seconds, the ledger's clock).
    pub published_at: u64,
    /// The signing oracles and their signatures over the root statement, in key order.
    pub signatures: Vec<(DeviceId, Signature)>,
    /// Who submitted it.
    pub by: Account,
}

fn put_claim_format(out: &mut Vec<u8>, f: ClaimFormat) {
    match f {
        ClaimFormat::OpenZeppelin => out.push(0),
        ClaimFormat::Cw20MerkleAirdrop => out.push(1),
        ClaimFormat::OpenZeppelinBound {
            chain_id,
            distributor,
        } => {
            out.push(2);
            out.extend_from_slice(&chain_id.to_be_bytes());
            out.extend_from_slice(&distributor);
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_device(out: &mut Vec<u8>, d: &DeviceId) {
    let (buf, len) = d.to_bytes();
    put_bytes(out, &buf[..len]);
}

fn put_signature(out: &mut Vec<u8>, s: &Signature) {
    out.extend_from_slice(&s.to_bytes());
}

impl Entry {
    /// Encode the entry.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        match self {
            Entry::Genesis {
                network,
                admin,
                oracle,
                claim_format,
                ledger_id,
            } => {
                out.push(0);
                put_bytes(&mut out, network.as_bytes());
                admin.encode_into(&mut out);
                oracle.encode_into(&mut out);
                put_claim_format(&mut out, *claim_format);
                out.extend_from_slice(ledger_id);
            }
            Entry::Register {
                device,
                owner,
                metadata,
                deadline,
                consent,
                by,
            } => {
                out.push(if consent.is_some() { 7 } else { 1 });
                put_device(&mut out, device);
                owner.encode_into(&mut out);
                put_bytes(&mut out, metadata);
                out.extend_from_slice(&deadline.to_be_bytes());
                if let Some(c) = consent {
                    out.extend_from_slice(&c.nonce.to_be_bytes());
                    put_signature(&mut out, &c.signature);
                }
                by.encode_into(&mut out);
            }
            Entry::Revoke { device, by } => {
                out.push(2);
                put_device(&mut out, device);
                by.encode_into(&mut out);
            }
            Entry::Publish {
                epoch,
                root,
                total,
                published_at,
                by,
            } => {
                out.push(if published_at.is_some() { 8 } else { 3 });
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(root);
                out.extend_from_slice(&total.to_be_bytes());
                if let Some(t) = published_at {
                    out.extend_from_slice(&t.to_be_bytes());
                }
                by.encode_into(&mut out);
            }
            Entry::Claim {
                account,
                cumulative,
                paid,
                by,
            } => {
                out.push(4);
                account.encode_into(&mut out);
                out.extend_from_slice(&cumulative.to_be_bytes());
                out.extend_from_slice(&paid.to_be_bytes());
                by.encode_into(&mut out);
            }
            Entry::Fund { amount, by } => {
                out.push(5);
                out.extend_from_slice(&amount.to_be_bytes());
                by.encode_into(&mut out);
            }
            Entry::Note(bytes) => {
                out.push(6);
                put_bytes(&mut out, bytes);
            }
            Entry::CancelNonce {
                device,
                nonce,
                deadline,
                signature,
                by,
            } => {
                out.push(9);
                put_device(&mut out, device);
                out.extend_from_slice(&nonce.to_be_bytes());
                out.extend_from_slice(&deadline.to_be_bytes());
                put_signature(&mut out, signature);
                by.encode_into(&mut out);
            }
            Entry::ApproveMaker {
                maker,
                name,
                quota,
                by,
            } => {
                out.push(10);
                put_device(&mut out, maker);
                put_bytes(&mut out, name.as_bytes());
                out.extend_from_slice(&quota.to_be_bytes());
                by.encode_into(&mut out);
            }
            Entry::RevokeMaker {
                maker,
                suspend_devices,
                by,
            } => {
                out.push(11);
                put_device(&mut out, maker);
                out.push(u8::from(*suspend_devices));
                by.encode_into(&mut out);
            }
            Entry::SetOnboarding { onboarding, by } => {
                out.push(12);
                out.push(match onboarding {
                    Onboarding::Open => 0,
                    Onboarding::MakersOnly => 1,
                });
                by.encode_into(&mut out);
            }
            Entry::Onboard(o) => {
                out.push(13);
                put_device(&mut out, &o.device);
                o.owner.encode_into(&mut out);
                put_bytes(&mut out, &o.metadata);
                out.extend_from_slice(&o.deadline.to_be_bytes());
                out.extend_from_slice(&o.consent.nonce.to_be_bytes());
                put_signature(&mut out, &o.consent.signature);
                put_device(&mut out, &o.maker);
                put_signature(&mut out, &o.maker_signature);
                out.push(o.trust.tag());
                match &o.hardware {
                    None => out.push(0),
                    Some(h) => {
                        out.push(1);
                        put_bytes(&mut out, h.kind.as_bytes());
                        out.extend_from_slice(&h.evidence_hash);
                    }
                }
                o.by.encode_into(&mut out);
            }
            Entry::ScheduleOracles {
                oracles,
                threshold,
                effective_at,
                by,
            } => {
                out.push(14);
                out.push(u8::try_from(oracles.len()).unwrap_or(u8::MAX));
                for o in oracles.iter().take(usize::from(u8::MAX)) {
                    put_device(&mut out, o);
                }
                out.push(*threshold);
                out.extend_from_slice(&effective_at.to_be_bytes());
                by.encode_into(&mut out);
            }
            Entry::PublishQuorum(q) => {
                out.push(15);
                out.extend_from_slice(&q.epoch.to_be_bytes());
                out.extend_from_slice(&q.root);
                out.extend_from_slice(&q.total.to_be_bytes());
                out.extend_from_slice(&q.published_at.to_be_bytes());
                out.push(u8::try_from(q.signatures.len()).unwrap_or(u8::MAX));
                for (o, sig) in q.signatures.iter().take(usize::from(u8::MAX)) {
                    put_device(&mut out, o);
                    put_signature(&mut out, sig);
                }
                q.by.encode_into(&mut out);
            }
        }
        out
    }

    /// Decode an entry that must use all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Entry> {
        let mut r = Reader { bytes, pos: 0 };
        let entry = match r.u8()? {
            0 => Entry::Genesis {
                network: r.string()?,
                admin: r.account()?,
                oracle: r.account()?,
                claim_format: r.claim_format()?,
                ledger_id: r.array::<32>()?,
            },
            tag @ (1 | 7) => {
                let device = r.device()?;
                let owner = r.account()?;
                let metadata = r.bytes()?.to_vec();
                let deadline = r.u64()?;
                let consent = if tag == 7 {
                    Some(DeviceConsent {
                        nonce: r.u64()?,
                        signature: r.signature(&device)?,
                    })
                } else {
                    None
                };
                Entry::Register {
                    device,
                    owner,
                    metadata,
                    deadline,
                    consent,
                    by: r.account()?,
                }
            }
            2 => Entry::Revoke {
                device: r.device()?,
                by: r.account()?,
            },
            tag @ (3 | 8) => Entry::Publish {
                epoch: r.u64()?,
                root: r.array::<32>()?,
                total: r.u128()?,
                published_at: if tag == 8 { Some(r.u64()?) } else { None },
                by: r.account()?,
            },
            4 => Entry::Claim {
                account: r.account()?,
                cumulative: r.u128()?,
                paid: r.u128()?,
                by: r.account()?,
            },
            5 => Entry::Fund {
                amount: r.u128()?,
                by: r.account()?,
            },
            6 => Entry::Note(r.bytes()?.to_vec()),
            9 => {
                let device = r.device()?;
                Entry::CancelNonce {
                    device,
                    nonce: r.u64()?,
                    deadline: r.u64()?,
                    signature: r.signature(&device)?,
                    by: r.account()?,
                }
            }
            10 => Entry::ApproveMaker {
                maker: r.device()?,
                name: r.string()?,
                quota: r.u64()?,
                by: r.account()?,
            },
            11 => Entry::RevokeMaker {
                maker: r.device()?,
                suspend_devices: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(bad("invalid boolean")),
                },
                by: r.account()?,
            },
            12 => Entry::SetOnboarding {
                onboarding: match r.u8()? {
                    0 => Onboarding::Open,
                    1 => Onboarding::MakersOnly,
                    _ => return Err(bad("unknown onboarding rule")),
                },
                by: r.account()?,
            },
            13 => {
                let device = r.device()?;
                let owner = r.account()?;
                let metadata = r.bytes()?.to_vec();
                let deadline = r.u64()?;
                let consent = DeviceConsent {
                    nonce: r.u64()?,
                    signature: r.signature(&device)?,
                };
                let maker = r.device()?;
                let maker_signature = r.signature(&maker)?;
                let trust =
                    TrustLevel::from_tag(r.u8()?).ok_or_else(|| bad("unknown trust level"))?;
                let hardware = match r.u8()? {
                    0 => None,
                    1 => Some(HardwareRecord {
                        kind: r.string()?,
                        evidence_hash: r.array::<32>()?,
                    }),
                    _ => return Err(bad("invalid hardware tag")),
                };
                Entry::Onboard(Box::new(Onboarded {
                    device,
                    owner,
                    metadata,
                    deadline,
                    consent,
                    maker,
                    maker_signature,
                    trust,
                    hardware,
                    by: r.account()?,
                }))
            }
            14 => {
                let n = r.oracle_count()?;
                let mut oracles = Vec::with_capacity(n);
                for _ in 0..n {
                    oracles.push(r.device()?);
                }
                Entry::ScheduleOracles {
                    oracles,
                    threshold: r.u8()?,
                    effective_at: r.u64()?,
                    by: r.account()?,
                }
            }
            15 => {
                let epoch = r.u64()?;
                let root = r.array::<32>()?;
                let total = r.u128()?;
                let published_at = r.u64()?;
                let n = r.oracle_count()?;
                let mut signatures = Vec::with_capacity(n);
                for _ in 0..n {
                    let oracle = r.device()?;
                    let signature = r.signature(&oracle)?;
                    signatures.push((oracle, signature));
                }
                Entry::PublishQuorum(Box::new(QuorumPublication {
                    epoch,
                    root,
                    total,
                    published_at,
                    signatures,
                    by: r.account()?,
                }))
            }
            _ => return Err(bad("unknown entry tag")),
        };
        if r.pos != bytes.len() {
            return Err(bad("trailing bytes after entry"));
        }
        Ok(entry)
    }
}

fn bad(what: &str) -> Error {
    Error::Corrupt(what.to_string())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| bad("length overflow"))?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| bad("entry truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| bad("entry truncated"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn u128(&mut self) -> Result<u128> {
        Ok(u128::from_be_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = u32::from_be_bytes(self.array()?);
        self.take(usize::try_from(len).map_err(|_| bad("length overflow"))?)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| bad("invalid utf-8"))
    }

    fn claim_format(&mut self) -> Result<ClaimFormat> {
        match self.u8()? {
            0 => Ok(ClaimFormat::OpenZeppelin),
            1 => Ok(ClaimFormat::Cw20MerkleAirdrop),
            2 => Ok(ClaimFormat::OpenZeppelinBound {
                chain_id: self.u64()?,
                distributor: self.array()?,
            }),
            _ => Err(bad("unknown claim format")),
        }
    }

    /// A count of oracles (1 to [`crate::quorum::MAX_ORACLES`]).
    fn oracle_count(&mut self) -> Result<usize> {
        let n = usize::from(self.u8()?);
        if n == 0 || n > crate::quorum::MAX_ORACLES {
            return Err(bad("oracle count out of range"));
        }
        Ok(n)
    }

    fn device(&mut self) -> Result<DeviceId> {
        DeviceId::from_bytes(self.bytes()?).map_err(|_| bad("invalid device id"))
    }

    /// A signature of `device`'s key type, strictly encoded.
    fn signature(&mut self, device: &DeviceId) -> Result<Signature> {
        let bytes = self.array::<{ depin_core::SIGNATURE_LEN }>()?;
        Signature::from_bytes(device.key_type(), &bytes)
            .map_err(|_| bad("invalid device signature encoding"))
    }

    fn account(&mut self) -> Result<Account> {
        match self.u8()? {
            0 => Ok(Account::Evm(EvmAddress(self.array()?))),
            1 => {
                let len = usize::from(self.u8()?);
                let s = core::str::from_utf8(self.take(len)?).map_err(|_| bad("invalid utf-8"))?;
                let account = Account::cosmos(s).map_err(|_| bad("invalid cosmos account"))?;
                // the writer stores the canonical (lower-case) form only
                if account.as_cosmos() != Some(s) {
                    return Err(bad("cosmos account not in canonical lower case"));
                }
                Ok(account)
            }
            _ => Err(bad("unknown account tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depin_core::{KeyType, SigningKey};
    use proptest::prelude::*;

    fn samples() -> Vec<Entry> {
        let evm = Account::Evm(EvmAddress([9; 20]));
        let cosmos = Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq")
            .unwrap_or(Account::Evm(EvmAddress([1; 20])));
        let device = SigningKey::from_secret_bytes(KeyType::P256, &[5; 32])
            .map(|k| DeviceId::from(k.public_key()))
            .ok();
        let mut v = vec![
            Entry::Genesis {
                network: "demo-net".into(),
                admin: evm.clone(),
                oracle: cosmos.clone(),
                claim_format: ClaimFormat::Cw20MerkleAirdrop,
                ledger_id: [0x5a; 32],
            },
            Entry::Genesis {
                network: "bound-net".into(),
                admin: evm.clone(),
                oracle: evm.clone(),
                claim_format: ClaimFormat::OpenZeppelinBound {
                    chain_id: 31337,
                    distributor: [0x44; 20],
                },
                ledger_id: [0xa5; 32],
            },
            Entry::Publish {
                epoch: 7,
                root: [3; 32],
                total: u128::MAX,
                published_at: None,
                by: evm.clone(),
            },
            Entry::Publish {
                epoch: 8,
                root: [4; 32],
                total: 12,
                published_at: Some(1_700_000_000),
                by: cosmos.clone(),
            },
            Entry::Claim {
                account: cosmos.clone(),
                cumulative: 10,
                paid: 4,
                by: evm.clone(),
            },
            Entry::Fund {
                amount: 1,
                by: cosmos.clone(),
            },
            Entry::Note(vec![1, 2, 3]),
        ];
        if let Some(device) = device {
            v.push(Entry::Register {
                device,
                owner: cosmos.clone(),
                metadata: b"meta".to_vec(),
                deadline: 99,
                consent: None,
                by: evm.clone(),
            });
            v.push(Entry::Revoke {
                device,
                by: evm.clone(),
            });
        }
        // registrations with consent and nonce cancellations, one per key type
        for (i, kt) in [KeyType::Ed25519, KeyType::Secp256k1, KeyType::P256]
            .into_iter()
            .enumerate()
        {
            let Ok(key) = SigningKey::from_secret_bytes(kt, &[6 + i as u8; 32]) else {
                continue;
            };
            let Ok(signature) = key.sign_prehash(&[i as u8; 32]) else {
                continue;
            };
            let device = DeviceId::from(key.public_key());
            v.push(Entry::Register {
                device,
                owner: evm.clone(),
                metadata: vec![i as u8; i],
                deadline: 1_700_000_000 + i as u64,
                consent: Some(DeviceConsent {
                    nonce: i as u64 * 2,
                    signature,
                }),
                by: cosmos.clone(),
            });
            v.push(Entry::CancelNonce {
                device,
                nonce: u64::MAX - i as u64,
                deadline: 5,
                signature,
                by: evm.clone(),
            });
            // makers of every key type, onboarding devices of the next key type
            v.push(Entry::ApproveMaker {
                maker: device,
                name: format!("maker {i}"),
                quota: 10 + i as u64,
                by: evm.clone(),
            });
            v.push(Entry::RevokeMaker {
                maker: device,
                suspend_devices: i % 2 == 0,
                by: cosmos.clone(),
            });
            v.push(Entry::SetOnboarding {
                onboarding: if i % 2 == 0 {
                    Onboarding::MakersOnly
                } else {
                    Onboarding::Open
                },
                by: evm.clone(),
            });
            // oracle sets and quorum publications with oracles of every key type
            v.push(Entry::ScheduleOracles {
                oracles: vec![device; i + 1],
                threshold: i as u8 + 1,
                effective_at: u64::MAX - i as u64,
                by: evm.clone(),
            });
            v.push(Entry::PublishQuorum(Box::new(QuorumPublication {
                epoch: i as u64,
                root: [i as u8; 32],
                total: u128::MAX - i as u128,
                published_at: 1_700_000_000,
                signatures: vec![(device, signature); i + 1],
                by: cosmos.clone(),
            })));
            let next = [KeyType::Secp256k1, KeyType::P256, KeyType::Ed25519][i];
            if let Ok(dk) = SigningKey::from_secret_bytes(next, &[16 + i as u8; 32]) {
                if let Ok(device_signature) = dk.sign_prehash(&[7; 32]) {
                    v.push(Entry::Onboard(Box::new(Onboarded {
                        device: DeviceId::from(dk.public_key()),
                        owner: cosmos.clone(),
                        metadata: vec![7; i],
                        deadline: 77,
                        consent: DeviceConsent {
                            nonce: i as u64,
                            signature: device_signature,
                        },
                        maker: device,
                        maker_signature: signature,
                        trust: if i == 1 {
                            TrustLevel::Hardware
                        } else {
                            TrustLevel::Maker
                        },
                        hardware: (i == 1).then(|| HardwareRecord {
                            kind: "secure-element".into(),
                            evidence_hash: [0x42; 32],
                        }),
                        by: evm.clone(),
                    })));
                }
            }
        }
        v
    }

    #[test]
    fn samples_cover_every_tag() {
        let mut tags: Vec<u8> = samples()
            .iter()
            .filter_map(|e| e.encode().first().copied())
            .collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags, (0u8..=15).collect::<Vec<_>>());
    }

    #[test]
    fn entries_of_earlier_builds_still_decode() {
        // tag 1 (register without consent) and tag 3 (publish without a time), byte for byte
        let mut publish = vec![3u8];
        publish.extend_from_slice(&7u64.to_be_bytes());
        publish.extend_from_slice(&[3; 32]);
        publish.extend_from_slice(&9u128.to_be_bytes());
        publish.push(0);
        publish.extend_from_slice(&[9; 20]);
        assert_eq!(
            Entry::decode(&publish).ok(),
            Some(Entry::Publish {
                epoch: 7,
                root: [3; 32],
                total: 9,
                published_at: None,
                by: Account::Evm(EvmAddress([9; 20])),
            })
        );
        let registers: Vec<Entry> = samples()
            .into_iter()
            .filter(|e| matches!(e, Entry::Register { consent: None, .. }))
            .collect();
        assert!(!registers.is_empty());
        for e in registers {
            assert_eq!(e.encode().first(), Some(&1));
        }
    }

    #[test]
    fn a_signature_that_is_not_strictly_encoded_does_not_decode() {
        for e in samples() {
            if let Entry::CancelNonce { .. } = e {
                let mut bytes = e.encode();
                // the signature is followed by the 21-byte EVM `by`; set S (or s) to all ones,
                // out of range for every scheme
                let n = bytes.len();
                bytes[n - 21 - 32..n - 21].fill(0xff);
                assert!(matches!(Entry::decode(&bytes), Err(Error::Corrupt(_))));
            }
        }
    }

    #[test]
    fn roundtrip_every_kind() {
        for e in samples() {
            assert_eq!(Entry::decode(&e.encode()).ok(), Some(e.clone()), "{e:?}");
        }
    }

    #[test]
    fn non_canonical_cosmos_accounts_do_not_decode() {
        let upper = "WASM1K9HWZXS889JPVD7ENV8Z49GAD3A3633VG350TQ";
        let mut bytes = vec![5u8];
        bytes.extend_from_slice(&1u128.to_be_bytes());
        bytes.push(1);
        bytes.push(upper.len() as u8);
        bytes.extend_from_slice(upper.as_bytes());
        assert!(matches!(Entry::decode(&bytes), Err(Error::Corrupt(_))));
        // the same entry in lower case decodes
        let lower = upper.to_ascii_lowercase();
        let n = bytes.len() - upper.len();
        bytes.truncate(n);
        bytes.extend_from_slice(lower.as_bytes());
        assert!(matches!(
            Entry::decode(&bytes),
            Ok(Entry::Fund { amount: 1, by: Account::Cosmos(ref s) }) if *s == lower
        ));
    }

    #[test]
    fn truncations_and_extensions_are_errors() {
        for e in samples() {
            let bytes = e.encode();
            for cut in 0..bytes.len() {
                assert!(Entry::decode(&bytes[..cut]).is_err(), "{e:?} cut {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Entry::decode(&longer).is_err());
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Entry::decode(&bytes);
        }

        #[test]
        fn decode_of_mutated_entry_never_panics(i in 0usize..64, pos in any::<usize>(), byte in any::<u8>()) {
            let s = samples();
            if let Some(e) = s.get(i % s.len()) {
                let mut bytes = e.encode();
                let n = bytes.len();
                bytes[pos % n] = byte;
                if let Ok(d) = Entry::decode(&bytes) {
                    // whatever decodes re-encodes to the same bytes (the encoding is canonical)
                    prop_assert_eq!(d.encode(), bytes);
                }
            }
        }
    }
}
