//! Byte-compatibility with the real `@openzeppelin/merkle-tree` npm package.
//!
//! Runs `node contracts/js/oz-merkle-tree.cjs` on a few hundred random claims and compares the
//! root, every leaf and every proof. This test FAILS (never skips) when node or the package is
//! missing: install them as the crate README says.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use depin_rewards::claims::oz::{self, OzMerkleTree};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::bench_workload::bench_claims;
use crate::claims::hex32;

const HOWTO: &str = "the OpenZeppelin interop test needs node (>= 18) and the npm package \
@openzeppelin/merkle-tree: run `cd contracts && npm ci` from the workspace root, then \
`cargo test -p depin-rewards` (see depin-rewards/README.md, section Tests)";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/js/oz-merkle-tree.cjs")
}

/// Runs the JS helper with `input` on stdin and parses its JSON output.
pub(crate) fn run_node(input: &serde_json::Value) -> serde_json::Value {
    let script = script();
    assert!(script.exists(), "{} is missing; {HOWTO}", script.display());
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(script.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node`: {e}; {HOWTO}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node {} failed: {}; {HOWTO}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn random_claims(n: usize, seed: u64) -> Vec<([u8; 20], u128)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let mut a = [0u8; 20];
            rng.fill_bytes(&mut a);
            let amount = match i % 5 {
                0 => 0,
                1 => u128::MAX,
                2 => rng.random::<u64>() as u128,
                _ => rng.random::<u128>(),
            };
            (a, amount)
        })
        .collect()
}

#[test]
fn oz_root_and_every_proof_match_the_npm_package() {
    for (n, seed) in [(1usize, 11u64), (2, 12), (7, 13), (300, 14), (513, 15)] {
        let claims = random_claims(n, seed);
        let values: Vec<serde_json::Value> = claims
            .iter()
            .map(|(a, v)| serde_json::json!([format!("0x{}", hex::encode(a)), v.to_string()]))
            .collect();
        let js = run_node(&serde_json::json!({ "values": values }));
        let tree = OzMerkleTree::new(claims.clone()).unwrap();
        assert_eq!(
            hex32(&tree.root()),
            js["root"].as_str().unwrap(),
            "root, n = {n}"
        );
        for (i, (a, v)) in claims.iter().enumerate() {
            let proof: Vec<String> = tree.proof(i).unwrap().iter().map(hex32).collect();
            let want: Vec<String> = js["proofs"][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            assert_eq!(proof, want, "proof {i}, n = {n}");
            assert_eq!(
                hex32(&oz::leaf_hash(a, *v)),
                js["leaves"][i].as_str().unwrap(),
                "leaf {i}"
            );
        }
    }
}

/// The JS bench mode's deterministic claims, rebuilt in Rust: same root at 20,000 claims.
#[test]
fn oz_bench_workload_matches_the_npm_package() {
    let n = 20_000;
    let js = run_node(&serde_json::json!({ "bench": n }));
    let tree = OzMerkleTree::new(bench_claims(n)).unwrap();
    assert_eq!(hex32(&tree.root()), js["root"].as_str().unwrap());
}
