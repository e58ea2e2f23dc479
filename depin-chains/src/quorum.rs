//! Epoch roots signed by a quorum of oracles: no single oracle key can pay anyone anything.
//!
//! Each oracle computes the epoch's result on its own and signs a [`RootStatement`] (the
//! epoch, the claim tree's root and the epoch's total, for one distributor) under
//! [`MessageKind::REWARD_ROOT`] in the network's domain bound to the chain id. An
//! [`OracleSet`] of `n` registered oracles with a threshold `t` (a strict majority: `2t > n`,
//! so two different statements can never both reach it) decides with
//! [`OracleSet::tally`]: a statement signed by `t` distinct oracles of the set is agreed;
//! votes for anything else are kept as dissent, for audit; an oracle that signed two
//! different statements for the same epoch is an equivocator and none of its votes count.
//!
//! This module is the rule itself, the same for every backend: a distributor (the local
//! ledger, a contract) or an operator's tooling runs it on the votes it holds.
//!
//! ```
//! use depin_chains::quorum::{OracleSet, RootStatement};
//! use depin_core::{DeviceId, Domain, Epoch, KeyType, NetworkId, SigningKey};
//!
//! let domain = Domain::new(NetworkId::new("my-net")?).with_chain_id(31337);
//! let keys: Vec<SigningKey> = (1..=3u8)
//!     .map(|i| SigningKey::from_secret_bytes(KeyType::Secp256k1, &[i; 32]))
//!     .collect::<Result<_, _>>()?;
//! let set = OracleSet::new(keys.iter().map(|k| DeviceId::from(k.public_key())), 2)?;
//! let honest = RootStatement::new(vec![0xd1; 20], Epoch(7), [0xaa; 32], 1_000);
//! let lie = RootStatement { root: [0xbb; 32], ..honest.clone() };
//! let votes = vec![
//!     honest.sign(&domain, &keys[0])?,
//!     honest.sign(&domain, &keys[1])?,
//!     lie.sign(&domain, &keys[2])?,
//! ];
//! let quorum = set.tally(&domain, &honest.distributor, Epoch(7), &votes)?;
//! assert_eq!(quorum.statement, honest);
//! assert_eq!(quorum.signers.len(), 2);
//! assert_eq!(quorum.dissent.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use depin_core::{DeviceId, Domain, Epoch, MessageKind, Signature};

use crate::error::{Error, Result};
use crate::types::DeviceSigner;

/// Most oracles in one set.
pub const MAX_ORACLES: usize = 64;

/// The first bytes of [`RootStatement::message`] (its format's name and version).
const STATEMENT_TAG: &[u8] = b"depin-rs/reward-root/1";

/// What an oracle signs for one epoch of one distributor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootStatement {
    /// The distributor the root is for, as its chain names it (an EVM contract's 20-byte
    /// address, the local ledger's 32-byte id, a CosmWasm contract's address bytes). At most
    /// 255 bytes.
    pub distributor: Vec<u8>,
    /// The epoch.
    pub epoch: Epoch,
    /// The claim tree's root.
    pub root: [u8; 32],
    /// The epoch's total (base units).
    pub total: u128,
}

impl RootStatement {
    /// A statement.
    pub fn new(distributor: Vec<u8>, epoch: Epoch, root: [u8; 32], total: u128) -> Self {
        RootStatement {
            distributor,
            epoch,
            root,
            total,
        }
    }

    /// The signed bytes (signed under [`MessageKind::REWARD_ROOT`] in the network's domain
    /// with its chain id):
    ///
    /// ```text
    /// "depin-rs/reward-root/1" || u8 distributor length || distributor
    ///     || epoch (u64 BE) || root (32 bytes) || total (u128 BE)
    /// ```
    ///
    /// [`Error::InvalidInput`] for a distributor longer than 255 bytes.
    pub fn message(&self) -> Result<Vec<u8>> {
        let len = u8::try_from(self.distributor.len())
            .map_err(|_| Error::InvalidInput("distributor address longer than 255 bytes".into()))?;
        let mut out = Vec::with_capacity(STATEMENT_TAG.len() + 1 + self.distributor.len() + 56);
        out.extend_from_slice(STATEMENT_TAG);
        out.push(len);
        out.extend_from_slice(&self.distributor);
        out.extend_from_slice(&self.epoch.0.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.total.to_be_bytes());
        Ok(out)
    }

    /// The digest an oracle's key signs: [`Domain::digest`] of [`RootStatement::message`]
    /// under [`MessageKind::REWARD_ROOT`].
    pub fn digest(&self, domain: &Domain) -> Result<[u8; 32]> {
        Ok(domain.digest(MessageKind::REWARD_ROOT, &self.message()?))
    }

    /// The oracle's signed vote for this statement.
    pub fn sign(&self, domain: &Domain, oracle: &dyn DeviceSigner) -> Result<RootVote> {
        let signature = oracle.sign_digest(&self.digest(domain)?)?;
        Ok(RootVote {
            oracle: oracle.device_id(),
            statement: self.clone(),
            signature,
        })
    }
}

/// One oracle's signed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootVote {
    /// The oracle (its key).
    pub oracle: DeviceId,
    /// What it signed.
    pub statement: RootStatement,
    /// Its signature over [`RootStatement::digest`].
    pub signature: Signature,
}

impl RootVote {
    /// Whether the signature is the oracle's over the statement in `domain` (strict
    /// verification: low S, canonical encodings).
    pub fn verify(&self, domain: &Domain) -> Result<()> {
        let key = self.oracle.public_key().map_err(|_| Error::InvalidProof)?;
        let digest = self.statement.digest(domain)?;
        key.verify_prehash(&digest, &self.signature)
            .map_err(|_| Error::InvalidProof)
    }
}

/// Why a vote did not count.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoteRefusal {
    /// The signer is not in the oracle set.
    NotAnOracle,
    /// The signature does not verify for this network, chain and statement.
    BadSignature,
    /// The statement is for another distributor or epoch than the one being decided.
    OtherEpochOrDistributor,
    /// The oracle signed two different statements for this epoch: none of its votes count.
    Equivocation,
}

/// The agreed statement of an epoch, and what else the oracles said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// The statement `threshold` or more oracles signed.
    pub statement: RootStatement,
    /// The oracles that signed it, in key order.
    pub signers: Vec<DeviceId>,
    /// Their signatures, in the order of [`Quorum::signers`] (what a distributor that checks
    /// signatures itself is given).
    pub signatures: Vec<Signature>,
    /// Valid votes for other statements (one per dissenting oracle), kept for audit.
    pub dissent: Vec<RootVote>,
    /// Votes that did not count, with why.
    pub refused: Vec<(RootVote, VoteRefusal)>,
}

/// Registered oracles and how many of them must sign the same statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OracleSet {
    oracles: BTreeSet<DeviceId>,
    threshold: usize,
}

impl OracleSet {
    /// `oracles` (at least one, at most [`MAX_ORACLES`], no repeats) with `threshold` a strict
    /// majority of them (`2 * threshold > n`, `threshold <= n`). [`Error::InvalidInput`]
    /// otherwise: a threshold of half or less would let two different roots both reach it.
    pub fn new(oracles: impl IntoIterator<Item = DeviceId>, threshold: usize) -> Result<Self> {
        let mut set = BTreeSet::new();
        for o in oracles {
            if !set.insert(o) {
                return Err(Error::InvalidInput(format!("oracle {o} listed twice")));
            }
        }
        let n = set.len();
        if n == 0 || n > MAX_ORACLES {
            return Err(Error::InvalidInput(format!(
                "an oracle set has 1 to {MAX_ORACLES} oracles, not {n}"
            )));
        }
        if threshold > n || threshold.saturating_mul(2) <= n {
            return Err(Error::InvalidInput(format!(
                "threshold {threshold} of {n} oracles is not a strict majority"
            )));
        }
        Ok(OracleSet {
            oracles: set,
            threshold,
        })
    }

    /// A set of `n` oracles with Helium's threshold `ceil(n/2)` rounded up to a strict
    /// majority: `n / 2 + 1`.
    pub fn majority(oracles: impl IntoIterator<Item = DeviceId>) -> Result<Self> {
        let oracles: Vec<DeviceId> = oracles.into_iter().collect();
        let t = oracles.len() / 2 + 1;
        Self::new(oracles, t)
    }

    /// The oracles, in key order.
    pub fn oracles(&self) -> impl Iterator<Item = &DeviceId> {
        self.oracles.iter()
    }

    /// How many must agree.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Whether `oracle` is in the set.
    pub fn contains(&self, oracle: &DeviceId) -> bool {
        self.oracles.contains(oracle)
    }

    /// Decide `epoch` of `distributor` from `votes` (any order; repeats of one vote count
    /// once). [`Error::InvalidInput`] naming the best-supported statement's count when no
    /// statement reaches the threshold: nothing may be published then.
    pub fn tally(
        &self,
        domain: &Domain,
        distributor: &[u8],
        epoch: Epoch,
        votes: &[RootVote],
    ) -> Result<Quorum> {
        let mut refused = Vec::new();
        // each oracle's distinct valid statements
        let mut by_oracle: BTreeMap<DeviceId, Vec<&RootVote>> = BTreeMap::new();
        for vote in votes {
            let why = if !self.oracles.contains(&vote.oracle) {
                Some(VoteRefusal::NotAnOracle)
            } else if vote.statement.distributor != distributor || vote.statement.epoch != epoch {
                Some(VoteRefusal::OtherEpochOrDistributor)
            } else if vote.verify(domain).is_err() {
                Some(VoteRefusal::BadSignature)
            } else {
                None
            };
            match why {
                Some(why) => refused.push((vote.clone(), why)),
                None => {
                    let seen = by_oracle.entry(vote.oracle).or_default();
                    if !seen.iter().any(|v| v.statement == vote.statement) {
                        seen.push(vote);
                    }
                }
            }
        }
        let mut support: BTreeMap<&RootStatement, Vec<&RootVote>> = BTreeMap::new();
        for said in by_oracle.values() {
            match said.as_slice() {
                [one] => support.entry(&one.statement).or_default().push(one),
                many => refused.extend(
                    many.iter()
                        .map(|v| ((*v).clone(), VoteRefusal::Equivocation)),
                ),
            }
        }
        let agreed = support
            .iter()
            .find(|(_, v)| v.len() >= self.threshold)
            .map(|(s, _)| (*s).clone());
        let Some(statement) = agreed else {
            let best = support.values().map(Vec::len).max().unwrap_or(0);
            return Err(Error::InvalidInput(format!(
                "no quorum for epoch {}: the best-supported statement has {best} of the {} signatures needed",
                epoch.0, self.threshold
            )));
        };
        let mut signers = Vec::new();
        let mut signatures = Vec::new();
        let mut dissent = Vec::new();
        for (s, v) in support {
            if *s == statement {
                // by_oracle is in key order, so these are too
                for vote in v {
                    signers.push(vote.oracle);
                    signatures.push(vote.signature);
                }
            } else {
                dissent.extend(v.into_iter().cloned());
            }
        }
        Ok(Quorum {
            statement,
            signers,
            signatures,
            dissent,
            refused,
        })
    }
}
