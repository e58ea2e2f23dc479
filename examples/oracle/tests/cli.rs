//! The `depin-oracle` binary, run as an operator runs it: key files, frames signed and
//! checked, a real `serve` on a loopback port (frames posted over raw HTTP/1.1, epochs of 2 s
//! closed and published on a local ledger, a clean stop on SIGTERM), then the audits on
//! what it left (`recompute`, `claim`, `receipt`), and configurations that must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_depin-oracle");
const NETWORK: &str = "cli-test-net";
const EPOCH_MS: u64 = 2_000;
const EMISSION: u128 = 1_000;

fn oracle(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DEPIN_ORACLE_CONFIG")
        .output()
        .unwrap()
}

fn oracle_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("DEPIN_ORACLE_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The value of a `name: value` line.
fn field(out: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {out:?}"))
        .to_string()
}

/// `keys new`; the did.
fn new_key(file: &Path, key_type: &str) -> String {
    let o = oracle(&["keys", "new", "--type", key_type, "--out", s(file)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    field(&text(&o.stdout), "did")
}

/// `frame sign` stamped now; the frame's hex.
fn sign(key: &Path, network: &str, kind: u8, seq: u32, payload: &str) -> String {
    let o = oracle(&[
        "frame",
        "sign",
        "--key",
        s(key),
        "--network",
        network,
        "--kind",
        &kind.to_string(),
        "--seq",
        &seq.to_string(),
        "--payload",
        payload,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout).trim().to_string()
}

fn verify(network: &str, did: &str, frame: &str) -> Output {
    oracle(&[
        "frame",
        "verify",
        "--network",
        network,
        "--did",
        did,
        "--frame",
        frame,
    ])
}

#[test]
fn keys_new_and_show_agree_and_the_key_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["ed25519", "p256", "secp256k1"] {
        let file = dir.path().join(format!("{t}.key"));
        let new = oracle(&["keys", "new", "--type", t, "--out", s(&file)]);
        assert!(new.status.success(), "{}", text(&new.stderr));
        let show = oracle(&["keys", "show", "--key", s(&file)]);
        assert!(show.status.success(), "{}", text(&show.stderr));
        let out = text(&new.stdout);
        assert_eq!(out, text(&show.stdout));
        assert_eq!(field(&out, "type"), t);
        assert!(field(&out, "did").starts_with("did:key:z"), "{out}");

        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{t} key file mode {mode:o}");
        let content = fs::read_to_string(&file).unwrap();
        let (file_type, secret) = content.trim().split_once(':').unwrap();
        assert_eq!(file_type, t);
        assert_eq!(secret.len(), 64);
        for printed in [&new.stdout, &new.stderr, &show.stdout, &show.stderr] {
            assert!(!text(printed).contains(secret), "the secret was printed");
        }

        if t == "secp256k1" {
            let evm = field(&out, "evm_address");
            assert!(evm.starts_with("0x") && evm.len() == 42, "{evm}");
            assert!(
                field(&out, "cosmos_address").starts_with("cosmos1"),
                "{out}"
            );
        } else {
            assert!(!out.contains("evm_address"), "{out}");
        }

        // an existing key file is never overwritten
        let again = oracle(&["keys", "new", "--type", t, "--out", s(&file)]);
        assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
        assert!(text(&again.stderr).contains("already exists"));
        assert_eq!(fs::read_to_string(&file).unwrap(), content);
    }
    // a file of bare hex needs --type
    let bare = dir.path().join("bare.key");
    fs::write(&bare, format!("{}\n", "01".repeat(32))).unwrap();
    let o = oracle(&["keys", "show", "--key", s(&bare)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--type"), "{}", text(&o.stderr));
    let o = oracle(&["keys", "show", "--key", s(&bare), "--type", "ed25519"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn a_signed_frame_verifies_and_another_did_a_flipped_byte_or_another_network_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.key");
    let b = dir.path().join("b.key");
    let did_a = new_key(&a, "ed25519");
    let did_b = new_key(&b, "secp256k1");
    for (key, did) in [(&a, &did_a), (&b, &did_b)] {
        let frame = sign(key, "test-net", 3, 7, "hello");
        let ok = verify("test-net", did, &frame);
        assert!(ok.status.success(), "{}", text(&ok.stderr));
        let out = text(&ok.stdout);
        assert_eq!(field(&out, "kind"), "3");
        assert_eq!(field(&out, "seq"), "7");
        assert_eq!(field(&out, "payload_text"), "hello");
        assert!(field(&out, "valid").contains(did.as_str()), "{out}");
        let at: u64 = field(&out, "timestamp_ms").parse().unwrap();
        let now = now_ms();
        assert!(at <= now && now - at < 60_000, "stamped {at}, now {now}");

        // another device's did
        let other = if *did == did_a { &did_b } else { &did_a };
        let o = verify("test-net", other, &frame);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
        assert!(
            text(&o.stderr).contains("not signed by"),
            "{}",
            text(&o.stderr)
        );

        // a flipped byte of the signature, and of the payload
        let mut bytes = hex::decode(&frame).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let o = verify("test-net", did, &hex::encode(&bytes));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
        bytes[last] ^= 0x01;
        bytes[24] ^= 0x20;
        let o = verify("test-net", did, &hex::encode(&bytes));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));

        // signed for another network
        let o = verify("other-net", did, &frame);
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains("network"), "{}", text(&o.stderr));

        // not hex, not a frame
        let o = verify("test-net", did, "zz");
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains("not hex"), "{}", text(&o.stderr));
        let o = verify("test-net", did, &frame[..40]);
        assert_eq!(o.status.code(), Some(1));
    }
    // --at stamps the given time
    let o = oracle(&[
        "frame",
        "sign",
        "--key",
        s(&a),
        "--network",
        "test-net",
        "--kind",
        "1",
        "--seq",
        "1",
        "--at",
        "1234",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v = verify("test-net", &did_a, text(&o.stdout).trim());
    assert!(v.status.success());
    assert_eq!(field(&text(&v.stdout), "timestamp_ms"), "1234");
}

fn now_ms() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(d.as_millis()).unwrap()
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); status and body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response head: {:?}", text(&raw)));
    let head = text(&raw[..end]);
    let rest = &raw[end + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    (status, text(&body))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = text(&rest[..line]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Kills the server if the test fails before it stops it.
struct Server(Option<Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A network of three devices with keys made by `keys new`, and its configuration file.
struct Net {
    dir: tempfile::TempDir,
    config: PathBuf,
    keys: Vec<PathBuf>,
    dids: Vec<String>,
    owners: Vec<String>,
}

fn net() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut keys = Vec::new();
    let mut dids = Vec::new();
    let mut owners = Vec::new();
    let mut registry = Vec::new();
    for (i, t) in ["ed25519", "p256", "secp256k1"].into_iter().enumerate() {
        let key = d.join(format!("device{i}.key"));
        let did = new_key(&key, t);
        let byte = format!("{:02x}", 0x41 + i);
        let owner = format!("0x{}", byte.repeat(20));
        registry.push(serde_json::json!({"did": did, "owner": owner, "rated_power_w": 10_000}));
        keys.push(key);
        dids.push(did);
        owners.push(owner);
    }
    let devices = d.join("devices.json");
    fs::write(&devices, serde_json::to_string_pretty(&registry).unwrap()).unwrap();
    let config = d.join("oracle.toml");
    // epochs counted from now: the ledger takes a first root only for an epoch up to 366
    let genesis = now_ms() / EPOCH_MS * EPOCH_MS;
    fs::write(&config, config_text(d, genesis, "")).unwrap();
    Net {
        dir,
        config,
        keys,
        dids,
        owners,
    }
}

/// The test configuration in `dir`, epochs from `genesis_ms` on, with `extra` lines at the
/// top.
fn config_text(dir: &Path, genesis_ms: u64, extra: &str) -> String {
    format!(
        r#"{extra}
listen = "127.0.0.1:0"
name = "oracle-cli-test"

[store]
kind = "sqlite"
path = '{store}'

[epochs]
genesis_ms = {genesis_ms}
length_ms = {EPOCH_MS}
grace_ms = 0
check_ms = 50

[network]
id = "{NETWORK}"
devices = '{devices}'
emission_per_epoch = {EMISSION}

[chain]
ledger = '{ledger}'
admin = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
oracle = "0x0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c"
claim_format = "openzeppelin"
"#,
        store = s(&dir.join("oracle.db")),
        devices = s(&dir.join("devices.json")),
        ledger = s(&dir.join("chain.ledger")),
    )
}

#[test]
fn serve_ingests_closes_and_publishes_stops_on_sigterm_and_the_audits_agree() {
    let n = net();
    let log_path = n.dir.path().join("serve.log");
    let log = fs::File::create(&log_path).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config", s(&n.config)])
        .env_remove("DEPIN_ORACLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut server = Server(Some(child));
    let log_text = || fs::read_to_string(&log_path).unwrap_or_default();

    let stdout = server.0.as_mut().unwrap().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving on http://")
        .unwrap_or_else(|| panic!("no `serving on` line: {line:?}\n{}", log_text()))
        .to_string();

    // stay clear of an epoch's end: with no grace window it closes the moment it ends
    let into = now_ms() % EPOCH_MS;
    if into > EPOCH_MS / 2 {
        std::thread::sleep(Duration::from_millis(EPOCH_MS - into + 100));
    }
    // one signed frame per device, stamped now (a race with an epoch's close is sent again)
    let accepted = one_frame_each(&addr, &n);
    let device_epochs: Vec<(usize, u64)> = accepted
        .iter()
        .flat_map(|(e, devices)| devices.iter().map(move |i| (*i, *e)))
        .collect();
    let epochs: BTreeSet<u64> = accepted.into_keys().collect();
    let first = *epochs.iter().next().unwrap();

    // wait until every epoch with accepted frames is closed and its root published
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = http(
            &addr,
            "GET",
            &format!("/v1/epochs?from={first}&limit=50"),
            b"",
            None,
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let published: BTreeSet<u64> = v["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "published" && r["accepted"].as_u64().unwrap_or(0) > 0)
            .map(|r| r["epoch"].as_u64().unwrap())
            .collect();
        if epochs.is_subset(&published) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "epochs {epochs:?} not all published: {body}\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM: a clean stop, exit 0
    let pid = server.0.as_ref().unwrap().id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", pid.as_str()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    server.0 = None;
    assert_eq!(status.code(), Some(0), "{}", log_text());

    // the audits agree with what the server stored and published
    let config = s(&n.config);
    for e in &epochs {
        let o = oracle(&["recompute", "--config", config, "--epoch", &e.to_string()]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}\n{}", text(&o.stderr));
        assert!(out.contains("result: match"), "{out}");
    }
    let mut total = 0u128;
    for (i, _) in &device_epochs {
        let o = oracle(&["claim", "--config", config, "--account", &n.owners[*i]]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let v: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
        let cumulative: u128 = v["cumulative"].as_str().unwrap().parse().unwrap();
        assert!(cumulative > 0, "{v}");
        assert!(v["proof"].is_array() && v["root"].is_string(), "{v}");
        total += cumulative;
    }
    // every epoch's emission is split exactly among the owners
    assert_eq!(total, EMISSION * epochs.len() as u128);
    let (i, e) = device_epochs[0];
    let o = oracle(&[
        "receipt",
        "--config",
        config,
        "--epoch",
        &e.to_string(),
        "--device",
        &n.dids[i],
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let receipt: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(receipt["device"], n.dids[i].as_str());

    // an account with no claim, an epoch with no record: errors, exit 1
    let nobody = format!("0x{}", "77".repeat(20));
    let o = oracle(&["claim", "--config", config, "--account", &nobody]);
    assert_eq!(o.status.code(), Some(1));
    let o = oracle(&["recompute", "--config", config, "--epoch", "100000"]);
    assert_eq!(o.status.code(), Some(1));
}

/// `serve` with the configuration `toml_text` (and `env`) must fail with exit 1 before it
/// prints anything, naming `name`.
fn refused(dir: &Path, toml_text: &str, env: &[(&str, &str)], name: &str) {
    let file = dir.join("bad.toml");
    fs::write(&file, toml_text).unwrap();
    let o = oracle_env(&["serve", "--config", s(&file)], env);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(name), "{name} not named in {err:?}");
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
}

#[test]
fn a_configuration_with_an_unknown_setting_fails_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let genesis = now_ms() / EPOCH_MS * EPOCH_MS;
    let base = config_text(d, genesis, "");
    refused(
        d,
        &config_text(d, genesis, "colour = \"blue\""),
        &[],
        "`colour`",
    );
    refused(
        d,
        &base.replace("[network]", "[network]\nregion = \"eu\""),
        &[],
        "`region`",
    );
    refused(
        d,
        &base.replace("[epochs]", "[epochs]\ngrace = 5"),
        &[],
        "`grace`",
    );
    refused(
        d,
        &base,
        &[("DEPIN_ORACLE__CHAIN__COLOUR", "blue")],
        "DEPIN_ORACLE__CHAIN__COLOUR",
    );
    refused(
        d,
        &base.replace("emission_per_epoch = 1000", "emission_per_epoch = \"lots\""),
        &[],
        "emission_per_epoch",
    );
    // epochs counted from 1970 would never get a first root published
    fs::write(d.join("devices.json"), "[]").unwrap();
    refused(
        d,
        &base.replace(&format!("genesis_ms = {genesis}"), "genesis_ms = 0"),
        &[],
        "genesis_ms",
    );
    // a file that is not there names itself
    let missing = d.join("missing.toml");
    let o = oracle(&["serve", "--config", s(&missing)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("missing.toml"),
        "{}",
        text(&o.stderr)
    );
}

/// A running `serve` whose `serving on` address has been read.
fn start_serve(config: &Path, log: &Path) -> (Server, String) {
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config", s(config)])
        .env_remove("DEPIN_ORACLE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let mut server = Server(Some(child));
    let stdout = server.0.as_mut().unwrap().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving on http://")
        .unwrap_or_else(|| {
            panic!(
                "no `serving on` line: {line:?}\n{}",
                fs::read_to_string(log).unwrap_or_default()
            )
        })
        .to_string();
    (server, addr)
}

/// A binary batch (`application/x-depin-batch`) of frames.
/// One accepted report frame per device of `n`, stamped now, over `POST /v1/frames`; a
/// frame refused because its epoch just closed is sent again with the next sequence number
/// (up to four tries). The devices (by index) accepted in each epoch.
fn one_frame_each(addr: &str, n: &Net) -> BTreeMap<u64, Vec<usize>> {
    let mut epochs: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, key) in n.keys.iter().enumerate() {
        let mut accepted = false;
        for seq in 1..5 {
            let frame = hex::decode(sign(key, NETWORK, 1, seq, "report")).unwrap();
            let (status, body) = http(
                addr,
                "POST",
                "/v1/frames",
                &frame,
                Some("application/octet-stream"),
            );
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["result"]["status"] == "accepted" {
                let e = v["result"]["epoch"].as_u64().unwrap();
                epochs.entry(e).or_default().push(i);
                accepted = true;
                break;
            }
            assert_eq!(v["result"]["reason"], "epoch_closed", "{v}");
        }
        assert!(accepted, "device {i} was refused every time");
    }
    epochs
}

fn binary_batch(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"DPB1".to_vec();
    for f in frames {
        out.push(1);
        out.extend_from_slice(&u16::try_from(f.len()).unwrap().to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// `POST /v1/batch`: the answers, or `None` if the connection failed (the server was
/// killed).
fn try_batch(addr: &str, frames: &[Vec<u8>]) -> Option<Vec<Value>> {
    let body = binary_batch(frames);
    let run = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let head = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-depin-batch\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        let head = text(&raw[..end]);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        Ok((status, text(&raw[end + 4..])))
    };
    match run() {
        Ok((200, body)) => {
            let v: Value = serde_json::from_str(&body).ok()?;
            Some(v["results"].as_array()?.clone())
        }
        Ok((status, body)) => panic!("unexpected answer {status}: {body}"),
        Err(_) => None,
    }
}

/// Wait until `epoch` is published; its row.
fn published_row(addr: &str, epoch: u64, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(addr, "GET", &format!("/v1/epochs/{epoch}"), b"", None);
        if status == 200 {
            let v: Value = serde_json::from_str(&body).unwrap();
            if v["status"] == "published" {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "epoch {epoch} not published: {status} {body}\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// kill -9 of `serve` under ingest load at random moments, 20 times: every acknowledged
/// frame is stored once, and the epoch's published root and every owner's claim equal
/// those of an uninterrupted run on the same frames.
#[test]
fn serve_killed_twenty_times_publishes_the_root_of_an_uninterrupted_run() {
    const KILL_EPOCH_MS: u64 = 25_000;
    const SEQS: u32 = 400;
    let killed = net();
    let calm = tempfile::tempdir().unwrap();
    // the same devices and owners for the uninterrupted run, in its own directory
    fs::copy(
        killed.dir.path().join("devices.json"),
        calm.path().join("devices.json"),
    )
    .unwrap();
    // both runs share one schedule, whose epoch 0 has just begun; every frame is stamped
    // in it, and it closes (in both runs) KILL_EPOCH_MS after the frames are signed (signing
    // takes seconds in a debug build: it must not eat the time the runs need)
    let stamp = now_ms();
    let genesis = stamp - 100;
    let epoch = 0;
    // every device's frames 1..=SEQS, interleaved by sequence number, signed here with the
    // key files `keys new` wrote (`frame sign` per frame would take longer than the epoch)
    let domain = depin_core::Domain::new(depin_core::NetworkId::new(NETWORK).unwrap());
    let keys: Vec<depin_core::SigningKey> = killed
        .keys
        .iter()
        .map(|path| {
            let line = fs::read_to_string(path).unwrap();
            let (kind, secret) = line.trim().split_once(':').unwrap();
            let kind = match kind {
                "ed25519" => depin_core::KeyType::Ed25519,
                "p256" => depin_core::KeyType::P256,
                _ => depin_core::KeyType::Secp256k1,
            };
            let secret: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
            depin_core::SigningKey::from_secret_bytes(kind, &secret).unwrap()
        })
        .collect();
    let mut frames = Vec::new();
    for seq in 1..=SEQS {
        for key in &keys {
            let mut buf = [0u8; depin_core::frame::MAX_FRAME_LEN];
            let n = depin_core::frame::sign_frame(
                &domain,
                key,
                1,
                seq,
                depin_core::Timestamp(stamp),
                b"load",
                &mut buf,
            )
            .unwrap();
            frames.push(buf[..n].to_vec());
        }
    }

    let length = now_ms() - genesis + KILL_EPOCH_MS;
    for dir in [killed.dir.path(), calm.path()] {
        let text = config_text(dir, genesis, "").replace(
            &format!("length_ms = {EPOCH_MS}"),
            &format!("length_ms = {length}"),
        );
        fs::write(dir.join("oracle.toml"), text).unwrap();
    }

    // the uninterrupted run
    let calm_log = calm.path().join("serve.log");
    let (mut calm_server, calm_addr) = start_serve(&calm.path().join("oracle.toml"), &calm_log);
    for chunk in frames.chunks(7) {
        let answers = try_batch(&calm_addr, chunk).expect("the uninterrupted server answers");
        assert!(
            answers.iter().all(|a| a["status"] == "accepted"),
            "{answers:?}"
        );
    }

    // the killed run: random batches, a kill -9 at a random moment during each of 20
    // stretches of load, a restart after each
    let log = killed.dir.path().join("serve.log");
    let config = killed.dir.path().join("oracle.toml");
    let mut seed = now_ms() | 1;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut next = 0usize; // frames before `next` were acknowledged
    let mut acknowledged = 0usize;
    let mut killed_under_load = 0;
    for round in 0..20 {
        let (mut server, addr) = start_serve(&config, &log);
        let pid = server.0.as_ref().unwrap().id();
        let after = Duration::from_millis(20 + rand(150));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        });
        while next < frames.len() {
            let n = 1 + rand(12) as usize;
            let end = (next + n).min(frames.len());
            match try_batch(&addr, &frames[next..end]) {
                Some(answers) => {
                    for a in &answers {
                        // stored before an earlier kill took its answer: `replayed`
                        assert!(
                            a["status"] == "accepted" || a["reason"] == "replayed",
                            "round {round}: {a}"
                        );
                    }
                    acknowledged += answers.len();
                    next = end;
                }
                None => {
                    killed_under_load += 1;
                    break;
                }
            }
        }
        killer.join().unwrap();
        let _ = server.0.as_mut().unwrap().wait();
        server.0 = None;
    }
    assert!(
        killed_under_load >= 15,
        "only {killed_under_load} of 20 kills hit a request in flight"
    );
    // the rest, on a last restart that is left running
    let (_server, addr) = start_serve(&config, &log);
    while next < frames.len() {
        let end = (next + 9).min(frames.len());
        let answers = try_batch(&addr, &frames[next..end]).expect("the last server answers");
        acknowledged += answers.len();
        next = end;
    }
    assert_eq!(acknowledged, frames.len());

    // the epoch closes in both; same root, same totals, same claims
    let ours = published_row(&addr, epoch, &log);
    let theirs = published_row(&calm_addr, epoch, &calm_log);
    assert_eq!(ours["accepted"], frames.len() as u64, "{ours}");
    assert_eq!(ours["root"], theirs["root"], "{ours}\n{theirs}");
    assert_eq!(ours["epoch_total"], theirs["epoch_total"]);
    for owner in &killed.owners {
        let (_, a) = http(&addr, "GET", &format!("/v1/claims/{owner}"), b"", None);
        let (_, b) = http(&calm_addr, "GET", &format!("/v1/claims/{owner}"), b"", None);
        let (a, b): (Value, Value) = (
            serde_json::from_str(&a).unwrap(),
            serde_json::from_str(&b).unwrap(),
        );
        assert_eq!(a["cumulative"], b["cumulative"], "{a}\n{b}");
        assert_eq!(a["proof"], b["proof"]);
    }
    let _ = calm_server.0.as_mut().map(Child::kill);
}

/// `[[network.pools]]`: 70 % to the device reports the devices send, 30 % to energy
/// readings nobody sends. Each epoch pays 700 over its reports (receipts name the pool) and
/// leaves 300 undistributed.
#[test]
fn serve_with_pools_pays_each_pool_its_share() {
    let n = net();
    let pools = "\n[[network.pools]]\nname = \"reports\"\nbps = 7000\nkinds = [\"device_report\"]\n\
                 [[network.pools]]\nname = \"metering\"\nbps = 3000\nkinds = [\"energy_reading\"]\n";
    let text = fs::read_to_string(&n.config).unwrap() + pools;
    fs::write(&n.config, text).unwrap();
    let log = n.dir.path().join("serve.log");
    let (_server, addr) = start_serve(&n.config, &log);

    // one accepted frame per device
    let epochs = one_frame_each(&addr, &n);
    assert_eq!(epochs.values().map(Vec::len).sum::<usize>(), n.keys.len());
    for (epoch, devices) in &epochs {
        let row = published_row(&addr, *epoch, &log);
        assert_eq!(row["summary"]["undistributed"], "300", "{row}");
        assert_eq!(row["epoch_total"], "700", "{row}");
        for &i in devices {
            let (status, body) = http(
                &addr,
                "GET",
                &format!("/v1/devices/{}/epochs?from={epoch}&limit=1", n.dids[i]),
                b"",
                None,
            );
            assert_eq!(status, 200, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            let pools = &v["epochs"][0]["receipt"]["pools"];
            assert_eq!(pools[0]["pool"], "reports", "{v}");
            assert_eq!(pools.as_array().map(Vec::len), Some(1), "{v}");
        }
    }
}
