//! End-to-end proof on emulated microcontrollers.
//!
//! For each key type this test builds `firmware/cortex-m` (a separate cargo project, release
//! profile with size optimisations, its own target dir `firmware/cortex-m/target`) for the QEMU
//! `lm3s6965evb` board (Cortex-M3, `thumbv7m-none-eabi`), runs it under
//! `qemu-system-arm` with semihosting, and does the same with `firmware/riscv` (the same
//! demo code) for QEMU's RISC-V `virt` board (RV32IMAC, `riscv32imac-unknown-none-elf`)
//! under `qemu-system-riscv32`, printing on its UART. It parses the frame each prints, and
//! checks that the
//! **network-side verifier** (`depin_core::frame::Frame::verify`) accepts it with the
//! known test key and rejects it after any single flipped bit. It also reads the ELF's
//! section sizes and enforces the flash budgets (Ed25519 <= 48 KiB, secp256k1 <= 36 KiB).
//!
//! Needs `qemu-system-arm` and `qemu-system-riscv32` (Debian: `apt-get install -y
//! qemu-system-arm qemu-system-misc`) and the two targets (`rustup target add
//! thumbv7m-none-eabi riscv32imac-unknown-none-elf`); `firmware/setup.sh` installs them. If
//! any is missing the test FAILS with a message saying so; it never passes without having
//! run the firmware.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use depin_core::frame::Frame;
use depin_core::{Domain, KeyType, NetworkId, PublicKey, SigningKey, Timestamp};

/// Same bytes as `TEST_SECRET` in firmware/cortex-m/src/demo.rs (checked below). TEST ONLY.
const TEST_SECRET: [u8; 32] = *b"depin-rs TEST KEY, never in prod";
const NETWORK_ID: &str = "depin-qemu";
const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

/// An emulated board, its firmware project and how QEMU runs it.
struct Board {
    name: &'static str,
    /// The firmware project, relative to `firmware/`.
    dir: &'static str,
    target: &'static str,
    binary: &'static str,
    qemu: &'static str,
    qemu_package: &'static str,
    qemu_args: &'static [&'static str],
}

const CORTEX_M3: Board = Board {
    name: "Cortex-M3 (QEMU lm3s6965evb)",
    dir: "cortex-m",
    target: "thumbv7m-none-eabi",
    binary: "depin-firmware",
    qemu: "qemu-system-arm",
    qemu_package: "qemu-system-arm",
    qemu_args: &[
        "-cpu",
        "cortex-m3",
        "-machine",
        "lm3s6965evb",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
    ],
};

const RV32IMAC: Board = Board {
    name: "RV32IMAC (QEMU virt)",
    dir: "riscv",
    target: "riscv32imac-unknown-none-elf",
    binary: "depin-firmware-riscv",
    qemu: "qemu-system-riscv32",
    qemu_package: "qemu-system-misc",
    qemu_args: &[
        "-machine",
        "virt",
        "-bios",
        "none",
        "-m",
        "16M",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-kernel",
    ],
};

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("firmware")
}

fn require_tools(board: &Board) {
    let qemu = Command::new(board.qemu)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        matches!(qemu, Ok(s) if s.success()),
        "{} is not installed or does not run: install it with \
         `apt-get install -y {}` (or run firmware/setup.sh). \
         This test refuses to pass without running the firmware.",
        board.qemu,
        board.qemu_package
    );
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .expect("run rustc --print sysroot");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(board.target)
        .join("lib");
    let has_core = std::fs::read_dir(&lib)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
        })
        .unwrap_or(false);
    assert!(
        has_core,
        "the Rust target {} is not installed (no libcore in {}): install it \
         with `rustup target add {}` (or run firmware/setup.sh). This test \
         refuses to pass without running the firmware.",
        board.target,
        lib.display(),
        board.target
    );
}

/// Build the firmware with one feature; returns the ELF path.
fn build_firmware(board: &Board, feature: &str) -> PathBuf {
    let dir = firmware_dir().join(board.dir);
    let target_dir = dir.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "--features", feature])
        .arg("--target-dir")
        .arg(&target_dir);
    // Do not let the outer (host) build's settings leak into the firmware build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run cargo build for the firmware");
    assert!(
        out.status.success(),
        "firmware build with feature {feature} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir
        .join(board.target)
        .join("release")
        .join(board.binary)
}

/// Run the ELF under the board's QEMU and return its stdout (semihosting on Cortex-M, the
/// UART on RISC-V).
fn run_qemu(board: &Board, elf: &Path) -> String {
    let mut cmd = Command::new(board.qemu);
    cmd.args(board.qemu_args).arg(elf);
    let (ok, stdout, _) = run_with_timeout(cmd, QEMU_TIMEOUT);
    assert!(
        ok,
        "{} firmware exited with a failure (its failure exit?), output:\n{stdout}",
        board.name
    );
    stdout
}

fn field<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} line in firmware output:\n{output}"))
        .trim()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Flash and RAM use from the ELF32 section headers: (flash, .text, .rodata, .data, .bss).
fn section_sizes(elf: &Path) -> (u64, u64, u64, u64, u64) {
    let b = std::fs::read(elf).expect("read ELF");
    assert_eq!(&b[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(b[4], 1, "expected ELF32");
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([b[o], b[o + 1]]));
    let u32_at = |o: usize| u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]));
    let shoff = u32_at(0x20) as usize;
    let shentsize = u16_at(0x2e) as usize;
    let shnum = u16_at(0x30) as usize;
    let shstrndx = u16_at(0x32) as usize;
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(sh(shstrndx) + 0x10) as usize;
    let name = |i: usize| {
        let start = strtab + u32_at(sh(i)) as usize;
        let end = start + b[start..].iter().position(|&c| c == 0).expect("NUL");
        String::from_utf8_lossy(&b[start..end]).into_owned()
    };
    let (mut flash, mut text, mut rodata, mut data, mut bss) = (0, 0, 0, 0, 0);
    for i in 0..shnum {
        let size = u32_at(sh(i) + 0x14);
        match name(i).as_str() {
            ".vector_table" => flash += size,
            ".text" => {
                flash += size;
                text = size;
            }
            ".rodata" => {
                flash += size;
                rodata = size;
            }
            ".data" => {
                flash += size; // initial values live in flash
                data = size;
            }
            ".bss" => bss = size,
            _ => {}
        }
    }
    (flash, text, rodata, data, bss)
}

struct Case {
    feature: &'static str,
    key_type: KeyType,
    flash_budget: Option<u64>,
}

#[test]
fn firmware_frames_verify_on_the_network_side() {
    let cases = [
        Case {
            feature: "ed25519",
            key_type: KeyType::Ed25519,
            flash_budget: Some(48 * 1024),
        },
        Case {
            feature: "secp256k1",
            key_type: KeyType::Secp256k1,
            flash_budget: Some(36 * 1024),
        },
        Case {
            feature: "p256",
            key_type: KeyType::P256,
            flash_budget: None,
        },
    ];
    let (domain, frames) = run_board(&CORTEX_M3, &cases);
    through_the_oracle(&domain, &frames);
}

/// The same demo on RISC-V: every key type's frame verifies on the network side. Flash
/// budgets a little above what RV32IMAC measured on 2026-12-03 (Ed25519 36,434 bytes,
/// secp256k1 37,332, P-256 25,624; docs/device.md): RV32 code is larger than Thumb-2 for
/// the Ed25519 and secp256k1 field arithmetic, so P-256 is the small choice there.
#[test]
fn riscv_firmware_frames_verify_on_the_network_side() {
    let cases = [
        Case {
            feature: "ed25519",
            key_type: KeyType::Ed25519,
            flash_budget: Some(40 * 1024),
        },
        Case {
            feature: "secp256k1",
            key_type: KeyType::Secp256k1,
            flash_budget: Some(40 * 1024),
        },
        Case {
            feature: "p256",
            key_type: KeyType::P256,
            flash_budget: Some(28 * 1024),
        },
    ];
    run_board(&RV32IMAC, &cases);
}

/// Build, run and check `cases` on `board`; print its size table. Returns the network's
/// domain and the frames (key type, bytes).
fn run_board(board: &Board, cases: &[Case]) -> (Domain, Vec<(KeyType, Vec<u8>)>) {
    require_tools(board);

    // The host copy of the test secret must match the firmware's.
    let demo_rs =
        std::fs::read_to_string(firmware_dir().join("cortex-m/src/demo.rs")).expect("read");
    assert!(demo_rs.contains("*b\"depin-rs TEST KEY, never in prod\""));

    let domain = Domain::new(NetworkId::new(NETWORK_ID).expect("network id"));
    let mut firmware_frames: Vec<(KeyType, Vec<u8>)> = Vec::new();
    println!("{}", board.name);
    println!("| firmware | flash | .text | .rodata | .data | .bss | peak stack |");
    println!("|---|---|---|---|---|---|---|");
    for case in cases {
        let elf = build_firmware(board, case.feature);
        let output = run_qemu(board, &elf);

        // the key the network registered for this device (derived on the host)
        let key = SigningKey::from_secret_bytes(case.key_type, &TEST_SECRET).expect("test key");
        let public: PublicKey = key.public_key();
        assert_eq!(
            field(&output, "KEYTYPE"),
            case.key_type.tag().to_string(),
            "key type"
        );
        assert_eq!(
            unhex(field(&output, "PUBKEY")),
            public.to_bytes().as_ref(),
            "firmware public key differs from the host-derived one"
        );

        let bytes = unhex(field(&output, "FRAME"));
        firmware_frames.push((case.key_type, bytes.clone()));
        let frame = Frame::parse(&bytes).expect("frame parses");
        frame
            .verify(&domain, &public)
            .expect("network verifier accepts the firmware's frame");
        assert_eq!(frame.header.kind, 1);
        assert_eq!(frame.header.key_type, case.key_type);
        assert_eq!(frame.header.seq, 1000);
        assert_eq!(frame.header.timestamp, Timestamp(1_700_000_000_000));
        assert_eq!(frame.payload, b"temp=21.5C");

        if case.key_type == KeyType::Ed25519 {
            // the worked example in docs/frame-format.md is exactly this frame
            let doc = std::fs::read_to_string(firmware_dir().join("../docs/frame-format.md"))
                .expect("read docs/frame-format.md");
            let compact: String = doc.split_whitespace().collect();
            assert!(
                compact.contains(field(&output, "FRAME")),
                "docs/frame-format.md does not show the firmware's Ed25519 frame"
            );
        }

        // same frame, other network: rejected
        let other = Domain::new(NetworkId::new("other-net").expect("id"));
        assert!(frame.verify(&other, &public).is_err());

        // any single flipped bit makes the network reject it
        for bit in 0..bytes.len() * 8 {
            let mut tampered = bytes.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let accepted = Frame::parse(&tampered)
                .map(|f| f.verify(&domain, &public).is_ok())
                .unwrap_or(false);
            assert!(
                !accepted,
                "{}: flipped bit {bit} still verifies",
                case.feature
            );
        }

        let stack: u64 = field(&output, "STACK").parse().expect("stack number");
        let (flash, text, rodata, data, bss) = section_sizes(&elf);
        println!(
            "| {} | {flash} | {text} | {rodata} | {data} | {bss} | {stack} |",
            case.feature
        );
        assert!(
            stack > 0 && stack < 64 * 1024,
            "implausible stack use {stack}"
        );
        if let Some(budget) = case.flash_budget {
            assert!(
                flash <= budget,
                "{}: {flash} bytes of flash exceed the budget of {budget}",
                case.feature
            );
        }
        assert_eq!(bss, 0, "{}: no static RAM expected (no heap)", case.feature);
    }

    // The runtime alone (start-up code, output), for comparison.
    let elf = build_firmware(board, "baseline");
    let output = run_qemu(board, &elf);
    assert!(output.contains("BASELINE"));
    let (flash, text, rodata, data, bss) = section_sizes(&elf);
    let stack = field(&output, "STACK");
    println!("| baseline (no signing) | {flash} | {text} | {rodata} | {data} | {bss} | {stack} |");
    (domain, firmware_frames)
}

/// The firmware's frames through the oracle's own ingest: an engine over a SQLite file and
/// its HTTP endpoint on a loopback port, the three firmware devices registered. Each frame
/// is accepted (durably) over HTTP, a resent copy is `replayed`, and a tampered one refused.
fn through_the_oracle(domain: &Domain, frames: &[(KeyType, Vec<u8>)]) {
    use depin_attest::ingest::{Engine, EngineConfig};
    use depin_attest::store::sqlite::SqliteStore;
    use depin_attest::{
        DeviceRecord, KindSet, MemoryRegistry, MemoryReplayStore, Verifier, VerifierConfig,
    };
    use depin_core::DeviceId;
    use std::io::Write;
    use std::sync::Arc;

    let mut registry = MemoryRegistry::new();
    for (key_type, _) in frames {
        let key = SigningKey::from_secret_bytes(*key_type, &TEST_SECRET).expect("test key");
        registry
            .insert(
                DeviceId::from(&key.public_key()),
                DeviceRecord::active(KindSet::ALL),
            )
            .expect("register");
    }
    let config = VerifierConfig::new(*domain);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("oracle.db")).expect("store");
    let engine = Engine::start(
        EngineConfig::new("qemu"),
        Box::new(move || Verifier::new(config.clone(), registry.clone(), MemoryReplayStore::new())),
        Box::new(store),
        // the firmware stamps its frames at this instant
        Arc::new(|| Timestamp(1_700_000_000_000 + 1_000)),
    )
    .expect("engine");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(depin_attest::ingest::http::serve(
        listener,
        engine.handle(),
        async {
            let _ = stopped.await;
        },
    ));
    let post = |body: &[u8]| -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /v1/frames HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        stream.write_all(body).expect("write");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, raw)
    };
    for (key_type, bytes) in frames {
        let (status, answer) = post(bytes);
        assert_eq!(status, 200, "{key_type:?}: {answer}");
        assert!(
            answer.contains("\"status\":\"accepted\""),
            "{key_type:?}: {answer}"
        );
        let (status, answer) = post(bytes);
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer.contains("\"reason\":\"replayed\""),
            "{key_type:?}: {answer}"
        );
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let (status, answer) = post(&tampered);
        assert_eq!(status, 200, "{answer}");
        assert!(
            answer.contains("\"status\":\"rejected\""),
            "{key_type:?}: {answer}"
        );
    }
    let _ = stop.send(());
    rt.block_on(server).expect("server task").expect("server");
    engine.join();
    // every firmware frame is in the store, once
    let mut reopened = SqliteStore::open(dir.path().join("oracle.db")).expect("reopen");
    let epoch = depin_core::EpochSchedule::daily_utc()
        .epoch_of(Timestamp(1_700_000_000_000))
        .expect("epoch");
    let mut accepted = 0;
    depin_attest::store::OracleStore::for_each_accepted(&mut reopened, epoch, &mut |_| {
        accepted += 1;
        Ok(())
    })
    .expect("read back");
    assert_eq!(accepted, frames.len());
}

/// Copy `firmware/template` out of the repository, as a team starting its own firmware
/// would, point its one dependency at this checkout, and `cargo run` it for Cortex-M and
/// RISC-V through the runners in its own `.cargo/config.toml`. Every frame it prints must
/// verify with the network-side code, and its 11-byte LoRaWAN fragments must reassemble
/// into exactly those frames.
#[test]
fn the_firmware_template_runs_from_outside_the_repository() {
    require_tools(&CORTEX_M3);
    require_tools(&RV32IMAC);
    let template = firmware_dir().join("template");
    let copy = tempfile::tempdir().expect("temp dir");
    copy_tree(&template, copy.path());
    let manifest = copy.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("read the template's Cargo.toml");
    let device = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("depin-device dir");
    let mut replaced = 0;
    let text: String = text
        .lines()
        .map(|line| {
            if line.contains("# TEMPLATE-DEPENDENCY") {
                replaced += 1;
                format!(
                    "depin-device = {{ path = {:?}, default-features = false }}\n",
                    device.display().to_string()
                )
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_eq!(
        replaced, 1,
        "the template marks its depin-device dependency once"
    );
    std::fs::write(&manifest, text).expect("write Cargo.toml");

    let secret: [u8; 32] = *b"my-depin-firmware TEST KEY ONLY!";
    let main_rs = std::fs::read_to_string(template.join("src/main.rs")).expect("read main.rs");
    assert!(main_rs.contains("*b\"my-depin-firmware TEST KEY ONLY!\""));
    let key = SigningKey::from_secret_bytes(KeyType::P256, &secret).expect("test key");
    let public = key.public_key();
    let domain = Domain::new(NetworkId::new("my-network").expect("network id"));

    for board in [&CORTEX_M3, &RV32IMAC] {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(copy.path())
            .args(["run", "--quiet", "--release", "--target", board.target])
            // shared between runs (the copy's path changes every time; its dependencies'
            // builds are reused)
            .arg("--target-dir")
            .arg(template.join("target"));
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_PROFILE_RELEASE_DEBUG",
        ] {
            cmd.env_remove(var);
        }
        let (ok, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(900));
        assert!(
            ok,
            "the template failed on {}:\n{stdout}\n{stderr}",
            board.name
        );
        assert!(!stdout.contains("ERROR"), "{}: {stdout}", board.name);
        assert_eq!(
            unhex(field(&stdout, "PUBKEY")),
            public.to_bytes().as_ref(),
            "{}: the device's public key",
            board.name
        );
        let frames: Vec<Vec<u8>> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("FRAME "))
            .map(|h| unhex(h.trim()))
            .collect();
        assert_eq!(frames.len(), 2, "{}: {stdout}", board.name);
        for (i, bytes) in frames.iter().enumerate() {
            let frame = Frame::parse(bytes).expect("frame parses");
            frame.verify(&domain, &public).expect("frame verifies");
            assert_eq!(
                frame.header.seq, i as u32,
                "sequence numbers from blank flash"
            );
            assert_eq!(frame.header.key_type, KeyType::P256);
            assert!(frame.payload.starts_with(b"temp=21."));
            assert!(frame.header.timestamp >= Timestamp(1_796_083_200_000));
        }
        // the radio side: fragments reassemble, verified, into the same frames
        let mut reassembler = depin_device::fragment::Reassembler::new();
        let mut rebuilt = Vec::new();
        for line in stdout.lines().filter_map(|l| l.strip_prefix("FRAGMENT ")) {
            let fragment = unhex(line.trim());
            assert!(fragment.len() <= 11, "an 11-byte uplink: {line}");
            if let Some(frame) = reassembler
                .push_verified(&fragment, &domain, &public)
                .expect("fragment accepted")
            {
                rebuilt.push(frame.as_bytes().to_vec());
            }
        }
        assert_eq!(
            rebuilt, frames,
            "{}: fragments rebuild the frames",
            board.name
        );
    }
}

/// Copy a directory tree, leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy file");
        }
    }
}

/// Run a command with a deadline; (success, stdout, stderr).
fn run_with_timeout(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start command");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    (status.success(), stdout, stderr)
}
