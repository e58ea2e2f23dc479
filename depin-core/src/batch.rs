//! Batch signature verification with bad-item isolation.
//!
//! Ed25519 items are checked together with `ed25519_dalek::verify_batch`. The batch
//! equation skips the weak-key and canonical-encoding checks, so they are done first,
//! by construction: [`PublicKey`] and [`Signature`] are opaque and their constructors
//! validate, so every Ed25519 key was checked when parsed (not small order; canonical and
//! torsion-free too, except through [`PublicKey::from_prechecked_bytes`], whose caller
//! vouches for those two) and every Ed25519 signature has a reduced `S` and an `R` that
//! is a canonical encoding whose `y` is not one of the five `y` values of the curve's
//! eight-torsion, whatever its sign bit. When a batch fails, it is split in
//! halves recursively and small groups are verified one by one with `verify_strict`,
//! so good items still pass and only bad ones fail.
//!
//! ECDSA items have no batch equation and are verified one by one.
//!
//! Verdict consistency: a signature made by an honest signer, or any signature that
//! `verify_strict` accepts, is accepted in every batch; a signature whose `R` is of small
//! order, in any encoding, is refused when it is parsed, so it reaches neither path. The
//! one residual difference is a signature whose `R` carries a torsion component (only the
//! key holder can make one): `verify_strict` always rejects it, while dalek's randomised
//! batch equation accepts it when the random coefficient kills the torsion (probability 1/2
//! per attempt for a torsion point of order 2, and bisection retries), so its verdict depends
//! on the batch it is in. See "Known residual risks" in `docs/security.md`.

use alloc::vec;
use alloc::vec::Vec;

use crate::keys::{Pk, PublicKey, Sig, Signature};

/// One item to verify: the key, the 32-byte signing digest, and the signature.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// Signer's key.
    pub key: &'a PublicKey,
    /// The signing digest (see [`crate::Domain::digest`]).
    pub digest: &'a [u8; 32],
    /// The signature.
    pub signature: &'a Signature,
}

/// Below this many items a failing group is verified one by one.
const SINGLE_THRESHOLD: usize = 4;

/// Verify every item; returns one verdict per item, in order.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<bool> {
    let mut verdicts = vec![false; items.len()];
    let mut ed_idx = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match (item.key.inner(), item.signature.inner()) {
            (Pk::Ed25519(_), Sig::Ed25519(_)) => ed_idx.push(i),
            _ => verdicts[i] = item.key.verify_prehash(item.digest, item.signature).is_ok(),
        }
    }
    verify_ed25519_group(items, &ed_idx, &mut verdicts);
    verdicts
}

fn verify_single(item: &BatchItem<'_>) -> bool {
    item.key.verify_prehash(item.digest, item.signature).is_ok()
}

fn verify_ed25519_group(items: &[BatchItem<'_>], idx: &[usize], verdicts: &mut [bool]) {
    if idx.is_empty() {
        return;
    }
    if idx.len() <= SINGLE_THRESHOLD {
        for &i in idx {
            verdicts[i] = verify_single(&items[i]);
        }
        return;
    }
    let mut messages: Vec<&[u8]> = Vec::with_capacity(idx.len());
    let mut sigs = Vec::with_capacity(idx.len());
    let mut keys = Vec::with_capacity(idx.len());
    for &i in idx {
        if let (Pk::Ed25519(k), Sig::Ed25519(s)) =
            (items[i].key.inner(), items[i].signature.inner())
        {
            messages.push(&items[i].digest[..]);
            sigs.push(s.to_dalek());
            keys.push(*k);
        }
    }
    if ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok() {
        for &i in idx {
            verdicts[i] = true;
        }
        return;
    }
    let (left, right) = idx.split_at(idx.len() / 2);
    verify_ed25519_group(items, left, verdicts);
    verify_ed25519_group(items, right, verdicts);
}
