//! Device key files: `TYPE:HEX` on one line (`ed25519:`, `p256:` or `secp256k1:`, then the
//! 32 secret bytes in hex: the Ed25519 seed or the ECDSA scalar, big-endian), created with
//! mode 0600 and never overwritten. A file of the 64 hex digits alone is read too, with the
//! type given by `--type`. The secret is never printed.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;

use depin_core::{cosmos_address, DeviceId, EvmAddress, KeyType, SigningKey};

use crate::error::Error;

/// Where fresh secrets come from.
const URANDOM: &str = "/dev/urandom";

/// The bech32 prefix of the Cosmos address shown for secp256k1 keys.
const COSMOS_PREFIX: &str = "cosmos";

/// The text of a key type in key files and on the command line.
pub(crate) fn type_name(key_type: KeyType) -> String {
    key_type.to_string()
}

fn parse_type(text: &str) -> Option<KeyType> {
    KeyType::ALL.into_iter().find(|t| type_name(*t) == text)
}

/// A fresh key of `key_type` from the operating system's random source, and its secret.
fn generate(key_type: KeyType) -> Result<(SigningKey, [u8; 32]), Error> {
    let mut file = std::fs::File::open(URANDOM).map_err(|e| Error::io(URANDOM, e))?;
    // an ECDSA scalar of zero or above the group order (odds about 2^-128) is drawn again
    for _ in 0..16 {
        let mut secret = [0u8; 32];
        file.read_exact(&mut secret)
            .map_err(|e| Error::io(URANDOM, e))?;
        if let Ok(key) = SigningKey::from_secret_bytes(key_type, &secret) {
            return Ok((key, secret));
        }
    }
    Err(Error::Input(format!(
        "{URANDOM} gave no valid {key_type} secret in 16 draws"
    )))
}

/// `keys new`: generate a key, write it to `out` (a new file, mode 0600), return it.
pub(crate) fn create(key_type: KeyType, out: &Path) -> Result<SigningKey, Error> {
    let (key, secret) = generate(key_type)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Input(format!(
                "{} already exists: `keys new` never overwrites a key file",
                out.display()
            ))
        } else {
            Error::io(out, e)
        }
    })?;
    let line = format!("{}:{}\n", type_name(key_type), hex::encode(secret));
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(out, e))?;
    Ok(key)
}

/// Read the key file at `path`. `key_type` is needed for a file of bare hex, and must agree
/// with a typed file's.
pub(crate) fn load(path: &Path, key_type: Option<KeyType>) -> Result<SigningKey, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let text = text.trim();
    // messages never quote the file's content: it is a secret
    let bad = |what: &str| Error::config(path, format!("not a key file: {what}"));
    let (file_type, digits) = match text.split_once(':') {
        Some((name, digits)) => {
            let t = parse_type(name)
                .ok_or_else(|| bad("the type before ':' must be ed25519, p256 or secp256k1"))?;
            if let Some(asked) = key_type {
                if asked != t {
                    return Err(Error::config(
                        path,
                        format!("this is a {t} key, not {asked} (drop --type)"),
                    ));
                }
            }
            (t, digits)
        }
        None => match key_type {
            Some(t) => (t, text),
            None => {
                return Err(Error::config(
                    path,
                    "the file has no `TYPE:` prefix: say the key's type with --type",
                ))
            }
        },
    };
    let mut secret = [0u8; 32];
    hex::decode_to_slice(digits.trim(), &mut secret)
        .map_err(|_| bad("the secret must be 64 hex digits (32 bytes)"))?;
    SigningKey::from_secret_bytes(file_type, &secret)
        .map_err(|e| Error::config(path, format!("not a valid {file_type} secret: {e}")))
}

/// What `keys new` and `keys show` print: the type, the did:key, the public key and, for
/// secp256k1, the EVM and Cosmos addresses. One `name: value` per line.
pub(crate) fn describe(key: &SigningKey) -> Result<String, Error> {
    let public = key.public_key();
    let mut out = format!(
        "type: {}\ndid: {}\npublic_key: {}\n",
        type_name(key.key_type()),
        DeviceId::from(&public),
        hex::encode(public.to_bytes())
    );
    if key.key_type() == KeyType::Secp256k1 {
        let evm = EvmAddress::from_public_key(&public)
            .map_err(|e| Error::Input(format!("EVM address: {e}")))?;
        let cosmos = cosmos_address(&public, COSMOS_PREFIX)
            .map_err(|e| Error::Input(format!("Cosmos address: {e}")))?;
        out.push_str(&format!("evm_address: {evm}\ncosmos_address: {cosmos}\n"));
    }
    Ok(out)
}
