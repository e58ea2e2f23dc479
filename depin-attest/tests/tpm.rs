//! TPM 2.0 evidence against a real software TPM: `swtpm` on loopback, driven by `tpm2-tools`
//! (both from Debian, installed by `scripts/test`). The test creates the device key, the
//! endorsement and attestation keys, the certification and the quotes inside the TPM,
//! checks the quote with `tpm2_checkquote` (the reference verifier), issues the attestation
//! key's certificate from a CA made with rcgen, and then runs the accepted case, every
//! refusal, every truncation and every changed byte through `TpmVerifier`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use depin_attest::evidence::{tpm_public_point, TpmEvidence, TpmVerifier, TPM_KIND};
use depin_core::evidence::{EvidenceError, EvidenceRequest, EvidenceVerifier};
use depin_core::{DeviceId, KeyType, PublicKey, SigningKey};
use proptest::prelude::*;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    PublicKeyData, SerialNumber, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};
use sha2::{Digest, Sha256};

/// 2026-12-01T00:00:00Z.
const NOW: u64 = 1_796_083_200;
/// 2041-01-01, after every certificate here.
const LATER: u64 = 2_240_524_800;
const NONCE: [u8; 32] = [0x4e; 32];
const OTHER_NONCE: [u8; 32] = [0x6f; 32];
/// The PCRs the quotes select (SHA-256 bank).
const PCRS: [u8; 3] = [0, 1, 16];

/// One swtpm on a loopback port pair (server P, control P+1, as the swtpm TCTI expects),
/// killed on drop.
struct Swtpm {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn installed(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Swtpm {
    fn start() -> Swtpm {
        for tool in ["swtpm", "tpm2_createak", "tpm2_checkquote"] {
            assert!(
                installed(tool),
                "{tool} not found: install the Debian packages swtpm, swtpm-tools and tpm2-tools \
                 (scripts/test does)"
            );
        }
        for _ in 0..20 {
            let Some(port) = free_port_pair() else {
                continue;
            };
            let dir = tempfile::tempdir().unwrap();
            let state = dir.path().join("state");
            std::fs::create_dir(&state).unwrap();
            let child = Command::new("swtpm")
                .args(["socket", "--tpm2"])
                .arg("--tpmstate")
                .arg(format!("dir={}", state.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .args(["--flags", "not-need-init,startup-clear"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start swtpm");
            let mut tpm = Swtpm { child, port, dir };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return tpm;
                }
                if tpm.child.try_wait().unwrap().is_some() {
                    break; // lost the port race: try another pair
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = tpm.child.kill();
        }
        panic!("swtpm did not start on any loopback port pair");
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Run `tpm2_<cmd> args` in the work directory against this TPM, then flush its transient
    /// objects (swtpm has three slots and no resource manager).
    fn run(&self, cmd: &str, args: &[&str]) -> Vec<u8> {
        let out = self.tool(cmd, args);
        self.tool("flushcontext", &["-t"]);
        out
    }

    fn tool(&self, cmd: &str, args: &[&str]) -> Vec<u8> {
        let out = Command::new(format!("tpm2_{cmd}"))
            .args(args)
            .current_dir(self.dir.path())
            .env(
                "TPM2TOOLS_TCTI",
                format!("swtpm:host=127.0.0.1,port={}", self.port),
            )
            .output()
            .expect("run tpm2-tools");
        assert!(
            out.status.success(),
            "tpm2_{cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).unwrap()
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port_pair() -> Option<u16> {
    let a = TcpListener::bind(("127.0.0.1", 0)).ok()?;
    let port = a.local_addr().ok()?.port();
    let _b = TcpListener::bind(("127.0.0.1", port.checked_add(1)?)).ok()?;
    Some(port)
}

/// Everything the TPM made, once per test binary.
struct Material {
    /// TPM2B_PUBLIC of the device keys A and B, and of the attestation key.
    device_a: Vec<u8>,
    device_b: Vec<u8>,
    ek: Vec<u8>,
    ak: Vec<u8>,
    /// TPM2_Certify(A by the AK), (B by the AK), (A by B: an unrestricted signer).
    certify_a: (Vec<u8>, Vec<u8>),
    certify_b: (Vec<u8>, Vec<u8>),
    certify_a_by_b: (Vec<u8>, Vec<u8>),
    /// TPM2_Quote by the AK over NONCE and OTHER_NONCE, by B over NONCE, and by the AK over
    /// NONCE with PCRs 0 and 1 only.
    quote: (Vec<u8>, Vec<u8>),
    quote_other_nonce: (Vec<u8>, Vec<u8>),
    quote_by_b: (Vec<u8>, Vec<u8>),
    quote_two_pcrs: (Vec<u8>, Vec<u8>),
}

fn material() -> &'static Material {
    static M: OnceLock<Material> = OnceLock::new();
    M.get_or_init(make_material)
}

fn make_material() -> Material {
    let tpm = Swtpm::start();
    tpm.run(
        "createprimary",
        &[
            "-C",
            "o",
            "-G",
            "ecc256",
            "-g",
            "sha256",
            "-c",
            "primary.ctx",
            "-Q",
        ],
    );
    for key in ["a", "b"] {
        tpm.run(
            "create",
            &[
                "-C",
                "primary.ctx",
                "-G",
                "ecc256:ecdsa-sha256",
                "-g",
                "sha256",
                "-a",
                "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign",
                "-u",
                &format!("{key}.pub"),
                "-r",
                &format!("{key}.priv"),
                "-Q",
            ],
        );
        tpm.run(
            "load",
            &[
                "-C",
                "primary.ctx",
                "-u",
                &format!("{key}.pub"),
                "-r",
                &format!("{key}.priv"),
                "-c",
                &format!("{key}.ctx"),
                "-Q",
            ],
        );
    }
    tpm.run("createek", &["-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub"]);
    tpm.run(
        "createak",
        &[
            "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-u",
            "ak.pem", "-f", "pem", "-n", "ak.name",
        ],
    );
    tpm.run(
        "readpublic",
        &["-c", "ak.ctx", "-f", "tss", "-o", "ak.pub", "-Q"],
    );
    let certify = |object: &str, signer: &str, out: &str| {
        tpm.run(
            "certify",
            &[
                "-c",
                object,
                "-C",
                signer,
                "-g",
                "sha256",
                "-o",
                &format!("{out}.attest"),
                "-s",
                &format!("{out}.sig"),
            ],
        );
        (
            tpm.read(&format!("{out}.attest")),
            tpm.read(&format!("{out}.sig")),
        )
    };
    let certify_a = certify("a.ctx", "ak.ctx", "certify_a");
    let certify_b = certify("b.ctx", "ak.ctx", "certify_b");
    let certify_a_by_b = certify("a.ctx", "b.ctx", "certify_a_by_b");

    // PCR 16 (the debug PCR, resettable) measured once: PCR16 = SHA-256(0^32 || SHA-256("abc"))
    let abc = hex::encode(Sha256::digest(b"abc"));
    tpm.tool("pcrextend", &[&format!("16:sha256={abc}")]);
    let quote = |signer: &str, pcrs: &str, nonce: &[u8; 32], out: &str| {
        tpm.run(
            "quote",
            &[
                "-c",
                signer,
                "-l",
                pcrs,
                "-q",
                &hex::encode(nonce),
                "-g",
                "sha256",
                "-m",
                &format!("{out}.msg"),
                "-s",
                &format!("{out}.sig"),
                "-o",
                &format!("{out}.pcrs"),
                "-F",
                "values",
            ],
        );
        (
            tpm.read(&format!("{out}.msg")),
            tpm.read(&format!("{out}.sig")),
        )
    };
    let all = "sha256:0,1,16";
    let m = Material {
        device_a: tpm.read("a.pub"),
        device_b: tpm.read("b.pub"),
        ek: tpm.read("ek.pub"),
        ak: tpm.read("ak.pub"),
        certify_a,
        certify_b,
        certify_a_by_b,
        quote: quote("ak.ctx", all, &NONCE, "quote"),
        quote_other_nonce: quote("ak.ctx", all, &OTHER_NONCE, "quote_other"),
        quote_by_b: quote("b.ctx", all, &NONCE, "quote_by_b"),
        quote_two_pcrs: quote("ak.ctx", "sha256:0,1", &NONCE, "quote_two"),
    };
    // the reference verifier agrees the quote is genuine, and the PCR values it quoted are
    // the ones the tests expect
    tpm.tool(
        "checkquote",
        &[
            "-u",
            "ak.pem",
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-f",
            "quote.pcrs",
            "-l",
            all,
            "-g",
            "sha256",
            "-q",
            &hex::encode(NONCE),
        ],
    );
    assert_eq!(tpm.read("quote.pcrs"), expected_pcrs().concat());
    m
}

/// PCRs 0 and 1 (nothing measured on a bare swtpm) and 16 after one extend with SHA-256("abc").
fn expected_pcrs() -> Vec<[u8; 32]> {
    let mut pcr16 = Sha256::new();
    pcr16.update([0u8; 32]);
    pcr16.update(Sha256::digest(b"abc"));
    vec![[0; 32], [0; 32], pcr16.finalize().into()]
}

/// A P-256 point as rcgen's subject public key.
struct Point([u8; 65]);

impl PublicKeyData for Point {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn params(cn: &str, ca: bool, serial: u8, until: i32) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Example TPM Vendor");
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    p.serial_number = Some(SerialNumber::from_slice(&[serial]));
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(until, 1, 1);
    p
}

fn ca(cn: &str) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params(cn, true, 1, 2040).self_signed(&key).unwrap();
    Ca { cert, key }
}

fn intermediate(by: &Ca, is_ca: bool) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params("Example attestation CA", is_ca, 3, 2040)
        .signed_by(&key, &by.cert, &by.key)
        .unwrap();
    Ca { cert, key }
}

/// A certificate for the key in `tpm2b_public`, issued by `by`.
fn key_cert(tpm2b_public: &[u8], by: &Ca, serial: u8, until: i32) -> Vec<u8> {
    let point = tpm_public_point(tpm2b_public).unwrap();
    params("TPM attestation key", false, serial, until)
        .signed_by(&Point(point), &by.cert, &by.key)
        .unwrap()
        .der()
        .to_vec()
}

fn device_of(tpm2b_public: &[u8]) -> DeviceId {
    let point = tpm_public_point(tpm2b_public).unwrap();
    DeviceId::from(PublicKey::from_sec1(KeyType::P256, &point).unwrap())
}

struct Fixture {
    ca: Ca,
    verifier: TpmVerifier,
    device: DeviceId,
    evidence: TpmEvidence,
}

fn verifier_for(ca: &Ca) -> TpmVerifier {
    TpmVerifier::new()
        .with_endorsement_ca("Example TPM Vendor", ca.cert.der())
        .unwrap()
        .allow_pcr_state(&PCRS, &expected_pcrs())
        .unwrap()
}

fn fixture() -> Fixture {
    let m = material();
    let ca = ca("Example TPM Vendor EK CA");
    let evidence = TpmEvidence {
        ak_chain: vec![key_cert(&m.ak, &ca, 7, 2040)],
        ek_public: m.ek.clone(),
        ak_public: m.ak.clone(),
        device_public: m.device_a.clone(),
        certify: m.certify_a.0.clone(),
        certify_signature: m.certify_a.1.clone(),
        quote: m.quote.0.clone(),
        quote_signature: m.quote.1.clone(),
    };
    Fixture {
        verifier: verifier_for(&ca),
        ca,
        device: device_of(&m.device_a),
        evidence,
    }
}

fn check(
    verifier: &TpmVerifier,
    evidence: &TpmEvidence,
    device: &DeviceId,
    nonce: &[u8; 32],
    now: u64,
) -> Result<depin_core::evidence::HardwareVerdict, EvidenceError> {
    verifier.verify(
        &evidence.encode(),
        &EvidenceRequest {
            device,
            nonce,
            now_secs: now,
        },
    )
}

#[test]
fn a_tpm_key_certified_and_quoted_for_the_nonce_is_accepted() {
    let f = fixture();
    let verdict = check(&f.verifier, &f.evidence, &f.device, &NONCE, NOW).unwrap();
    assert_eq!(verdict.kind, TPM_KIND);
    assert_eq!(verdict.security, "tpm2");
    assert_eq!(verdict.vendor, "Example TPM Vendor");
    assert_eq!(verdict.maker, None);
    // the encoding round-trips
    assert_eq!(
        TpmEvidence::decode(&f.evidence.encode()).unwrap(),
        f.evidence
    );
    // with an intermediate CA between the endorsement CA and the attestation key
    let inter = intermediate(&f.ca, true);
    let chained = TpmEvidence {
        ak_chain: vec![
            key_cert(&material().ak, &inter, 8, 2040),
            inter.cert.der().to_vec(),
        ],
        ..f.evidence.clone()
    };
    check(&f.verifier, &chained, &f.device, &NONCE, NOW).unwrap();
    // and the device key the TPM holds signs frames depin-core verifies: the point the
    // certification names is the device's key
    assert_eq!(f.device.key_type(), KeyType::P256);
}

#[test]
fn each_broken_link_is_its_own_typed_refusal() {
    let f = fixture();
    let m = material();
    let ok = |e: &TpmEvidence| check(&f.verifier, e, &f.device, &NONCE, NOW);
    let with = |change: &dyn Fn(&mut TpmEvidence)| {
        let mut e = f.evidence.clone();
        change(&mut e);
        e
    };

    // the attestation key's certificate from a CA nobody configured
    let stranger = ca("Some other CA");
    let e = with(&|e| e.ak_chain = vec![key_cert(&m.ak, &stranger, 7, 2040)]);
    assert_eq!(ok(&e), Err(EvidenceError::UntrustedRoot));
    // from a CA with the configured CA's name but another key
    let twin = ca("Example TPM Vendor EK CA");
    let e = with(&|e| e.ak_chain = vec![key_cert(&m.ak, &twin, 7, 2040)]);
    assert!(
        matches!(ok(&e), Err(EvidenceError::BadSignature(_))),
        "{:?}",
        ok(&e)
    );
    // expired, and not yet valid
    assert!(matches!(
        check(&f.verifier, &f.evidence, &f.device, &NONCE, LATER),
        Err(EvidenceError::Expired(_))
    ));
    let e = with(&|e| e.ak_chain = vec![key_cert(&m.ak, &f.ca, 7, 2026)]);
    assert!(matches!(ok(&e), Err(EvidenceError::Expired(_))));
    // revoked
    let revoking = verifier_for(&f.ca).revoke_serial(&[7]);
    assert!(matches!(
        check(&revoking, &f.evidence, &f.device, &NONCE, NOW),
        Err(EvidenceError::Revoked(_))
    ));
    // an intermediate that is not a CA
    let not_ca = intermediate(&f.ca, false);
    let e = with(&|e| {
        e.ak_chain = vec![
            key_cert(&m.ak, &not_ca, 8, 2040),
            not_ca.cert.der().to_vec(),
        ]
    });
    assert!(
        matches!(ok(&e), Err(EvidenceError::Policy(_))),
        "{:?}",
        ok(&e)
    );
    // a certificate for another key than the presented attestation key
    let e = with(&|e| e.ak_chain = vec![key_cert(&m.device_b, &f.ca, 7, 2040)]);
    assert!(
        matches!(ok(&e), Err(EvidenceError::Policy(_))),
        "{:?}",
        ok(&e)
    );

    // an unrestricted signing key (device key B) posing as the attestation key, with a
    // certificate the CA issued for it: it can sign anything that looks like an attestation,
    // so its certifications and quotes prove nothing
    let e = with(&|e| {
        e.ak_chain = vec![key_cert(&m.device_b, &f.ca, 7, 2040)];
        e.ak_public = m.device_b.clone();
        e.certify = m.certify_a_by_b.0.clone();
        e.certify_signature = m.certify_a_by_b.1.clone();
        e.quote = m.quote_by_b.0.clone();
        e.quote_signature = m.quote_by_b.1.clone();
    });
    match ok(&e) {
        Err(EvidenceError::Policy(rule)) => assert!(rule.contains("restricted"), "{rule}"),
        other => panic!("{other:?}"),
    }
    // ... and with its public area edited to claim `restricted` (TPMA_OBJECT bit 16, in the
    // attributes at bytes 6..10 of the TPM2B_PUBLIC): the qualified signer name the TPM
    // wrote into B's attestations is not the edited area's
    let mut claims_restricted = m.device_b.clone();
    claims_restricted[7] |= 0x01;
    let e = with(&|e| {
        e.ak_chain = vec![key_cert(&m.device_b, &f.ca, 7, 2040)];
        e.ak_public = claims_restricted.clone();
        e.certify = m.certify_a_by_b.0.clone();
        e.certify_signature = m.certify_a_by_b.1.clone();
        e.quote = m.quote_by_b.0.clone();
        e.quote_signature = m.quote_by_b.1.clone();
    });
    match ok(&e) {
        Err(EvidenceError::Policy(rule)) => assert!(rule.contains("not signed by"), "{rule}"),
        other => panic!("{other:?}"),
    }
    // another endorsement key than the attestation key's parent
    let e = with(&|e| e.ek_public = m.device_b.clone());
    assert!(
        matches!(ok(&e), Err(EvidenceError::Policy(_))),
        "{:?}",
        ok(&e)
    );

    // signatures that do not belong to their attestation
    let e = with(&|e| e.quote_signature = f.evidence.certify_signature.clone());
    assert!(
        matches!(ok(&e), Err(EvidenceError::BadSignature(_))),
        "{:?}",
        ok(&e)
    );
    // a certification presented as the quote (its own signature kept)
    let e = with(&|e| {
        e.quote = f.evidence.certify.clone();
        e.quote_signature = f.evidence.certify_signature.clone();
    });
    assert!(
        matches!(ok(&e), Err(EvidenceError::Malformed(_))),
        "{:?}",
        ok(&e)
    );

    // evidence about another key: the request names device B
    assert_eq!(
        check(
            &f.verifier,
            &f.evidence,
            &device_of(&m.device_b),
            &NONCE,
            NOW
        ),
        Err(EvidenceError::WrongKey)
    );
    // B's public area with A's certification: the certified name is not B's
    let e = with(&|e| e.device_public = m.device_b.clone());
    assert_eq!(ok(&e), Err(EvidenceError::WrongKey));
    // B's public area and B's genuine certification, for device A
    let e = with(&|e| {
        e.device_public = m.device_b.clone();
        e.certify = m.certify_b.0.clone();
        e.certify_signature = m.certify_b.1.clone();
    });
    assert_eq!(ok(&e), Err(EvidenceError::WrongKey));
    // ... which is accepted for device B itself
    check(&f.verifier, &e, &device_of(&m.device_b), &NONCE, NOW).unwrap();

    // a quote for another registration's nonce
    let e = with(&|e| {
        e.quote = m.quote_other_nonce.0.clone();
        e.quote_signature = m.quote_other_nonce.1.clone();
    });
    assert_eq!(ok(&e), Err(EvidenceError::WrongNonce));
    assert_eq!(
        check(&f.verifier, &f.evidence, &f.device, &OTHER_NONCE, NOW),
        Err(EvidenceError::WrongNonce)
    );

    // the wrong PCR policy: another value for PCR 16, another selection, none configured
    let mut other_values = expected_pcrs();
    other_values[2][0] ^= 1;
    let strict = TpmVerifier::new()
        .with_endorsement_ca("Example TPM Vendor", f.ca.cert.der())
        .unwrap()
        .allow_pcr_state(&PCRS, &other_values)
        .unwrap();
    assert!(matches!(
        check(&strict, &f.evidence, &f.device, &NONCE, NOW),
        Err(EvidenceError::Policy(_))
    ));
    let e = with(&|e| {
        e.quote = m.quote_two_pcrs.0.clone();
        e.quote_signature = m.quote_two_pcrs.1.clone();
    });
    assert!(
        matches!(ok(&e), Err(EvidenceError::Policy(_))),
        "{:?}",
        ok(&e)
    );
    let no_policy = TpmVerifier::new()
        .with_endorsement_ca("Example TPM Vendor", f.ca.cert.der())
        .unwrap();
    assert!(matches!(
        check(&no_policy, &f.evidence, &f.device, &NONCE, NOW),
        Err(EvidenceError::Policy(_))
    ));
    // ... unless the network chooses to accept any PCR state (the two-PCR quote passes then)
    let any = no_policy.allow_any_pcr_state();
    check(&any, &e, &f.device, &NONCE, NOW).unwrap();
    // several accepted states: any one of them passes
    let two_states = verifier_for(&f.ca)
        .allow_pcr_state(&[0, 1], &expected_pcrs()[..2])
        .unwrap();
    check(&two_states, &e, &f.device, &NONCE, NOW).unwrap();

    // key types a TPM does not hold
    let ed = DeviceId::from(
        SigningKey::from_secret_bytes(KeyType::Ed25519, &[3; 32])
            .unwrap()
            .public_key(),
    );
    assert_eq!(
        check(&f.verifier, &f.evidence, &ed, &NONCE, NOW),
        Err(EvidenceError::UnsupportedKey)
    );
}

#[test]
fn the_verifier_configuration_refuses_bad_anchors_and_pcr_states() {
    let f = fixture();
    // a leaf certificate is no endorsement CA
    let leaf = f.evidence.ak_chain[0].clone();
    assert!(matches!(
        TpmVerifier::new().with_endorsement_ca("x", &leaf),
        Err(EvidenceError::Policy(_))
    ));
    assert!(matches!(
        TpmVerifier::new().with_endorsement_ca("x", b"not a certificate"),
        Err(EvidenceError::Malformed(_))
    ));
    let v = [[0u8; 32]; 3];
    for (pcrs, values) in [
        (&[][..], &v[..0]),
        (&[0, 1][..], &v[..]),
        (&[1, 0, 16][..], &v[..]),
        (&[0, 0, 16][..], &v[..]),
        (&[0, 1, 24][..], &v[..]),
    ] {
        assert!(
            matches!(
                TpmVerifier::new().allow_pcr_state(pcrs, values),
                Err(EvidenceError::Policy(_))
            ),
            "{pcrs:?}"
        );
    }
    // a public area that is not a P-256 key, or not a public area at all
    assert!(tpm_public_point(b"\x00\x02\x00\x01").is_err());
    assert!(tpm_public_point(&[]).is_err());
}

#[test]
fn every_truncation_is_malformed_and_nothing_panics() {
    let f = fixture();
    let bytes = f.evidence.encode();
    let request = EvidenceRequest {
        device: &f.device,
        nonce: &NONCE,
        now_secs: NOW,
    };
    for cut in 0..bytes.len() {
        match f.verifier.verify(&bytes[..cut], &request) {
            Err(EvidenceError::Malformed(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        f.verifier.verify(&longer, &request),
        Err(EvidenceError::Malformed(_))
    ));
}

#[test]
fn every_changed_byte_is_refused() {
    let f = fixture();
    let bytes = f.evidence.encode();
    let request = EvidenceRequest {
        device: &f.device,
        nonce: &NONCE,
        now_secs: NOW,
    };
    for pos in 0..bytes.len() {
        for x in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[pos] ^= x;
            assert!(
                f.verifier.verify(&b, &request).is_err(),
                "byte {pos} ^ {x:#x} accepted"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_evidence_is_refused(mut bytes in prop::collection::vec(any::<u8>(), 0..1500), magic in any::<bool>()) {
        if magic && bytes.len() >= 5 {
            bytes[..4].copy_from_slice(b"DTP1");
            bytes[4] = 1 + bytes[4] % 4;
        }
        let f = fixture_cached();
        let request = EvidenceRequest { device: &f.device, nonce: &NONCE, now_secs: NOW };
        prop_assert!(f.verifier.clone().allow_any_pcr_state().verify(&bytes, &request).is_err());
        let _ = TpmEvidence::decode(&bytes);
        let _ = tpm_public_point(&bytes);
    }

    #[test]
    fn random_tpm_structures_in_genuine_evidence_are_refused(
        part in 0usize..7,
        junk in prop::collection::vec(any::<u8>(), 1..300),
    ) {
        let f = fixture_cached();
        let mut e = f.evidence.clone();
        match part {
            0 => e.ak_public = junk,
            1 => e.device_public = junk,
            2 => e.certify = junk,
            3 => e.certify_signature = junk,
            4 => e.quote = junk,
            5 => e.ek_public = junk,
            _ => e.quote_signature = junk,
        }
        prop_assert!(check(&f.verifier, &e, &f.device, &NONCE, NOW).is_err());
    }
}

fn fixture_cached() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(fixture)
}
