//! The deterministic claims of the JS helper's bench mode (`contracts/js/oz-merkle-tree.cjs`,
//! `{"bench": n}`), shared by the interop test and the criterion bench.

/// Claim `i`: `h = keccak256(uint256(i))`, address = last 20 bytes of `h`, amount = first 8
/// bytes of `h` (big-endian).
pub(crate) fn bench_claims(n: usize) -> Vec<([u8; 20], u128)> {
    use sha3::{Digest, Keccak256};
    (0..n)
        .map(|i| {
            let mut word = [0u8; 32];
            word[24..].copy_from_slice(&(i as u64).to_be_bytes());
            let h: [u8; 32] = Keccak256::digest(word).into();
            let mut a = [0u8; 20];
            a.copy_from_slice(&h[12..]);
            let mut amt = [0u8; 8];
            amt.copy_from_slice(&h[..8]);
            (a, u128::from(u64::from_be_bytes(amt)))
        })
        .collect()
}
