//! Identity demo: make one device key of each type, print its did:key, chain
//! identities, and sign and verify a domain-separated report frame.
//!
//! Run: `cargo run -p depin-core --example identity`
#![allow(clippy::print_stdout)]

use depin_core::frame::{self, Frame, MAX_FRAME_LEN};
use depin_core::{
    cosmos_address, DeviceId, Domain, EvmAddress, KeyType, NetworkId, SigningKey, Timestamp,
};

fn main() -> Result<(), depin_core::Error> {
    let mut rng = rand::rng();
    let domain = Domain::new(NetworkId::new("demo-network")?);
    println!("network: {}\n", domain.network);
    for kt in KeyType::ALL {
        let key = SigningKey::generate(kt, &mut rng);
        let public = key.public_key();
        let id = DeviceId::from(&public);
        println!("{kt:>9} device {id}");
        if kt == KeyType::Secp256k1 {
            println!(
                "          EVM address    {}",
                EvmAddress::from_public_key(&public)?
            );
            println!(
                "          Cosmos address {}",
                cosmos_address(&public, "cosmos")?
            );
        }
        let mut buf = [0u8; MAX_FRAME_LEN];
        let n = frame::sign_frame(&domain, &key, 1, 1, Timestamp::now(), b"kwh=3.2", &mut buf)?;
        let parsed = Frame::parse(&buf[..n])?;
        parsed.verify(&domain, &public)?;
        println!("          signed a {n}-byte report frame (88 bytes overhead): verified");
        let other = Domain::new(NetworkId::new("other-network")?);
        let refused = parsed.verify(&other, &public).is_err();
        println!("          same frame under another network id refused: {refused}\n");
    }
    Ok(())
}
