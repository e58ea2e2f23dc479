//! Claim trees and proof verification in each backend's [`ClaimFormat`], on top of
//! `depin_rewards::claims` (which implements the hashing; this module only maps [`Account`]s).

use depin_rewards::claims::{cw20, oz};

use crate::error::{Error, Result};
use crate::types::{Account, Claim, ClaimFormat};

/// Check a claim proof against `root` exactly as the format's contract does.
///
/// Errors with [`Error::InvalidInput`] when the account kind does not fit the format (an
/// OpenZeppelin tree needs EVM addresses, cw20-merkle-airdrop needs bech32 strings).
pub fn verify_claim(format: ClaimFormat, root: &[u8; 32], claim: &Claim) -> Result<bool> {
    match (format, &claim.account) {
        (ClaimFormat::OpenZeppelin, Account::Evm(a)) => Ok(oz::verify(
            root,
            a.as_bytes(),
            claim.cumulative_amount,
            &claim.proof,
        )),
        (
            ClaimFormat::OpenZeppelinBound {
                chain_id,
                distributor,
            },
            Account::Evm(a),
        ) => Ok(oz::verify_bound(
            root,
            &oz::OzBinding {
                chain_id,
                distributor,
            },
            a.as_bytes(),
            claim.cumulative_amount,
            &claim.proof,
        )),
        (ClaimFormat::Cw20MerkleAirdrop, Account::Cosmos(s)) => {
            Ok(cw20::verify(root, s, claim.cumulative_amount, &claim.proof))
        }
        (format, account) => Err(Error::InvalidInput(format!(
            "account {account} cannot appear in a {format:?} claim tree"
        ))),
    }
}

/// A claim tree over `(account, cumulative amount)` entries in one [`ClaimFormat`].
#[derive(Debug, Clone)]
pub struct ClaimTree {
    format: ClaimFormat,
    entries: Vec<(Account, u128)>,
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Oz(oz::OzMerkleTree),
    Cw20(cw20::Cw20MerkleTree),
}

fn rewards_err(e: depin_rewards::Error) -> Error {
    Error::InvalidInput(format!("claim tree: {e}"))
}

impl ClaimTree {
    /// Build a tree. Errors: empty list, duplicate account, or an account of the wrong kind.
    pub fn new(format: ClaimFormat, entries: Vec<(Account, u128)>) -> Result<Self> {
        let binding = match format {
            ClaimFormat::OpenZeppelinBound {
                chain_id,
                distributor,
            } => Some(oz::OzBinding {
                chain_id,
                distributor,
            }),
            _ => None,
        };
        let inner = match format {
            ClaimFormat::OpenZeppelin | ClaimFormat::OpenZeppelinBound { .. } => {
                let claims = entries
                    .iter()
                    .map(|(a, v)| match a {
                        Account::Evm(e) => Ok((*e.as_bytes(), *v)),
                        other => Err(Error::InvalidInput(format!(
                            "account {other} in an OpenZeppelin tree"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let tree = match binding {
                    None => oz::OzMerkleTree::new(claims),
                    Some(b) => oz::OzMerkleTree::new_bound(b, claims),
                };
                Inner::Oz(tree.map_err(rewards_err)?)
            }
            ClaimFormat::Cw20MerkleAirdrop => {
                let claims = entries
                    .iter()
                    .map(|(a, v)| match a {
                        Account::Cosmos(s) => Ok((s.clone(), *v)),
                        other => Err(Error::InvalidInput(format!(
                            "account {other} in a cw20-merkle-airdrop tree"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Inner::Cw20(cw20::Cw20MerkleTree::new(claims).map_err(rewards_err)?)
            }
        };
        Ok(ClaimTree {
            format,
            entries,
            inner,
        })
    }

    /// The tree's format.
    pub fn format(&self) -> ClaimFormat {
        self.format
    }

    /// The root to publish.
    pub fn root(&self) -> [u8; 32] {
        match &self.inner {
            Inner::Oz(t) => t.root(),
            Inner::Cw20(t) => t.root(),
        }
    }

    /// The ready-to-submit claim of `account`, if it is in the tree.
    pub fn claim_for(&self, account: &Account) -> Result<Claim> {
        let index = self
            .entries
            .iter()
            .position(|(a, _)| a == account)
            .ok_or_else(|| Error::NotFound(format!("{account} is not in the claim tree")))?;
        let amount = self.entries.get(index).map(|e| e.1).unwrap_or_default();
        let proof = match &self.inner {
            Inner::Oz(t) => t.proof(index),
            Inner::Cw20(t) => t.proof(index),
        }
        .map_err(rewards_err)?;
        Ok(Claim {
            account: account.clone(),
            cumulative_amount: amount,
            proof,
        })
    }

    /// The tree's entries in input order.
    pub fn entries(&self) -> &[(Account, u128)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depin_core::EvmAddress;

    fn evm(b: u8) -> Account {
        Account::Evm(EvmAddress([b; 20]))
    }

    #[test]
    fn oz_golden_root_from_contracts_readme() {
        let tree = ClaimTree::new(
            ClaimFormat::OpenZeppelin,
            vec![(evm(0x11), 100), (evm(0x22), 200), (evm(0x33), 300)],
        );
        let root = tree.map(|t| hex::encode(t.root())).unwrap_or_default();
        assert_eq!(
            root,
            "b52cd20b2c205de24be8e0f86b9905eb9287057c606e6a5c06e441781550b365"
        );
    }

    #[test]
    fn proofs_verify_and_wrong_kind_is_refused() -> Result<()> {
        let tree = ClaimTree::new(
            ClaimFormat::OpenZeppelin,
            vec![(evm(1), 5), (evm(2), 6), (evm(3), 7)],
        )?;
        for (a, _) in tree.entries().to_vec() {
            let c = tree.claim_for(&a)?;
            assert!(verify_claim(ClaimFormat::OpenZeppelin, &tree.root(), &c)?);
            let mut forged = c.clone();
            forged.cumulative_amount += 1;
            assert!(!verify_claim(
                ClaimFormat::OpenZeppelin,
                &tree.root(),
                &forged
            )?);
        }
        let cosmos = Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq")?;
        assert!(ClaimTree::new(ClaimFormat::OpenZeppelin, vec![(cosmos.clone(), 1)]).is_err());
        let c = Claim {
            account: cosmos,
            cumulative_amount: 1,
            proof: vec![],
        };
        assert!(matches!(
            verify_claim(ClaimFormat::OpenZeppelin, &[0; 32], &c),
            Err(Error::InvalidInput(_))
        ));
        Ok(())
    }

    const BOUND: ClaimFormat = ClaimFormat::OpenZeppelinBound {
        chain_id: 31337,
        distributor: [0x44; 20],
    };

    #[test]
    fn bound_golden_root_from_contracts_readme() -> Result<()> {
        let tree = ClaimTree::new(
            BOUND,
            vec![(evm(0x11), 100), (evm(0x22), 200), (evm(0x33), 300)],
        )?;
        assert_eq!(tree.format(), BOUND);
        assert_eq!(
            hex::encode(tree.root()),
            "e24c536a340d74163a76cb3f2585078e3c1045e5b885fe6fd291d847fcfb56a9"
        );
        Ok(())
    }

    #[test]
    fn bound_proofs_verify_only_under_their_own_binding() -> Result<()> {
        let entries = vec![(evm(1), 5), (evm(2), 6), (evm(3), 7), (evm(4), 8)];
        let other_chain = ClaimFormat::OpenZeppelinBound {
            chain_id: 1,
            distributor: [0x44; 20],
        };
        let other_distributor = ClaimFormat::OpenZeppelinBound {
            chain_id: 31337,
            distributor: [0x45; 20],
        };
        let tree = ClaimTree::new(BOUND, entries.clone())?;
        let unbound = ClaimTree::new(ClaimFormat::OpenZeppelin, entries.clone())?;
        let root = tree.root();
        // the same entries give a different root under every binding, and unbound
        for format in [other_chain, other_distributor, ClaimFormat::OpenZeppelin] {
            assert_ne!(ClaimTree::new(format, entries.clone())?.root(), root);
        }
        for (a, _) in entries {
            let c = tree.claim_for(&a)?;
            assert!(verify_claim(BOUND, &root, &c)?);
            // another chain id or another distributor: refused
            assert!(!verify_claim(other_chain, &root, &c)?);
            assert!(!verify_claim(other_distributor, &root, &c)?);
            // a bound proof is not an unbound one either
            assert!(!verify_claim(ClaimFormat::OpenZeppelin, &root, &c)?);
            // a forged amount under the right binding: refused
            let mut forged = c.clone();
            forged.cumulative_amount += 1;
            assert!(!verify_claim(BOUND, &root, &forged)?);

            // an unbound proof does not verify as bound, against either root
            let u = unbound.claim_for(&a)?;
            assert!(verify_claim(
                ClaimFormat::OpenZeppelin,
                &unbound.root(),
                &u
            )?);
            assert!(!verify_claim(BOUND, &unbound.root(), &u)?);
            assert!(!verify_claim(BOUND, &root, &u)?);
        }
        // bound trees still need EVM accounts
        let cosmos = Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq")?;
        assert!(ClaimTree::new(BOUND, vec![(cosmos.clone(), 1)]).is_err());
        let c = Claim {
            account: cosmos,
            cumulative_amount: 1,
            proof: vec![],
        };
        assert!(matches!(
            verify_claim(BOUND, &root, &c),
            Err(Error::InvalidInput(_))
        ));
        Ok(())
    }

    #[test]
    fn cw20_published_vector() -> Result<()> {
        let root = hex_literal("b45c1ea28b26adb13e412933c9e055b01fdf7585304b00cd8f1cb220aa6c5e88");
        let proof = [
            "a714186eaedddde26b08b9afda38cf62fdf88d68e3aa0d5a4b55033487fe14a1",
            "fb57090a813128eeb953a4210dd64ee73d2632b8158231effe2f0a18b2d3b5dd",
            "c30992d264c74c58b636a31098c6c27a5fc08b3f61b7eafe2a33dcb445822343",
        ]
        .iter()
        .map(|h| hex_literal(h))
        .collect();
        let claim = Claim {
            account: Account::cosmos("wasm1k9hwzxs889jpvd7env8z49gad3a3633vg350tq")?,
            cumulative_amount: 100,
            proof,
        };
        assert!(verify_claim(ClaimFormat::Cw20MerkleAirdrop, &root, &claim)?);
        Ok(())
    }

    fn hex_literal(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        let _ = hex::decode_to_slice(s, &mut out);
        out
    }
}
